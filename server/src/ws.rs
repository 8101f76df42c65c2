//! What Captain's websockets share: JSON messages out, and noticing that the browser left.

use axum::extract::ws::{Message, WebSocket};
use serde::Serialize;

/// Sends `message` as one JSON text frame; an error means the browser is gone.
pub async fn send_json(
    socket: &mut WebSocket,
    message: &impl Serialize,
) -> Result<(), axum::Error> {
    let json =
        serde_json::to_string(message).expect("Captain's websocket messages always serialise");
    socket.send(Message::Text(json.into())).await
}

/// Whether what arrived from the browser ends the conversation. Browsers send nothing
/// but pings and close here (pongs are answered automatically).
pub fn client_left(incoming: &Option<Result<Message, axum::Error>>) -> bool {
    matches!(incoming, Some(Ok(Message::Close(_))) | None | Some(Err(_)))
}
