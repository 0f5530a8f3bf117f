//! The web console (issue 14): server-rendered pages under `/console`, in the same
//! binary as the API, with no external service and no CDN.
//!
//! - Pages are maud templates (escaped by construction) with a little plain JavaScript
//!   for copying and dialogs (`assets/`); every page also works without it.
//! - A signed-in person ([`Signed`]) acts through the API's own handlers with a
//!   [`crate::auth::Principal`] made from their session, so the console can do nothing
//!   that the person's role cannot do through the API: one set of rules (`authz`).
//! - [`guard::guard`] puts security headers on every answer and checks the CSRF token of
//!   every state-changing request before any handler runs.

mod account;
mod assets;
mod audit;
mod channels;
mod cli_login;
mod failure;
pub mod guard;
mod integrations;
mod join;
mod keys;
pub mod layout;
mod member;
mod members;
mod resources;
mod service_accounts;
mod settings;
mod shell;
mod signin;
mod tokens;
mod usage;
pub mod visitor;
mod webhooks;
mod workers;

pub use failure::{Failure, PageResult};
pub use visitor::Signed;

use crate::state::AppState;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;

/// The console's routes, `/` included (it leads to the console).
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/console/keys") }))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
        .route("/signin", get(signin::show).post(signin::submit))
        .route("/signout", post(signin::sign_out))
        .route(
            "/password",
            get(signin::show_password).post(signin::set_password),
        )
        .route("/sessions", get(account::sessions))
        .route("/sessions/revoke-others", post(account::revoke_others))
        .route("/sessions/{id}/revoke", post(account::revoke_one))
        .route("/organization", post(account::switch_org))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .merge(keys::routes())
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/new", get(tokens::new))
        .merge(service_accounts::routes())
        .route("/cli-login", get(cli_login::show).post(cli_login::decide))
        // People and the organization.
        .route("/members", get(members::list))
        .route("/members/invite", post(members::invite))
        .route(
            "/members/invitations/{id}/revoke",
            post(members::revoke_invitation),
        )
        .route("/members/{user_id}", get(member::show))
        .route("/members/{user_id}/role", post(member::change_role))
        .route("/members/{user_id}/remove", post(member::remove))
        .route(
            "/members/{user_id}/password-link",
            post(member::password_link),
        )
        .route("/join", get(join::show).post(join::accept))
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/{id}/enabled", post(channels::set_enabled))
        .route("/channels/{id}/delete", post(channels::delete))
        .route("/resources", get(resources::list))
        .route("/resources/{kind}", post(resources::create))
        .route("/resources/{kind}/{id}/rename", post(resources::rename))
        .route("/resources/{kind}/{id}/delete", post(resources::delete))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/settings/owner-limits", post(settings::set_owner_limit))
        .route(
            "/settings/owner-limits/{owner_type}/{owner_id}/delete",
            post(settings::delete_owner_limit),
        )
        .route("/integrations", get(integrations::list))
        .route(
            "/integrations/{provider}/connect",
            post(integrations::connect),
        )
        .route(
            "/integrations/connections/{id}/disconnect",
            post(integrations::disconnect),
        )
        .route(
            "/integrations/connections/{id}/delete",
            post(integrations::delete),
        )
        .route(
            "/settings/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/settings/webhooks/{id}", get(webhooks::deliveries))
        .route(
            "/settings/webhooks/{id}/enabled",
            post(webhooks::set_enabled),
        )
        .route("/settings/webhooks/{id}/delete", post(webhooks::delete))
        .route("/settings/webhooks/{id}/rotate", post(webhooks::rotate))
        .route(
            "/settings/webhooks/{id}/replay",
            post(webhooks::replay_failed),
        )
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/replay",
            post(webhooks::replay_one),
        )
        .route("/settings/workers", get(workers::list))
        .route("/settings/workers/{id}", get(workers::show))
        .route("/settings/workers/{id}/remove", post(workers::remove))
        .route("/audit", get(audit::list))
        .route("/usage", get(usage::pick))
        .route("/usage/{key_id}", get(usage::key))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state, guard::guard));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .nest("/console", pages)
}

async fn not_found() -> impl IntoResponse {
    Failure(crate::errors::ApiError::NotFound("page"))
}
