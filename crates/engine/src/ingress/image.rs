//! The proxy's container image, built locally from the `captain-proxy` binary that ships
//! beside Captain, on `debian:bookworm-slim`. Its tag carries a hash of the binary, so a
//! new Captain brings a new proxy image and an unchanged one is never rebuilt.

use super::IngressError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::Path;

pub const BASE_IMAGE: &str = "debian:bookworm-slim";

/// Builds the image if needed; returns its tag.
pub async fn ensure_proxy_image(docker: &Docker, binary: &Path) -> Result<String, IngressError> {
    let bytes = std::fs::read(binary).map_err(|source| IngressError::Binary {
        path: binary.to_owned(),
        source,
    })?;
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let tag = format!("captain/proxy:{hash}");
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    let dockerfile = format!(
        "FROM {BASE_IMAGE}\nCOPY captain-proxy /usr/local/bin/captain-proxy\n\
         ENTRYPOINT [\"/usr/local/bin/captain-proxy\"]\n"
    );
    let context = build_context(&dockerfile, &bytes).map_err(IngressError::Context)?;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = stream.next().await {
        let step = step.map_err(IngressError::Build)?;
        if let Some(detail) = step.error_detail {
            return Err(IngressError::BuildFailed(
                detail.message.unwrap_or_default(),
            ));
        }
    }
    tracing::info!(%tag, "proxy image built");
    Ok(tag)
}

fn build_context(dockerfile: &str, binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("captain-proxy", binary, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        archive.append_data(&mut header, name, data)?;
    }
    archive.into_inner()
}
