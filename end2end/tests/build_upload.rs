//! Deploy from source in a real browser: create an app with no image, choose a tarball
//! on its page, upload it, and watch the build log stream in until the build succeeds
//! and the new version appears — without reloading.

mod common;

use anyhow::Result;
use common::{screenshot, signed_in_browser, wait_until};
use fantoccini::Locator;
use std::time::Duration;
use testbed::{unique_name, HTTPD_IMAGE};

#[tokio::test]
#[ignore = "needs `cargo leptos build`, a Docker engine and Chromium; run by scripts/test.sh"]
async fn a_tarball_uploaded_from_the_app_page_streams_its_build_log_to_the_end() -> Result<()> {
    let session = signed_in_browser("/apps").await?;
    let client = &session.client;

    let name = unique_name("upl");
    client
        .find(Locator::Css("input[name=name]"))
        .await?
        .send_keys(&name)
        .await?;
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

    // Each step sleeps a little, so lines must arrive while the build is still running;
    // the nonce keeps the build cache from replaying it silently. The shell computes what
    // the steps print, so the Dockerfile's own text never matches the output checked for.
    let dockerfile = format!(
        "FROM {HTTPD_IMAGE}\nCOPY nonce /nonce\nRUN echo first-step-$((6*7)) && sleep 2\n\
         RUN echo second-step-$((6*7)) && sleep 2\nRUN echo 'uploaded from a browser' > /www/index.html\n"
    );
    let nonce = unique_name("nonce");
    let archive = testbed::sources::tarball(&[
        ("Dockerfile", dockerfile.as_bytes()),
        ("nonce", nonce.as_bytes()),
    ])?;
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("site.tar.gz");
    std::fs::write(&path, archive)?;
    client
        .find(Locator::Css("[data-testid=source-file]"))
        .await?
        .send_keys(&path.display().to_string())
        .await?;
    client
        .find(Locator::Css("[data-testid=upload]"))
        .await?
        .click()
        .await?;

    let outcome = async {
        wait_until(
            client,
            "the first step's output while the build runs",
            Duration::from_secs(60),
            "(document.querySelector('[data-testid=build-log]')?.textContent ?? '').includes('first-step-42') \
             && document.querySelector('[data-testid=build]')?.dataset.state === 'building'",
        )
        .await?;
        wait_until(
            client,
            "the build to succeed with its whole log",
            Duration::from_secs(90),
            "document.querySelector('[data-testid=build]')?.dataset.state === 'succeeded' \
             && (document.querySelector('[data-testid=build-log]')?.textContent ?? '').includes('second-step-42') \
             && (document.querySelector('[data-testid=build-log]')?.textContent ?? '').includes('deploying')",
        )
        .await?;
        wait_until(
            client,
            "the log to follow its newest line",
            Duration::from_secs(5),
            "(p => p.lastElementChild.lastElementChild.getBoundingClientRect().bottom <= p.getBoundingClientRect().bottom + 1)\
             (document.querySelector('[data-testid=build-log]'))",
        )
        .await?;
        wait_until(
            client,
            "the new version in the deploy list",
            Duration::from_secs(30),
            "[...document.querySelectorAll('[data-testid=version-source]')].some(e => e.textContent.startsWith('build #'))",
        )
        .await
    }
    .await;
    let _ = client
        .execute(
            "document.querySelector('[data-testid=upload]')?.scrollIntoView()",
            vec![],
        )
        .await;
    screenshot(client, "build-upload").await?;
    let _ = testbed::docker(&["service", "rm", &format!("captain-app-{name}")]);
    client.clone().close().await?;
    outcome
}
