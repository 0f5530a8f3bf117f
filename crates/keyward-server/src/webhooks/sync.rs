//! Endpoints of keyward.yaml, written to the database at start: made when missing,
//! changed to match the file when they differ (nothing is written when they do not),
//! disabled when the file no longer has them (the API may then delete them). The API
//! shows them (`managed_by: config`), enables them again, but does not edit them.
//!
//! Their signing secret is the file's `signing_secret` (a change of it keeps the old one
//! signing for a day beside it), or, without one, a secret generated at first start that
//! `keyward webhooks rotate-secret <id>` replaces and shows once.
//!
//! Nodes starting together on one database may race: a create or update that lost (a
//! duplicate id, a changed version) reads the endpoint again and compares once more.

use super::secrets::{self, ProviderSecrets, SigningSecret};
use super::ConfigEndpoint;
use keyward_store::{
    Conflict, ManagedBy, NewAuditEvent, ResourceKind, Store, StoreError, WebhookEndpointPatch,
    WebhookEndpointRecord,
};
use keyward_vault::Ring;
use secrecy::{ExposeSecret, SecretString};

const DISABLED_IN_FILE: &str = "disabled in keyward.yaml";
const REMOVED_FROM_FILE: &str = "removed from keyward.yaml";

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

fn text(s: &keyward_oauth::SecretText) -> SecretString {
    SecretString::from(s.expose().to_owned())
}

fn provider_secrets(c: &ConfigEndpoint) -> ProviderSecrets {
    ProviderSecrets {
        secrets: c.secrets.iter().map(text).collect(),
        verify_token: c.verify_token.as_ref().map(text),
    }
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(
        a.expose_secret()
            .as_bytes()
            .ct_eq(b.expose_secret().as_bytes()),
    )
}

fn same_list(a: &[SecretString], b: &[SecretString]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// Writes every endpoint of the file; an error names the endpoint and why.
pub async fn apply(
    store: &dyn Store,
    ring: &Ring,
    endpoints: &[ConfigEndpoint],
    allow_private: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    for c in endpoints {
        let at = format!("webhook endpoint {:?} of keyward.yaml", c.id);
        for s in &c.secrets {
            secrets::check_secret(c.provider, s.expose())
                .map_err(|e| format!("{at}: its {}: {e}", c.provider.secret_name()))?;
        }
        // Checked like the API's, whoever built the list.
        let name = super::check_name(&c.name).map_err(|e| format!("{at}: name: {e}"))?;
        let destination =
            super::check_destination(&c.destination, c.workspace.as_deref(), allow_private)
                .map_err(|e| format!("{at}: destination: {e}"))?;
        if let Some(s) = &c.signing_secret {
            keyward_webhooks::standard::Secret::parse(s.expose())
                .map_err(|e| format!("{at}: signing_secret must be a whsec_ secret ({e})"))?;
        }
        if c.provider == keyward_api::WebhookProvider::Whatsapp && c.verify_token.is_none() {
            return Err(format!(
                "{at}: a WhatsApp endpoint needs settings.webhook_verify_token"
            ));
        }
        let c = &ConfigEndpoint {
            name,
            destination,
            ..c.clone()
        };
        match store.get_org(&c.org).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(format!(
                    "{at}: no organization has the id {:?} (webhook.org)",
                    c.org
                ))
            }
            Err(e) => return Err(format!("{at}: {e}")),
        }
        if let Some(w) = &c.workspace {
            store
                .get_resource(ResourceKind::Workspace, &c.org, w)
                .await
                .map_err(|_| format!("{at}: the organization has no workspace {w:?}"))?;
        }
        let mut tries = 0;
        loop {
            match apply_one(store, ring, c, now).await {
                Err(StoreError::Conflict(Conflict::Duplicate | Conflict::ChangedMeanwhile))
                    if tries < 5 =>
                {
                    // Another node wrote it meanwhile: compare with what it wrote.
                    tries += 1;
                }
                Err(StoreError::Conflict(Conflict::InUse)) => {
                    return Err(format!(
                        "{at}: that id is taken by an endpoint made through the API (or of another organization); give it another `id:`"
                    ))
                }
                Err(StoreError::InvalidInput(why)) => return Err(format!("{at}: {why}")),
                Err(e) => return Err(format!("{at}: {e}")),
                Ok(()) => break,
            }
        }
    }
    // Endpoints the file no longer has stop delivering (their log stays until deleted).
    let known: Vec<&str> = endpoints.iter().map(|c| c.id.as_str()).collect();
    for gone in store
        .webhooks()
        .config_webhook_endpoints()
        .await
        .map_err(|e| format!("cannot list the endpoints of keyward.yaml: {e}"))?
    {
        if known.contains(&gone.id.as_str()) || !gone.enabled {
            continue;
        }
        let patch = WebhookEndpointPatch {
            enabled: Some(false),
            disabled_reason: Some(REMOVED_FROM_FILE.into()),
            if_version: Some(gone.version),
            ..Default::default()
        };
        let action = audit(&gone.org_id, &gone.id, "webhook_endpoint.disable", now);
        match store
            .webhooks()
            .update_webhook_endpoint(&gone.org_id, &gone.id, patch, action)
            .await
        {
            // Another node did it, or someone changed it: either way not ours to redo.
            Ok(_) | Err(StoreError::Conflict(_)) | Err(StoreError::NotFound) => {}
            Err(e) => {
                return Err(format!(
                    "cannot disable webhook endpoint {:?}: {e}",
                    gone.id
                ))
            }
        }
    }
    Ok(())
}

async fn apply_one(
    store: &dyn Store,
    ring: &Ring,
    c: &ConfigEndpoint,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let w = store.webhooks();
    let provider = provider_secrets(c);
    let existing = match w.find_webhook_endpoint(&c.id).await {
        Ok(e) => e,
        Err(StoreError::NotFound) => {
            let signing = vec![match &c.signing_secret {
                Some(s) => SigningSecret::current(text(s)),
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
                disabled_reason: (!c.enabled).then(|| DISABLED_IN_FILE.to_owned()),
                managed_by: ManagedBy::Config,
                secrets: secrets::seal(ring, &c.id, &provider, &signing),
                failing_since: None,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let action = audit(&c.org, &c.id, "webhook_endpoint.create", now);
            return w.create_webhook_endpoint(record, action).await.map(drop);
        }
        Err(e) => return Err(e),
    };
    if existing.managed_by != ManagedBy::Config || existing.org_id != c.org {
        return Err(StoreError::Conflict(Conflict::InUse));
    }
    if existing.provider != c.provider.as_str() || existing.workspace_id != c.workspace {
        return Err(StoreError::InvalidInput(
            "its provider or workspace changed: give it another `id:` (the old one keeps its delivery log until deleted)",
        ));
    }
    let opened = secrets::open(ring, &existing)
        .map_err(|_| StoreError::InvalidInput("its secrets cannot be opened with this ring"))?;
    // The file's signing secret, if it pins one: unchanged, or the new one first and the
    // current one signing beside it for a day.
    let signing = match &c.signing_secret {
        Some(s)
            if !opened
                .signing_at(now)
                .next()
                .is_some_and(|cur| same(&cur.secret, &text(s))) =>
        {
            let mut list = vec![SigningSecret::current(text(s))];
            if let Some(cur) = opened.signing_at(now).next() {
                list.push(SigningSecret {
                    secret: SecretString::from(cur.secret.expose_secret().to_owned()),
                    expires_at: Some(now + chrono::Duration::days(1)),
                });
            }
            Some(list)
        }
        _ => None,
    };
    let secrets_same = same_list(&provider.secrets, &opened.provider.secrets)
        && match (&provider.verify_token, &opened.provider.verify_token) {
            (None, None) => true,
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
    // `enabled` is the file's only when it disables the endpoint: one disabled for its
    // failures is enabled again through the API, not by every restart.
    let disable = !c.enabled && existing.enabled;
    // … and enables again one that the file (not its failures, not a person) disabled.
    let enable = c.enabled
        && !existing.enabled
        && matches!(
            existing.disabled_reason.as_deref(),
            Some(DISABLED_IN_FILE | REMOVED_FROM_FILE)
        );
    if existing.name == c.name
        && existing.destination == c.destination
        && secrets_same
        && signing.is_none()
        && !disable
        && !enable
    {
        return Ok(());
    }
    let sealed = if secrets_same && signing.is_none() {
        None
    } else {
        let signing = signing.unwrap_or(opened.signing);
        Some(secrets::seal(ring, &c.id, &provider, &signing))
    };
    let patch = WebhookEndpointPatch {
        name: (existing.name != c.name).then(|| c.name.clone()),
        destination: (existing.destination != c.destination).then(|| c.destination.clone()),
        secrets: sealed,
        enabled: if disable {
            Some(false)
        } else {
            enable.then_some(true)
        },
        disabled_reason: disable.then(|| DISABLED_IN_FILE.to_owned()),
        if_version: Some(existing.version),
    };
    let action = if disable {
        "webhook_endpoint.disable"
    } else if enable {
        "webhook_endpoint.enable"
    } else {
        "webhook_endpoint.update"
    };
    w.update_webhook_endpoint(&c.org, &c.id, patch, audit(&c.org, &c.id, action, now))
        .await
        .map(drop)
}
