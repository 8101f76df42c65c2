//! What server functions reach for: the engine handles the server put in context.

use leptos::prelude::*;

/// Provided by the server for every request; server functions take what they need.
#[derive(Clone)]
pub struct ServerContext {
    pub hub: engine::StatusHub,
    /// Desired state and settings.
    pub store: engine::Store,
    pub info: types::ServerInfo,
}

/// The server context, or an error saying the server was wired without it.
pub fn server_context() -> Result<ServerContext, ServerFnError> {
    use_context::<ServerContext>()
        .ok_or_else(|| ServerFnError::new("Captain's server context is missing"))
}
