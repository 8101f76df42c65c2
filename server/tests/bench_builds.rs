//! Benchmark, not a test: deploying from source. Prints, over 5 rounds, how long a line a
//! build step prints takes to reach the builds websocket (the dashboard's live log), and a
//! whole build through Captain (upload to "succeeded") against `docker build` of the same
//! source straight on the engine. Run by scripts/bench.sh.

mod common;

use common::builds::{prepare, upload_ok};
use common::{blocking, create_app, delete_app, signed_in, SESSION_COOKIE};
use futures::StreamExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use types::{BuildEvent, BuildState};

const ROUNDS: usize = 5;

/// Each step prints the wall clock in nanoseconds; the nonce defeats the build cache.
fn source(nonce: &str) -> Vec<(String, Vec<u8>)> {
    let dockerfile = format!(
        "FROM {}\nCOPY nonce /nonce\nRUN for i in 1 2 3 4 5; do date +%s%N; sleep 0.2; done\n",
        testbed::images::DEBIAN_IMAGE
    );
    vec![
        ("Dockerfile".into(), dockerfile.into_bytes()),
        ("nonce".into(), nonce.as_bytes().to_vec()),
    ]
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run by scripts/bench.sh"]
async fn build_log_latency_and_build_overhead() {
    let (captain, cookie) = signed_in(prepare).await;
    let app = testbed::unique_name("bench-build");
    create_app(&captain, &cookie, &app, "", "0").await;
    let headers = [
        ("Cookie", format!("{SESSION_COOKIE}={cookie}")),
        ("Origin", captain.origin()),
    ];
    let mut socket = captain
        .websocket(&format!("/api/apps/{app}/builds/ws"), &headers)
        .await
        .unwrap();
    let (mut latencies_ms, mut through_captain, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let files = source(&testbed::unique_name("nonce"));
        let borrowed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let archive = testbed::sources::tarball(&borrowed).unwrap();
        let started = Instant::now();
        let build = upload_ok(&captain, &cookie, &app, archive).await;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
                .await
                .expect("the build ends within 2 minutes")
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            match serde_json::from_str::<BuildEvent>(&text).unwrap() {
                BuildEvent::Line { build: id, text } if id == build.id => {
                    if let Ok(printed) = text.trim().parse::<u128>() {
                        latencies_ms.push((now_nanos().saturating_sub(printed)) as f64 / 1e6);
                    }
                }
                BuildEvent::Build(b) if b.id == build.id && b.state.is_finished() => {
                    assert_eq!(b.state, BuildState::Succeeded, "{}", b.message);
                    through_captain.push(started.elapsed().as_secs_f64());
                    break;
                }
                _ => {}
            }
        }
        let folder = tempfile::tempdir().unwrap();
        for (path, content) in source(&testbed::unique_name("nonce")) {
            std::fs::write(folder.path().join(path), content).unwrap();
        }
        let context = folder.path().to_str().unwrap().to_owned();
        let started = Instant::now();
        blocking(move || {
            testbed::docker(&["build", "-q", "-t", "captain-bench/direct:1", &context])
        })
        .await
        .unwrap();
        direct.push(started.elapsed().as_secs_f64());
    }
    let _ = testbed::docker(&["rmi", "captain-bench/direct:1"]);
    let samples = latencies_ms.len();
    let p_max = latencies_ms.iter().cloned().fold(0.0, f64::max);
    let line = median(&mut latencies_ms);
    let (captain_s, direct_s) = (median(&mut through_captain), median(&mut direct));
    println!(
        "BENCH build log line: printed in a build step -> on the builds websocket: median {line:.1} ms, max {p_max:.1} ms (n={samples})"
    );
    println!(
        "BENCH build (5 x 0.2 s steps, Debian base): through Captain upload->succeeded {captain_s:.2} s, docker build direct {direct_s:.2} s, ratio {:.2}x (median of {ROUNDS})",
        captain_s / direct_s
    );
    delete_app(&captain, &cookie, &app).await;
}
