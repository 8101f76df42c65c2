//! The main Docker engine, in swarm mode, advertising the address node2 can reach.

use crate::command::{docker, run};
use crate::{lock, node2, repo_root};
use anyhow::{Context, Result};
use std::sync::OnceLock;

/// The leader's address on the veth link to node2; swarm must advertise it so node2 can join.
pub const LEADER_ADDR: &str = "10.77.0.1";

/// Starts the engine if needed and makes it a swarm manager advertising [`LEADER_ADDR`].
/// Cheap after the first call in a process.
pub fn ensure_swarm_engine() -> Result<()> {
    static READY: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| prepare().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Starts the engine (without touching swarm state): for tests that manage swarm mode
/// themselves.
pub fn ensure_engine_running() -> Result<()> {
    let script = repo_root().join("scripts/dockerd.sh");
    run("bash", &[script.to_str().context("repo path is UTF-8")?])?;
    Ok(())
}

/// Replaces the swarm with a new, empty one (every service in it goes). For the one test
/// that adds a manager: this engine replays the whole raft log to a new manager and, with
/// the log a full test run leaves, the join times out (with a snapshot it stalls for
/// good). Call it before starting the Captain the test uses, holding node2.
pub fn fresh_swarm() -> Result<()> {
    ensure_swarm_engine()?;
    let _guard = lock::exclusive("engine")?;
    docker(&["swarm", "leave", "--force"]).context("leaving the old swarm")?;
    init_swarm()
}

fn init_swarm() -> Result<()> {
    docker(&["swarm", "init", "--advertise-addr", LEADER_ADDR])
        .context("initialising swarm mode on the main engine")?;
    Ok(())
}

fn prepare() -> Result<()> {
    let _guard = lock::exclusive("engine")?;
    ensure_engine_running()?;
    node2::ensure_link()?;
    let state = docker(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}} {{.Swarm.ControlAvailable}}",
    ])?;
    if state != format!("active {LEADER_ADDR} true") {
        if !state.starts_with("inactive") {
            // A swarm from elsewhere (another address, a worker role, an error state)
            // cannot host node2: start over.
            docker(&["swarm", "leave", "--force"]).context("leaving the stale swarm")?;
        }
        init_swarm()?;
    }
    Ok(())
}
