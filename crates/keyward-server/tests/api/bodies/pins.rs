//! How bodies are pinned: call, check the status, decode into the API type, snapshot
//! with what varies between runs redacted, and note the operation as covered.

use crate::common::TestApp;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;

/// Fields whose values change from run to run: replaced when they hold a value, kept
/// when `null` (so whether they are set stays pinned).
const REDACTED: &[(&str, &str)] = &[
    (".**.id", "[id]"),
    (".**.key_id", "[id]"),
    (".**.user_id", "[id]"),
    (".**.agent_id", "[id]"),
    (".**.owner_id", "[id]"),
    (".**.rotated_from", "[id]"),
    (".**.rotated_to", "[id]"),
    (".**.workspace", "[id]"),
    (".**.workspaces[]", "[id]"),
    (".**.agents[]", "[id]"),
    (".**.disabled_by", "[id]"),
    (".**.limits_by", "[id]"),
    (".**.prefix", "[prefix]"),
    (".**.hook_id", "[hook]"),
    (".**.next_cursor", "[cursor]"),
    (".**.redirect_uri", "[url]"),
    (".**.reset", "[reset]"),
    (".**.created_at", "[time]"),
    (".**.updated_at", "[time]"),
    (".**.last_refreshed_at", "[time]"),
    (".**.expires_at", "[time]"),
    (".**.last_used_at", "[time]"),
    (".**.revoked_at", "[time]"),
    (".**.accepted_at", "[time]"),
    (".**.at", "[time]"),
    (".**.from", "[time]"),
    (".**.to", "[time]"),
    (".**.start", "[time]"),
    (".**.details", "[details]"),
    (".**.ingress_url", "[url]"),
    (".**.received_at", "[time]"),
    (".**.next_attempt_at", "[time]"),
    (".**.delivered_at", "[time]"),
    (".**.failing_since", "[time]"),
    (".**.workspace_id", "[id]"),
    (".**.registered_at", "[time]"),
    (".**.connected_since", "[time]"),
    (".**.last_heartbeat_at", "[time]"),
    (".**.stopped_at", "[time]"),
    (".**.connect_path", "[path]"),
];

pub struct Pins {
    pub app: TestApp,
    pub token: String,
    pub covered: BTreeSet<(String, String)>,
}

impl Pins {
    /// Calls `method path` (documented as `template`), checks the status, decodes the body
    /// into `T` and pins it as the snapshot `bodies__<name>`; `secrets` are further
    /// selectors to redact (raw keys and codes).
    #[allow(clippy::too_many_arguments)]
    pub async fn pin<T: DeserializeOwned>(
        &mut self,
        name: &str,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
        secrets: &[&str],
    ) -> (T, Value) {
        self.pin_as(name, method, template, path, body, status, secrets, None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn pin_as<T: DeserializeOwned>(
        &mut self,
        name: &str,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
        secrets: &[&str],
        token: Option<Option<&str>>,
    ) -> (T, Value) {
        // Each call a second later: listings (newest first) then never hold ties, which
        // would be broken by random ids.
        self.app.clock.advance(chrono::Duration::seconds(1));
        let token = token.unwrap_or(Some(&self.token));
        let reply = self.app.send(method.clone(), path, token, body).await;
        let decoded: T = reply.expect(status);
        self.covered
            .insert((method.as_str().to_owned(), template.to_owned()));
        if status == StatusCode::NO_CONTENT {
            assert_eq!(reply.body, Value::Null, "{name}: a 204 has no body");
            return (decoded, reply.body);
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        // Beside the suite's other snapshots (tests/api/snapshots).
        settings.set_snapshot_path("../snapshots");
        for (selector, label) in REDACTED {
            let label = *label;
            settings.add_dynamic_redaction(selector, move |value, _| match value {
                insta::internals::Content::None | insta::internals::Content::Unit => value,
                _ => label.into(),
            });
        }
        for selector in secrets {
            settings.add_redaction(selector, "[secret]");
        }
        let body = reply.body.clone();
        settings.bind(|| insta::assert_json_snapshot!(format!("bodies__{name}"), body));
        (decoded, reply.body)
    }
}
