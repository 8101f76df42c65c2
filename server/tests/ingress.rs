//! Captain's proxy in the swarm: apps answer at APP.<root domain> with requests spread over
//! every instance; an instance dying or scaling 3 -> 1 -> 3 under load costs no request;
//! an app at 0 instances answers 503; websockets pass through to the instances.

mod common;

use common::{blocking, Captain};
use std::collections::HashMap;
use std::time::Duration;
use testbed::http::Request;
use testbed::{
    docker, ensure_debian_base, ensure_httpd_image, ensure_swarm_engine, free_port, unique_name,
    HTTPD_IMAGE,
};

async fn whoami(port: u16, host: &str) -> anyhow::Result<(u16, String)> {
    let response = Request::new("GET", "/cgi-bin/whoami")
        .header("Host", host)
        .send(&format!("127.0.0.1:{port}"))
        .await?;
    Ok((response.status, response.body.trim().to_owned()))
}

#[tokio::test]
async fn an_app_is_served_by_all_its_instances_and_survives_deaths_and_scaling() {
    blocking(|| {
        ensure_swarm_engine()?;
        ensure_debian_base()?;
        ensure_httpd_image()
    })
    .await
    .unwrap();
    let proxy_binary = testbed::repo_root().join("target/debug/captain-proxy");
    assert!(
        proxy_binary.exists(),
        "build the proxy first: cargo build -p captain-proxy"
    );
    let (http_port, admin_port) = (free_port(), free_port());
    let (http, admin) = (http_port.to_string(), admin_port.to_string());
    let captain = Captain::start(&[
        "--http-port",
        &http,
        "--proxy-admin-port",
        &admin,
        "--proxy-binary",
        proxy_binary.to_str().unwrap(),
    ])
    .unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let name = unique_name("web");
    common::create_app(&captain, &cookie, &name, HTTPD_IMAGE, "3").await;
    let host = format!("{name}.localhost");

    // Wait until the proxy answers for the app with all three instances resolvable.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never answered from 3 instances: {seen:?}\n{}",
            captain.log()
        );
        if let Ok((200, who)) = whoami(http_port, &host).await {
            seen.insert(who, 0);
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        let (status, who) = whoami(http_port, &host).await.unwrap();
        assert_eq!(status, 200);
        *counts.entry(who).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.values().all(|n| *n <= 150),
        "one instance got more than half: {counts:?}"
    );
    assert_eq!(whoami(http_port, "nobody.localhost").await.unwrap().0, 404);

    // The proxy's per-instance counters reach Captain, keyed by instance address.
    let mut traffic = serde_json::Value::Null;
    for _ in 0..20 {
        let response = captain.call(&cookie, "get_traffic", &[]).await.unwrap();
        traffic = serde_json::from_str(&response.body).unwrap();
        let total: u64 = traffic
            .as_object()
            .map(|m| m.values().filter_map(|t| t["total"].as_u64()).sum())
            .unwrap_or(0);
        if total >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let instances = traffic.as_object().map(|m| m.len()).unwrap_or(0);
    assert_eq!(instances, 3, "traffic per instance: {traffic}");

    // Continuous load while one instance's container is killed.
    let load = spawn_load(http_port, host.clone(), Duration::from_secs(6));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let label = format!("label=dev.captain.app={name}");
    let victim = docker(&["ps", "-q", "--filter", &label]).unwrap();
    docker(&["kill", victim.lines().next().unwrap()]).unwrap();
    let (ok, failed) = load.await.unwrap();
    assert!(ok > 50, "too little load to prove anything: {ok}");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while an instance died: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );

    // Scaling 3 -> 1 -> 3 under load also costs no request.
    let load = spawn_load(http_port, host.clone(), Duration::from_secs(12));
    tokio::time::sleep(Duration::from_secs(1)).await;
    captain
        .call(&cookie, "scale_app", &[("name", &name), ("instances", "1")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    captain
        .call(&cookie, "scale_app", &[("name", &name), ("instances", "3")])
        .await
        .unwrap();
    let (ok, failed) = load.await.unwrap();
    assert!(ok > 50, "too little load to prove anything: {ok}");
    assert!(
        failed.is_empty(),
        "{} requests failed while scaling: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );

    // An app with no running instance answers 503, not a hang or a 404.
    captain
        .call(&cookie, "scale_app", &[("name", &name), ("instances", "0")])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = whoami(http_port, &host).await.unwrap();
        if status == 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status} with 0 instances"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    common::delete_app(&captain, &cookie, &name).await;
    drop(captain);
    common::remove_proxy(http_port);
}

#[tokio::test]
async fn a_websocket_echo_app_works_through_the_swarm_proxy() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let image = blocking(|| {
        ensure_swarm_engine()?;
        testbed::ensure_debug_test_app_image()
    })
    .await
    .unwrap();
    let proxy_binary = testbed::repo_root().join("target/debug/captain-proxy");
    let (http_port, admin_port) = (free_port(), free_port());
    let (http, admin) = (http_port.to_string(), admin_port.to_string());
    let captain = Captain::start(&[
        "--http-port",
        &http,
        "--proxy-admin-port",
        &admin,
        "--proxy-binary",
        proxy_binary.to_str().unwrap(),
    ])
    .unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let name = unique_name("ws");
    common::create_app(&captain, &cookie, &name, &image, "2").await;
    let host = format!("{name}.localhost");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let answer = Request::new("GET", "/whoami")
            .header("Host", &host)
            .send(&format!("127.0.0.1:{http_port}"))
            .await;
        if matches!(answer, Ok(ref r) if r.status == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never answered: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Several connections (spread over both instances), each echoing many messages.
    for connection in 0..4 {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", http_port))
            .await
            .unwrap();
        let request = format!("ws://{host}/ws").into_client_request().unwrap();
        let (mut socket, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
        assert_eq!(response.status(), 101);
        for n in 0..25 {
            let text = format!("connection {connection} message {n}");
            socket.send(Message::text(text.clone())).await.unwrap();
            let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("an echo within 5 s")
                .unwrap()
                .unwrap();
            assert_eq!(echoed.into_text().unwrap().as_str(), text);
        }
        socket.close(None).await.unwrap();
    }

    common::delete_app(&captain, &cookie, &name).await;
    drop(captain);
    common::remove_proxy(http_port);
}

/// Requests one after another for `duration`; returns the successes and the failures.
fn spawn_load(
    port: u16,
    host: String,
    duration: Duration,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let (mut ok, mut failed) = (0usize, Vec::new());
        let end = tokio::time::Instant::now() + duration;
        while tokio::time::Instant::now() < end {
            match whoami(port, &host).await {
                Ok((200, _)) => ok += 1,
                other => failed.push(format!("{other:?}")),
            }
        }
        (ok, failed)
    })
}
