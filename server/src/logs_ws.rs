//! An app's live logs over a websocket: recent lines of every instance, then each new
//! line as it is written (follow mode), as JSON `LogLine`s.

use crate::router::AppState;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::StatusHub;
use serde::Deserialize;

/// Lines of history sent per instance before following; the page shows a few hundred.
const DEFAULT_TAIL: usize = 100;
const MAX_TAIL: usize = 1000;

#[derive(Deserialize)]
pub struct LogsQuery {
    tail: Option<usize>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
    socket: WebSocketUpgrade,
) -> Response {
    if let Err(error) = state.apps.get(&name) {
        return (StatusCode::NOT_FOUND, error.to_string()).into_response();
    }
    let tail = query.tail.unwrap_or(DEFAULT_TAIL).min(MAX_TAIL);
    let service = types::app::service_name(&name);
    let (docker, hub) = (state.docker.clone(), state.hub.clone());
    socket.on_upgrade(move |socket| stream_logs(socket, docker, hub, service, tail))
}

async fn stream_logs(
    mut socket: WebSocket,
    docker: bollard::Docker,
    hub: StatusHub,
    service: String,
    tail: usize,
) {
    let mut lines = engine::logs::follow(docker, hub, service, tail);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { return };
                if crate::ws::send_json(&mut socket, &line).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => if crate::ws::client_left(&incoming) {
                return;
            },
        }
    }
}
