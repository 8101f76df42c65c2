//! `registry:2` built locally from Debian's `docker-registry` package, laid out like the
//! official image (binary `/bin/registry`, config `/etc/docker/registry/config.yml`, data
//! in `/var/lib/registry`, port 5000), so Captain's managed registry runs the same here as
//! with the image from Docker Hub. Also a TLS + htpasswd registry on the host, standing in
//! for a third party's.

use crate::command::run;
use crate::images::{ensure_debian_base, image_exists, DEBIAN_IMAGE};
use crate::{free_port, lock, wait_for};
use anyhow::{Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const REGISTRY_IMAGE: &str = "registry:2";

const CONFIG: &str = "version: 0.1\nlog:\n  fields:\n    service: registry\nstorage:\n  cache:\n    \
    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n";

pub fn ensure_registry_image() -> Result<()> {
    let exists = || image_exists(REGISTRY_IMAGE);
    if exists() {
        return Ok(());
    }
    let _guard = lock::exclusive("image-registry")?;
    if exists() {
        return Ok(());
    }
    ensure_debian_base()?;
    let context = tempfile::tempdir()?;
    let binary = std::path::Path::new("/usr/bin/docker-registry");
    std::fs::copy(binary, context.path().join("registry"))
        .context("copying /usr/bin/docker-registry (install the docker-registry package)")?;
    crate::nginx::copy_linked_libraries(binary, &context.path().join("lib"))?;
    std::fs::write(context.path().join("config.yml"), CONFIG)?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {DEBIAN_IMAGE}\nCOPY registry /bin/registry\nCOPY lib/ /opt/registry-lib/\n\
             ENV LD_LIBRARY_PATH=/opt/registry-lib\nCOPY config.yml /etc/docker/registry/config.yml\n\
             VOLUME /var/lib/registry\nEXPOSE 5000\nENTRYPOINT [\"/bin/registry\"]\n\
             CMD [\"serve\", \"/etc/docker/registry/config.yml\"]\n"
        ),
    )?;
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            REGISTRY_IMAGE,
            context.path().to_str().unwrap(),
        ],
    )
    .context("building registry:2")?;
    Ok(())
}

/// A registry with TLS (its own CA) and a password, on the host at `host:port`.
pub struct SecuredRegistry {
    process: Child,
    pub address: String,
    pub ca_pem: String,
    _dir: tempfile::TempDir,
}

impl SecuredRegistry {
    pub fn start(host: &str, username: &str, password: &str) -> Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir()?;
        let address = format!("{host}:{}", free_port());
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Third-party registry test CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "registry");
        let certificate = params.signed_by(&key, &issuer)?;
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        std::fs::write(path("cert.pem"), certificate.pem())?;
        std::fs::write(path("key.pem"), key.serialize_pem())?;
        std::fs::write(
            path("htpasswd"),
            format!("{username}:{}\n", bcrypt::hash(password, 6)?),
        )?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            path("data"),
            path("cert.pem"),
            path("key.pem"),
            path("htpasswd")
        );
        std::fs::write(path("config.yml"), config)?;
        let process = Command::new("docker-registry")
            .args(["serve", &path("config.yml")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry")?;
        let registry = Self {
            process,
            address,
            ca_pem: ca.pem(),
            _dir: dir,
        };
        wait_for("the registry to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(&registry.address).ok()
        })?;
        Ok(registry)
    }
}

impl Drop for SecuredRegistry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
