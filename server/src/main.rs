//! The `captain` binary: prepares Docker, then serves the dashboard, server functions and
//! the status websocket until Ctrl-C or SIGTERM.

mod api;
mod builds_api;
mod config;
mod guard;
mod logs_ws;
mod router;
mod startup;
mod status_ws;
mod ws;

use anyhow::Context;
use clap::Parser;
use config::Config;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    if config.print_routes {
        router::print_routes();
        return ExitCode::SUCCESS;
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line without a backtrace.
            eprintln!("captain: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let mut prepared = startup::prepare(&config).await?;
    let dashboard_listener = prepared.dashboard_listener.take();
    let hub = prepared.hub.clone();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let app = router::build(prepared, address, config.secure_cookies);
    // Tests and scripts read this line to learn the port when --listen asks for port 0.
    println!("captain listening on http://{address}");
    tracing::info!(%address, "dashboard ready");
    if let Some(listener) = dashboard_listener {
        // Only Captain's proxy connects here; it says who the client is in
        // X-Forwarded-For, which requests on this listener are marked to trust.
        let proxied = app
            .clone()
            .layer(axum::Extension(app::server_context::ViaProxy));
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tracing::info!(address = %listener.local_addr()?, "dashboard reachable for the proxy");
        tokio::spawn(async move {
            let served = axum::serve(
                listener,
                proxied.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
            if let Err(error) = served {
                tracing::error!(%error, "the proxy's way to the dashboard stopped");
            }
        });
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    hub.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
