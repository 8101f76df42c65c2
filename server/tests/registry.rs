//! Registries against the real thing: Captain's managed registry (a swarm service from
//! `registry:2`, TLS from Captain's CA, generated password) takes every deploy, refuses
//! anonymous access, takes apps deployed before it existed without a rebuild, serves a
//! second node, and a stopped registry fails the next deploy clearly while the app keeps
//! running; a third party's registry is checked before it is saved.

mod common;

use common::{blocking, Captain};
use serde_json::Value;
use std::time::Duration;
use testbed::registry_image::{ensure_registry_image, SecuredRegistry};
use testbed::{
    docker, ensure_debian_base, ensure_httpd_image, ensure_swarm_engine, ensure_ticker_image,
    free_port, unique_name, Node2, HTTPD_IMAGE, LEADER_ADDR, TICKER_IMAGE,
};

async fn call_json(
    captain: &Captain,
    cookie: &str,
    function: &str,
    fields: &[(&str, &str)],
) -> Value {
    let response = captain.call(cookie, function, fields).await.unwrap();
    assert!(
        response.status < 400,
        "{function}: {response:?}\n{}",
        captain.log()
    );
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

fn service_image(app: &str) -> String {
    docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &format!("captain-app-{app}"),
    ])
    .unwrap_or_default()
}

/// Deploys `image` as the settings form does.
async fn deploy(captain: &Captain, cookie: &str, app: &str, image: &str) {
    let details = call_json(captain, cookie, "get_app", &[("name", app)]).await;
    let revision = details["app"]["revision"].to_string();
    let instances = details["app"]["spec"]["instances"].to_string();
    call_json(
        captain,
        cookie,
        "save_app",
        &[
            ("name", app),
            ("revision", &revision),
            ("image", image),
            ("http_port", "80"),
            ("instances", &instances),
            ("env", ""),
            ("volumes", ""),
        ],
    )
    .await;
}

/// The newest version of `app`, as the app page gets it.
async fn latest_version(captain: &Captain, cookie: &str, app: &str) -> Value {
    let details = call_json(captain, cookie, "get_app", &[("name", app)]).await;
    details["versions"][0].clone()
}

/// The managed registry's password, read the way Captain reads it: unsealed from its store.
fn managed_password(captain: &Captain) -> String {
    let store = engine::Store::open(captain.data_dir.path()).unwrap();
    let key =
        engine::SecretBox::open_or_create(&captain.data_dir.path().join("secret.key")).unwrap();
    let secrets = engine::secrets::SecretStore::new(store, key);
    secrets
        .get("managed-registry-password")
        .unwrap()
        .unwrap()
        .expose()
        .to_owned()
}

#[tokio::test]
async fn the_managed_registry_takes_every_deploy_and_serves_every_node() {
    blocking(|| {
        ensure_swarm_engine()?;
        ensure_debian_base()?;
        ensure_httpd_image()?;
        ensure_ticker_image()?;
        ensure_registry_image()
    })
    .await
    .unwrap();
    let port = free_port().to_string();
    let captain = Captain::start(&["--registry-port", &port]).unwrap();
    let cookie = captain.sign_in().await.unwrap();

    // An app deployed before any registry exists runs from the local image.
    let early = unique_name("early");
    common::create_app(&captain, &cookie, &early, HTTPD_IMAGE, "1").await;
    common::wait_until("the early app to run", 60, || {
        service_image(&early) == HTTPD_IMAGE
    })
    .await;

    let enabled = call_json(&captain, &cookie, "enable_managed_registry", &[]).await;
    let address = enabled["address"].as_str().unwrap().to_owned();
    assert_eq!(address, format!("{LEADER_ADDR}:{port}"));
    assert_eq!(enabled["is_default"], true, "{enabled}");
    assert!(!enabled.to_string().contains(&managed_password(&captain)));

    // TLS from Captain's CA (installed for Docker), and no way in without the password.
    let ca_file = format!("/etc/docker/certs.d/{address}/ca.crt");
    let anonymous = testbed::run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &ca_file,
            &format!("https://{address}/v2/"),
        ],
    )
    .unwrap();
    assert_eq!(anonymous, "401");

    // Push existing: no rebuild, the running image itself; the service moves over.
    let overview = call_json(&captain, &cookie, "get_registries", &[]).await;
    assert!(
        overview["unpushed"].to_string().contains(&early),
        "{overview}"
    );
    let outcomes = call_json(&captain, &cookie, "push_existing_apps", &[]).await;
    assert!(outcomes.to_string().contains("\"Ok\""), "{outcomes}");
    let early_ref = format!("{address}/captain/{early}:v1");
    common::wait_until("the early app to run from the registry", 60, || {
        service_image(&early).starts_with(&early_ref)
    })
    .await;

    // Every new deploy is pushed, and listed by the registry with the generated password.
    let app = unique_name("pushed");
    common::create_app(&captain, &cookie, &app, HTTPD_IMAGE, "1").await;
    let pushed_ref = format!("{address}/captain/{app}:v1");
    common::wait_until("the deploy to run from the registry", 90, || {
        service_image(&app).starts_with(&pushed_ref)
    })
    .await;
    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
    let client = engine::registry::client::RegistryClient::new(
        &address,
        "captain",
        &managed_password(&captain),
        Some(&ca_pem),
    )
    .unwrap();
    client.check().await.unwrap();
    assert_eq!(
        client.tags(&format!("captain/{app}")).await.unwrap(),
        vec!["v1"]
    );
    // A build from source goes the same way: built here, pushed, run from the registry.
    let built = unique_name("built");
    common::create_app(&captain, &cookie, &built, "", "1").await;
    let definition = common::builds::page_definition("built and pushed");
    let build = common::builds::deploy_definition(&captain, &cookie, &built, &definition).await;
    common::builds::wait_build(
        &captain,
        &cookie,
        &built,
        build.id,
        types::BuildState::Succeeded,
        120,
    )
    .await;
    let built_ref = format!("{address}/captain/{built}:v1");
    common::wait_until("the built app to run from the registry", 90, || {
        service_image(&built).starts_with(&built_ref)
    })
    .await;
    assert_eq!(
        client.tags(&format!("captain/{built}")).await.unwrap(),
        vec!["v1"]
    );
    common::delete_app(&captain, &cookie, &built).await;
    let wrong =
        engine::registry::client::RegistryClient::new(&address, "captain", "nope", Some(&ca_pem))
            .unwrap()
            .check()
            .await
            .unwrap_err();
    assert!(
        wrong.to_string().contains("refused these credentials"),
        "{wrong}"
    );

    // A second node pulls the app from the registry (it never had the image).
    let node2 = blocking(Node2::acquire).await.unwrap();
    let node2_id = blocking(move || {
        let id = node2.join_as_worker()?;
        Ok((node2, id))
    })
    .await
    .unwrap();
    let (node2, node2_id) = node2_id;
    captain
        .call(&cookie, "scale_app", &[("name", &app), ("instances", "4")])
        .await
        .unwrap();
    let service = format!("captain-app-{app}.");
    // Both engines share this machine's hostname: tell node2's tasks by its node ID.
    common::wait_until("an instance running on node2", 120, || {
        docker(&[
            "node",
            "ps",
            &node2_id,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Name}} {{.Image}} {{.CurrentState}}",
        ])
        .unwrap_or_default()
        .lines()
        .any(|line| {
            line.starts_with(&service) && line.contains(&pushed_ref) && line.contains("Running")
        })
    })
    .await;
    drop(node2);

    // Version 2, then clean-up keeping one version per app: v1 goes, its disk is freed.
    deploy(&captain, &cookie, &app, TICKER_IMAGE).await;
    let v2_ref = format!("{address}/captain/{app}:v2");
    common::wait_until("version 2 to run from the registry", 90, || {
        service_image(&app).starts_with(&v2_ref)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while latest_version(&captain, &cookie, &app).await["state"] != "Live" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "version 2 never went live"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let report = call_json(&captain, &cookie, "clean_up_registry", &[("keep", "1")]).await;
    // (The deleted built app's tag goes too: no app needs it any more.)
    let mut deleted: Vec<String> = serde_json::from_value(report["deleted"].clone()).unwrap();
    deleted.sort();
    let mut expected = vec![format!("captain/{app}:v1"), format!("captain/{built}:v1")];
    expected.sort();
    assert_eq!(deleted, expected, "{report}");
    assert!(
        report["bytes_after"].as_u64() < report["bytes_before"].as_u64(),
        "{report}"
    );
    assert_eq!(
        client.tags(&format!("captain/{app}")).await.unwrap(),
        vec!["v2"]
    );
    assert_eq!(
        client.tags(&format!("captain/{early}")).await.unwrap(),
        vec!["v1"]
    );

    // A stopped registry: the next deploy fails saying so; the app keeps its version.
    let registry_service = docker(&["service", "ls", "--format", "{{.Name}}"])
        .unwrap()
        .lines()
        .find(|name| {
            name.starts_with("captain-registry-") && {
                docker(&[
                    "service",
                    "inspect",
                    "--format",
                    "{{json .Spec.EndpointSpec.Ports}}",
                    name,
                ])
                .unwrap_or_default()
                .contains(&format!("\"PublishedPort\":{port},"))
            }
        })
        .unwrap()
        .to_owned();
    docker(&[
        "service",
        "scale",
        "--detach",
        &format!("{registry_service}=0"),
    ])
    .unwrap();
    common::wait_until("the registry to stop", 30, || {
        std::net::TcpStream::connect((LEADER_ADDR, port.parse::<u16>().unwrap())).is_err()
    })
    .await;
    deploy(&captain, &cookie, &app, HTTPD_IMAGE).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let version = latest_version(&captain, &cookie, &app).await;
        if version["state"] == "Failed" {
            break version;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deploy did not fail: {version}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("cannot push to {address}")),
        "{message}"
    );
    assert!(
        service_image(&app).starts_with(&v2_ref),
        "the app must keep v2"
    );
    assert_eq!(
        call_json(&captain, &cookie, "get_app", &[("name", &app)]).await["app"]["spec"]["image"],
        TICKER_IMAGE,
        "the app's spec goes back to the version that runs"
    );

    for name in [&app, &early] {
        common::delete_app(&captain, &cookie, name).await;
    }
    common::remove_registry(&port).await;
}

#[tokio::test]
async fn a_third_party_registry_is_checked_before_it_is_saved() {
    blocking(|| {
        ensure_swarm_engine()?;
        ensure_debian_base()?;
        ensure_httpd_image()
    })
    .await
    .unwrap();
    let registry = SecuredRegistry::start("127.0.0.1", "ci", "right-password").unwrap();
    let captain = Captain::start(&[]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let form = |password: &'static str, ca: String| {
        vec![
            ("address", registry.address.clone()),
            ("username", "ci".to_owned()),
            ("password", password.to_owned()),
            ("prefix", "team/apps".to_owned()),
            ("ca_pem", ca),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let (captain, cookie) = (&captain, cookie.clone());
        async move {
            let borrowed: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            captain
                .call(&cookie, "add_registry", &borrowed)
                .await
                .unwrap()
        }
    };
    let wrong = send(form("wrong-password", registry.ca_pem.clone())).await;
    assert!(
        wrong.status >= 400 && wrong.body.contains("refused these credentials"),
        "{wrong:?}"
    );
    let untrusted = send(form("right-password", String::new())).await;
    assert!(
        untrusted.status >= 400 && untrusted.body.contains("CA certificate"),
        "{untrusted:?}"
    );
    let overview = call_json(&captain, &cookie, "get_registries", &[]).await;
    assert_eq!(
        overview["registries"],
        serde_json::json!([]),
        "nothing saved on failure"
    );

    let saved = send(form("right-password", registry.ca_pem.clone())).await;
    assert!(saved.status < 400, "{saved:?}\n{}", captain.log());
    assert!(!saved.body.contains("right-password"));
    let app = unique_name("third");
    common::create_app(&captain, &cookie, &app, HTTPD_IMAGE, "1").await;
    let pushed = format!("{}/team/apps/{app}:v1", registry.address);
    common::wait_until(
        "the deploy to run from the third-party registry",
        90,
        || service_image(&app).starts_with(&pushed),
    )
    .await;
    let client = engine::registry::client::RegistryClient::new(
        &registry.address,
        "ci",
        "right-password",
        Some(&registry.ca_pem),
    )
    .unwrap();
    assert_eq!(
        client.tags(&format!("team/apps/{app}")).await.unwrap(),
        vec!["v1"]
    );
    common::delete_app(&captain, &cookie, &app).await;
}
