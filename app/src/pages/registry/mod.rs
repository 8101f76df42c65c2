//! The Registry page: a wizard to set up where every deploy's image is pushed (managed by
//! Captain, or a third party's, checked first), the registries, and pushing what already
//! runs without a rebuild.

pub mod api;

use crate::components::badge::{Badge, Tone};
use crate::components::form::{error_text, failure, field_failure, other_failure, FieldError};
use crate::live::LiveCluster;
use api::{
    get_registries, AddRegistry, CleanUpRegistry, EnableManagedRegistry, MakeDefaultRegistry,
    PushExistingApps, RegistryOverview, RemoveRegistry,
};
use leptos::prelude::*;
use types::registry::{RegistryInfo, RegistryKind};

const SECTION: &str = "mt-6 rounded-lg border border-slate-200 bg-white p-5";
const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

#[component]
pub fn RegistryPage() -> impl IntoView {
    let enable = ServerAction::<EnableManagedRegistry>::new();
    let add = ServerAction::<AddRegistry>::new();
    let make_default = ServerAction::<MakeDefaultRegistry>::new();
    let remove = ServerAction::<RemoveRegistry>::new();
    let push = ServerAction::<PushExistingApps>::new();
    let overview = Resource::new(
        move || {
            (
                enable.version().get(),
                add.version().get(),
                make_default.version().get(),
                remove.version().get(),
                push.version().get(),
            )
        },
        |_| get_registries(),
    );
    provide_context((make_default, remove));
    view! {
        <h1 class="text-2xl font-semibold">"Registry"</h1>
        <p class="mt-1 text-sm text-slate-600">
            "Every deploy is pushed to the default registry, so every node of the cluster can pull it."
        </p>
        <MultiNodeWarning/>
        <Suspense fallback=|| view! { <p class="mt-4 text-slate-500">"Loading…"</p> }>
            {move || overview.get().map(|result| match result {
                Ok(overview) => view! { <Overview overview push/> }.into_any(),
                Err(error) => view! { <p class="text-rose-700">{error_text(&error)}</p> }.into_any(),
            })}
        </Suspense>
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"1 · Managed by Captain"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "One click: Captain runs a registry on this server with TLS from its own certificate authority and a generated password. No public domain or Let's Encrypt needed."
            </p>
            <ActionForm action=enable attr:class="mt-3">
                <button class=BUTTON type="submit" disabled=move || enable.pending().get() data-testid="enable-managed">
                    {move || if enable.pending().get() { "Starting the registry…" } else { "Run a registry for this cluster" }}
                </button>
            </ActionForm>
            <FieldError message=Signal::derive(move || enable.value().with(failure))/>
            {move || enable.value().get().and_then(Result::ok).map(|info| trust_notes(info.node_trust))}
            <CleanUp/>
        </section>
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"2 · Third-party registry"</h2>
            <p class="mt-1 text-sm text-slate-600">"Checked with these credentials before anything is saved."</p>
            <ActionForm action=add attr:class="mt-3 grid gap-3 sm:grid-cols-2">
                <label class="text-sm">"Address (host[:port])"
                    <input class=INPUT name="address" placeholder="registry.example.com" required/>
                    <FieldError message=Signal::derive(move || add.value().with(|r| field_failure(r, "address")))/>
                </label>
                <label class="text-sm">"Image prefix"
                    <input class=INPUT name="prefix" placeholder="team/apps"/>
                    <FieldError message=Signal::derive(move || add.value().with(|r| field_failure(r, "prefix")))/>
                </label>
                <label class="text-sm">"Username"<input class=INPUT name="username" required autocomplete="off"/></label>
                <label class="text-sm">"Password or token"<input class=INPUT type="password" name="password" required autocomplete="new-password"/></label>
                <label class="text-sm sm:col-span-2">"CA certificate (PEM), only for a registry with a private CA"
                    <textarea class=format!("{INPUT} font-mono") name="ca_pem" rows="3"></textarea>
                </label>
                <div class="sm:col-span-2">
                    <button class=BUTTON type="submit" disabled=move || add.pending().get()>
                        {move || if add.pending().get() { "Checking…" } else { "Check and save" }}
                    </button>
                </div>
            </ActionForm>
            <FieldError message=Signal::derive(move || add.value().with(|r| other_failure(r, &["address", "prefix"])))/>
            {move || add.value().get().and_then(Result::ok).map(|info| trust_notes(info.node_trust))}
        </section>
    }
}

/// Frees the managed registry's disk: old versions out, then garbage collection.
#[component]
fn CleanUp() -> impl IntoView {
    let clean = ServerAction::<CleanUpRegistry>::new();
    view! {
        <ActionForm action=clean attr:class="mt-4 flex flex-wrap items-end gap-3">
            <label class="text-sm">"Keep the newest versions per app"
                <input class=INPUT type="number" name="keep" min="1" max="100" value="3"/>
            </label>
            <button class=BUTTON type="submit" disabled=move || clean.pending().get()>
                {move || if clean.pending().get() { "Cleaning up…" } else { "Clean up the managed registry" }}
            </button>
        </ActionForm>
        <FieldError message=Signal::derive(move || clean.value().with(failure))/>
        {move || clean.value().get().and_then(Result::ok).map(|report| view! {
            <p class="mt-2 text-sm text-slate-700" data-testid="cleanup-report">
                {format!(
                    "Deleted {} image(s); disk used {} → {}.",
                    report.deleted.len(),
                    crate::format::bytes(report.bytes_before as i64),
                    crate::format::bytes(report.bytes_after as i64)
                )}
            </p>
        })}
    }
}

/// Said wherever it matters: with several nodes and no registry, other nodes cannot pull.
#[component]
pub fn MultiNodeWarning() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let registries = Resource::new(|| (), |_| get_registries());
    let show = move || {
        let nodes = live
            .snapshot
            .with(|s| s.as_ref().map_or(0, |s| s.nodes.len()));
        let none = registries
            .get()
            .and_then(Result::ok)
            .is_some_and(|o| !o.registries.iter().any(|r| r.is_default));
        nodes > 1 && none
    };
    view! {
        <Suspense fallback=|| ()>
            <Show when=show>
                <div class="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900" data-testid="no-registry-warning">
                    "This cluster has several nodes but no registry: apps can only run on the node that has their image. "
                    <a class="underline" href="/registry">"Set up a registry"</a>
                </div>
            </Show>
        </Suspense>
    }
}

#[component]
fn Overview(overview: RegistryOverview, push: ServerAction<PushExistingApps>) -> impl IntoView {
    let RegistryOverview {
        registries,
        unpushed,
    } = overview;
    let empty = registries.is_empty();
    let waiting = unpushed.len();
    view! {
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"Registries"</h2>
            {empty.then(|| view! { <p class="mt-2 text-sm text-slate-500">"None yet: images stay on the engine that has them."</p> })}
            <ul class="mt-3 divide-y divide-slate-100 text-sm" data-testid="registries">
                {registries.into_iter().map(registry_row).collect_view()}
            </ul>
            {(waiting > 0).then(|| view! {
                <div class="mt-4 rounded-md bg-slate-50 p-3 text-sm" data-testid="unpushed">
                    <p>{format!("{waiting} app(s) run an image that is not in the default registry: ")}
                        {unpushed.iter().map(|u| u.app.clone()).collect::<Vec<_>>().join(", ")}</p>
                    <ActionForm action=push attr:class="mt-2">
                        <button class=BUTTON type="submit" disabled=move || push.pending().get()>
                            {move || if push.pending().get() { "Pushing…" } else { "Push them all (no rebuild)" }}
                        </button>
                    </ActionForm>
                </div>
            })}
            {move || push.value().get().map(|result| match result {
                Ok(outcomes) => outcomes.into_iter().map(|o| {
                    let failed = o.result.is_err();
                    let text = match o.result {
                        Ok(image) => format!("{}: pushed as {image}", o.app),
                        Err(e) => format!("{}: {e}", o.app),
                    };
                    view! { <p class="mt-1 text-xs" class:text-rose-700=failed>{text}</p> }
                }).collect_view().into_any(),
                Err(error) => view! { <p class="text-rose-700">{error_text(&error)}</p> }.into_any(),
            })}
        </section>
    }
}

fn registry_row(registry: RegistryInfo) -> impl IntoView {
    let (make_default, remove) = expect_context::<(
        ServerAction<MakeDefaultRegistry>,
        ServerAction<RemoveRegistry>,
    )>();
    let id = registry.id;
    let kind = match registry.kind {
        RegistryKind::Managed => "managed by Captain",
        RegistryKind::ThirdParty => "third-party",
    };
    view! {
        <li class="flex flex-wrap items-center gap-3 py-2" data-testid="registry">
            <span class="font-mono">{registry.address.clone()}</span>
            <span class="text-xs text-slate-500">{format!("{kind} · user {} · prefix {}", registry.username, registry.prefix)}</span>
            {registry.is_default.then(|| view! { <Badge tone=Tone::Good label="default".to_string()/> })}
            {(!registry.is_default).then(|| view! {
                <button class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                    on:click=move |_| { make_default.dispatch(MakeDefaultRegistry { id }); }>"Make default"</button>
            })}
            <button class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                on:click=move |_| { remove.dispatch(RemoveRegistry { id }); }>"Remove"</button>
        </li>
    }
}

/// How the other nodes came to trust a new registry's CA.
fn trust_notes(notes: Vec<String>) -> impl IntoView {
    view! {
        <ul class="mt-2 text-xs text-slate-600" data-testid="node-trust">
            {notes.into_iter().map(|note| view! { <li>{note}</li> }).collect_view()}
        </ul>
    }
}
