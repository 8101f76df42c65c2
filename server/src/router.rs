//! The HTTP surface: Leptos pages and server functions with the engine in context,
//! Captain's own API routes, and the compiled assets — all behind the guard.

use crate::guard::{self, Guard};
use crate::startup::Prepared;
use app::pages::auth::{GetAuthState, SetUpPassword, SignIn};
use app::server_context::ServerContext;
use app::{shell, App};
use axum::extract::FromRef;
use axum::http::Method;
use axum::routing::{get, MethodRouter};
use axum::Router;
use engine::StatusHub;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;

/// Largest request body accepted on any route.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

#[derive(Clone, FromRef)]
pub struct AppState {
    leptos_options: LeptosOptions,
    pub hub: StatusHub,
    pub docker: bollard::Docker,
    pub apps: engine::apps::AppStore,
    pub builds: engine::build::Builds,
    /// Largest source upload, in bytes.
    pub max_upload_bytes: u64,
}

/// Captain's own routes. The router is built from this list and `--print-routes` prints
/// it, so the guard test walks exactly what is served.
fn api_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (
            Method::GET,
            "/api/status/ws",
            get(crate::status_ws::upgrade),
        ),
        (Method::GET, "/api/v1/cluster", get(crate::api::cluster)),
        (
            Method::GET,
            "/api/apps/{name}/logs",
            get(crate::logs_ws::upgrade),
        ),
        (
            Method::GET,
            "/api/apps/{name}/builds/ws",
            get(crate::builds_api::follow),
        ),
    ]
}

/// Routes whose bodies may be larger than [`MAX_REQUEST_BYTES`]; each enforces its own
/// limit while the body streams in.
fn upload_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![(
        Method::POST,
        crate::builds_api::UPLOAD_PATH,
        axum::routing::post(crate::builds_api::upload),
    )]
}

/// Reachable without signing in: the sign-in and first-run pages and what they call.
fn public_paths() -> Vec<String> {
    vec![
        "/login".into(),
        "/setup".into(),
        "/favicon.ico".into(),
        SignIn::PATH.into(),
        SetUpPassword::PATH.into(),
        GetAuthState::PATH.into(),
    ]
}

pub fn build(prepared: Prepared, address: SocketAddr, secure_cookies: bool) -> Router {
    let leptos_options = leptos_options(address);
    let guard = Guard::new(prepared.auth.clone(), public_paths());
    let apps = prepared.apps.clone();
    let docker = prepared.docker.clone();
    let context = ServerContext {
        docker: prepared.docker.clone(),
        hub: prepared.hub.clone(),
        auth: prepared.auth,
        apps: prepared.apps,
        reconciler: prepared.reconciler,
        ingress: prepared.ingress,
        edge: prepared.edge,
        registry: prepared.registry,
        info: prepared.info,
        builds: prepared.builds.clone(),
        node_access: prepared.node_access,
        secure_cookies,
        joins: Default::default(),
    };
    let state = AppState {
        leptos_options: leptos_options.clone(),
        hub: prepared.hub,
        docker,
        apps,
        builds: prepared.builds,
        max_upload_bytes: prepared.max_upload_bytes,
    };
    let mut router = Router::new();
    for (_, path, handler) in api_routes() {
        router = router.route(path, handler);
    }
    let mut router = router
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(context.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Forms and server-function calls are small; uploads get their own, larger limit.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_REQUEST_BYTES,
        ));
    for (_, path, handler) in upload_routes() {
        router = router.route(path, handler); // added after the small limit: not under it
    }
    router
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        .with_state(state)
}

/// Every route as `{"method", "path", "public"}` JSON lines, from the same sources the
/// router is built from.
pub fn print_routes() {
    let guard_paths: std::collections::HashSet<String> = public_paths().into_iter().collect();
    let mut routes: Vec<(String, String)> = api_routes()
        .into_iter()
        .chain(upload_routes())
        .map(|(method, path, _)| (method.to_string(), path.to_owned()))
        .collect();
    for listing in generate_route_list(App) {
        routes.push(("GET".into(), listing.path().to_owned()));
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method.to_string(), path.to_owned()));
    }
    routes.sort();
    routes.dedup();
    for (method, path) in routes {
        let public = guard_paths.contains(&path);
        println!(
            "{}",
            serde_json::json!({ "method": method, "path": path, "public": public })
        );
    }
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
