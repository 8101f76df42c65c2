//! The reconciler against the real swarm: apps become services with the right number of
//! instances, heal, scale, survive a "restart" untouched, and bad deploys never take the
//! running version down.

use engine::apps::{AppStore, Saved};
use engine::reconcile::Reconciler;
use engine::{connect, DockerAddress, Store};
use std::time::Duration;
use testbed::{
    docker, ensure_crashing_image, ensure_httpd_image, ensure_swarm_engine, unique_name,
    CRASHING_IMAGE, HTTPD_IMAGE,
};
use types::{AppSpec, DeployState, EnvVar};

struct World {
    apps: AppStore,
    reconciler: Reconciler,
    docker: bollard::Docker,
    owner: String,
}

async fn world() -> World {
    ensure_swarm_engine().unwrap();
    ensure_httpd_image().unwrap();
    let docker = connect(&DockerAddress::resolve(None)).await.unwrap();
    engine::ensure_overlay_network(&docker, engine::APPS_NETWORK)
        .await
        .unwrap();
    let apps = AppStore::new(Store::in_memory().unwrap());
    let owner = unique_name("owner");
    World {
        reconciler: Reconciler::new(docker.clone(), apps.clone(), owner.clone()),
        apps,
        docker,
        owner,
    }
}

impl World {
    /// Reconciles until `done` holds, as the background loop would.
    async fn until(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.reconciler.reconcile_all().await.unwrap();
            if done() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn service_version(&self, app: &str) -> u64 {
        let service = self
            .docker
            .inspect_service(&types::app::service_name(app), None)
            .await
            .unwrap();
        service.version.unwrap().index.unwrap()
    }
}

fn running_tasks(app: &str) -> Vec<String> {
    let service = types::app::service_name(app);
    let out = docker(&[
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.ID}} {{.CurrentState}}",
        &service,
    ])
    .unwrap_or_default();
    out.lines()
        .filter(|line| line.contains("Running"))
        .map(|line| line.split(' ').next().unwrap().to_owned())
        .collect()
}

fn containers(app: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dev.captain.app={app}"),
    ])
    .unwrap()
}

fn spec(image: &str, instances: u32) -> AppSpec {
    AppSpec {
        image: image.into(),
        instances,
        ..AppSpec::default()
    }
}

fn cleanup(app: &str) {
    let _ = docker(&["service", "rm", &types::app::service_name(app)]);
}

#[tokio::test]
async fn an_app_runs_its_instances_answers_on_the_overlay_and_heals() {
    let world = world().await;
    let name = unique_name("app");
    world.apps.create(&name, spec(HTTPD_IMAGE, 3)).unwrap();
    world
        .until("3 running instances", Duration::from_secs(60), || {
            running_tasks(&name).len() == 3
        })
        .await;
    world
        .until("the version to be live", Duration::from_secs(30), || {
            world.apps.versions(&name).unwrap()[0].state == DeployState::Live
        })
        .await;

    // Reachable by its name from anything on the apps network (as the proxy will be).
    let page = docker(&[
        "run",
        "--rm",
        "--network",
        engine::APPS_NETWORK,
        HTTPD_IMAGE,
        "wget",
        "-qO-",
        &format!("http://{name}/"),
    ]);
    let tasks_before = running_tasks(&name);
    let victim = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.captain.app={name}"),
    ])
    .unwrap();
    let victim = victim.lines().next().unwrap().to_owned();
    docker(&["kill", &victim]).unwrap();
    world
        .until("a replacement instance", Duration::from_secs(60), || {
            let now = running_tasks(&name);
            now.len() == 3 && now != tasks_before
        })
        .await;
    cleanup(&name);
    assert_eq!(page.unwrap(), "captain test app");
}

#[tokio::test]
async fn scaling_to_zero_and_back_then_deleting_leaves_nothing() {
    let world = world().await;
    let name = unique_name("app");
    world.apps.create(&name, spec(HTTPD_IMAGE, 3)).unwrap();
    world
        .until("3 instances", Duration::from_secs(60), || {
            running_tasks(&name).len() == 3
        })
        .await;
    world.apps.scale(&name, 0).unwrap();
    world
        .until("no instances", Duration::from_secs(60), || {
            running_tasks(&name).is_empty()
        })
        .await;
    world.apps.scale(&name, 2).unwrap();
    world
        .until("2 instances", Duration::from_secs(60), || {
            running_tasks(&name).len() == 2
        })
        .await;
    world.apps.delete(&name, false).unwrap();
    world
        .until(
            "the service and containers to go",
            Duration::from_secs(60),
            || {
                docker(&["service", "inspect", &types::app::service_name(&name)]).is_err()
                    && containers(&name).is_empty()
            },
        )
        .await;
}

#[tokio::test]
async fn reconciling_again_or_saving_an_unchanged_app_restarts_nothing() {
    let world = world().await;
    let name = unique_name("app");
    let app = world.apps.create(&name, spec(HTTPD_IMAGE, 2)).unwrap();
    world
        .until("2 instances", Duration::from_secs(60), || {
            running_tasks(&name).len() == 2
        })
        .await;
    let version = world.service_version(&name).await;
    let tasks = running_tasks(&name);

    // A restarted Captain is a new reconciler over the same store.
    let restarted = Reconciler::new(
        world.docker.clone(),
        world.apps.clone(),
        world.owner.clone(),
    );
    restarted.reconcile_all().await.unwrap();
    restarted.reconcile_all().await.unwrap();
    assert!(matches!(
        world.apps.update(&name, app.revision, app.spec.clone()),
        Ok(Saved::Unchanged(_))
    ));
    world.reconciler.reconcile_all().await.unwrap();
    assert_eq!(
        world.service_version(&name).await,
        version,
        "the service was updated"
    );
    assert_eq!(running_tasks(&name), tasks, "instances were restarted");

    // A real change does update it (so the check above can fail).
    let changed = AppSpec {
        env: vec![EnvVar {
            key: "GREETING".into(),
            value: "hi".into(),
        }],
        ..app.spec
    };
    world.apps.update(&name, app.revision, changed).unwrap();
    world.reconciler.reconcile_all().await.unwrap();
    assert_ne!(world.service_version(&name).await, version);
    cleanup(&name);
}

#[tokio::test]
async fn deploying_a_missing_image_fails_clearly_and_the_old_version_keeps_serving() {
    let world = world().await;
    let name = unique_name("app");
    let app = world.apps.create(&name, spec(HTTPD_IMAGE, 1)).unwrap();
    world
        .until("version 1 live", Duration::from_secs(60), || {
            world.apps.versions(&name).unwrap()[0].state == DeployState::Live
        })
        .await;
    let tasks = running_tasks(&name);
    world
        .apps
        .update(
            &name,
            app.revision,
            spec("captain-test/does-not-exist:1", 1),
        )
        .unwrap();
    world
        .until("version 2 to fail", Duration::from_secs(150), || {
            world.apps.versions(&name).unwrap()[0].state == DeployState::Failed
        })
        .await;
    let failed = &world.apps.versions(&name).unwrap()[0];
    assert!(
        failed.message.contains("captain-test/does-not-exist:1")
            && failed.message.contains("not available"),
        "{}",
        failed.message
    );
    assert_eq!(
        world.apps.get(&name).unwrap().spec.image,
        HTTPD_IMAGE,
        "the spec still names the live image"
    );
    world.reconciler.reconcile_all().await.unwrap();
    assert_eq!(
        running_tasks(&name),
        tasks,
        "the running version was disturbed"
    );
    cleanup(&name);
}

#[tokio::test]
async fn a_version_that_crashes_at_once_is_rolled_back() {
    let world = world().await;
    ensure_crashing_image().unwrap();
    let name = unique_name("app");
    let app = world.apps.create(&name, spec(HTTPD_IMAGE, 1)).unwrap();
    world
        .until("version 1 live", Duration::from_secs(60), || {
            world.apps.versions(&name).unwrap()[0].state == DeployState::Live
        })
        .await;
    world
        .apps
        .update(&name, app.revision, spec(CRASHING_IMAGE, 1))
        .unwrap();
    world
        .until("version 2 to fail", Duration::from_secs(120), || {
            world.apps.versions(&name).unwrap()[0].state == DeployState::Failed
        })
        .await;
    let failed = &world.apps.versions(&name).unwrap()[0];
    assert!(
        failed.message.contains("did not start"),
        "{}",
        failed.message
    );
    world
        .until(
            "the old version running alone",
            Duration::from_secs(60),
            || {
                let image = docker(&[
                    "service",
                    "inspect",
                    "--format",
                    "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                    &types::app::service_name(&name),
                ]);
                running_tasks(&name).len() == 1
                    && image.is_ok_and(|image| image.starts_with(HTTPD_IMAGE))
            },
        )
        .await;
    assert_eq!(world.apps.get(&name).unwrap().spec.image, HTTPD_IMAGE);
    cleanup(&name);
}

#[tokio::test]
async fn volumes_outlive_their_app_unless_removal_is_asked_for() {
    let world = world().await;
    let volumes = |app: &str| {
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.captain.app={app}"),
        ])
        .unwrap()
    };
    let mut names = Vec::new();
    for _ in 0..2 {
        let name = unique_name("vol");
        let spec = AppSpec {
            volumes: vec![types::VolumeMount {
                name: "data".into(),
                path: "/data".into(),
            }],
            ..spec(HTTPD_IMAGE, 1)
        };
        world.apps.create(&name, spec).unwrap();
        names.push(name);
    }
    world
        .until("both apps running", Duration::from_secs(60), || {
            names.iter().all(|n| running_tasks(n).len() == 1)
        })
        .await;
    for name in &names {
        assert_eq!(volumes(name), format!("captain-{name}-data"));
    }
    let (kept, removed) = (&names[0], &names[1]);
    world.apps.delete(kept, false).unwrap();
    world.apps.delete(removed, true).unwrap();
    world
        .until(
            "the asked-for volume to go",
            Duration::from_secs(60),
            || volumes(removed).is_empty(),
        )
        .await;
    world
        .until("both services to go", Duration::from_secs(60), || {
            containers(kept).is_empty()
        })
        .await;
    assert_eq!(
        volumes(kept),
        format!("captain-{kept}-data"),
        "a volume was removed without being asked"
    );
    docker(&["volume", "rm", &format!("captain-{kept}-data")]).unwrap();
}
