//! Shared by the browser tests: a real Captain built by cargo-leptos, a headless
//! Chromium driven over WebDriver, and signing in like a user.

#![allow(dead_code)] // each test binary uses a different part of this module

use anyhow::{Context, Result};
use fantoccini::{ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testbed::{free_port, wait_for};

pub const PASSWORD: &str = "browser test password";

pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts the binary cargo-leptos built, serving the compiled site; returns its address.
pub fn start_captain(data_dir: &std::path::Path) -> Result<(Process, String)> {
    let root = workspace();
    let binary = root.join("target/debug/captain");
    let mut child = Command::new(&binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-ingress",
            "--initial-password",
            PASSWORD,
            "--data-dir",
        ])
        .arg(data_dir)
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("LEPTOS_OUTPUT_NAME", "captain")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (run `cargo leptos build` first)",
                binary.display()
            )
        })?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().context("captain exited before listening")??;
        if let Some(address) = line.strip_prefix("captain listening on http://") {
            break address.to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok((Process(child), address))
}

/// The sign-in server function's URL, from the binary's own route list.
pub fn sign_in_path() -> Result<String> {
    let output = Command::new(workspace().join("target/debug/captain"))
        .arg("--print-routes")
        .output()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|route| route["path"].as_str().map(str::to_owned))
        .find(|path| path.starts_with("/api/sign_in"))
        .context("no sign_in route")
}

pub async fn browser() -> Result<(Process, fantoccini::Client)> {
    let port = free_port();
    let driver = Process(
        Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (install chromium-driver)")?,
    );
    wait_for("chromedriver", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })?;
    let profile = tempfile::tempdir()?.keep();
    // A desktop-sized window, so screenshots show the layout people see.
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let client = ClientBuilder::rustls()?
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    Ok((driver, client))
}

/// Polls the page until `script` (a JS expression) is truthy.
pub async fn wait_until(
    client: &fantoccini::Client,
    what: &str,
    timeout: Duration,
    script: &str,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let value = client
            .execute(&format!("return !!({script});"), vec![])
            .await?;
        if value.as_bool() == Some(true) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in through the sign-in page, as a user would, landing on `path`.
pub async fn sign_in_at(client: &fantoccini::Client, address: &str, path: &str) -> Result<()> {
    client.goto(&format!("http://{address}{path}")).await?;
    wait_until(
        client,
        "the sign-in page",
        Duration::from_secs(10),
        "location.pathname === '/login'",
    )
    .await?;
    client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let arrived = format!("location.pathname === '{path}'");
    wait_until(
        client,
        "the page after signing in",
        Duration::from_secs(20),
        &arrived,
    )
    .await?;
    // Live status flows once the WASM has hydrated and the websocket delivered a snapshot.
    wait_until(
        client,
        "the live indicator",
        Duration::from_secs(20),
        "document.querySelector('[data-testid=connection][data-state=live]')",
    )
    .await
}

/// Saves what the browser shows to target/e2e-screenshots/NAME.png, for a human to look at.
pub async fn screenshot(client: &fantoccini::Client, name: &str) -> Result<()> {
    let folder = workspace().join("target/e2e-screenshots");
    std::fs::create_dir_all(&folder)?;
    std::fs::write(
        folder.join(format!("{name}.png")),
        client.screenshot().await?,
    )?;
    Ok(())
}

/// A fresh Captain (engine and test image ready) with a browser signed in on `path`.
/// Drop it at the end of the test: that stops both.
pub struct SignedIn {
    pub client: fantoccini::Client,
    pub address: String,
    _captain: Process,
    _driver: Process,
    _data_dir: tempfile::TempDir,
}

pub async fn signed_in_browser(path: &str) -> Result<SignedIn> {
    testbed::ensure_swarm_engine()?;
    testbed::ensure_httpd_image()?;
    let data_dir = tempfile::tempdir()?;
    let (captain, address) = start_captain(data_dir.path())?;
    let (driver, client) = browser().await?;
    sign_in_at(&client, &address, path).await?;
    Ok(SignedIn {
        client,
        address,
        _captain: captain,
        _driver: driver,
        _data_dir: data_dir,
    })
}
