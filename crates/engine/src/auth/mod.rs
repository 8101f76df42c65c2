//! Sign-in: one admin password (Argon2id), browser sessions and named API tokens (stored
//! only as hashes), and per-address back-off on wrong passwords.
//!
//! Sessions live in SQLite, so restarting Captain signs nobody out; changing the password
//! ends every other session.

mod throttle;
mod tokens;

pub use throttle::Throttle;
pub use tokens::{now_unix, random_token, API_TOKEN_PREFIX};

use crate::secrets::Secret;
use crate::store::{Store, StoreError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use std::net::IpAddr;
use std::sync::Arc;
use types::validate::{self, Invalid};
use types::{ApiTokenInfo, NewApiToken, SessionInfo};

const PASSWORD_KEY: &str = "auth.password_hash";
/// A session unused for this long is signed out.
const SESSION_IDLE_SECS: i64 = 30 * 24 * 3600;
/// `last_seen_at` is written at most this often, so browsing costs no writes.
const TOUCH_EVERY_SECS: i64 = 60;
/// Stored user agents are for recognising a session in a list, not for forensics.
const USER_AGENT_MAX: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("wrong password")]
    WrongPassword,
    #[error("too many wrong passwords; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("no password is set yet; set one first")]
    NoPassword,
    #[error("a password is already set; sign in instead")]
    AlreadySetUp,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Who is making a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Session { id: String },
    ApiToken { id: String },
}

/// A fresh session: the cookie value (shown to the browser once) and its ID.
#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    pub token: Secret,
}

/// The sign-in service; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    throttle: Arc<Throttle>,
}

impl Auth {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            throttle: Arc::new(Throttle::default()),
        }
    }

    pub fn has_password(&self) -> Result<bool, AuthError> {
        Ok(self.store.setting(PASSWORD_KEY)?.is_some())
    }

    /// Sets the first password; refuses if one exists (that needs the old password).
    pub async fn set_initial_password(&self, password: &str) -> Result<(), AuthError> {
        validate::password(password)?;
        let hash = hash_password(password.to_owned()).await?;
        let inserted = self.store.with(|db| {
            db.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                params![PASSWORD_KEY, hash],
            )
        })?;
        if inserted == 0 {
            return Err(AuthError::AlreadySetUp);
        }
        tracing::info!("admin password set");
        Ok(())
    }

    /// Checks the password (with back-off per client) and opens a session.
    pub async fn sign_in(
        &self,
        password: &str,
        client: IpAddr,
        user_agent: &str,
    ) -> Result<NewSession, AuthError> {
        if let Err(retry_after_secs) = self.throttle.check(client) {
            return Err(AuthError::Throttled { retry_after_secs });
        }
        if !self.verify_password(password).await? {
            tracing::warn!(%client, "wrong password");
            return Err(match self.throttle.fail(client) {
                Some(retry_after_secs) => AuthError::Throttled { retry_after_secs },
                None => AuthError::WrongPassword,
            });
        }
        self.throttle.succeed(client);
        let session = self.open_session(client, user_agent)?;
        tracing::info!(%client, session = %session.id, "signed in");
        Ok(session)
    }

    /// The session a cookie value belongs to, if it is valid and not idle too long.
    pub fn session(&self, token: &str) -> Result<Option<Identity>, AuthError> {
        let now = now_unix();
        let found: Option<(String, i64)> = self.store.with(|db| {
            db.query_row(
                "SELECT id, last_seen_at FROM sessions WHERE token_hash = ?1",
                [tokens::hash(token)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })?;
        let Some((id, last_seen)) = found else {
            return Ok(None);
        };
        if now - last_seen > SESSION_IDLE_SECS {
            self.store
                .with(|db| db.execute("DELETE FROM sessions WHERE id = ?1", [&id]))?;
            return Ok(None);
        }
        if now - last_seen > TOUCH_EVERY_SECS {
            self.store.with(|db| {
                db.execute(
                    "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2",
                    params![now, id],
                )
            })?;
        }
        Ok(Some(Identity::Session { id }))
    }

    /// The API token a bearer value belongs to; records its use.
    pub fn api_token(&self, token: &str) -> Result<Option<Identity>, AuthError> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = tokens::hash(token);
        let id: Option<String> = self.store.with(|db| {
            db.query_row(
                "SELECT id FROM api_tokens WHERE token_hash = ?1",
                [&hash],
                |row| row.get(0),
            )
            .optional()
        })?;
        if let Some(id) = &id {
            self.store.with(|db| {
                db.execute(
                    "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2",
                    params![now_unix(), id],
                )
            })?;
        }
        Ok(id.map(|id| Identity::ApiToken { id }))
    }

    pub fn sign_out(&self, session_id: &str) -> Result<(), AuthError> {
        self.store
            .with(|db| db.execute("DELETE FROM sessions WHERE id = ?1", [session_id]))?;
        Ok(())
    }

    /// Replaces the password after checking the current one; every session except
    /// `keep_session` ends.
    pub async fn change_password(
        &self,
        current: &str,
        new: &str,
        client: IpAddr,
        keep_session: Option<&str>,
    ) -> Result<(), AuthError> {
        validate::password(new)?;
        if let Err(retry_after_secs) = self.throttle.check(client) {
            return Err(AuthError::Throttled { retry_after_secs });
        }
        if !self.verify_password(current).await? {
            self.throttle.fail(client);
            return Err(AuthError::WrongPassword);
        }
        let hash = hash_password(new.to_owned()).await?;
        self.store.with(|db| {
            db.execute(
                "UPDATE settings SET value = ?1 WHERE key = ?2",
                params![hash, PASSWORD_KEY],
            )?;
            db.execute(
                "DELETE FROM sessions WHERE id IS NOT ?1",
                [keep_session.unwrap_or_default()],
            )
        })?;
        tracing::info!("admin password changed; other sessions ended");
        Ok(())
    }

    pub fn sessions(&self, current: Option<&str>) -> Result<Vec<SessionInfo>, AuthError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare(
                "SELECT id, created_at, last_seen_at, client_addr, user_agent
                 FROM sessions ORDER BY last_seen_at DESC",
            )?;
            let rows = statement.query_map([], |row| {
                let id: String = row.get(0)?;
                Ok(SessionInfo {
                    current: Some(id.as_str()) == current,
                    id,
                    created_at: row.get(1)?,
                    last_seen_at: row.get(2)?,
                    client_addr: row.get(3)?,
                    user_agent: row.get(4)?,
                })
            })?;
            rows.collect()
        })?)
    }

    pub fn revoke_session(&self, id: &str) -> Result<bool, AuthError> {
        check_id(id)?;
        Ok(self
            .store
            .with(|db| db.execute("DELETE FROM sessions WHERE id = ?1", [id]))?
            > 0)
    }

    pub fn create_api_token(&self, name: &str) -> Result<NewApiToken, AuthError> {
        validate::token_name(name)?;
        let token = format!("{API_TOKEN_PREFIX}{}", tokens::random_token());
        let info = ApiTokenInfo {
            id: tokens::random_id(),
            name: name.trim().to_owned(),
            created_at: now_unix(),
            last_used_at: None,
        };
        self.store.with(|db| {
            db.execute(
                "INSERT INTO api_tokens (id, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![info.id, info.name, tokens::hash(&token), info.created_at],
            )
        })?;
        tracing::info!(token_id = %info.id, name = %info.name, "API token created");
        Ok(NewApiToken { info, token })
    }

    pub fn api_tokens(&self) -> Result<Vec<ApiTokenInfo>, AuthError> {
        Ok(self.store.with(|db| {
            let mut statement = db.prepare(
                "SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY created_at, name",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(ApiTokenInfo {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    created_at: row.get(2)?,
                    last_used_at: row.get(3)?,
                })
            })?;
            rows.collect()
        })?)
    }

    pub fn revoke_api_token(&self, id: &str) -> Result<bool, AuthError> {
        check_id(id)?;
        let removed = self
            .store
            .with(|db| db.execute("DELETE FROM api_tokens WHERE id = ?1", [id]))?;
        if removed > 0 {
            tracing::info!(token_id = %id, "API token revoked");
        }
        Ok(removed > 0)
    }

    fn open_session(&self, client: IpAddr, user_agent: &str) -> Result<NewSession, AuthError> {
        let token = tokens::random_token();
        let id = tokens::random_id();
        let now = now_unix();
        let agent: String = user_agent.chars().take(USER_AGENT_MAX).collect();
        self.store.with(|db| {
            db.execute(
                "INSERT INTO sessions (id, token_hash, created_at, last_seen_at, client_addr, user_agent)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                params![id, tokens::hash(&token), now, client.to_string(), agent],
            )
        })?;
        Ok(NewSession {
            id,
            token: Secret::new(token),
        })
    }

    async fn verify_password(&self, password: &str) -> Result<bool, AuthError> {
        let stored = self
            .store
            .setting(PASSWORD_KEY)?
            .ok_or(AuthError::NoPassword)?;
        if password.len() > validate::PASSWORD_MAX_BYTES {
            return Ok(false);
        }
        let password = password.to_owned();
        // Argon2 is deliberately slow (~tens of ms): keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(|e| AuthError::Hash(e.to_string()))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }
}

/// IDs are 16 hex digits; anything else is refused before it reaches SQL.
fn check_id(id: &str) -> Result<(), AuthError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(AuthError::Invalid(Invalid {
            field: "id",
            message: "is not a Captain ID".into(),
        }))
    }
}

async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Hash(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery";
    fn client() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    async fn auth_with_password() -> Auth {
        let auth = Auth::new(Store::in_memory().unwrap());
        auth.set_initial_password(PASSWORD).await.unwrap();
        auth
    }

    #[tokio::test]
    async fn the_first_password_can_be_set_only_once() {
        let auth = Auth::new(Store::in_memory().unwrap());
        assert!(!auth.has_password().unwrap());
        assert!(matches!(
            auth.set_initial_password("short").await,
            Err(AuthError::Invalid(_))
        ));
        auth.set_initial_password(PASSWORD).await.unwrap();
        assert!(matches!(
            auth.set_initial_password("another long one").await,
            Err(AuthError::AlreadySetUp)
        ));
        let stored = auth.store.setting(PASSWORD_KEY).unwrap().unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
    }

    #[tokio::test]
    async fn a_session_token_identifies_its_session_until_signed_out() {
        let auth = auth_with_password().await;
        assert!(matches!(
            auth.sign_in("wrong password", client(), "t").await,
            Err(AuthError::WrongPassword)
        ));
        let session = auth
            .sign_in(PASSWORD, client(), "test agent")
            .await
            .unwrap();
        let identity = auth.session(session.token.expose()).unwrap();
        assert_eq!(
            identity,
            Some(Identity::Session {
                id: session.id.clone()
            })
        );
        assert_eq!(auth.session("forged").unwrap(), None);
        auth.sign_out(&session.id).unwrap();
        assert_eq!(auth.session(session.token.expose()).unwrap(), None);
    }

    #[tokio::test]
    async fn changing_the_password_ends_every_other_session() {
        let auth = auth_with_password().await;
        let mine = auth.sign_in(PASSWORD, client(), "a").await.unwrap();
        let other = auth.sign_in(PASSWORD, client(), "b").await.unwrap();
        assert!(matches!(
            auth.change_password(
                "not it at all",
                "new password 123",
                client(),
                Some(&mine.id)
            )
            .await,
            Err(AuthError::WrongPassword)
        ));
        auth.change_password(PASSWORD, "new password 123", client(), Some(&mine.id))
            .await
            .unwrap();
        assert!(auth.session(mine.token.expose()).unwrap().is_some());
        assert!(auth.session(other.token.expose()).unwrap().is_none());
        assert!(auth.sign_in(PASSWORD, client(), "a").await.is_err());
        assert!(auth
            .sign_in("new password 123", client(), "a")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn api_tokens_work_until_revoked_and_record_their_last_use() {
        let auth = auth_with_password().await;
        let created = auth.create_api_token("ci").unwrap();
        assert!(created.token.starts_with(API_TOKEN_PREFIX));
        assert!(!format!("{created:?}").contains(&created.token));
        assert_eq!(auth.api_tokens().unwrap()[0].last_used_at, None);
        assert!(auth.api_token(&created.token).unwrap().is_some());
        assert!(auth.api_tokens().unwrap()[0].last_used_at.is_some());
        assert!(auth.revoke_api_token(&created.info.id).unwrap());
        assert_eq!(auth.api_token(&created.token).unwrap(), None);
        assert!(auth.create_api_token(" ").is_err());
    }
}
