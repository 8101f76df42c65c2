//! Form helpers: the one error message a server function returned, shown by the form.

use leptos::prelude::*;

/// The human part of a server function error (without the transport's prefix).
pub fn error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The message of a failed submission, for [`FieldError`]: `action.value().with(failure)`.
pub fn failure<T>(result: &Option<Result<T, ServerFnError>>) -> Option<String> {
    match result {
        Some(Err(error)) => Some(error_text(error)),
        _ => None,
    }
}

/// Shows the error of the last submission, if it failed.
#[component]
pub fn FieldError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message.get().map(|text| {
            view! { <p class="mt-3 text-sm text-rose-700" role="alert" data-testid="form-error">{text}</p> }
        })
    }
}
