//! Everything Captain does before it serves a request: connect to Docker, make sure swarm
//! mode and the apps network exist, open the store, start the status hub.
//!
//! Each step fails with a message that says what to fix; none of them panics.

use crate::config::Config;
use anyhow::Context;
use engine::apps::AppStore;
use engine::reconcile::{Reconciler, ReconcilerHandle};
use engine::secrets::SecretStore;
use engine::{Auth, DockerAddress, HubOptions, SecretBox, StatusHub, Store, APPS_NETWORK};
use types::ServerInfo;

/// What the running server holds on to.
pub struct Prepared {
    pub docker: bollard::Docker,
    pub hub: StatusHub,
    pub auth: Auth,
    pub apps: AppStore,
    pub reconciler: ReconcilerHandle,
    pub ingress: Option<engine::ingress::IngressHandle>,
    pub edge: app::server_context::EdgeServices,
    pub registry: app::server_context::RegistryServices,
    pub info: ServerInfo,
    pub builds: engine::build::Builds,
    pub node_access: engine::node_access::NodeAccess,
    /// Largest upload the builds endpoint takes, in bytes.
    pub max_upload_bytes: u64,
    /// The dashboard's listener on the containers' gateway, for the proxy to reach it.
    pub dashboard_listener: Option<std::net::TcpListener>,
}

pub async fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    let address = DockerAddress::resolve(config.docker_host.as_deref());
    let docker = engine::connect(&address).await?;
    tracing::info!(%address, "connected to Docker");

    let swarm = engine::ensure_swarm(&docker, config.advertise_addr.as_deref()).await?;
    engine::ensure_overlay_network(&docker, APPS_NETWORK).await?;

    let store = Store::open(&config.data_dir)?;
    if swarm.initialised_now {
        store.set_setting("swarm.initialised_by_captain", &swarm.node_id)?;
    }
    let secrets = SecretStore::new(
        store.clone(),
        SecretBox::open_or_create(&config.secret_key_path())?,
    );
    let auth = Auth::new(store.clone());
    if let Some(password) = &config.initial_password {
        if !auth.has_password()? {
            auth.set_initial_password(password.expose())
                .await
                .context("the initial password (CAPTAIN_INITIAL_PASSWORD) is not acceptable")?;
        }
    }

    let apps = AppStore::new(store.clone());
    let owner = installation_id(&store)?;
    let registries = engine::registry::RegistryStore::new(store.clone(), secrets.clone());
    let reconciler = Reconciler::new(docker.clone(), apps.clone(), owner.clone())
        .with_registries(registries.clone());
    let pusher = reconciler.clone();
    let reconciler = reconciler.spawn();
    let max_upload_bytes = config.max_upload_mb.max(1) * 1024 * 1024;
    let builds = engine::build::Builds::start(
        store.clone(),
        docker.clone(),
        apps.clone(),
        reconciler.clone(),
        engine::build::BuildOptions {
            concurrency: config.build_concurrency,
            keep_versions: config.keep_versions,
            work_dir: config.data_dir.join("builds"),
            unpack_limits: engine::archive::Limits {
                max_total_bytes: max_upload_bytes * 2,
                ..Default::default()
            },
        },
    )?;
    // The managed registry is reached at this node's swarm address by every node.
    let node_addr = engine::swarm::node_addr(&docker).await?;
    let registry = app::server_context::RegistryServices {
        docker: docker.clone(),
        store: registries,
        secrets: secrets.clone(),
        pusher,
        managed: engine::registry::managed::ManagedOptions {
            image: config.registry_image.clone(),
            port: config.registry_port,
            node_addr,
            node_id: swarm.node_id.clone(),
            owner: owner.clone(),
            certs_dir: config.docker_certs_dir.clone(),
        },
    };
    let edge_store =
        engine::edge::EdgeStore::new(store.clone(), secrets.clone(), &config.root_domain);
    let identifier = engine::edge::verify::identifier(&owner);
    let dashboard_listener = if config.no_ingress {
        None
    } else {
        gateway_listener(&docker, &owner).await
    };
    let dashboard = dashboard_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok());
    let (ingress, ingress_status) = if config.no_ingress {
        (None, "off (--no-ingress)".to_owned())
    } else {
        let options = engine::ingress::IngressOptions {
            http_port: config.http_port,
            https_port: config.https_port,
            dashboard,
            admin_port: config.proxy_admin_port,
            proxy_binary: config.proxy_binary_path(),
            owner,
            node_id: swarm.node_id.clone(),
        };
        let started = engine::ingress::start(
            docker.clone(),
            apps.clone(),
            edge_store.clone(),
            &secrets,
            options,
        );
        match started.await {
            Ok(handle) => (
                Some(handle),
                format!("http://APP.{}:{}", config.root_domain, config.http_port),
            ),
            Err(error) => {
                // The dashboard stays useful without the proxy; say why apps are not served.
                tracing::error!(%error, "apps will not be served");
                (None, format!("off: {error}"))
            }
        }
    };

    let issuer = ingress.clone().map(|ingress| {
        let options = engine::edge::acme::AcmeOptions {
            directory: config.acme_directory.clone(),
            ca_file: config.acme_ca_file.clone(),
            contact_email: config.acme_email.clone(),
            renew_before: std::time::Duration::from_secs(config.renew_before_days * 24 * 3600),
            check_every: std::time::Duration::from_secs(config.renew_check_secs.max(1)),
        };
        let issuer = engine::edge::acme::CertIssuer::new(
            options,
            edge_store.clone(),
            secrets.clone(),
            ingress,
        );
        tokio::spawn(issuer.clone().renew_forever());
        issuer
    });
    let edge = app::server_context::EdgeServices {
        store: edge_store,
        check: engine::edge::verify::DomainCheck {
            resolver: engine::edge::dns::Resolver {
                server: config.dns_server,
            },
            http_port: config.http_port,
            identifier,
        },
        issuer,
        http_port: config.http_port,
        https_port: config.https_port,
    };

    let hub = StatusHub::start(docker.clone(), address.clone(), HubOptions::default())
        .await
        .with_context(|| format!("cannot read the swarm state from {address}"))?;

    let info = ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        root_domain: config.root_domain.clone(),
        data_dir: config.data_dir.display().to_string(),
        docker_host: address.to_string(),
        advertise_addr: config.advertise_addr.clone().unwrap_or_default(),
        node_id: swarm.node_id,
        apps_network: APPS_NETWORK.to_owned(),
        ingress: ingress_status,
    };
    Ok(Prepared {
        docker,
        hub,
        auth,
        apps,
        reconciler,
        ingress,
        edge,
        registry,
        info,
        builds,
        node_access: engine::node_access::NodeAccess::new(secrets.clone()),
        max_upload_bytes,
        dashboard_listener,
    })
}

/// A listener for the dashboard on the gateway address of swarm's container bridge
/// (`docker_gwbridge`), where the proxy container reaches this host — never on a public
/// interface. `None` (with a log line) when that network is not there.
async fn gateway_listener(docker: &bollard::Docker, owner: &str) -> Option<std::net::TcpListener> {
    let network = docker
        .inspect_network(
            "docker_gwbridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()?;
    let gateway = network
        .ipam
        .and_then(|ipam| ipam.config)
        .and_then(|configs| configs.into_iter().find_map(|c| c.gateway))?;
    // A port below the ephemeral range (32768+), picked per installation: an ephemeral
    // port could be one that a proxy's published port is about to need.
    let base = 24_000 + (owner_hash(owner) % 8_000) as u16;
    for port in base..base + 20 {
        if let Ok(listener) = std::net::TcpListener::bind((gateway.as_str(), port)) {
            return listener.set_nonblocking(true).ok().map(|_| listener);
        }
    }
    tracing::warn!(%gateway, "no free port there: the dashboard will not be served through the proxy");
    None
}

fn owner_hash(owner: &str) -> u64 {
    owner.bytes().fold(0u64, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
    })
}

/// This installation's stable ID, made on first start; it marks the services Captain owns.
fn installation_id(store: &Store) -> anyhow::Result<String> {
    const KEY: &str = "installation.id";
    if let Some(id) = store.setting(KEY)? {
        return Ok(id);
    }
    let id = format!("{:016x}", rand_u64());
    store.set_setting(KEY, &id)?;
    Ok(id)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; uniqueness, not secrecy, is what matters here.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}
