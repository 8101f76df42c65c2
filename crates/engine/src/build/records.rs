//! Builds as stored: one row each, the log kept once the build ends. A build that was
//! queued or running when Captain stopped cannot be resumed (its connection to the
//! engine is gone), so startup marks it failed with the reason.

use crate::auth::now_unix;
use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use types::{Build, BuildState};

/// Stored logs keep their last this many bytes; the page shows the end of a log anyway.
const STORED_LOG_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct BuildRecords {
    store: Store,
}

const COLUMNS: &str =
    "id, app, state, source, git_hash, created_at, started_at, finished_at, message, image, version";

impl BuildRecords {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn insert(
        &self,
        app: &str,
        source: &str,
        git_hash: Option<&str>,
    ) -> Result<Build, StoreError> {
        self.store.with(|db| {
            db.execute(
                "INSERT INTO builds (app, state, source, git_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![app, BuildState::Queued.code(), source, git_hash, now_unix()],
            )?;
            let id = db.last_insert_rowid();
            db.query_row(
                &format!("SELECT {COLUMNS} FROM builds WHERE id = ?1"),
                [id],
                read_build,
            )
        })
    }

    pub fn started(&self, id: i64) -> Result<(), StoreError> {
        self.store.with(|db| {
            db.execute(
                "UPDATE builds SET state = ?1, started_at = ?2 WHERE id = ?3",
                params![BuildState::Building.code(), now_unix(), id],
            )
        })?;
        Ok(())
    }

    /// Records how `build` ended, with its log.
    pub fn finish(&self, build: &Build, log: &str) -> Result<(), StoreError> {
        let log = tail(log, STORED_LOG_BYTES);
        self.store.with(|db| {
            db.execute(
                "UPDATE builds SET state = ?1, finished_at = ?2, message = ?3, image = ?4,
                 version = ?5, log = ?6 WHERE id = ?7",
                params![
                    build.state.code(),
                    build.finished_at,
                    build.message,
                    build.image,
                    build.version,
                    log,
                    build.id
                ],
            )
        })?;
        Ok(())
    }

    pub fn get(&self, id: i64) -> Result<Option<Build>, StoreError> {
        self.store.with(|db| {
            db.query_row(
                &format!("SELECT {COLUMNS} FROM builds WHERE id = ?1"),
                [id],
                read_build,
            )
            .optional()
        })
    }

    /// The app's newest builds first.
    pub fn list(&self, app: &str, limit: usize) -> Result<Vec<Build>, StoreError> {
        self.store.with(|db| {
            let mut statement = db.prepare(&format!(
                "SELECT {COLUMNS} FROM builds WHERE app = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let builds = statement
                .query_map(params![app, limit as i64], read_build)?
                .collect();
            builds
        })
    }

    pub fn log(&self, id: i64) -> Result<String, StoreError> {
        self.store.with(|db| {
            db.query_row("SELECT log FROM builds WHERE id = ?1", [id], |row| {
                row.get(0)
            })
        })
    }

    /// Marks what an earlier run of Captain left queued or building as failed.
    pub fn fail_interrupted(&self) -> Result<usize, StoreError> {
        self.store.with(|db| {
            db.execute(
                "UPDATE builds SET state = ?1, finished_at = ?2,
                 message = CASE state WHEN ?3 THEN ?5 ELSE ?6 END
                 WHERE state IN (?3, ?4)",
                params![
                    BuildState::Failed.code(),
                    now_unix(),
                    BuildState::Building.code(),
                    BuildState::Queued.code(),
                    "Captain stopped while this build ran (restart or crash); upload the source again",
                    "Captain stopped before this build started; upload the source again",
                ],
            )
        })
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn read_build(row: &rusqlite::Row<'_>) -> rusqlite::Result<Build> {
    let state: String = row.get(2)?;
    Ok(Build {
        id: row.get(0)?,
        app: row.get(1)?,
        state: BuildState::from_code(&state).unwrap_or(BuildState::Failed),
        source: row.get(3)?,
        git_hash: row.get(4)?,
        created_at: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        message: row.get(8)?,
        image: row.get(9)?,
        version: row.get(10)?,
        step: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_builds_fail_with_the_reason_and_finished_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        crate::apps::AppStore::new(store.clone())
            .create("web", types::AppSpec::default())
            .unwrap();
        let records = BuildRecords::new(store);
        let running = records.insert("web", "upload", Some("abc123")).unwrap();
        records.started(running.id).unwrap();
        let queued = records.insert("web", "upload", None).unwrap();
        let mut done = records.insert("web", "upload", None).unwrap();
        done.state = BuildState::Succeeded;
        done.finished_at = Some(1);
        records.finish(&done, "Step 1/1 : FROM scratch\n").unwrap();

        assert_eq!(records.fail_interrupted().unwrap(), 2);
        let running = records.get(running.id).unwrap().unwrap();
        assert_eq!(running.state, BuildState::Failed);
        assert!(running.message.contains("while this build ran"));
        assert_eq!(running.git_hash.as_deref(), Some("abc123"));
        let queued = records.get(queued.id).unwrap().unwrap();
        assert!(queued.message.contains("before this build started"));
        assert_eq!(
            records.get(done.id).unwrap().unwrap().state,
            BuildState::Succeeded
        );
        assert_eq!(records.log(done.id).unwrap(), "Step 1/1 : FROM scratch\n");
        assert_eq!(records.list("web", 2).unwrap().len(), 2);
    }

    #[test]
    fn long_logs_keep_their_end() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("aé", 1), "");
    }
}
