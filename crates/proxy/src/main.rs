//! The `captain-proxy` binary: serves traffic and the admin API until stopped.
//!
//! Configured by environment (it runs as a swarm service): `CAPTAIN_PROXY_LISTEN`
//! (default 0.0.0.0:80), `CAPTAIN_PROXY_ADMIN_LISTEN` (default 0.0.0.0:8081) and
//! `CAPTAIN_PROXY_TOKEN_FILE` (required: a file holding the admin API's secret, e.g. a
//! swarm secret, so the token never shows in `docker service inspect`).

use proxy::server::serve_admin;
use proxy::{serve, ProxyOptions, Routes};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_owned());
    let token_file = env(
        "CAPTAIN_PROXY_TOKEN_FILE",
        "/run/secrets/captain-proxy-token",
    );
    let token = match std::fs::read_to_string(&token_file) {
        Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
        _ => {
            eprintln!("captain-proxy: cannot read the admin token from {token_file}");
            return ExitCode::FAILURE;
        }
    };
    let (listen, admin_listen) = (
        env("CAPTAIN_PROXY_LISTEN", "0.0.0.0:80"),
        env("CAPTAIN_PROXY_ADMIN_LISTEN", "0.0.0.0:8081"),
    );
    let (traffic, admin) = match (
        tokio::net::TcpListener::bind(&listen).await,
        tokio::net::TcpListener::bind(&admin_listen).await,
    ) {
        (Ok(traffic), Ok(admin)) => (traffic, admin),
        (Err(error), _) => {
            eprintln!("captain-proxy: cannot listen on {listen}: {error}");
            return ExitCode::FAILURE;
        }
        (_, Err(error)) => {
            eprintln!("captain-proxy: cannot listen on {admin_listen}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let routes = Routes::default();
    let services = proxy::resolve::SharedServices::default();
    tokio::spawn(proxy::resolve::resolve_forever(
        services.clone(),
        routes.clone(),
    ));
    tracing::info!(%listen, %admin_listen, "proxy ready");
    let result = tokio::select! {
        result = serve(traffic, routes.clone(), ProxyOptions::default()) => result,
        result = serve_admin(admin, routes, services, token) => result,
    };
    if let Err(error) = result {
        eprintln!("captain-proxy: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
