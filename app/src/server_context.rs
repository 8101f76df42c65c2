//! What server functions reach for: the engine handles the server put in context, and
//! who is asking (set by the server's guard on every request).

use leptos::prelude::*;

/// Provided by the server for every request; server functions take what they need.
#[derive(Clone)]
pub struct ServerContext {
    /// The engine of the node Captain runs on (a swarm manager).
    pub docker: engine::bollard::Docker,
    pub hub: engine::StatusHub,
    pub auth: engine::Auth,
    /// Desired state of apps; write here, then wake the reconciler.
    pub apps: engine::apps::AppStore,
    pub reconciler: engine::reconcile::ReconcilerHandle,
    /// The proxy's route pusher, when ingress runs.
    pub ingress: Option<engine::ingress::IngressHandle>,
    pub edge: EdgeServices,
    pub registry: RegistryServices,
    pub info: types::ServerInfo,
    pub builds: engine::build::Builds,
    /// SSH access to joined servers, kept (sealed) only when asked for at join time.
    pub node_access: engine::node_access::NodeAccess,
    /// Always mark the session cookie Secure (TLS ends before Captain).
    pub secure_cookies: bool,
    /// Joins in progress (and the last ones finished), by job ID, for the wizard to follow.
    pub joins: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, crate::pages::join::JoinJob>>,
    >,
}

/// Domains, their checks, and certificates.
#[derive(Clone)]
pub struct EdgeServices {
    pub store: engine::edge::EdgeStore,
    pub check: engine::edge::verify::DomainCheck,
    /// `None` when the proxy is off: nothing could answer ACME challenges.
    pub issuer: Option<engine::edge::acme::CertIssuer>,
    pub http_port: u16,
    pub https_port: u16,
}

/// Registries, the managed one's settings, and pushing what already runs.
#[derive(Clone)]
pub struct RegistryServices {
    pub docker: engine::bollard::Docker,
    pub store: engine::registry::RegistryStore,
    pub secrets: engine::secrets::SecretStore,
    pub pusher: engine::reconcile::Reconciler,
    pub managed: engine::registry::managed::ManagedOptions,
}

impl ServerContext {
    /// Desired state of apps changed: converge the swarm and the proxy's routes now.
    pub fn apps_changed(&self) {
        self.reconciler.wake();
        if let Some(ingress) = &self.ingress {
            ingress.wake();
        }
    }
}

/// Who made the request, as the guard established it; `None` only on public routes.
#[derive(Clone, Debug)]
pub struct RequestIdentity(pub Option<engine::Identity>);

pub const SESSION_COOKIE: &str = "captain_session";

/// The server context, or an error saying the server was wired without it.
pub fn server_context() -> Result<ServerContext, ServerFnError> {
    use_context::<ServerContext>()
        .ok_or_else(|| ServerFnError::new("Captain's server context is missing"))
}

/// The caller's identity; server functions behind the guard can rely on it being set.
pub async fn identity() -> Result<Option<engine::Identity>, ServerFnError> {
    let axum::Extension(RequestIdentity(identity)) =
        leptos_axum::extract::<axum::Extension<RequestIdentity>>().await?;
    Ok(identity)
}

/// The current browser session's ID, if the caller signed in with a cookie.
pub async fn session_id() -> Result<Option<String>, ServerFnError> {
    Ok(match identity().await? {
        Some(engine::Identity::Session { id }) => Some(id),
        _ => None,
    })
}

/// Marks requests that came through Captain's own proxy (its private listener), whose
/// X-Forwarded-For can be trusted.
#[derive(Clone, Copy, Debug)]
pub struct ViaProxy;

/// The client's address, for per-client sign-in back-off: the peer, or — through
/// Captain's proxy — the address the proxy saw (the last X-Forwarded-For entry, the one
/// the proxy itself added).
pub async fn client_addr() -> Result<std::net::IpAddr, ServerFnError> {
    let axum::extract::ConnectInfo(address) =
        leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>().await?;
    let via_proxy = leptos_axum::extract::<Option<axum::Extension<ViaProxy>>>()
        .await
        .ok()
        .flatten()
        .is_some();
    if via_proxy {
        let forwarded = header("x-forwarded-for").await?;
        if let Some(ip) = forwarded
            .rsplit(',')
            .next()
            .and_then(|last| last.trim().parse().ok())
        {
            return Ok(ip);
        }
    }
    Ok(address.ip())
}

pub async fn header(name: &str) -> Result<String, ServerFnError> {
    let headers = leptos_axum::extract::<http::HeaderMap>().await?;
    Ok(headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned())
}

/// Sets (or, with `None`, clears) the session cookie on the response.
pub async fn set_session_cookie(token: Option<&str>) -> Result<(), ServerFnError> {
    let context = server_context()?;
    let https = header("x-forwarded-proto").await? == "https";
    let secure = if context.secure_cookies || https {
        "; Secure"
    } else {
        ""
    };
    let cookie = match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000{secure}"
        ),
        None => format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    };
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.append_header(
        http::header::SET_COOKIE,
        http::HeaderValue::from_str(&cookie).map_err(|e| ServerFnError::new(e.to_string()))?,
    );
    Ok(())
}

/// Checks `password` for this client (with back-off) and sets a new session cookie.
pub async fn sign_in_with(password: &str) -> Result<(), ServerFnError> {
    let session = server_context()?
        .auth
        .sign_in(password, client_addr().await?, &header("user-agent").await?)
        .await
        .map_err(to_server_error)?;
    set_session_cookie(Some(session.token.expose())).await
}

/// Maps an engine error to the one message that crosses the wire.
pub fn to_server_error(error: impl std::fmt::Display) -> ServerFnError {
    ServerFnError::new(error.to_string())
}
