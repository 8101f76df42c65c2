//! Node maintenance: drain (with a preview of what will move), activate, promote, demote
//! and remove — a dead node included, which CapRover cannot do (#137).

use bollard::models::{NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, TaskState};
use bollard::query_parameters::{
    DeleteNodeOptionsBuilder, ListTasksOptionsBuilder, UpdateNodeOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("there is no node {0} in this swarm")]
    NotFound(String),
    #[error("{0} is the last manager; promote another node first")]
    LastManager(String),
    #[error("{node} still runs {left} instance(s) after {seconds} s of draining")]
    StillBusy {
        node: String,
        left: usize,
        seconds: u64,
    },
    #[error("Captain's own node cannot be removed")]
    OwnNode,
    #[error("the swarm refused: {0}")]
    Docker(#[from] bollard::errors::Error),
}

pub use types::cluster::PlacedInstance;

/// Instances running (or starting) on `node_id` now: what a drain would move.
pub async fn instances_on(
    docker: &Docker,
    node_id: &str,
) -> Result<Vec<PlacedInstance>, NodeError> {
    let filters = HashMap::from([("node", vec![node_id]), ("desired-state", vec!["running"])]);
    let tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::default().filters(&filters).build(),
        ))
        .await?;
    let services: HashMap<String, String> = docker
        .list_services(None::<bollard::query_parameters::ListServicesOptions>)
        .await?
        .into_iter()
        .filter_map(|s| Some((s.id?, s.spec?.name?)))
        .collect();
    let mut placed: Vec<PlacedInstance> = tasks
        .into_iter()
        .filter(|t| {
            !matches!(
                t.status.as_ref().and_then(|s| s.state),
                Some(
                    TaskState::SHUTDOWN
                        | TaskState::COMPLETE
                        | TaskState::FAILED
                        | TaskState::REJECTED
                )
            )
        })
        .map(|t| PlacedInstance {
            service: t
                .service_id
                .and_then(|id| services.get(&id).cloned())
                .unwrap_or_default(),
            slot: t.slot,
        })
        .collect();
    placed.sort_by(|a, b| (&a.service, a.slot).cmp(&(&b.service, b.slot)));
    Ok(placed)
}

async fn update(
    docker: &Docker,
    node_id: &str,
    change: impl FnOnce(&mut bollard::models::NodeSpec),
) -> Result<(), NodeError> {
    let node = docker
        .inspect_node(node_id)
        .await
        .map_err(|_| NodeError::NotFound(node_id.to_owned()))?;
    let mut spec = node.spec.unwrap_or_default();
    change(&mut spec);
    let version = node.version.and_then(|v| v.index).unwrap_or(0);
    docker
        .update_node(
            node_id,
            spec,
            UpdateNodeOptionsBuilder::default()
                .version(version as i64)
                .build(),
        )
        .await?;
    Ok(())
}

pub async fn set_availability(
    docker: &Docker,
    node_id: &str,
    availability: NodeSpecAvailabilityEnum,
) -> Result<(), NodeError> {
    update(docker, node_id, |spec| {
        spec.availability = Some(availability)
    })
    .await
}

pub async fn set_role(
    docker: &Docker,
    node_id: &str,
    role: NodeSpecRoleEnum,
) -> Result<(), NodeError> {
    if role == NodeSpecRoleEnum::WORKER {
        let managers = docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await?
            .into_iter()
            .filter(|n| n.spec.as_ref().and_then(|s| s.role) == Some(NodeSpecRoleEnum::MANAGER))
            .count();
        if managers <= 1 {
            return Err(NodeError::LastManager(node_id.to_owned()));
        }
    }
    // A node promoted moments ago is not in the raft membership yet; demoting it then
    // fails, so give the promotion a little time to settle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match update(docker, node_id, |spec| spec.role = Some(role)).await {
            Err(NodeError::Docker(error))
                if (error.to_string().contains("raft memberlist")
                    || error.to_string().contains("deadline exceeded"))
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// Whether the removed server itself left the swarm.
#[derive(Debug, PartialEq, Eq)]
pub enum Left {
    /// Captain ran `docker swarm leave` on it over SSH with the kept key.
    OverSsh,
    /// It was down: it finds out when it comes back (and should then leave by hand).
    WasDown,
    /// No SSH access was kept for it: someone has to run `docker swarm leave` there.
    NoAccessKept,
    /// SSH was tried and failed (why); removed from the swarm's list anyway.
    Failed(String),
}

impl Left {
    pub fn describe(&self) -> String {
        match self {
            Left::OverSsh => "removed; the server left the swarm (over SSH)".into(),
            Left::WasDown => "removed; the server was down — if it comes back, run `docker swarm leave` there".into(),
            Left::NoAccessKept => "removed; no SSH key was kept for it, so run `docker swarm leave` on the server before joining it anywhere".into(),
            Left::Failed(reason) => format!("removed, but it could not be made to leave over SSH ({reason}); run `docker swarm leave` there"),
        }
    }
}

/// Removes a node: a live one is drained first and must end up empty, then leaves the
/// swarm over SSH when `access` (kept at join time) is given; a dead (Down) one is
/// removed at once, its instances having been rescheduled by swarm already.
pub async fn remove(
    docker: &Docker,
    node_id: &str,
    own_node_id: &str,
    drain_timeout: Duration,
    access: Option<&crate::join::JoinRequest>,
) -> Result<Left, NodeError> {
    if node_id == own_node_id {
        return Err(NodeError::OwnNode);
    }
    let node = docker
        .inspect_node(node_id)
        .await
        .map_err(|_| NodeError::NotFound(node_id.to_owned()))?;
    let down = node.status.as_ref().and_then(|s| s.state) != Some(NodeState::READY);
    if node.spec.as_ref().and_then(|s| s.role) == Some(NodeSpecRoleEnum::MANAGER) && !down {
        // A manager leaves the raft quorum only as a worker.
        set_role(docker, node_id, NodeSpecRoleEnum::WORKER).await?;
    }
    if !down {
        set_availability(docker, node_id, NodeSpecAvailabilityEnum::DRAIN).await?;
        let deadline = tokio::time::Instant::now() + drain_timeout;
        loop {
            let left = instances_on(docker, node_id).await?.len();
            if left == 0 {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::StillBusy {
                    node: node_id.to_owned(),
                    left,
                    seconds: drain_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let left = match (down, access) {
        (true, _) => Left::WasDown,
        (false, None) => Left::NoAccessKept,
        (false, Some(access)) => match crate::node_access::leave_swarm(access).await {
            Ok(()) => Left::OverSsh,
            Err(error) => Left::Failed(error.to_string()),
        },
    };
    // Force: a node that is still up but drained has nothing left to lose, and a dead
    // one cannot leave by itself.
    docker
        .delete_node(
            node_id,
            Some(DeleteNodeOptionsBuilder::default().force(true).build()),
        )
        .await?;
    tracing::info!(node = %node_id, ?left, "node removed");
    Ok(left)
}

/// Spreads the instances of every app with more than one over all available nodes — swarm
/// never moves running instances by itself, so a new node would otherwise stay empty.
/// Each such service is redeployed in place (a forced rolling update, start-first), which
/// lets the scheduler place the replacements on the least busy nodes. Returns the apps.
pub async fn rebalance(docker: &Docker, owner: &str) -> Result<Vec<String>, NodeError> {
    use crate::reconcile::spec::{APP_LABEL, OWNER_LABEL};
    let owned = format!("{OWNER_LABEL}={owner}");
    let filters = HashMap::from([("label", vec![owned.as_str()])]);
    let services = docker
        .list_services(Some(
            bollard::query_parameters::ListServicesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    let mut moved = Vec::new();
    for service in services {
        let Some(mut spec) = service.spec else {
            continue;
        };
        let replicas = spec
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .unwrap_or(0);
        if replicas < 2 {
            continue;
        }
        let app = spec
            .labels
            .as_ref()
            .and_then(|l| l.get(APP_LABEL))
            .cloned()
            .unwrap_or_default();
        if let Some(template) = spec.task_template.as_mut() {
            // The spec's fingerprint label is unchanged, so the reconciler leaves it be.
            template.force_update = Some(template.force_update.unwrap_or(0) + 1);
        }
        let version = service.version.and_then(|v| v.index).unwrap_or(0);
        let id = service.id.unwrap_or_default();
        docker
            .update_service(
                &id,
                spec,
                bollard::query_parameters::UpdateServiceOptions {
                    version: version as i32,
                    ..Default::default()
                },
                None,
            )
            .await?;
        moved.push(app);
    }
    Ok(moved)
}
