//! Shared by the server's integration tests: a real `captain` process on a free port,
//! signing in the way a browser does, and a websocket client for the status protocol.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod builds;

use anyhow::Context;
use futures::StreamExt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testbed::http::{Request, Response};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use types::{ClusterChange, ClusterSnapshot, StatusMessage};

pub const PASSWORD: &str = "test password 0123";
pub const SESSION_COOKIE: &str = "captain_session";

/// A running `captain` binary; killed when dropped. Its log goes to `log_path`.
pub struct Captain {
    process: Child,
    pub address: String,
    pub data_dir: tempfile::TempDir,
    pub log_dir: tempfile::TempDir,
}

impl Captain {
    /// Starts Captain against the main engine on a fresh data dir, with the test password.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut args = vec!["--initial-password", PASSWORD];
        args.extend_from_slice(extra_args);
        Self::start_in(tempfile::tempdir()?, &args)
    }

    /// Starts Captain on `data_dir` and waits for its "listening" line.
    pub fn start_in(data_dir: tempfile::TempDir, args: &[&str]) -> anyhow::Result<Self> {
        let mut args = args.to_vec();
        // A proxy binds its HTTPS port too: never the shared 443.
        let https_port = testbed::free_port().to_string();
        if args.contains(&"--http-port") && !args.contains(&"--https-port") {
            args.extend(["--https-port", &https_port]);
        }
        let log_dir = tempfile::tempdir()?;
        let log = std::fs::File::create(log_dir.path().join("captain.log"))?;
        let mut process = Command::new(env!("CARGO_BIN_EXE_captain"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(&args)
            // Only tests that ask for the proxy (with ports of their own) get one.
            .args((!args.contains(&"--http-port")).then_some("--no-ingress"))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(log)
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
                None => anyhow::bail!(
                    "captain exited before listening: {:?}\n{}",
                    process.wait()?,
                    std::fs::read_to_string(log_dir.path().join("captain.log")).unwrap_or_default()
                ),
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            process,
            address,
            data_dir,
            log_dir,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.path().join("captain.log")).unwrap_or_default()
    }

    /// Stops the process (SIGTERM, as systemd would) and hands back its data dir.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
        std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("tempdir"))
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A request as Captain's own page would send it (same Origin).
    pub fn request<'a>(&self, method: &'a str, path: &'a str) -> Request<'a> {
        Request::new(method, path).header("Origin", self.origin())
    }

    /// Signs in through the sign-in server function; returns the session cookie value.
    pub async fn sign_in(&self) -> anyhow::Result<String> {
        let response = self.call_sign_in(PASSWORD, None).await?;
        response
            .set_cookie(SESSION_COOKIE)
            .with_context(|| format!("no session cookie in {response:?}"))
    }

    pub async fn call_sign_in(
        &self,
        password: &str,
        from: Option<&str>,
    ) -> anyhow::Result<Response> {
        let mut request = self
            .request("POST", server_fn_path("sign_in"))
            .form(&[("password", password), ("next", "/")]);
        if let Some(from) = from {
            request = request.from(from);
        }
        request.send(&self.address).await
    }

    /// Calls a server function with a session cookie and a form body.
    pub async fn call(
        &self,
        cookie: &str,
        function: &str,
        fields: &[(&str, &str)],
    ) -> anyhow::Result<Response> {
        self.request("POST", server_fn_path(function))
            .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
            .header("Accept", "application/json")
            .form(fields)
            .send(&self.address)
            .await
    }

    /// The status websocket, signed in with a fresh session.
    pub async fn status_client(&self) -> anyhow::Result<StatusClient> {
        let cookie = self.sign_in().await?;
        self.status_client_with(&[
            ("Cookie", format!("{SESSION_COOKIE}={cookie}")),
            ("Origin", self.origin()),
        ])
        .await
    }

    /// Opens a websocket on `path` with the given headers.
    pub async fn websocket(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Socket> {
        let mut request = format!("ws://{}{path}", self.address).into_client_request()?;
        for (name, value) in headers {
            let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse()?;
            request.headers_mut().insert(name, value.parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    pub async fn status_client_with(
        &self,
        headers: &[(&str, String)],
    ) -> anyhow::Result<StatusClient> {
        let socket = self.websocket("/api/status/ws", headers).await?;
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
        if std::thread::panicking() {
            eprintln!("--- captain log ---\n{}", self.log());
        }
    }
}

/// Every route the binary serves, from `captain --print-routes`.
pub fn routes() -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_captain"))
        .arg("--print-routes")
        .output()
        .expect("captain --print-routes runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each route line is JSON"))
        .collect()
}

/// The URL of a server function, found by its Rust name among the served routes.
pub fn server_fn_path(function: &str) -> &'static str {
    static ROUTES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let paths = ROUTES.get_or_init(|| {
        routes()
            .into_iter()
            .filter_map(|route| route["path"].as_str().map(str::to_owned))
            .collect()
    });
    // Server function URLs are the snake-case name followed by a hash of its location.
    paths
        .iter()
        .find(|path| {
            path.strip_prefix("/api/")
                .and_then(|rest| rest.strip_prefix(function))
                .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no server function named {function}"))
}

pub type Socket =
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

    /// Reads changes until the client's copy of the cluster satisfies `wanted`.
    pub async fn wait_for_snapshot(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&ClusterSnapshot) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !wanted(&self.snapshot) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self
                .next_message(left)
                .await
                .map_err(|error| anyhow::anyhow!("waiting for {what}: {error}"))?
            {
                StatusMessage::Change(change) => self.snapshot.apply(change),
                StatusMessage::Snapshot(snapshot) => self.snapshot = snapshot,
            }
        }
        Ok(())
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

/// A Captain on the swarm engine (after `prepare` made the images a test needs), and a
/// signed-in session cookie.
pub async fn signed_in(prepare: fn() -> anyhow::Result<()>) -> (Captain, String) {
    blocking(move || {
        testbed::ensure_swarm_engine()?;
        prepare()
    })
    .await
    .unwrap();
    let captain = Captain::start(&[]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    (captain, cookie)
}

/// Creates an app through the API, as the create form does.
pub async fn create_app(captain: &Captain, cookie: &str, name: &str, image: &str, instances: &str) {
    let created = captain
        .call(
            cookie,
            "create_app",
            &[
                ("name", name),
                ("image", image),
                ("http_port", "80"),
                ("instances", instances),
            ],
        )
        .await
        .unwrap();
    assert!(created.status < 400, "{created:?}");
}

/// Deletes an app through the API and waits until its service is gone, so no test leaves
/// instances behind (the reconciler removes it moments after the call).
pub async fn delete_app(captain: &Captain, cookie: &str, name: &str) {
    captain
        .call(cookie, "delete_app", &[("name", name)])
        .await
        .unwrap();
    let service = format!("captain-app-{name}");
    let gone = blocking(move || {
        testbed::wait_for("the app's service to go", Duration::from_secs(30), || {
            testbed::docker(&["service", "inspect", &service])
                .is_err()
                .then_some(())
        })
    })
    .await;
    gone.unwrap();
}

/// Runs blocking harness work (docker CLI, node2) without stalling the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await?
}

/// Removes the proxy service (and its token secrets) of the Captain whose proxy published
/// `http_port`; other tests' proxies are left alone.
pub fn remove_proxy(http_port: u16) {
    remove_published_service("captain-proxy-", &http_port.to_string());
}

/// Removes the managed registry service (and its secrets) published on `port`.
pub async fn remove_registry(port: &str) {
    let port = port.to_owned();
    blocking(move || {
        remove_published_service("captain-registry-", &port);
        Ok(())
    })
    .await
    .unwrap();
}

/// Removes the service named `prefix…` that publishes `port` (host-mode ports do not show
/// in `docker service ls`, so each spec is read), with the secrets named after it.
fn remove_published_service(prefix: &str, port: &str) {
    let services = testbed::docker(&["service", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
    let published = format!("\"PublishedPort\":{port},");
    for service in services.lines().filter(|name| name.starts_with(prefix)) {
        let ports = testbed::docker(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.EndpointSpec.Ports}}",
            service,
        ])
        .unwrap_or_default();
        if !ports.contains(&published) {
            continue;
        }
        let _ = testbed::docker(&["service", "rm", service]);
        let secrets =
            testbed::docker(&["secret", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
        for secret in secrets.lines().filter(|name| name.starts_with(service)) {
            // The secret is released once the service's task is gone; retry briefly.
            for _ in 0..50 {
                if testbed::docker(&["secret", "rm", secret]).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Running instances of `service` on the node `node_id` (by ID: node2 shares the
/// machine's hostname).
pub fn running_on(node_id: &str, service: &str) -> usize {
    testbed::docker(&[
        "node",
        "ps",
        node_id,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}} {{.CurrentState}}",
    ])
    .unwrap_or_default()
    .lines()
    .filter(|line| line.starts_with(&format!("{service}.")) && line.contains("Running"))
    .count()
}

/// Polls `check` every 300 ms until it holds; fails the test after `seconds`.
pub async fn wait_until(what: &str, seconds: u64, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
