//! Clean-up of the managed registry: delete the tags no app version needs any more
//! (keeping the newest N per app and whatever runs), then run the registry's own garbage
//! collection so the layers behind them are freed, measuring the disk used before and
//! after. Registries only grow otherwise; CapRover, Dokploy and Coolify leave it to you.

use super::managed::ManagedOptions;
use super::RegistryStore;
use crate::apps::AppStore;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CleanupReport {
    /// `repository:tag` of every deleted image.
    pub deleted: Vec<String>,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("Captain's managed registry is not running on this node")]
    NotRunning,
    #[error(transparent)]
    Registry(#[from] super::RegistryStoreError),
    #[error(transparent)]
    Client(#[from] super::client::RegistryError),
    #[error(transparent)]
    Apps(#[from] crate::apps::AppError),
    #[error("cannot run a command in the registry's container: {0}")]
    Exec(#[from] bollard::errors::Error),
    #[error("the registry's garbage collection failed: {0}")]
    Collect(String),
}

pub async fn clean_up(
    docker: &Docker,
    registries: &RegistryStore,
    apps: &AppStore,
    options: &ManagedOptions,
    keep_per_app: usize,
) -> Result<CleanupReport, CleanupError> {
    let info = registries.managed()?.ok_or(CleanupError::NotRunning)?;
    let container = registry_container(docker, &options.service_name())
        .await?
        .ok_or(CleanupError::NotRunning)?;
    let client = registries.client(info.id)?;
    let prefix = format!("{}/", info.prefix.trim_matches('/'));
    // Tags each app still needs: its newest versions and the one it runs.
    let mut needed: HashMap<String, HashSet<String>> = HashMap::new();
    for app in apps.list()? {
        let versions = apps.versions(&app.name)?;
        let keep = versions.iter().enumerate().filter(|(index, version)| {
            *index < keep_per_app
                || version.image == app.spec.image
                || version.state == types::DeployState::Live
        });
        let tags = needed.entry(format!("{prefix}{}", app.name)).or_default();
        for (_, version) in keep {
            if let Some(tag) = version
                .registry_image
                .as_deref()
                .filter(|image| image.starts_with(&format!("{}/", info.address)))
                .and_then(|image| image.rsplit_once(':'))
                .map(|(_, tag)| tag.to_owned())
            {
                tags.insert(tag);
            }
        }
    }
    let bytes_before = disk_used(docker, &container).await?;
    let mut deleted = Vec::new();
    for repository in client.catalog().await? {
        if !repository.starts_with(&prefix) {
            continue; // not Captain's: never touched
        }
        let keep = needed.get(&repository);
        for tag in client.tags(&repository).await? {
            if keep.is_some_and(|tags| tags.contains(&tag)) {
                continue;
            }
            if let Some(digest) = client.manifest_digest(&repository, &tag).await? {
                client.delete_manifest(&repository, &digest).await?;
                deleted.push(format!("{repository}:{tag}"));
            }
        }
    }
    let output = exec(
        docker,
        &container,
        &[
            "registry",
            "garbage-collect",
            "--delete-untagged",
            "/etc/docker/registry/config.yml",
        ],
    )
    .await?;
    if output.0 != 0 {
        return Err(CleanupError::Collect(output.1));
    }
    let bytes_after = disk_used(docker, &container).await?;
    tracing::info!(
        deleted = deleted.len(),
        bytes_before,
        bytes_after,
        "registry cleaned up"
    );
    Ok(CleanupReport {
        deleted,
        bytes_before,
        bytes_after,
    })
}

async fn registry_container(
    docker: &Docker,
    service: &str,
) -> Result<Option<String>, CleanupError> {
    let label = format!("com.docker.swarm.service.name={service}");
    let filters = HashMap::from([("label", vec![label.as_str()]), ("status", vec!["running"])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    Ok(containers.into_iter().find_map(|c| c.id))
}

async fn disk_used(docker: &Docker, container: &str) -> Result<u64, CleanupError> {
    let (code, output) = exec(docker, container, &["du", "-sk", "/var/lib/registry"]).await?;
    if code != 0 {
        return Err(CleanupError::Collect(output));
    }
    Ok(output
        .split_whitespace()
        .next()
        .and_then(|kib| kib.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024)
}

/// Runs `command` in `container`; returns its exit code and combined output.
async fn exec(
    docker: &Docker,
    container: &str,
    command: &[&str],
) -> Result<(i64, String), CleanupError> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(command.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&created.id, None).await?
    {
        while let Some(chunk) = output.next().await {
            text.push_str(&chunk?.to_string());
        }
    }
    let code = docker
        .inspect_exec(&created.id)
        .await?
        .exit_code
        .unwrap_or(-1);
    Ok((code, text))
}
