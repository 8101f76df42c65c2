//! Starting Captain: swarm and network are prepared on an empty engine, a second start
//! changes nothing, and a Docker host that cannot be reached is a clear error.

mod common;

use common::Captain;
use testbed::Node2;

#[test]
fn starting_on_an_empty_engine_initialises_swarm_and_network_and_restarting_changes_nothing() {
    // node2's engine starts outside any swarm, so this test can watch Captain set one up
    // without disturbing the main engine's swarm that other tests use.
    let node2 = Node2::acquire().unwrap();
    assert_eq!(
        node2
            .docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
            .unwrap(),
        "inactive"
    );
    let args = [
        "--docker-host",
        node2.socket(),
        "--advertise-addr",
        node2.address(),
    ];

    let captain = Captain::start(&args).unwrap();
    let swarm = node2
        .docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}",
        ])
        .unwrap();
    assert_eq!(swarm, "active true 10.77.0.2");
    let node_id = node2.node_id().unwrap();
    let network = node2
        .docker(&[
            "network",
            "inspect",
            "--format",
            "{{.Id}} {{.Driver}} {{.Attachable}}",
            "captain-apps",
        ])
        .unwrap();
    assert!(network.ends_with(" overlay true"), "{network}");
    assert!(captain.data_dir.path().join("captain.db").exists());

    let data_dir = captain.stop();
    let again = Captain::start_in(data_dir, &args).unwrap();
    assert_eq!(
        node2.node_id().unwrap(),
        node_id,
        "the swarm was re-created"
    );
    let network_again = node2
        .docker(&[
            "network",
            "inspect",
            "--format",
            "{{.Id}} {{.Driver}} {{.Attachable}}",
            "captain-apps",
        ])
        .unwrap();
    assert_eq!(network_again, network, "the network was re-created");
    let networks = node2
        .docker(&["network", "ls", "--format", "{{.Name}}"])
        .unwrap();
    assert_eq!(
        networks
            .lines()
            .filter(|name| *name == "captain-apps")
            .count(),
        1
    );
    drop(again);
}

#[test]
fn an_unreachable_docker_host_is_a_clear_error_naming_the_address() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_captain"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--docker-host",
            "tcp://127.0.0.1:9",
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot reach the Docker engine at tcp://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_docker_socket_is_a_clear_error_naming_the_path() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_captain"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--docker-host",
            "unix:///run/captain-no-such.sock",
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("unix:///run/captain-no-such.sock"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
