//! Facts about the running Captain that the dashboard shows (never secrets).

use serde::{Deserialize, Serialize};

/// How this Captain was started and what it found, for the Settings page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    /// Apps are served at `APP.<root_domain>`.
    pub root_domain: String,
    pub data_dir: String,
    pub docker_host: String,
    /// The address swarm advertises to other nodes; empty when Docker chose it.
    pub advertise_addr: String,
    /// This engine's swarm node ID.
    pub node_id: String,
    /// The overlay network app instances join.
    pub apps_network: String,
    /// Where apps are served, or why they are not.
    pub ingress: String,
}
