//! Personal Access Tokens (`/console/tokens`): the person's own tokens and worker keys,
//! listed by `GET /v1/me/keys` and made by `POST /v1/keys`, with the API Keys page's
//! list and form (`keys::list`). Everyone may make their own; how many is the
//! organization's key limit (tokens) and the per-workspace worker limit.

use super::failure::PageResult;
use super::keys::context::Context;
use super::keys::fields::Offer;
use super::keys::form::KeyForm;
use super::keys::list::{self, ListParams, Section};
use super::keys::view::Back;
use super::visitor::Signed;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum_extra::extract::Form;
use keyward_core::KeyKind;

pub const TOKENS: Section = Section {
    back: Back::Tokens,
    path: "/console/tokens",
    title: "Personal Access Tokens",
    intro: "Your own tokens: personal access tokens act as you (never beyond your role), and \
        worker keys run a worker daemon for one workspace. Copy a token when it is created: \
        it is shown once.",
    create: "Create token",
    mine: true,
    may_create: |_| true,
    offers,
};

fn offers(ctx: &Context) -> Vec<Offer> {
    let max_workers = ctx.settings.max_worker_keys;
    vec![
        Offer {
            kind: KeyKind::Personal,
            label: "Personal access token",
            hint: "kw_pat_…: for the CLI, scripts and CI, acting as you.".into(),
            unavailable: (!ctx.org_has_room(KeyKind::Personal)).then(|| {
                format!(
                    "The organization's limit of {} keys is reached.",
                    ctx.settings.max_keys
                )
            }),
        },
        Offer {
            kind: KeyKind::Worker,
            label: "Worker key",
            hint: format!(
                "kw_wk_…: for `keyward worker` on one machine, bound to one workspace; \
                 {max_workers} active per person per workspace."
            ),
            unavailable: if ctx.is_agent_admin() {
                // `authz`: agent admins create agent-level keys only.
                Some("Agent admins create agent-level keys only.".into())
            } else if ctx.workspaces.is_empty() {
                Some("There are no workspaces yet.".into())
            } else if !ctx.workspaces.iter().any(|w| ctx.worker_room_in(&w.id)) {
                Some(format!(
                    "You have {max_workers} active worker keys in every workspace."
                ))
            } else {
                None
            },
        },
    ]
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<ListParams>,
) -> PageResult {
    list::show(&state, &signed, &TOKENS, q.cursor, q.done.as_deref()).await
}

pub async fn new(State(state): State<AppState>, signed: Signed) -> PageResult {
    list::new_page(&state, &signed, &TOKENS).await
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<KeyForm>,
) -> PageResult {
    list::submit(&state, &signed, &TOKENS, form).await
}
