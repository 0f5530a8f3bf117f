//! The targets each call acts on, made fresh for every call, and sending the call.

use super::*;

impl World {
    pub(super) fn fresh(&self, what: &str) -> String {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("{what}-{n}")
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        ok(&self.app.post(path, token, body).await, path)
    }

    pub(super) async fn workspace(&self, token: &str) -> String {
        let name = self.fresh("ws");
        self.post(token, "/v1/workspaces", json!({ "name": name }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(super) async fn agent(&self, token: &str) -> String {
        let name = self.fresh("agent");
        self.post(token, "/v1/agents", json!({ "name": name }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn channel(&self, token: &str, agent: &str) -> Value {
        let name = self.fresh("channel");
        self.post(
            token,
            "/v1/channels",
            json!({ "agent": agent, "name": name }),
        )
        .await
    }

    /// A key of `scope` (JSON) created with `token`: (raw key, id).
    pub(super) async fn key(&self, token: &str, body: Value) -> (String, String) {
        let v = self.post(token, "/v1/keys", body).await;
        (
            v["key"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    }

    pub(super) async fn member(
        &self,
        org_token: &str,
        role: &str,
        agents: &[&str],
    ) -> (String, String) {
        let email = format!("{}@company.com", self.fresh("person"));
        let code = self
            .app
            .invite(
                org_token,
                json!({"email": email, "role": role, "agents": agents}),
            )
            .await;
        let r = self.app.accept(&code, None).await;
        let v = ok(&r, "accept");
        (
            v["token"]["key"].as_str().unwrap().to_owned(),
            v["member"]["user_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Starts an authorization with `token` and plays the person at the provider:
    /// the code and state of the redirect (to `redirect`, else the hosted callback).
    async fn consent(
        &self,
        token: &str,
        id: &str,
        workspace: Option<&str>,
        redirect: Option<&str>,
    ) -> (String, String) {
        let path = format!(
            "/v1/integrations/{}/authorize",
            crate::integrations::PROVIDER
        );
        let started = self
            .post(
                token,
                &path,
                json!({"connection_id": id, "workspace": workspace, "redirect_uri": redirect}),
            )
            .await;
        let to = redirect
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}/v1/oauth/callback", self.app.base));
        let back = self
            .provider
            .authorize(started["url"].as_str().unwrap(), &to)
            .await;
        let url = url::Url::parse(&back).unwrap();
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        (get("code"), get("state"))
    }

    pub(super) async fn make(&self, row: &Row) -> Call {
        let owner = self.app.owner_token.clone();
        let mut call = Call {
            org_token: owner.clone(),
            path: row.path.to_owned(),
            body: None,
            headers: vec![],
            workspace: None,
            agent: None,
            org_id: self.org_id.clone(),
            worker_key: None,
        };
        let set = |call: &mut Call, param: &str, value: &str| {
            call.path = call.path.replace(&format!("{{{param}}}"), value);
        };
        match row.fixture {
            Fixture::Nothing => {}
            Fixture::Key | Fixture::NewKey => {
                let ws = self.workspace(&owner).await;
                let body = json!({
                    "name": self.fresh("key"), "kind": "api",
                    "scope": {"type": "workspaces", "workspaces": [ws]},
                });
                if matches!(row.fixture, Fixture::Key) {
                    let (_, id) = self.key(&owner, body).await;
                    set(&mut call, "id", &id);
                    call.body = match row.method {
                        "PATCH" => Some(json!({"name": self.fresh("renamed")})),
                        "POST" => Some(json!({})),
                        _ => None,
                    };
                } else {
                    call.body = Some(body);
                }
                call.workspace = Some(ws);
            }
            Fixture::Verify => {
                let (raw, _) = self
                    .key(
                        &owner,
                        json!({"name": self.fresh("verified"), "kind": "api"}),
                    )
                    .await;
                call.body = Some(json!({ "key": raw }));
            }
            Fixture::Workspace => {
                let ws = self.workspace(&owner).await;
                set(&mut call, "id", &ws);
                call.body =
                    (row.method == "PATCH").then(|| json!({"name": self.fresh("renamed-ws")}));
                call.workspace = Some(ws);
            }
            Fixture::NewWorkspace => call.body = Some(json!({"name": self.fresh("new-ws")})),
            Fixture::Agent => {
                let agent = self.agent(&owner).await;
                set(&mut call, "id", &agent);
                call.body =
                    (row.method == "PATCH").then(|| json!({"name": self.fresh("renamed-agent")}));
                call.agent = Some(agent);
            }
            Fixture::NewAgent => call.body = Some(json!({"name": self.fresh("new-agent")})),
            Fixture::Channel => {
                let agent = self.agent(&owner).await;
                let channel = self.channel(&owner, &agent).await;
                set(&mut call, "id", channel["id"].as_str().unwrap());
                call.body = (row.method == "PATCH").then(|| json!({"enabled": false}));
                call.agent = Some(agent);
            }
            Fixture::NewChannel => {
                let agent = self.agent(&owner).await;
                call.body = Some(json!({"agent": agent, "name": self.fresh("new-channel")}));
                call.agent = Some(agent);
            }
            Fixture::ChannelContext => {
                let agent = self.agent(&owner).await;
                let channel = self.channel(&owner, &agent).await;
                let hook = channel["hook_id"].as_str().unwrap().to_owned();
                if row.method == "GET" {
                    call.headers.push(("x-hook-id", hook));
                } else {
                    call.body = Some(json!({ "hookId": hook }));
                }
                call.agent = Some(agent);
            }
            Fixture::Member => {
                let (_, user_id) = self.member(&owner, "member", &[]).await;
                set(&mut call, "user_id", &user_id);
                call.body = (row.method == "PATCH").then(|| json!({"role": "member"}));
            }
            Fixture::Invitation => {
                let email = format!("{}@company.com", self.fresh("invited"));
                let v = self
                    .post(
                        &owner,
                        "/v1/invitations",
                        json!({"email": email, "role": "member"}),
                    )
                    .await;
                set(&mut call, "id", v["invitation"]["id"].as_str().unwrap());
            }
            Fixture::NewInvitation => {
                let email = format!("{}@company.com", self.fresh("invited"));
                call.body = Some(json!({"email": email, "role": "member"}));
            }
            Fixture::Accept => {
                let email = format!("{}@company.com", self.fresh("joining"));
                let code = self
                    .app
                    .invite(&owner, json!({"email": email, "role": "member"}))
                    .await;
                call.body = Some(json!({ "code": code }));
            }
            Fixture::CliLogin => {
                let owner_id = self.app.owner_id().await;
                let (code, verifier) = self.app.approve_cli_login(&owner_id, "ci-box").await;
                call.body = Some(json!({ "code": code, "code_verifier": verifier }));
            }
            Fixture::ServiceAccount | Fixture::NewServiceAccount => {
                let body = json!({"name": self.fresh("bot"), "scopes": "keys:read"});
                if matches!(row.fixture, Fixture::ServiceAccount) {
                    let v = self.post(&owner, "/v1/service-accounts", body).await;
                    set(&mut call, "id", v["id"].as_str().unwrap());
                    call.body = match row.method {
                        "PATCH" => Some(json!({"name": self.fresh("renamed-bot")})),
                        "POST" => Some(json!({})),
                        _ => None,
                    };
                } else {
                    call.body = Some(body);
                }
            }
            Fixture::OwnerLimit => {
                set(&mut call, "owner_type", "external");
                set(&mut call, "owner_id", &self.fresh("cus"));
                call.body = (row.method == "PUT")
                    .then(|| json!({"ratelimit": {"limit": 100, "period": "1m"}}));
            }
            Fixture::Org => {
                set(&mut call, "id", &self.org_id);
                call.body = (row.method == "PATCH").then(|| json!({"name": "acme"}));
            }
            Fixture::FreshOrg => {
                let v = self
                    .post(
                        &owner,
                        "/v1/organizations",
                        json!({"name": self.fresh("org")}),
                    )
                    .await;
                let token = v["token"]["key"].as_str().unwrap().to_owned();
                let id = v["organization"]["id"].as_str().unwrap().to_owned();
                ok(
                    &self
                        .app
                        .patch(
                            &format!("/v1/organizations/{id}"),
                            &token,
                            json!({"settings": {"allow_legacy_tokens": true, "max_keys": 1000}}),
                        )
                        .await,
                    "settings",
                );
                set(&mut call, "id", &id);
                call.org_token = token;
                call.org_id = id;
            }
            Fixture::NewOrg => call.body = Some(json!({"name": self.fresh("new-org")})),
            Fixture::NewConnection => {
                let ws = self.workspace(&owner).await;
                set(&mut call, "provider", crate::integrations::PROVIDER);
                call.body = Some(json!({
                    "connection_id": self.fresh("con"), "workspace": ws,
                    "redirect_uri": crate::integrations::APP_CALLBACK,
                }));
                call.workspace = Some(ws);
            }
            Fixture::OAuthCode | Fixture::Connection => {
                let ws = self.workspace(&owner).await;
                let id = self.fresh("con");
                let callback = crate::integrations::APP_CALLBACK;
                let (code, state) = self.consent(&owner, &id, Some(&ws), Some(callback)).await;
                let body = json!({"code": code, "state": state, "redirect_uri": callback});
                if matches!(row.fixture, Fixture::OAuthCode) {
                    set(&mut call, "provider", crate::integrations::PROVIDER);
                    call.body = Some(body);
                } else {
                    let path = format!(
                        "/v1/integrations/{}/exchange",
                        crate::integrations::PROVIDER
                    );
                    self.post(&owner, &path, body).await;
                    set(&mut call, "id", &id);
                }
                call.workspace = Some(ws);
            }
            Fixture::NewWebhookEndpoint => {
                let ws = self.workspace(&owner).await;
                call.body = Some(crate::webhooks::standard_endpoint_body(&ws).0);
                call.workspace = Some(ws);
            }
            Fixture::WebhookEndpoint | Fixture::WebhookDelivery => {
                let ws = self.workspace(&owner).await;
                let (body, secret) = crate::webhooks::standard_endpoint_body(&ws);
                let created = self.post(&owner, "/v1/webhook-endpoints", body).await;
                let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
                set(&mut call, "id", &id);
                call.body = match (row.method, row.path.ends_with("/replay")) {
                    ("PATCH", _) => Some(json!({"name": self.fresh("renamed-hook")})),
                    ("POST", true) if matches!(row.fixture, Fixture::WebhookEndpoint) => {
                        Some(json!({"since": "2000-01-01T00:00:00Z"}))
                    }
                    ("POST", _) => Some(json!({})),
                    _ => None,
                };
                if matches!(row.fixture, Fixture::WebhookDelivery) {
                    // Kept as failed while the endpoint is disabled: replayable.
                    let ingress = created["endpoint"]["ingress_url"].as_str().unwrap();
                    let delivery =
                        crate::webhooks::send_standard(&self.app, ingress, &secret).await;
                    set(&mut call, "delivery_id", &delivery);
                }
                // Enabled (replays wait for that); its destination refuses connections.
                let path = format!("/v1/webhook-endpoints/{id}");
                ok(
                    &self
                        .app
                        .patch(&path, &owner, json!({"enabled": true}))
                        .await,
                    &path,
                );
                call.workspace = Some(ws);
            }
            Fixture::Worker => {
                let ws = self.workspace(&owner).await;
                let (_, key) = crate::workers::worker_key(&self.app, &ws, &self.fresh("wk")).await;
                let name = self.fresh("worker");
                let id =
                    crate::workers::register_in(&self.app, &self.org_id, &ws, &key, &name, &[])
                        .await;
                set(&mut call, "id", &id);
                call.workspace = Some(ws);
            }
            Fixture::WorkerRegistration => {
                let ws = self.workspace(&owner).await;
                let (raw, _) = crate::workers::worker_key(&self.app, &ws, &self.fresh("wk")).await;
                call.body = Some(crate::workers::registration(&self.fresh("worker")));
                call.worker_key = Some(raw);
                call.workspace = Some(ws);
            }
            Fixture::HostedCallback => {
                let id = self.fresh("con");
                let (code, state) = self.consent(&owner, &id, None, None).await;
                call.path = format!("{}?code={code}&state={state}", row.path);
            }
        }
        call
    }

    pub(super) async fn send(&self, row: &Row, call: &Call, token: Option<&str>) -> Reply {
        let method = Method::from_bytes(row.method.as_bytes()).unwrap();
        let mut req = self
            .app
            .client
            .request(method, format!("{}{}", self.app.base, call.path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (name, value) in &call.headers {
            req = req.header(*name, value);
        }
        if let Some(b) = &call.body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}
