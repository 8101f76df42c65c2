//! The live status protocol: what the websocket sends to every open dashboard.
//!
//! A client first receives a full [`StatusMessage::Snapshot`], then one
//! [`StatusMessage::Change`] per observed difference. Applying the changes in order to the
//! snapshot reproduces the server's view, so a client that reconnects simply starts over.

use crate::cluster::{ClusterSnapshot, NodeId, NodeInfo, ServiceId, ServiceInfo, TaskId, TaskInfo};
use serde::{Deserialize, Serialize};

/// One difference between two observations of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value")]
pub enum ClusterChange {
    NodeUpserted(NodeInfo),
    NodeRemoved(NodeId),
    ServiceUpserted(ServiceInfo),
    ServiceRemoved(ServiceId),
    TaskUpserted(TaskInfo),
    TaskRemoved(TaskId),
}

/// A websocket frame from server to browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StatusMessage {
    Snapshot(ClusterSnapshot),
    Change(ClusterChange),
}

impl ClusterSnapshot {
    /// Applies one change in place; the browser and the hub share this so they agree.
    pub fn apply(&mut self, change: ClusterChange) {
        match change {
            ClusterChange::NodeUpserted(node) => {
                self.nodes.insert(node.id.clone(), node);
            }
            ClusterChange::NodeRemoved(id) => {
                self.nodes.remove(&id);
            }
            ClusterChange::ServiceUpserted(service) => {
                self.services.insert(service.id.clone(), service);
            }
            ClusterChange::ServiceRemoved(id) => {
                self.services.remove(&id);
            }
            ClusterChange::TaskUpserted(task) => {
                self.tasks.insert(task.id.clone(), task);
            }
            ClusterChange::TaskRemoved(id) => {
                self.tasks.remove(&id);
            }
        }
    }

    /// The changes that turn `self` into `next`, nodes first so a task never names a node
    /// the client has not heard of.
    pub fn diff(&self, next: &ClusterSnapshot) -> Vec<ClusterChange> {
        let mut changes = Vec::new();
        diff_map(
            &self.nodes,
            &next.nodes,
            &mut changes,
            ClusterChange::NodeUpserted,
            ClusterChange::NodeRemoved,
        );
        diff_map(
            &self.services,
            &next.services,
            &mut changes,
            ClusterChange::ServiceUpserted,
            ClusterChange::ServiceRemoved,
        );
        diff_map(
            &self.tasks,
            &next.tasks,
            &mut changes,
            ClusterChange::TaskUpserted,
            ClusterChange::TaskRemoved,
        );
        changes
    }
}

fn diff_map<K: Ord + Clone, V: PartialEq + Clone>(
    old: &std::collections::BTreeMap<K, V>,
    new: &std::collections::BTreeMap<K, V>,
    out: &mut Vec<ClusterChange>,
    upserted: impl Fn(V) -> ClusterChange,
    removed: impl Fn(K) -> ClusterChange,
) {
    for (key, value) in new {
        if old.get(key) != Some(value) {
            out.push(upserted(value.clone()));
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            out.push(removed(key.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::*;

    fn node(id: &str, state: NodeState) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            hostname: "vm".into(),
            role: NodeRole::Manager,
            leader: true,
            state,
            availability: Availability::Active,
            addr: "10.0.0.1".into(),
            engine_version: "20.10.24".into(),
            nano_cpus: 2_000_000_000,
            memory_bytes: 1 << 30,
        }
    }

    fn task(id: &str, state: TaskState) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            service_id: "svc".into(),
            slot: Some(1),
            node_id: Some("n1".into()),
            state,
            desired_state: TaskState::Running,
            since: "2026-12-04T00:00:00Z".into(),
            message: String::new(),
            error: None,
            exit_code: None,
            container_id: None,
            address: None,
        }
    }

    #[test]
    fn applying_a_diff_reproduces_the_new_snapshot() {
        let mut old = ClusterSnapshot::default();
        old.apply(ClusterChange::NodeUpserted(node("n1", NodeState::Ready)));
        old.apply(ClusterChange::TaskUpserted(task("t1", TaskState::Running)));
        old.apply(ClusterChange::TaskUpserted(task("t2", TaskState::Running)));

        let mut new = old.clone();
        new.apply(ClusterChange::NodeUpserted(node("n1", NodeState::Down)));
        new.apply(ClusterChange::TaskUpserted(task("t1", TaskState::Failed)));
        new.apply(ClusterChange::TaskRemoved("t2".into()));
        new.apply(ClusterChange::TaskUpserted(task("t3", TaskState::Starting)));

        let changes = old.diff(&new);
        assert_eq!(changes.len(), 4, "{changes:?}");
        let mut replayed = old.clone();
        for change in changes {
            replayed.apply(change);
        }
        assert_eq!(replayed, new);
    }

    #[test]
    fn identical_snapshots_produce_no_changes() {
        let mut snapshot = ClusterSnapshot::default();
        snapshot.apply(ClusterChange::NodeUpserted(node("n1", NodeState::Ready)));
        assert!(snapshot.diff(&snapshot.clone()).is_empty());
    }

    #[test]
    fn node_changes_come_before_task_changes() {
        let mut new = ClusterSnapshot::default();
        new.apply(ClusterChange::TaskUpserted(task("t1", TaskState::Running)));
        new.apply(ClusterChange::NodeUpserted(node("n1", NodeState::Ready)));
        let changes = ClusterSnapshot::default().diff(&new);
        assert!(matches!(changes[0], ClusterChange::NodeUpserted(_)));
        assert!(matches!(changes[1], ClusterChange::TaskUpserted(_)));
    }

    #[test]
    fn status_messages_round_trip_through_json() {
        let message =
            StatusMessage::Change(ClusterChange::TaskUpserted(task("t1", TaskState::Failed)));
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.contains("\"TaskUpserted\""), "{json}");
        assert_eq!(
            serde_json::from_str::<StatusMessage>(&json).unwrap(),
            message
        );
    }
}
