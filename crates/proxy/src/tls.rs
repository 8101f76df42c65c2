//! HTTPS: certificates chosen by SNI from what Captain pushed, ALPN offering HTTP/2 and
//! HTTP/1.1. Replacing the certificates affects only new handshakes, so a renewal never
//! interrupts a connection.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One certificate as Captain sends it: the hosts it serves, its chain and its key (PEM).
#[derive(Clone, Serialize, Deserialize)]
pub struct CertificateEntry {
    pub hosts: Vec<String>,
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertificateEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateEntry")
            .field("hosts", &self.hosts)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate for {host} has no usable PEM certificate chain")]
    Chain { host: String },
    #[error("the private key for {host} is not a usable PEM key: {reason}")]
    Key { host: String, reason: String },
}

/// One generation of host → certificate, never mutated once published.
type CertificateTable = Arc<HashMap<String, Arc<CertifiedKey>>>;

/// Host → certificate, by exact name, then by wildcard (`*.example.com`).
#[derive(Clone, Debug, Default)]
pub struct Certificates {
    by_host: Arc<RwLock<CertificateTable>>,
}

impl Certificates {
    /// Replaces every certificate at once. A bad entry rejects the whole update, so a
    /// typo never silently takes HTTPS away from the hosts that were fine.
    pub fn update(&self, entries: &[CertificateEntry]) -> Result<(), CertificateError> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let mut next = HashMap::new();
        for entry in entries {
            let host = entry.hosts.first().cloned().unwrap_or_default();
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(entry.chain_pem.as_bytes())
                    .filter_map(Result::ok)
                    .collect();
            if chain.is_empty() {
                return Err(CertificateError::Chain { host });
            }
            let key = PrivateKeyDer::from_pem_slice(entry.key_pem.as_bytes()).map_err(|e| {
                CertificateError::Key {
                    host: host.clone(),
                    reason: e.to_string(),
                }
            })?;
            let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
                CertificateError::Key {
                    host: host.clone(),
                    reason: e.to_string(),
                }
            })?;
            let certified = Arc::new(certified);
            for name in &entry.hosts {
                next.insert(
                    name.trim_end_matches('.').to_ascii_lowercase(),
                    certified.clone(),
                );
            }
        }
        *self.by_host.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.current().keys().cloned().collect();
        hosts.sort();
        hosts
    }

    fn current(&self) -> CertificateTable {
        self.by_host
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn find(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let table = self.current();
        let name = name.to_ascii_lowercase();
        table.get(&name).cloned().or_else(|| {
            let parent = name.split_once('.')?.1;
            table.get(&format!("*.{parent}")).cloned()
        })
    }

    /// A rustls server configuration that picks from these certificates per handshake.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone()));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No SNI (an IP address, an old client): nothing sensible to present.
        self.find(hello.server_name()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hosts: &[&str]) -> CertificateEntry {
        let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names.clone())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        CertificateEntry {
            hosts: names,
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    #[test]
    fn picks_exact_then_wildcard_names() {
        let certificates = Certificates::default();
        certificates
            .update(&[entry(&["app.example.com"]), entry(&["*.example.org"])])
            .unwrap();
        assert!(certificates.find("APP.example.com").is_some());
        assert!(certificates.find("x.example.org").is_some());
        assert!(certificates.find("a.b.example.org").is_none());
        assert!(certificates.find("other.example.com").is_none());
    }

    #[test]
    fn a_bad_entry_keeps_the_previous_certificates() {
        let certificates = Certificates::default();
        certificates.update(&[entry(&["app.example.com"])]).unwrap();
        let mut broken = entry(&["new.example.com"]);
        broken.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        assert!(certificates.update(&[broken]).is_err());
        assert_eq!(certificates.hosts(), vec!["app.example.com".to_owned()]);
        let debug = format!("{:?}", entry(&["a.example.com"]));
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    }
}
