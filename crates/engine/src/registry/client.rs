//! A client for the Docker Registry HTTP API v2: checks credentials, lists tags, reads
//! and deletes manifests. Basic auth, and the bearer-token dance (RFC 6750 challenge →
//! token from the realm) that hosted registries use.
//!
//! TLS trusts the system's roots plus, for private registries, one given CA certificate.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("the registry at {address} refused these credentials (wrong username or password)")]
    WrongCredentials { address: String },
    #[error("the registry at {address} answered {status} to {what}")]
    Unexpected {
        address: String,
        status: u16,
        what: String,
    },
    #[error("the CA certificate is not a PEM certificate: {0}")]
    BadCa(String),
}

#[derive(Clone)]
pub struct RegistryClient {
    address: String,
    username: String,
    password: String,
    http: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("address", &self.address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    pub fn new(
        address: &str,
        username: &str,
        password: &str,
        ca_pem: Option<&str>,
    ) -> Result<Self, RegistryError> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(certificate);
        }
        if let Some(pem) = ca_pem.filter(|p| !p.trim().is_empty()) {
            let mut added = 0;
            for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let certificate = certificate.map_err(|e| RegistryError::BadCa(e.to_string()))?;
                roots
                    .add(certificate)
                    .map_err(|e| RegistryError::BadCa(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(RegistryError::BadCa("no certificate in it".into()));
            }
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            address: address.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    fn basic(&self) -> String {
        use base64::Engine;
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unreachable {
            address: self.address.clone(),
            reason: reason.to_string(),
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        authorization: Option<&str>,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let mut request = Request::builder().method(method.clone()).uri(url);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(value) = accept {
            request = request.header(ACCEPT, value);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| self.unreachable(e))?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| self.unreachable("no answer within 15 s"))?
            .map_err(|e| self.unreachable(describe(&e)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// One authenticated request: Basic first; a Bearer challenge is answered with a
    /// token fetched (with the same credentials) from the realm it names.
    async fn request(
        &self,
        method: Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let url = format!("https://{}{path}", self.address);
        let basic = self.basic();
        let (status, headers, body) = self.send(&method, &url, Some(&basic), accept).await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, headers, body));
        }
        let Some(challenge) = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return Err(RegistryError::WrongCredentials {
                address: self.address.clone(),
            });
        };
        let token = self.token(challenge).await?;
        let bearer = format!("Bearer {token}");
        let (status, headers, body) = self.send(&method, &url, Some(&bearer), accept).await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::WrongCredentials {
                address: self.address.clone(),
            });
        }
        Ok((status, headers, body))
    }

    async fn token(&self, challenge: &str) -> Result<String, RegistryError> {
        let field = |name: &str| -> Option<String> {
            challenge.split(',').find_map(|part| {
                let (key, value) = part.trim().split_once('=')?;
                (key == name).then(|| value.trim_matches('"').to_owned())
            })
        };
        let realm =
            field("realm").ok_or_else(|| self.unreachable("a bearer challenge without a realm"))?;
        let mut url = format!("{realm}?");
        for name in ["service", "scope"] {
            if let Some(value) = field(name) {
                url.push_str(&format!("{name}={}&", value.replace(' ', "%20")));
            }
        }
        let basic = self.basic();
        let (status, _, body) = self.send(&Method::GET, &url, Some(&basic), None).await?;
        if !status.is_success() {
            return Err(RegistryError::WrongCredentials {
                address: self.address.clone(),
            });
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.unreachable(e))?;
        answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| self.unreachable("the token answer holds no token"))
    }

    /// Succeeds when the registry speaks API v2 and accepts the credentials.
    pub async fn check(&self) -> Result<(), RegistryError> {
        let (status, _, _) = self.request(Method::GET, "/v2/", None).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::FORBIDDEN => Err(RegistryError::WrongCredentials {
                address: self.address.clone(),
            }),
            s => Err(RegistryError::Unexpected {
                address: self.address.clone(),
                status: s.as_u16(),
                what: "GET /v2/".into(),
            }),
        }
    }

    /// Every repository in the registry.
    pub async fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        let (status, _, body) = self
            .request(Method::GET, "/v2/_catalog?n=1000", None)
            .await?;
        if !status.is_success() {
            return Err(RegistryError::Unexpected {
                address: self.address.clone(),
                status: status.as_u16(),
                what: "GET /v2/_catalog".into(),
            });
        }
        let listing: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.unreachable(e))?;
        Ok(listing["repositories"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Tags of `repository` (empty if the repository does not exist).
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let path = format!("/v2/{repository}/tags/list");
        let (status, _, body) = self.request(Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            return Err(RegistryError::Unexpected {
                address: self.address.clone(),
                status: status.as_u16(),
                what: path,
            });
        }
        let listing: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.unreachable(e))?;
        Ok(listing["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The digest of `repository:tag`, if it exists.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{tag}");
        let (status, headers, _) = self
            .request(Method::HEAD, &path, Some(MANIFEST_TYPES))
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(RegistryError::Unexpected {
                address: self.address.clone(),
                status: status.as_u16(),
                what: path,
            });
        }
        Ok(headers
            .get("docker-content-digest")
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned))
    }

    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{repository}/manifests/{digest}");
        let (status, _, _) = self.request(Method::DELETE, &path, None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(RegistryError::Unexpected {
            address: self.address.clone(),
            status: status.as_u16(),
            what: format!("DELETE {path}"),
        })
    }
}

/// The innermost cause of a client error: "connection refused", "invalid peer
/// certificate: UnknownIssuer" — what the user can act on.
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut last = error.to_string();
    while let Some(current) = source {
        last = current.to_string();
        source = current.source();
    }
    if last.contains("UnknownIssuer") || last.contains("certificate") {
        format!("{last} (is its CA certificate given?)")
    } else {
        last
    }
}

/// The registry's shared HTTP client type, for callers that keep one.
pub type SharedClient = Arc<RegistryClient>;
