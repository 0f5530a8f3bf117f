//! An endpoint's secrets in the clear ⇄ sealed in its row. The provider's secrets and
//! Keyward's signing secrets are each a JSON document sealed with one fresh data key per
//! write (wrapped by the ring's active KEK), bound to the endpoint's id and the field's
//! name, so a ciphertext moved to another endpoint or field does not open.

use chrono::{DateTime, Utc};
use keyward_api::WebhookProvider;
use keyward_store::{
    EndpointHints, EndpointSecrets, Sealed, SecretHintRecord, WebhookEndpointRecord,
};
use keyward_vault::{Ring, VaultError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

pub const PROVIDER_SECRETS: &str = "provider_secrets";
pub const SIGNING_SECRETS: &str = "signing_secrets";

/// The provider's secrets: what its signatures are checked with.
#[derive(Default)]
pub struct ProviderSecrets {
    /// Meta app secrets, Slack signing secrets, Telegram secret tokens, Discord public
    /// keys (hex) or `whsec_` secrets: a signature made with any of them is accepted.
    pub secrets: Vec<SecretString>,
    /// WhatsApp: the verify token of Meta's handshake.
    pub verify_token: Option<SecretString>,
}

/// One of Keyward's own `whsec_` secrets that deliveries are signed with.
pub struct SigningSecret {
    pub secret: SecretString,
    /// A replaced secret signs until then, beside the current one.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SigningSecret {
    pub fn current(secret: SecretString) -> Self {
        Self {
            secret,
            expires_at: None,
        }
    }

    /// A new random `whsec_` secret.
    pub fn generate() -> Self {
        let s = keyward_webhooks::standard::Secret::generate();
        Self::current(SecretString::from(s.expose_whsec().to_string()))
    }
}

/// Everything an endpoint keeps sealed, opened.
pub struct Opened {
    pub provider: ProviderSecrets,
    pub signing: Vec<SigningSecret>,
}

impl Opened {
    /// The signing secrets still in use at `now` (a replaced one until its expiry).
    pub fn signing_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SigningSecret> {
        self.signing
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|e| e > now))
    }
}

#[derive(Serialize, Deserialize)]
struct ProviderWire {
    secrets: Vec<String>,
    #[serde(default)]
    verify_token: Option<String>,
}

impl Drop for ProviderWire {
    fn drop(&mut self) {
        self.secrets.iter_mut().for_each(Zeroize::zeroize);
        if let Some(t) = &mut self.verify_token {
            t.zeroize();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SigningWire {
    secret: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

impl Drop for SigningWire {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// What listings show of a secret: its first four characters (after `whsec_`), and
/// nothing of one shorter than 16 (four would be too much of it).
pub fn prefix(secret: &str) -> String {
    let rest = secret.strip_prefix("whsec_").unwrap_or(secret);
    let head: String = if rest.chars().count() >= 16 {
        rest.chars().take(4).collect()
    } else {
        String::new()
    };
    if secret.starts_with("whsec_") {
        format!("whsec_{head}…")
    } else {
        format!("{head}…")
    }
}

fn hints(provider: &ProviderSecrets, signing: &[SigningSecret]) -> EndpointHints {
    EndpointHints {
        secrets: provider
            .secrets
            .iter()
            .map(|s| SecretHintRecord {
                prefix: prefix(s.expose_secret()),
                expires_at: None,
            })
            .collect(),
        has_verify_token: provider.verify_token.is_some(),
        signing: signing
            .iter()
            .map(|s| SecretHintRecord {
                prefix: prefix(s.secret.expose_secret()),
                expires_at: s.expires_at,
            })
            .collect(),
    }
}

/// Seals an endpoint's secrets for the record `endpoint_id` under a new data key.
pub fn seal(
    ring: &Ring,
    endpoint_id: &str,
    provider: &ProviderSecrets,
    signing: &[SigningSecret],
) -> EndpointSecrets {
    let (dek, wrapped) = ring.new_data_key();
    let provider_wire = ProviderWire {
        secrets: provider
            .secrets
            .iter()
            .map(|s| s.expose_secret().to_owned())
            .collect(),
        verify_token: provider
            .verify_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
    };
    let signing_wire: Vec<SigningWire> = signing
        .iter()
        .map(|s| SigningWire {
            secret: s.secret.expose_secret().to_owned(),
            expires_at: s.expires_at,
        })
        .collect();
    let provider_json =
        Zeroizing::new(serde_json::to_vec(&provider_wire).expect("JSON of strings"));
    let signing_json = Zeroizing::new(serde_json::to_vec(&signing_wire).expect("JSON of strings"));
    EndpointSecrets {
        provider: Sealed(dek.seal(endpoint_id, PROVIDER_SECRETS, &provider_json)),
        signing: Sealed(dek.seal(endpoint_id, SIGNING_SECRETS, &signing_json)),
        dek: crate::integrations::seal::to_store(wrapped),
        hints: hints(provider, signing),
    }
}

/// Opens an endpoint's secrets.
pub fn open(ring: &Ring, e: &WebhookEndpointRecord) -> Result<Opened, VaultError> {
    let dek = ring.unwrap_key(&crate::integrations::seal::from_store(&e.secrets.dek))?;
    let provider = dek.open_bytes(&e.id, PROVIDER_SECRETS, &e.secrets.provider.0)?;
    let signing = dek.open_bytes(&e.id, SIGNING_SECRETS, &e.secrets.signing.0)?;
    let provider: ProviderWire =
        serde_json::from_slice(&provider).map_err(|_| VaultError::Corrupt)?;
    let signing: Vec<SigningWire> =
        serde_json::from_slice(&signing).map_err(|_| VaultError::Corrupt)?;
    Ok(Opened {
        provider: ProviderSecrets {
            secrets: provider
                .secrets
                .iter()
                .map(|s| SecretString::from(s.clone()))
                .collect(),
            verify_token: provider
                .verify_token
                .as_ref()
                .map(|t| SecretString::from(t.clone())),
        },
        signing: signing
            .iter()
            .map(|s| SigningSecret {
                secret: SecretString::from(s.secret.clone()),
                expires_at: s.expires_at,
            })
            .collect(),
    })
}

/// Why a provider's secret is not usable, for a validation error (never the secret).
pub fn check_secret(provider: WebhookProvider, secret: &str) -> Result<(), String> {
    if secret.is_empty() || secret.len() > 512 {
        return Err("must be 1 to 512 characters".into());
    }
    if secret.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match provider {
        WebhookProvider::Telegram if !keyward_webhooks::telegram::valid_secret_token(secret) => {
            Err("a Telegram secret token is 1 to 256 of A-Z a-z 0-9 _ -".into())
        }
        WebhookProvider::Discord => match keyward_webhooks::discord::parse_public_key(secret) {
            Some(key) if keyward_webhooks::discord::valid_public_key(&key) => Ok(()),
            _ => Err("a Discord public key is 64 hex digits of a valid Ed25519 key".into()),
        },
        WebhookProvider::Standard => keyward_webhooks::standard::Secret::parse(secret)
            .map(drop)
            .map_err(|e| format!("must be a whsec_ secret ({e})")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Ring {
        Ring::new(vec![("k1".into(), keyward_vault::generate_kek())], "k1").unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_for_their_endpoint() {
        let ring = ring();
        assert_eq!(prefix("abcd"), "…", "a short secret shows nothing");
        let provider = ProviderSecrets {
            secrets: vec![SecretString::from("s3cret-one-of-many".to_owned())],
            verify_token: Some(SecretString::from("vt".to_owned())),
        };
        let signing = vec![SigningSecret::generate()];
        let sealed = seal(&ring, "wh_a", &provider, &signing);
        assert_eq!(sealed.hints.secrets[0].prefix, "s3cr…");
        assert!(sealed.hints.signing[0].prefix.starts_with("whsec_"));
        assert!(sealed.hints.has_verify_token);
        let mut record = WebhookEndpointRecord {
            id: "wh_a".into(),
            org_id: "org".into(),
            workspace_id: None,
            name: "n".into(),
            provider: "slack".into(),
            destination: "http://x".into(),
            enabled: true,
            disabled_reason: None,
            managed_by: keyward_store::ManagedBy::Api,
            secrets: sealed,
            failing_since: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let opened = open(&ring, &record).unwrap();
        assert_eq!(
            opened.provider.secrets[0].expose_secret(),
            "s3cret-one-of-many"
        );
        assert_eq!(opened.provider.verify_token.unwrap().expose_secret(), "vt");
        record.id = "wh_b".into();
        assert!(open(&ring, &record).is_err(), "bound to the endpoint's id");
    }

    #[test]
    fn secrets_are_checked_per_provider() {
        assert!(check_secret(WebhookProvider::Telegram, "abc_DEF-123").is_ok());
        assert!(check_secret(WebhookProvider::Telegram, "a.b").is_err());
        assert!(check_secret(WebhookProvider::Discord, "zz").is_err());
        assert!(check_secret(
            WebhookProvider::Discord,
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        )
        .is_ok());
        assert!(check_secret(
            WebhookProvider::Standard,
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
        )
        .is_ok());
        assert!(check_secret(WebhookProvider::Standard, "nope").is_err());
        assert!(check_secret(WebhookProvider::Slack, "").is_err());
    }
}
