//! The dashboard in a real browser: signing in, the Nodes page rendered by the server,
//! hydrated, connected to its websocket and showing a service made with the docker CLI
//! without a reload; then an API token made on the Settings page, and signing out.
//!
//! Needs `cargo leptos build` first (the server binary and target/site); the test command
//! in the README does that.

mod common;

use anyhow::{Context, Result};
use common::{browser, sign_in_at, sign_in_path, start_captain, wait_until, PASSWORD};
use fantoccini::Locator;
use std::time::Duration;
use testbed::http::Request;
use testbed::{create_test_service, docker, ensure_httpd_image, ensure_swarm_engine, unique_name};

#[tokio::test]
#[ignore = "needs `cargo leptos build`, a Docker engine and Chromium; run by scripts/test.sh"]
async fn the_nodes_page_renders_on_the_server_hydrates_and_updates_live() -> Result<()> {
    ensure_swarm_engine()?;
    ensure_httpd_image()?;
    let data_dir = tempfile::tempdir()?;
    let (_captain, address) = start_captain(data_dir.path())?;
    let leader = docker(&["info", "--format", "{{.Swarm.NodeID}}"])?;

    // Server-side rendering: the node is in the HTML before any script runs.
    let signed_in = Request::new("POST", &sign_in_path()?)
        .header("Origin", format!("http://{address}"))
        .form(&[("password", PASSWORD)])
        .send(&address)
        .await?;
    let session = signed_in
        .set_cookie("captain_session")
        .context("no session cookie")?;
    let page = Request::new("GET", "/nodes")
        .header("Cookie", format!("captain_session={session}"))
        .send(&address)
        .await?;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains(&format!("data-node-id=\"{leader}\"")),
        "the leader is missing from the SSR HTML"
    );
    assert!(page.body.contains("data-state=\"connecting\""));

    let (_driver, client) = browser().await?;
    // Not signed in yet: the guard sends the browser to the sign-in page, keeping the
    // target; "live" then only appears once the WASM hydrated and the websocket answered.
    sign_in_at(&client, &address, "/nodes").await?;
    client
        .execute("window.__captainNoReload = true; return null;", vec![])
        .await?;

    let name = unique_name("e2e-svc");
    create_test_service(&name, &[])?;
    let instance = format!(
        "[...document.querySelectorAll('[data-node-id=\"{leader}\"] [data-testid=instance]')]\
         .some(e => e.textContent.includes('{name}.1'))"
    );
    let seen = wait_until(
        &client,
        "the new instance on the leader's card",
        Duration::from_secs(20),
        &instance,
    )
    .await;
    let still_same_page = client
        .execute("return window.__captainNoReload === true;", vec![])
        .await?;
    docker(&["service", "rm", &name])?;
    seen?;
    assert_eq!(
        still_same_page.as_bool(),
        Some(true),
        "the page reloaded instead of updating live"
    );

    // And the removal disappears the same way.
    wait_until(
        &client,
        "the instance to go",
        Duration::from_secs(20),
        &format!("!({instance})"),
    )
    .await?;
    let links = client.find_all(Locator::Css("nav a")).await?;
    assert_eq!(links.len(), 5, "brand plus Apps, Nodes, Registry, Settings");

    // Settings: make an API token in the page and use it from a script.
    client
        .find(Locator::Css("nav a[href='/settings']"))
        .await?
        .click()
        .await?;
    let name = client
        .wait()
        .for_element(Locator::Css("input[name=name]"))
        .await?;
    name.send_keys("e2e script").await?;
    client
        .find(Locator::XPath("//button[text()='Create token']"))
        .await?
        .click()
        .await?;
    let token = client
        .wait()
        .for_element(Locator::Css("[data-testid=new-token]"))
        .await?
        .text()
        .await?;
    let api = Request::new("GET", "/api/v1/cluster")
        .header("Authorization", format!("Bearer {token}"))
        .send(&address)
        .await?;
    assert_eq!(
        api.status, 200,
        "the token made in the browser does not work: {api:?}"
    );
    wait_until(&client, "the token in the list", Duration::from_secs(10),
        "[...document.querySelectorAll('[data-testid=api-token]')].some(e => e.textContent.includes('e2e script'))").await?;

    // A signed-in browser that opens the sign-in page is sent on to the dashboard.
    client
        .goto(&format!("http://{address}/login?next=/apps"))
        .await?;
    wait_until(
        &client,
        "the redirect away from sign-in",
        Duration::from_secs(10),
        "location.pathname === '/apps'",
    )
    .await?;

    // Signing out ends the session: the dashboard is closed again.
    client
        .find(Locator::Css("[data-testid=sign-out]"))
        .await?
        .click()
        .await?;
    wait_until(
        &client,
        "the sign-in page after signing out",
        Duration::from_secs(10),
        "location.pathname === '/login'",
    )
    .await?;
    client.goto(&format!("http://{address}/settings")).await?;
    wait_until(
        &client,
        "the guard to refuse the signed-out browser",
        Duration::from_secs(10),
        "location.pathname === '/login'",
    )
    .await?;
    client.close().await?;
    Ok(())
}
