//! Captain's engine: everything that talks to Docker, SSH, registries and the store.
//!
//! The engine never depends on Leptos; the server crate wires it into HTTP. Modules are
//! one per noun: [`docker`] connects, [`swarm`] prepares the cluster, [`store`] keeps
//! desired state, [`status`] observes what runs and broadcasts each change.

pub mod apps;
pub mod archive;
pub mod auth;
pub mod build;
pub mod docker;
pub mod docker_raw;
pub mod edge;
pub mod ingress;
pub mod join;
pub mod logs;
pub mod node_access;
pub mod nodes;
pub mod reconcile;
pub mod registry;
pub mod secrets;
pub mod status;
pub mod store;
pub mod swarm;

pub use auth::{Auth, AuthError, Identity};
pub use bollard;
pub use docker::{connect, ConnectError, DockerAddress};
pub use secrets::{Secret, SecretBox};
pub use status::{HubOptions, StatusHub};
pub use store::{Store, StoreError};
pub use swarm::{ensure_overlay_network, ensure_swarm, SwarmError, APPS_NETWORK};
