//! Forwarding one request: pick an instance, send, and if the instance refused the
//! connection, try the next one. Responses stream back as they arrive; websocket upgrades
//! become a byte pipe between the browser and the instance.

use crate::edge::Edge;
use crate::routes::{Backend, Routes};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
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
    client: Client<HttpConnector, Full<Bytes>>,
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
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self {
            routes,
            edge,
            client,
            max_body_bytes,
            response_timeout,
        }
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
        let mut headers = forwarded_headers(request.headers(), client, &host, proto);
        if is_upgrade(request.headers()) {
            let client_side = hyper::upgrade::on(&mut request);
            return self
                .upgrade(request, client_side, headers, &candidates)
                .await;
        }
        let (parts, body) = request.into_parts();
        // Buffered so a request refused by one instance can be replayed to the next.
        let body = match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The request body is too large.",
                )
            }
        };
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        let replayable = matches!(
            parts.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE"
        );
        headers.remove(HOST);
        for backend in candidates {
            let mut outgoing = Request::builder()
                .method(parts.method.clone())
                .uri(format!("http://{}{path}", backend.addr))
                .body(Full::new(body.clone()))
                .expect("a request from valid parts builds");
            *outgoing.headers_mut() = headers.clone();
            outgoing.headers_mut().insert(
                HOST,
                HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static("localhost")),
            );
            match tokio::time::timeout(self.response_timeout, self.client.request(outgoing)).await {
                Ok(Ok(response)) => {
                    backend.requests.fetch_add(1, Ordering::Relaxed);
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(parts, body.boxed());
                }
                // Refused or unreachable: nothing was sent, so any request may try elsewhere.
                Ok(Err(error)) if error.is_connect() => {
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
    proto: &str,
) -> HeaderMap {
    let mut headers = original.clone();
    strip_hop_by_hop(&mut headers);
    let chain = match original
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(previous) => format!("{previous}, {}", client.ip()),
        None => client.ip().to_string(),
    };
    let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(&mut headers, "x-forwarded-for", &chain);
    set(&mut headers, "x-forwarded-proto", proto);
    set(&mut headers, "x-forwarded-host", host);
    headers
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| {
            value
                .split(',')
                .map(|name| name.trim().to_ascii_lowercase())
        })
        .collect();
    for name in HOP_BY_HOP.iter().map(|n| n.to_string()).chain(named) {
        headers.remove(name.as_str());
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
