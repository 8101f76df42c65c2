//! The app page's deploy history. While a deploy is in flight (pulling, pushing to the
//! registry, starting instances) it refreshes every second, so its progress line and
//! final state show without a reload.

use super::api::{get_app, RollBackApp};
use crate::components::badge::{Badge, Tone};
use crate::format;
use leptos::prelude::*;
use types::{AppVersion, DeployState};

/// `deployed` changes when a build from source deployed a new version.
#[component]
pub fn Deploys(app: String, initial: Vec<AppVersion>, deployed: RwSignal<u32>) -> impl IntoView {
    let versions = RwSignal::new(initial);
    let in_flight =
        move || versions.with(|v| v.first().is_some_and(|v| v.state == DeployState::Deploying));
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if in_flight() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let fetch_name = app.clone();
    let refreshed = LocalResource::new(move || {
        let name = fetch_name.clone();
        let round = tick.get() + deployed.get();
        async move {
            match round {
                0 => None,
                _ => get_app(name).await.ok(),
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Some(details)) = refreshed.get() {
            versions.set(details.versions);
        }
    });
    view! {
        <h2 class="text-lg font-semibold">"Deploys"</h2>
        <ul class="mt-3 divide-y divide-slate-100 text-sm" data-testid="versions">
            {move || versions.get().into_iter().enumerate().map(|(index, version)| version_row(&app, index, version)).collect_view()}
        </ul>
    }
}

fn version_row(app: &str, index: usize, version: AppVersion) -> impl IntoView {
    let roll_back = expect_context::<ServerAction<RollBackApp>>();
    let app_name = app.to_owned();
    let number = version.number;
    // Only images that once ran are offered, and not the one in use now.
    let offer = index > 0 && matches!(version.state, DeployState::Superseded);
    let tone = match version.state {
        DeployState::Live => Tone::Good,
        DeployState::Deploying => Tone::Busy,
        DeployState::Failed => Tone::Bad,
        DeployState::Superseded => Tone::Neutral,
    };
    let detail_tone = if version.state == DeployState::Failed {
        "text-xs text-rose-700"
    } else {
        "text-xs text-slate-500"
    };
    view! {
        <li class="flex flex-wrap items-center gap-3 py-2" data-testid="version" data-state=format!("{:?}", version.state)>
            <span class="font-mono">{format!("v{}", version.number)}</span>
            <span class="font-mono text-xs">{version.image}</span>
            <span class="text-xs text-slate-500" data-testid="version-source">{version.source}</span>
            {version.git_hash.map(|hash| view! { <span class="font-mono text-xs text-slate-500">{hash.chars().take(10).collect::<String>()}</span> })}
            <Badge tone label=format!("{:?}", version.state)/>
            <span class="text-xs text-slate-500">{format::unix_time(version.created_at)}</span>
            {version.registry_image.map(|pushed| view! { <span class="font-mono text-xs text-slate-500" title="pushed to the registry">{format!("→ {pushed}")}</span> })}
            <span class=detail_tone>{version.message}</span>
            {offer.then(|| view! {
                <button class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                    on:click=move |_| { roll_back.dispatch(RollBackApp { name: app_name.clone(), number }); }>
                    "Roll back to this"
                </button>
            })}
        </li>
    }
}
