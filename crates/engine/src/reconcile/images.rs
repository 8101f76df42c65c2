//! Which image a deploy runs: the app's image itself, or — when a default registry is
//! set — that image pushed to the registry as `registry/prefix/app:vN`, so every node can
//! pull it. A version is pushed once; later passes reuse the recorded reference.

use super::{ReconcileError, Reconciler};
use crate::registry::PushTarget;
use bollard::auth::DockerCredentials;
use types::{App, AppVersion};

/// What the service should run, and the credentials nodes pull it with.
pub(super) struct RunImage {
    pub image: String,
    pub credentials: Option<DockerCredentials>,
}

impl Reconciler {
    fn push_target(&self) -> Option<PushTarget> {
        let registries = self.registries.as_ref()?;
        match registries.push_target() {
            Ok(target) => target,
            Err(error) => {
                tracing::warn!(%error, "cannot read the default registry");
                None
            }
        }
    }

    /// The image the latest version runs as, without pushing anything: the pushed
    /// reference if it was pushed to the current default registry, else the app's image.
    pub(super) fn planned_image(&self, app: &App) -> Result<RunImage, ReconcileError> {
        let target = self.push_target();
        let latest = self.apps.versions(&app.name)?.into_iter().next();
        let pushed = latest
            .filter(|v| v.image == app.spec.image)
            .and_then(|v| v.registry_image)
            .filter(|image| {
                target
                    .as_ref()
                    .is_some_and(|t| image.starts_with(&format!("{}/", t.address)))
            });
        Ok(match (pushed, target) {
            (Some(image), Some(target)) => RunImage {
                image,
                credentials: Some(target.credentials()),
            },
            _ => RunImage {
                image: app.spec.image.clone(),
                credentials: None,
            },
        })
    }

    /// Makes the latest version runnable: its image present (pulled if need be) and, with
    /// a registry, pushed there. `None` when it cannot run; the version is then marked
    /// failed with the reason and the previous one keeps serving.
    pub(super) async fn prepare_image(
        &self,
        app: &App,
    ) -> Result<Option<RunImage>, ReconcileError> {
        let latest = self.apps.versions(&app.name)?.into_iter().next();
        if let Some(version) = &latest {
            if version.state == types::DeployState::Failed && version.image == app.spec.image {
                return Ok(None); // already reported; retrying would only repeat the error
            }
        }
        let planned = self.planned_image(app)?;
        if planned.credentials.is_some() {
            return Ok(Some(planned)); // pushed earlier
        }
        if self.docker.inspect_image(&app.spec.image).await.is_err() {
            if let Err(reason) = self.pull(&app.spec.image).await {
                let message = format!("image {} is not available: {reason}", app.spec.image);
                self.fail(app, latest.as_ref(), &message)?;
                return Ok(None);
            }
        }
        let Some(target) = self.push_target() else {
            return Ok(Some(planned));
        };
        let Some(version) = latest.filter(|v| v.image == app.spec.image) else {
            return Ok(Some(planned));
        };
        match self.push_version(app, &version, &target, true).await? {
            Ok(run) => Ok(Some(run)),
            Err(reason) => {
                self.fail(app, Some(&version), &reason)?;
                Ok(None)
            }
        }
    }

    /// Pushes the version that runs now to the default registry, without a rebuild; the
    /// next pass rolls the service over to the pushed reference. For apps deployed before
    /// the registry existed. Returns the pushed reference, or why it could not be pushed.
    pub async fn push_running(&self, app: &str) -> Result<Result<String, String>, ReconcileError> {
        let Some(target) = self.push_target() else {
            return Ok(Err("no default registry is set up".into()));
        };
        let app = self.apps.get(app)?;
        let Some(version) = self
            .apps
            .versions(&app.name)?
            .into_iter()
            .find(|v| v.image == app.spec.image)
        else {
            return Ok(Err(format!("{} has no deployed version", app.name)));
        };
        if self.docker.inspect_image(&app.spec.image).await.is_err() {
            return Ok(Err(format!(
                "{} is not on this node's engine, so it cannot be pushed",
                app.spec.image
            )));
        }
        Ok(self
            .push_version(&app, &version, &target, false)
            .await?
            .map(|run| run.image))
    }

    async fn push_version(
        &self,
        app: &App,
        version: &AppVersion,
        target: &PushTarget,
        new_deploy: bool,
    ) -> Result<Result<RunImage, String>, ReconcileError> {
        let pushed = target.image_for(&app.name, version.number);
        let mut last_report = std::time::Instant::now();
        let apps = self.apps.clone();
        let (name, number) = (app.name.clone(), version.number);
        let result =
            crate::registry::push::push(&self.docker, &app.spec.image, target, &pushed, |line| {
                // Progress shows on the deploy's row, a few times a second at most.
                if new_deploy && last_report.elapsed().as_millis() >= 250 {
                    last_report = std::time::Instant::now();
                    let _ = apps.set_version_state(
                        &name,
                        number,
                        types::DeployState::Deploying,
                        &format!("pushing: {line}"),
                    );
                }
            })
            .await;
        match result {
            Ok(()) => {
                if new_deploy {
                    self.apps.set_version_state(
                        &app.name,
                        version.number,
                        types::DeployState::Deploying,
                        "",
                    )?;
                }
                self.apps
                    .set_registry_image(&app.name, version.number, &pushed)?;
                tracing::info!(app = %app.name, image = %pushed, "pushed");
                Ok(Ok(RunImage {
                    image: pushed,
                    credentials: Some(target.credentials()),
                }))
            }
            Err(reason) => Ok(Err(reason)),
        }
    }
}
