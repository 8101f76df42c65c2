//! How an app is reached from outside: its domains, their certificates, and HTTPS.

use serde::{Deserialize, Serialize};

/// One host name an app answers at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    pub name: String,
    /// Added by the user (checked to point here) rather than `APP.<root domain>`.
    pub custom: bool,
    pub certificate: Option<CertificateInfo>,
    /// Why the last certificate request for this name failed, if it did.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; renewed well before this.
    pub not_after: i64,
}

/// Everything the app page shows and edits about reaching the app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppEdge {
    pub https: bool,
    pub force_https: bool,
    pub domains: Vec<DomainInfo>,
    /// Ports the proxy listens on, so links can be shown exactly.
    pub http_port: u16,
    pub https_port: u16,
}

impl AppEdge {
    /// The link to open the app: HTTPS once every domain has its certificate.
    pub fn url_for(&self, domain: &DomainInfo) -> String {
        let (scheme, port, default) = if self.https && domain.certificate.is_some() {
            ("https", self.https_port, 443)
        } else {
            ("http", self.http_port, 80)
        };
        match port == default {
            true => format!("{scheme}://{}/", domain.name),
            false => format!("{scheme}://{}:{port}/", domain.name),
        }
    }
}
