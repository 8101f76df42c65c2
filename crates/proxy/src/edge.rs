//! What the proxy answers itself, before routing to an app: ACME HTTP-01 challenges,
//! the installation's identifier (how Captain checks that a domain points here), and the
//! redirect to HTTPS for hosts that force it.
//!
//! Captain pushes this with the certificates (`PUT /edge`); it changes rarely, so a whole
//! new generation is swapped in each time, as with the route table.

use crate::forward::{page, Body};
use crate::routes::normalise_host;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
pub const IDENTIFIER_PATH: &str = "/.well-known/captain-identifier";

/// The edge rules as Captain sends them (certificates travel beside them, see `tls`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EdgeRules {
    /// Public value a domain must serve to be accepted as pointing at this installation.
    #[serde(default)]
    pub identifier: String,
    /// HTTP-01 token → key authorization, for orders in flight.
    #[serde(default)]
    pub challenges: HashMap<String, String>,
    /// Hosts whose plain-HTTP requests are redirected to HTTPS.
    #[serde(default)]
    pub force_https: HashSet<String>,
    /// The HTTPS port clients use (redirects name it unless it is 443).
    #[serde(default = "default_https_port")]
    pub https_port: u16,
}

fn default_https_port() -> u16 {
    443
}

#[derive(Clone, Default)]
pub struct Edge {
    current: Arc<RwLock<Arc<EdgeRules>>>,
}

impl Edge {
    pub fn update(&self, mut rules: EdgeRules) {
        rules.force_https = rules
            .force_https
            .iter()
            .map(|h| normalise_host(h))
            .collect();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }

    fn rules(&self) -> Arc<EdgeRules> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The proxy's own answer for this request, if it has one.
    pub fn answer(&self, host: &str, path_and_query: &str, secure: bool) -> Option<Response<Body>> {
        let rules = self.rules();
        let path = path_and_query.split('?').next().unwrap_or("/");
        if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
            // Challenges are answered on plain HTTP too: that is where ACME servers ask,
            // even for hosts that force HTTPS.
            return Some(match rules.challenges.get(token) {
                Some(key_authorization) => text(StatusCode::OK, key_authorization.clone()),
                None => page(StatusCode::NOT_FOUND, "No such ACME challenge here."),
            });
        }
        if path == IDENTIFIER_PATH && !rules.identifier.is_empty() {
            return Some(text(StatusCode::OK, rules.identifier.clone()));
        }
        let name = normalise_host(host);
        if !secure && rules.force_https.contains(&name) {
            let port = match rules.https_port {
                443 => String::new(),
                port => format!(":{port}"),
            };
            let location = format!("https://{name}{port}{path_and_query}");
            return Some(
                Response::builder()
                    .status(StatusCode::PERMANENT_REDIRECT)
                    .header("location", location)
                    .body(empty())
                    .expect("a redirect from a validated host builds"),
            );
        }
        None
    }
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("cache-control", "no-store")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a plain text response builds")
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Edge {
        let edge = Edge::default();
        edge.update(EdgeRules {
            identifier: "id-123".into(),
            challenges: HashMap::from([("tok".into(), "tok.thumb".into())]),
            force_https: HashSet::from(["Secure.Example.com".into()]),
            https_port: 8443,
        });
        edge
    }

    #[test]
    fn challenges_are_answered_even_on_forced_hosts() {
        let answer = edge()
            .answer(
                "secure.example.com",
                "/.well-known/acme-challenge/tok",
                false,
            )
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let unknown = edge()
            .answer(
                "secure.example.com",
                "/.well-known/acme-challenge/nope",
                false,
            )
            .unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn forced_hosts_redirect_plain_http_only() {
        let redirect = edge()
            .answer("secure.example.com:80", "/a?b=c", false)
            .unwrap();
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            redirect.headers()["location"],
            "https://secure.example.com:8443/a?b=c"
        );
        assert!(edge().answer("secure.example.com", "/a", true).is_none());
        assert!(edge().answer("other.example.com", "/a", false).is_none());
    }
}
