//! Apps: what the user asks Captain to run (desired state), and their deploy history.

use crate::validate::{self, Invalid};
use serde::{Deserialize, Serialize};

/// An environment variable given to every instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

/// A named volume (kept across deploys and restarts) mounted into every instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// Short name; the Docker volume is `captain-APP-NAME`.
    pub name: String,
    /// Absolute path inside the container.
    pub path: String,
}

/// Everything a user sets about an app. Saving an equal spec changes nothing that runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Image to run; empty until the first deploy.
    pub image: String,
    pub env: Vec<EnvVar>,
    /// Port the container serves HTTP on.
    pub http_port: u16,
    pub volumes: Vec<VolumeMount>,
    pub instances: u32,
}

impl Default for AppSpec {
    fn default() -> Self {
        Self {
            image: String::new(),
            env: Vec::new(),
            http_port: 80,
            volumes: Vec::new(),
            instances: 1,
        }
    }
}

pub const MAX_INSTANCES: u32 = 100;
pub const MAX_ENV_VARS: usize = 200;
pub const MAX_VOLUMES: usize = 20;

impl AppSpec {
    /// Every rule at once, so a form can show each mistake next to its field.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if !self.image.is_empty() {
            problems.extend(validate::image_reference(&self.image).err());
        }
        if self.http_port == 0 {
            problems.push(Invalid {
                field: "http_port",
                message: "must be between 1 and 65535".into(),
            });
        }
        if self.instances > MAX_INSTANCES {
            problems.push(Invalid {
                field: "instances",
                message: format!("must be at most {MAX_INSTANCES}"),
            });
        }
        if self.env.len() > MAX_ENV_VARS {
            problems.push(Invalid {
                field: "env",
                message: format!("at most {MAX_ENV_VARS} variables"),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for var in &self.env {
            problems.extend(validate::env_var(&var.key, &var.value).err());
            if !seen.insert(var.key.as_str()) {
                problems.push(Invalid {
                    field: "env",
                    message: format!("{} is set twice", var.key),
                });
            }
        }
        if self.volumes.len() > MAX_VOLUMES {
            problems.push(Invalid {
                field: "volumes",
                message: format!("at most {MAX_VOLUMES} volumes"),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        let mut paths = std::collections::BTreeSet::new();
        for volume in &self.volumes {
            problems.extend(validate::volume(&volume.name, &volume.path).err());
            if !names.insert(volume.name.as_str()) || !paths.insert(volume.path.as_str()) {
                problems.push(Invalid {
                    field: "volumes",
                    message: format!("{} is listed twice", volume.name),
                });
            }
        }
        problems
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// An app as stored: its spec and the revision that guards concurrent edits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub spec: AppSpec,
    /// Bumped on every change; an edit based on an older revision is refused.
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl App {
    /// The swarm service that runs this app.
    pub fn service_name(&self) -> String {
        service_name(&self.name)
    }
}

/// Service names carry a prefix so Captain's apps never collide with other services.
pub fn service_name(app: &str) -> String {
    format!("captain-app-{app}")
}

/// How a deploy went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeployState {
    /// Handed to swarm; its new instances are starting.
    Deploying,
    /// The version's instances run.
    Live,
    /// Replaced by a later deploy.
    Superseded,
    /// Never ran; the previous version kept serving.
    Failed,
}

/// One deploy of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppVersion {
    pub number: i64,
    pub image: String,
    pub created_at: i64,
    pub state: DeployState,
    /// Why it failed, or other detail worth showing.
    pub message: String,
    /// Where this version was pushed (`registry/prefix/app:vN`), when a registry is set.
    #[serde(default)]
    pub registry_image: Option<String>,
    /// Where the version came from: "image", "build #12", "rollback to v3".
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub git_hash: Option<String>,
}

/// Parses `KEY=VALUE` lines (blank lines and `#` comments skipped), as the settings form
/// sends them.
pub fn parse_env(text: &str) -> Result<Vec<EnvVar>, Invalid> {
    let mut vars = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(Invalid {
                field: "env",
                message: format!("line {} needs KEY=VALUE", number + 1),
            });
        };
        let key = key.trim();
        validate::env_var(key, value)?;
        vars.push(EnvVar {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(vars)
}

pub fn format_env(vars: &[EnvVar]) -> String {
    vars.iter()
        .map(|var| format!("{}={}\n", var.key, var.value))
        .collect()
}

/// Parses `name:/path` lines, as the settings form sends them.
pub fn parse_volumes(text: &str) -> Result<Vec<VolumeMount>, Invalid> {
    let mut volumes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, path)) = line.split_once(':') else {
            return Err(Invalid {
                field: "volumes",
                message: format!("line {} needs name:/path", number + 1),
            });
        };
        validate::volume(name.trim(), path.trim())?;
        volumes.push(VolumeMount {
            name: name.trim().to_owned(),
            path: path.trim().to_owned(),
        });
    }
    Ok(volumes)
}

pub fn format_volumes(volumes: &[VolumeMount]) -> String {
    volumes
        .iter()
        .map(|v| format!("{}:{}\n", v.name, v.path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_volume_text_round_trips() {
        let vars = parse_env("# comment\nA=1\n\nB = x=y\n").unwrap();
        assert_eq!(
            vars,
            [
                EnvVar {
                    key: "A".into(),
                    value: "1".into()
                },
                EnvVar {
                    key: "B".into(),
                    value: " x=y".into()
                }
            ]
        );
        assert_eq!(parse_env(&format_env(&vars)).unwrap(), vars);
        assert!(parse_env("NOEQUALS")
            .unwrap_err()
            .message
            .contains("line 1"));
        let volumes = parse_volumes("data:/var/lib/data\n").unwrap();
        assert_eq!(parse_volumes(&format_volumes(&volumes)).unwrap(), volumes);
        assert!(parse_volumes("data").is_err());
    }

    #[test]
    fn a_spec_reports_each_problem() {
        let spec = AppSpec {
            image: "Bad".into(),
            http_port: 0,
            instances: 101,
            env: vec![
                EnvVar {
                    key: "A".into(),
                    value: String::new(),
                },
                EnvVar {
                    key: "A".into(),
                    value: String::new(),
                },
            ],
            volumes: vec![
                VolumeMount {
                    name: "d".into(),
                    path: "/d".into(),
                },
                VolumeMount {
                    name: "d".into(),
                    path: "/e".into(),
                },
            ],
        };
        let fields: Vec<&str> = spec.problems().iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["image", "http_port", "instances", "env", "volumes"]
        );
    }
}

/// One line an app instance wrote, as the logs panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub task_id: String,
    /// The instance's replica slot (instance #1, #2, …).
    pub slot: Option<u64>,
    pub stderr: bool,
    /// RFC 3339, as Docker stamped it.
    pub timestamp: String,
    pub text: String,
}

/// Requests the proxy passed to one instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    pub total: u64,
    /// Over the last few seconds.
    pub per_second: f64,
}
