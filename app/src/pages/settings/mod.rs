//! The Settings page: password, sessions and API tokens, and how this Captain runs
//! (root domain, data folder, Docker, swarm).

mod security;

use leptos::prelude::*;
use security::{ApiTokens, ChangePasswordForm, Sessions};
use types::ServerInfo;

#[server]
pub async fn get_server_info() -> Result<ServerInfo, ServerFnError> {
    Ok(crate::server_context::server_context()?.info)
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_server_info());
    view! {
        <h1 class="text-2xl font-semibold">"Settings"</h1>
        <ChangePasswordForm/>
        <Sessions/>
        <ApiTokens/>
        <DashboardHttps/>
        <h2 class="mt-10 text-lg font-semibold">"Server"</h2>
        <Suspense fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
            {move || {
                info.get()
                    .map(|result| match result {
                        Ok(info) => view! { <ServerFacts info/> }.into_any(),
                        Err(error) => view! { <p class="mt-6 text-rose-700">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn ServerFacts(info: ServerInfo) -> impl IntoView {
    let advertise = if info.advertise_addr.is_empty() {
        "chosen by Docker".to_owned()
    } else {
        info.advertise_addr
    };
    let facts = [
        ("Version", info.version),
        ("Apps are served at", format!("APP.{}", info.root_domain)),
        ("Data folder", info.data_dir),
        ("Docker engine", info.docker_host),
        ("Swarm advertise address", advertise),
        ("Swarm node", info.node_id),
        ("Apps network", info.apps_network),
        ("Apps served at", info.ingress),
    ];
    view! {
        <dl class="mt-3 divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white text-sm">
            {facts
                .into_iter()
                .map(|(label, value)| {
                    view! {
                        <div class="grid grid-cols-3 gap-4 px-5 py-3">
                            <dt class="text-slate-500">{label}</dt>
                            <dd class="col-span-2 font-mono">{value}</dd>
                        </div>
                    }
                })
                .collect_view()}
        </dl>
    }
}

/// The dashboard at `captain.<root domain>` through Captain's proxy, and its HTTPS.
#[component]
fn DashboardHttps() -> impl IntoView {
    use crate::components::form::{failure, FieldError};
    use crate::pages::apps::edge_api::{get_dashboard_edge, SetDashboardHttps};
    let set = ServerAction::<SetDashboardHttps>::new();
    let edge = Resource::new(move || set.version().get(), |_| get_dashboard_edge());
    view! {
        <h2 class="mt-10 text-lg font-semibold">"Dashboard address"</h2>
        <Suspense fallback=|| ()>
            {move || edge.get().and_then(Result::ok).map(|domain| {
                let secured = domain.certificate.is_some();
                view! {
                    <p class="mt-2 text-sm text-slate-600">
                        "Through Captain's proxy the dashboard also answers at "
                        <span class="font-mono" data-testid="dashboard-domain">{domain.name.clone()}</span>
                        {if secured { " (HTTPS, HTTP redirected)." } else { "." }}
                    </p>
                    <span class="text-xs text-rose-700">{domain.problem.clone()}</span>
                    <ActionForm action=set attr:class="mt-2 flex items-center gap-3">
                        <label class="text-sm"><input type="checkbox" name="https" value="on" checked=secured/>" Serve it over HTTPS (certificate from ACME)"</label>
                        <button class="rounded-md bg-slate-900 px-3 py-1.5 text-sm text-white disabled:opacity-50" type="submit" disabled=move || set.pending().get()>"Save"</button>
                    </ActionForm>
                }
            })}
        </Suspense>
        <FieldError message=Signal::derive(move || set.value().with(failure))/>
    }
}
