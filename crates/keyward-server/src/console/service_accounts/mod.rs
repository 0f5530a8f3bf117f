//! Service Accounts (`/console/service-accounts`): the organization's non-human
//! principals — list, create (with its first key, shown once), rename, delete (its keys
//! revoked at once) — and each account's keys, with the same table, dialog and key
//! actions as API Keys. Through the API's `service-accounts` handlers: anyone reads,
//! owners and org admins change.

mod account_keys;
mod pages;

use crate::state::AppState;
use axum::routing::get;
use axum::Router;

/// The routes of the service-account pages, under `/console`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/service-accounts", get(pages::list).post(pages::create))
        .route("/service-accounts/new", get(pages::new))
        .route(
            "/service-accounts/{id}",
            get(pages::show).post(pages::rename),
        )
        .route(
            "/service-accounts/{id}/delete",
            get(pages::delete_form).post(pages::delete),
        )
        .route(
            "/service-accounts/{id}/keys",
            axum::routing::post(account_keys::create),
        )
        .route("/service-accounts/{id}/keys/new", get(account_keys::new))
}
