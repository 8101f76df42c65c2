//! HTTPS at the proxy: the certificate is picked by SNI, HTTP/2 is negotiated by ALPN and
//! forwarded to an HTTP/1.1 instance, force-HTTPS redirects plain requests, and ACME
//! challenges are answered without reaching the app.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use proxy::edge::EdgeRules;
use proxy::tls::CertificateEntry;
use proxy::{Proxy, ProxyOptions, RouteTable, Routes};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// An HTTP/1.1-only instance that reports the protocol the proxy said the client used.
async fn instance() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let proto = request.headers()["x-forwarded-proto"].clone();
                    let host = request.headers()["host"].clone();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                        "{} {}",
                        proto.to_str().unwrap(),
                        host.to_str().unwrap()
                    )))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn certificate(host: &str) -> (CertificateEntry, rustls::pki_types::CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let entry = CertificateEntry {
        hosts: vec![host.to_owned()],
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    (entry, cert.der().clone())
}

struct Started {
    http: SocketAddr,
    https: SocketAddr,
    trusted: rustls::pki_types::CertificateDer<'static>,
}

async fn start(host: &str) -> Started {
    let routes = Routes::default();
    routes.update(&RouteTable {
        hosts: HashMap::from([(host.to_owned(), vec![instance().await])]),
    });
    let proxy = Proxy::new(routes, ProxyOptions::default());
    let (entry, trusted) = certificate(host);
    proxy.certificates.update(&[entry]).unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = Started {
        http: http.local_addr().unwrap(),
        https: https.local_addr().unwrap(),
        trusted,
    };
    proxy.edge.update(EdgeRules {
        identifier: "install-1".into(),
        challenges: HashMap::from([("tok-1".into(), "tok-1.thumbprint".into())]),
        force_https: HashSet::from([host.to_owned()]),
        https_port: started.https.port(),
    });
    let (plain, secure) = (proxy.clone(), proxy);
    tokio::spawn(async move { plain.serve_http(http).await });
    tokio::spawn(async move { secure.serve_https(https).await });
    started
}

async fn tls_connect(
    started: &Started,
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(started.trusted.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(started.https).await?;
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

#[tokio::test]
async fn http2_over_tls_reaches_an_http1_instance() {
    let started = start("secure.localhost").await;
    let tls = tls_connect(&started, "secure.localhost", &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    for _ in 0..3 {
        let request = Request::builder()
            .uri("https://secure.localhost/hello")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"https secure.localhost");
    }
}

#[tokio::test]
async fn http1_over_tls_works_and_unknown_names_get_no_certificate() {
    let started = start("secure.localhost").await;
    let tls = tls_connect(&started, "secure.localhost", &[b"http/1.1"])
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .uri("/")
        .header("host", "secure.localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let refused = tls_connect(&started, "other.localhost", &[b"http/1.1"]).await;
    assert!(
        refused.is_err(),
        "a name without a certificate must not handshake"
    );
}

async fn plain_get(started: &Started, host: &str, path: &str) -> Response<Incoming> {
    let tcp = TcpStream::connect(started.http).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .uri(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.unwrap()
}

#[tokio::test]
async fn forced_hosts_redirect_but_challenges_and_identifier_answer_on_http() {
    let started = start("secure.localhost").await;
    let redirect = plain_get(&started, "secure.localhost", "/page?x=1").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(
        redirect.headers()["location"],
        format!("https://secure.localhost:{}/page?x=1", started.https.port()).as_str()
    );
    let challenge = plain_get(
        &started,
        "secure.localhost",
        "/.well-known/acme-challenge/tok-1",
    )
    .await;
    assert_eq!(challenge.status(), 200);
    let body = challenge.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"tok-1.thumbprint");
    let identifier = plain_get(&started, "any.example", "/.well-known/captain-identifier").await;
    let body = identifier.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"install-1");
}
