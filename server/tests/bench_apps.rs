//! Benchmarks, not tests: Captain's own overhead for a deploy (request to the swarm
//! service updated, excluding Docker's pull and container start) and the server time to
//! list 1,000 apps. Printed as figures by scripts/bench.sh.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testbed::{ensure_httpd_image, unique_name, HTTPD_IMAGE};

const ROUNDS: usize = 20;

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test]
#[ignore = "benchmark; run by scripts/bench.sh"]
async fn deploy_overhead_and_listing_a_thousand_apps() {
    let (captain, cookie) = common::signed_in(ensure_httpd_image).await;
    let name = unique_name("bench");
    captain
        .call(
            &cookie,
            "create_app",
            &[
                ("name", &name),
                ("image", HTTPD_IMAGE),
                ("http_port", "80"),
                ("instances", "1"),
            ],
        )
        .await
        .unwrap();
    let service = format!("captain-app-{name}");
    // Docker stamps each service update event with its own clock (this machine's).
    let mut events = Command::new("docker")
        .args([
            "events",
            "--filter",
            "type=service",
            "--filter",
            &format!("service={service}"),
        ])
        .args(["--filter", "event=update", "--format", "{{.TimeNano}}"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel::<u128>();
    let stdout = events.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(nanos) = line.trim().parse() {
                let _ = sender.send(nanos);
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    while receiver.try_recv().is_ok() {}

    let mut overheads = Vec::new();
    let mut revision = 1;
    // The first deploy settles the create; later saves are the measured updates.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for round in 0..ROUNDS {
        let env = format!("ROUND={round}");
        let revision_text = revision.to_string();
        let started = nanos_now();
        let saved = captain
            .call(
                &cookie,
                "save_app",
                &[
                    ("name", &name),
                    ("revision", &revision_text),
                    ("image", HTTPD_IMAGE),
                    ("http_port", "80"),
                    ("instances", "1"),
                    ("env", &env),
                    ("volumes", ""),
                ],
            )
            .await
            .unwrap();
        assert_eq!(saved.body, "true", "{saved:?}");
        revision += 1;
        let updated = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("a service update event");
        overheads.push(Duration::from_nanos(
            (updated.saturating_sub(started)) as u64,
        ));
        // Let swarm finish the rolling update so rounds do not overlap.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while receiver.try_recv().is_ok() {}
    }
    let _ = events.kill();
    let _ = events.wait();
    common::delete_app(&captain, &cookie, &name).await;
    overheads.sort();
    println!(
        "BENCH deploy overhead (save request -> swarm service updated): median {:.1} ms, min {:.1} ms, max {:.1} ms over {ROUNDS}",
        ms(overheads[ROUNDS / 2]), ms(overheads[0]), ms(overheads[ROUNDS - 1])
    );

    // 1,000 apps (never deployed, so swarm is not involved), then the list call.
    for n in 0..1000 {
        let app = format!("list-{n}");
        captain
            .call(
                &cookie,
                "create_app",
                &[
                    ("name", &app),
                    ("image", ""),
                    ("http_port", "80"),
                    ("instances", "1"),
                ],
            )
            .await
            .unwrap();
    }
    let mut timings = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let listed = captain.call(&cookie, "list_apps", &[]).await.unwrap();
        timings.push(started.elapsed());
        assert!(listed.body.matches("\"name\":").count() >= 1000);
    }
    timings.sort();
    println!(
        "BENCH list 1,000 apps (HTTP round trip incl. JSON, loopback): median {:.2} ms, min {:.2} ms over 20",
        ms(timings[10]), ms(timings[0])
    );
}
