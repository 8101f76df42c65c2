//! The swarm service an app should be: one pure function from app to `ServiceSpec`, and a
//! fingerprint of it so the reconciler can tell "already so" without comparing Docker's
//! defaulted copy field by field.

use crate::swarm::{APPS_NETWORK, MANAGED_LABEL};
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Mount, MountType, NetworkAttachmentConfig, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use types::App;

pub const APP_LABEL: &str = "dev.captain.app";
/// Which Captain installation owns a service: a reconciler only ever touches its own, so
/// two installations (or parallel tests) on one swarm never remove each other's apps.
pub const OWNER_LABEL: &str = "dev.captain.owner";
pub const SPEC_HASH_LABEL: &str = "dev.captain.spec-hash";
const SECOND: i64 = 1_000_000_000;

/// The Docker volume behind an app's named volume.
pub fn volume_name(app: &str, volume: &str) -> String {
    format!("captain-{app}-{volume}")
}

/// The service spec for `app`, labelled with its own fingerprint.
/// The service for `app`, running `image` (the app's own, or its pushed reference).
pub fn service_spec(app: &App, owner: &str, image: &str) -> ServiceSpec {
    let mut spec = unlabelled_spec(app, owner, image);
    let fingerprint = fingerprint(&spec);
    spec.labels
        .get_or_insert_with(HashMap::new)
        .insert(SPEC_HASH_LABEL.to_owned(), fingerprint);
    spec
}

/// The fingerprint a service carries in its labels, if it has one.
pub fn fingerprint_of(spec: &ServiceSpec) -> Option<&str> {
    spec.labels
        .as_ref()?
        .get(SPEC_HASH_LABEL)
        .map(String::as_str)
}

pub(crate) fn fingerprint(spec: &ServiceSpec) -> String {
    let value = serde_json::to_value(spec).expect("a service spec always serialises");
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    Sha256::digest(canonical)
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON with object keys sorted: labels are HashMaps, whose iteration order differs from
/// one map to the next, and a fingerprint must not.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
                out.push(',');
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for item in items {
                write_canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn unlabelled_spec(app: &App, owner: &str, image: &str) -> ServiceSpec {
    let labels = HashMap::from([
        (MANAGED_LABEL.to_owned(), "true".to_owned()),
        (APP_LABEL.to_owned(), app.name.clone()),
        (OWNER_LABEL.to_owned(), owner.to_owned()),
    ]);
    let has_volumes = !app.spec.volumes.is_empty();
    let mounts = app
        .spec
        .volumes
        .iter()
        .map(|volume| Mount {
            target: Some(volume.path.clone()),
            source: Some(volume_name(&app.name, &volume.name)),
            typ: Some(MountType::VOLUME),
            volume_options: Some(bollard::models::MountVolumeOptions {
                labels: Some(labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let mut env: Vec<String> = app
        .spec
        .env
        .iter()
        .map(|var| format!("{}={}", var.key, var.value))
        .collect();
    // Docker compares env as a list; a stable order keeps the fingerprint stable.
    env.sort();
    ServiceSpec {
        name: Some(app.service_name()),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_owned()),
                env: Some(env),
                labels: Some(labels),
                mounts: Some(mounts),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(5 * SECOND),
                max_attempts: Some(0),
                window: Some(0),
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(APPS_NETWORK.to_owned()),
                aliases: Some(vec![app.name.clone()]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(app.spec.instances)),
            }),
            ..Default::default()
        }),
        // Two instances must never share a volume's data mid-update, so apps with volumes
        // stop the old instance first; stateless apps start the new one first (no gap).
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(5 * SECOND),
            max_failure_ratio: Some(0.0),
            order: Some(if has_volumes {
                ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
            } else {
                ServiceSpecUpdateConfigOrderEnum::START_FIRST
            }),
        }),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: Some(5 * SECOND),
            max_failure_ratio: Some(0.0),
            order: Some(if has_volumes {
                ServiceSpecRollbackConfigOrderEnum::STOP_FIRST
            } else {
                ServiceSpecRollbackConfigOrderEnum::START_FIRST
            }),
        }),
        // DNS round-robin: Captain's proxy balances over `tasks.NAME` itself, and swarm's
        // virtual IPs need IPVS, which some kernels lack.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::{AppSpec, EnvVar, VolumeMount};

    fn app(spec: AppSpec) -> App {
        App {
            name: "web".into(),
            spec,
            revision: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn equal_apps_give_equal_fingerprints_whatever_the_env_order() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| EnvVar {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect()
        };
        let a = app(AppSpec {
            image: "nginx".into(),
            env: env(&[("A", "1"), ("B", "2")]),
            ..AppSpec::default()
        });
        let b = app(AppSpec {
            image: "nginx".into(),
            env: env(&[("B", "2"), ("A", "1")]),
            ..AppSpec::default()
        });
        assert_eq!(
            fingerprint_of(&service_spec(&a, "o", &a.spec.image)),
            fingerprint_of(&service_spec(&b, "o", &b.spec.image))
        );
        let c = app(AppSpec {
            instances: 2,
            ..a.spec.clone()
        });
        assert_ne!(
            fingerprint_of(&service_spec(&a, "o", &a.spec.image)),
            fingerprint_of(&service_spec(&c, "o", &c.spec.image))
        );
    }

    #[test]
    fn the_fingerprint_is_the_same_on_every_call() {
        let a = app(AppSpec {
            image: "nginx".into(),
            ..AppSpec::default()
        });
        let first = service_spec(&a, "o", &a.spec.image);
        for _ in 0..20 {
            assert_eq!(
                fingerprint_of(&service_spec(&a, "o", &a.spec.image)),
                fingerprint_of(&first)
            );
        }
    }

    #[test]
    fn volumes_switch_updates_to_stop_first() {
        let stateless = service_spec(
            &app(AppSpec {
                image: "nginx".into(),
                ..AppSpec::default()
            }),
            "o",
            "nginx",
        );
        let order = |spec: &ServiceSpec| spec.update_config.as_ref().unwrap().order;
        assert_eq!(
            order(&stateless),
            Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST)
        );
        let with_volume = service_spec(
            &app(AppSpec {
                image: "nginx".into(),
                volumes: vec![VolumeMount {
                    name: "data".into(),
                    path: "/data".into(),
                }],
                ..AppSpec::default()
            }),
            "o",
            "nginx",
        );
        assert_eq!(
            order(&with_volume),
            Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST)
        );
        let mounts = with_volume
            .task_template
            .unwrap()
            .container_spec
            .unwrap()
            .mounts
            .unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("captain-web-data"));
    }
}
