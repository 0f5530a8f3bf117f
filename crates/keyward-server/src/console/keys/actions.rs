//! What a key's ⋮ menu leads to: edit, disable or enable, rotate (the new key shown once,
//! in the same dialog as a new key), and revoke (after a confirmation that says it is
//! immediate and irreversible). Each calls the API's handler for the key with the
//! person's principal, so a key beyond their reach is 403 and one of another
//! organization 404, as on the API; afterwards the person goes back to the list they
//! came from (`back`).

use super::super::failure::{Failure, PageResult};
use super::super::layout::{csrf_field, page};
use super::super::visitor::Signed;
use super::context::Context;
use super::fields;
use super::form::{decode, filled, problem, KeyForm, Problem};
use super::view::{self, Back};
use crate::extract::{ApiJson, ApiJsonOrEmpty};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use axum_extra::extract::Form;
use keyward_api::KeyView;
use keyward_core::Scope;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default)]
pub struct BackQuery {
    pub back: Option<String>,
}

/// The key as the API shows it to the person (403 beyond their reach, 404 elsewhere).
pub async fn key_for(state: &AppState, signed: &Signed, id: &str) -> Result<KeyView, Failure> {
    Ok(crate::http::keys::get_key(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.to_owned()),
    )
    .await?
    .0)
}

/// What a key is, in a few lines, for the pages that act on it.
pub fn summary(ctx: &Context, k: &KeyView) -> Markup {
    html! {
        dl class="summary" {
            dt { "Name" } dd { (k.name) }
            dt { "Key" } dd { (view::masked(&k.prefix)) }
            dt { "Kind" } dd { (view::kind_label(k.kind, k.environment)) }
            dt { "Belongs to" } dd { (view::owner_text(k)) }
            dt { "Scope" } dd { (view::reach_text(ctx, k)) }
            dt { "Status" } dd { (view::status(k)) }
            dt { "Last used" } dd { (super::super::layout::maybe_time(k.last_used_at, "never")) }
        }
    }
}

fn edit_page(
    signed: &Signed,
    ctx: &Context,
    k: &KeyView,
    back: &Back,
    form: &KeyForm,
    problem: Option<&Problem>,
) -> Markup {
    let workspaces_editable = matches!(k.scope, Scope::Workspaces { .. }) && k.workspace.is_none();
    let body = html! {
        p { a href=(back.path()) { "← " (back.label()) } }
        h1 { "Edit " (k.name) }
        form class="stack key-form" method="post" action={ "/console/keys/" (k.id) "/edit" } novalidate {
            (csrf_field(signed))
            (back.field())
            (fields::top_problem(problem))
            (fields::name(form, problem, "Renaming changes nothing else."))
            (fields::permissions(form, problem, "Permissions", "Never more than you may do yourself (for a service account's key: than its scopes)."))
            @if workspaces_editable {
                (fields::scope(form, problem, ctx, None))
            } @else {
                p { strong { "Scope: " } (view::reach_text(ctx, k)) span class="hint" { " — fixed when the key was created." } }
            }
            (fields::limits(form, problem, "Empty removes the limit."))
            div class="actions" {
                button type="submit" { "Save" }
                a class="button secondary" href=(back.path()) { "Cancel" }
            }
        }
    };
    page(signed, &format!("Edit {}", k.name), body)
}

pub async fn edit_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> PageResult {
    let (k, ctx) = tokio::try_join!(
        key_for(&state, &signed, &id),
        Context::load(&state, &signed)
    )?;
    let back = Back::parse(q.back.as_deref());
    Ok(edit_page(&signed, &ctx, &k, &back, &KeyForm::of_key(&k), None).into_response())
}

pub async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let back = Back::parse(form.back.as_deref());
    let current = key_for(&state, &signed, &id).await?;
    let result = match form.update_request(&current) {
        // Saved as it was: nothing to send.
        Ok(request) if request == keyward_api::UpdateKeyRequest::default() => {
            return Ok(Redirect::to(&back.done("edited")).into_response())
        }
        Ok(request) => {
            crate::http::keys::update_key(
                State(state.clone()),
                signed.principal.clone(),
                Path(id),
                ApiJson(request),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&back.done("edited")).into_response()),
        Err(e) => {
            let p = problem(e)?;
            let ctx = Context::load(&state, &signed).await?;
            Ok((
                p.status,
                edit_page(&signed, &ctx, &current, &back, &form, Some(&p)),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: String,
    back: Option<String>,
}

/// Switches a key off or on again (`PATCH /v1/keys/{id}` with `enabled`).
pub async fn set_enabled(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> PageResult {
    let back = Back::parse(form.back.as_deref());
    let enabled = form.enabled == "true";
    let mut body = serde_json::Map::new();
    body.insert("enabled".into(), json!(enabled));
    let _ = crate::http::keys::update_key(
        State(state.clone()),
        signed.principal.clone(),
        Path(id),
        ApiJson(decode(body)?),
    )
    .await?;
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&back.done(done)).into_response())
}

/// Grace periods offered for a rotation: (value, what it means).
const GRACE: &[(&str, &str)] = &[
    ("0", "Stop the old key now"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
];

fn rotate_page(
    signed: &Signed,
    ctx: &Context,
    k: &KeyView,
    back: &Back,
    form: &KeyForm,
    problem: Option<&Problem>,
) -> Markup {
    let (alert, described) = match problem {
        Some(p) => (
            html! { p class="alert field-error" role="alert" id="grace-error" { (p.message) } },
            Some("grace-error"),
        ),
        None => (html! {}, None),
    };
    let chosen = filled(&form.grace).unwrap_or("24h");
    let body = html! {
        p { a href=(back.path()) { "← " (back.label()) } }
        h1 { "Rotate " (k.name) }
        p { "Rotating makes a new key with the same name, scope, permissions and limits. You see the new key once; install it, then let the old one go." }
        (summary(ctx, k))
        form class="stack" method="post" action={ "/console/keys/" (k.id) "/rotate" } {
            (csrf_field(signed))
            (back.field())
            div class="field" {
                label for="grace" { "The old key keeps working for" }
                (alert)
                select id="grace" name="grace" aria-describedby=[described] {
                    @for (value, label) in GRACE {
                        option value=(value) selected[chosen == *value] { (label) }
                    }
                }
                span class="hint" { "Never past the old key's own expiry." }
            }
            div class="actions" {
                button type="submit" { "Rotate key" }
                a class="button secondary" href=(back.path()) { "Cancel" }
            }
        }
    };
    page(signed, &format!("Rotate {}", k.name), body)
}

pub async fn rotate_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> PageResult {
    let (k, ctx) = tokio::try_join!(
        key_for(&state, &signed, &id),
        Context::load(&state, &signed)
    )?;
    let back = Back::parse(q.back.as_deref());
    Ok(rotate_page(&signed, &ctx, &k, &back, &KeyForm::default(), None).into_response())
}

/// `POST /v1/keys/{id}/rotate`, answered with the new key in the dialog (201).
pub async fn rotate(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let back = Back::parse(form.back.as_deref());
    let mut body = serde_json::Map::new();
    body.insert("grace".into(), json!(filled(&form.grace).unwrap_or("0")));
    let rotated = match crate::http::keys::rotate_key(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.clone()),
        ApiJsonOrEmpty(decode(body)?),
    )
    .await
    {
        Ok((_, Json(rotated))) => rotated,
        Err(e) => {
            let p = problem(e)?;
            let (k, ctx) = tokio::try_join!(
                key_for(&state, &signed, &id),
                Context::load(&state, &signed)
            )?;
            return Ok((
                p.status,
                rotate_page(&signed, &ctx, &k, &back, &form, Some(&p)),
            )
                .into_response());
        }
    };
    let ctx = Context::load(&state, &signed).await?;
    let old = &rotated.previous;
    let note = match (old.status, old.expires_at) {
        (keyward_core::expiry::KeyStatus::Revoked, _) => {
            "The old key is revoked: it stopped working now.".to_owned()
        }
        (_, Some(until)) => format!(
            "The old key ({}…) keeps working until {}.",
            old.prefix,
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => "The old key keeps working for its grace period.".to_owned(),
    };
    let body = html! {
        (view::reveal("Your new key", &rotated.details.name, rotated.key.expose_secret(), &back.path(), Some(&note)))
        p { a href=(back.path()) { "← " (back.label()) } }
        h1 { "Rotated " (rotated.details.name) }
        p { (note) }
        h2 { "The new key" }
        (summary(&ctx, &rotated.details))
    };
    Ok((
        StatusCode::CREATED,
        page(&signed, &format!("Rotated {}", rotated.details.name), body),
    )
        .into_response())
}

pub async fn revoke_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> PageResult {
    let (k, ctx) = tokio::try_join!(
        key_for(&state, &signed, &id),
        Context::load(&state, &signed)
    )?;
    let back = Back::parse(q.back.as_deref());
    let body = html! {
        p { a href=(back.path()) { "← " (back.label()) } }
        h1 { "Revoke " (k.name) "?" }
        (summary(&ctx, &k))
        div class="warning" id="revoke-warning" {
            p { strong { "Revocation is immediate and irreversible." } }
            p { "Everything that uses this key stops working at once, on every server, and the key can never be used again. To keep things running, create or rotate to a replacement first; to stop it only for now, disable it instead." }
        }
        form method="post" action={ "/console/keys/" (k.id) "/revoke" } class="actions" {
            (csrf_field(&signed))
            (back.field())
            button type="submit" class="danger" aria-describedby="revoke-warning" { "Revoke key" }
            a class="button secondary" href=(back.path()) { "Cancel" }
        }
    };
    Ok(page(&signed, &format!("Revoke {}", k.name), body).into_response())
}

#[derive(Deserialize)]
pub struct RevokeForm {
    back: Option<String>,
}

pub async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> PageResult {
    let back = Back::parse(form.back.as_deref());
    let _ = crate::http::keys::revoke_key(State(state.clone()), signed.principal.clone(), Path(id))
        .await?;
    Ok(Redirect::to(&back.done("revoked")).into_response())
}
