//! The status websocket against the real engine: a snapshot first, then the changes that
//! docker CLI actions and crashes cause, and node2 joining and dying.

mod common;

use common::{blocking, Captain};
use std::time::Duration;
use testbed::{
    create_test_service, docker, ensure_httpd_image, ensure_swarm_engine, unique_name, Node2,
};
use types::{ClusterChange, NodeState, TaskState};

fn prepare_engine() -> anyhow::Result<()> {
    ensure_swarm_engine()?;
    ensure_httpd_image()
}

#[tokio::test]
async fn a_client_gets_the_snapshot_then_service_create_and_remove_as_changes() {
    blocking(prepare_engine).await.unwrap();
    let captain = Captain::start(&[]).unwrap();
    let mut client = captain.status_client().await.unwrap();
    let leader = docker(&["info", "--format", "{{.Swarm.NodeID}}"]).unwrap();
    let node = &client.snapshot.nodes[&leader.as_str().into()];
    assert!(node.leader);
    assert_eq!(node.state, NodeState::Ready);
    assert!(node.nano_cpus > 0 && node.memory_bytes > 0 && !node.engine_version.is_empty());

    let name = unique_name("ws-svc");
    let created = name.clone();
    let service_id = blocking(move || create_test_service(&created, &[]))
        .await
        .unwrap();
    let change = client
        .wait_for_change("the new service", Duration::from_secs(10), |change| {
            matches!(change, ClusterChange::ServiceUpserted(service) if service.name == name)
        })
        .await
        .unwrap();
    let ClusterChange::ServiceUpserted(service) = change else {
        unreachable!()
    };
    assert_eq!(service.id.0, service_id);
    assert_eq!(service.replicas, Some(1));
    client
        .wait_for_change("its task running", Duration::from_secs(30), |change| {
            matches!(change, ClusterChange::TaskUpserted(task)
                if task.service_id == service.id && task.state == TaskState::Running)
        })
        .await
        .unwrap();

    let removed = name.clone();
    blocking(move || docker(&["service", "rm", &removed]))
        .await
        .unwrap();
    client
        .wait_for_change(
            "the service removal",
            Duration::from_secs(10),
            |change| matches!(change, ClusterChange::ServiceRemoved(id) if *id == service.id),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn killing_a_task_container_is_reported_as_a_failed_task() {
    blocking(prepare_engine).await.unwrap();
    let captain = Captain::start(&[]).unwrap();
    let mut client = captain.status_client().await.unwrap();
    let name = unique_name("ws-kill");
    let created = name.clone();
    let service_id = blocking(move || create_test_service(&created, &[]))
        .await
        .unwrap();
    let running = client
        .wait_for_change("a running task", Duration::from_secs(30), |change| {
            matches!(change, ClusterChange::TaskUpserted(task)
                if task.service_id.0 == service_id && task.state == TaskState::Running && task.container_id.is_some())
        })
        .await
        .unwrap();
    let ClusterChange::TaskUpserted(task) = running else {
        unreachable!()
    };
    let container = task.container_id.clone().unwrap();

    blocking(move || docker(&["kill", &container]))
        .await
        .unwrap();
    let failed = client
        .wait_for_change("the task to fail", Duration::from_secs(10), |change| {
            matches!(change, ClusterChange::TaskUpserted(t) if t.id == task.id && t.state == TaskState::Failed)
        })
        .await
        .unwrap();
    let ClusterChange::TaskUpserted(failed) = failed else {
        unreachable!()
    };
    assert_eq!(failed.exit_code, Some(137), "{failed:?}");

    blocking(move || docker(&["service", "rm", &name]))
        .await
        .unwrap();
}

#[tokio::test]
async fn node2_joining_is_reported_ready_and_killing_its_engine_reports_it_down() {
    let node2 = blocking(Node2::acquire).await.unwrap();
    let captain = Captain::start(&[]).unwrap();
    let mut client = captain.status_client().await.unwrap();

    let node2 = std::sync::Arc::new(node2);
    let joining = node2.clone();
    let node_id = blocking(move || joining.join_as_worker()).await.unwrap();
    client
        .wait_for_change("node2 to be Ready", Duration::from_secs(30), |change| {
            matches!(change, ClusterChange::NodeUpserted(node) if node.id.0 == node_id && node.state == NodeState::Ready)
        })
        .await
        .unwrap();
    assert_eq!(
        client.snapshot.nodes[&node_id.as_str().into()].addr,
        "10.77.0.2"
    );

    let killing = node2.clone();
    blocking(move || killing.kill_engine()).await.unwrap();
    client
        .wait_for_change("node2 to be Down", Duration::from_secs(60), |change| {
            matches!(change, ClusterChange::NodeUpserted(node) if node.id.0 == node_id && node.state == NodeState::Down)
        })
        .await
        .unwrap();
    // Clean-up (restart node2's engine, leave, remove the node) blocks: keep it off the runtime.
    drop(captain);
    tokio::task::spawn_blocking(move || drop(node2))
        .await
        .unwrap();
}
