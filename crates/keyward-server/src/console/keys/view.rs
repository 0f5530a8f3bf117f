//! How keys look on every page that lists them (API Keys, Personal Access Tokens, a
//! service account's keys): the table with its ⋮ menu per row, the masked prefix, the
//! status, and the dialog that shows a new key once.

use super::super::layout::{csrf_field, date, maybe_date, notice};
use super::super::visitor::Signed;
use super::context::Context;
use keyward_api::KeyView;
use keyward_core::expiry::KeyStatus;
use keyward_core::key::Environment;
use keyward_core::{ids, KeyKind, Owner};
use maud::{html, Markup};

/// The page a key action returns to: the list the person came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Back {
    Keys,
    Tokens,
    ServiceAccount(String),
}

impl Back {
    /// From the `back` parameter (`keys`, `tokens`, `sa_…`); anything else is API Keys.
    pub fn parse(raw: Option<&str>) -> Back {
        match raw {
            Some("tokens") => Back::Tokens,
            Some(id) if ids::is_id("sa", id) => Back::ServiceAccount(id.to_owned()),
            _ => Back::Keys,
        }
    }

    /// The parameter's value.
    pub fn param(&self) -> &str {
        match self {
            Back::Keys => "keys",
            Back::Tokens => "tokens",
            Back::ServiceAccount(id) => id,
        }
    }

    pub fn path(&self) -> String {
        match self {
            Back::Keys => "/console/keys".into(),
            Back::Tokens => "/console/tokens".into(),
            Back::ServiceAccount(id) => format!("/console/service-accounts/{id}"),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Back::Keys => "API Keys",
            Back::Tokens => "Personal Access Tokens",
            Back::ServiceAccount(_) => "the service account",
        }
    }

    /// The back page with `?done=…`, after an action.
    pub fn done(&self, what: &str) -> String {
        format!("{}?done={what}", self.path())
    }

    /// The hidden field that carries it through a form.
    pub fn field(&self) -> Markup {
        html! { input type="hidden" name="back" value=(self.param()); }
    }
}

/// What a key's kind is called on the pages.
pub fn kind_label(kind: KeyKind, environment: Environment) -> &'static str {
    match (kind, environment) {
        (KeyKind::Personal, _) => "Personal access token",
        (KeyKind::ServiceAccount, _) => "Service account key",
        (KeyKind::Worker, _) => "Worker key",
        (KeyKind::Channel, _) => "Channel token",
        (KeyKind::LegacyWorkspace, _) => "Legacy workspace token",
        (KeyKind::Api, Environment::Live) => "API key (live)",
        (KeyKind::Api, Environment::Test) => "API key (test)",
    }
}

/// The visible start of a key, marked as cut short: `kw_pat_ab12…`.
pub fn masked(prefix: &str) -> Markup {
    html! { code class="prefix" { (prefix) "…" } }
}

pub fn status(k: &KeyView) -> Markup {
    let label = status_label(k.status);
    html! { span class={ "status " (label) } { (label) } }
}

pub fn status_label(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Revoked => "revoked",
        KeyStatus::Expired => "expired",
    }
}

/// Permissions in a few words: `all`, `read only`, or the grants.
pub fn permissions_text(grants: &[String]) -> String {
    match grants {
        [one] if one == "*:*" => "all".into(),
        [one] if one == "*:read" => "read only".into(),
        [] => "none".into(),
        list => list.join(", "),
    }
}

/// Who a key belongs to, in words.
pub fn owner_text(k: &KeyView) -> String {
    match &k.owner {
        Some(Owner::User { name, .. }) => name.clone(),
        Some(Owner::ServiceAccount { name, .. }) => format!("service account {name}"),
        Some(Owner::External { id }) => format!("customer {id}"),
        None => "the organization".into(),
    }
}

/// What the table says of where a key reaches: its scope, or its workspace or channel.
pub fn reach_text(ctx: &Context, k: &KeyView) -> String {
    match (&k.workspace, &k.channel) {
        (Some(w), _) => format!("workspace {}", ctx.name(w)),
        (_, Some(c)) => format!("channel {} ({})", ctx.name(c), ctx.scope_text(&k.scope)),
        _ => ctx.scope_text(&k.scope),
    }
}

/// A person's token may be rotated only by that person (the new secret goes to whoever
/// rotates): the menu offers it where `authz` would allow it.
fn offers_rotate(signed: &Signed, k: &KeyView) -> bool {
    match (&k.owner, k.kind) {
        (Some(Owner::User { id, .. }), KeyKind::Personal | KeyKind::Worker) => {
            *id == signed.user_id
        }
        _ => true,
    }
}

/// The keys as a table, each row with its ⋮ menu of what can be done to it.
pub fn table(signed: &Signed, ctx: &Context, keys: &[KeyView], back: &Back) -> Markup {
    html! {
        div class="table-wrap" {
            table class="keys" {
                caption class="visually-hidden" { "Keys" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Scope and permissions" }
                    th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" }
                    th scope="col" { "Status" }
                    th scope="col" { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for k in keys {
                        tr {
                            td class="name" {
                                strong { (k.name) }
                                span class="muted small" { (kind_label(k.kind, k.environment)) " · " (owner_text(k)) }
                            }
                            td { (masked(&k.prefix)) }
                            td class="access" {
                                (reach_text(ctx, k))
                                span class="muted small" { (permissions_text(&k.permissions)) }
                            }
                            td class="when" { (date(k.created_at)) span class="muted small" { "by " (k.created_by) } }
                            td class="when" { (maybe_date(k.last_used_at, "never")) }
                            td class="when" { (maybe_date(k.expires_at, "never")) }
                            td { (status(k)) }
                            td { (menu(signed, k, back)) }
                        }
                    }
                }
            }
        }
        @if keys.is_empty() {
            p class="muted" { "No keys here yet." }
        }
    }
}

fn menu(signed: &Signed, k: &KeyView, back: &Back) -> Markup {
    let base = format!("/console/keys/{}", k.id);
    let q = format!("?back={}", back.param());
    let live = matches!(k.status, KeyStatus::Active | KeyStatus::Disabled);
    html! {
        details class="menu" {
            summary aria-label={ "Actions for " (k.name) } { "⋮" }
            ul {
                @if live {
                    li { a href={ (base) "/edit" (q) } { "Edit" } }
                }
                li { a href={ "/console/usage/" (k.id) } { "Usage" } }
                li { a href={ (base) "/llm" (q) } { "Copy for LLM" } }
                @if live && offers_rotate(signed, k) {
                    li { a href={ (base) "/rotate" (q) } { "Rotate" } }
                }
                @if live {
                    li {
                        form method="post" action={ (base) "/enabled" } {
                            (csrf_field(signed))
                            (back.field())
                            @if k.enabled {
                                input type="hidden" name="enabled" value="false";
                                button type="submit" { "Disable" }
                            } @else {
                                input type="hidden" name="enabled" value="true";
                                button type="submit" { "Enable" }
                            }
                        }
                    }
                }
                @if k.status != KeyStatus::Revoked {
                    li { a class="danger" href={ (base) "/revoke" (q) } { "Revoke" } }
                }
            }
        }
    }
}

/// The dialog that shows a new key the one time it is shown: rendered open so that it
/// shows without JavaScript; `console.js` makes it modal, shows the Copy button, and
/// removes the key from the page when the dialog closes.
pub fn reveal(heading: &str, name: &str, secret: &str, done: &str, note: Option<&str>) -> Markup {
    html! {
        dialog class="reveal" data-secret data-open-on-load open aria-labelledby="reveal-title" aria-describedby="reveal-warning" {
            h2 id="reveal-title" { (heading) }
            p { "Key " strong { (name) } ":" }
            div class="secret" {
                label class="visually-hidden" for="new-key" { "The new key" }
                input id="new-key" type="text" readonly value=(secret) data-secret-value autocomplete="off" spellcheck="false";
                button type="button" data-copy="new-key" hidden { "Copy" }
            }
            p id="reveal-warning" class="warning" {
                strong { "Copy it now: you cannot see it again." }
                " Keyward keeps only a hash of it. If you lose it, rotate or create another key."
            }
            @if let Some(note) = note { p { (note) } }
            p { a class="button" href=(done) data-close-dialog { "Done" } }
        }
    }
}

/// The confirmation an action leaves on the page it returns to (`?done=…`).
pub fn done_notice(done: Option<&str>) -> Markup {
    let message = match done {
        Some("revoked") => "The key is revoked. It stopped working everywhere at once.",
        Some("disabled") => "The key is disabled: it does not work until it is enabled again.",
        Some("enabled") => "The key is enabled again.",
        Some("edited") => "The key is saved.",
        Some("renamed") => "The service account is renamed.",
        Some("deleted") => "The service account is deleted and its keys are revoked.",
        _ => return html! {},
    };
    notice(message)
}

/// A link to the next page of a listing, if there is one.
pub fn pager(path: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(cursor) = next {
            nav class="pager" aria-label="Pages" {
                a href={ (path) "?cursor=" (urlencode(cursor)) } { "Next page" }
            }
        }
    }
}

pub fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// How full the organization's key limits are, before anyone fills a form in.
pub fn usage_line(ctx: &Context) -> Markup {
    let (used, max) = (ctx.counts.keys, ctx.settings.max_keys);
    html! {
        p class="limit-line" {
            "Keys in this organization: " strong { (used) " of " (max) }
            span class="muted" { " (worker keys and channel tokens are counted apart)" }
        }
    }
}
