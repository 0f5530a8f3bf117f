//! A page of keys and its create form: API Keys (`/console/keys`) here, and Personal
//! Access Tokens (`console/tokens.rs`) with the same code and a [`Section`] of its own.
//!
//! The list comes from the API's listing (the person sees what their role reaches); the
//! form's POST calls `POST /v1/keys`'s handler and answers 201 with the page itself and
//! the new key in its dialog (never a redirect: the key must not be in a URL).

use super::super::failure::{Failure, PageResult};
use super::super::layout::{csrf_field, page};
use super::super::visitor::Signed;
use super::context::Context;
use super::fields::{self, Offer};
use super::form::{problem, KeyForm, Problem};
use super::view::{self, Back};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::Form;
use keyward_api::{KeyView, ListQuery, ListResponse};
use keyward_core::KeyKind;
use maud::{html, Markup};
use serde::Deserialize;

/// What differs between the pages of keys made with `POST /v1/keys`.
pub struct Section {
    pub back: Back,
    pub path: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    /// The create button's text and the create page's heading.
    pub create: &'static str,
    /// `GET /v1/me/keys` (the person's own) rather than `GET /v1/keys`.
    pub mine: bool,
    /// Whether the person's role lets them make any key here (what `authz` allows them;
    /// the API decides again when the form is sent).
    pub may_create: fn(&Context) -> bool,
    /// The kinds the form offers, and why one cannot be made now.
    pub offers: fn(&Context) -> Vec<Offer>,
}

pub const API_KEYS: Section = Section {
    back: Back::Keys,
    path: "/console/keys",
    title: "API Keys",
    intro: "The organization's keys that you manage: keys for your customers, channel tokens, \
        and the tokens and service-account keys of the people and accounts you reach.",
    create: "Create API key",
    mine: false,
    may_create: |ctx| ctx.is_admin() || ctx.is_agent_admin(),
    offers: api_key_offers,
};

fn full(ctx: &Context) -> String {
    format!(
        "The organization's limit of {} keys is reached.",
        ctx.settings.max_keys
    )
}

fn api_key_offers(ctx: &Context) -> Vec<Offer> {
    let mut offers = vec![Offer {
        kind: KeyKind::Api,
        label: "API key",
        hint: "For your own customers and services to present: kw_live_… or kw_test_…, \
            checked with the verify API."
            .into(),
        unavailable: (!ctx.org_has_room(KeyKind::Api)).then(|| full(ctx)),
    }];
    offers.push(Offer {
        kind: KeyKind::Channel,
        label: "Channel token",
        hint:
            "A channel's own token (kw_ch_…), scoped to its agent; not counted against the limit."
                .into(),
        unavailable: ctx
            .own_channels()
            .is_empty()
            .then(|| "There are no channels yet.".to_owned()),
    });
    if ctx.settings.allow_legacy_tokens && ctx.is_admin() {
        offers.push(Offer {
            kind: KeyKind::LegacyWorkspace,
            label: "Legacy workspace token",
            hint: "Deprecated (kw_ws_…), for migrations only; answers carry a deprecation warning."
                .into(),
            unavailable: if !ctx.org_has_room(KeyKind::LegacyWorkspace) {
                Some(full(ctx))
            } else if ctx.workspaces.is_empty() {
                Some("There are no workspaces yet.".into())
            } else {
                None
            },
        });
    }
    offers
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    pub cursor: Option<String>,
    pub done: Option<String>,
}

/// One page of the section's keys, as the API lists them for the person.
pub async fn keys_of(
    state: &AppState,
    signed: &Signed,
    section: &Section,
    cursor: Option<String>,
) -> Result<ListResponse<KeyView>, crate::errors::ApiError> {
    let query = ApiQuery(ListQuery {
        limit: Some(100),
        cursor,
    });
    let (s, p) = (State(state.clone()), signed.principal.clone());
    Ok(if section.mine {
        crate::http::keys::list_my_keys(s, p, query).await?.0
    } else {
        crate::http::keys::list_keys(s, p, query).await?.0
    })
}

/// The list page, with a notice or the dialog of a new key on top.
pub fn list_page(
    signed: &Signed,
    ctx: &Context,
    section: &Section,
    keys: &ListResponse<KeyView>,
    top: Markup,
) -> Markup {
    let offers = (section.offers)(ctx);
    let can = (section.may_create)(ctx);
    let open = offers.iter().any(|o| o.unavailable.is_none());
    let body = html! {
        (top)
        div class="toolbar" {
            h1 { (section.title) }
            @if can && open {
                a class="button" href={ (section.path) "/new" } { (section.create) }
            }
        }
        p class="intro" { (section.intro) }
        (view::usage_line(ctx))
        @if can && !open {
            (no_room(&offers))
        }
        (view::table(signed, ctx, &keys.data, &section.back))
        (view::pager(section.path, keys.next_cursor.as_deref()))
    };
    page(signed, section.title, body)
}

/// Why nothing can be made now: each kind's reason, said before anyone fills a form in.
fn no_room(offers: &[Offer]) -> Markup {
    html! {
        div class="warning limit-reached" id="limit-reached" {
            p { strong { "No new key can be created here now." } }
            ul {
                @for o in offers {
                    li { (o.label) ": " (o.unavailable.as_deref().unwrap_or("available")) }
                }
            }
            p { "Revoke a key you no longer need to free its slot, or ask an owner to raise the limit in Settings." }
        }
    }
}

pub async fn show(
    state: &AppState,
    signed: &Signed,
    section: &Section,
    cursor: Option<String>,
    done: Option<&str>,
) -> PageResult {
    let (ctx, keys) = tokio::try_join!(Context::load(state, signed), async {
        keys_of(state, signed, section, cursor)
            .await
            .map_err(Failure::from)
    })?;
    Ok(list_page(signed, &ctx, section, &keys, view::done_notice(done)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<ListParams>,
) -> PageResult {
    show(&state, &signed, &API_KEYS, q.cursor, q.done.as_deref()).await
}

/// The create page: the form, or why no key can be made now.
pub fn form_page(
    signed: &Signed,
    ctx: &Context,
    section: &Section,
    form: &KeyForm,
    problem: Option<&Problem>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let offers = (section.offers)(ctx);
    let open: Vec<&Offer> = offers.iter().filter(|o| o.unavailable.is_none()).collect();
    let first = open.first().map_or(KeyKind::Personal, |o| o.kind);
    let chosen = form.kind_or(first);
    let kinds: Vec<KeyKind> = offers.iter().map(|o| o.kind).collect();
    let has = |k: KeyKind| kinds.contains(&k);
    let scoped = [KeyKind::Api, KeyKind::Personal]
        .into_iter()
        .find(|k| has(*k));
    let body = html! {
        p { a href=(section.path) { "← " (section.title) } }
        h1 { (section.create) }
        (view::usage_line(ctx))
        @if !(section.may_create)(ctx) {
            p class="warning" { "Your role does not let you create keys here." }
        } @else if open.is_empty() {
            (fields::top_problem(problem))
            (no_room(&offers))
        } @else {
            form class="stack key-form" method="post" action=(section.path) novalidate {
                (csrf_field(signed))
                (fields::top_problem(problem))
                (fields::name(form, problem, "What it is for, so that whoever revokes it knows: e.g. ci-production, alice-macbook-worker."))
                (fields::kind(&offers, chosen, problem))
                @if has(KeyKind::Api) { (fields::customer(form, problem)) }
                @if has(KeyKind::Worker) { (fields::workspace(form, problem, ctx, KeyKind::Worker)) }
                @if has(KeyKind::LegacyWorkspace) { (fields::workspace(form, problem, ctx, KeyKind::LegacyWorkspace)) }
                @if has(KeyKind::Channel) { (fields::channel(form, problem, ctx)) }
                (fields::expiry(form, problem, now))
                (fields::permissions(form, problem, "Permissions", "What the key may do; never more than you may do yourself."))
                @if let Some(kind) = scoped {
                    @let when = (kinds.len() > 1).then(|| format!("kind={}", kind.as_str()));
                    (fields::scope(form, problem, ctx, when.as_deref()))
                }
                (fields::limits(form, problem, "Leave empty for the organization's defaults."))
                div class="actions" {
                    button type="submit" { "Create key" }
                    a class="button secondary" href=(section.path) { "Cancel" }
                }
            }
        }
    };
    page(signed, section.create, body)
}

pub async fn new_page(state: &AppState, signed: &Signed, section: &Section) -> PageResult {
    let ctx = Context::load(state, signed).await?;
    let form = KeyForm::default();
    Ok(form_page(signed, &ctx, section, &form, None, state.clock.now()).into_response())
}

pub async fn new_key(State(state): State<AppState>, signed: Signed) -> PageResult {
    new_page(&state, &signed, &API_KEYS).await
}

/// The form as sent: `POST /v1/keys` through its handler, then the page with the key.
pub async fn submit(
    state: &AppState,
    signed: &Signed,
    section: &Section,
    form: KeyForm,
) -> PageResult {
    let ctx = Context::load(state, signed).await?;
    let offers = (section.offers)(&ctx);
    let first = offers.first().map_or(KeyKind::Personal, |o| o.kind);
    // A kind this page does not make is not taken from a crafted form.
    let kind = form.kind_or(first);
    let kind = if offers.iter().any(|o| o.kind == kind) {
        kind
    } else {
        first
    };
    let again = |p: Problem| -> PageResult {
        let status = p.status;
        Ok((
            status,
            form_page(signed, &ctx, section, &form, Some(&p), state.clock.now()),
        )
            .into_response())
    };
    let request = match form.create_request(kind) {
        Ok(r) => r,
        Err(e) => return again(problem(e)?),
    };
    let created = match crate::http::keys::create_key(
        State(state.clone()),
        signed.principal.clone(),
        ApiJson(request),
    )
    .await
    {
        Ok((_, axum::Json(created))) => created,
        Err(e) => return again(problem(e)?),
    };
    // The page as it is now (the new key listed, the count up), with the key on top.
    let (ctx, keys) = tokio::try_join!(Context::load(state, signed), async {
        keys_of(state, signed, section, None)
            .await
            .map_err(Failure::from)
    })?;
    let dialog = view::reveal(
        "Your new key",
        &created.details.name,
        created.key.expose_secret(),
        section.path,
        None,
    );
    Ok((
        StatusCode::CREATED,
        list_page(signed, &ctx, section, &keys, dialog),
    )
        .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<KeyForm>,
) -> PageResult {
    submit(&state, &signed, &API_KEYS, form).await
}
