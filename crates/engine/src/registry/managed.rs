//! The registry Captain runs itself: a swarm service (image `registry:2` by default)
//! pinned to this node, data in a named volume, htpasswd auth with a generated password,
//! and TLS from a certificate authority Captain creates — no public domain, no Let's
//! Encrypt. The CA certificate is installed where Docker engines look for it
//! (`/etc/docker/certs.d/HOST:PORT/ca.crt`); the CA's key is thrown away once the
//! registry's certificate is signed, so it can never sign anything else.

use super::{NewRegistry, RegistryStore, RegistryStoreError};
use crate::secrets::{Secret, SecretStore};
use crate::swarm::MANAGED_LABEL;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, Mount, MountType,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets, TaskSpecPlacement,
};
use bollard::Docker;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use types::registry::{RegistryInfo, RegistryKind};

const TLS_SECRET: &str = "managed-registry-tls";
const PASSWORD_SECRET: &str = "managed-registry-password";
pub const USERNAME: &str = "captain";

#[derive(Clone, Debug)]
pub struct ManagedOptions {
    pub image: String,
    /// Port published on this node.
    pub port: u16,
    /// This node's address as the other nodes reach it.
    pub node_addr: String,
    pub node_id: String,
    pub owner: String,
    /// Where Docker engines read registry CAs (`/etc/docker/certs.d`).
    pub certs_dir: PathBuf,
}

impl ManagedOptions {
    pub fn address(&self) -> String {
        format!("{}:{}", self.node_addr, self.port)
    }

    pub fn service_name(&self) -> String {
        format!(
            "captain-registry-{}",
            self.owner.get(..8).unwrap_or(&self.owner)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    #[error("cannot make the registry's certificates: {0}")]
    Certificate(String),
    #[error("cannot run the registry service: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("cannot install the registry's CA certificate for Docker at {path}: {source}")]
    Trust {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the registry service did not come up within 90 s: {0}")]
    NotUp(String),
    #[error(transparent)]
    Store(#[from] RegistryStoreError),
    #[error("cannot keep the registry's secrets: {0}")]
    Secrets(String),
}

/// The registry's TLS material, kept sealed: the CA certificate (for engines to trust)
/// and the registry's own certificate and key.
#[derive(serde::Serialize, serde::Deserialize)]
struct TlsMaterial {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// Turns the managed registry on (idempotent: a second call re-checks and returns it).
pub async fn enable(
    docker: &Docker,
    registries: &RegistryStore,
    secrets: &SecretStore,
    options: &ManagedOptions,
) -> Result<RegistryInfo, ManagedError> {
    let tls = tls_material(secrets, &options.node_addr)?;
    let password = match secrets
        .get(PASSWORD_SECRET)
        .map_err(|e| ManagedError::Secrets(e.to_string()))?
    {
        Some(password) => password,
        None => {
            let password = Secret::new(crate::auth::random_token());
            secrets
                .put(PASSWORD_SECRET, &password)
                .map_err(|e| ManagedError::Secrets(e.to_string()))?;
            password
        }
    };
    install_trust(&options.certs_dir, &options.address(), &tls.ca_pem)?;
    let htpasswd = format!(
        "{USERNAME}:{}\n",
        bcrypt::hash(password.expose(), 10).map_err(|e| ManagedError::Secrets(e.to_string()))?
    );
    let mut files = Vec::new();
    for (file, content) in [
        ("registry.crt", tls.cert_pem.as_str()),
        ("registry.key", tls.key_pem.as_str()),
        ("htpasswd", htpasswd.as_str()),
    ] {
        let prefix = format!("{}-{}", options.service_name(), file.replace('.', "-"));
        files.push((
            file,
            crate::swarm::ensure_secret(docker, &prefix, content).await?,
        ));
    }
    ensure_service(docker, options, &files).await?;
    if let Some(existing) = registries.managed().map_err(ManagedError::Store)? {
        return Ok(existing);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let client = super::client::RegistryClient::new(
        &options.address(),
        USERNAME,
        password.expose(),
        Some(&tls.ca_pem),
    )
    .map_err(|e| ManagedError::Store(e.into()))?;
    loop {
        match client.check().await {
            Ok(()) => break,
            Err(error) if tokio::time::Instant::now() > deadline => {
                return Err(ManagedError::NotUp(error.to_string()))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Ok(registries
        .add(NewRegistry {
            kind: RegistryKind::Managed,
            address: options.address(),
            username: USERNAME.to_owned(),
            password,
            prefix: "captain".to_owned(),
            ca_pem: Some(tls.ca_pem),
        })
        .await?)
}

fn tls_material(secrets: &SecretStore, node_addr: &str) -> Result<TlsMaterial, ManagedError> {
    let sealed = secrets
        .get(TLS_SECRET)
        .map_err(|e| ManagedError::Secrets(e.to_string()))?;
    if let Some(sealed) = sealed {
        return serde_json::from_str(sealed.expose())
            .map_err(|e| ManagedError::Secrets(e.to_string()));
    }
    let material =
        make_certificates(node_addr).map_err(|e| ManagedError::Certificate(e.to_string()))?;
    let json =
        serde_json::to_string(&material).map_err(|e| ManagedError::Secrets(e.to_string()))?;
    secrets
        .put(TLS_SECRET, &Secret::new(json))
        .map_err(|e| ManagedError::Secrets(e.to_string()))?;
    Ok(material)
}

fn make_certificates(node_addr: &str) -> Result<TlsMaterial, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Captain registry CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![node_addr.to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Captain registry");
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let certificate = params.signed_by(&key, &issuer)?;
    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        cert_pem: certificate.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Docker engines trust a registry's CA from `certs.d/HOST:PORT/ca.crt`, read at each
/// push and pull: no engine restart is needed.
pub fn install_trust(
    certs_dir: &std::path::Path,
    address: &str,
    ca_pem: &str,
) -> Result<(), ManagedError> {
    let folder = certs_dir.join(address);
    let path = folder.join("ca.crt");
    std::fs::create_dir_all(&folder)
        .and_then(|()| std::fs::write(&path, ca_pem))
        .map_err(|source| ManagedError::Trust { path, source })
}

async fn ensure_service(
    docker: &Docker,
    options: &ManagedOptions,
    files: &[(&str, (String, String))],
) -> Result<(), ManagedError> {
    let name = options.service_name();
    if docker.inspect_service(&name, None).await.is_ok() {
        return Ok(());
    }
    let secret_path = |file: &str| format!("/run/secrets/{file}");
    let secrets = files
        .iter()
        .map(|(file, (id, swarm_name))| TaskSpecContainerSpecSecrets {
            secret_id: Some(id.clone()),
            secret_name: Some(swarm_name.clone()),
            file: Some(TaskSpecContainerSpecFile {
                name: Some((*file).to_owned()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o400),
            }),
        })
        .collect();
    let spec = ServiceSpec {
        name: Some(name),
        labels: Some(HashMap::from([(
            MANAGED_LABEL.to_owned(),
            "true".to_owned(),
        )])),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(options.image.clone()),
                env: Some(vec![
                    "REGISTRY_HTTP_ADDR=0.0.0.0:5000".into(),
                    format!(
                        "REGISTRY_HTTP_TLS_CERTIFICATE={}",
                        secret_path("registry.crt")
                    ),
                    format!("REGISTRY_HTTP_TLS_KEY={}", secret_path("registry.key")),
                    "REGISTRY_AUTH=htpasswd".into(),
                    "REGISTRY_AUTH_HTPASSWD_REALM=Captain registry".into(),
                    format!("REGISTRY_AUTH_HTPASSWD_PATH={}", secret_path("htpasswd")),
                    "REGISTRY_STORAGE_DELETE_ENABLED=true".into(),
                ]),
                secrets: Some(secrets),
                mounts: Some(vec![Mount {
                    target: Some("/var/lib/registry".into()),
                    source: Some(format!("{}-data", options.service_name())),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", options.node_id)]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(vec![EndpointPortConfig {
                target_port: Some(5000),
                published_port: Some(i64::from(options.port)),
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker.create_service(spec, None).await?;
    tracing::info!(service = %options.service_name(), "managed registry created");
    Ok(())
}
