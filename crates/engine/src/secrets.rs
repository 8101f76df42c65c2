//! Secrets at rest: values Captain must read back later (registry passwords, SSH keys,
//! ACME account keys) are sealed with AES-256-GCM under a key kept outside the database,
//! so a copied `captain.db` alone reveals nothing.
//!
//! The key is a 32-byte file created with mode 0600 in the data folder, or any file given
//! with `--secret-key-file` (e.g. a swarm secret mounted at /run/secrets/…).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A value that must never be printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plain value, for the one place that must use it (a login, a push).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// Version prefix, so a future key rotation can tell old ciphertexts apart.
const SEALED_PREFIX: &str = "v1.";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secret key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file {path} must hold exactly {KEY_BYTES} bytes")]
    KeyLength { path: PathBuf },
    #[error("a sealed secret is damaged or was sealed with another key")]
    Unseal,
}

/// Seals and opens secrets with the installation's key.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([key redacted])")
    }
}

impl SecretBox {
    /// Loads the key from `path`, creating a new random one (mode 0600) if it is missing.
    pub fn open_or_create(path: &Path) -> Result<Self, SecretError> {
        let io_error = |source| SecretError::KeyFile {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            let mut key = [0u8; KEY_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io_error)?;
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .map_err(io_error)?;
        }
        let key = std::fs::read(path).map_err(io_error)?;
        if key.len() != KEY_BYTES {
            return Err(SecretError::KeyLength {
                path: path.to_owned(),
            });
        }
        // A key readable by others is a leak waiting to happen; tighten it rather than
        // refuse to start (a swarm secret mount is read-only and already 0444-by-root).
        if let Ok(metadata) = std::fs::metadata(path) {
            if metadata.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        })
    }

    pub fn seal(&self, secret: &Secret) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), secret.expose().as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    pub fn unseal(&self, sealed: &str) -> Result<Secret, SecretError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|body| URL_SAFE_NO_PAD.decode(body).ok())
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .ok_or(SecretError::Unseal)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Unseal)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| SecretError::Unseal)
    }
}

/// Named secrets kept sealed in the store: the database holds only ciphertext.
#[derive(Clone)]
pub struct SecretStore {
    store: crate::Store,
    secret_box: std::sync::Arc<SecretBox>,
}

impl SecretStore {
    pub fn new(store: crate::Store, secret_box: SecretBox) -> Self {
        Self {
            store,
            secret_box: std::sync::Arc::new(secret_box),
        }
    }

    pub fn put(&self, name: &str, secret: &Secret) -> Result<(), crate::StoreError> {
        let sealed = self.secret_box.seal(secret);
        self.store.with(|db| {
            db.execute(
                "INSERT INTO secrets (name, sealed) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed",
                [name, &sealed],
            )
        })?;
        Ok(())
    }

    pub fn delete(&self, name: &str) -> Result<(), crate::StoreError> {
        self.store
            .with(|db| db.execute("DELETE FROM secrets WHERE name = ?1", [name]))?;
        Ok(())
    }

    /// The secret, `None` if absent; a value sealed under another key is an error, not
    /// silently missing.
    pub fn get(&self, name: &str) -> Result<Option<Secret>, SecretLookupError> {
        use rusqlite::OptionalExtension;
        let sealed: Option<String> = self.store.with(|db| {
            db.query_row(
                "SELECT sealed FROM secrets WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
        })?;
        sealed
            .map(|sealed| self.secret_box.unseal(&sealed))
            .transpose()
            .map_err(Into::into)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretLookupError {
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error(transparent)]
    Unseal(#[from] SecretError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_secrets_are_only_ciphertext_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let secrets = SecretStore::new(
            store,
            SecretBox::open_or_create(&dir.path().join("secret.key")).unwrap(),
        );
        secrets
            .put("registry.password", &Secret::new("plain-registry-pass-77"))
            .unwrap();
        assert_eq!(
            secrets.get("registry.password").unwrap().unwrap().expose(),
            "plain-registry-pass-77"
        );
        assert!(secrets.get("missing").unwrap().is_none());
        for file in ["captain.db", "captain.db-wal"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains("plain-registry-pass-77"),
                    "{file} holds the plaintext"
                );
            }
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_hides_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let secret_box = SecretBox::open_or_create(&dir.path().join("secret.key")).unwrap();
        let secret = Secret::new("registry-password-123");
        let sealed = secret_box.seal(&secret);
        assert!(!sealed.contains("registry-password-123"));
        assert_eq!(secret_box.unseal(&sealed).unwrap(), secret);
        assert_ne!(sealed, secret_box.seal(&secret), "nonces must differ");

        let other = SecretBox::open_or_create(&dir.path().join("other.key")).unwrap();
        assert!(matches!(other.unseal(&sealed), Err(SecretError::Unseal)));
    }

    #[test]
    fn tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let secret_box = SecretBox::open_or_create(&dir.path().join("k")).unwrap();
        let mut sealed = secret_box.seal(&Secret::new("x")).into_bytes();
        let last = sealed.len() - 1;
        sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
        assert!(secret_box
            .unseal(std::str::from_utf8(&sealed).unwrap())
            .is_err());
        assert!(secret_box.unseal("garbage").is_err());
    }

    #[test]
    fn the_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = SecretBox::open_or_create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = first.seal(&Secret::new("kept"));
        let second = SecretBox::open_or_create(&path).unwrap();
        assert_eq!(second.unseal(&sealed).unwrap().expose(), "kept");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let shown = format!(
            "{:?} {}",
            Secret::new("hunter2-hunter2"),
            Secret::new("hunter2-hunter2")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
