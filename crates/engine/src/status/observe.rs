//! One full look at the swarm: nodes, services and tasks turned into Captain's types.
//!
//! Docker's models are all-`Option`; this is the one place that decides what a missing
//! field means, so the rest of Captain works with plain values.

use bollard::models::{
    Node, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState as DockerNodeState, Service, Task,
    TaskState as DockerTaskState,
};
use bollard::Docker;
use types::{
    Availability, ClusterSnapshot, NodeInfo, NodeRole, NodeState, ServiceInfo, TaskInfo, TaskState,
};

/// Reads nodes, services and tasks concurrently and builds a snapshot.
pub async fn observe(docker: &Docker) -> Result<ClusterSnapshot, bollard::errors::Error> {
    let (nodes, services, tasks) = tokio::try_join!(
        docker.list_nodes(None),
        docker.list_services(None),
        docker.list_tasks(None),
    )?;
    let mut snapshot = ClusterSnapshot::default();
    for node in nodes.into_iter().filter_map(node_info) {
        snapshot.nodes.insert(node.id.clone(), node);
    }
    for service in services.into_iter().filter_map(service_info) {
        snapshot.services.insert(service.id.clone(), service);
    }
    for task in tasks.into_iter().filter_map(task_info) {
        snapshot.tasks.insert(task.id.clone(), task);
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
