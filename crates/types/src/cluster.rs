//! What Captain observes of the swarm: nodes, services and their tasks (instances).
//!
//! These are observations, not desired state: they are overwritten wholesale each time
//! the engine looks at Docker, so every field is what Docker last reported.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

id_type!(
    /// A swarm node ID. Nodes are keyed by ID because two engines may share a hostname.
    NodeId
);
id_type!(
    /// A swarm service ID.
    ServiceId
);
id_type!(
    /// A swarm task ID: one instance of a service.
    TaskId
);

/// Whether a node can manage the swarm or only run tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRole {
    Manager,
    Worker,
}

/// Liveness of a node as the swarm managers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    Ready,
    Down,
    Disconnected,
    Unknown,
}

/// Whether the scheduler may place tasks on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Availability {
    Active,
    Pause,
    Drain,
}

/// One server in the swarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    pub hostname: String,
    pub role: NodeRole,
    /// True for the manager that currently leads the raft group.
    pub leader: bool,
    pub state: NodeState,
    pub availability: Availability,
    /// The address other nodes reach this one at.
    pub addr: String,
    pub engine_version: String,
    /// CPUs in units of 1e-9 CPU, as Docker reports them.
    pub nano_cpus: i64,
    pub memory_bytes: i64,
}

impl NodeInfo {
    /// CPU count for display; Docker reports nano-CPUs.
    pub fn cpus(&self) -> f64 {
        self.nano_cpus as f64 / 1e9
    }
}

/// A swarm service: Captain's apps are services, and so is anything made by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub id: ServiceId,
    pub name: String,
    pub image: String,
    /// Desired replicas; `None` for global services.
    pub replicas: Option<u64>,
}

/// Lifecycle state of a task, in swarm's own order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    New,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    /// Whether the task has ended and will never run again (swarm starts a new task instead).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete
                | Self::Shutdown
                | Self::Failed
                | Self::Rejected
                | Self::Remove
                | Self::Orphaned
        )
    }
}

/// One instance of a service, placed (or waiting to be placed) on a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: TaskId,
    pub service_id: ServiceId,
    /// Replica slot; tasks replacing a crashed one keep its slot.
    pub slot: Option<u64>,
    pub node_id: Option<NodeId>,
    pub state: TaskState,
    pub desired_state: TaskState,
    /// RFC 3339 time of the last state change.
    pub since: String,
    pub message: String,
    pub error: Option<String>,
    pub exit_code: Option<i64>,
    pub container_id: Option<String>,
    /// The instance's address on Captain's apps network, once it has one.
    pub address: Option<String>,
}

/// Everything Captain currently knows about the cluster, keyed for cheap diffing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    pub services: BTreeMap<ServiceId, ServiceInfo>,
    pub tasks: BTreeMap<TaskId, TaskInfo>,
}

impl ClusterSnapshot {
    /// Tasks placed on `node` that are meant to run, for the per-node instance list.
    pub fn live_tasks_on<'a>(&'a self, node: &'a NodeId) -> impl Iterator<Item = &'a TaskInfo> {
        self.tasks.values().filter(move |task| {
            task.node_id.as_ref() == Some(node) && !task.desired_state.is_terminal()
        })
    }

    /// The service name for a task, falling back to the ID for a service not yet seen.
    pub fn service_name(&self, id: &ServiceId) -> String {
        self.services
            .get(id)
            .map(|service| service.name.clone())
            .unwrap_or_else(|| id.0.clone())
    }
}

/// An instance running on a node, as the drain preview lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedInstance {
    pub service: String,
    pub slot: Option<i64>,
}
