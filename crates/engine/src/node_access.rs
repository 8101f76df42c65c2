//! SSH access to joined servers, kept only when the user asks at join time, sealed in the
//! store like every other secret: with it Captain can make a removed server leave the
//! swarm itself (otherwise it keeps believing it belongs to one, and the next join fails
//! with "already in a swarm" until someone runs `docker swarm leave` there by hand).

use crate::join::{JoinError, JoinRequest, JoinRole, Remote};
use crate::secrets::{Secret, SecretLookupError, SecretStore};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "node-ssh/";

/// What is sealed: how to reach the server again, host key pinned. No `Debug`: the key
/// must never reach a log line through it.
#[derive(Serialize, Deserialize)]
struct KeptAccess {
    remote_ip: String,
    ssh_port: u16,
    user: String,
    private_key: String,
    passphrase: Option<String>,
    host_key: String,
}

#[derive(Clone)]
pub struct NodeAccess {
    secrets: SecretStore,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeAccessError {
    #[error(transparent)]
    Lookup(#[from] SecretLookupError),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error("the kept SSH access of node {0} is unreadable; remove it and join again")]
    Corrupt(String),
}

impl NodeAccess {
    pub fn new(secrets: SecretStore) -> Self {
        Self { secrets }
    }

    /// Seals the access `request` used to join `node_id`.
    pub fn keep(&self, node_id: &str, request: &JoinRequest) -> Result<(), NodeAccessError> {
        let kept = KeptAccess {
            remote_ip: request.remote_ip.clone(),
            ssh_port: request.ssh_port,
            user: request.user.clone(),
            private_key: request.private_key.expose().to_owned(),
            passphrase: request.passphrase.as_ref().map(|p| p.expose().to_owned()),
            host_key: request.host_key.clone().unwrap_or_default(),
        };
        let json = serde_json::to_string(&kept).expect("kept access always serialises");
        self.secrets.put(&name(node_id), &Secret::new(json))?;
        Ok(())
    }

    pub fn is_kept(&self, node_id: &str) -> Result<bool, NodeAccessError> {
        Ok(self.secrets.get(&name(node_id))?.is_some())
    }

    pub fn forget(&self, node_id: &str) -> Result<(), NodeAccessError> {
        self.secrets.delete(&name(node_id))?;
        Ok(())
    }

    /// A request that reaches the server again with the kept key (host key pinned).
    pub fn request(&self, node_id: &str) -> Result<Option<JoinRequest>, NodeAccessError> {
        let Some(secret) = self.secrets.get(&name(node_id))? else {
            return Ok(None);
        };
        let kept: KeptAccess = serde_json::from_str(secret.expose())
            .map_err(|_| NodeAccessError::Corrupt(node_id.to_owned()))?;
        Ok(Some(JoinRequest {
            captain_ip: String::new(),
            remote_ip: kept.remote_ip,
            ssh_port: kept.ssh_port,
            user: kept.user,
            private_key: Secret::new(kept.private_key),
            passphrase: kept.passphrase.map(Secret::new),
            role: JoinRole::Worker,
            host_key: Some(kept.host_key),
            trust: Vec::new(),
        }))
    }
}

fn name(node_id: &str) -> String {
    format!("{PREFIX}{node_id}")
}

/// Makes every other node's engine trust a registry's private CA: over SSH where a key
/// was kept, otherwise by saying what to do there. One line per node.
pub async fn trust_everywhere(
    access: &NodeAccess,
    docker: &bollard::Docker,
    own_node_id: &str,
    registry: &str,
    ca_pem: &str,
) -> Vec<String> {
    let nodes = docker
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .unwrap_or_default();
    let mut notes = Vec::new();
    for node in nodes {
        let Some(id) = node.id.filter(|id| id != own_node_id) else {
            continue;
        };
        let name = node
            .status
            .and_then(|status| status.addr)
            .unwrap_or_else(|| id.clone());
        let note = match access.request(&id) {
            Ok(Some(request)) => match install_over_ssh(&request, registry, ca_pem).await {
                Ok(()) => format!("{name}: CA installed over SSH"),
                Err(error) => format!("{name}: could not install the CA over SSH: {error}"),
            },
            Ok(None) => format!(
                "{name}: no SSH key kept; copy the CA to /etc/docker/certs.d/{registry}/ca.crt there"
            ),
            Err(error) => format!("{name}: {error}"),
        };
        tracing::info!(%note, "registry trust");
        notes.push(note);
    }
    notes
}

async fn install_over_ssh(
    request: &JoinRequest,
    registry: &str,
    ca_pem: &str,
) -> Result<(), JoinError> {
    let remote = Remote::connect(request).await?;
    crate::join::install_trust(&remote, registry, ca_pem).await
}

/// Makes the server behind `access` leave its swarm (`docker swarm leave --force`).
pub async fn leave_swarm(access: &JoinRequest) -> Result<(), JoinError> {
    let remote = Remote::connect(access).await?;
    let (status, output) = remote.run("docker swarm leave --force").await?;
    if status == 0 || output.contains("not part of a swarm") {
        return Ok(());
    }
    Err(JoinError::Ssh(format!(
        "`docker swarm leave` failed there (exit {status}): {output}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_access_round_trips_sealed_and_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let secret_box = crate::SecretBox::open_or_create(&dir.path().join("key")).unwrap();
        let access = NodeAccess::new(SecretStore::new(store, secret_box));
        let request = JoinRequest {
            captain_ip: "10.0.0.1".into(),
            remote_ip: "10.0.0.2".into(),
            ssh_port: 2222,
            user: "deploy".into(),
            private_key: Secret::new("-----BEGIN KEY-----\nsecret-material\n"),
            passphrase: Some(Secret::new("pass")),
            role: JoinRole::Manager,
            host_key: Some("SHA256:abc".into()),
            trust: Vec::new(),
        };
        assert!(!access.is_kept("node1").unwrap());
        access.keep("node1", &request).unwrap();
        assert!(access.is_kept("node1").unwrap());
        let back = access.request("node1").unwrap().unwrap();
        assert_eq!(back.remote_ip, "10.0.0.2");
        assert_eq!(back.ssh_port, 2222);
        assert_eq!(back.user, "deploy");
        assert_eq!(back.private_key.expose(), request.private_key.expose());
        assert_eq!(back.passphrase.unwrap().expose(), "pass");
        assert_eq!(back.host_key.as_deref(), Some("SHA256:abc"));
        let on_disk = std::fs::read(dir.path().join(crate::store::DATABASE_FILE)).unwrap();
        assert!(
            !String::from_utf8_lossy(&on_disk).contains("secret-material"),
            "only ciphertext is stored"
        );
        access.forget("node1").unwrap();
        assert!(access.request("node1").unwrap().is_none());
    }
}
