//! The harness itself works: each piece of real infrastructure does what tests rely on.

use testbed::{
    docker, ensure_debian_base, ensure_httpd_image, ensure_swarm_engine, unique_name, Node2,
    Registry,
};

#[test]
fn the_main_engine_is_a_swarm_manager_advertising_the_link_address() {
    ensure_swarm_engine().unwrap();
    let state = docker(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}",
    ])
    .unwrap();
    assert_eq!(state, "active true 10.77.0.1");
}

#[test]
fn the_debian_base_image_runs_bookworm() {
    ensure_swarm_engine().unwrap();
    ensure_debian_base().unwrap();
    let version = docker(&[
        "run",
        "--rm",
        "debian:bookworm-slim",
        "cat",
        "/etc/debian_version",
    ])
    .unwrap();
    assert!(version.starts_with("12."), "{version}");
}

#[test]
fn the_registry_accepts_a_push_and_lists_the_repository() {
    ensure_swarm_engine().unwrap();
    ensure_httpd_image().unwrap();
    let registry = Registry::start("127.0.0.1").unwrap();
    let repository = unique_name("harness");
    let tag = format!("{}/{repository}:1", registry.address());
    docker(&["tag", testbed::HTTPD_IMAGE, &tag]).unwrap();
    let pushed = docker(&["push", &tag]);
    let _ = docker(&["rmi", &tag]);
    pushed.unwrap();
    let catalog = testbed::run(
        "curl",
        &["-sf", &format!("http://{}/v2/_catalog", registry.address())],
    )
    .unwrap();
    assert!(catalog.contains(&repository), "{catalog}");
}

#[test]
fn node2_has_its_own_engine_reachable_over_ssh_with_the_test_key() {
    let node2 = Node2::acquire().unwrap();
    let root = node2
        .ssh("docker info --format '{{.DockerRootDir}} {{.Swarm.LocalNodeState}}'")
        .unwrap();
    assert_eq!(root, "/var/lib/captain-node2/docker inactive");
    let main_root = docker(&["info", "--format", "{{.DockerRootDir}}"]).unwrap();
    assert_ne!(main_root, "/var/lib/captain-node2/docker");
}

#[test]
fn node2_joins_runs_a_task_from_a_loaded_image_and_leaves_cleanly() {
    let node2 = Node2::acquire().unwrap();
    ensure_httpd_image().unwrap();
    node2.load_image(testbed::HTTPD_IMAGE).unwrap();
    let node_id = node2.join_as_worker().unwrap();
    let name = unique_name("harness-n2");
    let created =
        testbed::create_test_service(&name, &["--constraint", &format!("node.id=={node_id}")]);
    let running = created.and_then(|_| {
        testbed::wait_for(
            "the task on node2",
            std::time::Duration::from_secs(60),
            || {
                let states =
                    docker(&["service", "ps", "--format", "{{.CurrentState}}", &name]).ok()?;
                states.starts_with("Running").then_some(())
            },
        )
    });
    let _ = docker(&["service", "rm", &name]);
    running.unwrap();
    drop(node2);
    let nodes = docker(&["node", "ls", "-q"]).unwrap();
    assert!(
        !nodes.contains(&node_id),
        "node2 was not removed from the swarm"
    );
}
