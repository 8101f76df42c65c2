//! The app page's "Deploy from source" panel: upload a tarball or paste a
//! captain-definition, then watch each build's log stream in line by line as the engine
//! prints it (over the builds websocket: no polling, no short ring buffer).

use super::builds_api::{CancelBuild, DeployDefinition};
use crate::components::badge::{Badge, Tone};
use crate::components::form::{failure, FieldError};
use crate::format;
use leptos::html::Input;
use leptos::prelude::*;
use std::collections::HashMap;
use types::{Build, BuildState};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";
const EXAMPLE: &str = r#"{
  "schemaVersion": 2,
  "dockerfileLines": ["FROM debian:bookworm-slim", "CMD [\"sleep\", \"infinity\"]"]
}"#;

/// The panel's live state, shared by its parts.
#[derive(Clone, Copy)]
struct Live {
    /// Newest first.
    builds: RwSignal<Vec<Build>>,
    logs: RwSignal<HashMap<i64, Vec<String>>>,
    /// The build whose log is shown; `None` follows the newest.
    selected: RwSignal<Option<i64>>,
}

impl Live {
    fn shown(&self) -> Option<i64> {
        self.selected
            .get()
            .or_else(|| self.builds.with(|b| b.first().map(|b| b.id)))
    }
}

/// `deployed` is bumped whenever a build here deploys, so the versions list refreshes.
#[component]
pub fn BuildsPanel(app: String, deployed: RwSignal<u32>) -> impl IntoView {
    let live = Live {
        builds: RwSignal::new(Vec::new()),
        logs: RwSignal::new(HashMap::new()),
        selected: RwSignal::new(None),
    };
    let follow_name = app.clone();
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(follow(follow_name.clone(), live, deployed));
        #[cfg(not(feature = "hydrate"))]
        let _ = (&follow_name, deployed);
    });
    let definition = ServerAction::<DeployDefinition>::new();
    let cancel = ServerAction::<CancelBuild>::new();
    // A memo, so a build's state changing does not re-render (and un-scroll) its log.
    let shown = Memo::new(move |_| live.shown());
    let (definition_name, cancel_name) = (app.clone(), app.clone());
    view! {
        <h2 class="text-lg font-semibold">"Deploy from source"</h2>
        <p class="mt-1 text-sm text-slate-600">
            "A .tar or .tar.gz with a Dockerfile or a captain-definition at its top. Captain builds it, "
            "pushes it to the default registry when there is one, and rolls it out; a failed build changes nothing."
        </p>
        <UploadForm app=app.clone()/>
        <details class="mt-3">
            <summary class="cursor-pointer text-sm text-slate-700">"…or paste a captain-definition"</summary>
            <ActionForm action=definition attr:class="mt-2 grid gap-2">
                <input type="hidden" name="name" value=definition_name/>
                <textarea class=format!("{INPUT} font-mono") name="definition" rows="5" data-testid="definition"
                    placeholder=EXAMPLE></textarea>
                <div><button class=BUTTON type="submit" disabled=move || definition.pending().get()>"Build and deploy"</button></div>
            </ActionForm>
            <FieldError message=Signal::derive(move || definition.value().with(failure))/>
        </details>
        <ul class="mt-4 divide-y divide-slate-100 text-sm" data-testid="builds">
            {move || live.builds.get().into_iter().map(|build| build_row(build, live, cancel, cancel_name.clone())).collect_view()}
        </ul>
        <FieldError message=Signal::derive(move || cancel.value().with(failure))/>
        <Show when=move || shown.get().is_some()>
            <p class="mt-3 text-xs text-slate-500">{move || shown.get().map(|id| format!("Log of build #{id}"))}</p>
            // column-reverse anchors the scroll at the bottom: the newest line stays in
            // view as lines arrive (and through re-renders) with no script measuring.
            <pre data-testid="build-log"
                class="mt-1 flex h-72 flex-col-reverse overflow-auto rounded-md bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-100">
                <div>
                    {move || shown.get().map(|id| live.logs.with(|logs| logs.get(&id).map(|lines| {
                        lines.iter().map(|line| view! { <div>{line.clone()}</div> }).collect_view()
                    })))}
                </div>
            </pre>
        </Show>
    }
}

#[component]
fn UploadForm(app: String) -> impl IntoView {
    let file_ref = NodeRef::<Input>::new();
    let git_hash = RwSignal::new(String::new());
    let status = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let on_upload = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(input) = file_ref.get() {
            let (app, hash) = (app.clone(), git_hash.get_untracked());
            busy.set(true);
            status.set(None);
            leptos::task::spawn_local(async move {
                status.set(Some(upload(&app, &input, hash.trim()).await));
                busy.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&app, file_ref, git_hash, status, busy);
    };
    view! {
        <div class="mt-3 flex flex-wrap items-end gap-3">
            <label class="text-sm">"Source archive"
                <input node_ref=file_ref class=INPUT type="file" accept=".tar,.tar.gz,.tgz" data-testid="source-file"/>
            </label>
            <label class="text-sm">"Git commit (optional)"
                <input class=format!("{INPUT} font-mono") maxlength="64" placeholder="e.g. 3f9c2ab"
                    prop:value=move || git_hash.get() on:input=move |ev| git_hash.set(event_target_value(&ev))/>
            </label>
            <button class=BUTTON data-testid="upload" disabled=move || busy.get() on:click=on_upload>
                {move || if busy.get() { "Uploading…" } else { "Upload, build and deploy" }}
            </button>
        </div>
        {move || status.get().map(|result| match result {
            Ok(text) => view! { <p class="mt-2 text-sm text-emerald-700" data-testid="upload-status">{text}</p> }.into_any(),
            Err(text) => view! { <p class="mt-2 text-sm text-rose-700" data-testid="upload-status">{text}</p> }.into_any(),
        })}
    }
}

fn build_row(
    build: Build,
    live: Live,
    cancel: ServerAction<CancelBuild>,
    app: String,
) -> impl IntoView {
    let id = build.id;
    let tone = match build.state {
        BuildState::Queued | BuildState::Building => Tone::Busy,
        BuildState::Succeeded => Tone::Good,
        BuildState::Failed => Tone::Bad,
        BuildState::Cancelled => Tone::Neutral,
    };
    let step = build
        .step
        .filter(|_| build.state == BuildState::Building)
        .map(|(step, of)| format!("step {step}/{of}"));
    let running = !build.state.is_finished();
    let message_class = if build.state == BuildState::Failed {
        "text-xs text-rose-700"
    } else {
        "text-xs text-slate-500"
    };
    view! {
        <li class="flex flex-wrap items-center gap-3 py-2" data-testid="build" data-state=build.state.code() data-id=id.to_string()>
            <button class="font-mono underline decoration-dotted" title="show this build's log"
                on:click=move |_| {
                    live.selected.set(Some(id));
                    #[cfg(feature = "hydrate")]
                    load_log(app_for_log(&live, id), id, live);
                }>{format!("#{id}")}</button>
            <Badge tone label=format!("{:?}", build.state)/>
            <span class="text-xs">{build.source}</span>
            {build.git_hash.map(|hash| view! { <span class="font-mono text-xs text-slate-500">{hash.chars().take(10).collect::<String>()}</span> })}
            {step.map(|step| view! { <span class="text-xs text-amber-700" data-testid="build-step">{step}</span> })}
            <span class="text-xs text-slate-500">{format::unix_time(build.created_at)}</span>
            <span class=message_class data-testid="build-message">{build.message}</span>
            {running.then(|| view! {
                <button class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100" data-testid="cancel-build"
                    on:click=move |_| { cancel.dispatch(CancelBuild { name: app.clone(), id }); }>"Cancel"</button>
            })}
        </li>
    }
}

#[cfg(feature = "hydrate")]
fn app_for_log(live: &Live, id: i64) -> String {
    live.builds.with_untracked(|builds| {
        builds
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.app.clone())
            .unwrap_or_default()
    })
}

/// Fetches an older build's stored log the first time it is shown.
#[cfg(feature = "hydrate")]
fn load_log(app: String, id: i64, live: Live) {
    if live.logs.with_untracked(|logs| logs.contains_key(&id)) {
        return;
    }
    leptos::task::spawn_local(async move {
        if let Ok(lines) = super::builds_api::build_log(app, id).await {
            live.logs.update(|logs| {
                logs.entry(id).or_insert(lines);
            });
        }
    });
}

/// Posts the chosen file to the upload endpoint; the answer is the queued build or why not.
#[cfg(feature = "hydrate")]
async fn upload(
    app: &str,
    input: &web_sys::HtmlInputElement,
    git_hash: &str,
) -> Result<String, String> {
    let file = input
        .files()
        .and_then(|files| files.get(0))
        .ok_or("Choose a .tar or .tar.gz file first.")?;
    let mut url = format!(
        "/api/apps/{app}/builds?filename={}",
        percent_encode(&file.name())
    );
    if !git_hash.is_empty() {
        url.push_str(&format!("&git_hash={}", percent_encode(git_hash)));
    }
    let response = gloo_net::http::Request::post(&url)
        .header("Content-Type", "application/octet-stream")
        .body(file)
        .map_err(|error| error.to_string())?
        .send()
        .await
        .map_err(|error| format!("The upload did not reach Captain: {error}"))?;
    if response.ok() {
        let build: Build = response.json().await.map_err(|error| error.to_string())?;
        Ok(format!("Uploaded; build #{} queued.", build.id))
    } else {
        Err(response
            .text()
            .await
            .unwrap_or_else(|_| format!("refused ({})", response.status())))
    }
}

#[cfg(feature = "hydrate")]
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Follows the builds websocket for as long as the page is open, reconnecting after a
/// drop; each connection starts with the builds and the newest one's log so far.
#[cfg(feature = "hydrate")]
async fn follow(app: String, live: Live, deployed: RwSignal<u32>) {
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use types::BuildEvent;
    let path = format!("/api/apps/{app}/builds/ws");
    loop {
        let socket =
            crate::live::client::websocket_url(&path).and_then(|url| WebSocket::open(&url).ok());
        if let Some(socket) = socket {
            live.logs.set(HashMap::new());
            let (_sender, mut receiver) = socket.split();
            while let Some(Ok(Message::Text(text))) = receiver.next().await {
                match serde_json::from_str::<BuildEvent>(&text) {
                    Ok(BuildEvent::Build(build)) => {
                        let just_deployed = build.state == BuildState::Succeeded
                            && live.builds.with_untracked(|builds| {
                                builds
                                    .iter()
                                    .any(|b| b.id == build.id && b.state != BuildState::Succeeded)
                            });
                        live.builds.update(|builds| {
                            builds.retain(|b| b.id != build.id);
                            builds.push(build);
                            builds.sort_by_key(|b| std::cmp::Reverse(b.id));
                        });
                        if just_deployed {
                            deployed.update(|n| *n += 1);
                        }
                    }
                    Ok(BuildEvent::Line { build, text }) => {
                        live.logs
                            .update(|logs| logs.entry(build).or_default().push(text));
                    }
                    Err(_) => {}
                }
            }
        }
        gloo_timers::future::TimeoutFuture::new(1500).await;
    }
}
