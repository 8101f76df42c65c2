//! Ingress: Captain's proxy runs as a swarm service on the apps network, publishes the
//! HTTP port on this node, and is told which app serves which host.
//!
//! The proxy finds instances itself (Docker DNS `tasks.SERVICE` on the overlay), so
//! Captain only pushes the host → service table: on every change and every few seconds,
//! which also re-teaches a proxy that restarted.

mod image;

pub use proxy::edge::IDENTIFIER_PATH;

use crate::apps::AppStore;
use crate::edge::EdgeStore;
use crate::reconcile::spec::{fingerprint, fingerprint_of, SPEC_HASH_LABEL};
use crate::secrets::{Secret, SecretStore};
use crate::swarm::{APPS_NETWORK, MANAGED_LABEL};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, NetworkAttachmentConfig,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement,
};
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use types::Traffic;

const PUSH_EVERY: Duration = Duration::from_secs(2);
const TOKEN_NAME: &str = "proxy.admin-token";

#[derive(Clone, Debug)]
pub struct IngressOptions {
    /// Port the proxy serves apps on, on this node.
    pub http_port: u16,
    /// Port the proxy serves HTTPS on, on this node.
    pub https_port: u16,
    /// Port of the proxy's admin API on this node (token-protected).
    pub admin_port: u16,
    /// The `captain-proxy` binary to package.
    pub proxy_binary: PathBuf,
    /// This installation's ID: names the service so installations never collide.
    pub owner: String,
    /// Where the proxy reaches Captain's dashboard (on the containers' gateway network),
    /// to serve it at `captain.<root domain>`.
    pub dashboard: Option<std::net::SocketAddr>,
    /// The swarm node the proxy runs on (this one), so its host ports are here.
    pub node_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("cannot read the proxy binary {path} (build it with `cargo build -p captain-proxy`): {source}")]
    Binary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot package the proxy image: {0}")]
    Context(#[source] std::io::Error),
    #[error("cannot build the proxy image: {0}")]
    Build(#[source] bollard::errors::Error),
    #[error("the proxy image build failed: {0} (is debian:bookworm-slim available?)")]
    BuildFailed(String),
    #[error("cannot set up the proxy service: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error("cannot read the proxy token: {0}")]
    Secret(#[from] crate::secrets::SecretLookupError),
}

/// Wakes the route pusher after apps changed, reads the proxy's traffic figures, and
/// hands ACME challenge answers to the proxy.
#[derive(Clone, Default)]
pub struct IngressHandle {
    wake: Arc<Notify>,
    /// Requests per instance, keyed by the instance's address on the apps network.
    traffic: Arc<std::sync::RwLock<HashMap<String, Traffic>>>,
    /// HTTP-01 token → key authorization, for orders in flight.
    challenges: Arc<std::sync::Mutex<HashMap<String, String>>>,
    /// `None` when Captain runs without its proxy.
    pusher: Option<Arc<EdgePusher>>,
}

struct EdgePusher {
    admin_port: u16,
    https_port: u16,
    token: Secret,
    edge: EdgeStore,
    identifier: String,
}

impl IngressHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn set_challenge(&self, token: &str, key_authorization: &str) {
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn clear_challenge(&self, token: &str) {
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Sends the edge rules and certificates to the proxy now; returns once it took them.
    pub async fn push_edge(&self) -> std::io::Result<()> {
        let Some(pusher) = &self.pusher else {
            return Err(std::io::Error::other("Captain runs without its proxy"));
        };
        let (certificates, force_https) = pusher.edge.served().map_err(std::io::Error::other)?;
        let update = proxy::server::EdgeUpdate {
            rules: proxy::edge::EdgeRules {
                identifier: pusher.identifier.clone(),
                challenges: self
                    .challenges
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
                force_https: force_https.into_iter().collect(),
                https_port: pusher.https_port,
            },
            certificates: certificates
                .into_iter()
                .map(|c| proxy::tls::CertificateEntry {
                    hosts: vec![c.domain],
                    chain_pem: c.chain_pem,
                    key_pem: c.key.expose().to_owned(),
                })
                .collect(),
        };
        let body = serde_json::to_string(&update).map_err(std::io::Error::other)?;
        admin_request(pusher.admin_port, &pusher.token, "PUT", "/edge", &body)
            .await
            .map(|_| ())
    }

    pub fn traffic(&self) -> HashMap<String, Traffic> {
        self.traffic
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Puts the proxy service in place and starts pushing routes to it.
pub async fn start(
    docker: Docker,
    apps: AppStore,
    edge: EdgeStore,
    secrets: &SecretStore,
    options: IngressOptions,
) -> Result<IngressHandle, IngressError> {
    let token = admin_token(secrets)?;
    let token_prefix = format!("{}-token", service_name(&options.owner));
    let secret = crate::swarm::ensure_secret(&docker, &token_prefix, token.expose()).await?;
    let image = image::ensure_proxy_image(&docker, &options.proxy_binary).await?;
    ensure_service(&docker, &options, &image, &secret).await?;
    let handle = IngressHandle {
        pusher: Some(Arc::new(EdgePusher {
            admin_port: options.admin_port,
            https_port: options.https_port,
            token: token.clone(),
            edge: edge.clone(),
            identifier: crate::edge::verify::identifier(&options.owner),
        })),
        ..IngressHandle::default()
    };
    let (wake, traffic, pushing) = (handle.wake.clone(), handle.traffic.clone(), handle.clone());
    tokio::spawn(async move {
        let mut last: Option<(tokio::time::Instant, HashMap<String, u64>)> = None;
        loop {
            let table = service_table(&apps, &edge, options.dashboard).to_string();
            if let Err(error) =
                admin_request(options.admin_port, &token, "PUT", "/services", &table).await
            {
                tracing::debug!(%error, "proxy not reachable yet; retrying");
            } else if let Err(error) = pushing.push_edge().await {
                tracing::warn!(%error, "proxy refused the edge rules");
            }
            if let Ok(mut totals) = read_totals(options.admin_port, &token).await {
                // Requests to the dashboard are not an app instance's traffic.
                if let Some(dashboard) = options.dashboard {
                    totals.remove(&dashboard.ip().to_string());
                }
                let now = tokio::time::Instant::now();
                let rates = rates(last.as_ref(), now, &totals);
                *traffic.write().unwrap_or_else(|p| p.into_inner()) = rates;
                last = Some((now, totals));
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(PUSH_EVERY) => {}
            }
        }
    });
    Ok(handle)
}

pub fn service_name(owner: &str) -> String {
    format!("captain-proxy-{}", owner.get(..8).unwrap_or(owner))
}

/// The proxy's admin secret, made once and kept sealed in the store.
fn admin_token(secrets: &SecretStore) -> Result<Secret, IngressError> {
    if let Some(token) = secrets.get(TOKEN_NAME)? {
        return Ok(token);
    }
    let token = Secret::new(crate::auth::random_token());
    secrets.put(TOKEN_NAME, &token)?;
    Ok(token)
}

async fn ensure_service(
    docker: &Docker,
    options: &IngressOptions,
    image: &str,
    secret: &(String, String),
) -> Result<(), IngressError> {
    let name = service_name(&options.owner);
    let mut spec = proxy_spec(options, &name, image, secret);
    let hash = fingerprint(&spec);
    spec.labels
        .get_or_insert_with(HashMap::new)
        .insert(SPEC_HASH_LABEL.to_owned(), hash);
    match docker.inspect_service(&name, None).await {
        Ok(existing) => {
            let current = existing.spec.clone().unwrap_or_default();
            if fingerprint_of(&current) != fingerprint_of(&spec) {
                let version = existing.version.and_then(|v| v.index).unwrap_or(0);
                let options = UpdateServiceOptions {
                    version: version as i32,
                    ..Default::default()
                };
                docker.update_service(&name, spec, options, None).await?;
                tracing::info!(service = %name, "proxy service updated");
            }
        }
        Err(_) => {
            docker.create_service(spec, None).await?;
            tracing::info!(service = %name, "proxy service created");
        }
    }
    Ok(())
}

fn proxy_spec(
    options: &IngressOptions,
    name: &str,
    image: &str,
    (secret_id, secret_name): &(String, String),
) -> ServiceSpec {
    let port = |target: i64, published: u16| EndpointPortConfig {
        target_port: Some(target),
        published_port: Some(i64::from(published)),
        // Host mode: no routing mesh (it needs IPVS) and the client's address survives.
        publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(name.to_owned()),
        labels: Some(HashMap::from([(
            MANAGED_LABEL.to_owned(),
            "true".to_owned(),
        )])),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_owned()),
                env: Some(vec![
                    "CAPTAIN_PROXY_LISTEN=0.0.0.0:80".into(),
                    "CAPTAIN_PROXY_TLS_LISTEN=0.0.0.0:443".into(),
                    "CAPTAIN_PROXY_ADMIN_LISTEN=0.0.0.0:8081".into(),
                    "CAPTAIN_PROXY_TOKEN_FILE=/run/secrets/captain-proxy-token".into(),
                ]),
                secrets: Some(vec![TaskSpecContainerSpecSecrets {
                    secret_id: Some(secret_id.clone()),
                    secret_name: Some(secret_name.clone()),
                    file: Some(TaskSpecContainerSpecFile {
                        name: Some("captain-proxy-token".into()),
                        uid: Some("0".into()),
                        gid: Some("0".into()),
                        mode: Some(0o400),
                    }),
                }]),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", options.node_id)]),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(APPS_NETWORK.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        // A host port can be bound once: the old proxy must stop before the new starts.
        update_config: Some(ServiceSpecUpdateConfig {
            order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(vec![
                port(80, options.http_port),
                port(443, options.https_port),
                port(8081, options.admin_port),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every deployed app at `APP.<root domain>` and its custom domains, served by its
/// instances on their HTTP port; and the dashboard at `captain.<root domain>`.
pub fn service_table(
    apps: &AppStore,
    edge: &EdgeStore,
    dashboard: Option<std::net::SocketAddr>,
) -> serde_json::Value {
    let mut hosts = serde_json::Map::new();
    if let Some(address) = dashboard {
        // An IP "resolves" to itself: the proxy needs no special case for Captain.
        let target = serde_json::json!({ "dns": address.ip().to_string(), "port": address.port() });
        hosts.insert(edge.dashboard_domain(), target);
    }
    for app in apps.list().unwrap_or_default() {
        if app.spec.image.is_empty() {
            continue;
        }
        let target = serde_json::json!({ "dns": format!("tasks.{}", app.service_name()), "port": app.spec.http_port });
        let domains = edge
            .domains_of(&app.name)
            .unwrap_or_else(|_| vec![(edge.default_domain(&app.name), false)]);
        for (domain, _) in domains {
            hosts.insert(domain, target.clone());
        }
    }
    serde_json::json!({ "hosts": hosts })
}

/// Requests per instance address from the proxy (its counters are per `ip:port`).
async fn read_totals(admin_port: u16, token: &Secret) -> std::io::Result<HashMap<String, u64>> {
    let body = admin_request(admin_port, token, "GET", "/stats", "").await?;
    let counts: HashMap<String, u64> =
        serde_json::from_str(&body).map_err(std::io::Error::other)?;
    let mut totals = HashMap::new();
    for (addr, count) in counts {
        let ip = addr
            .rsplit_once(':')
            .map(|(ip, _)| ip.to_owned())
            .unwrap_or(addr);
        *totals.entry(ip).or_default() += count;
    }
    Ok(totals)
}

fn rates(
    last: Option<&(tokio::time::Instant, HashMap<String, u64>)>,
    now: tokio::time::Instant,
    totals: &HashMap<String, u64>,
) -> HashMap<String, Traffic> {
    totals
        .iter()
        .map(|(ip, total)| {
            let per_second = last
                .and_then(|(then, before)| {
                    let seconds = now.duration_since(*then).as_secs_f64();
                    (seconds > 0.0).then(|| {
                        total.saturating_sub(*before.get(ip).unwrap_or(&0)) as f64 / seconds
                    })
                })
                .unwrap_or(0.0);
            (
                ip.clone(),
                Traffic {
                    total: *total,
                    per_second,
                },
            )
        })
        .collect()
}

/// One request to the proxy's admin API on this node; returns the response body.
async fn admin_request(
    admin_port: u16,
    token: &Secret,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", admin_port)).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: captain-proxy\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token.expose(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if head.starts_with("HTTP/1.1 200") {
        // The admin API answers with Content-Length (small bodies), never chunked.
        Ok(body.to_owned())
    } else {
        Err(std::io::Error::other(format!(
            "proxy answered {}",
            head.lines().next().unwrap_or_default()
        )))
    }
}
