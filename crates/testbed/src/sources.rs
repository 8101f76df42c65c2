//! Source trees for build tests: gzipped tarballs made with the system's `tar`, as a
//! user's `tar czf` would make them, and Debian packages to install inside a build (the
//! machine reaches Debian's package registry; builds themselves reach nothing).

use crate::command::run_command;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const DEBS: &str = "/var/cache/captain-testbed/debs";

/// A `.tar.gz` of `files` (path, content), paths relative to the archive's top.
pub fn tarball(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    for (path, content) in files {
        let target = dir.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, content)?;
    }
    let output = Command::new("tar")
        .args(["-czf", "-", "-C"])
        .arg(dir.path())
        .arg(".")
        .output()
        .context("running tar")?;
    anyhow::ensure!(
        output.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// Debian's `.deb` of `package` for this machine's release, downloaded once.
pub fn debian_package(package: &str) -> Result<PathBuf> {
    let folder = PathBuf::from(DEBS).join(package);
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(&folder)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.extension().is_some_and(|x| x == "deb"))
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    let _guard = crate::lock::exclusive(&format!("deb-{package}"))?;
    if let Some(found) = find() {
        return Ok(found);
    }
    std::fs::create_dir_all(&folder)?;
    run_command(
        Command::new("apt-get")
            .args(["download", package])
            .current_dir(&folder),
    )
    .with_context(|| format!("downloading Debian's {package} package"))?;
    find().with_context(|| format!("apt-get download {package} left no .deb"))
}
