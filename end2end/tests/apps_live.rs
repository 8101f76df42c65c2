//! Apps in a real browser: create one from the test image, watch its instances appear
//! live, scale it up and watch the new one arrive, then delete it.

mod common;

use anyhow::Result;
use common::{screenshot, signed_in_browser, wait_until};
use fantoccini::Locator;
use std::time::Duration;
use testbed::{docker, unique_name, HTTPD_IMAGE};

fn running_instances_script(count: usize) -> String {
    format!("document.querySelectorAll('[data-testid=app-instance][data-task-state=Running]').length === {count}")
}

#[tokio::test]
#[ignore = "needs `cargo leptos build`, a Docker engine and Chromium; run by scripts/test.sh"]
async fn an_app_is_created_scaled_and_deleted_from_the_browser_with_live_instances() -> Result<()> {
    let session = signed_in_browser("/apps").await?;
    let (client, address) = (&session.client, &session.address);

    let name = unique_name("web");
    client
        .find(Locator::Css("input[name=name]"))
        .await?
        .send_keys(&name)
        .await?;
    client
        .find(Locator::Css("input[name=image]"))
        .await?
        .send_keys(HTTPD_IMAGE)
        .await?;
    let instances = client.find(Locator::Css("input[name=instances]")).await?;
    instances.clear().await?;
    instances.send_keys("2").await?;
    client
        .find(Locator::XPath("//button[text()='Create app']"))
        .await?
        .click()
        .await?;

    let on_app_page = format!("location.pathname === '/apps/{name}'");
    wait_until(
        client,
        "the app's page",
        Duration::from_secs(20),
        &on_app_page,
    )
    .await?;
    let two = wait_until(
        client,
        "two running instances",
        Duration::from_secs(60),
        &running_instances_script(2),
    )
    .await;

    let scaled = async {
        two?;
        let count = client
            .find(Locator::Css("form input[name=instances]"))
            .await?;
        count.clear().await?;
        count.send_keys("3").await?;
        client
            .find(Locator::XPath("//button[text()='Scale']"))
            .await?
            .click()
            .await?;
        wait_until(
            client,
            "a third running instance",
            Duration::from_secs(60),
            &running_instances_script(3),
        )
        .await?;
        let text = client
            .find(Locator::Css("[data-testid=running-count]"))
            .await?
            .text()
            .await?;
        anyhow::ensure!(text.starts_with("3 / 3"), "running count shows {text:?}");
        screenshot(client, "app-page").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;

    // Delete from the page; the reconciler removes the service.
    client
        .goto(&format!("http://{address}/apps/{name}"))
        .await?;
    let delete = client
        .wait()
        .for_element(Locator::XPath("//button[text()='Delete app']"))
        .await?;
    delete.click().await?;
    wait_until(
        client,
        "the app list",
        Duration::from_secs(20),
        "location.pathname === '/apps'",
    )
    .await?;
    let service = types_service_name(&name);
    let gone = testbed::wait_for("the service to be removed", Duration::from_secs(30), || {
        docker(&["service", "inspect", &service])
            .is_err()
            .then_some(())
    });
    if gone.is_err() {
        let _ = docker(&["service", "rm", &service]);
    }
    scaled?;
    gone?;
    client.clone().close().await?;
    Ok(())
}

fn types_service_name(app: &str) -> String {
    format!("captain-app-{app}")
}
