//! A direct GET against the Docker Engine API, for the few fields bollard's models lack
//! (tasks' network attachments: the overlay address of each instance).

use crate::docker::DockerAddress;
use bollard::Docker;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// GETs `path` (e.g. `/tasks`) at the API version `docker` negotiated; returns the body.
pub async fn get(docker: &Docker, address: &DockerAddress, path: &str) -> std::io::Result<Vec<u8>> {
    let version = docker.client_version();
    let request = format!(
        "GET /v{}.{}{path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        version.major_version, version.minor_version
    );
    let raw = address.as_str();
    let response = if let Some(socket) = raw
        .strip_prefix("unix://")
        .or_else(|| raw.starts_with('/').then_some(raw))
    {
        exchange(tokio::net::UnixStream::connect(socket).await?, &request).await?
    } else {
        let host = raw
            .trim_start_matches("tcp://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        exchange(tokio::net::TcpStream::connect(host).await?, &request).await?
    };
    body_of(&response)
}

async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &str,
) -> std::io::Result<Vec<u8>> {
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

fn body_of(response: &[u8]) -> std::io::Result<Vec<u8>> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no HTTP header"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.0 200") {
        return Err(invalid(head.lines().next().unwrap_or("no status")));
    }
    let body = &response[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Ok(body.to_vec());
    }
    let mut decoded = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("bad chunk"))?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            return Ok(decoded);
        }
        let chunk = rest
            .get(line_end + 2..line_end + 2 + size)
            .ok_or_else(|| invalid("short chunk"))?;
        decoded.extend_from_slice(chunk);
        rest = rest.get(line_end + 4 + size..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::body_of;

    #[test]
    fn bodies_are_read_plain_or_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(body_of(plain).unwrap(), b"[]");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked).unwrap(), b"[1,2]");
        assert!(body_of(b"HTTP/1.1 500 Oops\r\n\r\n").is_err());
    }
}
