//! Debian's nginx as a container image, the peer Captain's proxy is measured against.
//!
//! The package is fetched once from the Debian mirror ([`crate::sources::debian_package`])
//! and unpacked rather than installed, so no nginx service
//! ever starts on this machine; the binary and the libraries it links (other than glibc,
//! which the base image has) are copied onto the Debian base. The configuration comes
//! from the `NGINX_CONF` environment variable at start.

use crate::command::{run, run_command};
use crate::images::{ensure_debian_base, image_exists, DEBIAN_IMAGE};
use crate::lock;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

pub const NGINX_IMAGE: &str = "captain-test/nginx:1";
const CACHE: &str = "/var/cache/captain-testbed/nginx";

pub fn ensure_nginx_image() -> Result<()> {
    if image_exists(NGINX_IMAGE) {
        return Ok(());
    }
    let _guard = lock::exclusive("image-nginx")?;
    if image_exists(NGINX_IMAGE) {
        return Ok(());
    }
    ensure_debian_base()?;
    let root = Path::new(CACHE).join("root");
    let binary = root.join("usr/sbin/nginx");
    if !binary.exists() {
        let package = crate::sources::debian_package("nginx")?;
        std::fs::create_dir_all(&root)?;
        run_command(Command::new("dpkg-deb").arg("-x").arg(&package).arg(&root))?;
    }
    let context = tempfile::tempdir()?;
    std::fs::copy(&binary, context.path().join("nginx"))?;
    copy_linked_libraries(&binary, &context.path().join("lib"))?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {DEBIAN_IMAGE}\nCOPY nginx /usr/sbin/nginx\nCOPY lib/ /opt/nginx-lib/\n\
             ENV LD_LIBRARY_PATH=/opt/nginx-lib\n\
             CMD [\"/bin/sh\", \"-c\", \"printf '%s' \\\"$NGINX_CONF\\\" > /tmp/nginx.conf && \
             exec /usr/sbin/nginx -c /tmp/nginx.conf -g 'daemon off;'\"]\n"
        ),
    )?;
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            NGINX_IMAGE,
            context.path().to_str().unwrap(),
        ],
    )
    .context("building the nginx image")?;
    Ok(())
}

/// Copies the shared libraries `binary` links (other than glibc, which the Debian base
/// image has in the same version) into `dest`, for an image's LD_LIBRARY_PATH.
pub fn copy_linked_libraries(binary: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest)?;
    for line in run("ldd", &[binary.to_str().context("path is UTF-8")?])?.lines() {
        let Some(path) = line
            .split("=>")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        else {
            continue;
        };
        let file = Path::new(path);
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let glibc = [
            "libc.so",
            "libm.so",
            "libpthread.so",
            "libdl.so",
            "ld-linux",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if !glibc {
            std::fs::copy(file, dest.join(name))
                .with_context(|| format!("copying {path}, which {} links", binary.display()))?;
        }
    }
    Ok(())
}

/// An nginx configuration that balances `upstreams` (ip:port) with keep-alive, listening
/// on 8080 — set up the way one would in production for a fair comparison.
pub fn proxy_config(upstreams: &[String], workers: usize) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("server {u};"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "worker_processes {workers}; error_log stderr error; pid /tmp/nginx.pid;\n\
         events {{ worker_connections 8192; }}\n\
         http {{ access_log off; client_body_temp_path /tmp/cb; proxy_temp_path /tmp/pt;\n\
           fastcgi_temp_path /tmp/ft; uwsgi_temp_path /tmp/ut; scgi_temp_path /tmp/st;\n\
           upstream app {{ {servers} keepalive 128; }}\n\
           server {{ listen 8080; location / {{ proxy_pass http://app; proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\"; proxy_set_header Host $host;\n\
             proxy_set_header X-Forwarded-For $remote_addr; }} }} }}\n"
    )
}
