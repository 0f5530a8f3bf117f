//! The web console over real HTTP, as a browser without JavaScript uses it: cookies,
//! forms with their CSRF token, redirects. (`crates/keyward/tests/browser/` drives the
//! same pages in Chromium.)

mod hardening;
mod integrations;
mod key_actions;
mod keys;
mod members;
mod pages;
mod service_accounts;
mod signin;
mod webhooks;
mod workers;

use crate::common::TestApp;
use keyward_server::people::links;
use keyward_store::PasswordPurpose;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;

pub const PASSWORD: &str = "correct horse battery staple";

/// One page as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The value of the first `name="…" value="…"` input.
    pub fn field(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }
}

/// A cookie jar and the CSRF token of the last page with a form.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
            csrf: Mutex::new(None),
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn take(&self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for c in headers.get_all(reqwest::header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let page = Page {
            status,
            headers,
            body: response.text().await.unwrap(),
        };
        if let Some(token) = page.field("_csrf") {
            *self.csrf.lock().unwrap() = Some(token);
        }
        page
    }

    pub async fn get(&self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let r = self
            .client
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    /// Posts a form with the CSRF token of the last page.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.lock().unwrap().clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[]).await
    }

    /// Posts exactly `fields`, with extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.take(request.send().await.unwrap()).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().unwrap().contains_key(name)
    }
}

/// The absolute link in `body` whose path starts with `path` (a one-time link shown in
/// a page), up to the closing quote of its attribute.
pub fn link_in(body: &str, path: &str) -> String {
    let at = body
        .find(path)
        .unwrap_or_else(|| panic!("no {path} in the page: {body}"));
    let start = body[..at].rfind('"').expect("the link is an attribute") + 1;
    let end = at + body[at..].find('"').expect("the attribute ends");
    body[start..end].replace("&amp;", "&")
}

/// The user id of the owner (`team@company.com`).
pub async fn owner_id(app: &TestApp) -> String {
    let me = app.get("/v1/me", &app.owner_token).await;
    me.body["owner"]["id"].as_str().unwrap().to_owned()
}

/// A one-time link to set `user_id`'s password, issued as on first start.
pub async fn password_link(app: &TestApp, user_id: &str, purpose: PasswordPurpose) -> String {
    let org_id = app.org_id().await;
    let code = links::issue(
        app.state.store.as_ref(),
        links::Issue {
            user_id,
            org_id: &org_id,
            purpose,
            at: app.clock.now(),
            lifetime: chrono::Duration::hours(24),
            actor: links::system_actor(),
            source_ip: None,
        },
    )
    .await
    .unwrap();
    links::url(&app.base, &code)
}

/// Sets a password through `link` and returns the signed-in browser.
pub async fn set_password(app: &TestApp, link: &str) -> Browser {
    let browser = Browser::new(app);
    let page = browser.get(link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = page.field("code").unwrap();
    let done = browser
        .post(
            "/console/password",
            &[
                ("code", &code),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(browser.has_cookie("keyward_session"));
    browser
}

/// The owner, signed in to the console.
pub async fn owner(app: &TestApp) -> Browser {
    let link = password_link(app, &owner_id(app).await, PasswordPurpose::Setup).await;
    set_password(app, &link).await
}

/// A person who joined as `role` (by invitation, through the API), signed in to the
/// console: (browser, their first token, their user id).
pub async fn person(app: &TestApp, email: &str, role: &str) -> (Browser, String, String) {
    let (token, user_id) = app.join(email, role, &[]).await;
    let link = password_link(app, &user_id, PasswordPurpose::Setup).await;
    (set_password(app, &link).await, token, user_id)
}

use keyward_core::Clock as _;
