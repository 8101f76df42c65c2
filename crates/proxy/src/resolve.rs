//! Finding an app's instances on the overlay network by name.
//!
//! Docker's DNS answers `tasks.SERVICE` with the address of every running task, on every
//! node, without swarm's virtual IPs (which need IPVS). Captain tells the proxy which
//! service serves which host; this loop turns that into instance addresses twice a
//! second, so the route table follows instances coming and going.

use crate::routes::{RouteTable, Routes};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const RESOLVE_EVERY: Duration = Duration::from_millis(500);

/// Where a host's instances are: a DNS name on the overlay and the port they serve on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTarget {
    pub dns: String,
    pub port: u16,
}

/// What Captain pushes: for each host, the service behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTable {
    pub hosts: HashMap<String, ServiceTarget>,
}

/// The service table, shared between the admin API (writer) and the resolver (reader).
pub type SharedServices = Arc<RwLock<ServiceTable>>;

/// Resolves every service forever, replacing the route table after each round.
pub async fn resolve_forever(services: SharedServices, routes: Routes) {
    loop {
        let table = services.read().unwrap_or_else(|p| p.into_inner()).clone();
        // With no services pushed yet, fixed routes (`PUT /routes`) stay as they are.
        if !table.hosts.is_empty() {
            routes.update(&resolve(&table).await);
        }
        tokio::time::sleep(RESOLVE_EVERY).await;
    }
}

/// One round: a name that does not resolve (no running task) routes to no instance.
pub async fn resolve(table: &ServiceTable) -> RouteTable {
    let mut hosts = HashMap::new();
    for (host, target) in &table.hosts {
        let mut addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((target.dns.as_str(), target.port))
                .await
                .map(|found| found.collect())
                .unwrap_or_default();
        // A stable order keeps the round-robin fair across rounds.
        addrs.sort();
        addrs.dedup();
        hosts.insert(host.clone(), addrs);
    }
    RouteTable { hosts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolve_to_addresses_and_unknown_names_to_none() {
        let table = ServiceTable {
            hosts: HashMap::from([
                (
                    "a.localhost".into(),
                    ServiceTarget {
                        dns: "localhost".into(),
                        port: 8080,
                    },
                ),
                (
                    "b.localhost".into(),
                    ServiceTarget {
                        dns: "no-such-service.invalid".into(),
                        port: 80,
                    },
                ),
            ]),
        };
        let routes = resolve(&table).await;
        assert!(routes.hosts["a.localhost"]
            .iter()
            .any(|a| a.port() == 8080 && a.ip().is_loopback()));
        assert!(routes.hosts["b.localhost"].is_empty());
    }
}
