//! Captain's dashboard: the HTML shell, the router and the pages.
//!
//! Built twice: with `ssr` into the server (pages render to HTML, server functions run
//! against the engine) and with `hydrate` into the browser's WASM (pages come alive and
//! the status websocket keeps them current). Never both at once.

pub mod components;
pub mod format;
pub mod live;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server_context;

use components::layout::Layout;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use pages::auth::{LoginPage, SetupPage};
use pages::{
    apps::{AppDetailPage, AppsPage},
    nodes::NodesPage,
    registry::RegistryPage,
    settings::SettingsPage,
};

/// The HTML document around the app; the server renders it for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.ico"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::provide_live_cluster();
    view! {
        <Stylesheet id="leptos" href="/pkg/captain.css"/>
        <Title text="Captain"/>
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=NodesPage/>
                    <Route path=path!("/apps") view=AppsPage/>
                    <Route path=path!("/apps/:name") view=AppDetailPage/>
                    <Route path=path!("/nodes") view=NodesPage/>
                    <Route path=path!("/registry") view=RegistryPage/>
                    <Route path=path!("/settings") view=SettingsPage/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/setup") view=SetupPage/>
                </Routes>
            </Layout>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1 class="text-2xl font-semibold">"Page not found"</h1>
        <p class="mt-2 text-slate-600">"Nothing lives at this address. Pick a page on the left."</p>
    }
}
