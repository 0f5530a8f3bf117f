//! Another key for a service account (`POST /v1/service-accounts/{id}/keys`): a name and
//! an expiry; it holds the account's scopes. Answered with the account's page and the
//! key in the one-time dialog.

use super::super::failure::PageResult;
use super::super::keys::context::Context;
use super::super::keys::fields;
use super::super::keys::form::{decode, problem, KeyForm, Problem};
use super::super::keys::view::{self, Back};
use super::super::layout::{csrf_field, page};
use super::super::visitor::Signed;
use super::pages::{account_for, detail_page, keys_of, may_manage, no_room};
use crate::extract::ApiJsonOrEmpty;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::Form;
use keyward_api::ServiceAccount;
use maud::{html, Markup};
use serde_json::{json, Map};

fn new_page(
    signed: &Signed,
    ctx: &Context,
    account: &ServiceAccount,
    form: &KeyForm,
    problem: Option<&Problem>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let base = format!("/console/service-accounts/{}", account.id);
    let body = html! {
        p { a href=(base) { "← " (account.name) } }
        h1 { "Create a key for " (account.name) }
        (view::usage_line(ctx))
        @if !may_manage(ctx) {
            p class="warning" { "Only owners and org admins create service-account keys." }
        } @else if let Some(why) = no_room(ctx) {
            p class="warning limit-reached" id="limit-reached" { (why) }
        } @else {
            p { "The key holds the account's scopes: " strong { (view::permissions_text(&account.scopes)) } "." }
            form class="stack key-form" method="post" action={ (base) "/keys" } novalidate {
                (csrf_field(signed))
                (fields::top_problem(problem))
                (fields::name(form, problem, "e.g. the machine or deployment that will use it."))
                (fields::expiry(form, problem, now))
                div class="actions" {
                    button type="submit" { "Create key" }
                    a class="button secondary" href=(base) { "Cancel" }
                }
            }
        }
    };
    page(signed, &format!("Create a key for {}", account.name), body)
}

pub async fn new(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let (ctx, account) = tokio::try_join!(
        Context::load(&state, &signed),
        account_for(&state, &signed, &id)
    )?;
    let form = KeyForm {
        name: account.name.clone(),
        ..KeyForm::default()
    };
    Ok(new_page(&signed, &ctx, &account, &form, None, state.clock.now()).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let mut body = Map::new();
    body.insert("name".into(), json!(form.name));
    let request = form.expires_json().and_then(|expires| {
        if let Some(e) = expires {
            body.insert("expires".into(), e);
        }
        decode(body)
    });
    let result = match request {
        Ok(r) => {
            crate::http::service_accounts::create_service_account_key(
                State(state.clone()),
                signed.principal.clone(),
                Path(id.clone()),
                ApiJsonOrEmpty(r),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (ctx, account) = tokio::try_join!(
        Context::load(&state, &signed),
        account_for(&state, &signed, &id)
    )?;
    let created = match result {
        Ok((_, Json(created))) => created,
        Err(e) => {
            let p = problem(e)?;
            return Ok((
                p.status,
                new_page(&signed, &ctx, &account, &form, Some(&p), state.clock.now()),
            )
                .into_response());
        }
    };
    let keys = keys_of(&state, &signed, &id).await?;
    let dialog = view::reveal(
        "The service account's new key",
        &created.details.name,
        created.key.expose_secret(),
        &Back::ServiceAccount(id.clone()).path(),
        None,
    );
    Ok((
        StatusCode::CREATED,
        detail_page(
            &signed,
            &ctx,
            &account,
            &keys,
            dialog,
            &KeyForm::default(),
            None,
        ),
    )
        .into_response())
}
