//! The status websocket: a snapshot of the cluster, then every change as it is observed.
//!
//! A client that falls behind the broadcast buffer gets a fresh snapshot instead of a
//! gap, so what the browser shows is always a true picture.

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use engine::StatusHub;
use tokio::sync::broadcast::error::RecvError;
use types::StatusMessage;

pub async fn upgrade(State(hub): State<StatusHub>, socket: WebSocketUpgrade) -> Response {
    socket.on_upgrade(move |socket| stream_status(hub, socket))
}

async fn stream_status(hub: StatusHub, mut socket: WebSocket) {
    'resync: loop {
        let subscription = hub.subscribe();
        let mut changes = subscription.changes;
        if crate::ws::send_json(&mut socket, &StatusMessage::Snapshot(subscription.snapshot))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => {
                        if crate::ws::send_json(&mut socket, &StatusMessage::Change(change)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::debug!(skipped, "status client lagged; sending a new snapshot");
                        continue 'resync;
                    }
                    Err(RecvError::Closed) => return,
                },
                incoming = socket.recv() => if crate::ws::client_left(&incoming) {
                    return;
                },
            }
        }
    }
}
