//! Deploying from source against the real engine: uploads with a Dockerfile, the three
//! captain-definition forms, a broken build, queueing and cancelling, rollback without a
//! rebuild, and a restart in the middle of a build.

mod common;

use common::builds::*;
use common::{blocking, create_app, delete_app, signed_in, Captain, SESSION_COOKIE};
use types::{Build, BuildState};

#[tokio::test(flavor = "multi_thread")]
async fn a_dockerfile_tarball_installs_a_package_builds_deploys_and_answers() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("src");
    create_app(&captain, &cookie, &app, "", "1").await;
    let deb = blocking(|| testbed::sources::debian_package("busybox-static"))
        .await
        .unwrap();
    // The nonce keeps the build cache from skipping the install on a second run.
    let dockerfile = format!(
        "FROM {}\nCOPY nonce busybox.deb /tmp/\nRUN dpkg -i /tmp/busybox.deb && mkdir /www && echo 'built from source' > /www/index.html\n\
         EXPOSE 80\nCMD [\"busybox\", \"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
        testbed::images::DEBIAN_IMAGE
    );
    let archive = testbed::sources::tarball(&[
        ("Dockerfile", dockerfile.as_bytes()),
        ("busybox.deb", &std::fs::read(deb).unwrap()),
        ("nonce", testbed::unique_name("nonce").as_bytes()),
    ])
    .unwrap();

    // Damaged, empty, mislabelled or cross-site uploads are refused before anything is queued.
    let upload_path = format!("/api/apps/{app}/builds");
    let response = captain
        .request("POST", &format!("/api/apps/{app}/builds"))
        .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
        .header("X-Content-SHA256", "0".repeat(64))
        .bytes(archive.clone())
        .send(&captain.address)
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    assert!(
        response.body.contains("damaged on the way"),
        "{}",
        response.body
    );
    assert!(
        builds(&captain, &cookie, &app).await.is_empty(),
        "nothing was queued"
    );
    let empty = upload(&captain, &cookie, &app, Vec::new(), "").await;
    assert!(empty.body.contains("empty"), "{}", empty.body);
    // (Refusals that come before the body is read get a small body: the server answers
    // and closes without reading the rest.)
    let bad_hash = upload(&captain, &cookie, &app, b"x".to_vec(), "git_hash=nothex!").await;
    assert_eq!(bad_hash.status, 400, "{}", bad_hash.body);
    let elsewhere = testbed::http::Request::new("POST", &upload_path)
        .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
        .header("Origin", "http://evil.example")
        .bytes(b"x".to_vec())
        .send(&captain.address)
        .await
        .unwrap();
    assert_eq!(elsewhere.status, 403, "cross-site uploads are refused");

    let response = upload(
        &captain,
        &cookie,
        &app,
        archive,
        "filename=src.tar.gz&git_hash=3f9c2ab1",
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.body);
    let build: Build = serde_json::from_str(&response.body).unwrap();
    assert!(build.source.starts_with("src.tar.gz ("), "{}", build.source);
    let done = wait_build(
        &captain,
        &cookie,
        &app,
        build.id,
        BuildState::Succeeded,
        180,
    )
    .await;
    let log = build_log(&captain, &cookie, &app, build.id).await;
    assert!(
        log.contains("Step 3/"),
        "the builder's steps are in the log:\n{log}"
    );
    assert!(
        log.contains("Setting up busybox-static"),
        "dpkg's output is in the log:\n{log}"
    );
    wait_answer(&app, "built from source").await;
    let version = versions(&captain, &cookie, &app)
        .await
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(Some(version.number), done.version);
    assert_eq!(version.source, format!("build #{}", build.id));
    assert_eq!(version.git_hash.as_deref(), Some("3f9c2ab1"));
    assert_eq!(Some(version.image), done.image);
    delete_app(&captain, &cookie, &app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn captain_definitions_with_lines_a_subfolder_dockerfile_and_an_image_name() {
    blocking(|| {
        testbed::ensure_swarm_engine()?;
        prepare()
    })
    .await
    .unwrap();
    let captain = Captain::start(&["--keep-versions", "2"]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let app = testbed::unique_name("def");
    create_app(&captain, &cookie, &app, "", "1").await;

    let pasted = deploy_definition(&captain, &cookie, &app, &page_definition("from lines")).await;
    wait_build(
        &captain,
        &cookie,
        &app,
        pasted.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    wait_answer(&app, "from lines").await;

    let subfolder = format!(
        "FROM {}\nCOPY site/index.html /www/index.html\n",
        testbed::HTTPD_IMAGE
    );
    let archive = testbed::sources::tarball(&[
        (
            "captain-definition",
            br#"{"schemaVersion": 2, "dockerfilePath": "./docker/Dockerfile"}"#,
        ),
        ("docker/Dockerfile", subfolder.as_bytes()),
        ("site/index.html", b"from a subfolder Dockerfile\n"),
    ])
    .unwrap();
    let built = upload_ok(&captain, &cookie, &app, archive).await;
    wait_build(
        &captain,
        &cookie,
        &app,
        built.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    wait_answer(&app, "from a subfolder Dockerfile").await;

    let named = format!(
        r#"{{"schemaVersion": 2, "imageName": "{}"}}"#,
        testbed::HTTPD_IMAGE
    );
    let archive = testbed::sources::tarball(&[("captain-definition", named.as_bytes())]).unwrap();
    let image_only = upload_ok(&captain, &cookie, &app, archive).await;
    let done = wait_build(
        &captain,
        &cookie,
        &app,
        image_only.id,
        BuildState::Succeeded,
        60,
    )
    .await;
    assert_eq!(done.image.as_deref(), Some(testbed::HTTPD_IMAGE));
    wait_answer(&app, "captain test app").await;
    // Three versions, two kept: the first build's image is pruned from the engine.
    let pruned = format!("captain-builds/{app}:build-{}", pasted.id);
    common::wait_until("the oldest build's image to be pruned", 30, || {
        testbed::docker(&["image", "inspect", &pruned]).is_err()
    })
    .await;
    let kept = format!("captain-builds/{app}:build-{}", built.id);
    assert!(
        testbed::docker(&["image", "inspect", &kept]).is_ok(),
        "{kept} is kept"
    );

    // A definition with a mistake is refused with what is wrong, and nothing is queued.
    let before = builds(&captain, &cookie, &app).await.len();
    let response = captain
        .call(
            &cookie,
            "deploy_definition",
            &[("name", &app), ("definition", r#"{"schemaVersion": 2}"#)],
        )
        .await
        .unwrap();
    assert!(
        response.body.contains("exactly one of imageName"),
        "{}",
        response.body
    );
    assert_eq!(builds(&captain, &cookie, &app).await.len(), before);
    delete_app(&captain, &cookie, &app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_dockerfile_fails_with_its_log_and_the_previous_version_keeps_answering() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("broken");
    create_app(&captain, &cookie, &app, "", "1").await;
    let good = deploy_definition(&captain, &cookie, &app, &page_definition("still here")).await;
    wait_build(&captain, &cookie, &app, good.id, BuildState::Succeeded, 120).await;
    wait_answer(&app, "still here").await;
    let versions_before = versions(&captain, &cookie, &app).await.len();

    let dockerfile = format!(
        "FROM {}\nRUN echo about to fail && no-such-command --flag\n",
        testbed::HTTPD_IMAGE
    );
    let archive = testbed::sources::tarball(&[("Dockerfile", dockerfile.as_bytes())]).unwrap();
    let broken = upload_ok(&captain, &cookie, &app, archive).await;
    let failed = wait_build(&captain, &cookie, &app, broken.id, BuildState::Failed, 120).await;
    assert!(
        failed.message.contains("the build failed"),
        "{}",
        failed.message
    );
    assert!(
        failed.message.contains("no-such-command"),
        "{}",
        failed.message
    );
    let log = build_log(&captain, &cookie, &app, broken.id).await;
    assert!(log.contains("about to fail"), "{log}");
    assert_eq!(
        versions(&captain, &cookie, &app).await.len(),
        versions_before,
        "no version was made"
    );
    assert!(answer(&app).contains("still here"));

    // Not an archive at all: the build says so, and again nothing changes.
    let garbage = upload_ok(&captain, &cookie, &app, b"this is not a tarball".to_vec()).await;
    let failed = wait_build(&captain, &cookie, &app, garbage.id, BuildState::Failed, 30).await;
    assert!(
        failed.message.contains("not a readable tar") || failed.message.contains("neither"),
        "{}",
        failed.message
    );
    assert!(answer(&app).contains("still here"));
    delete_app(&captain, &cookie, &app).await;
}

/// A `multipart/form-data` body as CapRover's CLI and `curl -F` send it.
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "captain-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn caprover_style_form_uploads_build_too() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("form");
    create_app(&captain, &cookie, &app, "", "1").await;
    let path = format!("/api/apps/{app}/builds");
    let send = |(content_type, body): (String, Vec<u8>)| {
        captain
            .request("POST", &path)
            .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
            .header("Content-Type", content_type)
            .bytes(body)
            .send(&captain.address)
    };

    let dockerfile = format!(
        "FROM {}\nRUN echo 'from a form' > /www/index.html\n",
        testbed::HTTPD_IMAGE
    );
    let archive = testbed::sources::tarball(&[("Dockerfile", dockerfile.as_bytes())]).unwrap();
    let response = send(form(&[
        ("sourceFile", Some("app.tar.gz"), &archive),
        ("gitHash", None, b"0123456789abcdef"),
    ]))
    .await
    .unwrap();
    assert_eq!(response.status, 201, "{}", response.body);
    let build: Build = serde_json::from_str(&response.body).unwrap();
    assert!(build.source.starts_with("app.tar.gz ("), "{}", build.source);
    assert_eq!(build.git_hash.as_deref(), Some("0123456789abcdef"));
    wait_build(
        &captain,
        &cookie,
        &app,
        build.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    wait_answer(&app, "from a form").await;

    let definition = page_definition("a definition in a form");
    let response = send(form(&[(
        "captainDefinitionContent",
        None,
        definition.as_bytes(),
    )]))
    .await
    .unwrap();
    assert_eq!(response.status, 201, "{}", response.body);
    let build: Build = serde_json::from_str(&response.body).unwrap();
    wait_build(
        &captain,
        &cookie,
        &app,
        build.id,
        BuildState::Succeeded,
        120,
    )
    .await;
    wait_answer(&app, "a definition in a form").await;

    let response = send(form(&[("somethingElse", None, b"x")])).await.unwrap();
    assert_eq!(response.status, 400);
    assert!(
        response
            .body
            .contains("sourceFile or captainDefinitionContent"),
        "{}",
        response.body
    );
    delete_app(&captain, &cookie, &app).await;
}
