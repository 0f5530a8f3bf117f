//! The fixture of the vault's tests: a Keyward server with `acme`, the local
//! authorization server (oidc-provider), configured as `keyward.yaml` would. Shared by
//! the suite (`integrations/mod.rs`) and `tests/no_secrets.rs`.
#![allow(dead_code)]

#[path = "../../oauth_provider/harness.rs"]
pub mod oauth_provider;

use crate::common::{Reply, TestApp};
use keyward_server::integrations::Config;
pub use oauth_provider::OAuthProvider;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Where "your app" would receive the provider's redirect; the tests read the code from
/// the redirect instead of following it.
pub const APP_CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";
pub const PROVIDER: &str = "acme";
pub const CLIENT_ID: &str = "keyward-tests";

/// A Keyward server with `acme` (the local authorization server) configured.
pub struct Vault {
    pub app: TestApp,
    pub provider: OAuthProvider,
    pub client_secret: String,
}

/// The provider as `keyward.yaml` would configure it.
pub fn integrations_yaml(p: &OAuthProvider, client_secret: &str) -> String {
    format!(
        r#"
acme:
  display_name: Acme Mail
  credentials:
    client_id: {CLIENT_ID}
    client_secret: {client_secret}
  oauth:
    authorize_url: {}
    token_url: {}
    revoke_url: {}
    scopes:
      read: read
      write: write
      mail.read: mail.read
    default_scopes: [read]
    client_auth: basic
"#,
        p.authorize_url, p.token_url, p.revoke_url
    )
}

pub fn config(p: &OAuthProvider, client_secret: &str) -> Config {
    let parsed: keyward_oauth::IntegrationsConfig =
        serde_yaml::from_str(&integrations_yaml(p, client_secret)).unwrap();
    let providers = keyward_oauth::providers(&parsed).unwrap();
    let mut config = Config::ephemeral();
    config.providers = providers;
    config.retry_delays = vec![Duration::from_millis(20), Duration::from_millis(20)];
    config
}

impl Vault {
    /// `None` without node_modules outside CI (the harness says why).
    pub async fn start() -> Option<Vault> {
        Self::start_with(|_| {}).await
    }

    /// As [`Self::start`], with other server settings changed by `configure`.
    pub async fn start_with(
        configure: impl FnOnce(&mut keyward_server::Settings),
    ) -> Option<Vault> {
        let provider = OAuthProvider::start().await?;
        let client_secret = keyward_core::base62::random(32);
        let cfg = config(&provider, &client_secret);
        let app = TestApp::spawn_with_settings(|s| {
            s.policy.integrations = cfg;
            configure(s);
        })
        .await;
        let hosted = format!("{}/v1/oauth/callback", app.base);
        provider
            .add_client(
                CLIENT_ID,
                &client_secret,
                &[APP_CALLBACK, &hosted],
                "client_secret_basic",
            )
            .await;
        Some(Vault {
            app,
            provider,
            client_secret,
        })
    }

    pub fn token(&self) -> &str {
        &self.app.owner_token
    }

    pub async fn authorize(&self, token: &str, body: Value) -> Reply {
        self.app
            .post(
                &format!("/v1/integrations/{PROVIDER}/authorize"),
                token,
                body,
            )
            .await
    }

    /// Plays the person at the provider; returns the redirect's query (code, state…).
    pub async fn consent(&self, url: &str, redirect: &str) -> Vec<(String, String)> {
        let to = self.provider.authorize(url, redirect).await;
        url::Url::parse(&to)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The whole flow through the API with the app's own callback; returns the
    /// exchange's answer.
    pub async fn connect(&self, id: &str) -> Reply {
        let started = self
            .authorize(
                self.token(),
                json!({"connection_id": id, "redirect_uri": APP_CALLBACK, "scopes": ["read", "write"]}),
            )
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let query = self
            .consent(started.body["url"].as_str().unwrap(), APP_CALLBACK)
            .await;
        let code = param(&query, "code").expect("the provider sent a code");
        let state = param(&query, "state").unwrap();
        assert_eq!(state, started.body["state"].as_str().unwrap());
        self.exchange(self.token(), &code, &state, APP_CALLBACK)
            .await
    }

    pub async fn exchange(&self, token: &str, code: &str, state: &str, redirect: &str) -> Reply {
        self.app
            .post(
                &format!("/v1/integrations/{PROVIDER}/exchange"),
                token,
                json!({"code": code, "state": state, "redirect_uri": redirect}),
            )
            .await
    }

    pub async fn tokens(&self, id: &str) -> Reply {
        self.app
            .get(&format!("/v1/connections/{id}/tokens"), self.token())
            .await
    }

    pub async fn connection(&self, id: &str) -> Value {
        let r = self
            .app
            .get(&format!("/v1/connections/{id}"), self.token())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// How many token requests of `grant` reached the provider.
    pub async fn grants(&self, grant: &str) -> u64 {
        self.provider.stats().await["token_requests"][grant]
            .as_u64()
            .unwrap_or(0)
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let r = self.app.get("/v1/audit-log?limit=100", self.token()).await;
        let data = r.body["data"].as_array().cloned().unwrap_or_default();
        data.iter()
            .filter_map(|e| e["action"].as_str().map(str::to_owned))
            .collect()
    }
}

pub fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}
