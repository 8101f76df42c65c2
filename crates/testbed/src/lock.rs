//! Cross-process locks, so parallel test binaries never set up the same thing twice or
//! share node2 at the same moment.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

/// Held until dropped; the kernel releases it if the process dies.
pub struct FileLock {
    _file: File,
}

extern "C" {
    fn flock(fd: i32, operation: i32) -> i32;
}
const LOCK_EX: i32 = 2;

/// Blocks until the named lock under /tmp is ours.
pub fn exclusive(name: &str) -> Result<FileLock> {
    let path = format!("/tmp/captain-testbed-{name}.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {path}"))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the lock's life.
    let status = unsafe { flock(file.as_raw_fd(), LOCK_EX) };
    if status != 0 {
        anyhow::bail!("flock({path}) failed: {}", std::io::Error::last_os_error());
    }
    Ok(FileLock { _file: file })
}
