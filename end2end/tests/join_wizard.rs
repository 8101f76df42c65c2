//! The "Join a server" wizard in a real browser against node2's sshd: read and confirm
//! the host key, paste the private key, join — each step listed — and the new node's card
//! appears live; when its engine is killed the card turns Down without a reload.

mod common;

use anyhow::Result;
use common::{browser, screenshot, sign_in_at, start_captain, wait_until};
use fantoccini::Locator;
use std::time::Duration;
use testbed::{Node2, LEADER_ADDR, NODE2_ADDR};

#[tokio::test]
#[ignore = "needs `cargo leptos build`, a Docker engine, node2 and Chromium; run by scripts/test.sh"]
async fn the_wizard_joins_node2_and_the_nodes_page_follows_it() -> Result<()> {
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

    let node2_id = node2.node_id()?;
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
    let same_page = client
        .execute("return window.__captainNoReload === true;", vec![])
        .await?;
    assert_eq!(same_page.as_bool(), Some(true), "the page reloaded");
    drop(node2);
    Ok(())
}
