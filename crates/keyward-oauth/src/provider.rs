//! A provider ready to use: endpoints, scopes, how to talk to it, its client
//! credentials. Made from the config by [`providers`].

use crate::builtin::{builtin, Builtin, WEBHOOK_ONLY};
use crate::config::{BodyFormat, ClientAuth, IntegrationConfig, IntegrationsConfig};
use crate::error::{ConfigError, ScopeError};
use keyward_core::pkce::CodeChallenge;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// An OAuth 2.0 authorization server Keyward is a client of.
#[derive(Debug)]
pub struct Provider {
    /// The integration's name in the config (`gmail`, `notion`, `acme`).
    pub name: String,
    pub display_name: String,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Option<Url>,
    /// Short scope name → full scope.
    pub scopes: BTreeMap<String, String>,
    /// Asked for when nothing is requested (short names or full scopes).
    pub default_scopes: Vec<String>,
    pub scope_separator: String,
    pub pkce: bool,
    pub token_body: BodyFormat,
    pub revoke_body: BodyFormat,
    pub client_auth: ClientAuth,
    /// Added to the authorization URL after the standard parameters.
    pub authorize_params: Vec<(String, String)>,
    /// Added to token and revocation requests.
    pub token_headers: Vec<(String, String)>,
    pub client_id: String,
    client_secret: SecretString,
}

impl Provider {
    /// The client secret, for the token client to send.
    pub(crate) fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }

    /// The full scopes for `requested` (short names or full scopes); nothing requested
    /// means the provider's default scopes. A full scope passes as it is when it is a
    /// value of the provider's map (configuration adds more); anything else is an error.
    /// Duplicates are dropped, the order kept.
    pub fn full_scopes(&self, requested: &[String]) -> Result<Vec<String>, ScopeError> {
        let requested = if requested.is_empty() {
            &self.default_scopes
        } else {
            requested
        };
        let mut out: Vec<String> = Vec::with_capacity(requested.len());
        for scope in requested {
            let full = self.full_scope(scope)?;
            if !out.contains(&full) {
                out.push(full);
            }
        }
        Ok(out)
    }

    fn full_scope(&self, scope: &str) -> Result<String, ScopeError> {
        if let Some(full) = self.scopes.get(scope) {
            return Ok(full.clone());
        }
        // Only what the operator's configuration names: a key that may connect an
        // integration may not widen what it asks the person for (Gmail's
        // `https://mail.google.com/`, another product's scopes) beyond that list.
        if self.scopes.values().any(|v| v == scope) {
            return Ok(scope.to_owned());
        }
        Err(ScopeError::Unknown {
            provider: self.name.clone(),
            scope: crate::error::clean(scope),
            known: self.scopes.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The URL to send the person to. `challenge` is Some exactly when `self.pkce`.
    ///
    /// `response_type=code`, `client_id`, `redirect_uri`, `scope` (joined by the
    /// provider's separator; left out when empty), `state`, then `code_challenge` and
    /// `code_challenge_method=S256`, then the provider's own parameters.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        scopes: &[String],
        state: &str,
        challenge: Option<&CodeChallenge>,
    ) -> Url {
        debug_assert_eq!(challenge.is_some(), self.pkce, "PKCE is {}", self.pkce);
        let mut url = self.authorize_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(&self.scope_separator));
            }
            q.append_pair("state", state);
            if let Some(challenge) = challenge {
                q.append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
            }
            for (k, v) in &self.authorize_params {
                q.append_pair(k, v);
            }
        }
        url
    }
}

/// The usable providers, by name. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Providers(BTreeMap<String, Arc<Provider>>);

impl Providers {
    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.0.get(name).cloned()
    }

    /// In name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.0.values()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn empty() -> Self {
        Self::default()
    }
}

/// The providers the `integrations:` section describes.
///
/// A built-in (`gmail`, `google_calendar`, `google_drive`, `notion`) needs
/// `credentials.client_id` and `client_secret`; `enabled: false` leaves an entry out;
/// `whatsapp`, `slack`, `telegram`, `discord` and `standard` without an `oauth:` block
/// are webhook integrations and are passed over; any other name needs
/// `oauth.authorize_url`, `oauth.token_url` and the credentials. URLs are https, or
/// http to a loopback host. Names are 1 to 40 of `a-z 0-9 _`.
pub fn providers(config: &IntegrationsConfig) -> Result<Providers, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, entry) in &config.0 {
        if name.is_empty()
            || name.len() > 40
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ConfigError::new(
                name,
                "the name must be 1 to 40 of a-z, 0-9 and _",
            ));
        }
        if !entry.is_enabled() {
            continue;
        }
        let known = builtin(name);
        // Webhook-only entries are no OAuth providers.
        if known.is_none()
            && entry.oauth.is_none()
            && (WEBHOOK_ONLY.contains(&name.as_str()) || entry.webhook.is_some())
        {
            continue;
        }
        let provider = provider(name, entry, known)?;
        out.insert(name.clone(), Arc::new(provider));
    }
    Ok(Providers(out))
}

fn provider(
    name: &str,
    entry: &IntegrationConfig,
    known: Option<&'static Builtin>,
) -> Result<Provider, ConfigError> {
    let oauth = entry.oauth.clone().unwrap_or_default();
    let credential = |field: &str| -> Result<String, ConfigError> {
        match entry.credentials.get(field) {
            Some(value) if !value.expose().trim().is_empty() => Ok(value.expose().to_owned()),
            _ => Err(ConfigError::new(
                name,
                format!("credentials.{field} is missing"),
            )),
        }
    };
    let url = |field: &str, configured: Option<&String>, default: Option<&str>| match configured
        .map(String::as_str)
        .or(default)
    {
        Some(raw) => endpoint(name, field, raw).map(Some),
        None => Ok(None),
    };
    let required = |field: &str, configured: Option<&String>, default: Option<&str>| {
        url(field, configured, default)?.ok_or_else(|| {
            ConfigError::new(
                name,
                format!("oauth.{field} is required for a provider Keyward does not know"),
            )
        })
    };
    let authorize_url = required(
        "authorize_url",
        oauth.authorize_url.as_ref(),
        known.map(|b| b.authorize_url),
    )?;
    let token_url = required(
        "token_url",
        oauth.token_url.as_ref(),
        known.map(|b| b.token_url),
    )?;
    let revoke_url = url(
        "revoke_url",
        oauth.revoke_url.as_ref(),
        known.map(|b| b.revoke_url),
    )?;
    let client_id = credential("client_id")?;
    let client_secret = SecretString::from(credential("client_secret")?);

    let mut scopes: BTreeMap<String, String> = known
        .map(|b| {
            b.scopes
                .iter()
                .map(|s| (s.to_string(), format!("{}{s}", b.scope_prefix)))
                .collect()
        })
        .unwrap_or_default();
    scopes.extend(oauth.scopes.clone().unwrap_or_default());
    let default_scopes = oauth.default_scopes.clone().unwrap_or_else(|| {
        known
            .map(|b| b.default_scopes.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    });
    let body = oauth.token_body.or(known.map(|b| b.body));
    let pairs = |builtin: &[(&str, &str)], configured: &Option<BTreeMap<String, String>>| {
        let mut merged: Vec<(String, String)> = builtin
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in configured.iter().flatten() {
            match merged.iter_mut().find(|(mk, _)| mk.eq_ignore_ascii_case(k)) {
                Some(slot) => slot.1 = v.clone(),
                None => merged.push((k.clone(), v.clone())),
            }
        }
        merged
    };
    let authorize_params = pairs(
        known.map(|b| b.authorize_params).unwrap_or_default(),
        &oauth.authorize_params,
    );
    let token_headers = pairs(
        known.map(|b| b.token_headers).unwrap_or_default(),
        &oauth.token_headers,
    );
    for (header, value) in &token_headers {
        let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !valid {
            return Err(ConfigError::new(
                name,
                format!("oauth.token_headers: `{header}` is not a valid HTTP header"),
            ));
        }
    }

    let provider = Provider {
        name: name.to_owned(),
        display_name: entry
            .display_name
            .clone()
            .or(known.map(|b| b.display_name.to_owned()))
            .unwrap_or_else(|| name.to_owned()),
        authorize_url,
        token_url,
        revoke_url,
        scopes,
        default_scopes,
        scope_separator: oauth.scope_separator.clone().unwrap_or_else(|| " ".into()),
        pkce: oauth.pkce.or(known.map(|b| b.pkce)).unwrap_or(true),
        token_body: body.unwrap_or(BodyFormat::Form),
        revoke_body: body.unwrap_or(BodyFormat::Form),
        client_auth: oauth
            .client_auth
            .or(known.map(|b| b.client_auth))
            .unwrap_or(ClientAuth::Basic),
        authorize_params,
        token_headers,
        client_id,
        client_secret,
    };
    if let Err(e) = provider.full_scopes(&[]) {
        return Err(ConfigError::new(name, format!("oauth.default_scopes: {e}")));
    }
    Ok(provider)
}

/// An endpoint URL: https, or http to a loopback host (a local test server).
fn endpoint(name: &str, field: &str, raw: &str) -> Result<Url, ConfigError> {
    let bad = |why: &str| ConfigError::new(name, format!("oauth.{field} {why}"));
    let url = Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(bad("may not hold credentials or a #fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(bad(
            "must be https (http only to 127.0.0.1, localhost or ::1)",
        )),
        _ => Err(bad("must be an https URL")),
    }
}
