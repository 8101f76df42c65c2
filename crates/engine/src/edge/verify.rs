//! Checking that a domain points at this installation before it is used, as CapRover
//! does: the proxy serves the installation's identifier at a well-known path, and Captain
//! fetches it through the domain's own DNS records. A domain that resolves elsewhere is
//! refused with what was found, so the user knows which record to fix.

use super::dns::Resolver;
use crate::ingress::IDENTIFIER_PATH;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ANSWER_BYTES: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot look up {domain}: {reason}. Add an A record pointing at this server.")]
    Lookup { domain: String, reason: String },
    #[error("{domain} has no A record. Add one pointing at this server.")]
    NoAddress { domain: String },
    #[error("{domain} points at {addresses}, which {reason}. Point its A record at this server.")]
    NotHere {
        domain: String,
        addresses: String,
        reason: String,
    },
}

/// The public value the proxy serves, derived from the installation's ID.
pub fn identifier(owner: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("captain-domain-check:{owner}"));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug)]
pub struct DomainCheck {
    pub resolver: Resolver,
    /// Port the proxy serves plain HTTP on (80 in production).
    pub http_port: u16,
    pub identifier: String,
}

impl DomainCheck {
    pub async fn check(&self, domain: &str) -> Result<(), VerifyError> {
        let addresses = self
            .resolver
            .ipv4(domain)
            .await
            .map_err(|error| VerifyError::Lookup {
                domain: domain.to_owned(),
                reason: error.to_string(),
            })?;
        if addresses.is_empty() {
            return Err(VerifyError::NoAddress {
                domain: domain.to_owned(),
            });
        }
        let mut reasons = Vec::new();
        for address in addresses.iter().take(4) {
            match self.ask(*address, domain).await {
                Ok(answer) if answer == self.identifier => return Ok(()),
                Ok(_) => reasons.push(format!(
                    "answered on port {} but is not this Captain",
                    self.http_port
                )),
                Err(error) => reasons.push(format!(
                    "did not answer on port {} ({error})",
                    self.http_port
                )),
            }
        }
        reasons.dedup();
        Err(VerifyError::NotHere {
            domain: domain.to_owned(),
            addresses: addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: reasons.join("; "),
        })
    }

    async fn ask(&self, address: Ipv4Addr, domain: &str) -> std::io::Result<String> {
        let connect = tokio::net::TcpStream::connect((address, self.http_port));
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        let request = format!(
            "GET {IDENTIFIER_PATH} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        let mut limited = (&mut stream).take(MAX_ANSWER_BYTES);
        tokio::time::timeout(CONNECT_TIMEOUT, limited.read_to_string(&mut response))
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") {
            return Ok(String::new());
        }
        Ok(body.trim().to_owned())
    }
}
