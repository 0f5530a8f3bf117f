//! The HTTP API: one module per feature, each with its handlers; [`router`] merges them
//! once with the trace layer and the error-shaping middleware.

pub mod audit;
pub mod channels;
pub mod cli_login;
pub mod integrations;
pub mod invitations;
pub mod key_policy;
pub mod keys;
pub mod me;
pub mod members;
pub mod meta;
pub mod orgs;
pub mod resources;
pub mod service_accounts;
mod shared;
pub mod usage;
pub mod verify;
pub mod webhooks;
mod wire;
pub mod worker_connect;
pub mod workers;

pub use shared::{actor_event, public_base, PageRequestExt, DEFAULT_PAGE, MAX_PAGE};
pub use wire::IntoApi;

use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward", description = "Self-hosted API keys: issue, verify, rotate and revoke."),
    modifiers(&BearerAuth),
    tags((name = "keys", description = "API keys and personal access tokens"),
         (name = "verify", description = "The hot path: is this key allowed to do X?"),
         (name = "account", description = "Who the caller is"),
         (name = "audit", description = "Who changed what"),
         (name = "organizations", description = "Organizations and their limits"),
         (name = "workspaces", description = "Workspaces keys can be scoped to"),
         (name = "agents", description = "Agents (bots) that own channels"),
         (name = "channels", description = "Agent channels with public hook ids, and dual authentication"),
         (name = "members", description = "People, their roles, and invitations to join"),
         (name = "service-accounts", description = "Non-human principals with explicit scopes"),
         (name = "integrations", description = "OAuth connections whose tokens Keyward keeps encrypted and refreshes"),
         (name = "webhooks", description = "Webhook endpoints that verify providers' webhooks and deliver them re-signed with Standard Webhooks"),
         (name = "workers", description = "Machines running `keyward worker`: registration, the Workers list, events forwarded to them"),
         (name = "meta", description = "Health and documentation"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("Keyward key")
                    .build(),
            ),
        );
    }
}

/// `request_body = Option<T>` documents a body that may be left out (`required` is
/// absent), but utoipa also writes its schema as "`null` or T", and a `null` body is
/// refused like any other non-object. This keeps the "may be left out" and drops the
/// `null`. It runs on the finished document: the paths are added after `ApiDoc`'s own
/// modifiers ran.
fn optional_bodies(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    let null = serde_json::json!({"type": "null"});
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.post, &mut item.put, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let Some(body) = operation.request_body.as_mut() else {
                continue;
            };
            for content in body.content.values_mut() {
                let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                    continue;
                };
                let (nulls, rest): (Vec<_>, Vec<_>) = one_of
                    .items
                    .iter()
                    .partition(|s| serde_json::to_value(s).ok().as_ref() == Some(&null));
                if let ([_], [only]) = (nulls.as_slice(), rest.as_slice()) {
                    content.schema = Some((*only).clone());
                }
            }
        }
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::get_key, keys::update_key, keys::revoke_key))
        .routes(routes!(keys::rotate_key))
        .routes(routes!(keys::list_my_keys))
        .routes(routes!(audit::key_audit))
        .routes(routes!(verify::verify_key))
        .routes(routes!(me::me))
        .routes(routes!(cli_login::exchange_cli_code))
        .routes(routes!(integrations::list_integrations))
        .routes(routes!(integrations::authorize_integration))
        .routes(routes!(integrations::exchange_code))
        .routes(routes!(integrations::oauth_callback))
        .routes(routes!(integrations::list_connections))
        .routes(routes!(
            integrations::get_connection,
            integrations::delete_connection
        ))
        .routes(routes!(
            integrations::get_tokens,
            integrations::revoke_tokens
        ))
        .routes(routes!(integrations::refresh_connection))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(
            webhooks::get_endpoint,
            webhooks::update_endpoint,
            webhooks::delete_endpoint
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::replay_delivery))
        .routes(routes!(webhooks::replay_failed))
        .routes(routes!(worker_connect::register))
        .routes(routes!(workers::list_workers))
        .routes(routes!(workers::get_worker, workers::remove_worker))
        .routes(routes!(audit::list_audit))
        .routes(routes!(usage::key_usage))
        .routes(routes!(usage::list_owner_limits))
        .routes(routes!(usage::set_owner_limit, usage::delete_owner_limit))
        .routes(routes!(orgs::my_organizations))
        .routes(routes!(orgs::create_org))
        .routes(routes!(orgs::get_org, orgs::update_org, orgs::delete_org))
        .routes(routes!(
            resources::create_workspace,
            resources::list_workspaces
        ))
        .routes(routes!(
            resources::get_workspace,
            resources::rename_workspace,
            resources::delete_workspace
        ))
        .routes(routes!(resources::create_agent, resources::list_agents))
        .routes(routes!(
            resources::get_agent,
            resources::rename_agent,
            resources::delete_agent
        ))
        .routes(routes!(channels::create_channel, channels::list_channels))
        .routes(routes!(
            channels::get_channel,
            channels::update_channel,
            channels::delete_channel
        ))
        .routes(routes!(
            channels::channel_context_get,
            channels::channel_context_post
        ))
        .routes(routes!(members::list_members))
        .routes(routes!(
            invitations::create_invitation,
            invitations::list_invitations
        ))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(
            members::get_member,
            members::update_member,
            members::remove_member
        ))
        .routes(routes!(members::create_password_link))
        .routes(routes!(
            service_accounts::create_service_account,
            service_accounts::list_service_accounts
        ))
        .routes(routes!(
            service_accounts::get_service_account,
            service_accounts::update_service_account,
            service_accounts::delete_service_account
        ))
        .routes(routes!(
            service_accounts::create_service_account_key,
            service_accounts::list_service_account_keys
        ))
        .routes(routes!(meta::healthz))
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    optional_bodies(&mut doc);
    doc
}

pub fn router(state: AppState) -> Router {
    router_with(state, false)
}

/// The router, with `POST /__bench/floor` when `bench_floor` is set. The floor route sits
/// behind the same layers as every other route, so the benchmark compares like with like.
pub fn router_with(state: AppState, bench_floor: bool) -> Router {
    let (mut router, mut doc) = api().split_for_parts();
    optional_bodies(&mut doc);
    let doc = std::sync::Arc::new(doc);
    if bench_floor {
        router = router.route("/__bench/floor", axum::routing::post(meta::bench_floor));
    }
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || meta::openapi_json(doc.clone())),
        )
        .route("/problems/{code}", axum::routing::get(meta::problem_type))
        .route("/livez", axum::routing::get(meta::livez))
        // Providers' webhooks: authenticated by their signatures, with their own body
        // limit (the raw body is read by the handler, not by an extractor).
        .route(
            "/hooks/{id}",
            axum::routing::get(crate::webhooks::ingress::handshake)
                .post(crate::webhooks::ingress::receive),
        )
        // A worker's WebSocket (`workers::connection`), authenticated by its key.
        .route(
            "/v1/workers/{id}/connect",
            axum::routing::get(worker_connect::connect),
        )
        .merge(crate::console::router(state.clone()))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(
            crate::errors::add_problem_instance,
        ))
        .layer(axum::middleware::from_fn(crate::auth::response_hints))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::extract::Request| {
                    // The path only: a query string could hold a key someone misplaced.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(),
                    key_id = tracing::field::Empty, org_id = tracing::field::Empty)
                },
            ),
        )
        .with_state(state)
}
