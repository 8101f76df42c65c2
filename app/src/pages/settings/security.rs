//! Security settings: change the password, see and end sessions, manage API tokens.

use crate::components::form::{error_text, failure, FieldError};
use crate::format;
use leptos::prelude::*;
use types::{ApiTokenInfo, NewApiToken, SessionInfo};

#[server]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), ServerFnError> {
    use crate::server_context::{client_addr, server_context, session_id, to_server_error};
    if new != confirm {
        return Err(ServerFnError::new("the two new passwords differ"));
    }
    let keep = session_id().await?;
    server_context()?
        .auth
        .change_password(&current, &new, client_addr().await?, keep.as_deref())
        .await
        .map_err(to_server_error)
}

#[server]
pub async fn list_sessions() -> Result<Vec<SessionInfo>, ServerFnError> {
    use crate::server_context::{server_context, session_id, to_server_error};
    let current = session_id().await?;
    server_context()?
        .auth
        .sessions(current.as_deref())
        .map_err(to_server_error)
}

#[server]
pub async fn revoke_session(id: String) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .auth
        .revoke_session(&id)
        .map_err(to_server_error)?;
    Ok(())
}

#[server]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?.auth.api_tokens().map_err(to_server_error)
}

#[server]
pub async fn create_api_token(name: String) -> Result<NewApiToken, ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .auth
        .create_api_token(&name)
        .map_err(to_server_error)
}

#[server]
pub async fn revoke_api_token(id: String) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, to_server_error};
    server_context()?
        .auth
        .revoke_api_token(&id)
        .map_err(to_server_error)?;
    Ok(())
}

const SECTION: &str = "mt-8 rounded-lg border border-slate-200 bg-white p-6";
const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
const BUTTON: &str = "rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";
const SMALL_BUTTON: &str =
    "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100";

#[component]
pub fn ChangePasswordForm() -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let max = types::validate::PASSWORD_MAX_BYTES;
    view! {
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"Password"</h2>
            <p class="text-sm text-slate-600">"Changing it signs out every other browser."</p>
            <ActionForm action attr:class="mt-4 grid max-w-md gap-3">
                <label class="text-sm">"Current password"
                    <input class=INPUT type="password" name="current" required autocomplete="current-password" maxlength=max/>
                </label>
                <label class="text-sm">"New password"
                    <input class=INPUT type="password" name="new" required autocomplete="new-password" maxlength=max
                        minlength=types::validate::PASSWORD_MIN_CHARS/>
                </label>
                <label class="text-sm">"Repeat the new password"
                    <input class=INPUT type="password" name="confirm" required autocomplete="new-password" maxlength=max/>
                </label>
                <div><button class=BUTTON type="submit" disabled=move || action.pending().get()>"Change password"</button></div>
            </ActionForm>
            <FieldError message=Signal::derive(move || action.value().with(failure))/>
            {move || matches!(action.value().get(), Some(Ok(()))).then(|| view! {
                <p class="mt-3 text-sm text-emerald-700" data-testid="password-changed">"Password changed; other sessions ended."</p>
            })}
        </section>
    }
}

#[component]
pub fn Sessions() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let sessions = Resource::new(move || revoke.version().get(), |_| list_sessions());
    view! {
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"Signed-in browsers"</h2>
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || sessions.get().map(|result| match result {
                    Err(error) => view! { <p class="text-sm text-rose-700">{error_text(&error)}</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="mt-3 divide-y divide-slate-100 text-sm">
                            {list.into_iter().map(|session| {
                                let id = session.id.clone();
                                view! {
                                    <li class="flex items-center gap-4 py-2" data-testid="session">
                                        <span class="flex-1 truncate">{session.user_agent.clone()}</span>
                                        <span class="text-slate-500">{session.client_addr.clone()}</span>
                                        <span class="text-slate-500">{format!("last seen {}", format::unix_time(session.last_seen_at))}</span>
                                        {if session.current {
                                            view! { <span class="text-xs text-emerald-700">"this browser"</span> }.into_any()
                                        } else {
                                            view! {
                                                <button class=SMALL_BUTTON on:click=move |_| { revoke.dispatch(RevokeSession { id: id.clone() }); }>
                                                    "Sign out"
                                                </button>
                                            }.into_any()
                                        }}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn ApiTokens() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    view! {
        <section class=SECTION>
            <h2 class="text-lg font-semibold">"API tokens"</h2>
            <p class="text-sm text-slate-600">
                "For scripts and CI: send " <code>"Authorization: Bearer TOKEN"</code> ". A token is shown once."
            </p>
            <ActionForm action=create attr:class="mt-4 flex max-w-md items-end gap-3">
                <label class="flex-1 text-sm">"Name"
                    <input class=INPUT type="text" name="name" required placeholder="ci" maxlength=types::validate::TOKEN_NAME_MAX_CHARS/>
                </label>
                <button class=BUTTON type="submit" disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
            <FieldError message=Signal::derive(move || create.value().with(failure))/>
            {move || create.value().get().and_then(Result::ok).map(|created| view! {
                <div class="mt-4 rounded-md bg-emerald-50 p-3 text-sm">
                    <p>"Copy it now; it will not be shown again:"</p>
                    <code class="mt-1 block break-all font-mono" data-testid="new-token">{created.token}</code>
                </div>
            })}
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || tokens.get().map(|result| match result {
                    Err(error) => view! { <p class="text-sm text-rose-700">{error_text(&error)}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="mt-3 text-sm text-slate-500">"No tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="mt-3 divide-y divide-slate-100 text-sm">
                            {list.into_iter().map(|token| {
                                let id = token.id.clone();
                                let used = token.last_used_at.map(format::unix_time).unwrap_or_else(|| "never".into());
                                view! {
                                    <li class="flex items-center gap-4 py-2" data-testid="api-token">
                                        <span class="flex-1 font-medium">{token.name.clone()}</span>
                                        <span class="text-slate-500">{format!("created {}", format::unix_time(token.created_at))}</span>
                                        <span class="text-slate-500">{format!("last used {used}")}</span>
                                        <button class=SMALL_BUTTON on:click=move |_| { revoke.dispatch(RevokeApiToken { id: id.clone() }); }>
                                            "Revoke"
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
