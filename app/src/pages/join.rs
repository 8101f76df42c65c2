//! The "Join a server" wizard on the Nodes page: read the server's host key for the user
//! to confirm, then check and join it over SSH. The private key travels once, in this
//! request, and is never logged; it is stored (sealed) only if the user ticks "keep".

// The join server functions take one argument per wizard field (the form posts them by
// name), and the code `#[server]` generates from them cannot carry an attribute.
#![allow(clippy::too_many_arguments)]

use crate::components::form::{error_text, failure, FieldError};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinOutcome {
    pub node_id: String,
    /// Each check and step, in order, with what it found.
    pub steps: Vec<(String, String)>,
}

/// This server's address as other servers reach it (the wizard's default Captain IP).
#[server]
pub async fn captain_address() -> Result<String, ServerFnError> {
    Ok(crate::server_context::server_context()?
        .registry
        .managed
        .node_addr)
}

#[server]
pub async fn read_host_key(remote_ip: String, ssh_port: u16) -> Result<String, ServerFnError> {
    use crate::server_context::to_server_error;
    engine::join::host_key(remote_ip.trim(), ssh_port)
        .await
        .map_err(to_server_error)
}

/// `remote` is the server's `IP:SSH-PORT`, as step 1 read its host key.
#[server]
pub async fn join_server(
    captain_ip: String,
    remote: String,
    user: String,
    private_key: String,
    passphrase: Option<String>,
    role: String,
    host_key: String,
    keep_key: Option<String>,
) -> Result<JoinOutcome, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    let context = server_context()?;
    let request = join_request(
        &context,
        captain_ip,
        remote,
        user,
        private_key,
        passphrase,
        role,
        host_key,
    )?;
    let mut steps = Vec::new();
    let node_id = engine::join::join(&context.docker, &request, |p| {
        steps.push((p.step, p.detail))
    })
    .await
    .map_err(to_server_error)?;
    if let Some(step) =
        keep_access_if_asked(&context, keep_key, &node_id, &request).map_err(to_server_error)?
    {
        steps.push(step);
    }
    context.hub.refresh_soon();
    Ok(JoinOutcome { node_id, steps })
}

/// Registries whose private CA every node must trust (the managed one, and third-party
/// ones given a CA).
#[cfg(feature = "ssr")]
fn registry_trust(
    context: &crate::server_context::ServerContext,
) -> Result<Vec<(String, String)>, engine::registry::RegistryStoreError> {
    let store = &context.registry.store;
    let mut trust = Vec::new();
    for registry in store.list()? {
        if let Some(ca) = store.ca_pem(registry.id)? {
            trust.push((registry.address, ca));
        }
    }
    Ok(trust)
}

/// A join running in the background, as the wizard follows it step by step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinJob {
    pub steps: Vec<(String, String)>,
    /// The node ID once Ready, or the error; `None` while it runs.
    pub outcome: Option<Result<String, String>>,
}

/// Starts the same checks and join as [`join_server`] in the background and returns a job
/// ID at once, so the wizard can show each step the moment it completes.
#[server]
pub async fn start_join(
    captain_ip: String,
    remote: String,
    user: String,
    private_key: String,
    passphrase: Option<String>,
    role: String,
    host_key: String,
    keep_key: Option<String>,
) -> Result<String, ServerFnError> {
    use crate::server_context::server_context;
    let context = server_context()?;
    let request = join_request(
        &context,
        captain_ip,
        remote,
        user,
        private_key,
        passphrase,
        role,
        host_key,
    )?;
    let id = engine::auth::random_token();
    let jobs = context.joins.clone();
    {
        let mut jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
        // Keep only recent jobs: a finished one is read by the wizard within a second.
        if jobs.len() > 32 {
            jobs.retain(|_, job| job.outcome.is_none());
        }
        jobs.insert(id.clone(), JoinJob::default());
    }
    let job_id = id.clone();
    tokio::spawn(async move {
        let record = |update: &dyn Fn(&mut JoinJob)| {
            if let Some(job) = jobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&job_id)
            {
                update(job);
            }
        };
        let result = engine::join::join(&context.docker, &request, |p| {
            record(&|job: &mut JoinJob| job.steps.push((p.step.clone(), p.detail.clone())))
        })
        .await;
        let outcome = match result {
            Ok(node_id) => match keep_access_if_asked(&context, keep_key, &node_id, &request) {
                Ok(step) => {
                    if let Some(step) = step {
                        record(&|job: &mut JoinJob| job.steps.push(step.clone()));
                    }
                    Ok(node_id)
                }
                Err(error) => Err(format!(
                    "joined as {node_id}, but the key could not be kept: {error}"
                )),
            },
            Err(error) => Err(error.to_string()),
        };
        record(&|job: &mut JoinJob| job.outcome = Some(outcome.clone()));
        context.hub.refresh_soon();
    });
    Ok(id)
}

#[server]
pub async fn join_status(job: String) -> Result<JoinJob, ServerFnError> {
    let context = crate::server_context::server_context()?;
    let jobs = context.joins.lock().unwrap_or_else(|p| p.into_inner());
    jobs.get(&job)
        .cloned()
        .ok_or_else(|| ServerFnError::new("no such join"))
}

/// The request both join functions build from the wizard's fields, with the registry
/// CAs the new server must trust.
#[cfg(feature = "ssr")]
#[allow(clippy::too_many_arguments)] // one per wizard field
fn join_request(
    context: &crate::server_context::ServerContext,
    captain_ip: String,
    remote: String,
    user: String,
    private_key: String,
    passphrase: Option<String>,
    role: String,
    host_key: String,
) -> Result<JoinRequest, ServerFnError> {
    let (remote_ip, ssh_port) = remote
        .trim()
        .rsplit_once(':')
        .and_then(|(ip, port)| Some((ip.to_owned(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| ServerFnError::new(format!("{remote} is not IP:PORT")))?;
    Ok(JoinRequest {
        captain_ip: captain_ip.trim().to_owned(),
        remote_ip,
        ssh_port,
        user: user.trim().to_owned(),
        private_key: engine::Secret::new(private_key),
        passphrase: passphrase
            .filter(|p| !p.is_empty())
            .map(engine::Secret::new),
        role: if role == "manager" {
            JoinRole::Manager
        } else {
            JoinRole::Worker
        },
        host_key: Some(host_key),
        trust: registry_trust(context).map_err(crate::server_context::to_server_error)?,
    })
}

/// After a join: seals the key when the wizard asked to keep it, and returns the step to
/// report.
#[cfg(feature = "ssr")]
fn keep_access_if_asked(
    context: &crate::server_context::ServerContext,
    keep_key: Option<String>,
    node_id: &str,
    request: &JoinRequest,
) -> Result<Option<(String, String)>, engine::node_access::NodeAccessError> {
    if keep_key.is_none_or(|keep| keep.is_empty()) {
        return Ok(None);
    }
    context.node_access.keep(node_id, request)?;
    Ok(Some((
        "key-kept".into(),
        "SSH key kept, encrypted, for later maintenance".into(),
    )))
}

#[cfg(feature = "ssr")]
use engine::join::{JoinRequest, JoinRole};

#[component]
pub fn JoinWizard() -> impl IntoView {
    let read = ServerAction::<ReadHostKey>::new();
    let join = ServerAction::<StartJoin>::new();
    // The running job, polled every 300 ms until it ends.
    let job = RwSignal::new(None::<JoinJob>);
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let running = join.value().with(|v| matches!(v, Some(Ok(_))))
                    && job.with(|j| j.as_ref().is_none_or(|j| j.outcome.is_none()));
                if running {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_millis(300),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let polled = LocalResource::new(move || {
        let id = join.value().get().and_then(Result::ok);
        let _ = tick.get();
        async move {
            match id {
                Some(id) => join_status(id).await.ok(),
                None => None,
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Some(current)) = polled.get() {
            job.set(Some(current));
        }
    });
    let captain = Resource::new(|| (), |_| captain_address());
    let remote_ip = RwSignal::new(String::new());
    let port = RwSignal::new("22".to_owned());
    let fingerprint = move || read.value().get().and_then(Result::ok);
    view! {
        <section class="mt-6 rounded-lg border border-slate-200 bg-white p-5" data-testid="join-wizard">
            <h2 class="text-lg font-semibold">"Join a server"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "Ports 2377/tcp, 7946/tcp+udp and 4789/udp must be open between the servers. Docker must be installed on the new server."
            </p>
            <ActionForm action=read attr:class="mt-3 grid gap-3 sm:grid-cols-3 items-end">
                <label class="text-sm">"Remote IP (as Captain sees it)"
                    <input class=INPUT name="remote_ip" required bind:value=remote_ip data-testid="join-remote-ip"/>
                </label>
                <label class="text-sm">"SSH port"
                    <input class=INPUT type="number" name="ssh_port" min="1" max="65535" bind:value=port/>
                </label>
                <button class=BUTTON type="submit" disabled=move || read.pending().get() data-testid="join-read-key">"1 · Show its host key"</button>
            </ActionForm>
            <FieldError message=Signal::derive(move || read.value().with(failure))/>
            {move || fingerprint().map(|key| view! {
                <div class="mt-4 rounded-md bg-slate-50 p-3 text-sm">
                    <p>"The server's host key is "<span class="font-mono" data-testid="join-fingerprint">{key.clone()}</span>". Continue only if that is the server you mean."</p>
                    <ActionForm action=join attr:class="mt-3 grid gap-3 sm:grid-cols-2">
                        <input type="hidden" name="remote" value=format!("{}:{}", remote_ip.get().trim(), port.get().trim())/>
                        <input type="hidden" name="host_key" value=key/>
                        <label class="text-sm">"Captain IP (as the new server sees it)"
                            <input class=INPUT name="captain_ip" required value=move || captain.get().and_then(Result::ok).unwrap_or_default()/>
                        </label>
                        <label class="text-sm">"SSH user"<input class=INPUT name="user" value="root" required/></label>
                        <label class="text-sm sm:col-span-2">"Private key (OpenSSH or PEM; used for this join only, unless kept below)"
                            <textarea class=format!("{INPUT} font-mono") name="private_key" rows="4" required autocomplete="off" data-testid="join-key"></textarea>
                        </label>
                        <label class="text-sm">"Key passphrase (if any)"<input class=INPUT type="password" name="passphrase" autocomplete="off"/></label>
                        <label class="text-sm">"Join as"
                            <select class=INPUT name="role"><option value="worker">"worker"</option><option value="manager">"manager"</option></select>
                            <span class="mt-1 block text-xs text-slate-500">
                                "Managers need a majority to stay up: use 1, 3 or 5 of them, never 2."
                            </span>
                        </label>
                        <label class="text-sm sm:col-span-2">
                            <input type="checkbox" name="keep_key" value="yes" data-testid="join-keep-key"/>
                            " Keep the key, encrypted, so Captain can make this server leave the swarm when it is removed"
                        </label>
                        <div class="sm:col-span-2">
                            <button class=BUTTON type="submit" disabled=move || join.pending().get() data-testid="join-submit">
                                {move || if join.pending().get() { "Checking and joining…" } else { "2 · Check and join" }}
                            </button>
                        </div>
                    </ActionForm>
                </div>
            })}
            {move || join.value().get().and_then(|started| started.err()).map(|error| view! {
                <p class="mt-3 text-sm text-rose-700" data-testid="join-error">{error_text(&error)}</p>
            })}
            {move || job.get().map(|job| view! {
                <ul class="mt-3 text-sm text-emerald-800" data-testid="join-steps">
                    {job.steps.into_iter().map(|(step, detail)| view! { <li>{format!("✓ {step}: {detail}")}</li> }).collect_view()}
                    {(job.outcome.is_none()).then(|| view! { <li class="text-slate-500">"…"</li> })}
                </ul>
                {match job.outcome {
                    Some(Err(error)) => Some(view! { <p class="mt-2 text-sm text-rose-700" data-testid="join-error">{error}</p> }),
                    _ => None,
                }}
            })}
        </section>
    }
}
