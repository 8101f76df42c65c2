//! The app store's rules: validation, revisions, versions and rollback, in an in-memory store.

use super::*;

fn apps() -> AppStore {
    AppStore::new(Store::in_memory().unwrap())
}

fn spec(image: &str) -> AppSpec {
    AppSpec {
        image: image.into(),
        ..AppSpec::default()
    }
}

#[test]
fn names_and_specs_are_validated_and_names_are_unique() {
    let apps = apps();
    assert!(matches!(
        apps.create("Bad_Name", spec("nginx")),
        Err(AppError::Invalid(_))
    ));
    assert!(matches!(
        apps.create("web", spec("NGINX")),
        Err(AppError::Invalid(_))
    ));
    apps.create("web", spec("nginx:1")).unwrap();
    assert!(matches!(
        apps.create("web", spec("nginx:1")),
        Err(AppError::Exists(_))
    ));
}

#[test]
fn a_stale_edit_is_refused_instead_of_overwriting() {
    let apps = apps();
    let app = apps.create("web", spec("nginx:1")).unwrap();
    let first = AppSpec {
        http_port: 8080,
        ..app.spec.clone()
    };
    let second = AppSpec {
        instances: 3,
        ..app.spec.clone()
    };
    assert!(matches!(
        apps.update("web", app.revision, first),
        Ok(Saved::Changed(_))
    ));
    let error = apps.update("web", app.revision, second).unwrap_err();
    assert!(
        matches!(error, AppError::Conflict { current: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("changed meanwhile"));
    assert_eq!(apps.get("web").unwrap().spec.http_port, 8080);
}

#[test]
fn saving_an_equal_spec_changes_nothing() {
    let apps = apps();
    let app = apps.create("web", spec("nginx:1")).unwrap();
    assert!(matches!(
        apps.update("web", 1, app.spec.clone()),
        Ok(Saved::Unchanged(_))
    ));
    assert_eq!(apps.get("web").unwrap().revision, 1);
    assert_eq!(apps.versions("web").unwrap().len(), 1);
}

#[test]
fn a_new_image_is_a_new_version_and_a_failed_one_restores_the_live_image() {
    let apps = apps();
    apps.create("web", spec("nginx:1")).unwrap();
    apps.set_version_state("web", 1, DeployState::Live, "")
        .unwrap();
    apps.update("web", 1, spec("nginx:2")).unwrap();
    let versions = apps.versions("web").unwrap();
    assert_eq!(
        (versions[0].number, versions[0].state),
        (2, DeployState::Deploying)
    );
    apps.set_version_state("web", 2, DeployState::Failed, "no such image")
        .unwrap();
    assert_eq!(
        apps.restore_live_image("web").unwrap().as_deref(),
        Some("nginx:1")
    );
    assert_eq!(apps.get("web").unwrap().spec.image, "nginx:1");
    apps.update("web", 3, spec("nginx:3")).unwrap();
    apps.set_version_state("web", 3, DeployState::Live, "")
        .unwrap();
    let states: Vec<_> = apps
        .versions("web")
        .unwrap()
        .iter()
        .map(|v| v.state)
        .collect();
    assert_eq!(
        states,
        [
            DeployState::Live,
            DeployState::Failed,
            DeployState::Superseded
        ]
    );
}

#[test]
fn rolling_back_deploys_an_earlier_image_as_a_new_version() {
    let apps = apps();
    apps.create("web", spec("nginx:1")).unwrap();
    apps.update("web", 1, spec("nginx:2")).unwrap();
    let app = apps.roll_back("web", 1).unwrap();
    assert_eq!(app.spec.image, "nginx:1");
    let versions = apps.versions("web").unwrap();
    assert_eq!(
        (versions[0].number, versions[0].image.as_str()),
        (3, "nginx:1")
    );
    assert!(matches!(
        apps.roll_back("web", 9),
        Err(AppError::NotFound(_))
    ));
}

#[test]
fn scaling_and_deleting() {
    let apps = apps();
    apps.create("web", spec("nginx:1")).unwrap();
    assert_eq!(apps.scale("web", 3).unwrap().spec.instances, 3);
    assert!(apps.scale("web", 1000).is_err());
    apps.delete("web", true).unwrap();
    assert!(matches!(apps.get("web"), Err(AppError::NotFound(_))));
    assert_eq!(apps.pending_volume_removals().unwrap(), ["web"]);
    assert!(apps.versions("web").unwrap().is_empty());
}
