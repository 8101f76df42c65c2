//! Looking up a domain's IPv4 addresses, either through the system resolver or by asking
//! one DNS server directly (`--dns-server`): checking that a domain points here should
//! use the same view of DNS as the ACME server that will validate it.
//!
//! The direct path is a single recursive A query over UDP (RFC 1035), enough for a check
//! that only needs the addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, Default)]
pub struct Resolver {
    /// Ask this server instead of the system resolver.
    pub server: Option<SocketAddr>,
}

impl Resolver {
    pub async fn ipv4(&self, domain: &str) -> std::io::Result<Vec<Ipv4Addr>> {
        match self.server {
            None => {
                let found = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((domain, 80)))
                    .await
                    .map_err(|_| std::io::Error::other("the lookup timed out"))??;
                Ok(found
                    .filter_map(|addr| match addr {
                        SocketAddr::V4(v4) => Some(*v4.ip()),
                        SocketAddr::V6(_) => None,
                    })
                    .collect())
            }
            Some(server) => query_a(server, domain).await,
        }
    }
}

async fn query_a(server: SocketAddr, domain: &str) -> std::io::Result<Vec<Ipv4Addr>> {
    let socket = tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await?;
    socket.connect(server).await?;
    let id: u16 = rand::random();
    socket.send(&encode_query(id, domain)?).await?;
    let mut buffer = [0u8; 1500];
    let received = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
        .await
        .map_err(|_| std::io::Error::other(format!("{server} did not answer")))??;
    decode_answers(id, &buffer[..received])
}

fn encode_query(id: u16, domain: &str) -> std::io::Result<Vec<u8>> {
    let mut packet = Vec::with_capacity(32 + domain.len());
    packet.extend_from_slice(&id.to_be_bytes());
    // Standard query, recursion desired; one question.
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in domain.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(std::io::Error::other("not a valid domain name"));
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    // Root label, type A, class IN.
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    Ok(packet)
}

fn malformed() -> std::io::Error {
    std::io::Error::other("malformed DNS answer")
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(packet: &[u8], mut at: usize) -> std::io::Result<usize> {
    loop {
        let length = *packet.get(at).ok_or_else(malformed)?;
        match length {
            0 => return Ok(at + 1),
            l if l & 0xC0 == 0xC0 => return Ok(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

fn decode_answers(id: u16, packet: &[u8]) -> std::io::Result<Vec<Ipv4Addr>> {
    let u16_at = |at: usize| -> std::io::Result<u16> {
        packet
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(malformed)
    };
    if u16_at(0)? != id {
        return Err(std::io::Error::other("DNS answer for another query"));
    }
    let code = u16_at(2)? & 0x000F;
    if code == 3 {
        return Err(std::io::Error::other("no such domain (NXDOMAIN)"));
    }
    if code != 0 {
        return Err(std::io::Error::other(format!("DNS error code {code}")));
    }
    let (questions, answers) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(packet, at)?;
        let (kind, length) = (u16_at(at)?, u16_at(at + 8)? as usize);
        let data = packet
            .get(at + 10..at + 10 + length)
            .ok_or_else(malformed)?;
        if kind == 1 && length == 4 {
            found.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + length;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_compressed_answer_and_rejects_strangers() {
        let mut answer = encode_query(7, "app.example.com").unwrap();
        answer[2] = 0x81;
        answer[3] = 0x80;
        answer[7] = 1; // one answer
        answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 9]);
        assert_eq!(
            decode_answers(7, &answer).unwrap(),
            vec![Ipv4Addr::new(10, 0, 0, 9)]
        );
        assert!(decode_answers(8, &answer).is_err());
        assert!(decode_answers(7, &answer[..answer.len() - 2]).is_err());
        assert!(encode_query(1, "bad..name").is_err());
    }
}
