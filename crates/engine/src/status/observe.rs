//! One full look at the swarm: nodes, services and tasks turned into Captain's types.
//!
//! Docker's models are all-`Option`; this is the one place that decides what a missing
//! field means, so the rest of Captain works with plain values.

use crate::docker::DockerAddress;
use bollard::models::{
    Node, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState as DockerNodeState, Service, Task,
    TaskState as DockerTaskState,
};
use bollard::Docker;
use types::{
    Availability, ClusterSnapshot, NodeInfo, NodeRole, NodeState, ServiceInfo, TaskInfo, TaskState,
};

/// Why a look at the swarm failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Docker(#[from] bollard::errors::Error),
    #[error("cannot list tasks: {0}")]
    Tasks(#[from] std::io::Error),
    #[error("unreadable task list: {0}")]
    TaskJson(#[from] serde_json::Error),
}

/// Reads nodes, services and tasks concurrently and builds a snapshot.
pub async fn observe(
    docker: &Docker,
    address: &DockerAddress,
) -> Result<ClusterSnapshot, ObserveError> {
    let (nodes, services, tasks) = tokio::join!(
        docker.list_nodes(None),
        docker.list_services(None),
        // Raw, because bollard's Task lacks the network attachments (instance addresses).
        crate::docker_raw::get(docker, address, "/tasks"),
    );
    let (nodes, services) = (nodes?, services?);
    let tasks: Vec<serde_json::Value> = serde_json::from_slice(&tasks?)?;
    let mut snapshot = ClusterSnapshot::default();
    for node in nodes.into_iter().filter_map(node_info) {
        snapshot.nodes.insert(node.id.clone(), node);
    }
    for service in services.into_iter().filter_map(service_info) {
        snapshot.services.insert(service.id.clone(), service);
    }
    for raw in tasks {
        let address = apps_network_address(&raw);
        let Ok(task) = serde_json::from_value::<Task>(raw) else {
            continue;
        };
        if let Some(mut task) = task_info(task) {
            task.address = address;
            snapshot.tasks.insert(task.id.clone(), task);
        }
    }
    Ok(snapshot)
}

fn node_info(node: Node) -> Option<NodeInfo> {
    let spec = node.spec.unwrap_or_default();
    let description = node.description.unwrap_or_default();
    let status = node.status.unwrap_or_default();
    let resources = description.resources.unwrap_or_default();
    let manager = node.manager_status;
    Some(NodeInfo {
        id: node.id?.as_str().into(),
        hostname: description.hostname.unwrap_or_default(),
        role: match spec.role {
            Some(NodeSpecRoleEnum::MANAGER) => NodeRole::Manager,
            _ => NodeRole::Worker,
        },
        leader: manager.as_ref().and_then(|m| m.leader).unwrap_or(false),
        state: match status.state {
            Some(DockerNodeState::READY) => NodeState::Ready,
            Some(DockerNodeState::DOWN) => NodeState::Down,
            Some(DockerNodeState::DISCONNECTED) => NodeState::Disconnected,
            _ => NodeState::Unknown,
        },
        availability: match spec.availability {
            Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
            Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
            _ => Availability::Active,
        },
        // A manager's status address can be 0.0.0.0; its manager address is the real one.
        addr: manager
            .and_then(|m| m.addr)
            .and_then(|addr| addr.rsplit_once(':').map(|(host, _)| host.to_owned()))
            .or(status.addr)
            .unwrap_or_default(),
        engine_version: description
            .engine
            .and_then(|engine| engine.engine_version)
            .unwrap_or_default(),
        nano_cpus: resources.nano_cpus.unwrap_or(0),
        memory_bytes: resources.memory_bytes.unwrap_or(0),
    })
}

fn service_info(service: Service) -> Option<ServiceInfo> {
    let spec = service.spec.unwrap_or_default();
    let image = spec
        .task_template
        .and_then(|template| template.container_spec)
        .and_then(|container| container.image)
        .unwrap_or_default();
    Some(ServiceInfo {
        id: service.id?.as_str().into(),
        name: spec.name.unwrap_or_default(),
        // Swarm pins images by digest (`image:tag@sha256:…`); people recognise the tag.
        image: image.split('@').next().unwrap_or_default().to_owned(),
        replicas: spec
            .mode
            .and_then(|mode| mode.replicated)
            .map(|replicated| replicated.replicas.unwrap_or(0).max(0) as u64),
    })
}

/// The task's IP on Captain's apps network (`NetworksAttachments[].Addresses`, "IP/len").
fn apps_network_address(task: &serde_json::Value) -> Option<String> {
    task.get("NetworksAttachments")?
        .as_array()?
        .iter()
        .find(|attachment| {
            attachment
                .pointer("/Network/Spec/Name")
                .and_then(|n| n.as_str())
                == Some(crate::APPS_NETWORK)
        })?
        .get("Addresses")?
        .as_array()?
        .first()?
        .as_str()?
        .split('/')
        .next()
        .map(str::to_owned)
}

fn task_info(task: Task) -> Option<TaskInfo> {
    let status = task.status.unwrap_or_default();
    let container = status.container_status.unwrap_or_default();
    Some(TaskInfo {
        id: task.id?.as_str().into(),
        service_id: task.service_id.unwrap_or_default().as_str().into(),
        slot: task.slot.map(|slot| slot.max(0) as u64),
        node_id: task
            .node_id
            .filter(|id| !id.is_empty())
            .map(|id| id.as_str().into()),
        state: task_state(status.state),
        desired_state: task_state(task.desired_state),
        since: status.timestamp.unwrap_or_default(),
        message: status.message.unwrap_or_default(),
        error: status.err.filter(|err| !err.is_empty()),
        exit_code: container.exit_code,
        container_id: container.container_id.filter(|id| !id.is_empty()),
        address: None,
    })
}

fn task_state(state: Option<DockerTaskState>) -> TaskState {
    match state {
        Some(DockerTaskState::PENDING) | Some(DockerTaskState::ALLOCATED) => TaskState::Pending,
        Some(DockerTaskState::ASSIGNED) => TaskState::Assigned,
        Some(DockerTaskState::ACCEPTED) => TaskState::Accepted,
        Some(DockerTaskState::PREPARING) => TaskState::Preparing,
        Some(DockerTaskState::READY) => TaskState::Ready,
        Some(DockerTaskState::STARTING) => TaskState::Starting,
        Some(DockerTaskState::RUNNING) => TaskState::Running,
        Some(DockerTaskState::COMPLETE) => TaskState::Complete,
        Some(DockerTaskState::SHUTDOWN) => TaskState::Shutdown,
        Some(DockerTaskState::FAILED) => TaskState::Failed,
        Some(DockerTaskState::REJECTED) => TaskState::Rejected,
        Some(DockerTaskState::REMOVE) => TaskState::Remove,
        Some(DockerTaskState::ORPHANED) => TaskState::Orphaned,
        _ => TaskState::New,
    }
}
