//! Benchmark, not a test: time from `docker kill` of a task's container to the status
//! websocket reporting the task failed. Prints the median of 20 and the spread; run by
//! scripts/bench.sh (`cargo test -p server --test bench_status_latency -- --ignored --nocapture`).

mod common;

use common::{blocking, Captain};
use std::time::{Duration, Instant};
use testbed::{create_test_service, docker, ensure_httpd_image, ensure_swarm_engine, unique_name};
use types::{ClusterChange, TaskState};

const ROUNDS: usize = 20;

#[tokio::test]
#[ignore = "benchmark; run by scripts/bench.sh"]
async fn kill_to_websocket_event_latency() {
    blocking(|| {
        ensure_swarm_engine()?;
        ensure_httpd_image()
    })
    .await
    .unwrap();
    let captain = Captain::start(&[]).unwrap();
    let mut client = captain.status_client().await.unwrap();
    let name = unique_name("bench-kill");
    let created = name.clone();
    let service_id = blocking(move || create_test_service(&created, &["--restart-delay", "0s"]))
        .await
        .unwrap();

    let mut samples = Vec::with_capacity(ROUNDS);
    let mut after_kill_returned = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let change = client
            .wait_for_change("a running task", Duration::from_secs(30), |change| {
                matches!(change, ClusterChange::TaskUpserted(task)
                    if task.service_id.0 == service_id && task.state == TaskState::Running && task.container_id.is_some())
            })
            .await
            .unwrap();
        let ClusterChange::TaskUpserted(task) = change else {
            unreachable!()
        };
        let container = task.container_id.clone().unwrap();
        let started = Instant::now();
        blocking(move || docker(&["kill", &container]))
            .await
            .unwrap();
        let killed = Instant::now();
        client
            .wait_for_change("the task to fail", Duration::from_secs(10), |change| {
                matches!(change, ClusterChange::TaskUpserted(t) if t.id == task.id && t.state == TaskState::Failed)
            })
            .await
            .unwrap();
        samples.push(started.elapsed());
        after_kill_returned.push(killed.elapsed());
    }
    blocking(move || docker(&["service", "rm", &name]))
        .await
        .unwrap();

    samples.sort();
    after_kill_returned.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "BENCH kill->websocket task Failed: median {:.0} ms, min {:.0} ms, max {:.0} ms over {ROUNDS} kills \
         (includes the docker CLI's own ~50-100 ms)",
        ms(samples[ROUNDS / 2]),
        ms(samples[0]),
        ms(samples[ROUNDS - 1])
    );
    println!(
        "BENCH ... of which after `docker kill` returned: median {:.0} ms (swarm itself records the failure ~140 ms after the kill)",
        ms(after_kill_returned[ROUNDS / 2])
    );
}
