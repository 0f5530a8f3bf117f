//! The key pages: API Keys (`list`: the list and its create form, which Personal Access
//! Tokens shares), what a key's ⋮ menu leads to (`actions`: edit, disable/enable,
//! rotate, revoke; `llm`: Copy for LLM), and what every page of keys is made of
//! (`context`: the organization around them; `view`: the table, the one-time dialog;
//! `form` and `fields`: the form as sent and as shown).
//!
//! Every page reads and writes through the API's own handlers with the session's
//! principal: what the person may see and do is what their role reaches (`authz`).

pub mod actions;
pub mod context;
pub mod fields;
pub mod form;
pub mod list;
pub mod llm;
pub mod view;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// The routes of the key pages, under `/console`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list::list).post(list::create))
        .route("/keys/new", get(list::new_key))
        .route(
            "/keys/{id}/edit",
            get(actions::edit_form).post(actions::edit),
        )
        .route("/keys/{id}/enabled", post(actions::set_enabled))
        .route(
            "/keys/{id}/rotate",
            get(actions::rotate_form).post(actions::rotate),
        )
        .route(
            "/keys/{id}/revoke",
            get(actions::revoke_form).post(actions::revoke),
        )
        .route("/keys/{id}/llm", get(llm::show))
}
