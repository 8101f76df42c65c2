//! The proxy against real sockets: requests spread over instances, an instance dying under
//! load costs no request, websockets pass through, and bad requests get clean errors.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use proxy::{serve, ProxyOptions, RouteTable, Routes};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// An app instance: answers its own name and the X-Forwarded-For it saw; dropping the
/// handle kills it, open connections included, as a crashed container would.
async fn instance(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            connections.spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| async move {
                    // Like most servers, refuse the absolute form a client must not send.
                    if request.uri().authority().is_some() {
                        let mut refused = Response::new(Full::new(Bytes::from("absolute form")));
                        *refused.status_mut() = hyper::StatusCode::BAD_REQUEST;
                        return Ok::<_, Infallible>(refused);
                    }
                    let forwarded = request
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                        "{name} {forwarded}"
                    )))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

async fn start_proxy(hosts: &[(&str, Vec<SocketAddr>)]) -> (SocketAddr, Routes) {
    let routes = Routes::default();
    routes.update(&RouteTable {
        hosts: hosts
            .iter()
            .map(|(h, a)| (h.to_string(), a.clone()))
            .collect(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ProxyOptions {
        max_body_bytes: 1024,
        ..ProxyOptions::default()
    };
    tokio::spawn(serve(listener, routes.clone(), options));
    (addr, routes)
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn get(
    client: &Client<HttpConnector, Full<Bytes>>,
    proxy: SocketAddr,
    host: &str,
    body: &[u8],
) -> (u16, String) {
    let request = Request::builder()
        .method(if body.is_empty() { "GET" } else { "POST" })
        .uri(format!("http://{proxy}/"))
        .header("host", host)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn requests_spread_over_all_instances_with_forwarded_headers() {
    let (a, _ta) = instance("a").await;
    let (b, _tb) = instance("b").await;
    let (c, _tc) = instance("c").await;
    let (proxy, routes) = start_proxy(&[("web.localhost", vec![a, b, c])]).await;
    let client = client();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        let (status, body) = get(&client, proxy, "Web.Localhost:80", b"").await;
        assert_eq!(status, 200);
        let (name, forwarded) = body.split_once(' ').unwrap();
        assert_eq!(forwarded, "127.0.0.1");
        *seen.entry(name.to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.values().all(|n| *n <= 150),
        "one instance got more than half: {seen:?}"
    );
    let counted: u64 = routes.request_counts().values().sum();
    assert_eq!(counted, 300);
}

#[tokio::test]
async fn an_instance_dying_under_load_costs_no_request() {
    let (a, ta) = instance("a").await;
    let (b, _tb) = instance("b").await;
    let (c, _tc) = instance("c").await;
    let (proxy, _routes) = start_proxy(&[("web.localhost", vec![a, b, c])]).await;
    let mut load = JoinSet::new();
    for _ in 0..4 {
        load.spawn(async move {
            let client = client();
            let (mut ok, mut failed) = (0, 0);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while tokio::time::Instant::now() < deadline {
                match get(&client, proxy, "web.localhost", b"").await.0 {
                    200 => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    ta.abort(); // instance a dies, with its open connections
    let (mut ok, mut failed) = (0, 0);
    while let Some(result) = load.join_next().await {
        let (o, f) = result.unwrap();
        ok += o;
        failed += f;
    }
    assert!(ok > 100, "too little load to prove anything: {ok}");
    assert_eq!(failed, 0, "{failed} requests failed while an instance died");
}

#[tokio::test]
async fn unknown_hosts_empty_apps_bad_hosts_and_big_bodies_get_clean_errors() {
    let (a, _ta) = instance("a").await;
    let (proxy, _routes) =
        start_proxy(&[("web.localhost", vec![a]), ("idle.localhost", vec![])]).await;
    let client = client();
    let (status, body) = get(&client, proxy, "nobody.localhost", b"").await;
    assert_eq!(status, 404);
    assert!(body.contains("No app is served at nobody.localhost"));
    assert_eq!(get(&client, proxy, "idle.localhost", b"").await.0, 503);
    assert_eq!(get(&client, proxy, "bad host<script>", b"").await.0, 400);
    assert_eq!(
        get(&client, proxy, "web.localhost", &[b'x'; 2048]).await.0,
        413
    );
    assert_eq!(get(&client, proxy, "web.localhost", b"small").await.0, 200);
}

#[tokio::test]
async fn websockets_pass_through() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() && socket.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (proxy, _routes) = start_proxy(&[("ws.localhost", vec![echo])]).await;
    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async("ws://ws.localhost/echo", stream)
        .await
        .unwrap();
    for n in 0..3 {
        let text = format!("hello {n}");
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                text.clone().into(),
            ))
            .await
            .unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), text);
    }
}
