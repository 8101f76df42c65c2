//! The route table: which instances serve which host, and which of them are up.
//!
//! Passive health: an instance that refuses a connection is skipped for a short while,
//! then tried again; no probe traffic is needed to notice a dead instance.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long an instance that refused a connection is left out.
const DOWN_FOR: Duration = Duration::from_secs(2);

/// What Captain sends: for each host, the addresses of the app's running instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub hosts: HashMap<String, Vec<SocketAddr>>,
}

/// One instance of an app, with its counters.
#[derive(Debug)]
pub struct Backend {
    pub addr: SocketAddr,
    /// Milliseconds since `epoch` until which this backend is skipped (0: up).
    down_until_ms: AtomicU64,
    pub requests: AtomicU64,
}

/// An app's instances and the round-robin cursor over them.
#[derive(Debug)]
pub struct Upstream {
    pub backends: Vec<Arc<Backend>>,
    cursor: AtomicUsize,
}

/// One generation of the table: host to upstream, never mutated once published.
type Table = Arc<HashMap<String, Arc<Upstream>>>;

/// The live routes, shared by every connection; replaced whole on each update.
#[derive(Clone)]
pub struct Routes {
    current: Arc<RwLock<Table>>,
    epoch: Instant,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(HashMap::new()))),
            epoch: Instant::now(),
        }
    }
}

impl Routes {
    /// Swaps in a new table. Backends that stay keep their counters and health, so an
    /// update (one every few seconds while instances come and go) loses nothing.
    pub fn update(&self, table: &RouteTable) {
        let previous = self.snapshot();
        let mut next = HashMap::new();
        for (host, addrs) in &table.hosts {
            let old: HashMap<SocketAddr, Arc<Backend>> = previous
                .get(host)
                .map(|upstream| {
                    upstream
                        .backends
                        .iter()
                        .map(|b| (b.addr, b.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let backends = addrs
                .iter()
                .map(|addr| {
                    old.get(addr).cloned().unwrap_or_else(|| {
                        Arc::new(Backend {
                            addr: *addr,
                            down_until_ms: AtomicU64::new(0),
                            requests: AtomicU64::new(0),
                        })
                    })
                })
                .collect();
            next.insert(
                normalise_host(host),
                Arc::new(Upstream {
                    backends,
                    cursor: AtomicUsize::new(0),
                }),
            );
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }

    fn snapshot(&self) -> Table {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The upstream for a `Host` header value (port and case ignored).
    pub fn lookup(&self, host: &str) -> Option<Arc<Upstream>> {
        self.snapshot().get(&normalise_host(host)).cloned()
    }

    /// Up to `count` distinct backends to try, in round-robin order, healthy ones first.
    pub fn candidates(&self, upstream: &Upstream, count: usize) -> Vec<Arc<Backend>> {
        let total = upstream.backends.len();
        if total == 0 {
            return Vec::new();
        }
        let start = upstream.cursor.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let ordered = (0..total).map(|i| upstream.backends[(start + i) % total].clone());
        let (up, down): (Vec<_>, Vec<_>) =
            ordered.partition(|b| b.down_until_ms.load(Ordering::Relaxed) <= now);
        // A backend marked down is still worth a try when nothing else is left.
        up.into_iter().chain(down).take(count).collect()
    }

    pub fn mark_down(&self, backend: &Backend) {
        let until = self.now_ms() + DOWN_FOR.as_millis() as u64;
        backend.down_until_ms.store(until, Ordering::Relaxed);
    }

    /// Requests served per backend address, for the dashboard.
    pub fn request_counts(&self) -> HashMap<SocketAddr, u64> {
        let mut counts = HashMap::new();
        for upstream in self.snapshot().values() {
            for backend in &upstream.backends {
                *counts.entry(backend.addr).or_default() +=
                    backend.requests.load(Ordering::Relaxed);
            }
        }
        counts
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// `App.Example.com:80` and `app.example.com.` are the same host.
pub fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        // An IPv6 literal keeps its brackets; its port follows the closing one.
        Some(rest) => format!("[{}]", rest.split(']').next().unwrap_or_default()),
        None => host.split(':').next().unwrap_or_default().to_owned(),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(host: &str, ports: &[u16]) -> RouteTable {
        let addrs = ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        RouteTable {
            hosts: HashMap::from([(host.to_owned(), addrs)]),
        }
    }

    #[test]
    fn hosts_match_without_port_case_or_trailing_dot() {
        assert_eq!(normalise_host("App.Example.com:8080"), "app.example.com");
        assert_eq!(normalise_host("app.example.com."), "app.example.com");
        assert_eq!(normalise_host("[::1]:80"), "[::1]");
    }

    #[test]
    fn candidates_rotate_and_put_down_backends_last() {
        let routes = Routes::default();
        routes.update(&table("web.localhost", &[1, 2, 3]));
        let upstream = routes.lookup("WEB.localhost:80").unwrap();
        let first: Vec<u16> = routes
            .candidates(&upstream, 3)
            .iter()
            .map(|b| b.addr.port())
            .collect();
        let second: Vec<u16> = routes
            .candidates(&upstream, 3)
            .iter()
            .map(|b| b.addr.port())
            .collect();
        assert_eq!(first, [1, 2, 3]);
        assert_eq!(second, [2, 3, 1]);
        routes.mark_down(&upstream.backends[2]);
        let third: Vec<u16> = routes
            .candidates(&upstream, 3)
            .iter()
            .map(|b| b.addr.port())
            .collect();
        assert_eq!(third, [1, 2, 3]);
        let fourth: Vec<u16> = routes
            .candidates(&upstream, 3)
            .iter()
            .map(|b| b.addr.port())
            .collect();
        assert_eq!(fourth, [1, 2, 3], "3 is down, so it goes last");
    }

    #[test]
    fn an_update_keeps_the_counters_of_backends_that_stay() {
        let routes = Routes::default();
        routes.update(&table("web", &[1, 2]));
        routes.lookup("web").unwrap().backends[0]
            .requests
            .fetch_add(5, Ordering::Relaxed);
        routes.update(&table("web", &[1, 3]));
        let upstream = routes.lookup("web").unwrap();
        assert_eq!(upstream.backends[0].requests.load(Ordering::Relaxed), 5);
        assert_eq!(upstream.backends[1].addr.port(), 3);
        assert!(routes.lookup("other").is_none());
    }
}
