//! API Keys: the organization's keys (and, for members, their own), listed through the
//! same handler as `GET /v1/keys`, so the person sees exactly what their role reaches.

use super::failure::PageResult;
use super::layout::{maybe_time, page, time};
use super::visitor::Signed;
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use keyward_api::{KeyView, ListQuery};
use keyward_core::expiry::KeyStatus;
use maud::{html, Markup};

pub fn status(k: &KeyView) -> Markup {
    let (class, label) = match k.status {
        KeyStatus::Active => ("active", "active"),
        KeyStatus::Disabled => ("disabled", "disabled"),
        KeyStatus::Revoked => ("revoked", "revoked"),
        KeyStatus::Expired => ("expired", "expired"),
    };
    html! { span class={ "status " (class) } { (label) } }
}

pub async fn list(State(state): State<AppState>, signed: Signed) -> PageResult {
    let keys = crate::http::keys::list_keys(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(ListQuery {
            limit: Some(100),
            cursor: None,
        }),
    )
    .await?
    .0;
    let body = html! {
        h1 { "API Keys" }
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Created" }
                    th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" }
                } }
                tbody {
                    @for k in &keys.data {
                        tr {
                            td { (k.name) }
                            td { code { (k.prefix) "…" } }
                            td { (time(k.created_at)) }
                            td { (maybe_time(k.last_used_at, "never")) }
                            td { (maybe_time(k.expires_at, "never")) }
                            td { (status(k)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&signed, "API Keys", body).into_response())
}
