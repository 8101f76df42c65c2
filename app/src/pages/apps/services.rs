//! Services on the swarm that are not Captain apps (made by hand or by other tools).

use crate::live::LiveCluster;
use crate::pages::nodes::get_cluster_snapshot;
use leptos::prelude::*;
use types::{ClusterSnapshot, ServiceInfo, TaskState};

#[component]
pub fn OtherServices() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let initial = Resource::new(|| (), |_| get_cluster_snapshot());
    view! {
        <h2 class="mt-10 text-lg font-semibold">"Other services on the swarm"</h2>
        <Suspense fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
            {move || {
                live.current_or(initial.get().and_then(Result::ok))
                    .map(|snapshot| view! { <ServiceTable snapshot/> })
            }}
        </Suspense>
    }
}

#[component]
fn ServiceTable(snapshot: ClusterSnapshot) -> impl IntoView {
    if snapshot.services.is_empty() {
        return view! { <p class="mt-6 text-slate-500">"No services are running yet."</p> }
            .into_any();
    }
    let mut services: Vec<&ServiceInfo> = snapshot.services.values().collect();
    services.sort_by_key(|service| service.name.clone());
    let rows = services
        .into_iter()
        .map(|service| {
            let running = snapshot
                .tasks
                .values()
                .filter(|task| task.service_id == service.id && task.state == TaskState::Running)
                .count();
            let wanted = service
                .replicas
                .map(|n| n.to_string())
                .unwrap_or_else(|| "global".into());
            view! {
                <tr data-testid="service" data-service-name=service.name.clone()>
                    <td class="py-2 pr-4 font-medium">{service.name.clone()}</td>
                    <td class="py-2 pr-4 font-mono text-xs">{service.image.clone()}</td>
                    <td class="py-2">{format!("{running} / {wanted}")}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="mt-3 w-full text-left text-sm">
            <thead class="text-xs uppercase text-slate-500">
                <tr>
                    <th class="py-2 pr-4">"Name"</th>
                    <th class="py-2 pr-4">"Image"</th>
                    <th class="py-2">"Running / wanted"</th>
                </tr>
            </thead>
            <tbody class="divide-y divide-slate-200">{rows}</tbody>
        </table>
    }
    .into_any()
}
