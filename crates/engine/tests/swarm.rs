//! Swarm preparation against the real engine: nothing changes when everything is in place,
//! and a conflicting network is refused with a clear error.

use engine::{connect, ensure_overlay_network, ensure_swarm, DockerAddress};
use testbed::{docker, ensure_swarm_engine, unique_name};

async fn main_engine() -> bollard::Docker {
    ensure_swarm_engine().unwrap();
    connect(&DockerAddress::resolve(None)).await.unwrap()
}

#[tokio::test]
async fn an_active_swarm_is_left_as_it_is() {
    let docker_api = main_engine().await;
    let expected = docker(&["info", "--format", "{{.Swarm.NodeID}}"]).unwrap();
    let ready = ensure_swarm(&docker_api, Some("10.77.0.1")).await.unwrap();
    assert!(!ready.initialised_now);
    assert_eq!(ready.node_id, expected);
}

#[tokio::test]
async fn the_overlay_network_is_created_once() {
    let docker_api = main_engine().await;
    let name = unique_name("net");
    let first = ensure_overlay_network(&docker_api, &name).await;
    let second = ensure_overlay_network(&docker_api, &name).await;
    let details = docker(&[
        "network",
        "inspect",
        "--format",
        "{{.Driver}} {{.Attachable}}",
        &name,
    ]);
    let _ = docker(&["network", "rm", &name]);
    assert!(first.unwrap(), "the first call creates it");
    assert!(!second.unwrap(), "the second call finds it");
    assert_eq!(details.unwrap(), "overlay true");
}

#[tokio::test]
async fn a_non_overlay_network_with_the_same_name_is_refused() {
    let docker_api = main_engine().await;
    let name = unique_name("net-bridge");
    docker(&["network", "create", "--driver", "bridge", &name]).unwrap();
    let result = ensure_overlay_network(&docker_api, &name).await;
    let _ = docker(&["network", "rm", &name]);
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&name) && message.contains("bridge"),
        "{message}"
    );
}
