//! Actions on a node, from its card on the Nodes page: drain (after a preview of the
//! instances that will move), activate, promote, demote, remove. The card itself updates
//! from the live status stream as swarm carries the change out.

use crate::components::form::{error_text, failure, FieldError};
use leptos::prelude::*;
use types::{Availability, NodeInfo, NodeRole, NodeState, PlacedInstance};

const SMALL: &str =
    "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 disabled:opacity-50";

/// What draining `node_id` would move now.
#[server]
pub async fn drain_preview(node_id: String) -> Result<Vec<PlacedInstance>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    engine::nodes::instances_on(&context.docker, &node_id)
        .await
        .map_err(to_server_error)
}

/// `action`: drain, activate, promote, demote or remove; answers what happened.
#[server]
pub async fn node_action(node_id: String, action: String) -> Result<String, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    use engine::bollard::models::{NodeSpecAvailabilityEnum, NodeSpecRoleEnum};
    let context = server_context()?;
    let docker = &context.docker;
    let result = match action.as_str() {
        "drain" => {
            engine::nodes::set_availability(docker, &node_id, NodeSpecAvailabilityEnum::DRAIN)
                .await
                .map(|()| "drained".to_owned())
        }
        "activate" => {
            engine::nodes::set_availability(docker, &node_id, NodeSpecAvailabilityEnum::ACTIVE)
                .await
                .map(|()| "active".to_owned())
        }
        "promote" => engine::nodes::set_role(docker, &node_id, NodeSpecRoleEnum::MANAGER)
            .await
            .map(|()| "promoted to manager".to_owned()),
        "demote" => engine::nodes::set_role(docker, &node_id, NodeSpecRoleEnum::WORKER)
            .await
            .map(|()| "demoted to worker".to_owned()),
        "remove" => {
            let own = context.info.node_id.clone();
            let timeout = std::time::Duration::from_secs(120);
            let access = context
                .node_access
                .request(&node_id)
                .map_err(to_server_error)?;
            let removed =
                engine::nodes::remove(docker, &node_id, &own, timeout, access.as_ref()).await;
            if removed.is_ok() {
                context
                    .node_access
                    .forget(&node_id)
                    .map_err(to_server_error)?;
            }
            removed.map(|left| left.describe())
        }
        other => return Err(to_server_error(format!("unknown node action {other:?}"))),
    };
    let done = result.map_err(to_server_error)?;
    context.hub.refresh_soon();
    Ok(done)
}

/// Spreads multi-instance apps over every node (after a join, say); returns the apps.
#[server]
pub async fn rebalance_apps() -> Result<Vec<String>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let owner = context.registry.managed.owner.clone();
    let moved = engine::nodes::rebalance(&context.docker, &owner)
        .await
        .map_err(to_server_error)?;
    context.hub.refresh_soon();
    Ok(moved)
}

/// The "spread apps over all nodes" button: swarm never rebalances by itself.
#[component]
pub fn RebalanceButton() -> impl IntoView {
    let rebalance = ServerAction::<RebalanceApps>::new();
    view! {
        <ActionForm action=rebalance attr:class="mt-3 flex items-center gap-3">
            <button class=SMALL type="submit" disabled=move || rebalance.pending().get() data-testid="rebalance">
                "Spread apps over all nodes"
            </button>
            <span class="text-xs text-slate-500">
                {move || match rebalance.value().get() {
                    Some(Ok(apps)) if apps.is_empty() => "No app has more than one instance.".to_owned(),
                    Some(Ok(apps)) => format!("Redeploying in place: {}", apps.join(", ")),
                    Some(Err(error)) => error_text(&error),
                    None => "Swarm never moves running instances by itself, e.g. onto a new node.".to_owned(),
                }}
            </span>
        </ActionForm>
    }
}

#[component]
pub fn NodeActions(node: NodeInfo) -> impl IntoView {
    let act = ServerAction::<NodeAction>::new();
    let preview = ServerAction::<DrainPreview>::new();
    let id = node.id.0.clone();
    let button = move |label: &'static str, action: &'static str| {
        let id = id.clone();
        view! {
            <button class=SMALL disabled=move || act.pending().get() data-action=action
                on:click=move |_| { act.dispatch(NodeAction { node_id: id.clone(), action: action.into() }); }>
                {label}
            </button>
        }
    };
    let preview_id = node.id.0.clone();
    let drained = node.availability != Availability::Active;
    let manager = node.role == NodeRole::Manager;
    let down = node.state != NodeState::Ready;
    view! {
        <div class="mt-3 flex flex-wrap items-center gap-2">
            {(!drained && !down).then(|| view! {
                <button class=SMALL data-action="preview-drain"
                    on:click=move |_| { preview.dispatch(DrainPreview { node_id: preview_id.clone() }); }>
                    "Drain…"
                </button>
            })}
            {drained.then(|| button("Activate", "activate"))}
            {(!manager && !down).then(|| button("Promote to manager", "promote"))}
            {(manager && !node.leader).then(|| button("Demote to worker", "demote"))}
            {(!node.leader).then(|| button(if down { "Remove (node is down)" } else { "Remove…" }, "remove"))}
        </div>
        {move || preview.value().get().map(|result| match result {
            Ok(instances) => {
                let listed = if instances.is_empty() {
                    "Nothing runs there now.".to_owned()
                } else {
                    instances.iter().map(|i| format!("{}.{}", i.service, i.slot.unwrap_or(0))).collect::<Vec<_>>().join(", ")
                };
                let count = instances.len();
                view! {
                    <div class="mt-2 rounded-md bg-amber-50 p-3 text-xs text-amber-900" data-testid="drain-preview">
                        <p>{format!("Draining moves {count} instance(s) to other nodes: {listed}")}</p>
                        <div class="mt-2">{button("Confirm drain", "drain")}</div>
                    </div>
                }.into_any()
            }
            Err(error) => view! { <p class="mt-2 text-xs text-rose-700">{error_text(&error)}</p> }.into_any(),
        })}
        {move || act.value().get().and_then(Result::ok).map(|done| view! {
            <p class="mt-2 text-xs text-slate-600" data-testid="node-action-result">{done}</p>
        })}
        <FieldError message=Signal::derive(move || act.value().with(failure))/>
    }
}
