//! One app's page: its instances live, a scale control, the settings form and its deploys.

use super::api::{get_app, live_traffic, AppDetails, DeleteApp, RollBackApp, SaveApp, ScaleApp};
use super::builds::BuildsPanel;
use super::deploys::Deploys;
use super::domains::DomainsPanel;
use super::running_instances;
use crate::components::badge::{Badge, Tone};
use crate::components::form::{error_text, failure, field_failure, other_failure, FieldError};
use crate::components::logs::LogsPanel;
use crate::format;
use crate::live::LiveCluster;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use std::collections::HashMap;
use types::{ClusterSnapshot, TaskInfo, TaskState, Traffic};

const SECTION: &str = "mt-6 rounded-lg border border-slate-200 bg-white p-5";
const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

#[component]
pub fn AppDetailPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let save = ServerAction::<SaveApp>::new();
    let scale = ServerAction::<ScaleApp>::new();
    let roll_back = ServerAction::<RollBackApp>::new();
    let details = Resource::new(
        move || {
            (
                name(),
                save.version().get(),
                scale.version().get(),
                roll_back.version().get(),
            )
        },
        |(name, ..)| get_app(name),
    );
    provide_context(roll_back);
    view! {
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || details.get().map(|result| match result {
                Ok(details) => view! { <AppView details save scale/> }.into_any(),
                Err(error) => view! { <p class="text-rose-700">{error_text(&error)}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn AppView(
    details: AppDetails,
    save: ServerAction<SaveApp>,
    scale: ServerAction<ScaleApp>,
) -> impl IntoView {
    let AppDetails { app, versions } = details;
    let live = expect_context::<LiveCluster>();
    let delete = ServerAction::<DeleteApp>::new();
    let name = app.name.clone();
    let wanted = app.spec.instances;
    let running_name = name.clone();
    let running = move || {
        live.snapshot.with(|s| {
            s.as_ref()
                .map(|s| running_instances(s, &running_name))
                .unwrap_or(0)
        })
    };
    let instances_name = name.clone();
    // Traffic figures come from the proxy's counters: refreshed every 2 s in the browser.
    let traffic = live_traffic();
    let (scale_name, save_name, logs_name) = (name.clone(), name.clone(), name.clone());
    let (domains_name, deploys_name) = (name.clone(), name.clone());
    let builds_name = name.clone();
    // Bumped by the builds panel when a build deploys: the versions list then refreshes.
    let deployed = RwSignal::new(0u32);
    view! {
        <div class="flex items-center gap-3">
            <h1 class="text-2xl font-semibold">{name.clone()}</h1>
            <span class="text-sm text-slate-500" data-testid="running-count">{move || format!("{} / {wanted} running", running())}</span>
        </div>
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"Instances"</h2>
            <ActionForm action=scale attr:class="mt-3 flex items-end gap-3">
                <input type="hidden" name="name" value=scale_name/>
                <label class="text-sm">"Instance count"
                    <input class=INPUT type="number" name="instances" min="0" max=types::app::MAX_INSTANCES value=wanted.to_string()/>
                </label>
                <button class=BUTTON type="submit" disabled=move || scale.pending().get()>"Scale"</button>
            </ActionForm>
            <FieldError message=Signal::derive(move || scale.value().with(failure))/>
            <ul class="mt-4 divide-y divide-slate-100 text-sm" data-testid="instances">
                {move || {
                    let traffic = traffic.get().and_then(Result::ok).unwrap_or_default();
                    live.snapshot.with(|snapshot| snapshot.as_ref().map(|s| instance_rows(s, &instances_name, &traffic)))
                }}
            </ul>
        </section>
        <section class=SECTION>
            <BuildsPanel app=builds_name deployed/>
        </section>
        <section class=SECTION>
            <DomainsPanel app=domains_name/>
        </section>
        <section class=SECTION>
            <LogsPanel app=logs_name/>
        </section>
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"Settings"</h2>
            <ActionForm action=save attr:class="mt-3 grid gap-3 sm:grid-cols-2">
                <input type="hidden" name="name" value=save_name/>
                <input type="hidden" name="revision" value=app.revision.to_string()/>
                <label class="text-sm sm:col-span-2">"Image (deploying a new one keeps the old running until it works)"
                    <input class=INPUT name="image" value=app.spec.image.clone() maxlength=types::validate::IMAGE_MAX_CHARS/>
                    <FieldError message=Signal::derive(move || save.value().with(|r| field_failure(r, "image")))/>
                </label>
                <label class="text-sm">"HTTP port"
                    <input class=INPUT type="number" name="http_port" min="1" max="65535" value=app.spec.http_port.to_string()/>
                </label>
                <label class="text-sm">"Instances"
                    <input class=INPUT type="number" name="instances" min="0" max=types::app::MAX_INSTANCES value=wanted.to_string()/>
                </label>
                <label class="text-sm">"Environment (KEY=VALUE per line)"
                    <textarea class=format!("{INPUT} font-mono") name="env" rows="5">{types::app::format_env(&app.spec.env)}</textarea>
                    <FieldError message=Signal::derive(move || save.value().with(|r| field_failure(r, "env")))/>
                </label>
                <label class="text-sm">"Volumes (name:/path per line)"
                    <textarea class=format!("{INPUT} font-mono") name="volumes" rows="5">{types::app::format_volumes(&app.spec.volumes)}</textarea>
                    <FieldError message=Signal::derive(move || save.value().with(|r| field_failure(r, "volumes")))/>
                </label>
                <div class="sm:col-span-2 flex items-center gap-4">
                    <button class=BUTTON type="submit" disabled=move || save.pending().get()>"Save and deploy"</button>
                    {move || match save.value().get() {
                        Some(Ok(true)) => Some(view! { <span class="text-sm text-emerald-700" data-testid="saved">"Saved; rolling out."</span> }.into_any()),
                        Some(Ok(false)) => Some(view! { <span class="text-sm text-slate-600" data-testid="saved">"Nothing changed; nothing restarted."</span> }.into_any()),
                        _ => None,
                    }}
                </div>
            </ActionForm>
            <FieldError message=Signal::derive(move || save.value().with(|r| other_failure(r, &["image", "env", "volumes"])))/>
        </section>
        <section class=SECTION>
            <Deploys app=deploys_name initial=versions deployed/>
        </section>
        <section class=SECTION>
            <h2 class="text-lg font-semibold text-rose-800">"Delete"</h2>
            <ActionForm action=delete attr:class="mt-3 flex items-center gap-4">
                <input type="hidden" name="name" value=name/>
                <label class="text-sm"><input type="checkbox" name="remove_volumes" value="yes"/>" also delete its volumes (data)"</label>
                <button class="rounded-md bg-rose-700 px-4 py-2 text-sm font-medium text-white" type="submit">"Delete app"</button>
            </ActionForm>
            <FieldError message=Signal::derive(move || delete.value().with(failure))/>
        </section>
    }
}

/// Live instances first, then the latest ended ones with why they ended.
fn instance_rows(
    snapshot: &ClusterSnapshot,
    app: &str,
    traffic: &HashMap<String, Traffic>,
) -> AnyView {
    let service_name = types::app::service_name(app);
    let Some(service) = snapshot.services.values().find(|s| s.name == service_name) else {
        return view! { <li class="py-2 text-slate-400">"No instances."</li> }.into_any();
    };
    let mut tasks: Vec<&TaskInfo> = snapshot
        .tasks
        .values()
        .filter(|t| t.service_id == service.id)
        .collect();
    tasks.sort_by(|a, b| b.since.cmp(&a.since));
    let (live, ended): (Vec<&TaskInfo>, Vec<&TaskInfo>) = tasks
        .into_iter()
        .partition(|t| !t.desired_state.is_terminal());
    live.into_iter()
        .chain(ended.into_iter().take(5))
        .map(|task| {
            let node = task
                .node_id
                .as_ref()
                .and_then(|id| snapshot.nodes.get(id))
                .map(|node| format!("{} ({})", node.hostname, node.addr))
                .unwrap_or_else(|| "unassigned".into());
            let tone = match task.state {
                TaskState::Running => Tone::Good,
                TaskState::Failed | TaskState::Rejected => Tone::Bad,
                state if state.is_terminal() => Tone::Neutral,
                _ => Tone::Busy,
            };
            let detail = task
                .error
                .clone()
                .or_else(|| task.exit_code.filter(|c| *c != 0).map(|c| format!("exit code {c}")))
                .unwrap_or_default();
            view! {
                <li class="flex flex-wrap items-center gap-3 py-1.5" data-testid="app-instance" data-task-state=format!("{:?}", task.state)>
                    <span class="font-mono">{format!("#{}", task.slot.unwrap_or(0))}</span>
                    <Badge tone label=format!("{:?}", task.state)/>
                    <span class="text-slate-600">{node}</span>
                    <span class="text-xs text-slate-500">{format!("since {}", format::timestamp(&task.since))}</span>
                    <span class="font-mono text-xs text-slate-500">{task.address.clone()}</span>
                    {task.address.as_ref().and_then(|address| traffic.get(address)).map(|t| view! {
                        <span class="text-xs text-slate-600" data-testid="traffic">
                            {format!("{:.1} req/s · {} requests", t.per_second, t.total)}
                        </span>
                    })}
                    <span class="text-xs text-rose-700">{detail}</span>
                </li>
            }
        })
        .collect_view()
        .into_any()
}
