//! The Nodes page: every server in the swarm, live, with the instances running on it.

use crate::components::badge::{Badge, Tone};
use crate::format;
use crate::live::LiveCluster;
use leptos::prelude::*;
use types::{Availability, ClusterSnapshot, NodeInfo, NodeRole, NodeState, TaskInfo, TaskState};

/// The cluster as the server sees it now; the first render uses it, the websocket takes over.
#[server]
pub async fn get_cluster_snapshot() -> Result<ClusterSnapshot, ServerFnError> {
    Ok(crate::server_context::server_context()?.hub.snapshot())
}

#[component]
pub fn NodesPage() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let initial = Resource::new(|| (), |_| get_cluster_snapshot());
    view! {
        <h1 class="text-2xl font-semibold">"Nodes"</h1>
        <crate::pages::registry::MultiNodeWarning/>
        <p class="mt-1 text-sm text-slate-600">
            "Every server in the swarm and the instances on it, updated the moment Docker reports a change."
        </p>
        <super::topology::Topology/>
        <super::node_actions::RebalanceButton/>
        <super::join::JoinWizard/>
        <Suspense fallback=|| view! { <p class="mt-6 text-slate-500">"Loading the cluster…"</p> }>
            {move || {
                let server_view = initial.get();
                if let Some(Err(error)) = &server_view {
                    if live.snapshot.get().is_none() {
                        return view! {
                            <p class="mt-6 text-rose-700">{format!("Cannot load the cluster: {error}")}</p>
                        }
                            .into_any();
                    }
                }
                match live.current_or(server_view.and_then(Result::ok)) {
                    Some(snapshot) => view! { <NodeList snapshot/> }.into_any(),
                    None => view! { <p class="mt-6 text-slate-500">"Loading the cluster…"</p> }.into_any(),
                }
            }}
        </Suspense>
    }
}

#[component]
fn NodeList(snapshot: ClusterSnapshot) -> impl IntoView {
    let mut nodes: Vec<&NodeInfo> = snapshot.nodes.values().collect();
    // Leader first, then managers, then by name; the ID breaks ties between twin hostnames.
    nodes.sort_by_key(|node| {
        (
            !node.leader,
            node.role != NodeRole::Manager,
            node.hostname.clone(),
            node.id.clone(),
        )
    });
    let cards = nodes
        .into_iter()
        .map(|node| view! { <NodeCard node=node.clone() snapshot=&snapshot/> })
        .collect_view();
    view! { <div class="mt-6 grid gap-4" data-testid="node-list">{cards}</div> }
}

#[component]
fn NodeCard<'a>(node: NodeInfo, snapshot: &'a ClusterSnapshot) -> impl IntoView {
    let mut tasks: Vec<&TaskInfo> = snapshot.live_tasks_on(&node.id).collect();
    tasks.sort_by_key(|task| (snapshot.service_name(&task.service_id), task.slot));
    let instances = tasks
        .into_iter()
        .map(|task| {
            let name = format!(
                "{}.{}",
                snapshot.service_name(&task.service_id),
                task.slot.unwrap_or(0)
            );
            view! { <InstanceRow task=task.clone() name/> }
        })
        .collect_view();
    let state_tone = match node.state {
        NodeState::Ready => Tone::Good,
        NodeState::Down | NodeState::Disconnected => Tone::Bad,
        NodeState::Unknown => Tone::Busy,
    };
    let availability_tone = match node.availability {
        Availability::Active => Tone::Neutral,
        Availability::Pause | Availability::Drain => Tone::Busy,
    };
    let role = match (node.role, node.leader) {
        (NodeRole::Manager, true) => "Manager · Leader",
        (NodeRole::Manager, false) => "Manager",
        (NodeRole::Worker, _) => "Worker",
    };
    view! {
        <section
            class="rounded-lg border border-slate-200 bg-white p-5 shadow-sm"
            data-testid="node"
            data-node-id=node.id.0.clone()
            data-node-state=format!("{:?}", node.state)
        >
            <div class="flex flex-wrap items-center gap-2">
                <h2 class="text-lg font-semibold">{node.hostname.clone()}</h2>
                <span class="font-mono text-xs text-slate-500">{format::short_id(&node.id.0).to_owned()}</span>
                <Badge tone=Tone::Neutral label=role/>
                <Badge tone=state_tone label=format!("{:?}", node.state)/>
                <Badge tone=availability_tone label=format!("{:?}", node.availability)/>
            </div>
            <dl class="mt-3 grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-4">
                <Fact label="Address" value=node.addr.clone()/>
                <Fact label="Engine" value=node.engine_version.clone()/>
                <Fact label="CPUs" value=format!("{:.1}", node.cpus())/>
                <Fact label="Memory" value=format::bytes(node.memory_bytes)/>
            </dl>
            <super::node_actions::NodeActions node=node.clone()/>
            <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Instances"</h3>
            <ul class="mt-1 divide-y divide-slate-100 text-sm">
                {if instances.is_empty() {
                    view! { <li class="py-1 text-slate-400">"None"</li> }.into_any()
                } else {
                    instances.into_any()
                }}
            </ul>
        </section>
    }
}

#[component]
fn Fact(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div>
            <dt class="text-slate-500">{label}</dt>
            <dd class="font-medium">{value}</dd>
        </div>
    }
}

#[component]
fn InstanceRow(task: TaskInfo, name: String) -> impl IntoView {
    let tone = match task.state {
        TaskState::Running => Tone::Good,
        TaskState::Failed | TaskState::Rejected | TaskState::Orphaned => Tone::Bad,
        state if state.is_terminal() => Tone::Neutral,
        _ => Tone::Busy,
    };
    let detail = task.error.clone().or_else(|| {
        task.exit_code
            .filter(|code| *code != 0)
            .map(|code| format!("exit code {code}"))
    });
    view! {
        <li
            class="flex flex-wrap items-center gap-3 py-1.5"
            data-testid="instance"
            data-task-id=task.id.0.clone()
            data-task-state=format!("{:?}", task.state)
        >
            <span class="font-mono">{name}</span>
            <Badge tone label=format!("{:?}", task.state)/>
            <span class="text-xs text-slate-500">{format!("since {}", format::timestamp(&task.since))}</span>
            {detail.map(|text| view! { <span class="text-xs text-rose-700">{text}</span> })}
        </li>
    }
}
