//! Coloured state badges, one palette for nodes and instances alike.

use leptos::prelude::*;

/// How a state should look: good, in progress, bad or neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Busy,
    Bad,
    Neutral,
}

impl Tone {
    fn classes(self) -> &'static str {
        match self {
            Tone::Good => "bg-emerald-100 text-emerald-800 ring-emerald-600/20",
            Tone::Busy => "bg-amber-100 text-amber-800 ring-amber-600/20",
            Tone::Bad => "bg-rose-100 text-rose-800 ring-rose-600/20",
            Tone::Neutral => "bg-slate-100 text-slate-700 ring-slate-500/20",
        }
    }
}

#[component]
pub fn Badge(tone: Tone, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <span class=format!(
            "inline-flex items-center rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset {}",
            tone.classes(),
        )>{label}</span>
    }
}
