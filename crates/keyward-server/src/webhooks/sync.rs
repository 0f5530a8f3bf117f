//! Endpoints of keyward.yaml, written to the database at start: made when missing,
//! changed to match the file when they differ, disabled when the file no longer has
//! them. The API shows them (`managed_by: config`) but does not change them; their
//! signing secret is the file's `signing_secret`, or one generated at first start that
//! `keyward webhooks rotate-secret` replaces and shows.

use super::secrets::{self, ProviderSecrets, SigningSecret};
use super::ConfigEndpoint;
use keyward_store::{
    ManagedBy, NewAuditEvent, Store, StoreError, WebhookEndpointPatch, WebhookEndpointRecord,
};
use keyward_vault::Ring;
use secrecy::{ExposeSecret, SecretString};

fn audit(org_id: &str, id: &str, action: &str, at: chrono::DateTime<chrono::Utc>) -> NewAuditEvent {
    NewAuditEvent {
        org_id: org_id.to_owned(),
        at,
        actor: keyward_store::Actor {
            actor_type: "system".into(),
            id: None,
            name: "keyward.yaml".into(),
            key_id: None,
            authority: None,
        },
        action: action.to_owned(),
        target_type: "webhook_endpoint".into(),
        target_id: id.to_owned(),
        source_ip: None,
        details: serde_json::json!({"managed_by": "config"}),
    }
}

fn provider_secrets(c: &ConfigEndpoint) -> ProviderSecrets {
    ProviderSecrets {
        secrets: c
            .secrets
            .iter()
            .map(|s| SecretString::from(s.expose().to_owned()))
            .collect(),
        verify_token: c
            .verify_token
            .as_ref()
            .map(|t| SecretString::from(t.expose().to_owned())),
    }
}

fn same_secrets(a: &[SecretString], b: &[SecretString]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            bool::from(
                x.expose_secret()
                    .as_bytes()
                    .ct_eq(y.expose_secret().as_bytes()),
            )
        })
}

/// Writes every endpoint of the file; an error names the endpoint and why.
pub async fn apply(
    store: &dyn Store,
    ring: &Ring,
    endpoints: &[ConfigEndpoint],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let w = store.webhooks();
    for c in endpoints {
        let provider = provider_secrets(c);
        for s in &provider.secrets {
            secrets::check_secret(c.provider, s.expose_secret()).map_err(|e| {
                format!(
                    "webhook endpoint {:?}: its {}: {e}",
                    c.id,
                    c.provider.secret_name()
                )
            })?;
        }
        match w.find_webhook_endpoint(&c.id).await {
            Err(StoreError::NotFound) => {
                let signing = vec![match &c.signing_secret {
                    Some(s) => SigningSecret::current(SecretString::from(s.expose().to_owned())),
                    None => SigningSecret::generate(),
                }];
                let record = WebhookEndpointRecord {
                    id: c.id.clone(),
                    org_id: c.org.clone(),
                    workspace_id: c.workspace.clone(),
                    name: c.name.clone(),
                    provider: c.provider.as_str().to_owned(),
                    destination: c.destination.clone(),
                    enabled: c.enabled,
                    disabled_reason: (!c.enabled).then(|| "disabled in keyward.yaml".to_owned()),
                    managed_by: ManagedBy::Config,
                    secrets: secrets::seal(ring, &c.id, &provider, &signing),
                    failing_since: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                w.create_webhook_endpoint(
                    record,
                    audit(&c.org, &c.id, "webhook_endpoint.create", now),
                )
                .await
                .map_err(|e| {
                    format!(
                        "webhook endpoint {:?} of keyward.yaml cannot be created: {e}",
                        c.id
                    )
                })?;
            }
            Ok(existing) => {
                if existing.managed_by != ManagedBy::Config || existing.org_id != c.org {
                    return Err(format!(
                        "webhook endpoint {:?} of keyward.yaml: that id is taken by an endpoint made through the API (or of another organization); choose another `id:`",
                        c.id
                    ));
                }
                let opened = secrets::open(ring, &existing).map_err(|e| {
                    format!(
                        "webhook endpoint {:?}: its secrets cannot be opened: {e}",
                        c.id
                    )
                })?;
                let signing = match &c.signing_secret {
                    Some(s) => vec![SigningSecret::current(SecretString::from(
                        s.expose().to_owned(),
                    ))],
                    None => opened.signing,
                };
                let signing_same =
                    signing.len() == opened_len(&existing) && c.signing_secret.is_none();
                let secrets_same = same_secrets(&provider.secrets, &opened.provider.secrets)
                    && match (&provider.verify_token, &opened.provider.verify_token) {
                        (None, None) => true,
                        (Some(a), Some(b)) => {
                            same_secrets(std::slice::from_ref(a), std::slice::from_ref(b))
                        }
                        _ => false,
                    };
                let unchanged = existing.name == c.name
                    && existing.destination == c.destination
                    && existing.workspace_id == c.workspace
                    && existing.provider == c.provider.as_str()
                    && existing.enabled == c.enabled
                    && secrets_same
                    && signing_same;
                if unchanged {
                    continue;
                }
                if existing.provider != c.provider.as_str() || existing.workspace_id != c.workspace
                {
                    return Err(format!(
                        "webhook endpoint {:?} of keyward.yaml changed provider or workspace: give it another `id:` (the old one keeps its delivery log until deleted)",
                        c.id
                    ));
                }
                let patch = WebhookEndpointPatch {
                    name: Some(c.name.clone()),
                    destination: Some(c.destination.clone()),
                    secrets: Some(secrets::seal(ring, &c.id, &provider, &signing)),
                    enabled: (existing.enabled != c.enabled).then_some(c.enabled),
                    disabled_reason: (!c.enabled).then(|| "disabled in keyward.yaml".to_owned()),
                    if_version: Some(existing.version),
                };
                w.update_webhook_endpoint(
                    &c.org,
                    &c.id,
                    patch,
                    audit(&c.org, &c.id, "webhook_endpoint.update", now),
                )
                .await
                .map_err(|e| {
                    format!(
                        "webhook endpoint {:?} of keyward.yaml cannot be updated: {e}",
                        c.id
                    )
                })?;
            }
            Err(e) => return Err(format!("cannot read webhook endpoint {:?}: {e}", c.id)),
        }
    }
    // Endpoints the file no longer has stop delivering (their log stays).
    let known: Vec<&str> = endpoints.iter().map(|c| c.id.as_str()).collect();
    for gone in w
        .config_webhook_endpoints()
        .await
        .map_err(|e| format!("cannot list the endpoints of keyward.yaml: {e}"))?
    {
        if known.contains(&gone.id.as_str()) || !gone.enabled {
            continue;
        }
        let patch = WebhookEndpointPatch {
            enabled: Some(false),
            disabled_reason: Some("removed from keyward.yaml".into()),
            ..Default::default()
        };
        w.update_webhook_endpoint(
            &gone.org_id,
            &gone.id,
            patch,
            audit(&gone.org_id, &gone.id, "webhook_endpoint.disable", now),
        )
        .await
        .map_err(|e| format!("cannot disable webhook endpoint {:?}: {e}", gone.id))?;
    }
    Ok(())
}

fn opened_len(e: &WebhookEndpointRecord) -> usize {
    e.secrets.hints.signing.len()
}
