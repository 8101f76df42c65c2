//! Pebble, Let's Encrypt's ACME test server (Debian's `pebble`), with its companion DNS
//! server `pebble-challtestsrv` answering every name with 127.0.0.1: HTTP-01 validation
//! then reaches whatever serves `http_port` on this machine — Captain's proxy.
//!
//! Each instance gets its own ports and a fresh CA for Pebble's own HTTPS API.

use crate::{free_port, wait_for};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Pebble {
    processes: Vec<Child>,
    dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The DNS server Pebble validates with (and Captain should check domains with).
    pub dns: SocketAddr,
    management: u16,
    dns_management: u16,
}

impl Pebble {
    /// Starts both servers; HTTP-01 challenges will be fetched from `http_port`.
    pub fn start(http_port: u16) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        write_api_certificate(&dir)?;
        let (listen, management, dns_port, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.path().join("api.pem"),
            "privateKey": dir.path().join("api.key"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string())?;
        let folder = dir.path().to_owned();
        let log = move |name: &str| -> Result<Stdio> {
            Ok(std::fs::File::create(folder.join(name))?.into())
        };
        let dns = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(log("challtestsrv.log")?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting pebble-challtestsrv (install the pebble package)")?;
        let mut pebble = Self {
            processes: vec![dns],
            directory: format!("https://127.0.0.1:{listen}/dir"),
            dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
            management,
            dns_management,
            dir,
        };
        let server = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &pebble.dns.to_string()])
            // No random validation delays; no randomly refused nonces: tests stay quick
            // and deterministic (nonce retries are the ACME client's business anyway).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log")?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting pebble")?;
        pebble.processes.push(server);
        wait_for("pebble to listen", Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", listen)).ok()
        })?;
        wait_for(
            "pebble-challtestsrv to listen",
            Duration::from_secs(15),
            || std::net::TcpStream::connect(("127.0.0.1", dns_management)).ok(),
        )?;
        Ok(pebble)
    }

    /// The CA certificate that signed Pebble's own HTTPS API (for `--acme-ca-file`).
    pub fn api_ca_file(&self) -> PathBuf {
        self.dir.path().join("api-ca.pem")
    }

    /// The root that issued certificates chain to (it changes with every Pebble start).
    pub fn issuing_root_pem(&self) -> Result<String> {
        let url = format!("https://localhost:{}/roots/0", self.management);
        crate::command::run_command(
            Command::new("curl")
                .args(["--silent", "--fail", "--cacert"])
                .arg(self.api_ca_file())
                .arg(url),
        )
    }

    /// Makes `host` resolve to `address` instead of 127.0.0.1.
    pub fn set_address(&self, host: &str, address: &str) -> Result<()> {
        let body = serde_json::json!({ "host": format!("{host}."), "addresses": [address] });
        crate::command::run_command(
            Command::new("curl")
                .args(["--silent", "--fail", "-X", "POST", "-d"])
                .arg(body.to_string())
                .arg(format!("http://127.0.0.1:{}/add-a", self.dns_management)),
        )
        .map(drop)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A small CA and a certificate for 127.0.0.1/localhost signed by it: clients verify
/// Pebble's API against the CA, as they would a real ACME server's.
fn write_api_certificate(dir: &tempfile::TempDir) -> Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    // Distinct subjects: a leaf named like its issuer looks self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Captain test ACME API CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, "pebble");
    let certificate = params.signed_by(&key, &issuer)?;
    std::fs::write(dir.path().join("api-ca.pem"), ca.pem())?;
    std::fs::write(dir.path().join("api.pem"), certificate.pem())?;
    std::fs::write(dir.path().join("api.key"), key.serialize_pem())?;
    Ok(())
}
