//! Apps through the real binary: a restart of Captain leaves running instances alone,
//! the websocket reports an instance's death and its replacement, and two browsers
//! editing at once never silently lose a change.

mod common;

use common::{blocking, Captain};
use std::time::Duration;
use testbed::{
    docker, ensure_httpd_image, ensure_swarm_engine, ensure_ticker_image, unique_name, wait_for,
    HTTPD_IMAGE, TICKER_IMAGE,
};
use types::{ClusterChange, TaskState};

fn running_task_ids(app: &str) -> Vec<String> {
    let service = format!("captain-app-{app}");
    let listing = docker(&[
        "service",
        "ps",
        "-q",
        "--filter",
        "desired-state=running",
        &service,
    ])
    .unwrap_or_default();
    let mut ids: Vec<String> = listing.lines().map(str::to_owned).collect();
    ids.sort();
    ids
}

fn wait_running(app: &str, count: usize) -> anyhow::Result<()> {
    let app = app.to_owned();
    wait_for("running instances", Duration::from_secs(60), || {
        let states = docker(&[
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
            &format!("captain-app-{app}"),
        ])
        .ok()?;
        (states.lines().filter(|s| s.starts_with("Running")).count() == count).then_some(())
    })
}

#[tokio::test]
async fn restarting_captain_changes_nothing_that_runs() {
    let (captain, cookie) = common::signed_in(ensure_httpd_image).await;
    let name = unique_name("restart");
    common::create_app(&captain, &cookie, &name, HTTPD_IMAGE, "2").await;
    let app = name.clone();
    blocking(move || wait_running(&app, 2)).await.unwrap();
    let service = format!("captain-app-{name}");
    let version_before = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Version.Index}}",
        &service,
    ])
    .unwrap();
    let tasks_before = running_task_ids(&name);

    let data_dir = captain.stop();
    let restarted = Captain::start_in(data_dir, &[]).unwrap();
    // Give the restarted reconciler several passes to (wrongly) touch anything.
    let cookie = restarted.sign_in().await.unwrap();
    let saved = restarted
        .call(&cookie, "get_app", &[("name", &name)])
        .await
        .unwrap();
    assert!(saved.body.contains(HTTPD_IMAGE), "{saved:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let version_after = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Version.Index}}",
        &service,
    ])
    .unwrap();
    assert_eq!(
        version_after, version_before,
        "the service was updated by a restart"
    );
    assert_eq!(
        running_task_ids(&name),
        tasks_before,
        "instances were restarted"
    );

    // Deleting through the API removes the service.
    common::delete_app(&restarted, &cookie, &name).await;
}

#[tokio::test]
async fn the_websocket_reports_an_instance_dying_and_its_replacement() {
    let (captain, cookie) = common::signed_in(ensure_httpd_image).await;
    let mut status = captain.status_client().await.unwrap();
    let name = unique_name("heal");
    common::create_app(&captain, &cookie, &name, HTTPD_IMAGE, "3").await;
    let app = name.clone();
    blocking(move || wait_running(&app, 3)).await.unwrap();
    let service_name = format!("captain-app-{name}");
    status
        .wait_for_snapshot(
            "3 running instances on the websocket",
            Duration::from_secs(30),
            |snapshot| {
                snapshot
                    .services
                    .values()
                    .find(|s| s.name == service_name)
                    .is_some_and(|service| {
                        snapshot
                            .tasks
                            .values()
                            .filter(|t| t.service_id == service.id && t.state == TaskState::Running)
                            .count()
                            == 3
                    })
            },
        )
        .await
        .unwrap();
    let service_id = status
        .snapshot
        .services
        .values()
        .find(|s| s.name == format!("captain-app-{name}"))
        .map(|s| s.id.clone())
        .expect("the app's service is in the snapshot");
    // Each instance carries its address on the apps network (what the proxy reaches).
    let addresses: Vec<_> = status
        .snapshot
        .tasks
        .values()
        .filter(|t| t.service_id == service_id && t.state == TaskState::Running)
        .filter_map(|t| t.address.clone())
        .collect();
    assert_eq!(
        addresses.len(),
        3,
        "running instances without an address: {addresses:?}"
    );
    assert!(
        addresses
            .iter()
            .all(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        "{addresses:?}"
    );
    let victim = status
        .snapshot
        .tasks
        .values()
        .find(|t| {
            t.service_id == service_id && t.state == TaskState::Running && t.container_id.is_some()
        })
        .cloned()
        .expect("a running instance");
    let container = victim.container_id.clone().unwrap();
    blocking(move || docker(&["kill", &container]))
        .await
        .unwrap();

    status
        .wait_for_change("the death", Duration::from_secs(10), |c| {
            matches!(c, ClusterChange::TaskUpserted(t) if t.id == victim.id && t.state == TaskState::Failed)
        })
        .await
        .unwrap();
    status
        .wait_for_change("a replacement running in the same slot", Duration::from_secs(30), |c| {
            matches!(c, ClusterChange::TaskUpserted(t)
                if t.service_id == service_id && t.slot == victim.slot && t.id != victim.id && t.state == TaskState::Running)
        })
        .await
        .unwrap();
    common::delete_app(&captain, &cookie, &name).await;
}

#[tokio::test]
async fn two_browsers_editing_at_once_never_lose_a_change_silently() {
    blocking(ensure_swarm_engine).await.unwrap();
    let captain = Captain::start(&[]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let name = unique_name("edit");
    // Never deployed (no image), so this test needs nothing from swarm.
    common::create_app(&captain, &cookie, &name, "", "1").await;
    let form = |port: &'static str| {
        vec![
            ("name", name.clone()),
            ("revision", "1".to_owned()),
            ("image", String::new()),
            ("http_port", port.to_owned()),
            ("instances", "1".to_owned()),
            ("env", String::new()),
            ("volumes", String::new()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let captain = &captain;
        let cookie = cookie.clone();
        async move {
            let borrowed: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            captain.call(&cookie, "save_app", &borrowed).await.unwrap()
        }
    };
    let unchanged = send(form("80")).await;
    assert_eq!(
        unchanged.body, "false",
        "saving the same spec must change nothing: {unchanged:?}"
    );
    let first = send(form("8080")).await;
    assert_eq!(first.body, "true", "{first:?}");
    let second = send(form("9090")).await;
    assert!(
        second.status >= 400 && second.body.contains("changed meanwhile"),
        "{second:?}"
    );
    let stored = captain
        .call(&cookie, "get_app", &[("name", &name)])
        .await
        .unwrap();
    assert!(stored.body.contains("\"http_port\":8080"), "{stored:?}");
    let invalid = captain
        .call(
            &cookie,
            "create_app",
            &[
                ("name", "Bad--Name"),
                ("image", ""),
                ("http_port", "80"),
                ("instances", "1"),
            ],
        )
        .await
        .unwrap();
    assert!(invalid.body.contains("lowercase"), "{invalid:?}");
}

#[tokio::test]
async fn live_logs_stream_every_instance_tagged_with_its_slot() {
    let (captain, cookie) = common::signed_in(ensure_ticker_image).await;
    let name = unique_name("logs");
    common::create_app(&captain, &cookie, &name, TICKER_IMAGE, "2").await;
    let app = name.clone();
    blocking(move || wait_running(&app, 2)).await.unwrap();

    let headers = [
        ("Cookie", format!("{}={cookie}", common::SESSION_COOKIE)),
        ("Origin", captain.origin()),
    ];
    let mut socket = captain
        .websocket(&format!("/api/apps/{name}/logs?tail=5"), &headers)
        .await
        .unwrap();
    let mut slots = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while slots.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = tokio::time::timeout(left, futures::StreamExt::next(&mut socket))
            .await
            .expect("log lines within 20 s");
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = frame else {
            continue;
        };
        let line: types::LogLine = serde_json::from_str(&text).unwrap();
        assert!(line.text.starts_with("tick from"), "{line:?}");
        slots.insert(line.slot);
    }
    assert_eq!(slots, [Some(1), Some(2)].into_iter().collect());
    let missing = captain
        .websocket("/api/apps/no-such-app/logs", &headers)
        .await;
    assert!(missing.is_err(), "an unknown app must be refused");
    common::delete_app(&captain, &cookie, &name).await;
}
