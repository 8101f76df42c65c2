//! Server functions for builds from source. Uploads go to `POST /api/apps/NAME/builds`
//! (too large for a server function); the live log comes over the builds websocket.

use leptos::prelude::*;
use types::Build;

#[server]
pub async fn list_builds(name: String) -> Result<Vec<Build>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .builds
        .list(&name)
        .map_err(to_server_error)
}

/// An ended build's stored log (a running one's arrives over the websocket).
#[server]
pub async fn build_log(name: String, id: i64) -> Result<Vec<String>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .builds
        .log(&name, id)
        .map_err(to_server_error)
}

#[server]
pub async fn cancel_build(name: String, id: i64) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .builds
        .cancel(&name, id)
        .map_err(to_server_error)
}

/// Builds (or, for `imageName`, just deploys) from a captain-definition typed in the page.
#[server]
pub async fn deploy_definition(name: String, definition: String) -> Result<Build, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let source = engine::build::Source::Definition(definition);
    server_context()?
        .builds
        .submit(&name, source, None)
        .map_err(to_server_error)
}
