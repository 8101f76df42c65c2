//! Signing in, and choosing the first password on a new install.

use crate::components::form::{error_text, failure, FieldError};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use types::AuthState;

/// Whether a password exists and whether the caller is signed in; public.
#[server]
pub async fn get_auth_state() -> Result<AuthState, ServerFnError> {
    use crate::server_context::{identity, server_context, to_server_error};
    let context = server_context()?;
    if !context.auth.has_password().map_err(to_server_error)? {
        return Ok(AuthState::NeedsPassword);
    }
    // Public routes are not required to carry an identity, so absence means signed out.
    let signed_in = identity().await.ok().flatten().is_some();
    Ok(if signed_in {
        AuthState::SignedIn
    } else {
        AuthState::SignedOut
    })
}

/// Checks the password and sets the session cookie; public.
#[server]
pub async fn sign_in(password: String, next: Option<String>) -> Result<(), ServerFnError> {
    crate::server_context::sign_in_with(&password).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Sets the first password (only while none exists) and signs the caller in; public.
#[server]
pub async fn set_up_password(password: String, confirm: String) -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, sign_in_with, to_server_error};
    if password != confirm {
        return Err(ServerFnError::new("the two passwords differ"));
    }
    let context = server_context()?;
    context
        .auth
        .set_initial_password(&password)
        .await
        .map_err(to_server_error)?;
    sign_in_with(&password).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server]
pub async fn sign_out() -> Result<(), ServerFnError> {
    use crate::server_context::{server_context, session_id, set_session_cookie, to_server_error};
    if let Some(id) = session_id().await? {
        server_context()?
            .auth
            .sign_out(&id)
            .map_err(to_server_error)?;
    }
    set_session_cookie(None).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Only same-site paths: `next` must not become an open redirect to another host.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

const CARD: &str =
    "mx-auto mt-24 w-full max-w-sm rounded-xl border border-slate-200 bg-white p-8 shadow-sm";
const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:border-slate-500 focus:outline-none";
const BUTTON: &str = "mt-6 w-full rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-50";

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_else(|| "/".into());
    let state = Resource::new(|| (), |_| get_auth_state());
    view! {
        <div class=CARD>
            <h1 class="text-xl font-semibold">"Sign in to Captain"</h1>
            <Suspense>
                {move || match state.get() {
                    Some(Ok(AuthState::NeedsPassword)) => Some(view! {
                        <p class="mt-2 text-sm text-amber-700">
                            "No password is set yet. " <a class="underline" href="/setup">"Choose one"</a>
                        </p>
                    }.into_any()),
                    // Already signed in: go where the sign-in was meant to lead.
                    Some(Ok(AuthState::SignedIn)) => Some(view! { <Redirect path=safe_next(Some(&next()))/> }.into_any()),
                    _ => None,
                }}
            </Suspense>
            <ActionForm action>
                <input type="hidden" name="next" prop:value=next/>
                <label class="mt-6 block text-sm font-medium">
                    "Password"
                    <input class=INPUT type="password" name="password" required autofocus autocomplete="current-password"/>
                </label>
                <FieldError message=Signal::derive(move || action.value().with(failure))/>
                <button class=BUTTON type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
        </div>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<SetUpPassword>::new();
    let state = Resource::new(|| (), |_| get_auth_state());
    view! {
        <div class=CARD>
            <h1 class="text-xl font-semibold">"Welcome to Captain"</h1>
            <Suspense>
                {move || match state.get() {
                    Some(Ok(AuthState::NeedsPassword)) | None => view! {
                        <p class="mt-2 text-sm text-slate-600">
                            "Choose the admin password. There is no default password."
                        </p>
                    }.into_any(),
                    Some(Ok(_)) => view! {
                        <p class="mt-2 text-sm text-amber-700">
                            "A password is already set. " <a class="underline" href="/login">"Sign in"</a>
                        </p>
                    }.into_any(),
                    Some(Err(error)) => view! { <p class="mt-2 text-sm text-rose-700">{error_text(&error)}</p> }.into_any(),
                }}
            </Suspense>
            <ActionForm action>
                <label class="mt-6 block text-sm font-medium">
                    "Password (at least " {types::validate::PASSWORD_MIN_CHARS} " characters)"
                    <input class=INPUT type="password" name="password" required autofocus autocomplete="new-password"
                        minlength=types::validate::PASSWORD_MIN_CHARS maxlength=types::validate::PASSWORD_MAX_BYTES/>
                </label>
                <label class="mt-4 block text-sm font-medium">
                    "Repeat it"
                    <input class=INPUT type="password" name="confirm" required autocomplete="new-password"
                        maxlength=types::validate::PASSWORD_MAX_BYTES/>
                </label>
                <FieldError message=Signal::derive(move || action.value().with(failure))/>
                <button class=BUTTON type="submit" disabled=move || action.pending().get()>"Set password and sign in"</button>
            </ActionForm>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(safe_next(Some("/apps?x=1")), "/apps?x=1");
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "apps",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
