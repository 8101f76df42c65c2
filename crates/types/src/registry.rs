//! Registries as the dashboard shows them (never with their passwords).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryKind {
    /// Run by Captain on this cluster.
    Managed,
    /// Someone else's (Docker Hub, GitLab, a self-hosted one).
    ThirdParty,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryInfo {
    pub id: i64,
    pub kind: RegistryKind,
    /// `host[:port]`, as image references name it.
    pub address: String,
    pub username: String,
    /// Apps are pushed as `address/prefix/app:vN`.
    pub prefix: String,
    /// A private CA certificate is kept for it.
    pub has_ca: bool,
    /// Deploys are pushed here.
    pub is_default: bool,
    pub created_at: i64,
    /// After setting up a registry with a private CA: how each other node came to trust
    /// it (installed over SSH with a kept key, or what to do by hand).
    #[serde(default)]
    pub node_trust: Vec<String>,
}

/// An app whose running image is not in the default registry yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpushedApp {
    pub app: String,
    pub image: String,
}
