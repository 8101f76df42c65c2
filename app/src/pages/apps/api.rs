//! Server functions for apps: thin — validate, write desired state, wake the reconciler.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use types::{App, AppVersion};

/// An app with its deploy history, for the detail page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppDetails {
    pub app: App,
    pub versions: Vec<AppVersion>,
}

#[server]
pub async fn list_apps() -> Result<Vec<App>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?.apps.list().map_err(to_server_error)
}

#[server]
pub async fn get_app(name: String) -> Result<AppDetails, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let app = context.apps.get(&name).map_err(to_server_error)?;
    let versions = context.apps.versions(&name).map_err(to_server_error)?;
    Ok(AppDetails { app, versions })
}

#[server]
pub async fn create_app(
    name: String,
    image: String,
    http_port: u16,
    instances: u32,
) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let spec = types::AppSpec {
        image: image.trim().to_owned(),
        http_port,
        instances,
        ..Default::default()
    };
    let name = name.trim().to_owned();
    context.apps.create(&name, spec).map_err(to_server_error)?;
    context.apps_changed();
    leptos_axum::redirect(&format!("/apps/{name}"));
    Ok(())
}

/// Saves the settings form; `revision` is what the form was loaded from.
#[server]
pub async fn save_app(
    name: String,
    revision: i64,
    image: String,
    http_port: u16,
    instances: u32,
    env: String,
    volumes: String,
) -> Result<bool, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let spec = types::AppSpec {
        image: image.trim().to_owned(),
        http_port,
        instances,
        env: types::app::parse_env(&env).map_err(to_server_error)?,
        volumes: types::app::parse_volumes(&volumes).map_err(to_server_error)?,
    };
    let context = server_context()?;
    let saved = context
        .apps
        .update(&name, revision, spec)
        .map_err(to_server_error)?;
    let changed = matches!(saved, engine::apps::Saved::Changed(_));
    if changed {
        context.apps_changed();
    }
    Ok(changed)
}

#[server]
pub async fn scale_app(name: String, instances: u32) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context
        .apps
        .scale(&name, instances)
        .map_err(to_server_error)?;
    context.apps_changed();
    Ok(())
}

#[server]
pub async fn delete_app(name: String, remove_volumes: Option<String>) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context
        .apps
        .delete(&name, remove_volumes.is_some())
        .map_err(to_server_error)?;
    context.apps_changed();
    leptos_axum::redirect("/apps");
    Ok(())
}

#[server]
pub async fn roll_back_app(name: String, number: i64) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context
        .apps
        .roll_back(&name, number)
        .map_err(to_server_error)?;
    context.apps_changed();
    Ok(())
}

/// Requests per instance (keyed by instance address) through Captain's proxy.
#[server]
pub async fn get_traffic(
) -> Result<std::collections::HashMap<String, types::Traffic>, ServerFnError> {
    let context = crate::server_context::server_context()?;
    Ok(context
        .ingress
        .as_ref()
        .map(|ingress| ingress.traffic())
        .unwrap_or_default())
}

/// The proxy's per-instance traffic, fetched again every 2 s while the page shows it.
pub fn live_traffic(
) -> LocalResource<Result<std::collections::HashMap<String, types::Traffic>, ServerFnError>> {
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(2),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    LocalResource::new(move || {
        tick.track();
        get_traffic()
    })
}
