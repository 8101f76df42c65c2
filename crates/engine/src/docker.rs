//! Connecting to a Docker engine, with errors that name the address that failed.
//!
//! bollard asks for the newest API version it knows, which older engines refuse, so the
//! connection always negotiates down to what the engine speaks before anything else.

use bollard::{Docker, API_DEFAULT_VERSION};
use std::fmt;
use std::time::Duration;

/// Seconds bollard waits for a single request; long enough for a slow `docker info`.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// An unreachable TCP host can hang forever in connect: give up and say so.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// Where the Docker engine is: `unix:///path`, `tcp://host:port` or `http://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerAddress(String);

impl DockerAddress {
    /// The explicit address if given, else `DOCKER_HOST`, else the local socket.
    pub fn resolve(explicit: Option<&str>) -> Self {
        let chosen = explicit
            .map(str::to_owned)
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
        Self(chosen.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DockerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why Captain could not talk to Docker; always names the address so the fix is obvious.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("Docker address {address} is not understood: use unix:///path/to/docker.sock or tcp://host:port")]
    UnsupportedScheme { address: DockerAddress },
    #[error("cannot reach the Docker engine at {address}: {source}")]
    Unreachable {
        address: DockerAddress,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot reach the Docker engine at {address}: no answer within {seconds} s")]
    TimedOut {
        address: DockerAddress,
        seconds: u64,
    },
}

/// Connects to the engine at `address` and negotiates the API version it speaks.
pub async fn connect(address: &DockerAddress) -> Result<Docker, ConnectError> {
    let raw = address.as_str();
    let unreachable = |source| ConnectError::Unreachable {
        address: address.clone(),
        source,
    };
    let client = if raw.starts_with("unix://") || raw.starts_with('/') {
        Docker::connect_with_unix(raw, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if raw.starts_with("tcp://") || raw.starts_with("http://") {
        Docker::connect_with_http(raw, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else {
        return Err(ConnectError::UnsupportedScheme {
            address: address.clone(),
        });
    }
    .map_err(unreachable)?;

    let negotiate = async {
        let client = client.negotiate_version().await?;
        client.ping().await?;
        Ok::<_, bollard::errors::Error>(client)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, negotiate).await {
        Ok(result) => result.map_err(unreachable),
        Err(_) => Err(ConnectError::TimedOut {
            address: address.clone(),
            seconds: CONNECT_TIMEOUT.as_secs(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_address_wins_over_the_environment() {
        assert_eq!(
            DockerAddress::resolve(Some(" tcp://10.0.0.5:2375 ")).as_str(),
            "tcp://10.0.0.5:2375"
        );
    }

    #[tokio::test]
    async fn a_missing_socket_names_the_address() {
        let address = DockerAddress::resolve(Some("unix:///nonexistent/captain-test.sock"));
        let message = connect(&address).await.unwrap_err().to_string();
        assert!(
            message.contains("unix:///nonexistent/captain-test.sock"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_clearly() {
        let address = DockerAddress::resolve(Some("ftp://example"));
        let error = connect(&address).await.unwrap_err();
        assert!(matches!(error, ConnectError::UnsupportedScheme { .. }));
        assert!(error.to_string().contains("ftp://example"));
    }
}
