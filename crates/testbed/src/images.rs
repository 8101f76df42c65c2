//! Images tests need, built locally because no registry on the internet is reachable:
//! `debian:bookworm-slim` from debootstrap (cached as a tarball) and a 2 MB busybox httpd.

use crate::command::{docker, run};
use crate::lock;
use anyhow::{Context, Result};

pub const DEBIAN_IMAGE: &str = "debian:bookworm-slim";

pub(crate) fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", tag]).is_ok()
}

/// Makes sure `debian:bookworm-slim` exists on the main engine, exactly as
/// `FROM debian:bookworm-slim` expects it (scripts/base-image.sh, shared with run.sh).
pub fn ensure_debian_base() -> Result<()> {
    if image_exists(DEBIAN_IMAGE) {
        return Ok(());
    }
    let script = crate::repo_root().join("scripts/base-image.sh");
    run("bash", &[script.to_str().context("repo path is UTF-8")?])
        .context("making debian:bookworm-slim")?;
    Ok(())
}

/// Serves "captain test app" on port 80 (busybox httpd), and its container's hostname at
/// /cgi-bin/whoami, so tests can tell instances apart.
pub const HTTPD_IMAGE: &str = "captain-test/httpd:2";
/// Exits at once with status 3: a deploy that cannot start.
pub const CRASHING_IMAGE: &str = "captain-test/crash:1";
/// Prints `tick from HOSTNAME` every half second: an app with logs.
pub const TICKER_IMAGE: &str = "captain-test/ticker:1";

pub fn ensure_httpd_image() -> Result<()> {
    ensure_busybox_image(
        HTTPD_IMAGE,
        "EXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    )
}

/// Creates a swarm service named `name` running the httpd test image, the way a user
/// would with the docker CLI (`extra` adds flags such as a constraint); returns its ID.
pub fn create_test_service(name: &str, extra: &[&str]) -> Result<String> {
    let mut args = vec!["service", "create", "--detach", "--quiet", "--name", name];
    args.extend_from_slice(extra);
    args.push(HTTPD_IMAGE);
    docker(&args)
}

pub fn ensure_crashing_image() -> Result<()> {
    ensure_busybox_image(CRASHING_IMAGE, "CMD [\"sh\", \"-c\", \"exit 3\"]\n")
}

pub fn ensure_ticker_image() -> Result<()> {
    ensure_busybox_image(
        TICKER_IMAGE,
        "CMD [\"sh\", \"-c\", \"while true; do echo tick from $(hostname); sleep 0.5; done\"]\n",
    )
}

/// Builds `tag` (once, under a lock) as `FROM scratch` + Debian's static busybox + a page
/// in /www, finished by `tail` (its Dockerfile lines after the entrypoint).
fn ensure_busybox_image(tag: &str, tail: &str) -> Result<()> {
    if image_exists(tag) {
        return Ok(());
    }
    let _guard = lock::exclusive(&format!("image-{}", tag.replace(['/', ':'], "-")))?;
    if image_exists(tag) {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    std::fs::copy("/bin/busybox", context.path().join("busybox"))
        .context("copying /bin/busybox (install busybox-static)")?;
    std::fs::create_dir(context.path().join("www"))?;
    std::fs::write(context.path().join("www/index.html"), "captain test app\n")?;
    std::fs::create_dir(context.path().join("www/cgi-bin"))?;
    let whoami = context.path().join("www/cgi-bin/whoami");
    std::fs::write(
        &whoami,
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nhostname\n",
    )?;
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&whoami)?.permissions(),
        0o755,
    );
    std::fs::set_permissions(&whoami, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    // Applet links (sh, hostname, sleep …) let scripts in the image run like on any Linux.
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             COPY www /www\nENV PATH=/bin\nENTRYPOINT [\"/bin/busybox\"]\n{tail}"
        ),
    )?;
    run(
        "docker",
        &["build", "-q", "-t", tag, context.path().to_str().unwrap()],
    )
    .with_context(|| format!("building the test image {tag}"))?;
    Ok(())
}

/// Packages a `captain-testapp` binary (hello, /whoami, websocket echo at /ws on port 80)
/// on the Debian base; the tag names the binary's hash, so a rebuilt binary gets a new
/// image and an unchanged one is reused. Debug or release: the caller picks the binary.
pub fn ensure_test_app_image(binary: &std::path::Path) -> Result<String> {
    ensure_debian_base()?;
    let digest =
        run("sha256sum", &[binary.to_str().context("path is UTF-8")?]).with_context(|| {
            format!(
                "hashing {} (cargo build -p captain-testapp)",
                binary.display()
            )
        })?;
    let tag = format!("captain-test/app:{}", &digest[..12]);
    if image_exists(&tag) {
        return Ok(tag);
    }
    let _guard = lock::exclusive(&format!("image-app-{}", &digest[..12]))?;
    if image_exists(&tag) {
        return Ok(tag);
    }
    let context = tempfile::tempdir()?;
    std::fs::copy(binary, context.path().join("captain-testapp"))?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {DEBIAN_IMAGE}\nCOPY captain-testapp /usr/local/bin/captain-testapp\n\
             EXPOSE 80\nCMD [\"/usr/local/bin/captain-testapp\"]\n"
        ),
    )?;
    run(
        "docker",
        &["build", "-q", "-t", &tag, context.path().to_str().unwrap()],
    )
    .with_context(|| format!("building the test image {tag}"))?;
    Ok(tag)
}

/// The debug `captain-testapp` binary's image (tests build it first).
pub fn ensure_debug_test_app_image() -> Result<String> {
    let binary = crate::repo_root().join("target/debug/captain-testapp");
    anyhow::ensure!(
        binary.exists(),
        "build the test app first: cargo build -p captain-testapp"
    );
    ensure_test_app_image(&binary)
}
