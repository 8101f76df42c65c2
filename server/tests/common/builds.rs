//! Helpers for the build tests: uploads, build and version listings, and asking an app
//! what it answers from a container on the apps network.

use super::{blocking, Captain, SESSION_COOKIE};
use std::time::Duration;
use types::{AppVersion, Build, BuildState};

pub fn prepare() -> anyhow::Result<()> {
    testbed::ensure_debian_base()?;
    testbed::ensure_httpd_image()
}

/// Posts a source archive the way a script would (signed in, from the dashboard's origin).
pub async fn upload(
    captain: &Captain,
    cookie: &str,
    app: &str,
    archive: Vec<u8>,
    query: &str,
) -> testbed::http::Response {
    let path = format!("/api/apps/{app}/builds?{query}");
    captain
        .request("POST", &path)
        .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
        .header("Content-Type", "application/octet-stream")
        .bytes(archive)
        .send(&captain.address)
        .await
        .unwrap()
}

pub async fn upload_ok(captain: &Captain, cookie: &str, app: &str, archive: Vec<u8>) -> Build {
    let response = upload(captain, cookie, app, archive, "filename=src.tar.gz").await;
    assert_eq!(response.status, 201, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

pub async fn builds(captain: &Captain, cookie: &str, app: &str) -> Vec<Build> {
    let response = captain
        .call(cookie, "list_builds", &[("name", app)])
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

pub async fn build_log(captain: &Captain, cookie: &str, app: &str, id: i64) -> String {
    let response = captain
        .call(
            cookie,
            "build_log",
            &[("name", app), ("id", &id.to_string())],
        )
        .await
        .unwrap();
    let lines: Vec<String> = serde_json::from_str(&response.body).unwrap();
    lines.join("\n")
}

pub async fn versions(captain: &Captain, cookie: &str, app: &str) -> Vec<AppVersion> {
    let response = captain
        .call(cookie, "get_app", &[("name", app)])
        .await
        .unwrap();
    let details: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    serde_json::from_value(details["versions"].clone()).unwrap()
}

/// Waits until build `id` reaches `state` (or fails the test with its log).
pub async fn wait_build(
    captain: &Captain,
    cookie: &str,
    app: &str,
    id: i64,
    state: BuildState,
    seconds: u64,
) -> Build {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let build = builds(captain, cookie, app)
            .await
            .into_iter()
            .find(|b| b.id == id)
            .unwrap();
        if build.state == state {
            return build;
        }
        if build.state.is_finished() || tokio::time::Instant::now() > deadline {
            let log = build_log(captain, cookie, app, id).await;
            panic!(
                "build #{id} is {:?}, not {state:?}: {}\n{log}",
                build.state, build.message
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the app's running instances on this node answer on `/`, asked from a container
/// on the apps network by IP with `nc` (the static busybox's wget crashes on NSS lookups).
pub fn answer(app: &str) -> String {
    let service = format!("label=com.docker.swarm.service.name=captain-app-{app}");
    let containers = testbed::docker(&["ps", "-q", "--filter", &service]).unwrap_or_default();
    let network = engine::APPS_NETWORK;
    let mut answers = String::new();
    for container in containers.lines() {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        let Ok(ip) = testbed::docker(&["inspect", "--format", &format, container]) else {
            continue;
        };
        answers.push_str(&http_get_via_nc(network, ip.trim()));
    }
    answers
}

fn http_get_via_nc(network: &str, ip: &str) -> String {
    use std::io::Write;
    let child = std::process::Command::new("docker")
        .args([
            "run",
            "-i",
            "--rm",
            "--network",
            network,
            testbed::HTTPD_IMAGE,
        ])
        .args(["nc", "-w", "3", ip, "80"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return String::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
    child
        .wait_with_output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

pub async fn wait_answer(app: &str, expected: &str) {
    let (app, expected) = (app.to_owned(), expected.to_owned());
    let what = format!("{app} to answer {expected:?}");
    blocking(move || {
        testbed::wait_for(&what, Duration::from_secs(60), || {
            answer(&app).contains(&expected).then_some(())
        })
    })
    .await
    .unwrap();
}

/// An httpd app whose page says `text`, as dockerfileLines.
pub fn page_definition(text: &str) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "dockerfileLines": [
            format!("FROM {}", testbed::HTTPD_IMAGE),
            format!("RUN echo '{text}' > /www/index.html"),
        ]
    })
    .to_string()
}

pub async fn deploy_definition(
    captain: &Captain,
    cookie: &str,
    app: &str,
    definition: &str,
) -> Build {
    let response = captain
        .call(
            cookie,
            "deploy_definition",
            &[("name", app), ("definition", definition)],
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}
