//! The `captain-proxy` binary: serves traffic and the admin API until stopped.
//!
//! Configured by environment (it runs as a swarm service): `CAPTAIN_PROXY_LISTEN`
//! (default 0.0.0.0:80), `CAPTAIN_PROXY_TLS_LISTEN` (HTTPS, default 0.0.0.0:443),
//! `CAPTAIN_PROXY_ADMIN_LISTEN` (default 0.0.0.0:8081) and
//! `CAPTAIN_PROXY_TOKEN_FILE` (required: a file holding the admin API's secret, e.g. a
//! swarm secret, so the token never shows in `docker service inspect`).

use proxy::server::serve_admin;
use proxy::{Proxy, ProxyOptions, Routes};
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
    let tls_listen = env("CAPTAIN_PROXY_TLS_LISTEN", "0.0.0.0:443");
    let mut listeners = Vec::new();
    for address in [&listen, &tls_listen, &admin_listen] {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listeners.push(listener),
            Err(error) => {
                eprintln!("captain-proxy: cannot listen on {address}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let admin = listeners.pop().expect("three listeners");
    let secure = listeners.pop().expect("three listeners");
    let traffic = listeners.pop().expect("three listeners");
    let routes = Routes::default();
    let services = proxy::resolve::SharedServices::default();
    tokio::spawn(proxy::resolve::resolve_forever(
        services.clone(),
        routes.clone(),
    ));
    tracing::info!(%listen, %tls_listen, %admin_listen, "proxy ready");
    let proxy = Proxy::new(routes, ProxyOptions::default());
    let result = tokio::select! {
        result = proxy.serve_http(traffic) => result,
        result = proxy.serve_https(secure) => result,
        result = serve_admin(admin, proxy.clone(), services, token) => result,
    };
    if let Err(error) = result {
        eprintln!("captain-proxy: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
