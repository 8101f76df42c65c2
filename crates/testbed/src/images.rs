//! Images tests need, built locally because no registry on the internet is reachable:
//! `debian:bookworm-slim` from debootstrap (cached as a tarball) and a 2 MB busybox httpd.

use crate::command::{docker, run, run_command};
use crate::lock;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

pub const DEBIAN_IMAGE: &str = "debian:bookworm-slim";
/// Serves /www on port 80 and answers `/hostname.txt`-style files the test writes.
pub const HTTPD_IMAGE: &str = "captain-test/httpd:1";
const CACHE_DIR: &str = "/var/cache/captain-testbed";

fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", tag]).is_ok()
}

/// Makes sure `debian:bookworm-slim` exists on the main engine, exactly as
/// `FROM debian:bookworm-slim` expects it.
pub fn ensure_debian_base() -> Result<()> {
    if image_exists(DEBIAN_IMAGE) {
        return Ok(());
    }
    let _guard = lock::exclusive("debian-image")?;
    if image_exists(DEBIAN_IMAGE) {
        return Ok(());
    }
    let tarball = Path::new(CACHE_DIR).join("bookworm-slim.tar");
    if !tarball.exists() {
        std::fs::create_dir_all(CACHE_DIR)?;
        let rootfs = tempfile::tempdir_in(CACHE_DIR)?;
        let root = rootfs.path().to_str().context("cache path is UTF-8")?;
        run(
            "debootstrap",
            &[
                "--variant=minbase",
                "bookworm",
                root,
                "http://deb.debian.org/debian",
            ],
        )
        .context("debootstrap of bookworm")?;
        let partial = tarball.with_extension("partial");
        run("tar", &["-C", root, "-cf", partial.to_str().unwrap(), "."])?;
        std::fs::rename(&partial, &tarball)?;
    }
    run_command(
        Command::new("docker")
            .args(["import", tarball.to_str().unwrap(), DEBIAN_IMAGE])
            .arg("--change")
            .arg("CMD [\"bash\"]"),
    )?;
    Ok(())
}

/// Makes sure the tiny HTTP test app exists on the main engine: `FROM scratch` with
/// Debian's static busybox, serving a page on port 80.
pub fn ensure_httpd_image() -> Result<()> {
    if image_exists(HTTPD_IMAGE) {
        return Ok(());
    }
    let _guard = lock::exclusive("httpd-image")?;
    if image_exists(HTTPD_IMAGE) {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    std::fs::copy("/bin/busybox", context.path().join("busybox"))
        .context("copying /bin/busybox (install busybox-static)")?;
    std::fs::create_dir(context.path().join("www"))?;
    std::fs::write(context.path().join("www/index.html"), "captain test app\n")?;
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nEXPOSE 80\n\
         ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    )?;
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            HTTPD_IMAGE,
            context.path().to_str().unwrap(),
        ],
    )
    .context("building the httpd test image")?;
    Ok(())
}

/// An image whose container exits at once with status 3: a deploy that cannot start.
pub const CRASHING_IMAGE: &str = "captain-test/crash:1";

pub fn ensure_crashing_image() -> Result<()> {
    if image_exists(CRASHING_IMAGE) {
        return Ok(());
    }
    let _guard = lock::exclusive("crash-image")?;
    if image_exists(CRASHING_IMAGE) {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    std::fs::copy("/bin/busybox", context.path().join("busybox"))?;
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"sh\", \"-c\", \"exit 3\"]\n",
    )?;
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            CRASHING_IMAGE,
            context.path().to_str().unwrap(),
        ],
    )
    .context("building the crashing test image")?;
    Ok(())
}

/// An image whose instances print `tick from HOSTNAME` every half second: an app with logs.
pub const TICKER_IMAGE: &str = "captain-test/ticker:1";

pub fn ensure_ticker_image() -> Result<()> {
    if image_exists(TICKER_IMAGE) {
        return Ok(());
    }
    let _guard = lock::exclusive("ticker-image")?;
    if image_exists(TICKER_IMAGE) {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    std::fs::copy("/bin/busybox", context.path().join("busybox"))?;
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n\
         CMD [\"sh\", \"-c\", \"while true; do echo tick from $(/bin/busybox hostname); /bin/busybox sleep 0.5; done\"]\n",
    )?;
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            TICKER_IMAGE,
            context.path().to_str().unwrap(),
        ],
    )
    .context("building the ticker test image")?;
    Ok(())
}
