//! The status hub: one Docker events subscription feeding a live snapshot of the swarm,
//! and a broadcast of each typed change to every open dashboard.
//!
//! Events only say *that* something changed, and swarm updates task state a little after
//! the container event that caused it. So an event wakes the refresher, which looks at the
//! whole swarm a few times over the next second and broadcasts the differences; a periodic
//! look catches anything the events stream cannot see (tasks on other nodes, a missed
//! event while reconnecting).

mod observe;

pub use observe::{observe, ObserveError};

use crate::docker::DockerAddress;
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use types::{ClusterChange, ClusterSnapshot};

/// How the hub paces its looks at Docker.
#[derive(Clone, Debug)]
pub struct HubOptions {
    /// Safety-net full look even when no event arrives.
    pub resync_interval: Duration,
    /// Looks scheduled after each event: swarm records a task's new state up to ~150 ms
    /// after the container event, and a replacement task a few seconds later.
    pub follow_ups: Vec<Duration>,
    /// Changes buffered per subscriber before it is told it lagged and must resync.
    pub channel_capacity: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            resync_interval: Duration::from_secs(2),
            // Dense in the first few hundred milliseconds, where swarm settles a task's fate.
            follow_ups: [
                5, 30, 60, 90, 120, 150, 180, 220, 260, 300, 400, 600, 1000, 2000,
            ]
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
            channel_capacity: 1024,
        }
    }
}

/// A cheap-to-clone handle on the live cluster status.
#[derive(Clone)]
pub struct StatusHub {
    shared: Arc<Shared>,
}

struct Shared {
    /// Written only while a new observation is swapped in *and* its changes are sent, so a
    /// subscriber that copies it under the read lock receives exactly the later changes.
    snapshot: RwLock<ClusterSnapshot>,
    changes: broadcast::Sender<ClusterChange>,
    /// Wakes the refresher; a permit is kept if it is busy, so no event is lost.
    wake: Notify,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// What a new subscriber starts from: a snapshot and the changes after it.
pub struct Subscription {
    pub snapshot: ClusterSnapshot,
    pub changes: broadcast::Receiver<ClusterChange>,
}

impl StatusHub {
    /// Takes a first look at the swarm, then keeps watching it until [`StatusHub::shutdown`].
    pub async fn start(
        docker: Docker,
        address: DockerAddress,
        options: HubOptions,
    ) -> Result<Self, ObserveError> {
        let initial = observe(&docker, &address).await?;
        let (changes, _) = broadcast::channel(options.channel_capacity);
        let hub = Self {
            shared: Arc::new(Shared {
                snapshot: RwLock::new(initial),
                changes,
                wake: Notify::new(),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let events = tokio::spawn(watch_events(docker.clone(), hub.shared.clone()));
        let refresher = tokio::spawn(refresh_loop(docker, address, hub.shared.clone(), options));
        hub.lock_tasks()
            .extend([events.abort_handle(), refresher.abort_handle()]);
        Ok(hub)
    }

    /// The current snapshot and a receiver for every change after it.
    pub fn subscribe(&self) -> Subscription {
        let snapshot = self.read_snapshot();
        Subscription {
            changes: self.shared.changes.subscribe(),
            snapshot: snapshot.clone(),
        }
    }

    pub fn snapshot(&self) -> ClusterSnapshot {
        self.read_snapshot().clone()
    }

    /// Asks for a look at Docker now, e.g. right after Captain changed something itself.
    pub fn refresh_soon(&self) {
        self.shared.wake.notify_one();
    }

    /// Stops watching Docker; subscribers see their channel close.
    pub fn shutdown(&self) {
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
    }

    fn read_snapshot(&self) -> std::sync::RwLockReadGuard<'_, ClusterSnapshot> {
        self.shared
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn refresh_loop(
    docker: Docker,
    address: DockerAddress,
    shared: Arc<Shared>,
    options: HubOptions,
) {
    let mut scheduled: Vec<Instant> = Vec::new();
    let mut next_resync = Instant::now() + options.resync_interval;
    loop {
        let next = scheduled
            .iter()
            .copied()
            .min()
            .unwrap_or(next_resync)
            .min(next_resync);
        tokio::select! {
            _ = shared.wake.notified() => {
                // A burst of events restarts one schedule instead of stacking one per
                // event: the newest event's follow-ups reach past every earlier one's.
                let now = Instant::now();
                scheduled = options.follow_ups.iter().map(|delay| now + *delay).collect();
                continue;
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        let now = Instant::now();
        scheduled.retain(|due| *due > now);
        next_resync = now + options.resync_interval;
        match observe(&docker, &address).await {
            Ok(observed) => publish(&shared, observed),
            Err(error) => {
                tracing::warn!(%error, "cannot observe the swarm; keeping the last snapshot")
            }
        }
    }
}

fn publish(shared: &Shared, observed: ClusterSnapshot) {
    let mut snapshot = shared
        .snapshot
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let changes = snapshot.diff(&observed);
    if changes.is_empty() {
        return;
    }
    *snapshot = observed;
    for change in changes {
        tracing::debug!(?change, "cluster change");
        // No subscribers is fine: the snapshot still moves on.
        let _ = shared.changes.send(change);
    }
}

async fn watch_events(docker: Docker, shared: Arc<Shared>) {
    const MAX_BACKOFF: Duration = Duration::from_secs(10);
    let mut backoff = Duration::from_millis(200);
    loop {
        let filters = HashMap::from([("type", vec!["service", "node", "container"])]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let mut stream = docker.events(Some(options));
        // Whatever happened while we were not subscribed is only visible by looking.
        shared.wake.notify_one();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    backoff = Duration::from_millis(200);
                    if is_relevant(&event) {
                        shared.wake.notify_one();
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "docker events stream failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Health-check execs fire container events every few seconds and change nothing swarm
/// reports; plain containers outside swarm are not Captain's concern.
fn is_relevant(event: &bollard::models::EventMessage) -> bool {
    use bollard::models::EventMessageTypeEnum;
    match event.typ {
        Some(EventMessageTypeEnum::CONTAINER) => {
            let action = event.action.as_deref().unwrap_or_default();
            let is_task = event
                .actor
                .as_ref()
                .and_then(|actor| actor.attributes.as_ref())
                .is_some_and(|attributes| attributes.contains_key("com.docker.swarm.task.id"));
            is_task && !action.starts_with("exec_")
        }
        _ => true,
    }
}
