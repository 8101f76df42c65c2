//! Pushing a deploy's image to the registry through the Docker engine: tag it
//! `registry/prefix/app:vN`, push with the registry's credentials, and report each layer's
//! progress as it comes.

use super::PushTarget;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use std::time::Duration;

const PUSH_TIMEOUT: Duration = Duration::from_secs(600);

/// Pushes local `image` as `target_image`; `progress` receives human-readable lines.
pub async fn push(
    docker: &Docker,
    image: &str,
    target: &PushTarget,
    target_image: &str,
    mut progress: impl FnMut(&str),
) -> Result<(), String> {
    let (repository, tag) = target_image
        .rsplit_once(':')
        .ok_or_else(|| format!("{target_image} has no tag"))?;
    docker
        .tag_image(
            image,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(repository)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .map_err(|e| format!("cannot tag {image} as {target_image}: {e}"))?;
    let pushing = async {
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = docker.push_image(repository, Some(options), Some(target.credentials()));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| e.to_string())?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(error);
            }
            let Some(status) = &info.status else { continue };
            let line = match info
                .progress_detail
                .as_ref()
                .and_then(|d| d.current.zip(d.total))
            {
                Some((current, total)) if total > 0 => {
                    format!("{status} {}%", current * 100 / total)
                }
                _ => status.clone(),
            };
            progress(&line);
        }
        Ok(())
    };
    tokio::time::timeout(PUSH_TIMEOUT, pushing)
        .await
        .map_err(|_| format!("no progress within {} s", PUSH_TIMEOUT.as_secs()))?
        .map_err(|reason| format!("cannot push to {}: {reason}", target.address))
}
