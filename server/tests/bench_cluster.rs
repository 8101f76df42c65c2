//! Benchmark (ignored; `scripts/bench.sh` runs it): joining node2 over SSH, split into
//! preflight (SSH and every check), the join itself and waiting for Ready; then, with an
//! app of 6 instances over both nodes, the time from killing node2's engine to "Down" on
//! the dashboard's websocket and to all 6 instances running on the leader again.

mod common;

use common::{blocking, Captain};
use engine::join::{join, JoinRequest, JoinRole};
use std::time::{Duration, Instant};
use testbed::{
    docker, ensure_debian_base, ensure_httpd_image, unique_name, Node2, HTTPD_IMAGE, LEADER_ADDR,
    NODE2_ADDR,
};
use types::{ClusterChange, NodeState};

#[tokio::test]
#[ignore = "benchmark; run by scripts/bench.sh"]
async fn join_and_node_death_timings() {
    let node2 = blocking(|| {
        ensure_debian_base()?;
        ensure_httpd_image()?;
        let node2 = Node2::acquire()?;
        node2.load_image(HTTPD_IMAGE)?;
        Ok(node2)
    })
    .await
    .unwrap();
    let swarm = engine::connect(&engine::DockerAddress::resolve(None))
        .await
        .unwrap();
    let fingerprint = engine::join::host_key(NODE2_ADDR, 22).await.unwrap();
    let request = JoinRequest {
        captain_ip: LEADER_ADDR.to_owned(),
        remote_ip: NODE2_ADDR.to_owned(),
        ssh_port: 22,
        user: "root".to_owned(),
        private_key: engine::Secret::new(std::fs::read_to_string(node2.ssh_key_path()).unwrap()),
        passphrase: None,
        role: JoinRole::Worker,
        host_key: Some(fingerprint),
        trust: Vec::new(),
    };
    let started = Instant::now();
    let mut marks = Vec::new();
    let worker = join(&swarm, &request, |p| {
        marks.push((p.step, started.elapsed()))
    })
    .await
    .unwrap();
    let at = |step: &str| marks.iter().find(|(s, _)| s == step).unwrap().1;
    let (preflight, joined, ready) = (at("captain-reaches"), at("joined"), at("ready"));
    println!(
        "BENCH cluster join over SSH: preflight {:.0} ms, join {:.0} ms, until Ready {:.0} ms, total {:.0} ms",
        preflight.as_secs_f64() * 1e3,
        (joined - preflight).as_secs_f64() * 1e3,
        (ready - joined).as_secs_f64() * 1e3,
        ready.as_secs_f64() * 1e3
    );

    let captain = Captain::start(&[]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let leader = docker(&["info", "--format", "{{.Swarm.NodeID}}"]).unwrap();
    let app = unique_name("bench-spread");
    let service = format!("captain-app-{app}");
    common::create_app(&captain, &cookie, &app, HTTPD_IMAGE, "6").await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(common::running_on(&leader, &service) + common::running_on(&worker, &service) == 6
        && common::running_on(&worker, &service) > 0)
    {
        assert!(
            Instant::now() < deadline,
            "the app never spread over both nodes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut status = captain.status_client().await.unwrap();
    status
        .wait_for_snapshot("the first snapshot", Duration::from_secs(10), |s| {
            !s.nodes.is_empty()
        })
        .await
        .unwrap();

    let killed = Instant::now();
    node2.kill_engine().unwrap();
    let worker_id = worker.clone();
    status
        .wait_for_change("node2 Down", Duration::from_secs(60), |change| {
            matches!(change, ClusterChange::NodeUpserted(node) if node.id.0 == worker_id && node.state == NodeState::Down)
        })
        .await
        .unwrap();
    let down = killed.elapsed();
    while common::running_on(&leader, &service) < 6 {
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "replicas never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = killed.elapsed();
    println!(
        "BENCH cluster node death: Down on the dashboard after {:.1} s, all 6 instances running on the leader after {:.1} s",
        down.as_secs_f64(),
        back.as_secs_f64()
    );
    common::delete_app(&captain, &cookie, &app).await;
    drop(node2);
}
