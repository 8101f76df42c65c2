//! Server functions for registries: list, the managed one, a checked third-party one,
//! the default, and pushing what already runs.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use types::registry::{RegistryInfo, UnpushedApp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistryOverview {
    pub registries: Vec<RegistryInfo>,
    /// Apps whose running image is not in the default registry yet.
    pub unpushed: Vec<UnpushedApp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushOutcome {
    pub app: String,
    /// The pushed reference, or why it could not be pushed.
    pub result: Result<String, String>,
}

#[server]
pub async fn get_registries() -> Result<RegistryOverview, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let registries = context.registry.store.list().map_err(to_server_error)?;
    let target = context
        .registry
        .store
        .push_target()
        .map_err(to_server_error)?;
    let mut unpushed = Vec::new();
    if let Some(target) = target {
        for app in context.apps.list().map_err(to_server_error)? {
            if app.spec.image.is_empty() {
                continue;
            }
            let versions = context.apps.versions(&app.name).map_err(to_server_error)?;
            let pushed = versions
                .iter()
                .find(|v| v.image == app.spec.image)
                .and_then(|v| v.registry_image.as_deref())
                .is_some_and(|image| image.starts_with(&format!("{}/", target.address)));
            if !pushed {
                unpushed.push(UnpushedApp {
                    app: app.name,
                    image: app.spec.image,
                });
            }
        }
    }
    Ok(RegistryOverview {
        registries,
        unpushed,
    })
}

#[server]
pub async fn enable_managed_registry() -> Result<RegistryInfo, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let registry = &context.registry;
    let mut info = engine::registry::managed::enable(
        &registry.docker,
        &registry.store,
        &registry.secrets,
        &registry.managed,
    )
    .await
    .map_err(to_server_error)?;
    info.node_trust = trust_on_other_nodes(&context, &info).await?;
    Ok(info)
}

/// Nodes that joined before this registry existed must trust its CA too.
#[cfg(feature = "ssr")]
async fn trust_on_other_nodes(
    context: &crate::server_context::ServerContext,
    info: &types::registry::RegistryInfo,
) -> Result<Vec<String>, ServerFnError> {
    use crate::server_context::to_server_error;
    let Some(ca_pem) = context
        .registry
        .store
        .ca_pem(info.id)
        .map_err(to_server_error)?
    else {
        return Ok(Vec::new());
    };
    Ok(engine::node_access::trust_everywhere(
        &context.node_access,
        &context.docker,
        &context.info.node_id,
        &info.address,
        &ca_pem,
    )
    .await)
}

#[server]
pub async fn add_registry(
    address: String,
    username: String,
    password: String,
    prefix: String,
    ca_pem: Option<String>,
) -> Result<RegistryInfo, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    use engine::registry::NewRegistry;
    let context = server_context()?;
    let ca_pem = ca_pem.filter(|pem| !pem.trim().is_empty());
    let address = address.trim().to_owned();
    let added = context
        .registry
        .store
        .add(NewRegistry {
            kind: types::registry::RegistryKind::ThirdParty,
            address: address.clone(),
            username,
            password: engine::Secret::new(password),
            prefix: prefix.trim().to_owned(),
            ca_pem: ca_pem.clone(),
        })
        .await
        .map_err(to_server_error)?;
    let mut added = added;
    // Engines on this node must trust a private CA too, or pushes fail on TLS.
    if let Some(pem) = ca_pem {
        engine::registry::managed::install_trust(
            &context.registry.managed.certs_dir,
            &address,
            &pem,
        )
        .map_err(to_server_error)?;
        added.node_trust = trust_on_other_nodes(&context, &added).await?;
    }
    Ok(added)
}

#[server]
pub async fn make_default_registry(id: i64) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context
        .registry
        .store
        .set_default(id)
        .map_err(to_server_error)?;
    context.apps_changed();
    Ok(())
}

#[server]
pub async fn remove_registry(id: i64) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context.registry.store.remove(id).map_err(to_server_error)?;
    context.apps_changed();
    Ok(())
}

/// Pushes every app's running image to the default registry (no rebuild); the services
/// then move to the pushed references so every node can pull them.
#[server]
pub async fn push_existing_apps() -> Result<Vec<PushOutcome>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let overview = get_registries().await?;
    let mut outcomes = Vec::new();
    for unpushed in overview.unpushed {
        let result = context
            .registry
            .pusher
            .push_running(&unpushed.app)
            .await
            .map_err(to_server_error)?;
        outcomes.push(PushOutcome {
            app: unpushed.app,
            result,
        });
    }
    context.apps_changed();
    Ok(outcomes)
}

/// Deletes the managed registry's images no app needs (keeping the newest `keep` versions
/// of each app and what runs) and frees their layers; reports disk used before and after.
#[server]
pub async fn clean_up_registry(keep: u32) -> Result<engine_free::CleanupReport, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let registry = &context.registry;
    let report = engine::registry::cleanup::clean_up(
        &registry.docker,
        &registry.store,
        &context.apps,
        &registry.managed,
        keep.max(1) as usize,
    )
    .await
    .map_err(to_server_error)?;
    Ok(engine_free::CleanupReport {
        deleted: report.deleted,
        bytes_before: report.bytes_before,
        bytes_after: report.bytes_after,
    })
}

/// Browser-side twins of engine types (the WASM build has no engine).
pub mod engine_free {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CleanupReport {
        pub deleted: Vec<String>,
        pub bytes_before: u64,
        pub bytes_after: u64,
    }
}
