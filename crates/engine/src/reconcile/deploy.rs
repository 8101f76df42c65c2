//! Following a deploy to its end: the image must exist before the service is touched,
//! and once swarm has rolled the update out (or back) the version is marked live or
//! failed with the reason. A failed deploy leaves the previous version serving.

use super::spec::APP_LABEL;
use super::{ReconcileError, Reconciler};
use bollard::models::{
    Service, ServiceSpec, ServiceUpdateStatusStateEnum, Task, TaskSpec, TaskState,
};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListTasksOptionsBuilder, ListVolumesOptionsBuilder,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use types::{App, AppVersion, DeployState};

const PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// A first deploy whose instances failed this many times is reported failed.
const FAILED_TASKS_BEFORE_GIVING_UP: usize = 3;

/// Where the newest deploy stands after a look.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing is being deployed, or it just went live.
    Settled,
    /// Swarm is still rolling it out.
    InFlight,
    /// It failed during this look; the previous version was restored in the store.
    JustFailed,
}

/// The image a service runs, without swarm's pinned digest.
pub fn service_image(spec: &ServiceSpec) -> Option<&str> {
    template_image(spec.task_template.as_ref())
}

fn task_image(task: &Task) -> Option<&str> {
    template_image(task.spec.as_ref())
}

/// Swarm pins images by digest (`image:tag@sha256:…`); deploys name them by tag.
fn template_image(template: Option<&TaskSpec>) -> Option<&str> {
    let image = template?.container_spec.as_ref()?.image.as_deref()?;
    image.split('@').next()
}

impl Reconciler {
    pub(super) async fn pull(&self, image: &str) -> Result<(), String> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let pulling = async {
            let mut stream = self.docker.create_image(Some(options), None, None);
            while let Some(progress) = stream.next().await {
                progress.map_err(|error| error.to_string())?;
            }
            Ok(())
        };
        tokio::time::timeout(PULL_TIMEOUT, pulling)
            .await
            .map_err(|_| {
                format!(
                    "no answer from the registry within {} s",
                    PULL_TIMEOUT.as_secs()
                )
            })?
    }

    pub(super) fn fail(
        &self,
        app: &App,
        version: Option<&AppVersion>,
        message: &str,
    ) -> Result<(), ReconcileError> {
        tracing::warn!(app = %app.name, %message, "deploy failed");
        if let Some(version) = version {
            self.apps
                .set_version_state(&app.name, version.number, DeployState::Failed, message)?;
        }
        if let Some(image) = self.apps.restore_live_image(&app.name)? {
            tracing::info!(app = %app.name, %image, "kept the previous version");
        }
        Ok(())
    }

    /// Settles the newest deploy if swarm has finished it.
    pub(super) async fn follow_deploy(
        &self,
        app: &App,
        service: &Service,
    ) -> Result<Outcome, ReconcileError> {
        let Some(version) = self.apps.versions(&app.name)?.into_iter().next() else {
            return Ok(Outcome::Settled);
        };
        if version.state != DeployState::Deploying {
            return Ok(Outcome::Settled);
        }
        // Swarm keeps the last update's status; only one that began with this deploy counts.
        let status = service.update_status.as_ref().filter(|status| {
            status
                .started_at
                .as_deref()
                .and_then(rfc3339_seconds)
                .is_some_and(|t| t + 1 >= version.created_at)
        });
        let message = status.and_then(|s| s.message.clone()).unwrap_or_default();
        match status.and_then(|s| s.state) {
            Some(ServiceUpdateStatusStateEnum::UPDATING) => return Ok(Outcome::InFlight),
            Some(
                ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
                | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED
                | ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED
                | ServiceUpdateStatusStateEnum::PAUSED,
            ) => {
                let reason = self.task_failure(app).await.unwrap_or(message);
                self.fail(
                    app,
                    Some(&version),
                    &format!("the new version did not start: {reason}"),
                )?;
                return Ok(Outcome::JustFailed);
            }
            _ => {}
        }
        let tasks = self.tasks(app).await;
        let running = tasks
            .iter()
            .filter(|task| task.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
            .filter(|task| task_image(task) == Some(version_image(&version)))
            .count();
        if running >= app.spec.instances as usize {
            self.apps
                .set_version_state(&app.name, version.number, DeployState::Live, "")?;
            tracing::info!(app = %app.name, version = version.number, "deploy live");
            return Ok(Outcome::Settled);
        }
        if status.is_none() && running == 0 {
            let failed = tasks
                .iter()
                .filter(|task| is_failed(task) && task_image(task) == Some(version_image(&version)))
                .count();
            if failed >= FAILED_TASKS_BEFORE_GIVING_UP {
                let reason = self.task_failure(app).await.unwrap_or_default();
                self.fail(
                    app,
                    Some(&version),
                    &format!("instances keep failing: {reason}"),
                )?;
                return Ok(Outcome::JustFailed);
            }
        }
        Ok(Outcome::InFlight)
    }

    async fn tasks(&self, app: &App) -> Vec<Task> {
        let service = app.service_name();
        let filters = HashMap::from([("service", vec![service.as_str()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        self.docker
            .list_tasks(Some(options))
            .await
            .unwrap_or_default()
    }

    /// The most recent failed instance's error, as swarm worded it.
    async fn task_failure(&self, app: &App) -> Option<String> {
        let mut failed: Vec<Task> = self
            .tasks(app)
            .await
            .into_iter()
            .filter(is_failed)
            .collect();
        failed.sort_by_key(|task| task.status.as_ref().and_then(|s| s.timestamp.clone()));
        let status = failed.pop()?.status?;
        let exit = status
            .container_status
            .and_then(|c| c.exit_code)
            .filter(|code| *code != 0);
        let error = status.err.filter(|e| !e.is_empty()).or(status.message);
        Some(match (error, exit) {
            (Some(error), Some(code)) => format!("{error} (exit code {code})"),
            (Some(error), None) => error,
            (None, Some(code)) => format!("exit code {code}"),
            (None, None) => "unknown".into(),
        })
    }

    /// Removes the volumes of deleted apps whose owners asked for it, once no service
    /// uses them; a volume still in use is retried on the next pass.
    pub(super) async fn remove_requested_volumes(
        &self,
        observed: &HashMap<String, Service>,
    ) -> Result<(), ReconcileError> {
        for app in self.apps.pending_volume_removals()? {
            if observed.contains_key(&app) {
                continue;
            }
            let label = format!("{APP_LABEL}={app}");
            let filters = HashMap::from([("label", vec![label.as_str()])]);
            let options = ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build();
            let Ok(listing) = self.docker.list_volumes(Some(options)).await else {
                continue;
            };
            let mut all_gone = true;
            for volume in listing.volumes.unwrap_or_default() {
                if let Err(error) = self
                    .docker
                    .remove_volume(
                        &volume.name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await
                {
                    tracing::debug!(volume = %volume.name, %error, "volume not removable yet");
                    all_gone = false;
                }
            }
            if all_gone {
                self.apps.volume_removal_done(&app)?;
                tracing::info!(%app, "volumes removed");
            }
        }
        Ok(())
    }
}

/// The image a version's tasks run: its pushed reference when it was pushed.
fn version_image(version: &types::AppVersion) -> &str {
    version
        .registry_image
        .as_deref()
        .unwrap_or(version.image.as_str())
}

fn is_failed(task: &Task) -> bool {
    matches!(
        task.status.as_ref().and_then(|s| s.state),
        Some(TaskState::FAILED | TaskState::REJECTED)
    )
}

/// Seconds since the epoch for an RFC 3339 UTC time as Docker writes it
/// (`2026-12-04T17:40:01.123456789Z`).
pub fn rfc3339_seconds(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Days from civil (Howard Hinnant), inverse of the dashboard's formatter.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::rfc3339_seconds;

    #[test]
    fn docker_times_parse_to_unix_seconds() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_seconds("2026-12-04T16:00:00.123456789Z"),
            Some(1_796_400_000)
        );
        assert_eq!(rfc3339_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(rfc3339_seconds("garbage"), None);
    }
}
