//! The frame around every page: navigation and the live-connection indicator.

use crate::live::{Connection, LiveCluster};
use leptos::prelude::*;
use leptos_router::components::A;

const NAV: &[(&str, &str)] = &[
    ("/apps", "Apps"),
    ("/nodes", "Nodes"),
    ("/registry", "Registry"),
    ("/settings", "Settings"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <div class="flex min-h-screen">
            <nav class="w-52 shrink-0 bg-slate-900 text-slate-100 flex flex-col">
                <a href="/" class="px-5 py-5 text-lg font-semibold tracking-tight">"⚓ Captain"</a>
                <ul class="flex-1 px-2 space-y-1">
                    {NAV
                        .iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A
                                        href=*href
                                        attr:class="block rounded-md px-3 py-2 text-sm text-slate-300 hover:bg-slate-800 hover:text-white aria-[current=page]:bg-slate-800 aria-[current=page]:text-white"
                                    >
                                        {*label}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <div class="px-5 py-4 border-t border-slate-800">
                    <ConnectionIndicator/>
                </div>
            </nav>
            <main class="flex-1 p-8 max-w-6xl">{children()}</main>
        </div>
    }
}

/// Shows whether the dashboard is receiving live status; the data attribute is what tests
/// and scripts read.
#[component]
fn ConnectionIndicator() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let state = move || live.connection.get();
    view! {
        <div
            data-testid="connection"
            data-state=move || state().code()
            class="flex items-center gap-2 text-xs text-slate-300"
        >
            <span class=move || {
                format!(
                    "inline-block h-2 w-2 rounded-full {}",
                    match state() {
                        Connection::Live => "bg-emerald-400",
                        Connection::Connecting => "bg-slate-400",
                        Connection::Reconnecting { .. } => "bg-amber-400 animate-pulse",
                    },
                )
            }></span>
            <span>{move || state().label()}</span>
        </div>
    }
}
