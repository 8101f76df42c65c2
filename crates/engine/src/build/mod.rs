//! Deploying from source: uploads and pasted captain-definitions become images, built by
//! the Docker engine and rolled out as a new version of the app.
//!
//! Builds of different apps run side by side up to a limit; builds of one app run in the
//! order they were asked for. Each build's log lives in memory while it runs (every line
//! goes out on [`Builds::subscribe`] as it arrives) and in the store once it ends.

pub mod definition;
pub mod docker_build;
pub mod records;
mod run;

use crate::apps::{AppError, AppStore};
use crate::reconcile::ReconcilerHandle;
use crate::store::{Store, StoreError};
use bollard::Docker;
use definition::DefinitionError;
use records::BuildRecords;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, Notify, Semaphore};
use types::{Build, BuildEvent};

/// Builds listed on the app page.
pub const LISTED_BUILDS: usize = 20;
/// Lines a running build keeps in memory; beyond it the oldest go (the store keeps the end).
const MAX_LIVE_LINES: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{0}")]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{app} has no build #{id}")]
    NotFound { app: String, id: i64 },
    #[error("build #{0} has already ended")]
    Ended(i64),
}

/// What to build.
pub enum Source {
    /// An uploaded `.tar`/`.tar.gz` already on disk; removed once the build ends.
    Upload {
        archive: PathBuf,
        description: String,
    },
    /// A captain-definition typed or pasted in the dashboard.
    Definition(String),
}

#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Builds running at once, across all apps.
    pub concurrency: usize,
    /// Built images of this many most recent versions are kept on the engine.
    pub keep_versions: usize,
    /// Where uploads are unpacked while they build.
    pub work_dir: PathBuf,
    pub unpack_limits: crate::archive::Limits,
}

/// The build service; cheap to clone.
#[derive(Clone)]
pub struct Builds {
    inner: Arc<Inner>,
}

struct Inner {
    records: BuildRecords,
    docker: Docker,
    apps: AppStore,
    reconciler: ReconcilerHandle,
    options: BuildOptions,
    slots: Semaphore,
    /// One lock per app: holding it is that app's turn to build.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    live: Mutex<HashMap<i64, Live>>,
    events: broadcast::Sender<(String, BuildEvent)>,
}

/// See [`Builds::watch`].
pub struct Watch {
    pub builds: Vec<Build>,
    /// The log so far of `builds[0]`.
    pub log: Vec<String>,
    pub events: broadcast::Receiver<(String, BuildEvent)>,
}

/// A build that has not ended: its current state, its log so far, and its cancel switch.
struct Live {
    build: Build,
    lines: Vec<String>,
    cancel: Arc<Notify>,
}

impl Builds {
    /// Opens the service; builds an earlier run left unfinished are marked failed.
    pub fn start(
        store: Store,
        docker: Docker,
        apps: AppStore,
        reconciler: ReconcilerHandle,
        options: BuildOptions,
    ) -> Result<Self, StoreError> {
        let records = BuildRecords::new(store);
        let interrupted = records.fail_interrupted()?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "builds left unfinished by the last run marked failed"
            );
        }
        let _ = std::fs::remove_dir_all(&options.work_dir); // what they had unpacked
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                records,
                docker,
                apps,
                reconciler,
                slots: Semaphore::new(options.concurrency.max(1)),
                options,
                turns: Mutex::default(),
                live: Mutex::default(),
                events,
            }),
        })
    }

    /// Where an upload should be written before it is submitted.
    pub fn upload_dir(&self) -> PathBuf {
        self.inner.options.work_dir.join("uploads")
    }

    /// Queues a build of `app`; it starts when the app's earlier builds have ended and a
    /// slot is free. A pasted definition is checked before anything is queued.
    pub fn submit(
        &self,
        app: &str,
        source: Source,
        git_hash: Option<&str>,
    ) -> Result<Build, BuildError> {
        self.inner.apps.get(app)?;
        let description = match &source {
            Source::Upload { description, .. } => description.clone(),
            Source::Definition(text) => {
                definition::parse(text)?;
                "pasted captain-definition".to_owned()
            }
        };
        let build = self.inner.records.insert(app, &description, git_hash)?;
        let cancel = Arc::new(Notify::new());
        self.lock_live().insert(
            build.id,
            Live {
                build: build.clone(),
                lines: Vec::new(),
                cancel: cancel.clone(),
            },
        );
        self.publish(BuildEvent::Build(build.clone()));
        let this = self.clone();
        let queued = build.clone();
        tokio::spawn(async move { this.run(queued, source, cancel).await });
        Ok(build)
    }

    /// Stops a queued or running build.
    pub fn cancel(&self, app: &str, id: i64) -> Result<(), BuildError> {
        let live = self.lock_live();
        match live.get(&id) {
            Some(running) if running.build.app == app => {
                running.cancel.notify_one();
                Ok(())
            }
            _ => match self.inner.records.get(id)? {
                Some(build) if build.app == app => Err(BuildError::Ended(id)),
                _ => Err(BuildError::NotFound {
                    app: app.to_owned(),
                    id,
                }),
            },
        }
    }

    /// The app's newest builds, with live state for those still going.
    pub fn list(&self, app: &str) -> Result<Vec<Build>, BuildError> {
        let mut builds = self.inner.records.list(app, LISTED_BUILDS)?;
        let live = self.lock_live();
        for build in &mut builds {
            if let Some(running) = live.get(&build.id) {
                *build = running.build.clone();
            }
        }
        Ok(builds)
    }

    /// A build's log lines so far.
    pub fn log(&self, app: &str, id: i64) -> Result<Vec<String>, BuildError> {
        if let Some(running) = self.lock_live().get(&id).filter(|l| l.build.app == app) {
            return Ok(running.lines.clone());
        }
        match self.inner.records.get(id)? {
            Some(build) if build.app == app => Ok(self
                .inner
                .records
                .log(id)?
                .lines()
                .map(str::to_owned)
                .collect()),
            _ => Err(BuildError::NotFound {
                app: app.to_owned(),
                id,
            }),
        }
    }

    /// What a newly opened page needs: the app's builds (newest first), the log so far
    /// of the newest one, and every build event of every app (as `(app, event)`) from
    /// that moment on — nothing missed, nothing twice.
    pub fn watch(&self, app: &str) -> Result<Watch, BuildError> {
        let stored = self.inner.records.list(app, LISTED_BUILDS)?;
        let newest_ended = stored
            .first()
            .map(|b| b.id)
            .filter(|id| !self.lock_live().contains_key(id));
        let ended_log = match newest_ended {
            Some(id) => self.log(app, id)?,
            None => Vec::new(),
        };
        let live = self.lock_live();
        let events = self.inner.events.subscribe();
        let mut builds = stored;
        for build in &mut builds {
            if let Some(running) = live.get(&build.id) {
                *build = running.build.clone();
            }
        }
        let log = match builds.first().and_then(|b| live.get(&b.id)) {
            Some(running) => running.lines.clone(),
            None => ended_log,
        };
        Ok(Watch {
            builds,
            log,
            events,
        })
    }

    fn publish(&self, event: BuildEvent) {
        let BuildEvent::Build(build) = &event else {
            return; // lines go out from `line`, under the lock
        };
        let _ = self.inner.events.send((build.app.clone(), event)); // nobody watching is fine
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Live>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn turn_of(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .inner
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        turns.entry(app.to_owned()).or_default().clone()
    }

    /// Adds a log line to a live build and sends it out. Both happen under the lock, so
    /// [`Builds::watch`] sees each line either in its copy or on its receiver, never both.
    fn line(&self, id: i64, text: String) {
        let mut live = self.lock_live();
        let Some(running) = live.get_mut(&id) else {
            return;
        };
        if running.lines.len() >= MAX_LIVE_LINES {
            running.lines.remove(0);
        }
        running.lines.push(text.clone());
        let event = BuildEvent::Line { build: id, text };
        let _ = self.inner.events.send((running.build.app.clone(), event));
    }

    /// Changes a live build's state and sends it out.
    fn update(&self, id: i64, change: impl FnOnce(&mut Build)) -> Option<Build> {
        let build = {
            let mut live = self.lock_live();
            let running = live.get_mut(&id)?;
            change(&mut running.build);
            running.build.clone()
        };
        self.publish(BuildEvent::Build(build.clone()));
        Some(build)
    }
}
