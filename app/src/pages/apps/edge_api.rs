//! Server functions for an app's domains and HTTPS. Adding a domain checks that it points
//! here first; turning HTTPS on requests the missing certificates before answering, so
//! the page shows the outcome rather than a spinner that never resolves.

use leptos::prelude::*;
use types::AppEdge;

#[server]
pub async fn get_app_edge(name: String) -> Result<AppEdge, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let edge = server_context()?.edge;
    edge.store
        .app_edge(&name, edge.http_port, edge.https_port)
        .map_err(to_server_error)
}

#[server]
pub async fn add_domain(name: String, domain: String) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    use engine::edge::EdgeStore;
    let context = server_context()?;
    let edge = &context.edge;
    let domain = EdgeStore::parse_domain(&domain).map_err(to_server_error)?;
    if let Some(app) = edge.store.owner_of(&domain).map_err(to_server_error)? {
        return Err(to_server_error(format!(
            "domain: {domain} is already served by the app {app}"
        )));
    }
    edge.check
        .check(&domain)
        .await
        .map_err(|error| to_server_error(format!("domain: {error}")))?;
    edge.store
        .add_custom(&name, &domain)
        .map_err(to_server_error)?;
    context.apps_changed();
    let (https, _) = edge.store.https_of(&name).map_err(to_server_error)?;
    if let (true, Some(issuer)) = (https, &edge.issuer) {
        // The domain is kept either way; a failed certificate shows on its row.
        let _ = issuer.issue(&domain).await;
        push_now(&context).await;
    }
    Ok(())
}

#[server]
pub async fn remove_domain(name: String, domain: String) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    context
        .edge
        .store
        .remove_custom(&name, &domain)
        .map_err(to_server_error)?;
    context.apps_changed();
    Ok(())
}

/// Turns HTTPS (and its redirect) on or off; turning it on requests every missing
/// certificate now. Checkbox semantics: a missing field means off.
#[server]
pub async fn set_https(
    name: String,
    https: Option<String>,
    force_https: Option<String>,
) -> Result<AppEdge, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let edge = &context.edge;
    let https = https.is_some();
    if https && edge.issuer.is_none() {
        return Err(to_server_error(
            "HTTPS needs Captain's proxy, which is not running (see Settings)",
        ));
    }
    edge.store
        .set_https(&name, https, force_https.is_some())
        .map_err(to_server_error)?;
    if let (true, Some(issuer)) = (https, &edge.issuer) {
        let window = 24 * 3600;
        let wanted = edge
            .store
            .wanting_certificates(window)
            .map_err(to_server_error)?;
        for (_, domain) in wanted.into_iter().filter(|(app, _)| *app == name) {
            // Each failure is recorded on its domain and shown there.
            let _ = issuer.issue(&domain).await;
        }
    }
    push_now(&context).await;
    edge.store
        .app_edge(&name, edge.http_port, edge.https_port)
        .map_err(to_server_error)
}

/// Hands the new certificates and rules to the proxy before answering, so the page's
/// links work the moment it shows them.
#[cfg(feature = "ssr")]
async fn push_now(context: &crate::server_context::ServerContext) {
    if let Some(ingress) = &context.ingress {
        if let Err(error) = ingress.push_edge().await {
            tracing::warn!(%error, "proxy did not take the new edge rules yet");
        }
    }
}

/// The dashboard's own name through the proxy (`captain.<root domain>`) and its HTTPS.
#[server]
pub async fn get_dashboard_edge() -> Result<types::DomainInfo, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let edge = server_context()?.edge;
    let name = edge.store.dashboard_domain();
    let (certificate, problem) = edge
        .store
        .certificate_info(&name)
        .map_err(to_server_error)?;
    Ok(types::DomainInfo {
        name,
        custom: false,
        certificate,
        problem,
    })
}

/// Serves the dashboard over HTTPS at `captain.<root domain>` (certificate requested now,
/// plain HTTP redirected), or stops.
#[server]
pub async fn set_dashboard_https(
    https: Option<String>,
) -> Result<types::DomainInfo, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let edge = &context.edge;
    let on = https.is_some();
    let Some(issuer) = edge.issuer.as_ref().filter(|_| on) else {
        if on {
            return Err(to_server_error(
                "HTTPS needs Captain's proxy, which is not running (see Server)",
            ));
        }
        edge.store
            .set_dashboard_https(false)
            .map_err(to_server_error)?;
        push_now(&context).await;
        return get_dashboard_edge().await;
    };
    edge.store
        .set_dashboard_https(true)
        .map_err(to_server_error)?;
    let domain = edge.store.dashboard_domain();
    if edge
        .store
        .wanting_certificates(24 * 3600)
        .map_err(to_server_error)?
        .iter()
        .any(|(_, d)| *d == domain)
    {
        let _ = issuer.issue(&domain).await;
    }
    push_now(&context).await;
    get_dashboard_edge().await
}
