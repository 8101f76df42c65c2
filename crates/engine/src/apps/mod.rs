//! The apps store: desired state for every app and its deploy history.
//!
//! Every edit names the revision it started from; an edit based on an older revision is
//! refused ("changed meanwhile") instead of silently overwriting the other browser's work.
//! Saving a spec equal to the stored one changes nothing, not even the revision.

use crate::auth::now_unix;
use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};
use types::validate::{self, Invalid};
use types::{App, AppSpec, AppVersion, DeployState};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("there is no app named {0}")]
    NotFound(String),
    #[error("an app named {0} already exists")]
    Exists(String),
    #[error("{name} was changed meanwhile (now at revision {current}); reload and apply your change again")]
    Conflict { name: String, current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sql(error))
    }
}

/// What an update did.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    Changed(App),
    Unchanged(App),
}

#[derive(Clone)]
pub struct AppStore {
    store: Store,
}

impl AppStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn create(&self, name: &str, spec: AppSpec) -> Result<App, AppError> {
        validate::app_name(name)?;
        spec.validate()?;
        let now = now_unix();
        self.store.transaction(|tx| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO apps (name, spec, revision, created_at, updated_at) VALUES (?1, ?2, 1, ?3, ?3)",
                params![name, to_json(&spec), now],
            )?;
            if inserted == 0 {
                return Err(AppError::Exists(name.to_owned()));
            }
            if !spec.image.is_empty() {
                add_version(tx, name, &spec.image, "image", None)?;
            }
            Ok(App { name: name.to_owned(), spec, revision: 1, created_at: now, updated_at: now })
        })
    }

    pub fn get(&self, name: &str) -> Result<App, AppError> {
        self.store
            .with(|db| {
                db.query_row(
                    "SELECT name, spec, revision, created_at, updated_at FROM apps WHERE name = ?1",
                    [name],
                    read_app,
                )
                .optional()
            })?
            .ok_or_else(|| AppError::NotFound(name.to_owned()))
    }

    pub fn list(&self) -> Result<Vec<App>, AppError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare(
                "SELECT name, spec, revision, created_at, updated_at FROM apps ORDER BY name",
            )?;
            let apps = statement.query_map([], read_app)?.collect();
            apps
        })?)
    }

    /// Replaces the spec if `expected_revision` is current. A new image is a new version.
    pub fn update(
        &self,
        name: &str,
        expected_revision: i64,
        spec: AppSpec,
    ) -> Result<Saved, AppError> {
        spec.validate()?;
        self.store.transaction(|tx| {
            let current = get_in(tx, name)?;
            if current.revision != expected_revision {
                return Err(AppError::Conflict {
                    name: name.to_owned(),
                    current: current.revision,
                });
            }
            if current.spec == spec {
                return Ok(Saved::Unchanged(current));
            }
            if current.spec.image != spec.image && !spec.image.is_empty() {
                add_version(tx, name, &spec.image, "image", None)?;
            }
            Ok(Saved::Changed(write_spec(tx, current, spec)?))
        })
    }

    /// Sets the instance count alone: it commutes with other edits, so it needs no revision.
    pub fn scale(&self, name: &str, instances: u32) -> Result<App, AppError> {
        self.store.transaction(|tx| {
            let current = get_in(tx, name)?;
            let spec = AppSpec {
                instances,
                ..current.spec.clone()
            };
            spec.validate()?;
            if spec == current.spec {
                return Ok(current);
            }
            write_spec(tx, current, spec)
        })
    }

    /// Removes the app (its service goes on the next reconcile); volumes only if asked.
    pub fn delete(&self, name: &str, remove_volumes: bool) -> Result<(), AppError> {
        self.store.transaction(|tx| {
            if tx.execute("DELETE FROM apps WHERE name = ?1", [name])? == 0 {
                return Err(AppError::NotFound(name.to_owned()));
            }
            if remove_volumes {
                tx.execute(
                    "INSERT OR REPLACE INTO volume_removals (app, requested_at) VALUES (?1, ?2)",
                    params![name, now_unix()],
                )?;
            }
            Ok(())
        })
    }

    /// Deploys an earlier version's image again, as a new version (history stays linear).
    pub fn roll_back(&self, name: &str, number: i64) -> Result<App, AppError> {
        self.store.transaction(|tx| {
            let image: String = tx
                .query_row(
                    "SELECT image FROM app_versions WHERE app = ?1 AND number = ?2",
                    params![name, number],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| AppError::NotFound(format!("{name} version {number}")))?;
            let current = get_in(tx, name)?;
            add_version(tx, name, &image, &format!("rollback to v{number}"), None)?;
            let spec = AppSpec {
                image,
                ..current.spec.clone()
            };
            write_spec(tx, current, spec)
        })
    }

    /// Deploys `image` as a new version even when the spec already names it (a rebuild
    /// under the same tag is still a new deploy); returns the version number.
    pub fn deploy_image(
        &self,
        name: &str,
        image: &str,
        source: &str,
        git_hash: Option<&str>,
    ) -> Result<i64, AppError> {
        self.store.transaction(|tx| {
            let current = get_in(tx, name)?;
            let number = add_version(tx, name, image, source, git_hash)?;
            let spec = AppSpec {
                image: image.to_owned(),
                ..current.spec.clone()
            };
            spec.validate()?;
            write_spec(tx, current, spec)?;
            Ok(number)
        })
    }

    pub fn versions(&self, name: &str) -> Result<Vec<AppVersion>, AppError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare(
                "SELECT number, image, created_at, state, message, registry_image, source, git_hash FROM app_versions
                 WHERE app = ?1 ORDER BY number DESC",
            )?;
            let versions = statement.query_map([name], read_version)?.collect();
            versions
        })?)
    }

    /// Records where version `number` was pushed.
    pub fn set_registry_image(&self, name: &str, number: i64, image: &str) -> Result<(), AppError> {
        self.store.with(|db| {
            db.execute(
                "UPDATE app_versions SET registry_image = ?1 WHERE app = ?2 AND number = ?3",
                params![image, name, number],
            )
        })?;
        Ok(())
    }

    /// Records how the deploy of `number` went; a live version supersedes older live ones.
    pub fn set_version_state(
        &self,
        name: &str,
        number: i64,
        state: DeployState,
        message: &str,
    ) -> Result<(), AppError> {
        self.store.transaction(|tx| {
            tx.execute(
                "UPDATE app_versions SET state = ?1, message = ?2 WHERE app = ?3 AND number = ?4",
                params![state_name(state), message, name, number],
            )?;
            if state == DeployState::Live {
                tx.execute(
                    "UPDATE app_versions SET state = ?1 WHERE app = ?2 AND number < ?3 AND state IN (?4, ?5)",
                    params![
                        state_name(DeployState::Superseded),
                        name,
                        number,
                        state_name(DeployState::Live),
                        state_name(DeployState::Deploying)
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// After a failed deploy: put the last live image back in the spec, so the app keeps
    /// describing what really serves. Returns the restored image, if there was one.
    pub fn restore_live_image(&self, name: &str) -> Result<Option<String>, AppError> {
        self.store.transaction(|tx| {
            let live: Option<String> = tx
                .query_row(
                    "SELECT image FROM app_versions WHERE app = ?1 AND state = ?2 ORDER BY number DESC LIMIT 1",
                    params![name, state_name(DeployState::Live)],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(image) = live else { return Ok(None) };
            let current = get_in(tx, name)?;
            if current.spec.image != image {
                let spec = AppSpec { image: image.clone(), ..current.spec.clone() };
                write_spec(tx, current, spec)?;
            }
            Ok(Some(image))
        })
    }

    pub fn pending_volume_removals(&self) -> Result<Vec<String>, AppError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare("SELECT app FROM volume_removals")?;
            let apps = statement.query_map([], |row| row.get(0))?.collect();
            apps
        })?)
    }

    pub fn volume_removal_done(&self, app: &str) -> Result<(), AppError> {
        self.store
            .with(|db| db.execute("DELETE FROM volume_removals WHERE app = ?1", [app]))?;
        Ok(())
    }
}

fn get_in(tx: &Transaction<'_>, name: &str) -> Result<App, AppError> {
    tx.query_row(
        "SELECT name, spec, revision, created_at, updated_at FROM apps WHERE name = ?1",
        [name],
        read_app,
    )
    .optional()?
    .ok_or_else(|| AppError::NotFound(name.to_owned()))
}

fn write_spec(tx: &Transaction<'_>, current: App, spec: AppSpec) -> Result<App, AppError> {
    let now = now_unix();
    tx.execute(
        "UPDATE apps SET spec = ?1, revision = revision + 1, updated_at = ?2 WHERE name = ?3",
        params![to_json(&spec), now, current.name],
    )?;
    Ok(App {
        spec,
        revision: current.revision + 1,
        updated_at: now,
        ..current
    })
}

fn add_version(
    tx: &Transaction<'_>,
    name: &str,
    image: &str,
    source: &str,
    git_hash: Option<&str>,
) -> Result<i64, AppError> {
    let number: i64 = tx.query_row(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM app_versions WHERE app = ?1",
        [name],
        |row| row.get(0),
    )?;
    tx.execute(
        "INSERT INTO app_versions (app, number, image, created_at, state, source, git_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            name,
            number,
            image,
            now_unix(),
            state_name(DeployState::Deploying),
            source,
            git_hash
        ],
    )?;
    Ok(number)
}

fn to_json(spec: &AppSpec) -> String {
    serde_json::to_string(spec).expect("an app spec always serialises")
}

fn read_app(row: &rusqlite::Row<'_>) -> rusqlite::Result<App> {
    let spec: String = row.get(1)?;
    Ok(App {
        name: row.get(0)?,
        spec: serde_json::from_str(&spec).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        revision: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn read_version(row: &rusqlite::Row<'_>) -> rusqlite::Result<AppVersion> {
    let state: String = row.get(3)?;
    Ok(AppVersion {
        number: row.get(0)?,
        image: row.get(1)?,
        created_at: row.get(2)?,
        state: parse_state(&state),
        message: row.get(4)?,
        registry_image: row.get(5)?,
        source: row.get(6)?,
        git_hash: row.get(7)?,
    })
}

fn state_name(state: DeployState) -> &'static str {
    match state {
        DeployState::Deploying => "deploying",
        DeployState::Live => "live",
        DeployState::Superseded => "superseded",
        DeployState::Failed => "failed",
    }
}

fn parse_state(name: &str) -> DeployState {
    match name {
        "live" => DeployState::Live,
        "superseded" => DeployState::Superseded,
        "failed" => DeployState::Failed,
        _ => DeployState::Deploying,
    }
}

#[cfg(test)]
mod tests;
