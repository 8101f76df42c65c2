//! An app's live logs: every instance's lines, tagged with its instance number, following
//! new output as it is written.

use leptos::html::Pre;
use leptos::prelude::*;
use std::collections::VecDeque;
use types::LogLine;

/// Lines kept on screen; older ones scroll away.
#[cfg(feature = "hydrate")]
const KEEP: usize = 500;

#[component]
pub fn LogsPanel(app: String) -> impl IntoView {
    let lines = RwSignal::new(VecDeque::<LogLine>::new());
    let follow = RwSignal::new(true);
    let view_ref = NodeRef::<Pre>::new();
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(stream(app.clone(), lines));
        #[cfg(not(feature = "hydrate"))]
        let _ = &app;
    });
    // Follow mode keeps the newest line in view.
    Effect::new(move |_| {
        lines.track();
        if follow.get() {
            if let Some(pre) = view_ref.get() {
                pre.set_scroll_top(pre.scroll_height());
            }
        }
    });
    view! {
        <div class="flex items-center gap-3">
            <h2 class="text-lg font-semibold">"Logs"</h2>
            <label class="text-sm text-slate-600">
                <input type="checkbox" prop:checked=move || follow.get() on:change=move |_| follow.update(|f| *f = !*f)/>
                " follow"
            </label>
        </div>
        <pre node_ref=view_ref data-testid="logs"
            class="mt-3 h-72 overflow-auto rounded-md bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-100">
            {move || lines.with(|lines| lines.is_empty().then(|| view! {
                <div class="text-slate-500">"No output yet. New lines appear here as instances write them."</div>
            }))}
            {move || lines.with(|lines| lines.iter().map(|line| {
                let class = if line.stderr { "text-rose-300" } else { "" };
                view! {
                    <div class=class>
                        <span class="text-slate-500">{format!("#{} ", line.slot.unwrap_or(0))}</span>
                        <span class="text-slate-500">{line.timestamp.get(11..19).unwrap_or_default().to_owned()}" "</span>
                        {line.text.clone()}
                    </div>
                }
            }).collect_view())}
        </pre>
    }
}

#[cfg(feature = "hydrate")]
async fn stream(app: String, lines: RwSignal<VecDeque<LogLine>>) {
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    let path = format!("/api/apps/{app}/logs?tail=100");
    let Some(socket) =
        crate::live::client::websocket_url(&path).and_then(|url| WebSocket::open(&url).ok())
    else {
        return;
    };
    let (_sender, mut receiver) = socket.split();
    while let Some(Ok(Message::Text(text))) = receiver.next().await {
        if let Ok(line) = serde_json::from_str::<LogLine>(&text) {
            lines.update(|lines| {
                lines.push_back(line);
                if lines.len() > KEEP {
                    lines.pop_front();
                }
            });
        }
    }
}
