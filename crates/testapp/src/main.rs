//! `captain-testapp`: the app tests and benchmarks deploy. It answers `/` with a short
//! greeting (cheap, so a benchmark measures the path to it, not the app), `/whoami` with
//! its container's hostname (to tell instances apart), and echoes websocket messages at
//! `/ws`. Listens on `PORT` (default 80).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "80".into());
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    println!("captain-testapp {hostname} listening on {port}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let hostname = hostname.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, hostname.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn answer(
    mut request: Request<Incoming>,
    hostname: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(body)))
            .expect("static response")
    };
    Ok(match request.uri().path() {
        "/" => text(StatusCode::OK, format!("hello from {hostname}\n")),
        "/whoami" => text(StatusCode::OK, hostname),
        "/ws" => {
            let Some(key) = request.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
                return Ok(text(StatusCode::BAD_REQUEST, "websocket only\n".into()));
            };
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    let mut socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        None,
                    )
                    .await;
                    while let Some(Ok(message)) = socket.next().await {
                        if (message.is_text() || message.is_binary())
                            && socket.send(message).await.is_err()
                        {
                            break;
                        }
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(CONNECTION, "upgrade")
                .header(UPGRADE, "websocket")
                .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
                .body(Full::new(Bytes::new()))
                .expect("static response")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    })
}
