//! Types shared by Captain's server and its browser dashboard.
//!
//! Everything here must compile to `wasm32-unknown-unknown` with no server-only
//! dependency: only `serde` and the standard library. The server fills these types from
//! Docker; the browser renders them.

pub mod app;
pub mod auth;
pub mod build;
pub mod cluster;
pub mod edge;
pub mod registry;
pub mod server;
pub mod status;
pub mod validate;

pub use app::{App, AppSpec, AppVersion, DeployState, EnvVar, LogLine, Traffic, VolumeMount};
pub use auth::{ApiTokenInfo, AuthState, NewApiToken, SessionInfo};
pub use build::{Build, BuildEvent, BuildState};
pub use cluster::{
    Availability, ClusterSnapshot, NodeId, NodeInfo, NodeRole, NodeState, PlacedInstance,
    ServiceId, ServiceInfo, TaskId, TaskInfo, TaskState,
};
pub use edge::{AppEdge, CertificateInfo, DomainInfo};
pub use server::ServerInfo;
pub use status::{ClusterChange, StatusMessage};
