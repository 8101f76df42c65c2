//! Following an app's logs: every instance's output merged into one stream, each line
//! tagged with its instance, including instances that start while someone is watching.
//!
//! Swarm's service-logs call does not say which task wrote a line, so each task's logs are
//! followed separately (through the manager, so instances on other nodes work too) and
//! new tasks are picked up from the status hub.

use crate::status::StatusHub;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use types::{ClusterSnapshot, LogLine, TaskInfo, TaskState};

/// Lines buffered per watcher; a watcher that cannot keep up loses lines, not memory.
const BUFFER: usize = 1000;

/// Starts following the logs of service `service_name`; lines arrive on the receiver until
/// it is dropped.
pub fn follow(
    docker: Docker,
    hub: StatusHub,
    service_name: String,
    tail: usize,
) -> mpsc::Receiver<LogLine> {
    let (sender, receiver) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let subscription = hub.subscribe();
        let mut changes = subscription.changes;
        let mut snapshot = subscription.snapshot;
        let mut followed = HashSet::new();
        // Dropping the set aborts every follower when the watcher goes away.
        let mut followers = JoinSet::new();
        loop {
            for task in tasks_to_follow(&snapshot, &service_name) {
                if followed.insert(task.id.clone()) {
                    followers.spawn(follow_task(
                        docker.clone(),
                        task.clone(),
                        tail,
                        sender.clone(),
                    ));
                }
            }
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => snapshot.apply(change),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => snapshot = hub.snapshot(),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = sender.closed() => return,
            }
        }
    });
    receiver
}

/// Tasks that have (or had) a container: only those have logs.
fn tasks_to_follow<'a>(
    snapshot: &'a ClusterSnapshot,
    service_name: &'a str,
) -> impl Iterator<Item = &'a TaskInfo> {
    let service = snapshot
        .services
        .values()
        .find(|s| s.name == service_name)
        .map(|s| s.id.clone());
    snapshot.tasks.values().filter(move |task| {
        Some(&task.service_id) == service.as_ref()
            && !task.desired_state.is_terminal()
            && matches!(task.state, TaskState::Starting | TaskState::Running)
    })
}

async fn follow_task(docker: Docker, task: TaskInfo, tail: usize, sender: mpsc::Sender<LogLine>) {
    let options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail.to_string())
        .build();
    let mut stream = docker.task_logs(&task.id.0, Some(options));
    while let Some(Ok(output)) = stream.next().await {
        let (stderr, bytes) = match output {
            LogOutput::StdErr { message } => (true, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => (false, message),
            LogOutput::StdIn { .. } => continue,
        };
        let raw = String::from_utf8_lossy(&bytes);
        for line in raw.lines().filter(|line| !line.is_empty()) {
            let (timestamp, text) = line.split_once(' ').unwrap_or(("", line));
            let line = LogLine {
                task_id: task.id.0.clone(),
                slot: task.slot,
                stderr,
                timestamp: timestamp.to_owned(),
                text: text.to_owned(),
            };
            // A full buffer means a slow watcher: drop the line rather than stall Docker.
            if let Err(mpsc::error::TrySendError::Closed(_)) = sender.try_send(line) {
                return;
            }
        }
    }
}
