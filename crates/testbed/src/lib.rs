//! Captain's test harness: real infrastructure on demand for integration tests.
//!
//! Tests get a running Docker engine in swarm mode ([`engine`]), locally built images
//! ([`images`]), a second server in a network namespace with its own engine and sshd
//! ([`node2`]) and a real registry ([`registry`]). Everything is idempotent and safe to
//! call from many tests and processes: shared setup runs under a file lock, and
//! [`unique_name`] keeps the objects one test makes apart from another's.
//!
//! The harness is synchronous (std::process): it runs shell tools, and blocking calls
//! keep clean-up in `Drop` honest.

pub mod command;
pub mod engine;
pub mod http;
pub mod images;
pub mod lock;
pub mod nginx;
pub mod node2;
pub mod pebble;
pub mod registry;
pub mod registry_image;
pub mod sources;
pub mod tls;

pub use command::{docker, docker_on, run};
pub use engine::{ensure_swarm_engine, LEADER_ADDR};
pub use images::{
    create_test_service, ensure_crashing_image, ensure_debian_base, ensure_debug_test_app_image,
    ensure_httpd_image, ensure_test_app_image, ensure_ticker_image, CRASHING_IMAGE, HTTPD_IMAGE,
    TICKER_IMAGE,
};
pub use node2::{Node2, NODE2_ADDR};
pub use pebble::Pebble;
pub use registry::Registry;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test (in this or another process) is using: `prefix-PID-N-RANDOM`.
/// Docker names allow lowercase letters, digits and dashes, so that is all this emits.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xffff)
}

/// The repository root, for scripts the harness shares with CI.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the harness crate lives in crates/testbed")
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the loopback interface can bind port 0")
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the error.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_docker_safe() {
        let a = unique_name("svc");
        let b = unique_name("svc");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}
