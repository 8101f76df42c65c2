//! The `captain-proxy` binary: serves traffic and the admin API until stopped.
//!
//! Configured by environment (it runs as a swarm service): `CAPTAIN_PROXY_LISTEN`
//! (default 0.0.0.0:80), `CAPTAIN_PROXY_ADMIN_LISTEN` (default 0.0.0.0:8081) and
//! `CAPTAIN_PROXY_TOKEN` (required: the admin API refuses to run without it).

use proxy::server::serve_admin;
use proxy::{serve, ProxyOptions, Routes};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_owned());
    let Ok(token) = std::env::var("CAPTAIN_PROXY_TOKEN") else {
        eprintln!("captain-proxy: set CAPTAIN_PROXY_TOKEN (the admin API needs a secret)");
        return ExitCode::FAILURE;
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
    tracing::info!(%listen, %admin_listen, "proxy ready");
    let result = tokio::select! {
        result = serve(traffic, routes.clone(), ProxyOptions::default()) => result,
        result = serve_admin(admin, routes, token) => result,
    };
    if let Err(error) = result {
        eprintln!("captain-proxy: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
