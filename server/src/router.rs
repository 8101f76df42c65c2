//! The HTTP surface: Leptos pages and server functions with the engine in context, the
//! status websocket, and the compiled assets.

use crate::startup::Prepared;
use app::server_context::ServerContext;
use app::{shell, App};
use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use engine::StatusHub;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;

#[derive(Clone, FromRef)]
pub struct AppState {
    leptos_options: LeptosOptions,
    hub: StatusHub,
}

pub fn build(prepared: Prepared, address: SocketAddr) -> Router {
    let leptos_options = leptos_options(address);
    let context = ServerContext {
        hub: prepared.hub.clone(),
        store: prepared.store,
        info: prepared.info,
    };
    let state = AppState {
        leptos_options: leptos_options.clone(),
        hub: prepared.hub,
    };
    let routes = generate_route_list(App);
    Router::new()
        .route("/api/status/ws", get(crate::status_ws::upgrade))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}

/// cargo-leptos passes the site layout in `LEPTOS_*` variables; a binary started any
/// other way (tests, a packaged install) gets the same layout by default.
fn leptos_options(address: SocketAddr) -> LeptosOptions {
    let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_owned());
    LeptosOptions::builder()
        .output_name(env(
            "LEPTOS_OUTPUT_NAME",
            option_env!("LEPTOS_OUTPUT_NAME").unwrap_or("captain"),
        ))
        .site_root(env("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .site_addr(address)
        .build()
}
