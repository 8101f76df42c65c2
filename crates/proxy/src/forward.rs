//! Forwarding one request: pick an instance, send, and if the instance refused the
//! connection, try the next one. Responses stream back as they arrive; websocket upgrades
//! become a byte pipe between the browser and the instance.

use crate::edge::Edge;
use crate::pool::{Pool, SendError};
use crate::routes::{Backend, Routes};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Instances tried per request before giving up.
const MAX_ATTEMPTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub struct Forwarder {
    routes: Routes,
    edge: Edge,
    pool: Arc<Pool>,
    max_body_bytes: usize,
    response_timeout: Duration,
}

impl Forwarder {
    pub fn new(
        routes: Routes,
        edge: Edge,
        max_body_bytes: usize,
        response_timeout: Duration,
    ) -> Self {
        Self {
            routes,
            edge,
            pool: Pool::new(CONNECT_TIMEOUT),
            max_body_bytes,
            response_timeout,
        }
    }

    /// A forwarder with its own connection pool over the same routes and edge rules.
    pub fn with_same_routes(&self) -> Self {
        Self::new(
            self.routes.clone(),
            self.edge.clone(),
            self.max_body_bytes,
            self.response_timeout,
        )
    }

    pub async fn handle(
        &self,
        mut request: Request<Incoming>,
        client: SocketAddr,
        secure: bool,
    ) -> Response<Body> {
        let Some(host) = host_of(&request) else {
            return page(StatusCode::BAD_REQUEST, "This request names no valid host.");
        };
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if let Some(answer) = self.edge.answer(&host, target, secure) {
            return answer;
        }
        let Some(upstream) = self.routes.lookup(&host) else {
            return page(
                StatusCode::NOT_FOUND,
                &format!("No app is served at {host}."),
            );
        };
        let candidates = self.routes.candidates(&upstream, MAX_ATTEMPTS);
        if candidates.is_empty() {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{host} has no running instance right now."),
            );
        }
        let proto = if secure { "https" } else { "http" };
        if is_upgrade(request.headers()) {
            let headers = forwarded_headers(request.headers(), client, &host, proto);
            let client_side = hyper::upgrade::on(&mut request);
            return self
                .upgrade(request, client_side, headers, &candidates)
                .await;
        }
        let (mut parts, body) = request.into_parts();
        add_forwarded(&mut parts.headers, client, &host, proto);
        // Buffered so a request refused by one instance can be replayed to the next.
        let body = if body.is_end_stream() {
            Bytes::new()
        } else {
            match Limited::new(body, self.max_body_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return page(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The request body is too large.",
                    )
                }
            }
        };
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let replayable = matches!(
            parts.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE"
        );
        let host_value =
            HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static("localhost"));
        parts.headers.insert(HOST, host_value);
        for backend in candidates {
            let mut outgoing = Request::new(Full::new(body.clone()));
            *outgoing.method_mut() = parts.method.clone();
            // Origin form (`GET /path`): what servers expect from a client, not a proxy.
            *outgoing.uri_mut() = Uri::from(path.clone());
            *outgoing.headers_mut() = parts.headers.clone();
            let sent = self.pool.send(backend.addr, outgoing);
            match tokio::time::timeout(self.response_timeout, sent).await {
                Ok(Ok(response)) => {
                    backend.requests.fetch_add(1, Ordering::Relaxed);
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(parts, body.boxed());
                }
                // Refused or unreachable: nothing was sent, so any request may try elsewhere.
                Ok(Err(error @ SendError::Connect(_))) => {
                    tracing::debug!(backend = %backend.addr, %error, "instance refused; trying another");
                    self.routes.mark_down(&backend);
                }
                Ok(Err(error)) if replayable => {
                    tracing::debug!(backend = %backend.addr, %error, "instance failed mid-request; retrying");
                    self.routes.mark_down(&backend);
                }
                Ok(Err(error)) => {
                    tracing::warn!(backend = %backend.addr, %error, "instance failed mid-request");
                    return page(
                        StatusCode::BAD_GATEWAY,
                        &format!("An instance of {host} failed while answering."),
                    );
                }
                Err(_) => {
                    return page(
                        StatusCode::GATEWAY_TIMEOUT,
                        &format!("{host} did not answer in time."),
                    )
                }
            }
        }
        page(
            StatusCode::BAD_GATEWAY,
            &format!("No instance of {host} accepted the request."),
        )
    }

    /// Websockets (and any Upgrade): the handshake goes to an instance, then bytes flow
    /// both ways until either side closes.
    async fn upgrade(
        &self,
        request: Request<Incoming>,
        client_side: hyper::upgrade::OnUpgrade,
        headers: HeaderMap,
        candidates: &[Arc<Backend>],
    ) -> Response<Body> {
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        for backend in candidates {
            let Ok(Ok(stream)) = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect(backend.addr),
            )
            .await
            else {
                self.routes.mark_down(backend);
                continue;
            };
            let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                continue;
            };
            tokio::spawn(connection.with_upgrades());
            let mut outgoing = Request::builder()
                .method(request.method())
                .uri(&path)
                .body(Empty::<Bytes>::new())
                .expect("valid");
            *outgoing.headers_mut() = headers.clone();
            for name in [CONNECTION, UPGRADE] {
                if let Some(value) = request.headers().get(&name) {
                    outgoing.headers_mut().insert(name, value.clone());
                }
            }
            let Ok(mut response) = sender.send_request(outgoing).await else {
                continue;
            };
            backend.requests.fetch_add(1, Ordering::Relaxed);
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                let backend_side = hyper::upgrade::on(&mut response);
                tokio::spawn(async move {
                    if let (Ok(client), Ok(backend)) = (client_side.await, backend_side.await) {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(client),
                            &mut TokioIo::new(backend),
                        )
                        .await;
                    }
                });
            }
            let (parts, body) = response.into_parts();
            return Response::from_parts(parts, body.boxed());
        }
        page(
            StatusCode::BAD_GATEWAY,
            "No instance accepted the connection.",
        )
    }
}

fn host_of(request: &Request<Incoming>) -> Option<String> {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
    let valid = !host.is_empty()
        && host.len() <= 260
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    valid.then(|| host.to_owned())
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get(CONNECTION)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("upgrade"))
}

/// The request's headers minus hop-by-hop ones, plus who asked and how.
fn forwarded_headers(
    original: &HeaderMap,
    client: SocketAddr,
    host: &str,
    proto: &'static str,
) -> HeaderMap {
    let mut headers = original.clone();
    add_forwarded(&mut headers, client, host, proto);
    headers
}

/// Drops hop-by-hop headers and adds X-Forwarded-For/Proto/Host, in place.
fn add_forwarded(headers: &mut HeaderMap, client: SocketAddr, host: &str, proto: &'static str) {
    strip_hop_by_hop(headers);
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {}", client.ip()),
        None => client.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::try_from(chain) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Ok(value) = HeaderValue::from_str(host) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), value);
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::try_from(name.trim()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// A small HTML page for errors the proxy itself answers.
pub fn page(status: StatusCode, message: &str) -> Response<Body> {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{code}</title></head>\
         <body style=\"font-family:sans-serif;margin:4rem\"><h1>{code}</h1><p>{escaped}</p>\
         <p style=\"color:#888\">Captain</p></body></html>",
        code = status
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(
            Full::new(Bytes::from(html))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a static response builds")
}
