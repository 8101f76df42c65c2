//! Benchmark (ignored; `scripts/bench.sh` runs it): wrk through Captain's proxy, through
//! Debian's nginx balancing the same instances from a container on the same overlay, and
//! straight to one instance, at a few connection counts, side by side in one run.
//!
//! Release builds of the proxy and the test app are used (`scripts/bench.sh` builds them);
//! everything is reached at the leader's address, so no userland port forwarder sits in
//! any path.

mod common;

use common::{blocking, Captain};
use std::time::Duration;
use testbed::nginx::{ensure_nginx_image, proxy_config, NGINX_IMAGE};
use testbed::{docker, ensure_swarm_engine, free_port, unique_name, LEADER_ADDR};

const CONNECTIONS: &[u32] = &[16, 64, 256];
const SECONDS: u32 = 8;

#[derive(Debug, Default)]
struct Figures {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// `wrk --latency` output: "Requests/sec: N", the 50% and 99% lines, and error counts.
fn parse_wrk(output: &str) -> Figures {
    let milliseconds = |value: &str| -> f64 {
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => number / 1000.0,
            "ms" => number,
            "s" => number * 1000.0,
            "m" => number * 60_000.0,
            _ => f64::NAN,
        }
    };
    let mut figures = Figures::default();
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => figures.requests_per_second = n.parse().unwrap_or(0.0),
            ["50%", v] => figures.p50_ms = milliseconds(v),
            ["99%", v] => figures.p99_ms = milliseconds(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => figures.errors += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                figures.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    figures
}

fn wrk(url: &str, host: &str, connections: u32, seconds: u32) -> Figures {
    let output = testbed::run(
        "wrk",
        &[
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("Host: {host}"),
            url,
        ],
    )
    .expect("wrk runs (install the wrk package)");
    parse_wrk(&output)
}

fn wait_for_ok(url: &str, host: &str) {
    testbed::wait_for(&format!("{url} to answer"), Duration::from_secs(90), || {
        testbed::run(
            "curl",
            &[
                "-sf",
                "-o",
                "/dev/null",
                "-H",
                &format!("Host: {host}"),
                url,
            ],
        )
        .ok()
    })
    .unwrap();
}

/// The app's instance addresses on the overlay, as nginx's upstream list.
fn instance_addresses(app: &str) -> Vec<String> {
    let listing = docker(&[
        "network",
        "inspect",
        "captain-apps",
        "--format",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}\n{{end}}",
    ])
    .unwrap();
    let prefix = format!("captain-app-{app}.");
    listing
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(|cidr| format!("{}:80", cidr.split('/').next().unwrap_or(cidr)))
        .collect()
}

#[tokio::test]
#[ignore = "benchmark; run by scripts/bench.sh"]
async fn proxy_versus_nginx_versus_direct() {
    let release = testbed::repo_root().join("target/release");
    let (proxy_binary, app_binary) = (
        release.join("captain-proxy"),
        release.join("captain-testapp"),
    );
    assert!(
        proxy_binary.exists() && app_binary.exists(),
        "build first: cargo build --release -p captain-proxy -p captain-testapp"
    );
    let image = blocking(move || {
        ensure_swarm_engine()?;
        ensure_nginx_image()?;
        testbed::ensure_test_app_image(&app_binary)
    })
    .await
    .unwrap();
    let (http_port, admin_port) = (free_port(), free_port());
    let (http, admin) = (http_port.to_string(), admin_port.to_string());
    let captain = Captain::start(&[
        "--http-port",
        &http,
        "--proxy-admin-port",
        &admin,
        "--proxy-binary",
        proxy_binary.to_str().unwrap(),
    ])
    .unwrap();
    let cookie = captain.sign_in().await.unwrap();
    let name = unique_name("bench");
    common::create_app(&captain, &cookie, &name, &image, "3").await;
    let host = format!("{name}.localhost");
    let captain_url = format!("http://{LEADER_ADDR}:{http_port}/");
    let (wait_url, wait_host) = (captain_url.clone(), host.clone());
    blocking(move || {
        wait_for_ok(&wait_url, &wait_host);
        Ok(())
    })
    .await
    .unwrap();
    // Let swarm finish starting all three before reading their addresses.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let upstreams = instance_addresses(&name);
    assert_eq!(upstreams.len(), 3, "{upstreams:?}");

    let (nginx_port, direct_port) = (free_port(), free_port());
    let (nginx_service, direct_service) = (unique_name("bench-nginx"), unique_name("bench-direct"));
    let config = format!("NGINX_CONF={}", proxy_config(&upstreams, 2));
    docker(&[
        "service",
        "create",
        "--detach",
        "--quiet",
        "--name",
        &nginx_service,
        "--network",
        "captain-apps",
        "--publish",
        &format!("mode=host,target=8080,published={nginx_port}"),
        "--env",
        &config,
        NGINX_IMAGE,
    ])
    .unwrap();
    docker(&[
        "service",
        "create",
        "--detach",
        "--quiet",
        "--name",
        &direct_service,
        "--publish",
        &format!("mode=host,target=80,published={direct_port}"),
        &image,
    ])
    .unwrap();
    let nginx_url = format!("http://{LEADER_ADDR}:{nginx_port}/");
    let direct_url = format!("http://{LEADER_ADDR}:{direct_port}/");

    let targets = [
        ("captain", captain_url),
        ("nginx", nginx_url),
        ("direct", direct_url),
    ];
    let results = blocking(move || {
        for (_, url) in &targets {
            wait_for_ok(url, &host);
        }
        let mut results = Vec::new();
        for connections in CONNECTIONS {
            for (label, url) in &targets {
                // A short warm-up so connection pools and caches are in the same state.
                wrk(url, &host, *connections, 2);
                results.push((*connections, *label, wrk(url, &host, *connections, SECONDS)));
            }
        }
        Ok(results)
    })
    .await
    .unwrap();

    for (connections, label, figures) in &results {
        println!(
            "BENCH ingress c={connections:<4} {label:<8} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            figures.requests_per_second, figures.p50_ms, figures.p99_ms, figures.errors
        );
    }
    for connections in CONNECTIONS {
        let of = |label: &str| {
            results
                .iter()
                .find(|(c, l, _)| c == connections && *l == label)
                .map(|(_, _, f)| f)
                .unwrap()
        };
        let (captain, nginx) = (of("captain"), of("nginx"));
        println!(
            "BENCH ingress c={connections:<4} captain/nginx: req/s {:.2}x, p99 {:.2}x (below 1 is better)",
            captain.requests_per_second / nginx.requests_per_second,
            captain.p99_ms / nginx.p99_ms
        );
    }

    for service in [&nginx_service, &direct_service] {
        let _ = docker(&["service", "rm", service]);
    }
    common::delete_app(&captain, &cookie, &name).await;
    drop(captain);
    common::remove_proxy(http_port);
}

#[test]
fn wrk_output_is_parsed() {
    let sample = "  Latency Distribution\n     50%  512.00us\n     75%    1.10ms\n     99%    3.20ms\n\
                  12345 requests in 5.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
                  Non-2xx or 3xx responses: 4\nRequests/sec:   2469.00\n";
    let figures = parse_wrk(sample);
    assert_eq!(figures.requests_per_second, 2469.0);
    assert!((figures.p50_ms - 0.512).abs() < 1e-9);
    assert_eq!(figures.p99_ms, 3.2);
    assert_eq!(figures.errors, 7);
}
