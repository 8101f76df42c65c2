//! Builds over HTTP: the upload endpoint scripts, CI and the dashboard post source
//! archives to, and the websocket an app page follows its builds and their logs on.

use crate::router::AppState;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::build::{Builds, Source};
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use types::BuildEvent;

pub const UPLOAD_PATH: &str = "/api/apps/{name}/builds";
/// A client may send the archive's SHA-256 (hex) here; a mismatch rejects the upload.
const CHECKSUM_HEADER: &str = "x-content-sha256";

#[derive(Deserialize)]
pub struct UploadQuery {
    /// The commit the archive was made from, shown with the version.
    git_hash: Option<String>,
    /// The archive's file name, shown with the build.
    filename: Option<String>,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

/// `POST /api/apps/{name}/builds` with a `.tar` or `.tar.gz` body — or, as CapRover's
/// API takes it, `multipart/form-data` with `sourceFile` (the archive) or
/// `captainDefinitionContent`, and `gitHash`. The archive streams to disk (size-limited,
/// checksummed); the answer is 201 with the queued build.
pub async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Response {
    if let Err(error) = state.apps.get(&name) {
        return refuse(StatusCode::NOT_FOUND, error.to_string());
    }
    let headers = request.headers().clone();
    let expected = match checksum_header(&headers) {
        Ok(expected) => expected,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let limit = state.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large(limit);
    }
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let incoming = if multipart {
        read_multipart(&state, request, limit).await
    } else {
        let stream = request.into_body().into_data_stream();
        save_stream(&state.builds, stream, limit)
            .await
            .map(|saved| Incoming {
                saved: Some(saved),
                ..Default::default()
            })
    };
    let incoming = match incoming {
        Ok(incoming) => incoming,
        Err(response) => return response,
    };
    let saved_path = incoming.saved.as_ref().map(|saved| saved.path.clone());
    let response = queue(&state, &name, query, expected, incoming).await;
    if !response.status().is_success() {
        if let Some(path) = saved_path {
            let _ = tokio::fs::remove_file(path).await; // nothing of a refused upload stays
        }
    }
    response
}

/// What a request carried, once its archive (if any) is on disk.
#[derive(Default)]
struct Incoming {
    saved: Option<Saved>,
    definition: Option<String>,
    git_hash: Option<String>,
    filename: Option<String>,
}

/// The optional `X-Content-SHA256`, lower-cased.
fn checksum_header(headers: &HeaderMap) -> Result<Option<String>, String> {
    match headers.get(CHECKSUM_HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(value)) if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(Some(value.to_ascii_lowercase()))
        }
        Some(_) => Err(format!(
            "{CHECKSUM_HEADER} must be 64 hex digits (the archive's SHA-256)"
        )),
    }
}

/// CapRover's form fields: `sourceFile`, `captainDefinitionContent`, `gitHash`.
async fn read_multipart(
    state: &AppState,
    request: Request,
    limit: u64,
) -> Result<Incoming, Response> {
    let bad = |error: axum::extract::multipart::MultipartError| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("the form is unreadable: {error}"),
        )
    };
    let mut form = Multipart::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let mut incoming = Incoming::default();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "sourceFile" if incoming.saved.is_none() => {
                incoming.filename = field.file_name().map(str::to_owned);
                incoming.saved = Some(save_stream(&state.builds, field, limit).await?);
            }
            "captainDefinitionContent" => {
                incoming.definition = Some(field.text().await.map_err(bad)?)
            }
            "gitHash" => incoming.git_hash = Some(field.text().await.map_err(bad)?),
            _ => {} // other fields (CapRover's CLI sends a few) do not matter here
        }
    }
    Ok(incoming)
}

/// Checks what arrived and queues the build.
async fn queue(
    state: &AppState,
    name: &str,
    query: UploadQuery,
    expected: Option<String>,
    incoming: Incoming,
) -> Response {
    let git_hash = query
        .git_hash
        .or(incoming.git_hash)
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    if let Some(hash) = &git_hash {
        let hex = hash.chars().all(|c| c.is_ascii_hexdigit());
        if !hex || !(7..=64).contains(&hash.len()) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "git_hash must be 7 to 64 hex digits",
            );
        }
    }
    let source = match (incoming.saved, incoming.definition) {
        (Some(saved), _) => {
            if let Some(expected) = expected.filter(|e| *e != saved.sha256) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "the upload's SHA-256 is {}, not {expected}: it was damaged on the way; send it again",
                        saved.sha256
                    ),
                );
            }
            let filename: String = query
                .filename
                .or(incoming.filename)
                .map(|name| name.chars().filter(|c| !c.is_control()).take(80).collect())
                .unwrap_or_else(|| "upload".to_owned());
            let description = format!(
                "{filename} ({}, sha256 {})",
                human_size(saved.bytes),
                &saved.sha256[..12]
            );
            Source::Upload {
                archive: saved.path,
                description,
            }
        }
        (None, Some(definition)) => Source::Definition(definition),
        (None, None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "send a .tar or .tar.gz as the body, or a form with sourceFile or captainDefinitionContent",
            )
        }
    };
    match state.builds.submit(name, source, git_hash.as_deref()) {
        Ok(build) => (StatusCode::CREATED, axum::Json(build)).into_response(),
        Err(error) => refuse(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

struct Saved {
    path: std::path::PathBuf,
    bytes: u64,
    sha256: String,
}

fn too_large(limit: u64) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than {} MiB (--max-upload-mb)",
            limit / 1024 / 1024
        ),
    )
}

/// Writes the archive to a new file in the builds' upload folder as it arrives; nothing
/// of a refused upload stays on disk.
async fn save_stream<E: std::fmt::Display>(
    builds: &Builds,
    mut stream: impl futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    limit: u64,
) -> Result<Saved, Response> {
    let server_error = |error: std::io::Error| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store the upload: {error}"),
        )
    };
    let folder = builds.upload_dir();
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(server_error)?;
    let path = folder.join(format!("{}.upload", engine::auth::random_token()));
    let mut file = tokio::fs::File::create(&path).await.map_err(server_error)?;
    let (mut bytes, mut hasher) = (0u64, Sha256::new());
    let outcome: Result<(), Response> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off: {error}"),
                )
            })?;
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(too_large(limit));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(server_error)?;
        }
        file.flush().await.map_err(server_error)?;
        if bytes == 0 {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "the upload is empty: send a .tar or .tar.gz of your source",
            ));
        }
        Ok(())
    }
    .await;
    if let Err(response) = outcome {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(response);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Saved {
        path,
        bytes,
        sha256,
    })
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// `GET /api/apps/{name}/builds/ws`: the app's builds, the newest one's log so far, then
/// every change and log line as it happens, as JSON `BuildEvent`s.
pub async fn follow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    socket: WebSocketUpgrade,
) -> Response {
    if let Err(error) = state.apps.get(&name) {
        return refuse(StatusCode::NOT_FOUND, error.to_string());
    }
    let watch = match state.builds.watch(&name) {
        Ok(watch) => watch,
        Err(error) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    };
    socket.on_upgrade(move |socket| stream_builds(socket, name, watch))
}

async fn stream_builds(mut socket: WebSocket, app: String, watch: engine::build::Watch) {
    let newest = watch.builds.first().map(|b| b.id);
    let mut history: Vec<BuildEvent> = watch
        .builds
        .into_iter()
        .rev()
        .map(BuildEvent::Build)
        .collect();
    if let Some(build) = newest {
        history.extend(
            watch
                .log
                .into_iter()
                .map(|text| BuildEvent::Line { build, text }),
        );
    }
    for event in history {
        if crate::ws::send_json(&mut socket, &event).await.is_err() {
            return;
        }
    }
    let mut events = watch.events;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok((event_app, event)) if event_app == app => {
                    if crate::ws::send_json(&mut socket, &event).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // Too slow to keep up: close, and the page reconnects for a fresh copy.
                Err(_) => return,
            },
            incoming = socket.recv() => if crate::ws::client_left(&incoming) {
                return;
            },
        }
    }
}
