//! Shared by the server's integration tests: a real `captain` process on a free port and
//! a websocket client that speaks the status protocol.

#![allow(dead_code)] // each test binary uses a different part of this module

use futures::StreamExt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use types::{ClusterChange, ClusterSnapshot, StatusMessage};

/// A running `captain` binary; killed when dropped.
pub struct Captain {
    process: Child,
    pub address: String,
    pub data_dir: tempfile::TempDir,
}

impl Captain {
    /// Starts Captain against the main engine on a fresh data dir.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_in(tempfile::tempdir()?, extra_args)
    }

    /// Starts Captain on `data_dir` and waits for its "listening" line.
    pub fn start_in(data_dir: tempfile::TempDir, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut process = Command::new(env!("CARGO_BIN_EXE_captain"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(address) = line?.strip_prefix("captain listening on http://") {
                        break address.to_owned();
                    }
                }
                None => anyhow::bail!("captain exited before listening: {:?}", process.wait()?),
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            process,
            address,
            data_dir,
        })
    }

    /// Stops the process (SIGTERM, as systemd would) and hands back its data dir.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.data_dir, dir)
    }

    pub async fn status_client(&self) -> anyhow::Result<StatusClient> {
        let url = format!("ws://{}/api/status/ws", self.address);
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        let mut client = StatusClient {
            socket,
            snapshot: ClusterSnapshot::default(),
        };
        match client.next_message(Duration::from_secs(10)).await? {
            StatusMessage::Snapshot(snapshot) => client.snapshot = snapshot,
            other => anyhow::bail!("the first message was not a snapshot: {other:?}"),
        }
        Ok(client)
    }
}

impl Drop for Captain {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A status websocket client that keeps its own copy of the cluster up to date.
pub struct StatusClient {
    socket: Socket,
    pub snapshot: ClusterSnapshot,
}

impl StatusClient {
    pub async fn next_message(&mut self, timeout: Duration) -> anyhow::Result<StatusMessage> {
        loop {
            let frame = tokio::time::timeout(timeout, self.socket.next())
                .await
                .map_err(|_| anyhow::anyhow!("no status message within {timeout:?}"))?
                .ok_or_else(|| anyhow::anyhow!("the status websocket closed"))??;
            if let Message::Text(text) = frame {
                return Ok(serde_json::from_str(&text)?);
            }
        }
    }

    /// Reads changes (applying each to `snapshot`) until one satisfies `wanted`.
    pub async fn wait_for_change(
        &mut self,
        what: &str,
        timeout: Duration,
        mut wanted: impl FnMut(&ClusterChange) -> bool,
    ) -> anyhow::Result<ClusterChange> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self
                .next_message(left)
                .await
                .map_err(|error| anyhow::anyhow!("waiting for {what}: {error}"))?;
            match message {
                StatusMessage::Change(change) => {
                    self.snapshot.apply(change.clone());
                    if wanted(&change) {
                        return Ok(change);
                    }
                }
                StatusMessage::Snapshot(snapshot) => self.snapshot = snapshot,
            }
        }
    }
}

/// Runs blocking harness work (docker CLI, node2) without stalling the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await?
}
