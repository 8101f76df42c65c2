//! The `captain-proxy` binary: serves traffic and the admin API until stopped.
//!
//! Configured by environment (it runs as a swarm service): `CAPTAIN_PROXY_LISTEN`
//! (default 0.0.0.0:80), `CAPTAIN_PROXY_TLS_LISTEN` (HTTPS, default 0.0.0.0:443),
//! `CAPTAIN_PROXY_ADMIN_LISTEN` (default 0.0.0.0:8081), `CAPTAIN_PROXY_WORKERS` (default:
//! one per CPU) and `CAPTAIN_PROXY_TOKEN_FILE` (required: a file holding the admin API's
//! secret, e.g. a swarm secret, so the token never shows in `docker service inspect`).
//!
//! Traffic is served nginx-style: one single-threaded runtime per CPU, each accepting on
//! its own SO_REUSEPORT socket with its own connection pool to the instances. A request
//! and the instance connection it uses then live on one thread, so no request pays for a
//! cross-thread wake-up (measured: the multi-threaded runtime spent most of its time
//! switching tasks between threads). The route table, edge rules and certificates are
//! shared by all workers.

use proxy::server::serve_admin;
use proxy::{Proxy, ProxyOptions, Routes};
use std::net::SocketAddr;
use std::process::ExitCode;

// Every request allocates a little (headers, buffers) and frees it on another stack
// frame; mimalloc's thread-local free lists measured faster here than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("captain-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// A listening socket that other workers may also bind (the kernel spreads connections).
fn shared_listener(address: &str) -> Result<std::net::TcpListener, String> {
    let fail = |error: std::io::Error| format!("cannot listen on {address}: {error}");
    let address: SocketAddr = address
        .parse()
        .map_err(|e| format!("{address} is not an address: {e}"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_reuse_port(true).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&address.into()).map_err(fail)?;
    socket.listen(4096).map_err(fail)?;
    Ok(socket.into())
}

fn run() -> Result<(), String> {
    let token_file = env(
        "CAPTAIN_PROXY_TOKEN_FILE",
        "/run/secrets/captain-proxy-token",
    );
    let token = match std::fs::read_to_string(&token_file) {
        Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
        _ => return Err(format!("cannot read the admin token from {token_file}")),
    };
    let listen = env("CAPTAIN_PROXY_LISTEN", "0.0.0.0:80");
    let tls_listen = env("CAPTAIN_PROXY_TLS_LISTEN", "0.0.0.0:443");
    let admin_listen = env("CAPTAIN_PROXY_ADMIN_LISTEN", "0.0.0.0:8081");
    let workers = std::env::var("CAPTAIN_PROXY_WORKERS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // Every socket is bound before anything is served, so a taken port fails the start.
    let mut sockets = Vec::new();
    for _ in 0..workers {
        sockets.push((shared_listener(&listen)?, shared_listener(&tls_listen)?));
    }
    let admin = std::net::TcpListener::bind(&admin_listen)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| format!("cannot listen on {admin_listen}: {e}"))?;

    let proxy = Proxy::new(Routes::default(), ProxyOptions::default());
    let services = proxy::resolve::SharedServices::default();
    for (index, (plain, secure)) in sockets.into_iter().enumerate() {
        let worker = proxy.sharing();
        std::thread::Builder::new()
            .name(format!("proxy-worker-{index}"))
            .spawn(move || serve_worker(worker, plain, secure))
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
    }
    tracing::info!(%listen, %tls_listen, %admin_listen, workers, "proxy ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        tokio::spawn(proxy::resolve::resolve_forever(
            services.clone(),
            proxy.routes.clone(),
        ));
        let admin = tokio::net::TcpListener::from_std(admin).map_err(|e| e.to_string())?;
        serve_admin(admin, proxy, services, token)
            .await
            .map_err(|e| e.to_string())
    })
}

/// One worker: a single-threaded runtime serving its own HTTP and HTTPS sockets. A worker
/// that fails takes the process down, so swarm restarts a whole, healthy proxy.
fn serve_worker(proxy: Proxy, plain: std::net::TcpListener, secure: std::net::TcpListener) {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            runtime.block_on(async move {
                let plain = tokio::net::TcpListener::from_std(plain)?;
                let secure = tokio::net::TcpListener::from_std(secure)?;
                tokio::select! {
                    result = proxy.serve_http(plain) => result,
                    result = proxy.serve_https(secure) => result,
                }
            })
        });
    if let Err(error) = result {
        eprintln!("captain-proxy: a worker stopped: {error}");
        std::process::exit(1);
    }
}
