//! Running the tools the harness drives (docker, ip, nsenter) with errors that show stderr.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// Runs `program args…`, returning trimmed stdout, or an error with the command and stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    run_command(Command::new(program).args(args))
}

pub fn run_command(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The docker CLI against the main (leader) engine.
pub fn docker(args: &[&str]) -> Result<String> {
    run("docker", args)
}

/// The docker CLI against the engine listening on `socket` (e.g. node2's).
pub fn docker_on(socket: &str, args: &[&str]) -> Result<String> {
    run_command(Command::new("docker").arg("-H").arg(socket).args(args))
}
