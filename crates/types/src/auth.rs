//! Sign-in DTOs: what the dashboard shows about sessions and API tokens (never the
//! secrets themselves, which exist only in the one response that creates them).

use serde::{Deserialize, Serialize};

/// Whether this Captain has a password yet, and whether the caller is signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthState {
    /// First start: the dashboard asks for a password before anything else.
    NeedsPassword,
    SignedOut,
    SignedIn,
}

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_addr: String,
    pub user_agent: String,
    /// The session making this request.
    pub current: bool,
}

/// A named API token, as listed (the token itself is never shown again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The one response that carries a new token's secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub info: ApiTokenInfo,
    pub token: String,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("info", &self.info)
            .field("token", &"[redacted]")
            .finish()
    }
}
