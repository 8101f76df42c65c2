//! The Registry page: where every deploy's image is pushed so all nodes can pull it.

use leptos::prelude::*;

#[component]
pub fn RegistryPage() -> impl IntoView {
    view! {
        <h1 class="text-2xl font-semibold">"Registry"</h1>
        <p class="mt-1 text-sm text-slate-600">
            "Images are pushed to a registry so every node can pull them."
        </p>
        <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-6 text-sm text-slate-600">
            "No registry is configured. With a single server, images stay on this node's engine."
        </div>
    }
}
