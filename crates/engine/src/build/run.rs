//! One build from start to end: wait for the app's turn and a free slot, unpack, read the
//! recipe, build, deploy — then record the outcome, clear the work folder, and prune
//! images of versions too old to be rolled back to.

use super::definition::{self, Recipe, GENERATED_DOCKERFILE};
use super::docker_build::{self, Progress, BUILT_FOR_LABEL};
use super::{Builds, Source};
use crate::auth::now_unix;
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;
use types::{Build, BuildState};

/// How a build ended, other than in success.
enum Stopped {
    Cancelled,
    Failed(String),
}

struct Deployed {
    image: String,
    version: i64,
}

impl Builds {
    pub(super) async fn run(self, build: Build, source: Source, cancel: Arc<Notify>) {
        let id = build.id;
        let work = self.inner.options.work_dir.join(id.to_string());
        let upload = match &source {
            Source::Upload { archive, .. } => Some(archive.clone()),
            Source::Definition(_) => None,
        };
        // The app's turn is held until this build is recorded as ended, so the next one
        // of the same app starts strictly after.
        let turn = self.turn_of(&build.app);
        let mut my_turn = None;
        // Dropping the build future on cancel closes its connection to the engine, which
        // stops the build there too.
        let outcome = tokio::select! {
            _ = cancel.notified() => Err(Stopped::Cancelled),
            result = async {
                my_turn = Some(turn.lock_owned().await);
                self.build_in_turn(&build, source, &work).await
            } => result,
        };
        remove_quietly(work, upload).await;
        let (state, message, image, version) = match outcome {
            Ok(done) => (
                BuildState::Succeeded,
                format!("deploying {} as v{}", done.image, done.version),
                Some(done.image),
                Some(done.version),
            ),
            Err(Stopped::Cancelled) => (BuildState::Cancelled, "cancelled".to_owned(), None, None),
            Err(Stopped::Failed(reason)) => (BuildState::Failed, reason, None, None),
        };
        self.line(id, format!("==> {message}"));
        let finished = self.update(id, |build| {
            build.state = state;
            build.message = message;
            build.image = image;
            build.version = version;
            build.finished_at = Some(now_unix());
        });
        let lines = self
            .lock_live()
            .remove(&id)
            .map(|live| live.lines)
            .unwrap_or_default();
        if let Some(finished) = finished {
            if let Err(error) = self.inner.records.finish(&finished, &lines.join("\n")) {
                tracing::warn!(build = id, %error, "cannot record how the build ended");
            }
            tracing::info!(build = id, app = %finished.app, state = finished.state.code(), "build ended");
        }
        if state == BuildState::Succeeded {
            self.prune(&build.app).await;
        }
        drop(my_turn);
    }

    async fn build_in_turn(
        &self,
        build: &Build,
        source: Source,
        work: &Path,
    ) -> Result<Deployed, Stopped> {
        let id = build.id;
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.inner.records.started(id).map_err(failed)?;
        self.update(id, |build| {
            build.state = BuildState::Building;
            build.started_at = Some(now_unix());
        });
        let root = self.prepare_context(id, source, work).await?;
        let recipe = definition::recipe_for(&root).map_err(failed)?;
        let dockerfile = match recipe {
            Recipe::Image(image) => {
                self.line(
                    id,
                    format!("captain-definition names the image {image}: nothing to build"),
                );
                return self.deploy(build, image);
            }
            Recipe::Dockerfile(path) => path,
            Recipe::DockerfileLines(lines) => {
                let text = lines.join("\n") + "\n";
                tokio::fs::write(root.join(GENERATED_DOCKERFILE), text)
                    .await
                    .map_err(|error| failed(format!("cannot write the Dockerfile: {error}")))?;
                PathBuf::from(GENERATED_DOCKERFILE)
            }
        };
        let tag = format!("captain-builds/{}:build-{id}", build.app);
        self.line(
            id,
            format!("==> building {tag} with {}", dockerfile.display()),
        );
        docker_build::build(
            &self.inner.docker,
            &build.app,
            &root,
            &dockerfile,
            &tag,
            |progress| match progress {
                Progress::Line(text) => self.line(id, text),
                Progress::Step(step, of) => {
                    self.update(id, |build| build.step = Some((step, of)));
                }
            },
        )
        .await
        .map_err(|error| failed(format!("the build failed: {error}")))?;
        self.deploy(build, tag)
    }

    /// Unpacks the upload (or writes the pasted definition) into `work`; returns the
    /// folder to build from.
    async fn prepare_context(
        &self,
        id: i64,
        source: Source,
        work: &Path,
    ) -> Result<PathBuf, Stopped> {
        let work = work.to_path_buf();
        let limits = self.inner.options.unpack_limits;
        let unpacking = match source {
            Source::Upload { archive, .. } => {
                self.line(id, "==> unpacking the upload".to_owned());
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
                    let file = std::fs::File::open(&archive).map_err(|e| e.to_string())?;
                    let unpacked =
                        crate::archive::unpack(file, &work, limits).map_err(|e| e.to_string())?;
                    let root = definition::context_root(&work).map_err(|e| e.to_string())?;
                    Ok::<_, String>((
                        root,
                        format!("{} files, {} bytes", unpacked.entries, unpacked.bytes),
                    ))
                })
                .await
                .map_err(|error| failed(error.to_string()))?
                .map_err(Stopped::Failed)?
            }
            Source::Definition(text) => {
                tokio::fs::create_dir_all(&work).await.map_err(failed)?;
                tokio::fs::write(work.join(definition::DEFINITION_FILE), text)
                    .await
                    .map_err(failed)?;
                (work, "a pasted captain-definition".to_owned())
            }
        };
        self.line(id, format!("==> source: {}", unpacking.1));
        Ok(unpacking.0)
    }

    fn deploy(&self, build: &Build, image: String) -> Result<Deployed, Stopped> {
        let version = self
            .inner
            .apps
            .deploy_image(
                &build.app,
                &image,
                &format!("build #{}", build.id),
                build.git_hash.as_deref(),
            )
            .map_err(|error| failed(format!("cannot deploy: {error}")))?;
        self.inner.reconciler.wake();
        Ok(Deployed { image, version })
    }

    /// Removes built images no recent version uses, so the engine's disk does not fill
    /// with every build ever made. Forced, because swarm keeps its stopped task
    /// containers; the current image is always kept, so nothing running loses its image.
    async fn prune(&self, app: &str) {
        let mut keep: HashSet<String> = self
            .inner
            .apps
            .versions(app)
            .unwrap_or_default()
            .into_iter()
            .take(self.inner.options.keep_versions.max(1))
            .map(|version| version.image)
            .collect();
        if let Ok(current) = self.inner.apps.get(app) {
            keep.insert(current.spec.image);
        }
        let label = format!("{BUILT_FOR_LABEL}={app}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let Ok(images) = self.inner.docker.list_images(Some(options)).await else {
            return;
        };
        for tag in images.into_iter().flat_map(|image| image.repo_tags) {
            if keep.contains(&tag) || !tag.starts_with("captain-builds/") {
                continue;
            }
            match self
                .inner
                .docker
                .remove_image(
                    &tag,
                    Some(RemoveImageOptionsBuilder::default().force(true).build()),
                    None,
                )
                .await
            {
                Ok(_) => tracing::info!(%tag, "pruned an old build"),
                Err(error) => tracing::debug!(%tag, %error, "old build kept for now"),
            }
        }
    }
}

fn failed(error: impl ToString) -> Stopped {
    Stopped::Failed(error.to_string())
}

async fn remove_quietly(work: PathBuf, upload: Option<PathBuf>) {
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&work);
        if let Some(upload) = upload {
            let _ = std::fs::remove_file(upload);
        }
    })
    .await;
}
