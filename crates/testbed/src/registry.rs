//! A real Docker registry (CNCF distribution, Debian's `docker-registry`) on a free port,
//! storing into a temporary folder; stopped and deleted when dropped.

use crate::{free_port, wait_for};
use anyhow::{Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Registry {
    process: Child,
    address: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    /// Starts an open (no auth, plain HTTP) registry on `host` at a free port. Engines
    /// accept plain HTTP for loopback registries without configuration.
    pub fn start(host: &str) -> Result<Self> {
        let storage = tempfile::tempdir()?;
        let address = format!("{host}:{}", free_port());
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {address}\n",
                storage.path().join("data").display()
            ),
        )?;
        let process = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry (install the docker-registry package)")?;
        let registry = Self {
            process,
            address,
            _storage: storage,
        };
        wait_for("the registry to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(&registry.address).ok()
        })?;
        Ok(registry)
    }

    /// `host:port`, as used in image references.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
