//! The Apps pages: the list with a create form, and each app's own page.

pub mod api;
mod builds;
pub mod builds_api;
mod deploys;
mod detail;
mod domains;
pub mod edge_api;
mod services;

pub use detail::AppDetailPage;

use crate::components::badge::{Badge, Tone};
use crate::components::form::{field_failure, other_failure, FieldError};
use crate::live::LiveCluster;
use api::{list_apps, CreateApp};
use leptos::prelude::*;
use services::OtherServices;
use types::{App, ClusterSnapshot, TaskState};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

/// Running instances of `app` in the live snapshot.
pub fn running_instances(snapshot: &ClusterSnapshot, app: &str) -> usize {
    let service_name = types::app::service_name(app);
    let Some(service) = snapshot.services.values().find(|s| s.name == service_name) else {
        return 0;
    };
    snapshot
        .tasks
        .values()
        .filter(|task| task.service_id == service.id && task.state == TaskState::Running)
        .count()
}

#[component]
pub fn AppsPage() -> impl IntoView {
    let create = ServerAction::<CreateApp>::new();
    let apps = Resource::new(move || create.version().get(), |_| list_apps());
    view! {
        <h1 class="text-2xl font-semibold">"Apps"</h1>
        <crate::pages::registry::MultiNodeWarning/>
        <ActionForm action=create attr:class="mt-6 grid grid-cols-2 gap-3 rounded-lg border border-slate-200 bg-white p-5 sm:grid-cols-5 items-end">
            <label class="text-sm sm:col-span-1">"Name"
                <input class=INPUT name="name" required placeholder="my-app" maxlength=types::validate::APP_NAME_MAX_CHARS/>
                <FieldError message=Signal::derive(move || create.value().with(|r| field_failure(r, "name")))/>
            </label>
            <label class="text-sm sm:col-span-2">"Image (empty: deploy from source on the app's page)"
                <input class=INPUT name="image" placeholder="nginx:1.27" maxlength=types::validate::IMAGE_MAX_CHARS/>
                <FieldError message=Signal::derive(move || create.value().with(|r| field_failure(r, "image")))/>
            </label>
            <label class="text-sm">"HTTP port"
                <input class=INPUT name="http_port" type="number" min="1" max="65535" value="80"/>
            </label>
            <label class="text-sm">"Instances"
                <input class=INPUT name="instances" type="number" min="0" max=types::app::MAX_INSTANCES value="1"/>
            </label>
            <div class="col-span-2 sm:col-span-5">
                <button class=BUTTON type="submit" disabled=move || create.pending().get()>"Create app"</button>
                <FieldError message=Signal::derive(move || create.value().with(|r| other_failure(r, &["name", "image"])))/>
            </div>
        </ActionForm>
        <Suspense fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
            {move || apps.get().map(|result| match result {
                Ok(list) => view! { <AppTable apps=list/> }.into_any(),
                Err(error) => view! { <p class="mt-6 text-rose-700">{crate::components::form::error_text(&error)}</p> }.into_any(),
            })}
        </Suspense>
        <OtherServices/>
    }
}

#[component]
fn AppTable(apps: Vec<App>) -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    if apps.is_empty() {
        return view! { <p class="mt-6 text-slate-500">"No apps yet: create one above."</p> }
            .into_any();
    }
    view! {
        <table class="mt-6 w-full text-left text-sm" data-testid="app-list">
            <thead class="text-xs uppercase text-slate-500">
                <tr><th class="py-2 pr-4">"Name"</th><th class="py-2 pr-4">"Image"</th><th class="py-2 pr-4">"Instances"</th><th class="py-2">"Status"</th></tr>
            </thead>
            <tbody class="divide-y divide-slate-200">
                {apps.into_iter().map(|app| {
                    let name = app.name.clone();
                    let wanted = app.spec.instances as usize;
                    let running = Signal::derive(move || live.snapshot.with(|s| s.as_ref().map(|s| running_instances(s, &name))));
                    let href = format!("/apps/{}", app.name);
                    view! {
                        <tr data-testid="app" data-app-name=app.name.clone()>
                            <td class="py-2 pr-4 font-medium"><a class="underline" href=href>{app.name.clone()}</a></td>
                            <td class="py-2 pr-4 font-mono text-xs">{if app.spec.image.is_empty() { "not deployed".to_owned() } else { app.spec.image.clone() }}</td>
                            <td class="py-2 pr-4">{move || match running.get() {
                                Some(count) => format!("{count} / {wanted}"),
                                None => format!("? / {wanted}"),
                            }}</td>
                            <td class="py-2">{move || {
                                let (tone, label) = match running.get() {
                                    None => (Tone::Neutral, "…"),
                                    Some(count) if count == wanted && wanted == 0 => (Tone::Neutral, "Stopped"),
                                    Some(count) if count >= wanted => (Tone::Good, "Running"),
                                    Some(_) => (Tone::Busy, "Starting"),
                                };
                                view! { <Badge tone label/> }
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
