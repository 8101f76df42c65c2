//! The reconciler: makes the swarm run what the apps store describes.
//!
//! It reads desired state (apps) and observed state (services labelled as Captain's),
//! and applies only the difference: a missing service is created, a service whose
//! fingerprint or replica count differs is updated, a service whose app is gone is
//! removed. Running it twice changes nothing. It also follows each deploy to its end:
//! live, or failed with the reason (and the previous version restored).

mod deploy;
mod images;
pub mod spec;

use crate::apps::{AppError, AppStore};
use bollard::models::Service;
use bollard::query_parameters::{ListServicesOptionsBuilder, UpdateServiceOptions};
use bollard::Docker;
use spec::{fingerprint_of, service_spec, APP_LABEL, OWNER_LABEL};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use types::App;

/// Look again this often even without a wake-up (drift, crashed services, missed events).
const IDLE_INTERVAL: Duration = Duration::from_secs(10);
/// While a deploy is in flight, follow it closely.
const DEPLOY_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot list services: {0}")]
    List(#[source] bollard::errors::Error),
    #[error("cannot create the service for {app}: {source}")]
    Create {
        app: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot update the service for {app}: {source}")]
    Update {
        app: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot remove the service {service}: {source}")]
    Remove {
        service: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error(transparent)]
    Store(#[from] AppError),
}

/// Wakes the reconciler after desired state changed; cheap to clone.
#[derive(Clone)]
pub struct ReconcilerHandle {
    wake: Arc<Notify>,
}

impl ReconcilerHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

#[derive(Clone)]
pub struct Reconciler {
    docker: Docker,
    apps: AppStore,
    /// This installation's ID; see [`OWNER_LABEL`].
    owner: String,
    /// Where deploys are pushed, when a registry is set up.
    registries: Option<crate::registry::RegistryStore>,
}

impl Reconciler {
    pub fn new(docker: Docker, apps: AppStore, owner: impl Into<String>) -> Self {
        Self {
            docker,
            apps,
            owner: owner.into(),
            registries: None,
        }
    }

    /// Pushes every deploy to the default registry of `registries` (once there is one).
    pub fn with_registries(mut self, registries: crate::registry::RegistryStore) -> Self {
        self.registries = Some(registries);
        self
    }

    /// Runs the reconcile loop in the background until the runtime stops.
    pub fn spawn(self) -> ReconcilerHandle {
        let wake = Arc::new(Notify::new());
        let handle = ReconcilerHandle { wake: wake.clone() };
        tokio::spawn(async move {
            loop {
                let busy = match self.reconcile_all().await {
                    Ok(deploys_in_flight) => deploys_in_flight,
                    Err(error) => {
                        // Every pass starts from scratch, so the error policy is simply to
                        // log it and try again on the next wake-up or tick.
                        tracing::warn!(%error, "reconcile pass failed; retrying");
                        false
                    }
                };
                let pause = if busy { DEPLOY_INTERVAL } else { IDLE_INTERVAL };
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        });
        handle
    }

    /// One pass over every app; returns whether a deploy is still in flight.
    pub async fn reconcile_all(&self) -> Result<bool, ReconcileError> {
        let desired = self.apps.list()?;
        let observed = self.observed_services().await?;
        let mut in_flight = false;
        for app in &desired {
            let service = observed.get(&app.name);
            match self.reconcile_app(app, service).await {
                Ok(busy) => in_flight |= busy,
                Err(error) => tracing::warn!(app = %app.name, %error, "cannot reconcile app"),
            }
        }
        for (name, service) in &observed {
            if !desired.iter().any(|app| &app.name == name) {
                let id = service.id.clone().unwrap_or_default();
                match self.docker.delete_service(&id).await {
                    Ok(()) => tracing::info!(app = %name, "removed the service of a deleted app"),
                    Err(source) => {
                        tracing::warn!(error = %ReconcileError::Remove { service: id, source }, "cannot remove")
                    }
                }
            }
        }
        self.remove_requested_volumes(&observed).await?;
        Ok(in_flight)
    }

    async fn reconcile_app(
        &self,
        app: &App,
        service: Option<&Service>,
    ) -> Result<bool, ReconcileError> {
        if app.spec.image.is_empty() {
            return Ok(false); // created but never deployed: nothing to run yet
        }
        let Some(service) = service else {
            let Some(run) = self.prepare_image(app).await? else {
                return Ok(false);
            };
            self.docker
                .create_service(service_spec(app, &self.owner, &run.image), run.credentials)
                .await
                .map_err(|source| ReconcileError::Create {
                    app: app.name.clone(),
                    source,
                })?;
            tracing::info!(app = %app.name, "service created");
            return Ok(true);
        };
        // Settle an in-flight deploy first: swarm rolls a failed update back by itself,
        // and re-applying the failed spec would only start the same failure again.
        let outcome = self.follow_deploy(app, service).await?;
        if outcome == deploy::Outcome::JustFailed {
            return Ok(false);
        }
        let current = service.spec.clone().unwrap_or_default();
        let replicas = current
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas);
        let mut run = self.planned_image(app)?;
        let desired = service_spec(app, &self.owner, &run.image);
        let same = fingerprint_of(&current) == fingerprint_of(&desired)
            && replicas == Some(i64::from(app.spec.instances));
        if same {
            return Ok(outcome == deploy::Outcome::InFlight);
        }
        let image_changed = deploy::service_image(&current) != Some(run.image.as_str());
        if image_changed {
            match self.prepare_image(app).await? {
                Some(prepared) => run = prepared,
                None => return Ok(false),
            }
        }
        let desired = service_spec(app, &self.owner, &run.image);
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let options = UpdateServiceOptions {
            version: version as i32,
            ..Default::default()
        };
        self.docker
            .update_service(&app.service_name(), desired, options, run.credentials)
            .await
            .map_err(|source| ReconcileError::Update {
                app: app.name.clone(),
                source,
            })?;
        tracing::info!(app = %app.name, "service updated");
        Ok(true)
    }

    async fn observed_services(&self) -> Result<HashMap<String, Service>, ReconcileError> {
        let owner = format!("{OWNER_LABEL}={}", self.owner);
        let filters = HashMap::from([("label", vec![APP_LABEL, owner.as_str()])]);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let services = self
            .docker
            .list_services(Some(options))
            .await
            .map_err(ReconcileError::List)?;
        Ok(services
            .into_iter()
            .filter_map(|service| {
                let app = service
                    .spec
                    .as_ref()?
                    .labels
                    .as_ref()?
                    .get(APP_LABEL)?
                    .clone();
                Some((app, service))
            })
            .collect())
    }
}
