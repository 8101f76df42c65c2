//! The "Join a server" wizard's API against node2's real sshd: read the host key, join
//! with the private key (installing the managed registry's CA on the way), and the key
//! shows up nowhere — not in the answer, not in the log, not in Captain's data folder.

mod common;

use common::{blocking, Captain};
use serde_json::Value;
use testbed::{docker, Node2, LEADER_ADDR, NODE2_ADDR};

/// node2 for this test alone, its SSH key, and a signed-in Captain whose managed
/// registry (once enabled) takes a port of its own.
struct Setup {
    node2: Node2,
    key: String,
    captain: Captain,
    cookie: String,
    port: String,
}

async fn setup() -> Setup {
    let node2 = blocking(|| {
        testbed::ensure_debian_base()?;
        testbed::registry_image::ensure_registry_image()?;
        Node2::acquire()
    })
    .await
    .unwrap();
    let key = std::fs::read_to_string(node2.ssh_key_path()).unwrap();
    let port = testbed::free_port().to_string();
    let captain = Captain::start(&["--registry-port", &port]).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    Setup {
        node2,
        key,
        captain,
        cookie,
        port,
    }
}

#[tokio::test]
async fn the_wizard_joins_a_server_and_forgets_its_key() {
    let Setup {
        node2,
        key,
        captain,
        cookie,
        port,
    } = setup().await;

    // With a managed registry, the joining server must trust its CA: the join installs it
    // over SSH (removed here first, so only the join can have put it back).
    let enabled = captain
        .call(&cookie, "enable_managed_registry", &[])
        .await
        .unwrap();
    assert!(enabled.status < 400, "{enabled:?}");
    let ca_file = format!("/etc/docker/certs.d/{LEADER_ADDR}:{port}/ca.crt");
    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
    std::fs::remove_file(&ca_file).unwrap();

    let outcome = join_node2(&captain, &cookie, &key, "", "worker").await;
    let node_id = outcome["node_id"].as_str().unwrap();
    assert_eq!(
        docker(&["node", "inspect", "--format", "{{.Status.State}}", node_id]).unwrap(),
        "ready"
    );
    assert_eq!(outcome["steps"].as_array().unwrap().len(), 8, "{outcome}");
    assert!(
        outcome["steps"].to_string().contains("registry-ca"),
        "{outcome}"
    );
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), ca_pem);

    // The key's secret part appears in no answer, no log line, no file Captain keeps.
    let secret_line = key
        .lines()
        .find(|line| line.len() > 40 && !line.starts_with("-----"))
        .unwrap()
        .to_owned();
    assert!(!outcome.to_string().contains(&secret_line));
    assert!(!captain.log().contains(&secret_line));
    let data_dir = captain.data_dir.path().to_owned();
    let found = testbed::run(
        "grep",
        &["-rl", "--", &secret_line, data_dir.to_str().unwrap()],
    );
    assert!(
        found.is_err() || found.unwrap().is_empty(),
        "the key was written to disk"
    );
    drop(node2);
    common::remove_registry(&port).await;
}

/// Joins node2 through the API as `role`, returning the answer's body.
async fn join_node2(
    captain: &Captain,
    cookie: &str,
    key: &str,
    keep_key: &str,
    role: &str,
) -> Value {
    let read = captain
        .call(
            cookie,
            "read_host_key",
            &[("remote_ip", NODE2_ADDR), ("ssh_port", "22")],
        )
        .await
        .unwrap();
    let fingerprint: String = serde_json::from_str(&read.body).unwrap();
    assert!(fingerprint.starts_with("SHA256:"), "{read:?}");
    let remote = format!("{NODE2_ADDR}:22");
    let fields = [
        ("captain_ip", LEADER_ADDR),
        ("remote", remote.as_str()),
        ("user", "root"),
        ("private_key", key),
        ("passphrase", ""),
        ("role", role),
        ("host_key", fingerprint.as_str()),
        ("keep_key", keep_key),
    ];
    let joined = captain.call(cookie, "join_server", &fields).await.unwrap();
    assert!(joined.status < 400, "{joined:?}\n{}", captain.log());
    serde_json::from_str(&joined.body).unwrap()
}

async fn node_action(captain: &Captain, cookie: &str, node_id: &str, action: &str) -> String {
    let done = captain
        .call(
            cookie,
            "node_action",
            &[("node_id", node_id), ("action", action)],
        )
        .await
        .unwrap();
    assert!(done.status < 400, "{done:?}");
    serde_json::from_str(&done.body).unwrap()
}

async fn remove_node(captain: &Captain, cookie: &str, node_id: &str) -> String {
    node_action(captain, cookie, node_id, "remove").await
}

/// `manager reachable`, `worker ` …: the node's role as the swarm sees it.
fn role_of(node_id: &str) -> String {
    docker(&[
        "node",
        "inspect",
        "--format",
        "{{.Spec.Role}} {{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{end}}",
        node_id,
    ])
    .unwrap_or_default()
}

#[tokio::test]
async fn a_server_joins_as_manager_then_is_demoted_and_promoted_again() {
    // (A new manager replays the swarm's whole raft log: on the log a test run leaves,
    // this engine times out, so the test starts from an empty swarm.)
    let node2 = blocking(|| {
        let node2 = Node2::acquire()?;
        testbed::engine::fresh_swarm()?;
        Ok(node2)
    })
    .await
    .unwrap();
    let key = std::fs::read_to_string(node2.ssh_key_path()).unwrap();
    let captain = Captain::start(&[]).unwrap();
    let cookie = captain.sign_in().await.unwrap();

    let outcome = join_node2(&captain, &cookie, &key, "", "manager").await;
    let node_id = outcome["node_id"].as_str().unwrap().to_owned();
    assert_eq!(role_of(&node_id), "manager reachable");
    let control = || {
        node2
            .docker(&["info", "--format", "{{.Swarm.ControlAvailable}}"])
            .unwrap_or_default()
    };
    assert_eq!(control(), "true", "node2 runs a manager itself");

    let said = node_action(&captain, &cookie, &node_id, "demote").await;
    assert_eq!(said, "demoted to worker");
    common::wait_until("node2 to run as a worker", 60, || {
        role_of(&node_id).trim() == "worker" && control() == "false"
    })
    .await;

    // (Swarm renews the node's certificate for its new role with a back-off, so a
    // promotion right after a demotion takes a while to complete.)
    let said = node_action(&captain, &cookie, &node_id, "promote").await;
    assert_eq!(said, "promoted to manager");
    common::wait_until("node2 to be a reachable manager again", 120, || {
        role_of(&node_id) == "manager reachable" && control() == "true"
    })
    .await;
    drop(node2); // demotes it before it leaves: two managers need both for quorum
}

#[tokio::test]
async fn a_kept_key_lets_a_removed_server_leave_the_swarm_itself() {
    let Setup {
        node2,
        key,
        captain,
        cookie,
        port,
    } = setup().await;
    let node2_state = || {
        node2
            .docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
            .unwrap()
    };

    let outcome = join_node2(&captain, &cookie, &key, "yes", "worker").await;
    assert!(
        outcome["steps"].to_string().contains("key-kept"),
        "{outcome}"
    );
    let node_id = outcome["node_id"].as_str().unwrap().to_owned();
    // Kept means sealed: the key's text is still nowhere in Captain's data folder.
    let secret_line = key
        .lines()
        .find(|line| line.len() > 40 && !line.starts_with("-----"))
        .unwrap()
        .to_owned();
    let found = testbed::run(
        "grep",
        &[
            "-rl",
            "--",
            &secret_line,
            captain.data_dir.path().to_str().unwrap(),
        ],
    );
    assert!(
        found.is_err() || found.unwrap().is_empty(),
        "the kept key is sealed"
    );
    assert!(!captain.log().contains(&secret_line));

    // A registry set up after the join: the kept key installs its CA on node2 too.
    let enabled = captain
        .call(&cookie, "enable_managed_registry", &[])
        .await
        .unwrap();
    assert!(enabled.status < 400, "{enabled:?}");
    let info: Value = serde_json::from_str(&enabled.body).unwrap();
    assert_eq!(
        info["node_trust"],
        serde_json::json!([format!("{NODE2_ADDR}: CA installed over SSH")]),
        "{info}"
    );

    let said = remove_node(&captain, &cookie, &node_id).await;
    assert!(said.contains("left the swarm (over SSH)"), "{said}");
    assert_eq!(node2_state(), "inactive", "node2 itself left the swarm");
    assert!(
        docker(&["node", "inspect", &node_id]).is_err(),
        "and the swarm forgot it"
    );

    // Without a kept key the server is only removed from the list, and the answer says
    // what is left to do there.
    let outcome = join_node2(&captain, &cookie, &key, "", "worker").await;
    let node_id = outcome["node_id"].as_str().unwrap().to_owned();
    let said = remove_node(&captain, &cookie, &node_id).await;
    assert!(
        said.contains("run `docker swarm leave` on the server"),
        "{said}"
    );
    assert!(docker(&["node", "inspect", &node_id]).is_err());
    drop(node2);
    common::remove_registry(&port).await;
}
