//! HTTPS end to end against a real ACME server (Pebble) and Captain's proxy in the swarm:
//! one click issues a certificate for the app's domain, served over HTTP/2; force-HTTPS
//! redirects; a custom domain is checked through DNS before use and gets its own
//! certificate; a domain pointing elsewhere is refused; certificates are renewed.

mod common;

use common::{blocking, Captain};
use serde_json::Value;
use std::time::Duration;
use testbed::http::Request;
use testbed::{
    ensure_debian_base, ensure_httpd_image, ensure_swarm_engine, free_port, unique_name, Pebble,
    HTTPD_IMAGE,
};

struct Ports {
    http: u16,
    https: u16,
    admin: u16,
}

fn captain_args(ports: &Ports, pebble: &Pebble, extra: &[&str]) -> Vec<String> {
    let proxy_binary = testbed::repo_root().join("target/debug/captain-proxy");
    assert!(
        proxy_binary.exists(),
        "build the proxy first: cargo build -p captain-proxy"
    );
    let mut args: Vec<String> = [
        "--http-port",
        &ports.http.to_string(),
        "--https-port",
        &ports.https.to_string(),
        "--proxy-admin-port",
        &ports.admin.to_string(),
        "--proxy-binary",
        proxy_binary.to_str().unwrap(),
        "--root-domain",
        "captain.test",
        "--acme-directory",
        &pebble.directory,
        "--acme-ca-file",
        pebble.api_ca_file().to_str().unwrap(),
        "--dns-server",
        &pebble.dns.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn http_get(port: u16, host: &str, path: &str) -> anyhow::Result<testbed::http::Response> {
    Request::new("GET", path)
        .header("Host", host)
        .send(&format!("127.0.0.1:{port}"))
        .await
}

async fn app_edge(captain: &Captain, cookie: &str, name: &str) -> Value {
    let response = captain
        .call(cookie, "get_app_edge", &[("name", name)])
        .await
        .unwrap();
    serde_json::from_str(&response.body).unwrap()
}

fn domain<'a>(edge: &'a Value, name: &str) -> Option<&'a Value> {
    edge["domains"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == name)
}

#[tokio::test]
async fn acme_certificates_custom_domains_force_https_and_renewal() {
    blocking(|| {
        ensure_swarm_engine()?;
        ensure_debian_base()?;
        ensure_httpd_image()
    })
    .await
    .unwrap();
    let ports = Ports {
        http: free_port(),
        https: free_port(),
        admin: free_port(),
    };
    let pebble = Pebble::start(ports.http).unwrap();
    let args = captain_args(&ports, &pebble, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let captain = Captain::start(&args).unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let name = unique_name("tls");
    common::create_app(&captain, &cookie, &name, HTTPD_IMAGE, "2").await;
    let host = format!("{name}.captain.test");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !matches!(http_get(ports.http, &host, "/cgi-bin/whoami").await, Ok(r) if r.status == 200)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never answered over HTTP"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // One action: HTTPS on, with the redirect. The certificate is there when it returns.
    let started = std::time::Instant::now();
    let response = captain
        .call(
            &cookie,
            "set_https",
            &[("name", &name), ("https", "on"), ("force_https", "on")],
        )
        .await
        .unwrap();
    let issued_in = started.elapsed();
    let edge: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|_| panic!("{response:?}\n{}", captain.log()));
    let default = domain(&edge, &host).unwrap();
    assert!(
        default["certificate"].is_object(),
        "no certificate for {host}: {}\n--- captain\n{}\n--- pebble\n{}",
        default["problem"],
        captain.log(),
        pebble.log()
    );
    println!("certificate issued through Pebble in {issued_in:?}");

    let root = blocking({
        let pebble_root = pebble.issuing_root_pem();
        move || pebble_root
    })
    .await
    .unwrap();
    let https_address = format!("127.0.0.1:{}", ports.https);
    let secure = testbed::tls::get(&https_address, &host, &root, "/cgi-bin/whoami")
        .await
        .unwrap();
    assert_eq!(secure.status, 200, "{secure:?}");
    assert!(secure.http2, "HTTP/2 should be negotiated over TLS");
    assert!(!secure.body.trim().is_empty());

    let redirect = http_get(ports.http, &host, "/cgi-bin/whoami?x=1")
        .await
        .unwrap();
    assert_eq!(redirect.status, 308, "{redirect:?}");
    assert_eq!(
        redirect.header("location"),
        Some(format!("https://{host}:{}/cgi-bin/whoami?x=1", ports.https).as_str())
    );

    // A custom domain: checked through DNS to reach this proxy, then certified on its own.
    let custom = format!("www.{name}.shop.test");
    let added = captain
        .call(
            &cookie,
            "add_domain",
            &[("name", &name), ("domain", &custom)],
        )
        .await
        .unwrap();
    assert!(added.status < 400, "{added:?}\n{}", captain.log());
    let edge = app_edge(&captain, &cookie, &name).await;
    assert!(
        domain(&edge, &custom).unwrap()["certificate"].is_object(),
        "{edge}"
    );
    let via_custom = testbed::tls::get(&https_address, &custom, &root, "/cgi-bin/whoami")
        .await
        .unwrap();
    assert_eq!(via_custom.status, 200);
    assert_ne!(
        via_custom.leaf, secure.leaf,
        "each name has its own certificate"
    );

    // A domain whose A record points elsewhere is refused, saying where it points.
    let elsewhere = format!("elsewhere-{name}.test");
    pebble.set_address(&elsewhere, "192.0.2.1").unwrap();
    let refused = captain
        .call(
            &cookie,
            "add_domain",
            &[("name", &name), ("domain", &elsewhere)],
        )
        .await
        .unwrap();
    assert!(refused.status >= 400, "{refused:?}");
    assert!(refused.body.contains("points at 192.0.2.1"), "{refused:?}");
    let bad = captain
        .call(
            &cookie,
            "add_domain",
            &[("name", &name), ("domain", "http://x.test/")],
        )
        .await
        .unwrap();
    assert!(
        bad.status >= 400 && bad.body.contains("without scheme"),
        "{bad:?}"
    );
    let edge = app_edge(&captain, &cookie, &name).await;
    assert_eq!(edge["domains"].as_array().unwrap().len(), 2, "{edge}");

    // The dashboard itself at captain.<root>, over HTTPS with its own certificate; plain
    // HTTP is redirected, and signing in through the proxy works.
    let dashboard: Value = serde_json::from_str(
        &captain
            .call(&cookie, "set_dashboard_https", &[("https", "on")])
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(
        dashboard["certificate"].is_object(),
        "{dashboard}\n{}",
        captain.log()
    );
    let login = testbed::tls::get(&https_address, "captain.captain.test", &root, "/login")
        .await
        .unwrap();
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.contains("Captain"), "{login:?}");
    let plain = http_get(ports.http, "captain.captain.test", "/login")
        .await
        .unwrap();
    assert_eq!(plain.status, 308, "{plain:?}");
    // Signing in there works: same-origin through the proxy, and the cookie is Secure.
    let root_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(root_file.path(), &root).unwrap();
    let dashboard_origin = format!("https://captain.captain.test:{}", ports.https);
    let signed_in = testbed::run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %header{set-cookie}",
            "--cacert",
            root_file.path().to_str().unwrap(),
            "--resolve",
            &format!("captain.captain.test:{}:127.0.0.1", ports.https),
            "-H",
            &format!("Origin: {dashboard_origin}"),
            "--data-urlencode",
            &format!("password={}", common::PASSWORD),
            &format!("{dashboard_origin}{}", common::server_fn_path("sign_in")),
        ],
    )
    .unwrap();
    assert!(
        signed_in.contains("captain_session=") && signed_in.contains("Secure"),
        "{signed_in}"
    );

    // Renewal: a Captain that considers every certificate due replaces it, and the proxy
    // serves the new one without a restart.
    let data_dir = captain.stop();
    let args = captain_args(
        &ports,
        &pebble,
        &["--renew-before-days", "100000", "--renew-check-secs", "2"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let captain = Captain::start_in(data_dir, &args).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(renewed) = testbed::tls::get(&https_address, &host, &root, "/").await {
            if renewed.leaf != secure.leaf {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the certificate was never renewed\n{}",
            captain.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let cookie = captain.sign_in().await.unwrap();
    common::delete_app(&captain, &cookie, &name).await;
    drop(captain);
    common::remove_proxy(ports.http);
}
