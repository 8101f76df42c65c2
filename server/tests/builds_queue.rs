//! Builds over time against the real engine: apps build side by side while one app's
//! builds queue, a build is cancelled (queued and running), a rollback reuses the old
//! image without building, and a Captain restart mid-build ends that build as failed.

mod common;

use common::builds::*;
use common::{blocking, create_app, delete_app, signed_in, Captain};
use types::{Build, BuildState};

/// A build that takes `seconds` and is never served from the build cache (the nonce).
fn slow_archive(seconds: u32) -> Vec<u8> {
    let dockerfile = format!(
        "FROM {}\nCOPY nonce /nonce\nRUN echo slow build starts && sleep {seconds}\n",
        testbed::HTTPD_IMAGE
    );
    let nonce = testbed::unique_name("nonce");
    testbed::sources::tarball(&[
        ("Dockerfile", dockerfile.as_bytes()),
        ("nonce", nonce.as_bytes()),
    ])
    .unwrap()
}

async fn cancel(captain: &Captain, cookie: &str, app: &str, id: i64) {
    let response = captain
        .call(
            cookie,
            "cancel_build",
            &[("name", app), ("id", &id.to_string())],
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
}

async fn wait_log(captain: &Captain, cookie: &str, app: &str, id: i64, text: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !build_log(captain, cookie, app, id).await.contains(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {text:?} in build #{id}'s log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_build_side_by_side_one_apps_builds_queue_and_builds_can_be_cancelled() {
    let (captain, cookie) = signed_in(prepare).await;
    let (first, second) = (testbed::unique_name("qa"), testbed::unique_name("qb"));
    create_app(&captain, &cookie, &first, "", "0").await;
    create_app(&captain, &cookie, &second, "", "0").await;

    let a1 = upload_ok(&captain, &cookie, &first, slow_archive(4)).await;
    let b1 = upload_ok(&captain, &cookie, &second, slow_archive(4)).await;
    let a2 = upload_ok(&captain, &cookie, &first, slow_archive(1)).await;
    let a1 = wait_build(&captain, &cookie, &first, a1.id, BuildState::Succeeded, 120).await;
    let b1 = wait_build(
        &captain,
        &cookie,
        &second,
        b1.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    let a2 = wait_build(&captain, &cookie, &first, a2.id, BuildState::Succeeded, 120).await;
    let span = |b: &Build| (b.started_at.unwrap(), b.finished_at.unwrap());
    let ((a1_start, a1_end), (b1_start, b1_end), (a2_start, _)) = (span(&a1), span(&b1), span(&a2));
    assert!(
        b1_start < a1_end && a1_start < b1_end,
        "two apps built at the same time: {first} {a1_start}-{a1_end}, {second} {b1_start}-{b1_end}"
    );
    assert!(
        a2_start >= a1_end,
        "the app's second build waited for its first: {a1_end} then {a2_start}"
    );

    // Cancel a running build and the one queued behind it.
    let running = upload_ok(&captain, &cookie, &first, slow_archive(120)).await;
    let queued = upload_ok(&captain, &cookie, &first, slow_archive(1)).await;
    wait_log(&captain, &cookie, &first, running.id, "slow build starts").await;
    let waiting = builds(&captain, &cookie, &first).await;
    assert_eq!(
        waiting.iter().find(|b| b.id == queued.id).unwrap().state,
        BuildState::Queued
    );
    cancel(&captain, &cookie, &first, queued.id).await;
    wait_build(
        &captain,
        &cookie,
        &first,
        queued.id,
        BuildState::Cancelled,
        10,
    )
    .await;
    cancel(&captain, &cookie, &first, running.id).await;
    wait_build(
        &captain,
        &cookie,
        &first,
        running.id,
        BuildState::Cancelled,
        15,
    )
    .await;
    let tag = format!("captain-builds/{first}:build-{}", running.id);
    assert!(
        testbed::docker(&["image", "inspect", &tag]).is_err(),
        "a cancelled build leaves no image"
    );
    // The engine stops the build too: its `sleep 120` is not left running.
    common::wait_until("the cancelled build's container to stop", 30, || {
        testbed::docker(&["ps", "--format", "{{.Command}}"])
            .unwrap_or_default()
            .lines()
            .all(|command| !command.contains("sleep 120"))
    })
    .await;
    let response = captain
        .call(
            &cookie,
            "cancel_build",
            &[("name", &first), ("id", &running.id.to_string())],
        )
        .await
        .unwrap();
    assert!(response.body.contains("already ended"), "{}", response.body);
    delete_app(&captain, &cookie, &first).await;
    delete_app(&captain, &cookie, &second).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_back_to_version_one_reuses_its_image_without_building() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("rb");
    create_app(&captain, &cookie, &app, "", "1").await;
    let one = deploy_definition(&captain, &cookie, &app, &page_definition("version one")).await;
    let one = wait_build(&captain, &cookie, &app, one.id, BuildState::Succeeded, 120).await;
    wait_answer(&app, "version one").await;
    let two = deploy_definition(&captain, &cookie, &app, &page_definition("version two")).await;
    wait_build(&captain, &cookie, &app, two.id, BuildState::Succeeded, 120).await;
    wait_answer(&app, "version two").await;
    let image_one = one.image.clone().unwrap();
    let image_id =
        testbed::docker(&["image", "inspect", "--format", "{{.Id}}", &image_one]).unwrap();

    let response = captain
        .call(
            &cookie,
            "roll_back_app",
            &[
                ("name", &app),
                ("number", &one.version.unwrap().to_string()),
            ],
        )
        .await
        .unwrap();
    assert!(response.status < 400, "{}", response.body);
    wait_answer(&app, "version one").await;
    assert_eq!(
        builds(&captain, &cookie, &app).await.len(),
        2,
        "no build ran for the rollback"
    );
    let newest = versions(&captain, &cookie, &app)
        .await
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(newest.image, image_one);
    assert_eq!(
        newest.source,
        format!("rollback to v{}", one.version.unwrap())
    );
    let service = format!("captain-app-{app}");
    let running_id = blocking(move || {
        let container = testbed::docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ])?;
        let container = container.lines().next().unwrap_or_default().to_owned();
        testbed::docker(&["inspect", "--format", "{{.Image}}", &container])
    })
    .await
    .unwrap();
    assert_eq!(
        running_id.trim(),
        image_id.trim(),
        "the instance runs version one's very image"
    );
    delete_app(&captain, &cookie, &app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_during_a_build_ends_it_as_failed_with_the_reason() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("rs");
    create_app(&captain, &cookie, &app, "", "0").await;
    let build = upload_ok(&captain, &cookie, &app, slow_archive(60)).await;
    wait_log(&captain, &cookie, &app, build.id, "slow build starts").await;

    let data_dir = captain.stop();
    let captain = Captain::start_in(data_dir, &["--initial-password", common::PASSWORD]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let after = builds(&captain, &cookie, &app).await;
    let failed = after.iter().find(|b| b.id == build.id).unwrap();
    assert_eq!(failed.state, BuildState::Failed);
    assert!(
        failed
            .message
            .contains("Captain stopped while this build ran"),
        "{}",
        failed.message
    );
    let leftovers = captain.data_dir.path().join("builds");
    assert!(
        !leftovers.exists() || std::fs::read_dir(&leftovers).unwrap().next().is_none(),
        "the interrupted build's files were cleared"
    );
    // The app goes on: a new build works.
    let again = deploy_definition(&captain, &cookie, &app, &page_definition("after restart")).await;
    wait_build(
        &captain,
        &cookie,
        &app,
        again.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    delete_app(&captain, &cookie, &app).await;
}
