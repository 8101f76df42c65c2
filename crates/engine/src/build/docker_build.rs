//! Running one image build on the Docker engine: the context folder goes as a tar stream
//! (written to a file first, so a large upload never sits in memory), and every line the
//! builder prints is handed on the moment it arrives, with the step it belongs to.

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

/// Labels every built image carries, so old builds can be found and pruned.
pub const BUILT_FOR_LABEL: &str = "captain.built-for";

/// What the builder reported as it went.
pub enum Progress {
    Line(String),
    /// The classic builder's "Step 3/7 : …".
    Step(u32, u32),
}

/// Builds `context` with `dockerfile` (relative to it) as `tag`; returns the image ID or
/// the builder's own error. Dropping the future (on cancel) closes the connection, and
/// the engine stops the build.
pub async fn build(
    docker: &Docker,
    app: &str,
    context: &Path,
    dockerfile: &Path,
    tag: &str,
    mut report: impl FnMut(Progress),
) -> Result<String, String> {
    let archive = tar_context(context).await?;
    let file = tokio::fs::File::open(archive.path())
        .await
        .map_err(|error| format!("cannot read the build context: {error}"))?;
    let body = futures::stream::unfold(file, |mut file| async move {
        let mut chunk = vec![0u8; 256 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(read) => {
                chunk.truncate(read);
                Some((Ok(bytes::Bytes::from(chunk)), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    });
    let labels = HashMap::from([(BUILT_FOR_LABEL, app)]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile(&dockerfile.to_string_lossy())
        .t(tag)
        .rm(true)
        .forcerm(true) // no stopped containers left behind by a failed step
        .labels(&labels)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_try_stream(body)));
    let mut pending = String::new();
    let mut last_error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.or(info.status) {
                    pending.push_str(&text);
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        emit(line.trim_end(), &mut report);
                    }
                }
                if let Some(detail) = info.error_detail {
                    last_error = detail.message;
                }
            }
            Err(error) => {
                let message = match error {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    other => other.to_string(),
                };
                report(Progress::Line(message.clone()));
                return Err(message);
            }
        }
    }
    if !pending.trim().is_empty() {
        emit(pending.trim_end(), &mut report);
    }
    if let Some(error) = last_error {
        return Err(error);
    }
    let image = docker
        .inspect_image(tag)
        .await
        .map_err(|error| format!("the build ended but {tag} is not there: {error}"))?;
    Ok(image.id.unwrap_or_default())
}

fn emit(line: &str, report: &mut impl FnMut(Progress)) {
    if let Some((step, of)) = parse_step(line) {
        report(Progress::Step(step, of));
    }
    report(Progress::Line(line.to_owned()));
}

/// "Step 3/7 : RUN make" → (3, 7).
fn parse_step(line: &str) -> Option<(u32, u32)> {
    let rest = line.strip_prefix("Step ")?;
    let (fraction, _) = rest.split_once(' ')?;
    let (step, of) = fraction.split_once('/')?;
    Some((step.parse().ok()?, of.parse().ok()?))
}

/// Packs the context folder into a temporary tar file. Symlinks are stored as links, not
/// followed: the upload was unpacked without any leading outside the folder.
async fn tar_context(context: &Path) -> Result<tempfile::NamedTempFile, String> {
    let context: PathBuf = context.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = tempfile::NamedTempFile::new()?;
        let mut builder = tar::Builder::new(file.reopen()?);
        builder.follow_symlinks(false);
        builder.append_dir_all(".", &context)?;
        builder.into_inner()?.sync_all()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|error| format!("packing the build context stopped: {error}"))?
    .map_err(|error| format!("cannot pack the build context: {error}"))
}

#[cfg(test)]
mod tests {
    use super::parse_step;

    #[test]
    fn steps_are_read_from_the_classic_builder_output() {
        assert_eq!(parse_step("Step 3/7 : RUN make"), Some((3, 7)));
        assert_eq!(parse_step("Step 12/12 : CMD [\"x\"]"), Some((12, 12)));
        assert_eq!(parse_step(" ---> Running in 1234"), None);
        assert_eq!(parse_step("Step x/7 : RUN"), None);
    }
}
