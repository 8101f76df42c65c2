//! The one gate every request passes: it works out who is asking (session cookie or API
//! token), refuses cross-site requests that could change state, and refuses anonymous
//! requests to anything but the sign-in pages and static assets.
//!
//! It wraps the whole router, so a route added later is guarded without anyone
//! remembering to add it here; only the public list below opts routes out.

use app::server_context::{RequestIdentity, SESSION_COOKIE};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::{Auth, Identity};
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Clone)]
pub struct Guard {
    auth: Auth,
    /// Exact paths anyone may request (sign-in pages and their server functions).
    public_paths: Arc<HashSet<String>>,
}

/// Static assets: the sign-in page needs its CSS and WASM before anyone signs in.
const PUBLIC_PREFIXES: &[&str] = &["/pkg/"];

fn is_static_asset(path: &str) -> bool {
    PUBLIC_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

impl Guard {
    pub fn new(auth: Auth, public_paths: impl IntoIterator<Item = String>) -> Self {
        Self {
            auth,
            public_paths: Arc::new(public_paths.into_iter().collect()),
        }
    }

    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.contains(path) || is_static_asset(path)
    }

    fn identify(&self, headers: &HeaderMap) -> Result<Option<Identity>, engine::AuthError> {
        if let Some(token) = bearer_token(headers) {
            return self.auth.api_token(token);
        }
        match cookie(headers, SESSION_COOKIE) {
            Some(token) if !token.is_empty() => self.auth.session(token),
            _ => Ok(None),
        }
    }
}

pub async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    // Static assets are public and read-only: no identity to look up in the store.
    if request.method() == Method::GET && is_static_asset(request.uri().path()) {
        return next.run(request).await;
    }
    let identity = match guard.identify(request.headers()) {
        Ok(identity) => identity,
        Err(error) => {
            tracing::error!(%error, "cannot check the caller's identity");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot check your sign-in; see the server log",
            );
        }
    };
    let headers = request.headers();
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let opens_live_channel = headers
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    // A token is sent deliberately by a script; a cookie is sent by the browser whoever
    // asked it to, so cookie-borne (and sign-in) requests must come from our own pages.
    let by_token = matches!(identity, Some(Identity::ApiToken { .. }));
    if (changes_state || opens_live_channel) && !by_token && !same_origin(headers) {
        return refuse(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    let path = request.uri().path().to_owned();
    if identity.is_none() && !guard.is_public(&path) {
        return sign_in_first(&guard, &request);
    }
    request.extensions_mut().insert(RequestIdentity(identity));
    next.run(request).await
}

/// Browsers navigating get sent to the sign-in (or first-run) page; everything else gets
/// a plain 401 it can act on.
fn sign_in_first(guard: &Guard, request: &Request) -> Response {
    let wants_page = request.method() == Method::GET
        && !request.uri().path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !wants_page {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "sign in first (or send an API token)",
        );
    }
    let target = match guard.auth.has_password() {
        Ok(false) => "/setup".to_owned(),
        _ => {
            let next = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            format!("/login?next={}", percent_encode(next))
        }
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, target)
        .body(Body::empty())
        .expect("a redirect with a valid header builds")
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether Origin (or, failing that, Referer) names the host this request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok());
    let Some(source) = source else { return false };
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn same_origin_needs_a_matching_origin_or_referer() {
        assert!(same_origin(&headers(&[
            ("host", "captain:3000"),
            ("origin", "http://captain:3000")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "captain:3000"),
            ("referer", "https://captain:3000/apps")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "captain:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "captain:3000"),
            ("origin", "http://captain:3000.evil.example")
        ])));
        assert!(!same_origin(&headers(&[("host", "captain:3000")])));
        assert!(!same_origin(&headers(&[
            ("host", "captain:3000"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; captain_session=tok; b=2")]);
        assert_eq!(cookie(&map, SESSION_COOKIE), Some("tok"));
        assert_eq!(
            cookie(
                &headers(&[("cookie", "captain_sessionx=1")]),
                SESSION_COOKIE
            ),
            None
        );
    }

    #[test]
    fn bearer_tokens_are_read_from_authorization() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer cpt_abc")])),
            Some("cpt_abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic xyz")])),
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_never_panic(host in "\\PC{0,80}", origin in "\\PC{0,80}", cookies in "\\PC{0,120}") {
            let mut map = HeaderMap::new();
            for (name, value) in [("host", &host), ("origin", &origin), ("cookie", &cookies), ("authorization", &origin)] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    map.insert(name, value);
                }
            }
            let _ = same_origin(&map);
            let _ = cookie(&map, SESSION_COOKIE);
            let _ = bearer_token(&map);
            let _ = percent_encode(&origin);
        }
    }
}
