//! Joining over SSH against node2's real sshd and engine: every way it can go wrong gives
//! its own error and leaves node2 out of the swarm; the right key joins it and the node is
//! Ready when `join` returns.

use engine::join::{host_key, join, JoinError, JoinRequest, JoinRole};
use engine::Secret;
use testbed::{docker, Node2, LEADER_ADDR, NODE2_ADDR};

fn request(node2: &Node2, key: &str, user: &str, host_key: Option<String>) -> JoinRequest {
    let _ = node2;
    JoinRequest {
        captain_ip: LEADER_ADDR.to_owned(),
        remote_ip: NODE2_ADDR.to_owned(),
        ssh_port: 22,
        user: user.to_owned(),
        private_key: Secret::new(key),
        passphrase: None,
        role: JoinRole::Worker,
        host_key,
        trust: Vec::new(),
    }
}

fn fresh_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    testbed::run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            path.to_str().unwrap(),
        ],
    )
    .unwrap();
    std::fs::read_to_string(path).unwrap()
}

fn in_swarm(node2: &Node2) -> String {
    node2
        .docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .unwrap()
}

#[tokio::test]
async fn joins_over_ssh_with_clear_errors_for_every_failure() {
    let node2 = tokio::task::spawn_blocking(Node2::acquire)
        .await
        .unwrap()
        .unwrap();
    let key = std::fs::read_to_string(node2.ssh_key_path()).unwrap();
    let leader = docker(&["info", "--format", "{{.Swarm.NodeID}}"]).unwrap();
    let swarm = engine::connect(&engine::DockerAddress::resolve(None))
        .await
        .unwrap();

    // The fingerprint shown is the one sshd really has.
    let fingerprint = host_key(NODE2_ADDR, 22).await.unwrap();
    let expected = testbed::run(
        "ssh-keygen",
        &[
            "-l",
            "-E",
            "sha256",
            "-f",
            "/var/lib/captain-node2/ssh_host_ed25519_key.pub",
        ],
    )
    .unwrap();
    assert!(
        expected.contains(&fingerprint),
        "{fingerprint} vs {expected}"
    );

    let failures = [
        (
            request(&node2, &fresh_key(), "root", Some(fingerprint.clone())),
            "refused this key",
        ),
        // node2's sshd takes the test key for any user: these two have a shell, but one
        // is outside the docker group and the other finds no `docker` at all.
        (
            request(
                &node2,
                &key,
                testbed::node2::PLAIN_USER,
                Some(fingerprint.clone()),
            ),
            "cannot use Docker",
        ),
        (
            request(
                &node2,
                &key,
                testbed::node2::NO_DOCKER_USER,
                Some(fingerprint.clone()),
            ),
            "Docker is not installed",
        ),
        (
            request(&node2, &key, "no-such-user", Some(fingerprint.clone())),
            "refused",
        ),
        (
            request(&node2, &key, "root", Some("SHA256:AAAA".into())),
            "host key",
        ),
        (
            request(&node2, "not a key", "root", Some(fingerprint.clone())),
            "cannot be read",
        ),
    ];
    for (request, expected) in failures {
        let error = join(&swarm, &request, |_| {}).await.unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert!(
            !error.to_string().contains("PRIVATE KEY"),
            "the key must not appear in errors"
        );
        assert_eq!(in_swarm(&node2), "inactive");
    }
    let mut unreachable = request(&node2, &key, "root", Some(fingerprint.clone()));
    unreachable.remote_ip = "10.77.0.99".into();
    assert!(matches!(
        join(&swarm, &unreachable, |_| {}).await,
        Err(JoinError::Unreachable { .. })
    ));
    let mut wrong_captain = request(&node2, &key, "root", Some(fingerprint.clone()));
    wrong_captain.captain_ip = "10.77.0.99".into();
    assert!(matches!(
        join(&swarm, &wrong_captain, |_| {}).await,
        Err(JoinError::CannotReachCaptain { .. })
    ));
    assert_eq!(in_swarm(&node2), "inactive");

    // The right key joins, each step reported, and the node is Ready on return.
    let mut steps = Vec::new();
    let good = request(&node2, &key, "root", Some(fingerprint.clone()));
    let started = std::time::Instant::now();
    let node_id = join(&swarm, &good, |p| steps.push(p.step)).await.unwrap();
    println!("join over SSH took {:?}", started.elapsed());
    assert_eq!(
        steps,
        [
            "ssh",
            "docker",
            "swarm",
            "reaches-captain",
            "captain-reaches",
            "joined",
            "ready"
        ]
    );
    assert_ne!(node_id, leader);
    assert_eq!(
        docker(&["node", "inspect", "--format", "{{.Status.State}}", &node_id]).unwrap(),
        "ready"
    );
    let again = join(&swarm, &good, |_| {}).await.unwrap_err();
    assert!(matches!(again, JoinError::InSwarm { .. }), "{again}");
    drop(node2);
}
