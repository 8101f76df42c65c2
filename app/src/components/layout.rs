//! The frame around every page: navigation and the live-connection indicator.

use crate::live::{Connection, LiveCluster};
use crate::pages::auth::SignOut;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// Pages shown before signing in: no navigation, no live status.
pub fn is_sign_in_page(path: &str) -> bool {
    path == "/login" || path == "/setup"
}

const NAV: &[(&str, &str)] = &[
    ("/apps", "Apps"),
    ("/nodes", "Nodes"),
    ("/registry", "Registry"),
    ("/settings", "Settings"),
];

#[component]
pub fn Layout(children: ChildrenFn) -> impl IntoView {
    let location = use_location();
    let bare = move || is_sign_in_page(&location.pathname.get());
    move || {
        let children = children.clone();
        if bare() {
            view! { <main class="min-h-screen px-4">{children()}</main> }.into_any()
        } else {
            view! { <Frame>{children()}</Frame> }.into_any()
        }
    }
}

#[component]
fn Frame(children: Children) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
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
                <div class="px-5 py-4 border-t border-slate-800 space-y-3">
                    <ConnectionIndicator/>
                    <ActionForm action=sign_out>
                        <button type="submit" class="text-xs text-slate-400 hover:text-white" data-testid="sign-out">
                            "Sign out"
                        </button>
                    </ActionForm>
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
