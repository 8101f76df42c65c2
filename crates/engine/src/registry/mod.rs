//! Registries every deploy is pushed to, so any node can pull it: one Captain runs itself
//! ([`managed`]: TLS from Captain's own CA, a generated password, no public domain needed)
//! or a third party's, checked before it is saved. Passwords live sealed in `secrets`.

pub mod cleanup;
pub mod client;
pub mod managed;
pub mod push;

use crate::auth::now_unix;
use crate::secrets::{Secret, SecretStore};
use crate::store::{Store, StoreError};
use client::{RegistryClient, RegistryError};
use rusqlite::{params, OptionalExtension};
use types::registry::{RegistryInfo, RegistryKind};
use types::validate::{self, Invalid};

#[derive(Debug, thiserror::Error)]
pub enum RegistryStoreError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("a registry at {0} is already set up")]
    Exists(String),
    #[error("there is no registry with ID {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the registry password: {0}")]
    Secret(#[from] crate::secrets::SecretLookupError),
}

impl From<rusqlite::Error> for RegistryStoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sql(error))
    }
}

/// What a deploy needs to push to and pull from a registry.
#[derive(Clone)]
pub struct PushTarget {
    pub address: String,
    pub prefix: String,
    pub username: String,
    pub password: Secret,
}

impl PushTarget {
    /// `address/prefix/app:version`.
    pub fn image_for(&self, app: &str, version: i64) -> String {
        let prefix = self.prefix.trim_matches('/');
        match prefix.is_empty() {
            true => format!("{}/{app}:v{version}", self.address),
            false => format!("{}/{prefix}/{app}:v{version}", self.address),
        }
    }

    pub fn repository_for(&self, app: &str) -> String {
        let prefix = self.prefix.trim_matches('/');
        match prefix.is_empty() {
            true => app.to_owned(),
            false => format!("{prefix}/{app}"),
        }
    }

    pub fn credentials(&self) -> bollard::auth::DockerCredentials {
        bollard::auth::DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.expose().to_owned()),
            serveraddress: Some(self.address.clone()),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A registry as the user describes it (third-party wizard) or as Captain made it.
pub struct NewRegistry {
    pub kind: RegistryKind,
    pub address: String,
    pub username: String,
    pub password: Secret,
    pub prefix: String,
    pub ca_pem: Option<String>,
}

#[derive(Clone)]
pub struct RegistryStore {
    store: Store,
    secrets: SecretStore,
}

fn password_name(id: i64) -> String {
    format!("registry-password:{id}")
}

impl RegistryStore {
    pub fn new(store: Store, secrets: SecretStore) -> Self {
        Self { store, secrets }
    }

    /// Checks the registry with the given credentials, then saves it; nothing is saved
    /// when the check fails. The first registry becomes the default.
    pub async fn add(&self, registry: NewRegistry) -> Result<RegistryInfo, RegistryStoreError> {
        validate_address(&registry.address)?;
        validate_prefix(&registry.prefix)?;
        if registry.username.trim().is_empty() {
            return Err(Invalid {
                field: "username",
                message: "is required".into(),
            }
            .into());
        }
        RegistryClient::new(
            &registry.address,
            &registry.username,
            registry.password.expose(),
            registry.ca_pem.as_deref(),
        )?
        .check()
        .await?;
        let kind = match registry.kind {
            RegistryKind::Managed => "managed",
            RegistryKind::ThirdParty => "third-party",
        };
        let id = self.store.transaction(|tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM registries WHERE address = ?1",
                    [&registry.address],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(RegistryStoreError::Exists(registry.address.clone()));
            }
            let has_default: bool =
                tx.query_row("SELECT COUNT(*) > 0 FROM registries WHERE is_default = 1", [], |r| {
                    r.get(0)
                })?;
            tx.execute(
                "INSERT INTO registries (kind, address, username, prefix, ca_pem, is_default, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    kind,
                    registry.address,
                    registry.username.trim(),
                    registry.prefix.trim_matches('/'),
                    registry.ca_pem,
                    !has_default,
                    now_unix()
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        self.secrets.put(&password_name(id), &registry.password)?;
        self.get(id)
    }

    pub fn list(&self) -> Result<Vec<RegistryInfo>, RegistryStoreError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare(
                "SELECT id, kind, address, username, prefix, ca_pem IS NOT NULL, is_default, created_at
                 FROM registries ORDER BY id",
            )?;
            let rows = statement.query_map([], read_info)?;
            rows.collect()
        })?)
    }

    pub fn get(&self, id: i64) -> Result<RegistryInfo, RegistryStoreError> {
        self.list()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(RegistryStoreError::NotFound(id))
    }

    pub fn managed(&self) -> Result<Option<RegistryInfo>, RegistryStoreError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|r| r.kind == RegistryKind::Managed))
    }

    pub fn set_default(&self, id: i64) -> Result<(), RegistryStoreError> {
        self.get(id)?;
        self.store.transaction(|tx| {
            tx.execute("UPDATE registries SET is_default = (id = ?1)", [id])?;
            Ok::<_, RegistryStoreError>(())
        })
    }

    pub fn remove(&self, id: i64) -> Result<(), RegistryStoreError> {
        let removed = self
            .store
            .with(|db| db.execute("DELETE FROM registries WHERE id = ?1", [id]))?;
        if removed == 0 {
            return Err(RegistryStoreError::NotFound(id));
        }
        self.secrets.delete(&password_name(id))?;
        Ok(())
    }

    pub fn ca_pem(&self, id: i64) -> Result<Option<String>, RegistryStoreError> {
        Ok(self
            .store
            .with(|db| {
                db.query_row("SELECT ca_pem FROM registries WHERE id = ?1", [id], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .optional()
            })?
            .flatten())
    }

    /// Where deploys go: the default registry with its credentials, if there is one.
    pub fn push_target(&self) -> Result<Option<PushTarget>, RegistryStoreError> {
        let Some(info) = self.list()?.into_iter().find(|r| r.is_default) else {
            return Ok(None);
        };
        let password = self
            .secrets
            .get(&password_name(info.id))?
            .unwrap_or_else(|| Secret::new(""));
        Ok(Some(PushTarget {
            address: info.address,
            prefix: info.prefix,
            username: info.username,
            password,
        }))
    }

    /// A client for registry `id`, with its stored credentials and CA.
    pub fn client(&self, id: i64) -> Result<RegistryClient, RegistryStoreError> {
        let info = self.get(id)?;
        let password = self
            .secrets
            .get(&password_name(id))?
            .unwrap_or_else(|| Secret::new(""));
        Ok(RegistryClient::new(
            &info.address,
            &info.username,
            password.expose(),
            self.ca_pem(id)?.as_deref(),
        )?)
    }
}

fn read_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<RegistryInfo> {
    let kind: String = row.get(1)?;
    Ok(RegistryInfo {
        id: row.get(0)?,
        kind: if kind == "managed" {
            RegistryKind::Managed
        } else {
            RegistryKind::ThirdParty
        },
        address: row.get(2)?,
        username: row.get(3)?,
        prefix: row.get(4)?,
        has_ca: row.get(5)?,
        is_default: row.get(6)?,
        created_at: row.get(7)?,
        node_trust: Vec::new(),
    })
}

/// `host[:port]` as image references name registries: no scheme, no path.
pub fn validate_address(address: &str) -> Result<(), Invalid> {
    let invalid = |message: &str| Invalid {
        field: "address",
        message: message.into(),
    };
    if address.contains("://") || address.contains('/') {
        return Err(invalid("give host[:port] only, without scheme or path"));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (address, None),
    };
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid("the port must be a number from 1 to 65535"));
        }
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host == "localhost" {
        return Ok(());
    }
    validate::domain(host).map_err(|e| invalid(&e.message))
}

/// A path prefix for the apps' repositories: lowercase path components.
pub fn validate_prefix(prefix: &str) -> Result<(), Invalid> {
    let prefix = prefix.trim_matches('/');
    let ok = prefix.split('/').all(|part| {
        part.is_empty()
            || part.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            })
    });
    if ok && prefix.len() <= 100 {
        Ok(())
    } else {
        Err(Invalid {
            field: "prefix",
            message: "use lowercase letters, digits, '-', '_', '.' and '/'".into(),
        })
    }
}
