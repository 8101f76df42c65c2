//! Command-line flags and environment variables for the `captain` binary.
//!
//! Every flag has an environment twin (`CAPTAIN_*`) so the same binary runs from a shell,
//! a systemd unit or a swarm service without a config file. The defaults give a working
//! single-server install: local Docker socket, `./data`, and apps at `APP.localhost`
//! (which browsers and curl resolve to loopback without any DNS).

use clap::Parser;
use engine::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, Parser)]
#[command(
    name = "captain",
    version,
    about = "Captain: a self-hosted platform-as-a-service on Docker Swarm"
)]
pub struct Config {
    /// Address the dashboard and API listen on (port 0 picks a free port).
    #[arg(long, env = "CAPTAIN_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Folder for Captain's database and keys; created if missing.
    #[arg(long, env = "CAPTAIN_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Docker engine to manage: unix:///path or tcp://host:port. Defaults to DOCKER_HOST,
    /// then the local socket.
    #[arg(long, env = "CAPTAIN_DOCKER_HOST")]
    pub docker_host: Option<String>,

    /// Address other servers reach this one at, used when initialising swarm mode.
    #[arg(long, env = "CAPTAIN_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,

    /// Apps are served at APP.<root domain>.
    #[arg(long, env = "CAPTAIN_ROOT_DOMAIN", default_value = "localhost")]
    pub root_domain: String,

    /// Admin password to set on first start, for unattended installs. Ignored once a
    /// password exists. Without it, the dashboard asks for one.
    #[arg(long, env = "CAPTAIN_INITIAL_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub initial_password: Option<Secret>,

    /// Key that seals stored secrets (32 bytes); created if missing. Defaults to
    /// DATA_DIR/secret.key; point it at a swarm secret when Captain runs as a service.
    #[arg(long, env = "CAPTAIN_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Mark the session cookie Secure even when requests arrive over plain HTTP (behind
    /// a TLS-terminating proxy that does not send X-Forwarded-Proto).
    #[arg(long, env = "CAPTAIN_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Port Captain's proxy serves apps on, on this node (APP.<root domain>).
    #[arg(long, env = "CAPTAIN_HTTP_PORT", default_value_t = 80)]
    pub http_port: u16,

    /// Port Captain's proxy serves HTTPS on, on this node.
    #[arg(long, env = "CAPTAIN_HTTPS_PORT", default_value_t = 443)]
    pub https_port: u16,

    /// ACME directory certificates come from (Let's Encrypt by default).
    #[arg(long, env = "CAPTAIN_ACME_DIRECTORY", default_value = engine::edge::acme::LETS_ENCRYPT)]
    pub acme_directory: String,

    /// Extra root certificate (PEM) to trust for the ACME server's own HTTPS, for a
    /// private or test ACME server.
    #[arg(long, env = "CAPTAIN_ACME_CA_FILE")]
    pub acme_ca_file: Option<PathBuf>,

    /// Contact address given to the ACME server (expiry warnings).
    #[arg(long, env = "CAPTAIN_ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// Renew certificates that have fewer than this many days left.
    #[arg(long, env = "CAPTAIN_RENEW_BEFORE_DAYS", default_value_t = 30)]
    pub renew_before_days: u64,

    /// Seconds between looks for certificates to issue or renew.
    #[arg(long, env = "CAPTAIN_RENEW_CHECK_SECS", default_value_t = 3600)]
    pub renew_check_secs: u64,

    /// DNS server (IP:PORT) to check custom domains against, instead of the system
    /// resolver; use the one your ACME server resolves with.
    #[arg(long, env = "CAPTAIN_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,

    /// Image of the registry Captain runs when asked to (Registry page).
    #[arg(long, env = "CAPTAIN_REGISTRY_IMAGE", default_value = "registry:2")]
    pub registry_image: String,

    /// Port the managed registry is published on, on this node.
    #[arg(long, env = "CAPTAIN_REGISTRY_PORT", default_value_t = 5000)]
    pub registry_port: u16,

    /// Where Docker engines read registry CA certificates.
    #[arg(
        long,
        env = "CAPTAIN_DOCKER_CERTS_DIR",
        default_value = "/etc/docker/certs.d"
    )]
    pub docker_certs_dir: PathBuf,

    /// Port of the proxy's admin API on this node (protected by a token Captain keeps).
    #[arg(long, env = "CAPTAIN_PROXY_ADMIN_PORT", default_value_t = 8081)]
    pub proxy_admin_port: u16,

    /// The captain-proxy binary to package as the proxy's image; defaults to the one next
    /// to this binary.
    #[arg(long, env = "CAPTAIN_PROXY_BINARY")]
    pub proxy_binary: Option<PathBuf>,

    /// Do not run the proxy (apps are then reachable only on the overlay network).
    #[arg(long, env = "CAPTAIN_NO_INGRESS")]
    pub no_ingress: bool,

    /// Builds from source running at once (across apps; one app builds one at a time).
    #[arg(long, env = "CAPTAIN_BUILD_CONCURRENCY", default_value_t = 2)]
    pub build_concurrency: usize,

    /// Versions whose built images are kept for instant rollback; older ones are pruned.
    #[arg(long, env = "CAPTAIN_KEEP_VERSIONS", default_value_t = 10)]
    pub keep_versions: usize,

    /// Largest source upload accepted, in MiB (it may unpack to at most twice this).
    #[arg(long, env = "CAPTAIN_MAX_UPLOAD_MB", default_value_t = 256)]
    pub max_upload_mb: u64,

    /// Print every HTTP route as JSON and exit (used by the route-guard test).
    #[arg(long, hide = true)]
    pub print_routes: bool,
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

impl Config {
    pub fn proxy_binary_path(&self) -> PathBuf {
        self.proxy_binary.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join("captain-proxy")))
                .unwrap_or_else(|| PathBuf::from("captain-proxy"))
        })
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }
}
