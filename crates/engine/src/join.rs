//! Joining a server to the swarm over SSH, checked before and verified after: the host
//! key is shown (and, once confirmed, required), then each check runs and reports as it
//! completes — SSH works, Docker is usable by this user, the server is in no other swarm,
//! it reaches Captain on 2377/tcp and Captain reaches it on 7946 — then `docker swarm join`
//! with the token read from the Docker API, and "joined" only once the node is Ready.
//!
//! The private key is used in memory for this one connection and never written anywhere.
//! A join that fails after it started is undone (`docker swarm leave`), so nothing stays
//! half-joined.

use crate::secrets::Secret;
use bollard::models::NodeState;
use bollard::Docker;
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh::ChannelMsg;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinRole {
    Worker,
    Manager,
}

pub struct JoinRequest {
    /// Captain's address as the new server sees it.
    pub captain_ip: String,
    /// The new server's address as Captain sees it.
    pub remote_ip: String,
    pub ssh_port: u16,
    pub user: String,
    pub private_key: Secret,
    pub passphrase: Option<Secret>,
    pub role: JoinRole,
    /// The host key fingerprint the user confirmed (`SHA256:…`); `None` only to read it.
    pub host_key: Option<String>,
    /// Registries with a private CA (`host:port`, CA PEM) the new server's engine must
    /// trust to pull app images; installed before it joins.
    pub trust: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot reach {address} over SSH: {reason}. Check the address and that port is open.")]
    Unreachable { address: String, reason: String },
    #[error("the server's host key is {found}, not the confirmed {expected}: it changed, or this is not the server you meant. Check it before trying again.")]
    HostKeyChanged { expected: String, found: String },
    #[error("the private key cannot be read: {0}. Paste an OpenSSH or PEM key (ed25519, ECDSA or RSA); give its passphrase if it has one.")]
    BadKey(String),
    #[error("the server refused this key for user {user}. Is its public key in ~{user}/.ssh/authorized_keys?")]
    KeyRefused { user: String },
    #[error("Docker is not installed on the server (docker: command not found). Install Docker Engine there first.")]
    NoDocker,
    #[error("user {user} cannot use Docker on the server: {detail}. Add the user to the docker group or use root.")]
    DockerDenied { user: String, detail: String },
    #[error("the server is already in a swarm ({state}). Run `docker swarm leave` there first if it should join this one.")]
    InSwarm { state: String },
    #[error("the server cannot reach Captain at {captain}:2377/tcp. Open that port (and 7946/tcp+udp, 4789/udp) between the servers, or give the Captain IP the server can reach.")]
    CannotReachCaptain { captain: String },
    #[error("Captain cannot reach the server at {remote}:7946 ({reason}). Open 7946/tcp+udp and 4789/udp between the servers.")]
    CaptainCannotReach { remote: String, reason: String },
    #[error("cannot install the CA certificate of the registry {registry} on the server: {detail}. The SSH user needs to write /etc/docker/certs.d (root, or sudo without a password).")]
    Trust { registry: String, detail: String },
    #[error("`docker swarm join` failed: {0}")]
    JoinFailed(String),
    #[error(
        "the server joined but did not become Ready within 90 s ({0}); it was asked to leave again"
    )]
    NotReady(String),
    #[error("cannot read the join token: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("SSH failed: {0}")]
    Ssh(String),
}

/// One step's outcome, reported as it completes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinProgress {
    pub step: String,
    pub detail: String,
}

struct HostKeyCheck {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint.clone());
        Ok(self.expected.as_deref() == Some(fingerprint.as_str()))
    }
}

/// An SSH session to the new server.
pub struct Remote {
    handle: client::Handle<HostKeyCheck>,
    user: String,
}

/// Connects (without logging in) and returns the server's host key fingerprint, for the
/// user to confirm.
pub async fn host_key(remote_ip: &str, port: u16) -> Result<String, JoinError> {
    let seen = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        expected: None,
        seen: seen.clone(),
    };
    let config = Arc::new(client::Config::default());
    let address = format!("{remote_ip}:{port}");
    let attempt = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client::connect(config, address.as_str(), handler),
    )
    .await;
    let fingerprint = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match (fingerprint, attempt) {
        (Some(fingerprint), _) => Ok(fingerprint),
        (None, Err(_)) => Err(JoinError::Unreachable {
            address,
            reason: "no answer within 10 s".into(),
        }),
        (None, Ok(result)) => Err(JoinError::Unreachable {
            address,
            reason: result.err().map(|e| e.to_string()).unwrap_or_default(),
        }),
    }
}

impl Remote {
    pub async fn connect(request: &JoinRequest) -> Result<Self, JoinError> {
        let key = russh::keys::decode_secret_key(
            request.private_key.expose(),
            request.passphrase.as_ref().map(|p| p.expose()),
        )
        .map_err(|e| JoinError::BadKey(e.to_string()))?;
        let seen = Arc::new(Mutex::new(None));
        let handler = HostKeyCheck {
            expected: request.host_key.clone(),
            seen: seen.clone(),
        };
        let address = format!("{}:{}", request.remote_ip, request.ssh_port);
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        });
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            client::connect(config, address.as_str(), handler),
        )
        .await;
        let found = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut handle = match connected {
            Ok(Ok(handle)) => handle,
            Ok(Err(error)) => {
                return Err(match (found, &request.host_key) {
                    (Some(found), Some(expected)) if &found != expected => {
                        JoinError::HostKeyChanged {
                            expected: expected.clone(),
                            found,
                        }
                    }
                    _ => JoinError::Unreachable {
                        address,
                        reason: error.to_string(),
                    },
                })
            }
            Err(_) => {
                return Err(JoinError::Unreachable {
                    address,
                    reason: "no answer within 10 s".into(),
                })
            }
        };
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| JoinError::Ssh(e.to_string()))?
            .flatten();
        let auth = handle
            .authenticate_publickey(
                request.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| JoinError::Ssh(e.to_string()))?;
        if !auth.success() {
            return Err(JoinError::KeyRefused {
                user: request.user.clone(),
            });
        }
        Ok(Self {
            handle,
            user: request.user.clone(),
        })
    }

    /// Runs `command`; returns its exit status and its output (stdout and stderr).
    pub async fn run(&self, command: &str) -> Result<(u32, String), JoinError> {
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| JoinError::Ssh(e.to_string()))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| JoinError::Ssh(e.to_string()))?;
        let (mut output, mut status) = (Vec::new(), None);
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => output.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, .. } => output.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        Ok((
            status.unwrap_or(255),
            String::from_utf8_lossy(&output).trim().to_owned(),
        ))
    }
}

/// Checks the server, joins it, and waits until swarm reports it Ready; returns its
/// node ID. `progress` hears each step as it completes.
pub async fn join(
    docker: &Docker,
    request: &JoinRequest,
    mut progress: impl FnMut(JoinProgress),
) -> Result<String, JoinError> {
    let mut report = |step: &str, detail: String| {
        progress(JoinProgress {
            step: step.to_owned(),
            detail,
        })
    };
    let remote = Remote::connect(request).await?;
    report("ssh", format!("logged in as {}", remote.user));

    let (status, output) = remote
        .run("docker version --format '{{.Server.Version}}'")
        .await?;
    match status {
        0 => report("docker", format!("Docker {output}")),
        127 => return Err(JoinError::NoDocker),
        _ if output.contains("command not found") => return Err(JoinError::NoDocker),
        _ => {
            return Err(JoinError::DockerDenied {
                user: remote.user.clone(),
                detail: output,
            })
        }
    }

    let (_, state) = remote
        .run("docker info --format '{{.Swarm.LocalNodeState}}'")
        .await?;
    if state != "inactive" && !state.is_empty() {
        return Err(JoinError::InSwarm { state });
    }
    report("swarm", "not in a swarm".into());

    let probe = format!(
        "timeout 5 bash -c 'echo > /dev/tcp/{}/2377' 2>&1",
        request.captain_ip
    );
    if remote.run(&probe).await?.0 != 0 {
        return Err(JoinError::CannotReachCaptain {
            captain: request.captain_ip.clone(),
        });
    }
    report(
        "reaches-captain",
        format!("{}:2377 reachable", request.captain_ip),
    );

    // Nothing listens on 7946 before the join: a refusal proves the path is open, only
    // silence means a firewall drops it.
    let gossip = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((request.remote_ip.as_str(), 7946)),
    )
    .await;
    match gossip {
        Ok(Ok(_)) => {}
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {}
        Ok(Err(error)) => {
            return Err(JoinError::CaptainCannotReach {
                remote: request.remote_ip.clone(),
                reason: error.to_string(),
            })
        }
        Err(_) => {
            return Err(JoinError::CaptainCannotReach {
                remote: request.remote_ip.clone(),
                reason: "no answer within 5 s".into(),
            })
        }
    }
    report(
        "captain-reaches",
        format!("{}:7946 reachable", request.remote_ip),
    );

    for (registry, ca_pem) in &request.trust {
        install_trust(&remote, registry, ca_pem).await?;
        report("registry-ca", format!("{registry} trusted"));
    }

    let swarm = docker.inspect_swarm().await?;
    let tokens = swarm.join_tokens.unwrap_or_default();
    let token = match request.role {
        JoinRole::Worker => tokens.worker,
        JoinRole::Manager => tokens.manager,
    }
    .unwrap_or_default();
    let command = format!(
        "docker swarm join --token {token} --advertise-addr {} {}:2377 2>&1",
        request.remote_ip, request.captain_ip
    );
    let (status, output) = remote.run(&command).await?;
    if status != 0 {
        return Err(JoinError::JoinFailed(output));
    }
    let (_, node_id) = remote
        .run("docker info --format '{{.Swarm.NodeID}}'")
        .await?;
    report("joined", format!("joined as node {node_id}"));

    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let state = docker
            .inspect_node(&node_id)
            .await
            .ok()
            .and_then(|n| n.status)
            .and_then(|s| s.state);
        if state == Some(NodeState::READY) {
            report("ready", "the node is Ready".into());
            return Ok(node_id);
        }
        if tokio::time::Instant::now() > deadline {
            // Undo: nothing half-joined stays behind.
            let _ = remote.run("docker swarm leave --force").await;
            let _ = docker
                .delete_node(
                    &node_id,
                    Some(
                        bollard::query_parameters::DeleteNodeOptionsBuilder::default()
                            .force(true)
                            .build(),
                    ),
                )
                .await;
            return Err(JoinError::NotReady(format!("{state:?}")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes a registry's CA where the server's Docker engine reads it, directly or through
/// passwordless sudo.
pub(crate) async fn install_trust(
    remote: &Remote,
    registry: &str,
    ca_pem: &str,
) -> Result<(), JoinError> {
    let failed = |detail: String| JoinError::Trust {
        registry: registry.to_owned(),
        detail,
    };
    let safe_registry = registry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-'));
    let safe_pem = ca_pem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '/' | '=' | ' ' | '\n'));
    if !safe_registry || !safe_pem {
        return Err(failed(
            "the address or certificate has unexpected characters".into(),
        ));
    }
    let script = format!(
        "mkdir -p /etc/docker/certs.d/{registry} && printf '%s' '{ca_pem}' > /etc/docker/certs.d/{registry}/ca.crt"
    );
    let (status, output) = remote.run(&format!("sh -c \"{script}\" 2>&1")).await?;
    if status == 0 {
        return Ok(());
    }
    let (status, sudo_output) = remote
        .run(&format!("sudo -n sh -c \"{script}\" 2>&1"))
        .await?;
    if status == 0 {
        return Ok(());
    }
    Err(failed(format!("{output}; with sudo: {sudo_output}")))
}
