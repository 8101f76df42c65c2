//! The app page's "Domains & HTTPS" panel: where the app answers, each name's certificate,
//! adding a custom domain (checked to point here), and the HTTPS switches.

use super::edge_api::{get_app_edge, AddDomain, RemoveDomain, SetHttps};
use crate::components::badge::{Badge, Tone};
use crate::components::form::{error_text, failure, FieldError};
use crate::format;
use leptos::prelude::*;
use types::{AppEdge, DomainInfo};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

#[component]
pub fn DomainsPanel(app: String) -> impl IntoView {
    let add = ServerAction::<AddDomain>::new();
    let remove = ServerAction::<RemoveDomain>::new();
    let https = ServerAction::<SetHttps>::new();
    let resource_name = app.clone();
    let edge = Resource::new(
        move || {
            (
                add.version().get(),
                remove.version().get(),
                https.version().get(),
            )
        },
        move |_| get_app_edge(resource_name.clone()),
    );
    let (add_name, https_name) = (app.clone(), app.clone());
    view! {
        <h2 class="text-lg font-semibold">"Domains & HTTPS"</h2>
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || edge.get().map(|result| match result {
                Ok(edge) => view! { <DomainList edge app=app.clone() remove/> }.into_any(),
                Err(error) => view! { <p class="text-rose-700">{error_text(&error)}</p> }.into_any(),
            })}
        </Suspense>
        <ActionForm action=add attr:class="mt-4 flex flex-wrap items-end gap-3">
            <input type="hidden" name="name" value=add_name/>
            <label class="text-sm grow">"Add a custom domain (point its A record at this server first)"
                <input class=INPUT name="domain" placeholder="www.example.com" maxlength="253" data-testid="domain-input"/>
            </label>
            <button class=BUTTON type="submit" disabled=move || add.pending().get()>
                {move || if add.pending().get() { "Checking…" } else { "Check and add" }}
            </button>
        </ActionForm>
        <FieldError message=Signal::derive(move || add.value().with(failure).map(|m| m.trim_start_matches("domain: ").to_owned()))/>
        <FieldError message=Signal::derive(move || remove.value().with(failure))/>
        {move || edge.get().and_then(Result::ok).map(|current| {
            let https_name = https_name.clone();
            view! {
            <ActionForm action=https attr:class="mt-4 flex flex-wrap items-center gap-4">
                <input type="hidden" name="name" value=https_name.clone()/>
                <label class="text-sm"><input type="checkbox" name="https" value="on" checked=current.https data-testid="https-toggle"/>" Serve over HTTPS (certificates from ACME, renewed automatically)"</label>
                <label class="text-sm"><input type="checkbox" name="force_https" value="on" checked=current.force_https/>" Redirect HTTP to HTTPS"</label>
                <button class=BUTTON type="submit" disabled=move || https.pending().get() data-testid="https-save">
                    {move || if https.pending().get() { "Requesting certificates…" } else { "Save" }}
                </button>
            </ActionForm>
        }})}
        <FieldError message=Signal::derive(move || https.value().with(failure))/>
    }
}

#[component]
fn DomainList(edge: AppEdge, app: String, remove: ServerAction<RemoveDomain>) -> impl IntoView {
    let rows = edge
        .domains
        .iter()
        .map(|domain| domain_row(&edge, domain, &app, remove))
        .collect_view();
    view! { <ul class="mt-3 divide-y divide-slate-100 text-sm" data-testid="domains">{rows}</ul> }
}

fn domain_row(
    edge: &AppEdge,
    domain: &DomainInfo,
    app: &str,
    remove: ServerAction<RemoveDomain>,
) -> impl IntoView {
    let url = edge.url_for(domain);
    let href = url.clone();
    let (tone, label) = match (&domain.certificate, edge.https) {
        (Some(certificate), true) => (
            Tone::Good,
            format!("HTTPS until {}", format::unix_time(certificate.not_after)),
        ),
        (None, true) => (Tone::Bad, "HTTPS: no certificate yet".to_owned()),
        (_, false) => (Tone::Neutral, "HTTP".to_owned()),
    };
    let removal = domain.custom.then(|| {
        let (app, name) = (app.to_owned(), domain.name.clone());
        view! {
            <button class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                on:click=move |_| { remove.dispatch(RemoveDomain { name: app.clone(), domain: name.clone() }); }>
                "Remove"
            </button>
        }
    });
    view! {
        <li class="flex flex-wrap items-center gap-3 py-2" data-testid="domain" data-domain=domain.name.clone()>
            <a class="font-mono text-sky-700 hover:underline" href=href target="_blank" rel="noopener">{url}</a>
            <Badge tone label/>
            {(!domain.custom).then(|| view! { <span class="text-xs text-slate-500">"default"</span> })}
            <span class="text-xs text-rose-700" data-testid="domain-problem">{domain.problem.clone()}</span>
            {removal}
        </li>
    }
}
