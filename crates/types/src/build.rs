//! Builds from source: where each came from, how far it got, and the events the app page
//! follows live over its builds websocket.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuildState {
    /// Waiting for the app's previous build or for a free build slot.
    Queued,
    Building,
    /// Built (or, for `imageName`, nothing to build) and handed to the deploy.
    Succeeded,
    Failed,
    Cancelled,
}

impl BuildState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BuildState::Succeeded | BuildState::Failed | BuildState::Cancelled
        )
    }

    /// Stable lower-case name, as stored and as `data-state` in the page.
    pub fn code(self) -> &'static str {
        match self {
            BuildState::Queued => "queued",
            BuildState::Building => "building",
            BuildState::Succeeded => "succeeded",
            BuildState::Failed => "failed",
            BuildState::Cancelled => "cancelled",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            BuildState::Queued,
            BuildState::Building,
            BuildState::Succeeded,
            BuildState::Failed,
            BuildState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.code() == code)
    }
}

/// One build of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub id: i64,
    pub app: String,
    pub state: BuildState,
    /// What was built, as a person would say it: the upload's name, size and checksum, or
    /// "pasted captain-definition".
    pub source: String,
    pub git_hash: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Why it failed or was cancelled, or what it deployed.
    pub message: String,
    /// The image it produced (or named, for `imageName`).
    pub image: Option<String>,
    /// The app version it deployed.
    pub version: Option<i64>,
    /// The Dockerfile step running now, as (step, of steps).
    pub step: Option<(u32, u32)>,
}

/// What the builds websocket sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuildEvent {
    /// A build was queued or changed state or step.
    Build(Build),
    /// A line of a build's log, in order.
    Line { build: i64, text: String },
}
