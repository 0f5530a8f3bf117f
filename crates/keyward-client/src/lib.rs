//! The Keyward SDK: a typed async client for the Keyward HTTP API, and an offline
//! check of a key's format and checksum.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_client::Error> {
//! use keyward_client::{ApiKey, Client, CreateKey};
//! let client = Client::new("http://127.0.0.1:8080", ApiKey::new("kw_pat_…"))?;
//! let me = client.me().await?;
//! println!("{} (org: {})", me.name, me.org.name);
//! let created = client
//!     .create_key(&CreateKey { name: "CI".into(), expires: Some("30d".into()), ..Default::default() })
//!     .await?;
//! println!("{}", created.key.expose_secret()); // shown once
//! # Ok(()) }
//! ```
//!
//! Errors carry the server's stable code ([`ErrorCode`]). The raw key lives in
//! [`ApiKey`], an invitation code in [`InvitationCode`]: their `Debug` shows only the
//! prefix, they are neither `Display` nor `Serialize`, and their memory is zeroed on drop.
//! So is a provider's access token ([`ProviderToken`], from [`Client::tokens`]), and a
//! webhook endpoint's signing secret (from [`Client::create_webhook_endpoint`]).

mod error;
mod integrations;
mod organization;
mod types;
mod webhooks;
mod workers;

pub use error::{ApiError, Error, ErrorCode};
/// The wire types themselves, under their own names (`api::CreateKeyRequest`, …).
pub use keyward_api as api;
pub use keyward_api::{ApiKey, InvitationCode, OneTimeLink, ProviderToken};
pub use keyward_core::invite::{CliLoginCode, InviteCodeError};
pub use keyward_core::key::check as offline_check;
/// PKCE verifiers and challenges and the loopback state, for [`Client::cli_login_url`].
pub use keyward_core::pkce;
pub use keyward_core::KeyError;
pub use types::*;

use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the CLI and SDK look when nothing else is said.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// A client for one server and one key (or none, for the calls that need none). Cheap
/// to clone.
#[derive(Clone)]
pub struct Client {
    base: Url,
    key: Option<ApiKey>,
    http: reqwest::Client,
    deprecation: Arc<Mutex<Option<Deprecation>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("key", &self.key)
            .finish()
    }
}

/// Parses a server URL: `http(s)://host[:port][/path]`; a bare `host:port` means http.
pub fn parse_server_url(raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let invalid = |message: String| Error::InvalidUrl {
        url: raw.to_owned(),
        message,
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid("use an http:// or https:// URL".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "do not put credentials in the URL; pass the key with --token".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment".into()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// True for loopback hosts, where plain http does not expose the key on a network.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// A client for `server` (e.g. `http://127.0.0.1:8080`) that authenticates with `key`.
    pub fn new(server: &str, key: ApiKey) -> Result<Self> {
        Ok(Self::with_http(
            parse_server_url(server)?,
            key,
            Self::http(server)?,
        ))
    }

    /// A client for `server` that sends no key: for accepting an invitation as a person
    /// new to Keyward ([`Client::accept_invitation`]). Other calls answer `missing_token`.
    pub fn without_key(server: &str) -> Result<Self> {
        let mut client = Self::with_http(
            parse_server_url(server)?,
            ApiKey::new(String::new()),
            Self::http(server)?,
        );
        client.key = None;
        Ok(client)
    }

    fn http(server: &str) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .user_agent(concat!("keyward-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Connect {
                url: server.to_owned(),
                message: root_cause(&e),
            })
    }

    /// A client over a `reqwest::Client` you configured (proxies, timeouts, TLS roots).
    pub fn with_http(base: Url, key: ApiKey, http: reqwest::Client) -> Self {
        Self {
            base,
            key: Some(key),
            http,
            deprecation: Arc::default(),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The deprecation signal of the last response that carried one, if any.
    pub fn deprecation(&self) -> Option<Deprecation> {
        self.deprecation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("http URLs have path segments");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        self.send_as(self.key.as_ref(), method, url, body).await
    }

    /// [`Self::send`] with `key` as the credential instead of the client's own (`None`:
    /// no `Authorization` header at all).
    pub(crate) async fn send_as<T: DeserializeOwned>(
        &self,
        key: Option<&ApiKey>,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header(ACCEPT, "application/json");
        if let Some(key) = key {
            request = request.bearer_auth(key.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Error::Connect {
            url: display_base(&url),
            message: root_cause(&e),
        })?;
        let status = response.status();
        self.note_deprecation(response.headers());
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response.bytes().await.map_err(|e| Error::Connect {
            url: display_base(&url),
            message: root_cause(&e),
        })?;
        if !status.is_success() {
            let mut error = ApiError::from_body(status.as_u16(), &bytes);
            error.retry_after = retry_after;
            return Err(Error::Api(Box::new(error)));
        }
        if status == StatusCode::NO_CONTENT && bytes.is_empty() {
            return serde_json::from_slice(b"null").map_err(|e| Error::Decode(e.to_string()));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))
    }

    fn note_deprecation(&self, headers: &HeaderMap) {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(deprecation) = text("deprecation") {
            *self.deprecation.lock().unwrap_or_else(|e| e.into_inner()) = Some(Deprecation {
                deprecation,
                sunset: text("sunset"),
                link: text("link"),
                warning: text("warning"),
            });
        }
    }

    fn list_url(&self, segments: &[&str], params: &ListParams) -> Url {
        let mut url = self.url(segments);
        {
            let mut q = url.query_pairs_mut();
            if let Some(limit) = params.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(cursor) = &params.cursor {
                q.append_pair("cursor", cursor);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// The console page where a signed-in person approves a CLI login on this client's
    /// server (`keyward auth login --web`): open it in their browser.
    pub fn cli_login_url(&self, query: &api::CliLoginQuery) -> Url {
        let mut url = self.url(api::CLI_LOGIN_PAGE);
        let query = serde_urlencoded::to_string(query).expect("a query of strings and a number");
        url.set_query(Some(&query));
        url
    }

    /// `POST /v1/auth/cli/token`: exchanges the code the console's redirect carried, with
    /// the PKCE verifier whose challenge the login was approved with, for a new personal
    /// access token (shown once). Sends no key (the client's own is not used).
    pub async fn exchange_cli_code(
        &self,
        code: &CliLoginCode,
        verifier: &pkce::CodeVerifier,
    ) -> Result<CreatedKey> {
        let mut body = api::CliTokenRequest {
            code: code.expose_secret().to_owned(),
            code_verifier: verifier.expose_secret().to_owned(),
        };
        let url = self.url(&["v1", "auth", "cli", "token"]);
        let created = self.send_as(None, Method::POST, url, Some(&body)).await;
        zeroize::Zeroize::zeroize(&mut body.code);
        zeroize::Zeroize::zeroize(&mut body.code_verifier);
        created
    }

    /// `GET /v1/me`: who this key belongs to.
    pub async fn me(&self) -> Result<Me> {
        self.send(Method::GET, self.url(&["v1", "me"]), None::<&()>)
            .await
    }

    /// `POST /v1/keys`. The answer holds the raw key, once.
    pub async fn create_key(&self, req: &CreateKey) -> Result<CreatedKey> {
        self.send(Method::POST, self.url(&["v1", "keys"]), Some(req))
            .await
    }

    /// `GET /v1/keys`: one page, newest first.
    pub async fn list_keys(&self, params: &ListParams) -> Result<Page<KeyView>> {
        self.send(
            Method::GET,
            self.list_url(&["v1", "keys"], params),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/keys/{id}`.
    pub async fn get_key(&self, id: &str) -> Result<KeyView> {
        self.send(Method::GET, self.url(&["v1", "keys", id]), None::<&()>)
            .await
    }

    /// `PATCH /v1/keys/{id}`.
    pub async fn update_key(&self, id: &str, req: &UpdateKey) -> Result<KeyView> {
        self.send(Method::PATCH, self.url(&["v1", "keys", id]), Some(req))
            .await
    }

    /// `DELETE /v1/keys/{id}`: revoke at once and for good.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyView> {
        self.send(Method::DELETE, self.url(&["v1", "keys", id]), None::<&()>)
            .await
    }

    /// `POST /v1/keys/{id}/rotate`. The answer holds the replacement key, once.
    pub async fn rotate_key(&self, id: &str, req: &RotateKey) -> Result<RotatedKey> {
        self.send(
            Method::POST,
            self.url(&["v1", "keys", id, "rotate"]),
            Some(req),
        )
        .await
    }

    /// `POST /v1/keys/verify`: is `key` valid (and does it hold `permission`)?
    pub async fn verify(&self, key: &ApiKey, permission: Option<&str>) -> Result<Verification> {
        let options = VerifyOptions {
            permission: permission.map(str::to_owned),
            ..Default::default()
        };
        self.verify_with(key, &options).await
    }

    /// `POST /v1/keys/verify` with every check: permission, workspace, agent, channel,
    /// and the quota credits to spend. Always answers with a `code` (read it), unless
    /// the caller's own key is refused.
    pub async fn verify_with(&self, key: &ApiKey, options: &VerifyOptions) -> Result<Verification> {
        self.send(
            Method::POST,
            self.url(&["v1", "keys", "verify"]),
            Some(&options.request(key.expose_secret())),
        )
        .await
    }

    /// `GET /v1/keys/{id}/usage`: verifications and API calls over time, with the
    /// utilization of the key's rate limits and quota.
    pub async fn key_usage(&self, id: &str, params: &UsageParams) -> Result<UsageReport> {
        let mut url = self.url(&["v1", "keys", id, "usage"]);
        let query = params.query();
        {
            let mut q = url.query_pairs_mut();
            if let Some(from) = &query.from {
                q.append_pair("from", from);
            }
            if let Some(to) = &query.to {
                q.append_pair("to", to);
            }
            if let Some(g) = query.granularity {
                q.append_pair("granularity", g.as_str());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.send(Method::GET, url, None::<&()>).await
    }

    /// `GET /v1/audit-log`: one page, newest first.
    pub async fn audit_log(&self, params: &ListParams) -> Result<Page<AuditEvent>> {
        self.send(
            Method::GET,
            self.list_url(&["v1", "audit-log"], params),
            None::<&()>,
        )
        .await
    }
}

/// `scheme://host:port` of a URL, for messages (never a path or query).
fn display_base(url: &Url) -> String {
    let mut base = url.clone();
    base.set_path("");
    base.set_query(None);
    base.as_str().trim_end_matches('/').to_owned()
}

/// The innermost cause of a transport error ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.to_string().contains("timed out") || cause.to_string().contains("timed out") {
        return "the request timed out".into();
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::{key::Environment, KeyKind, PlainKey};

    #[test]
    fn api_keys_never_show_in_debug() {
        let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
        let key = ApiKey::parse(format!("  {}\n", plain.expose_secret())).unwrap();
        assert_eq!(key.expose_secret(), plain.expose_secret());
        assert_eq!(format!("{key:?}"), "ApiKey(kw_pat_[REDACTED])");
        assert_eq!(key.visible_prefix(), Some(plain.visible_prefix()));
        let client = Client::new("127.0.0.1:1", key).unwrap();
        assert!(!format!("{client:?}").contains(&plain.expose_secret()[7..]));
        assert_eq!(
            ApiKey::parse("kw_pat_short").unwrap_err(),
            KeyError::WrongLength
        );
    }

    #[test]
    fn server_urls_are_normalised_and_checked() {
        let u = parse_server_url("127.0.0.1:8080").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/");
        let u = parse_server_url("https://keys.example.com/keyward").unwrap();
        assert_eq!(u.as_str(), "https://keys.example.com/keyward/");
        assert!(is_loopback(
            &parse_server_url("http://localhost:1").unwrap()
        ));
        assert!(!is_loopback(
            &parse_server_url("http://keys.example.com").unwrap()
        ));
        for bad in [
            "ftp://x",
            "http://",
            "http://u:p@host",
            "http://h/?a=1",
            "::",
        ] {
            assert!(parse_server_url(bad).is_err(), "{bad}");
        }
        let client = Client::new(
            "https://keys.example.com/base",
            ApiKey::new("kw_pat_x".to_owned()),
        )
        .unwrap();
        assert_eq!(
            client.url(&["v1", "keys", "a/b"]).as_str(),
            "https://keys.example.com/base/v1/keys/a%2Fb"
        );
        let url = client.list_url(&["v1", "keys"], &ListParams::default());
        assert_eq!(url.as_str(), "https://keys.example.com/base/v1/keys");
    }

    #[test]
    fn limits_and_verify_options_serialize_as_the_api_expects() {
        let j = |v: &dyn erased::Ser| v.json();
        let update = UpdateKey {
            ratelimit: Some(None),
            quota: Some(Some(Quota {
                limit: 5,
                refill: Some(Refill::Daily),
            })),
            ..Default::default()
        };
        assert_eq!(
            j(&update),
            r#"{"ratelimit":null,"quota":{"limit":5,"refill":"daily"}}"#
        );
        assert_eq!(j(&UpdateKey::default()), "{}");
        let create = CreateKey {
            name: "x".into(),
            ratelimit: Some(RateLimit {
                limit: 100,
                period: 60,
            }),
            ..Default::default()
        };
        assert_eq!(
            j(&create),
            r#"{"name":"x","ratelimit":{"limit":100,"period":"1m"}}"#
        );
        let patch = OrgSettingsPatch {
            max_keys: Some(3),
            default_quota: Some(None),
            ..Default::default()
        };
        assert_eq!(j(&patch), r#"{"max_keys":3,"default_quota":null}"#);
        let options = VerifyOptions {
            channel: Some("hook_1".into()),
            cost: Some(0),
            ..Default::default()
        };
        assert_eq!(j(&options), r#"{"channel":"hook_1","cost":0}"#);
        // Answers of older servers (no limits) still decode.
        let v: Verification = serde_json::from_str(
            r#"{"valid":true,"code":"VALID","message":null,"key_id":"key_1","name":"n","owner":null,
                "org":null,"scope":null,"permissions":null,"expires_at":null,"metadata":null}"#,
        )
        .unwrap();
        assert_eq!((v.ratelimit, v.quota), (None, None));
        let report: UsageReport = serde_json::from_str(
            r#"{"key_id":"key_1","from":"2030-01-01T00:00:00Z","to":"2030-01-01T01:00:00Z",
                "granularity":"hour","totals":{"valid":1,"denied":2,"api":3},
                "series":[{"start":"2030-01-01T00:00:00Z","valid":1,"denied":2,"api":3}],
                "ratelimit":{"limit":10,"period":"1m","used_in_last_period":1,"utilization":0.1,"peak_utilization":0.2},
                "owner_ratelimit":null,"quota":{"limit":10,"remaining":9,"used":1,"utilization":0.1}}"#,
        )
        .unwrap();
        assert_eq!(report.series[0].counts.denied, 2);
        assert_eq!(report.quota.unwrap().refill, None);
    }

    /// `serde_json::to_string` behind a trait object, for the test above.
    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }

    #[test]
    fn permissions_serialize_as_the_api_expects() {
        let j = |p: Permissions| serde_json::to_string(&p).unwrap();
        assert_eq!(j(Permissions::all()), r#""all""#);
        assert_eq!(j(Permissions::read_only()), r#""read_only""#);
        assert_eq!(
            j(Permissions::Grants(vec!["keys:read".into()])),
            r#"["keys:read"]"#
        );
    }
}
