//! Accepting connections: HTTP/1.1 and HTTP/2 (with upgrades) for traffic, and a small
//! admin listener through which Captain replaces the route table and reads counters.

use crate::edge::{Edge, EdgeRules};
use crate::forward::{page, Body, Forwarder};
use crate::resolve::{ServiceTable, SharedServices};
use crate::routes::{RouteTable, Routes};
use crate::tls::{CertificateEntry, Certificates};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// Largest request body accepted (and buffered for retries).
    pub max_body_bytes: usize,
    /// Longest wait for an instance's response headers.
    pub response_timeout: Duration,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            response_timeout: Duration::from_secs(60),
        }
    }
}

/// The traffic side: one forwarder shared by the plain-HTTP and the HTTPS listeners.
#[derive(Clone)]
pub struct Proxy {
    forwarder: Arc<Forwarder>,
    pub routes: Routes,
    pub edge: Edge,
    pub certificates: Certificates,
}

impl Proxy {
    pub fn new(routes: Routes, options: ProxyOptions) -> Self {
        let edge = Edge::default();
        let forwarder = Arc::new(Forwarder::new(
            routes.clone(),
            edge.clone(),
            options.max_body_bytes,
            options.response_timeout,
        ));
        Self {
            forwarder,
            routes,
            edge,
            certificates: Certificates::default(),
        }
    }

    /// Another front for the same routes, edge rules and certificates, with its own
    /// connection pool: one per worker thread.
    pub fn sharing(&self) -> Self {
        let forwarder = Arc::new(self.forwarder.with_same_routes());
        Self {
            forwarder,
            ..self.clone()
        }
    }

    /// Serves plain HTTP on `listener` until the task is dropped.
    pub async fn serve_http(&self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, client) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(
                self.forwarder.clone(),
                TokioIo::new(stream),
                client,
                false,
            ));
        }
    }

    /// Serves HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with the pushed certificates.
    pub async fn serve_https(&self, listener: TcpListener) -> std::io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.certificates.server_config());
        loop {
            let (stream, client) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let (acceptor, forwarder) = (acceptor.clone(), self.forwarder.clone());
            tokio::spawn(async move {
                // A failed handshake (no certificate for that name, a scanner) ends only
                // that connection.
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                if let Ok(Ok(tls)) = handshake.await {
                    serve_connection(forwarder, TokioIo::new(tls), client, true).await;
                }
            });
        }
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_connection<IO>(forwarder: Arc<Forwarder>, io: IO, client: SocketAddr, secure: bool)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let forwarder = forwarder.clone();
        async move { Ok::<_, Infallible>(forwarder.handle(request, client, secure).await) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, service)
        .await;
}

/// Serves plain HTTP on `listener` with no edge rules or certificates (tests, benches).
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    options: ProxyOptions,
) -> std::io::Result<()> {
    Proxy::new(routes, options).serve_http(listener).await
}

/// The admin API, requiring `Authorization: Bearer TOKEN`: `PUT /services` (a JSON
/// [`ServiceTable`]: which service serves which host), `PUT /routes` (a JSON
/// [`RouteTable`] of fixed addresses), `PUT /edge` (an [`EdgeUpdate`]: challenges,
/// forced-HTTPS hosts and certificates) and `GET /stats` (requests per instance).
pub async fn serve_admin(
    listener: TcpListener,
    proxy: Proxy,
    services: SharedServices,
    token: String,
) -> std::io::Result<()> {
    let token = Arc::new(token);
    loop {
        let (stream, _) = listener.accept().await?;
        let (proxy, services, token) = (proxy.clone(), services.clone(), token.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (proxy, services, token) = (proxy.clone(), services.clone(), token.clone());
                async move { Ok::<_, Infallible>(admin(request, &proxy, &services, &token).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Everything `PUT /edge` carries.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EdgeUpdate {
    #[serde(flatten)]
    pub rules: EdgeRules,
    #[serde(default)]
    pub certificates: Vec<CertificateEntry>,
}

async fn admin(
    request: Request<Incoming>,
    proxy: &Proxy,
    services: &SharedServices,
    token: &str,
) -> Response<Body> {
    let routes = &proxy.routes;
    let expected = format!("Bearer {token}");
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()));
    if !authorised {
        return page(StatusCode::UNAUTHORIZED, "A valid admin token is required.");
    }
    let route = (request.method().clone(), request.uri().path().to_owned());
    match (route.0, route.1.as_str()) {
        (Method::PUT, "/routes") => match read_json::<RouteTable>(request).await {
            Ok(table) => {
                routes.update(&table);
                json(StatusCode::OK, "{\"ok\":true}".into())
            }
            Err(response) => response,
        },
        (Method::PUT, "/services") => match read_json::<ServiceTable>(request).await {
            Ok(table) => {
                // Resolve now, so a new app answers without waiting for the next round.
                routes.update(&crate::resolve::resolve(&table).await);
                *services.write().unwrap_or_else(|p| p.into_inner()) = table;
                json(StatusCode::OK, "{\"ok\":true}".into())
            }
            Err(response) => response,
        },
        (Method::PUT, "/edge") => match read_json::<EdgeUpdate>(request).await {
            Ok(update) => match proxy.certificates.update(&update.certificates) {
                Ok(()) => {
                    proxy.edge.update(update.rules);
                    json(StatusCode::OK, "{\"ok\":true}".into())
                }
                Err(error) => page(StatusCode::BAD_REQUEST, &error.to_string()),
            },
            Err(response) => response,
        },
        (Method::GET, "/stats") => {
            let counts: std::collections::HashMap<String, u64> = routes
                .request_counts()
                .into_iter()
                .map(|(addr, n)| (addr.to_string(), n))
                .collect();
            json(
                StatusCode::OK,
                serde_json::to_string(&counts).unwrap_or_default(),
            )
        }
        _ => page(StatusCode::NOT_FOUND, "Unknown admin route."),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let body = Limited::new(request.into_body(), 8 * 1024 * 1024)
        .collect()
        .await
        .map_err(|_| page(StatusCode::PAYLOAD_TOO_LARGE, "The table is too large."))?;
    serde_json::from_slice(&body.to_bytes()).map_err(|error| {
        page(
            StatusCode::BAD_REQUEST,
            &format!("Not a valid table: {error}"),
        )
    })
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a static response builds")
}

/// Compares secrets without leaking, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
