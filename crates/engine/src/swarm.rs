//! Preparing the engine for Captain: swarm mode on, and the overlay network apps join.
//!
//! Both steps are idempotent: Captain runs them on every start, and a second run must
//! find everything in place and change nothing.

use bollard::models::{LocalNodeState, NetworkCreateRequest, SwarmInitRequest};
use bollard::Docker;
use std::collections::HashMap;

/// The attachable overlay network every app instance (and the proxy) joins.
pub const APPS_NETWORK: &str = "captain-apps";
/// Marks Docker objects Captain made, so they can be told from the user's own.
pub const MANAGED_LABEL: &str = "dev.captain.managed";

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("cannot read the engine's swarm state: {0}")]
    Inspect(#[source] bollard::errors::Error),
    #[error("cannot initialise swarm mode{hint}: {source}")]
    Init {
        hint: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error(
        "this engine is in swarm state {state:?}; Captain needs an active swarm manager{detail}"
    )]
    Unusable { state: String, detail: String },
    #[error("this engine is a swarm worker; run Captain against a manager node")]
    NotManager,
    #[error("network {name} exists but is a {driver} network without attachable; remove it or rename it")]
    WrongNetwork { name: String, driver: String },
    #[error("cannot create the overlay network {name}: {source}")]
    Network {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
}

/// What [`ensure_swarm`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmReady {
    pub node_id: String,
    /// True when this call turned swarm mode on.
    pub initialised_now: bool,
}

/// Turns swarm mode on if it is off; refuses an engine that cannot manage a swarm.
pub async fn ensure_swarm(
    docker: &Docker,
    advertise_addr: Option<&str>,
) -> Result<SwarmReady, SwarmError> {
    let info = docker.info().await.map_err(SwarmError::Inspect)?;
    let swarm = info.swarm.unwrap_or_default();
    let state = swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE);
    match state {
        LocalNodeState::ACTIVE => {
            if swarm.control_available != Some(true) {
                return Err(SwarmError::NotManager);
            }
            Ok(SwarmReady {
                node_id: swarm.node_id.unwrap_or_default(),
                initialised_now: false,
            })
        }
        LocalNodeState::INACTIVE | LocalNodeState::EMPTY => {
            let request = SwarmInitRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: advertise_addr.map(str::to_owned),
                ..Default::default()
            };
            let node_id = docker
                .init_swarm(request)
                .await
                .map_err(|source| SwarmError::Init {
                    hint: match advertise_addr {
                        Some(addr) => format!(" advertising {addr}"),
                        None => {
                            " (if the machine has several addresses, pass --advertise-addr)".into()
                        }
                    },
                    source,
                })?;
            tracing::info!(%node_id, "swarm mode initialised");
            Ok(SwarmReady {
                node_id,
                initialised_now: true,
            })
        }
        other => Err(SwarmError::Unusable {
            state: format!("{other:?}"),
            detail: swarm
                .error
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
        }),
    }
}

/// Creates the attachable overlay network `name` unless it already exists as one.
/// Returns true when it was created by this call.
pub async fn ensure_overlay_network(docker: &Docker, name: &str) -> Result<bool, SwarmError> {
    if let Some(found) = inspect_network(docker, name).await? {
        return check_network(name, found);
    }
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("overlay".into()),
        attachable: Some(true),
        labels: Some(HashMap::from([(
            MANAGED_LABEL.to_owned(),
            "true".to_owned(),
        )])),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => {
            tracing::info!(network = name, "overlay network created");
            Ok(true)
        }
        // Another Captain (or a racing start) may have created it in between.
        Err(source) => match inspect_network(docker, name).await? {
            Some(found) => check_network(name, found),
            None => Err(SwarmError::Network {
                name: name.to_owned(),
                source,
            }),
        },
    }
}

async fn inspect_network(
    docker: &Docker,
    name: &str,
) -> Result<Option<bollard::models::NetworkInspect>, SwarmError> {
    // A swarm network inspected right after its creation can come back without its
    // driver for a moment (seen under load); look again before judging it.
    for _ in 0..10 {
        match inspect_network_once(docker, name).await? {
            Some(network) if network.driver.as_deref().unwrap_or_default().is_empty() => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            found => return Ok(found),
        }
    }
    inspect_network_once(docker, name).await
}

async fn inspect_network_once(
    docker: &Docker,
    name: &str,
) -> Result<Option<bollard::models::NetworkInspect>, SwarmError> {
    match docker.inspect_network(name, None).await {
        Ok(network) => Ok(Some(network)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(source) => Err(SwarmError::Network {
            name: name.to_owned(),
            source,
        }),
    }
}

fn check_network(name: &str, network: bollard::models::NetworkInspect) -> Result<bool, SwarmError> {
    let driver = network.driver.unwrap_or_default();
    if driver == "overlay" && network.attachable == Some(true) {
        Ok(false)
    } else {
        Err(SwarmError::WrongNetwork {
            name: name.to_owned(),
            driver,
        })
    }
}

/// This node's address in the swarm (what other nodes reach it at).
pub async fn node_addr(docker: &Docker) -> Result<String, SwarmError> {
    let info = docker.info().await.map_err(SwarmError::Inspect)?;
    Ok(info
        .swarm
        .and_then(|s| s.node_addr)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned()))
}

/// A swarm secret holding `content`, named `{prefix}-{hash of content}` — swarm secrets
/// cannot change, so new content means a new name. Returns its ID and name.
pub async fn ensure_secret(
    docker: &Docker,
    prefix: &str,
    content: &str,
) -> Result<(String, String), bollard::errors::Error> {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(content)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("{prefix}-{hash}");
    let filters = std::collections::HashMap::from([("name", vec![name.as_str()])]);
    let existing = docker
        .list_secrets(Some(
            bollard::query_parameters::ListSecretsOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    if let Some(id) = existing.into_iter().find_map(|s| s.id) {
        return Ok((id, name));
    }
    use base64::Engine;
    let spec = bollard::models::SecretSpec {
        name: Some(name.clone()),
        labels: Some(std::collections::HashMap::from([(
            MANAGED_LABEL.to_owned(),
            "true".to_owned(),
        )])),
        data: Some(base64::engine::general_purpose::STANDARD.encode(content)),
        ..Default::default()
    };
    Ok((docker.create_secret(spec).await?.id, name))
}
