//! The page shell every console page shares: the top bar (organization switcher, the
//! person, sign out), the navigation, and the markup helpers forms need. maud escapes
//! every interpolated value; there is no inline script or style (the CSP forbids both),
//! only the embedded `console.css` and `console.js`.

pub use super::shell::bare;
use super::shell::head;
use super::visitor::Signed;
use maud::{html, Markup, DOCTYPE};

/// The console's sections, as the navigation lists them: (path, label).
pub const SECTIONS: &[(&str, &str)] = &[
    ("/console/keys", "API Keys"),
    ("/console/tokens", "Personal Access Tokens"),
    ("/console/service-accounts", "Service Accounts"),
    ("/console/channels", "Channels"),
    ("/console/resources", "Workspaces and Agents"),
    ("/console/members", "Members"),
    ("/console/settings", "Settings"),
    ("/console/integrations", "Integrations"),
    ("/console/settings/webhooks", "Webhooks"),
    ("/console/settings/workers", "Workers"),
    ("/console/audit", "Audit Log"),
    ("/console/usage", "Usage"),
    ("/console/sessions", "Sessions"),
];

/// A page for a signed-in person: top bar, navigation, and `body` as the main content.
pub fn page(signed: &Signed, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="topbar" {
                    a class="brand" href="/console" { "Keyward" }
                    (org_switcher(signed))
                    div class="who" {
                        a href="/console/account" title="Your account" { (signed.email) }
                        span class="role" { (signed.role.as_str()) }
                        form method="post" action="/console/signout" {
                            (csrf_field(signed))
                            button type="submit" class="link" { "Sign out" }
                        }
                    }
                }
                div class="frame" {
                    nav aria-label="Console" {
                        ul {
                            @for (path, label) in SECTIONS {
                                li {
                                    @if section_of(&signed.path) == *path {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    main id="main" tabindex="-1" { (body) }
                }
            }
        }
    }
}

/// The section a path belongs to (`/console/keys/key_…` is under API Keys): the
/// longest that holds it (`/console/settings/webhooks/…` is under Webhooks, not Settings).
fn section_of(path: &str) -> &str {
    SECTIONS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        .max_by_key(|p| p.len())
        .unwrap_or("")
}

fn org_switcher(signed: &Signed) -> Markup {
    html! {
        @if signed.orgs.len() > 1 {
            form class="switcher" method="post" action="/console/organization" {
                (csrf_field(signed))
                label for="org-switch" { "Organization" }
                select id="org-switch" name="org" data-autosubmit {
                    @for (id, name) in &signed.orgs {
                        option value=(id) selected[*id == signed.org_id] { (name) }
                    }
                }
                button type="submit" class="secondary" { "Switch" }
            }
        } @else {
            span class="org" { (signed.org_name) }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(signed: &Signed) -> Markup {
    csrf_value(&signed.csrf)
}

/// The hidden CSRF field with a given token (pages before sign-in use the pre-session
/// token of `csrf::presession`).
pub fn csrf_value(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// An error message that assistive technology announces.
pub fn alert(message: &str) -> Markup {
    html! { p class="alert" role="alert" { (message) } }
}

/// A confirmation that something was done.
pub fn notice(message: &str) -> Markup {
    html! { p class="notice" role="status" { (message) } }
}

/// A time as people read it, in UTC, with the exact instant for machines.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// A day as people read it (UTC), with the exact instant for machines and on hover: for
/// tables, where a whole time is too wide.
pub fn date(at: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M UTC")) { (at.format("%Y-%m-%d")) }
    }
}

/// An optional day, or `none` in muted text.
pub fn maybe_date(at: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> Markup {
    match at {
        Some(at) => date(at),
        None => html! { span class="muted" { (none) } },
    }
}

/// An optional time, or a dash.
pub fn maybe_time(at: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { span class="muted" { (none) } },
    }
}

// ---- Helpers of the people and organization pages (members, channels, settings, …) ----

/// Whether the signed-in person may do `action` on `target` with `permission`: the
/// answer of `authz` itself (the person's reach is read once per request), so a page
/// shows a button exactly when its request would be allowed.
pub async fn may(
    state: &crate::state::AppState,
    signed: &Signed,
    permission: &str,
    action: crate::authz::Action,
    target: crate::authz::Target<'_>,
) -> bool {
    signed
        .principal
        .authorize(state, permission, action, target)
        .await
        .is_ok()
}

/// An API request body from a form's fields, decoded exactly as the API decodes JSON
/// (the same checks, and errors that name the field).
pub fn api_request<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
) -> Result<T, crate::errors::ApiError> {
    let bytes = serde_json::to_vec(&body).map_err(|_| crate::errors::ApiError::Internal)?;
    crate::extract::parse_json(&bytes)
}

/// What a form shows again beside what was typed (a mistake the person can fix: 400,
/// 409, 410, 422), or the error page for anything else (403 above all).
pub fn form_problem(e: crate::errors::ApiError) -> Result<String, super::Failure> {
    let problem = e.problem();
    match problem.status {
        400 | 409 | 410 | 422 => Ok(problem.detail),
        _ => Err(super::Failure(e)),
    }
}

/// A form that posts to `action` after a second, deliberate click: `summary` opens it,
/// `body` says what will happen, and the button named `confirm` does it. Works without
/// JavaScript.
pub fn confirm(
    signed: &Signed,
    summary: &str,
    summary_label: &str,
    action: &str,
    body: Markup,
    confirm: &str,
) -> Markup {
    html! {
        details class="confirm" {
            summary aria-label=(summary_label) { (summary) }
            form method="post" action=(action) {
                (csrf_field(signed))
                (body)
                button type="submit" class="danger" { (confirm) }
            }
        }
    }
}

/// A value to copy (a hook id, a link): the text itself and, with JavaScript, a Copy
/// button (`data-copy`, hidden until `console.js` shows it).
pub fn copyable(id: &str, value: &str, label: &str) -> Markup {
    html! {
        span class="copyable" {
            code id=(id) { (value) }
            " "
            button type="button" class="secondary small" data-copy=(id) aria-label=(label) hidden { "Copy" }
        }
    }
}

/// `raw` as one segment of a URL path (percent-encoded but for unreserved characters),
/// for ids that may hold any character (a customer's id).
pub fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::section_of;

    #[test]
    fn a_path_is_under_the_longest_section_that_holds_it() {
        assert_eq!(section_of("/console/keys/key_1"), "/console/keys");
        assert_eq!(section_of("/console/settings"), "/console/settings");
        assert_eq!(
            section_of("/console/settings/owner-limits"),
            "/console/settings"
        );
        assert_eq!(
            section_of("/console/settings/webhooks/wh_1"),
            "/console/settings/webhooks"
        );
        assert_eq!(
            section_of("/console/settings/workers/wkr_1"),
            "/console/settings/workers"
        );
        assert_eq!(section_of("/console/settingsx"), "");
    }
}
