//! Captain's SQLite store: desired state and settings, in one file in the data folder.
//!
//! Migrations are an ordered list applied inside one transaction each, tracked by SQLite's
//! `user_version`, so opening an old data folder upgrades it and opening a current one
//! changes nothing. rusqlite is synchronous; every statement here is a few microseconds,
//! so callers hold the connection lock briefly instead of paying for a thread hop.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Each entry moves the schema from version `index` to `index + 1`. Never edit a shipped
/// entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: key/value settings Captain keeps about itself (swarm identity, first start).
    "CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );",
    // 2: sign-in. Only hashes of session and API tokens are kept, and secrets (registry
    // passwords, SSH keys) only sealed with a key that lives outside this file.
    "CREATE TABLE sessions (
        id            TEXT PRIMARY KEY NOT NULL,
        token_hash    BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        last_seen_at  INTEGER NOT NULL,
        client_addr   TEXT NOT NULL,
        user_agent    TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id            TEXT PRIMARY KEY NOT NULL,
        name          TEXT NOT NULL,
        token_hash    BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
    );
    CREATE TABLE secrets (
        name   TEXT PRIMARY KEY NOT NULL,
        sealed TEXT NOT NULL
    );",
    // 3: apps (desired state, with a revision guarding concurrent edits), their deploys,
    // and volumes waiting to be removed after their app was deleted.
    "CREATE TABLE apps (
        name        TEXT PRIMARY KEY NOT NULL,
        spec        TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE app_versions (
        app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        number      INTEGER NOT NULL,
        image       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        state       TEXT NOT NULL,
        message     TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, number)
    );
    CREATE TABLE volume_removals (
        app           TEXT PRIMARY KEY NOT NULL,
        requested_at  INTEGER NOT NULL
    );",
    // 4: custom domains (only stored once checked to point here), HTTPS per app, and
    // certificates (their private keys live sealed in `secrets`).
    "CREATE TABLE domains (
        name      TEXT PRIMARY KEY NOT NULL,
        app       TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        added_at  INTEGER NOT NULL
    );
    CREATE TABLE app_edge (
        app          TEXT PRIMARY KEY NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        https        INTEGER NOT NULL DEFAULT 0,
        force_https  INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE certificates (
        domain     TEXT PRIMARY KEY NOT NULL,
        chain_pem  TEXT,
        not_after  INTEGER,
        issued_at  INTEGER,
        problem    TEXT
    );",
    // 5: registries deploys are pushed to (passwords sealed in `secrets`), and where each
    // version was pushed.
    "CREATE TABLE registries (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        address     TEXT NOT NULL UNIQUE,
        username    TEXT NOT NULL,
        prefix      TEXT NOT NULL,
        ca_pem      TEXT,
        is_default  INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL
    );
    ALTER TABLE app_versions ADD COLUMN registry_image TEXT;",
    // 6: builds from source (the log is kept once a build ends), and where each version
    // came from.
    "CREATE TABLE builds (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        app          TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        state        TEXT NOT NULL,
        source       TEXT NOT NULL,
        git_hash     TEXT,
        created_at   INTEGER NOT NULL,
        started_at   INTEGER,
        finished_at  INTEGER,
        message      TEXT NOT NULL DEFAULT '',
        image        TEXT,
        version      INTEGER,
        log          TEXT NOT NULL DEFAULT ''
    );
    ALTER TABLE app_versions ADD COLUMN source TEXT NOT NULL DEFAULT 'image';
    ALTER TABLE app_versions ADD COLUMN git_hash TEXT;",
];

pub const DATABASE_FILE: &str = "captain.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path} has schema version {found}, newer than this Captain ({known}); upgrade Captain")]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// A handle to the store; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let connection = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::prepare(connection, path)
    }

    /// A private in-memory store, for unit tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::prepare(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn prepare(mut connection: Connection, path: PathBuf) -> Result<Self, StoreError> {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Another process (a second Captain during an upgrade) may hold a write briefly.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut connection, &path)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        Ok(read_version(&self.lock())?)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Runs `work` inside one transaction: all of it lands, or none of it.
    pub fn transaction<T, E: From<rusqlite::Error>>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let value = work(&transaction)?;
        transaction.commit()?;
        Ok(value)
    }

    /// Runs `work` with the connection; the lock is held only for that call.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        Ok(work(&self.lock())?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are
        // atomic), so a poisoned lock is safe to keep using.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_version(connection: &Connection) -> rusqlite::Result<usize> {
    connection.query_row("PRAGMA user_version", [], |row| {
        row.get::<_, i64>(0).map(|v| v as usize)
    })
}

fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found = read_version(connection)?;
    if found > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", (index + 1) as i64)?;
        transaction.commit()?;
        tracing::info!(version = index + 1, "store migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_at_the_latest_schema() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
    }

    #[test]
    fn settings_are_kept_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .set_setting("k", "v1")
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.setting("k").unwrap().as_deref(), Some("v1"));
        store.set_setting("k", "v2").unwrap();
        assert_eq!(store.setting("k").unwrap().as_deref(), Some("v2"));
        assert_eq!(store.setting("missing").unwrap(), None);
    }

    #[test]
    fn a_database_from_a_newer_captain_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        connection.pragma_update(None, "user_version", 999).unwrap();
        drop(connection);
        let error = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(error, StoreError::TooNew { found: 999, .. }),
            "{error}"
        );
    }

    #[test]
    fn an_unwritable_data_dir_is_a_clear_error() {
        let error = Store::open(Path::new("/proc/captain-cannot-exist")).unwrap_err();
        assert!(
            error.to_string().contains("/proc/captain-cannot-exist"),
            "{error}"
        );
    }
}
