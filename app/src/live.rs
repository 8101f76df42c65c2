//! The live cluster state every page reads: filled by the status websocket in the
//! browser, empty on the server (pages render their first view from a server function).
//!
//! The client reconnects with exponential back-off, and every (re)connection starts with
//! a full snapshot, so a dashboard that was offline shows the truth as soon as it is back.

use leptos::prelude::*;
use types::ClusterSnapshot;

/// Whether the dashboard is receiving live status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    /// Lost; the next attempt is `in_secs` away.
    Reconnecting {
        in_secs: u32,
    },
}

impl Connection {
    pub fn label(self) -> String {
        match self {
            Connection::Connecting => "Connecting…".into(),
            Connection::Live => "Live".into(),
            Connection::Reconnecting { in_secs } => format!("Offline — retrying in {in_secs} s"),
        }
    }

    /// Stable machine-readable form, for `data-state`.
    pub fn code(self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Live => "live",
            Connection::Reconnecting { .. } => "reconnecting",
        }
    }
}

#[derive(Clone, Copy)]
pub struct LiveCluster {
    /// `None` until the first websocket snapshot; pages fall back to their server data.
    pub snapshot: RwSignal<Option<ClusterSnapshot>>,
    pub connection: RwSignal<Connection>,
}

impl LiveCluster {
    /// The live snapshot if there is one, else `initial` (what the server rendered with).
    pub fn current_or(&self, initial: Option<ClusterSnapshot>) -> Option<ClusterSnapshot> {
        self.snapshot.get().or(initial)
    }
}

/// Puts the live state in context and, in the browser, starts the websocket client.
pub fn provide_live_cluster() -> LiveCluster {
    let live = LiveCluster {
        snapshot: RwSignal::new(None),
        connection: RwSignal::new(Connection::Connecting),
    };
    provide_context(live);
    // Effects run only in the browser, after hydration, so the server never connects.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(client::run(live));
    });
    live
}

/// Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling to a 10 s ceiling.
pub fn backoff_millis(attempt: u32) -> u32 {
    let doubled = 500u32.saturating_mul(1u32 << attempt.saturating_sub(1).min(5));
    doubled.min(10_000)
}

#[cfg(feature = "hydrate")]
pub mod client {
    use super::{backoff_millis, Connection, LiveCluster};
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;
    use types::StatusMessage;

    /// A websocket URL for `path` on the server that served this page.
    pub fn websocket_url(path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}{path}", location.host().ok()?))
    }

    fn status_url() -> Option<String> {
        websocket_url("/api/status/ws")
    }

    pub async fn run(live: LiveCluster) {
        let mut attempt = 0u32;
        loop {
            // Signed-out pages have no right to live status; look again shortly after.
            let on_sign_in_page = web_sys::window()
                .and_then(|window| window.location().pathname().ok())
                .is_some_and(|path| crate::components::layout::is_sign_in_page(&path));
            if on_sign_in_page {
                gloo_timers::future::TimeoutFuture::new(1000).await;
                continue;
            }
            if let Some(socket) = status_url().and_then(|url| WebSocket::open(&url).ok()) {
                // Hold the sending half: dropping it would close the socket.
                let (_sender, mut receiver) = socket.split();
                while let Some(Ok(message)) = receiver.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    match serde_json::from_str::<StatusMessage>(&text) {
                        Ok(StatusMessage::Snapshot(snapshot)) => {
                            live.snapshot.set(Some(snapshot));
                            live.connection.set(Connection::Live);
                            attempt = 0;
                        }
                        Ok(StatusMessage::Change(change)) => live.snapshot.update(|snapshot| {
                            if let Some(snapshot) = snapshot {
                                snapshot.apply(change);
                            }
                        }),
                        Err(error) => leptos::logging::warn!("unreadable status message: {error}"),
                    }
                }
            }
            attempt += 1;
            let delay = backoff_millis(attempt);
            live.connection.set(Connection::Reconnecting {
                in_secs: delay.div_ceil(1000),
            });
            gloo_timers::future::TimeoutFuture::new(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        let delays: Vec<u32> = (1..=8).map(backoff_millis).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
    }
}
