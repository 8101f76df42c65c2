//! The live topology: each node a box, each app's instances chips coloured by state, with
//! requests per second when the proxy counts them. Driven by the status websocket, so a
//! node dying turns grey and its chips reappear on the survivors as swarm reschedules
//! them — without a reload.

use crate::live::LiveCluster;
use crate::pages::apps::api::live_traffic;
use leptos::prelude::*;
use std::collections::{BTreeMap, HashMap};
use types::{ClusterSnapshot, NodeInfo, NodeState, TaskInfo, TaskState, Traffic};

#[component]
pub fn Topology() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let traffic = live_traffic();
    view! {
        <section class="mt-6" data-testid="topology">
            <h2 class="text-lg font-semibold">"Topology"</h2>
            <div class="mt-2 flex flex-wrap gap-3">
                {move || {
                    let traffic = traffic.get().and_then(Result::ok).unwrap_or_default();
                    live.snapshot.with(|snapshot| {
                        snapshot.as_ref().map(|s| node_boxes(s, &traffic)).unwrap_or_default()
                    })
                }}
            </div>
        </section>
    }
}

fn node_boxes(snapshot: &ClusterSnapshot, traffic: &HashMap<String, Traffic>) -> Vec<AnyView> {
    let mut nodes: Vec<&NodeInfo> = snapshot.nodes.values().collect();
    nodes.sort_by_key(|n| (!n.leader, n.hostname.clone(), n.id.clone()));
    nodes
        .into_iter()
        .map(|node| {
            // Instances grouped by app (service), in slot order.
            let mut by_app: BTreeMap<String, Vec<&TaskInfo>> = BTreeMap::new();
            for task in snapshot.live_tasks_on(&node.id) {
                by_app
                    .entry(snapshot.service_name(&task.service_id))
                    .or_default()
                    .push(task);
            }
            let down = node.state != NodeState::Ready;
            let frame = if down {
                "min-w-48 rounded-lg border border-slate-300 bg-slate-100 p-3 opacity-60"
            } else {
                "min-w-48 rounded-lg border border-slate-200 bg-white p-3 shadow-sm"
            };
            let groups = by_app
                .into_iter()
                .map(|(service, mut tasks)| {
                    tasks.sort_by_key(|t| t.slot);
                    let app = service.strip_prefix("captain-app-").unwrap_or(&service).to_owned();
                    let chips = tasks.into_iter().map(|task| chip(task, traffic)).collect_view();
                    let group = app.clone();
                    view! {
                        <div class="mt-2" data-app=group>
                            <p class="text-xs font-medium text-slate-600">{app}</p>
                            <div class="mt-1 flex flex-wrap gap-1">{chips}</div>
                        </div>
                    }
                })
                .collect_view();
            view! {
                <div class=frame data-testid="topology-node" data-node-id=node.id.0.clone() data-node-state=format!("{:?}", node.state)>
                    <p class="text-sm font-semibold">{node.hostname.clone()}
                        <span class="ml-2 font-mono text-xs font-normal text-slate-500">{node.addr.clone()}</span>
                    </p>
                    {groups}
                </div>
            }
            .into_any()
        })
        .collect()
}

fn chip(task: &TaskInfo, traffic: &HashMap<String, Traffic>) -> impl IntoView {
    let colour = match task.state {
        TaskState::Running => "bg-emerald-100 text-emerald-800",
        TaskState::Failed | TaskState::Rejected | TaskState::Orphaned => {
            "bg-rose-100 text-rose-800"
        }
        state if state.is_terminal() => "bg-slate-100 text-slate-500",
        _ => "bg-amber-100 text-amber-800",
    };
    let rate = task
        .address
        .as_ref()
        .and_then(|a| traffic.get(a))
        .map(|t| format!(" · {:.0}/s", t.per_second))
        .unwrap_or_default();
    view! {
        <span class=format!("rounded px-1.5 py-0.5 font-mono text-xs {colour}") data-testid="chip" data-task-state=format!("{:?}", task.state)
            title=format!("{:?}", task.state)>
            {format!("#{}{rate}", task.slot.unwrap_or(0))}
        </span>
    }
}
