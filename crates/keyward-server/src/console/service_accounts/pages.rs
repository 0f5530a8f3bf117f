//! The service accounts themselves: the list, the create form (name, scopes, the first
//! key's expiry), an account's page (its scopes, rename, its keys) and its deletion.

use super::super::failure::{Failure, PageResult};
use super::super::keys::context::Context;
use super::super::keys::fields;
use super::super::keys::form::{decode, problem, KeyForm, Part, Problem};
use super::super::keys::view::{self, Back};
use super::super::layout::{csrf_field, date, page, time};
use super::super::visitor::Signed;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use axum_extra::extract::Form;
use keyward_api::{KeyView, ListQuery, ListResponse, ServiceAccount};
use keyward_core::KeyKind;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map};

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Service accounts are the organization's; owners and org admins manage them.
pub fn may_manage(ctx: &Context) -> bool {
    ctx.is_admin()
}

/// Why no key (a new account comes with one) can be made now, if so.
pub fn no_room(ctx: &Context) -> Option<String> {
    (!ctx.org_has_room(KeyKind::ServiceAccount)).then(|| {
        format!(
            "The organization's limit of {} keys is reached (a service account comes with a key): revoke a key to free a slot, or ask an owner to raise the limit in Settings.",
            ctx.settings.max_keys
        )
    })
}

pub async fn account_for(
    state: &AppState,
    signed: &Signed,
    id: &str,
) -> Result<ServiceAccount, Failure> {
    Ok(crate::http::service_accounts::get_service_account(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.to_owned()),
    )
    .await?
    .0)
}

pub async fn keys_of(
    state: &AppState,
    signed: &Signed,
    id: &str,
) -> Result<ListResponse<KeyView>, Failure> {
    Ok(crate::http::service_accounts::list_service_account_keys(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.to_owned()),
        ApiQuery(ListQuery {
            limit: Some(100),
            cursor: None,
        }),
    )
    .await?
    .0)
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let (ctx, accounts) = tokio::try_join!(Context::load(&state, &signed), async {
        crate::http::service_accounts::list_service_accounts(
            State(state.clone()),
            signed.principal.clone(),
        )
        .await
        .map_err(Failure::from)
    })?;
    let accounts = accounts.0;
    let manage = may_manage(&ctx);
    let full = no_room(&ctx);
    let body = html! {
        (view::done_notice(q.done.as_deref()))
        div class="toolbar" {
            h1 { "Service Accounts" }
            @if manage && full.is_none() {
                a class="button" href="/console/service-accounts/new" { "Create service account" }
            }
        }
        p class="intro" { "Non-human principals for production: their keys act for the account, hold at most its scopes, and do not expire unless asked to." }
        (view::usage_line(&ctx))
        @if let (true, Some(why)) = (manage, &full) {
            p class="warning limit-reached" id="limit-reached" { strong { "No service account can be created now. " } (why) }
        }
        div class="table-wrap" {
            table class="keys" {
                caption class="visually-hidden" { "Service accounts" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Scopes" } th scope="col" { "Created" }
                    th scope="col" { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for a in &accounts {
                        tr {
                            td class="name" { a href={ "/console/service-accounts/" (a.id) } { (a.name) } span class="muted small" { code { (a.id) } } }
                            td { (view::permissions_text(&a.scopes)) }
                            td class="when" { (date(a.created_at)) span class="muted small" { "by " (a.created_by) } }
                            td {
                                details class="menu" {
                                    summary aria-label={ "Actions for " (a.name) } { "⋮" }
                                    ul {
                                        li { a href={ "/console/service-accounts/" (a.id) } { "Keys" } }
                                        @if manage {
                                            li { a href={ "/console/service-accounts/" (a.id) "#rename" } { "Rename" } }
                                            li { a class="danger" href={ "/console/service-accounts/" (a.id) "/delete" } { "Delete" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if accounts.is_empty() { p class="muted" { "No service accounts yet." } }
    };
    Ok(page(&signed, "Service Accounts", body).into_response())
}

fn new_page(
    signed: &Signed,
    ctx: &Context,
    form: &KeyForm,
    problem: Option<&Problem>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let body = html! {
        p { a href="/console/service-accounts" { "← Service Accounts" } }
        h1 { "Create service account" }
        (view::usage_line(ctx))
        @if !may_manage(ctx) {
            p class="warning" { "Only owners and org admins create service accounts." }
        } @else if let Some(why) = no_room(ctx) {
            p class="warning limit-reached" id="limit-reached" { (why) }
        } @else {
            form class="stack key-form" method="post" action="/console/service-accounts" novalidate {
                (csrf_field(signed))
                (fields::top_problem(problem))
                (fields::name(form, problem, "e.g. production-bot: what runs with it."))
                (fields::permissions(form, problem, "Scopes", "What the account's keys may do, e.g. integrations read and write, skills:execute."))
                (fields::expiry(form, problem, now))
                div class="actions" {
                    button type="submit" { "Create service account" }
                    a class="button secondary" href="/console/service-accounts" { "Cancel" }
                }
            }
        }
    };
    page(signed, "Create service account", body)
}

pub async fn new(State(state): State<AppState>, signed: Signed) -> PageResult {
    let ctx = Context::load(&state, &signed).await?;
    let form = KeyForm {
        permissions: Some("restricted".into()),
        ..KeyForm::default()
    };
    Ok(new_page(&signed, &ctx, &form, None, state.clock.now()).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let mut body = Map::new();
    body.insert("name".into(), json!(form.name));
    body.insert("scopes".into(), form.scopes_json());
    let request = form.expires_json().and_then(|expires| {
        if let Some(e) = expires {
            body.insert("expires".into(), e);
        }
        decode(body)
    });
    let result = match request {
        Ok(r) => {
            crate::http::service_accounts::create_service_account(
                State(state.clone()),
                signed.principal.clone(),
                ApiJson(r),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let created = match result {
        Ok((_, Json(created))) => created,
        Err(e) => {
            let p = problem(e)?;
            let ctx = Context::load(&state, &signed).await?;
            return Ok((
                p.status,
                new_page(&signed, &ctx, &form, Some(&p), state.clock.now()),
            )
                .into_response());
        }
    };
    let dialog = view::reveal(
        "The service account's key",
        &created.key.details.name,
        created.key.key.expose_secret(),
        &Back::ServiceAccount(created.account.id.clone()).path(),
        Some("Store it where the service runs (a secret manager or environment variable)."),
    );
    let (ctx, keys) = tokio::try_join!(
        Context::load(&state, &signed),
        keys_of(&state, &signed, &created.account.id)
    )?;
    Ok((
        StatusCode::CREATED,
        detail_page(
            &signed,
            &ctx,
            &created.account,
            &keys,
            dialog,
            &KeyForm::default(),
            None,
        ),
    )
        .into_response())
}

/// An account's page: its scopes, rename (for those who manage it), its keys.
pub fn detail_page(
    signed: &Signed,
    ctx: &Context,
    account: &ServiceAccount,
    keys: &ListResponse<KeyView>,
    top: Markup,
    rename: &KeyForm,
    problem: Option<&Problem>,
) -> Markup {
    let manage = may_manage(ctx);
    let back = Back::ServiceAccount(account.id.clone());
    let base = format!("/console/service-accounts/{}", account.id);
    let name_form = KeyForm {
        name: if rename.name.is_empty() {
            account.name.clone()
        } else {
            rename.name.clone()
        },
        ..KeyForm::default()
    };
    let body = html! {
        (top)
        p { a href="/console/service-accounts" { "← Service Accounts" } }
        h1 { (account.name) }
        dl class="summary" {
            dt { "Id" } dd { code { (account.id) } }
            dt { "Scopes" } dd { (view::permissions_text(&account.scopes)) }
            dt { "Created" } dd { (time(account.created_at)) " by " (account.created_by) }
        }
        @if manage {
            section aria-labelledby="rename" {
                h2 id="rename" { "Rename" }
                form class="stack" method="post" action=(base) novalidate {
                    (csrf_field(signed))
                    (fields::top_problem(problem))
                    (fields::name(&name_form, problem.filter(|p| p.part == Part::Name), "Its keys' owner name changes with it."))
                    div class="actions" { button type="submit" { "Rename" } }
                }
            }
        }
        div class="toolbar" {
            h2 { "Keys" }
            @if manage && no_room(ctx).is_none() {
                a class="button" href={ (base) "/keys/new" } { "Create key" }
            }
        }
        (view::usage_line(ctx))
        @if let (true, Some(why)) = (manage, no_room(ctx)) {
            p class="warning limit-reached" id="limit-reached" { (why) }
        }
        (view::table(signed, ctx, &keys.data, &back))
        @if manage {
            p { a class="button danger-link" href={ (base) "/delete" } { "Delete service account" } }
        }
    };
    page(signed, &account.name, body)
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let (ctx, account, keys) = tokio::try_join!(
        Context::load(&state, &signed),
        account_for(&state, &signed, &id),
        keys_of(&state, &signed, &id)
    )?;
    let top = view::done_notice(q.done.as_deref());
    Ok(detail_page(
        &signed,
        &ctx,
        &account,
        &keys,
        top,
        &KeyForm::default(),
        None,
    )
    .into_response())
}

pub async fn rename(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let mut body = Map::new();
    body.insert("name".into(), json!(form.name));
    let result = match decode(body) {
        Ok(r) => {
            crate::http::service_accounts::update_service_account(
                State(state.clone()),
                signed.principal.clone(),
                Path(id.clone()),
                ApiJson(r),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(
            Redirect::to(&format!("/console/service-accounts/{id}?done=renamed")).into_response(),
        ),
        Err(e) => {
            let p = problem(e)?;
            let (ctx, account, keys) = tokio::try_join!(
                Context::load(&state, &signed),
                account_for(&state, &signed, &id),
                keys_of(&state, &signed, &id)
            )?;
            Ok((
                p.status,
                detail_page(&signed, &ctx, &account, &keys, html! {}, &form, Some(&p)),
            )
                .into_response())
        }
    }
}

pub async fn delete_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let (account, keys) = tokio::try_join!(
        account_for(&state, &signed, &id),
        keys_of(&state, &signed, &id)
    )?;
    let live = keys.data.iter().filter(|k| k.revoked_at.is_none()).count();
    let body = html! {
        p { a href={ "/console/service-accounts/" (account.id) } { "← " (account.name) } }
        h1 { "Delete " (account.name) "?" }
        div class="warning" id="delete-warning" {
            p { strong { "Deleting a service account is immediate and irreversible." } }
            p { "Its keys (" (live) " not revoked yet) are revoked at once, on every server: whatever runs with them stops working now." }
        }
        form method="post" action={ "/console/service-accounts/" (account.id) "/delete" } class="actions" {
            (csrf_field(&signed))
            button type="submit" class="danger" aria-describedby="delete-warning" { "Delete service account" }
            a class="button secondary" href={ "/console/service-accounts/" (account.id) } { "Cancel" }
        }
    };
    Ok(page(&signed, &format!("Delete {}", account.name), body).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    crate::http::service_accounts::delete_service_account(
        State(state.clone()),
        signed.principal.clone(),
        Path(id),
    )
    .await?;
    Ok(Redirect::to("/console/service-accounts?done=deleted").into_response())
}
