//! A second server on the same machine: a network namespace reached over a veth link,
//! with its own Docker engine and its own sshd, that tests can join to the swarm, stop
//! and kill.
//!
//! Only one test uses node2 at a time ([`Node2::acquire`] holds a file lock), and each
//! starts from a node2 outside any swarm and unknown to the leader.

use crate::command::{docker, docker_on, run, run_command};
use crate::engine::{ensure_swarm_engine, LEADER_ADDR};
use crate::lock::{self, FileLock};
use crate::wait_for;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const NODE2_ADDR: &str = "10.77.0.2";
pub const NETNS: &str = "captain-node2";
pub const SOCKET: &str = "unix:///run/captain-node2/docker.sock";
const NETNS_PATH: &str = "/var/run/netns/captain-node2";
const VETH_HOST: &str = "cpt-n2-host";
const VETH_NODE: &str = "cpt-n2-node";
const STATE_DIR: &str = "/var/lib/captain-node2";
/// A node2 user whose sessions find no `docker` on their PATH: "Docker missing".
pub const NO_DOCKER_USER: &str = "captain-nodocker";
/// A node2 user with a shell but outside the docker group: "cannot use Docker".
pub const PLAIN_USER: &str = "captain-plain";
const RUN_DIR: &str = "/run/captain-node2";

fn in_netns(program: &str, args: &[&str]) -> Result<String> {
    run_command(
        Command::new("nsenter")
            .arg(format!("--net={NETNS_PATH}"))
            .arg(program)
            .args(args),
    )
}

/// Creates the namespace and the veth link (host 10.77.0.1, node2 10.77.0.2) if missing.
/// Safe to call in any state a previous run left behind.
pub fn ensure_link() -> Result<()> {
    let _guard = lock::exclusive("link")?;
    if !Path::new(NETNS_PATH).exists() {
        run("ip", &["netns", "add", NETNS])?;
    }
    let node_side_ok = in_netns("ip", &["link", "show", VETH_NODE]).is_ok();
    let host_side_ok = run("ip", &["link", "show", VETH_HOST]).is_ok();
    if !(node_side_ok && host_side_ok) {
        let _ = run("ip", &["link", "del", VETH_HOST]);
        run(
            "ip",
            &[
                "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NODE,
            ],
        )?;
        run("ip", &["link", "set", VETH_NODE, "netns", NETNS])?;
    }
    run(
        "ip",
        &[
            "addr",
            "replace",
            &format!("{LEADER_ADDR}/24"),
            "dev",
            VETH_HOST,
        ],
    )?;
    run("ip", &["link", "set", VETH_HOST, "up"])?;
    in_netns(
        "ip",
        &[
            "addr",
            "replace",
            &format!("{NODE2_ADDR}/24"),
            "dev",
            VETH_NODE,
        ],
    )?;
    in_netns("ip", &["link", "set", VETH_NODE, "up"])?;
    in_netns("ip", &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Exclusive use of node2 for one test; cleans node2 out of the swarm when dropped.
pub struct Node2 {
    _lock: FileLock,
}

impl Node2 {
    /// Waits for node2 to be free, then hands it over running, reachable and swarm-free.
    pub fn acquire() -> Result<Self> {
        let lock = lock::exclusive("node2")?;
        ensure_swarm_engine()?;
        ensure_link()?;
        let node = Self { _lock: lock };
        node.start_engine()?;
        node.ensure_sshd()?;
        node.forget_swarm()?;
        Ok(node)
    }

    pub fn address(&self) -> &'static str {
        NODE2_ADDR
    }

    pub fn socket(&self) -> &'static str {
        SOCKET
    }

    /// The private key whose public half node2's sshd accepts for `root`.
    pub fn ssh_key_path(&self) -> PathBuf {
        Path::new(STATE_DIR).join("test_key")
    }

    pub fn docker(&self, args: &[&str]) -> Result<String> {
        docker_on(SOCKET, args)
    }

    /// Joins the main swarm as a worker the way a user would; returns node2's node ID.
    pub fn join_as_worker(&self) -> Result<String> {
        let token = docker(&["swarm", "join-token", "-q", "worker"])?;
        self.docker(&[
            "swarm",
            "join",
            "--token",
            &token,
            "--advertise-addr",
            NODE2_ADDR,
            &format!("{LEADER_ADDR}:2377"),
        ])?;
        self.node_id()
    }

    /// node2's swarm node ID, as its own engine reports it.
    pub fn node_id(&self) -> Result<String> {
        self.docker(&["info", "--format", "{{.Swarm.NodeID}}"])
    }

    /// Kills node2's engine with SIGKILL, as a crashed server would vanish.
    pub fn kill_engine(&self) -> Result<()> {
        let pid = std::fs::read_to_string(Path::new(RUN_DIR).join("docker.pid"))
            .context("node2's engine has no pid file")?;
        run("kill", &["-9", pid.trim()])?;
        wait_for("node2's engine to stop", Duration::from_secs(10), || {
            self.docker(&["version"]).is_err().then_some(())
        })
    }

    /// Starts node2's engine unless it is already answering.
    pub fn start_engine(&self) -> Result<()> {
        if self.docker(&["version"]).is_ok() {
            return Ok(());
        }
        std::fs::create_dir_all(RUN_DIR)?;
        std::fs::create_dir_all(STATE_DIR)?;
        let pidfile = Path::new(RUN_DIR).join("docker.pid");
        // A pid file left by a killed engine makes dockerd refuse to start.
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            if !Path::new(&format!("/proc/{}", pid.trim())).exists() {
                std::fs::remove_file(&pidfile)?;
            }
        }
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open("/var/log/captain-node2-dockerd.log")?;
        Command::new("setsid")
            .arg("nsenter")
            .arg(format!("--net={NETNS_PATH}"))
            .args(["dockerd", "--data-root", &format!("{STATE_DIR}/docker")])
            .args(["--exec-root", &format!("{RUN_DIR}/exec")])
            .args(["-H", SOCKET, "--pidfile", pidfile.to_str().unwrap()])
            .args(["--bridge", "none", "--iptables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting node2's dockerd")?;
        wait_for("node2's engine to answer", Duration::from_secs(30), || {
            self.docker(&["version"]).is_ok().then_some(())
        })
    }

    /// Copies an image from the main engine to node2's (there is no registry to pull from).
    pub fn load_image(&self, tag: &str) -> Result<()> {
        let script = format!("docker save {tag} | docker -H {SOCKET} load -q");
        run("bash", &["-o", "pipefail", "-c", &script])?;
        Ok(())
    }

    /// Runs a command on node2 over SSH with the test key, as a remote admin would.
    pub fn ssh(&self, command: &str) -> Result<String> {
        run(
            "ssh",
            &[
                "-i",
                self.ssh_key_path().to_str().unwrap(),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                &format!("root@{NODE2_ADDR}"),
                command,
            ],
        )
    }

    fn ensure_sshd(&self) -> Result<()> {
        let state = Path::new(STATE_DIR);
        std::fs::create_dir_all(state)?;
        std::fs::create_dir_all(RUN_DIR)?;
        std::fs::create_dir_all("/run/sshd")?;
        for key in ["ssh_host_ed25519_key", "test_key"] {
            let path = state.join(key);
            if !path.exists() {
                run(
                    "ssh-keygen",
                    &[
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "captain-test",
                        "-f",
                        path.to_str().unwrap(),
                    ],
                )?;
            }
        }
        std::fs::copy(state.join("test_key.pub"), state.join("authorized_keys"))?;
        ensure_test_users()?;
        let config = state.join("sshd_config");
        let wanted = format!(
            "ListenAddress {NODE2_ADDR}\nPort 22\nHostKey {STATE_DIR}/ssh_host_ed25519_key\n\
             AuthorizedKeysFile {STATE_DIR}/authorized_keys\nPidFile {RUN_DIR}/sshd.pid\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             SetEnv DOCKER_HOST={SOCKET}\n\
             Match User {NO_DOCKER_USER}\n    SetEnv PATH=/nonexistent\n"
        );
        let changed = std::fs::read_to_string(&config).ok().as_deref() != Some(wanted.as_str());
        std::fs::write(&config, &wanted)?;
        let pidfile = Path::new(RUN_DIR).join("sshd.pid");
        let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        let mut running =
            !pid.trim().is_empty() && Path::new(&format!("/proc/{}", pid.trim())).exists();
        if running && changed {
            // sshd reads its configuration once: an older one is replaced by a restart.
            run("kill", &[pid.trim()])?;
            wait_for("the old sshd to stop", Duration::from_secs(10), || {
                (!Path::new(&format!("/proc/{}", pid.trim())).exists()).then_some(())
            })?;
            running = false;
        }
        if !running {
            in_netns("/usr/sbin/sshd", &["-f", config.to_str().unwrap()])
                .context("starting node2's sshd")?;
        }
        wait_for(
            "node2's sshd to accept the test key",
            Duration::from_secs(10),
            || self.ssh("true").ok().map(drop),
        )
    }

    /// Leaves any swarm on node2 and removes every node2 entry from the leader's node list.
    fn forget_swarm(&self) -> Result<()> {
        let state = self.docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        if state != "inactive" {
            // A manager that just leaves takes the quorum with it (two managers need both):
            // demote it from the leader's side first, while it is still up.
            let id = self.node_id().unwrap_or_default();
            let role = docker(&["node", "inspect", "--format", "{{.Spec.Role}}", &id]);
            if role.is_ok_and(|role| role == "manager") {
                let _ = docker(&["node", "demote", &id]);
            }
            self.docker(&["swarm", "leave", "--force"])?;
        }
        let ids = match docker(&["node", "ls", "-q"]) {
            Ok(ids) => ids,
            Err(error) => {
                // A manager that could not be demoted took the quorum with it: the leader
                // starts a one-manager cluster again (services and tasks are kept), so
                // one failed test does not break every test after it.
                eprintln!("the swarm lost its quorum ({error:#}); forcing a new cluster");
                docker(&[
                    "swarm",
                    "init",
                    "--force-new-cluster",
                    "--advertise-addr",
                    LEADER_ADDR,
                ])?;
                docker(&["node", "ls", "-q"])?
            }
        };
        for id in ids.lines().filter(|id| !id.is_empty()) {
            let details = docker(&[
                "node",
                "inspect",
                "--format",
                "{{.Status.Addr}} {{.Spec.Role}}",
                id,
            ])?;
            if details.starts_with(&format!("{NODE2_ADDR} ")) {
                if details.ends_with("manager") {
                    let _ = docker(&["node", "demote", id]);
                }
                docker(&["node", "rm", "--force", id])?;
            }
        }
        Ok(())
    }
}

impl Drop for Node2 {
    fn drop(&mut self) {
        let cleaned = self.start_engine().and_then(|()| self.forget_swarm());
        if let Err(error) = cleaned {
            eprintln!("node2 clean-up failed (the next acquire retries): {error:#}");
        }
    }
}

/// Creates the test users (shell `/bin/sh`, key login only; node2's sshd takes the test
/// key for any user) if a previous run has not.
fn ensure_test_users() -> Result<()> {
    let _guard = lock::exclusive("node2-users")?;
    for user in [NO_DOCKER_USER, PLAIN_USER] {
        if run("id", &["-u", user]).is_err() {
            run(
                "useradd",
                &[
                    "--system",
                    "--shell",
                    "/bin/sh",
                    "--home-dir",
                    "/",
                    "--no-create-home",
                    user,
                ],
            )?;
        }
        // A locked account ("!") is refused even with a valid key; "*" only has no password.
        run("usermod", &["-p", "*", user])?;
    }
    Ok(())
}
