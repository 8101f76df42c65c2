//! The HTTP API for scripts and CI (authenticated with API tokens, like every route).

use axum::extract::State;
use axum::Json;
use engine::StatusHub;
use types::ClusterSnapshot;

/// `GET /api/v1/cluster`: nodes, services and instances as Captain sees them now.
pub async fn cluster(State(hub): State<StatusHub>) -> Json<ClusterSnapshot> {
    Json(hub.snapshot())
}
