//! An HTTPS client for tests: trusts only the root it is given, sends SNI, and speaks
//! HTTP/2 or HTTP/1.1 as ALPN settles — so a passing request proves which certificate
//! was served and which protocol was negotiated.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;

#[derive(Debug)]
pub struct TlsResponse {
    pub status: u16,
    pub http2: bool,
    pub body: String,
    /// The leaf certificate the server presented (DER).
    pub leaf: Vec<u8>,
}

/// `GET path` at `address` (ip:port) as `host`, verifying the server against `root_pem`.
pub async fn get(address: &str, host: &str, root_pem: &str, path: &str) -> Result<TlsResponse> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(certificate.context("reading the root certificate")?)?;
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let tls = connector
        .connect(ServerName::try_from(host.to_owned())?, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host} at {address}"))?;
    let (_, session) = tls.get_ref();
    let http2 = session.alpn_protocol() == Some(b"h2");
    let leaf = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let request = hyper::Request::builder()
        .uri(format!("https://{host}{path}"))
        .header("host", host)
        .body(Empty::<Bytes>::new())?;
    let response = if http2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        // HTTP/2 carries the host as :authority; a Host header there is redundant.
        let (mut parts, body) = request.into_parts();
        parts.headers.remove("host");
        sender
            .send_request(hyper::Request::from_parts(parts, body))
            .await?
    } else {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        sender.send_request(request).await?
    };
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(TlsResponse {
        status,
        http2,
        body: String::from_utf8_lossy(&body).into_owned(),
        leaf,
    })
}
