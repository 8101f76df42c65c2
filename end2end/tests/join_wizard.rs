//! The "Join a server" wizard in a real browser against node2's sshd: read and confirm
//! the host key, paste the private key, join — each step listed — and the new node's card
//! appears live; a service's instances show as chips in both nodes' topology boxes, and
//! when node2's engine is killed its card turns Down and the chips move to the leader,
//! without a reload.

mod common;

use anyhow::Result;
use common::{browser, screenshot, sign_in_at, start_captain, wait_until};
use fantoccini::Locator;
use std::time::Duration;
use testbed::{
    create_test_service, docker, ensure_httpd_image, unique_name, Node2, HTTPD_IMAGE, LEADER_ADDR,
    NODE2_ADDR,
};

#[tokio::test]
#[ignore = "needs `cargo leptos build`, a Docker engine, node2 and Chromium; run by scripts/test.sh"]
async fn the_wizard_joins_node2_and_the_nodes_page_follows_it() -> Result<()> {
    ensure_httpd_image()?;
    let node2 = Node2::acquire()?;
    let key = std::fs::read_to_string(node2.ssh_key_path())?;
    let data_dir = tempfile::tempdir()?;
    let (_captain, address) = start_captain(data_dir.path())?;
    let (_driver, client) = browser().await?;
    sign_in_at(&client, &address, "/nodes").await?;
    client
        .execute("window.__captainNoReload = true; return null;", vec![])
        .await?;

    client
        .wait()
        .for_element(Locator::Css("[data-testid=join-remote-ip]"))
        .await?
        .send_keys(NODE2_ADDR)
        .await?;
    client
        .find(Locator::Css("[data-testid=join-read-key]"))
        .await?
        .click()
        .await?;
    let fingerprint = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("[data-testid=join-fingerprint]"))
        .await?
        .text()
        .await?;
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");

    let captain_ip = client.find(Locator::Css("input[name=captain_ip]")).await?;
    captain_ip.clear().await?;
    captain_ip.send_keys(LEADER_ADDR).await?;
    client
        .find(Locator::Css("[data-testid=join-key]"))
        .await?
        .send_keys(&key)
        .await?;
    client
        .find(Locator::Css("[data-testid=join-submit]"))
        .await?
        .click()
        .await?;
    wait_until(
        &client,
        "the join steps to end with ready",
        Duration::from_secs(90),
        "(document.querySelector('[data-testid=join-steps]')?.textContent ?? '').includes('ready')",
    )
    .await?;
    wait_until(
        &client,
        "a second node card",
        Duration::from_secs(20),
        "document.querySelectorAll('[data-testid=node][data-node-state=Ready]').length === 2",
    )
    .await?;
    screenshot(&client, "join-wizard").await?;

    // A service spread over both nodes shows as chips in both boxes of the topology.
    let node2_id = node2.node_id()?;
    let leader = docker(&["info", "--format", "{{.Swarm.NodeID}}"])?;
    node2.load_image(HTTPD_IMAGE)?;
    let service = unique_name("e2e-spread");
    create_test_service(&service, &["--replicas", "4"])?;
    let running_chips = |node: &str| {
        format!(
            "document.querySelectorAll('[data-testid=topology-node][data-node-id=\"{node}\"]              [data-app=\"{service}\"] [data-testid=chip][data-task-state=Running]').length"
        )
    };
    wait_until(
        &client,
        "chips on both nodes",
        Duration::from_secs(60),
        &format!(
            "{} > 0 && {} > 0",
            running_chips(&leader),
            running_chips(&node2_id)
        ),
    )
    .await?;
    screenshot(&client, "topology").await?;

    node2.kill_engine()?;
    wait_until(
        &client,
        "node2's card to turn Down",
        Duration::from_secs(60),
        &format!(
            "document.querySelector('[data-node-id=\"{node2_id}\"]')?.dataset.nodeState === 'Down'"
        ),
    )
    .await?;
    // Its chips come back on the leader as swarm reschedules them.
    let moved = wait_until(
        &client,
        "all 4 chips on the leader",
        Duration::from_secs(90),
        &format!("{} === 4", running_chips(&leader)),
    )
    .await;
    docker(&["service", "rm", &service])?;
    moved?;
    let same_page = client
        .execute("return window.__captainNoReload === true;", vec![])
        .await?;
    assert_eq!(same_page.as_bool(), Some(true), "the page reloaded");
    drop(node2);
    Ok(())
}
