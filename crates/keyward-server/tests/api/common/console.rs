//! Playing a person in a browser on the console: a client that follows no redirects,
//! carries its own cookies, and reads the `_csrf` field of the page it was shown.

use super::TestApp;
use keyward_core::Clock;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use std::collections::BTreeMap;

/// The password people set in these tests.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// A page as the browser received it.
pub struct Shown {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Shown {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the page's (first) hidden `_csrf` field.
    #[track_caller]
    pub fn csrf(&self) -> String {
        let at = self
            .html
            .find(r#"name="_csrf" value=""#)
            .unwrap_or_else(|| panic!("no _csrf field in:\n{}", self.html));
        let rest = &self.html[at + r#"name="_csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn take(&mut self, r: Response) -> Shown {
        for v in r.headers().get_all(SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
        Shown {
            status: r.status(),
            headers: r.headers().clone(),
            html: r.text().await.unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `GET path` (a path and query on the server).
    pub async fn get(&mut self, path: &str) -> Shown {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    /// `POST path` with a form.
    pub async fn post(&mut self, path: &str, form: &(impl serde::Serialize + ?Sized)) -> Shown {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(r).await
    }
}

impl TestApp {
    /// A browser signed in to the console as the member `user_id` of the bootstrap
    /// organization: a one-time password link issued in the store, redeemed on the
    /// console's password page, which starts a session.
    pub async fn console_as(&self, user_id: &str) -> Browser {
        use keyward_server::people::links;
        let code = links::issue(
            self.store.as_ref(),
            links::Issue {
                user_id,
                org_id: &self.org_id().await,
                purpose: keyward_store::PasswordPurpose::Setup,
                at: self.clock.now(),
                lifetime: chrono::Duration::hours(1),
                actor: links::system_actor(),
                source_ip: None,
            },
        )
        .await
        .unwrap();
        let mut browser = Browser::new(&self.base);
        let path = format!("/console/password?code={}", code.expose_secret());
        let shown = browser.get(&path).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
        let csrf = shown.csrf();
        let set = browser
            .post(
                "/console/password",
                &[
                    ("_csrf", csrf.as_str()),
                    ("code", code.expose_secret()),
                    ("password", PASSWORD),
                    ("repeat", PASSWORD),
                ],
            )
            .await;
        assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.html);
        browser
    }
}
