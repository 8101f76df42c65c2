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

/// The part of a failed submission's message that concerns `field` (messages name their
/// field as `field: message`), so it can be shown next to that field.
pub fn field_failure<T>(result: &Option<Result<T, ServerFnError>>, field: &str) -> Option<String> {
    let message = failure(result)?;
    message
        .strip_prefix(field)?
        .strip_prefix(": ")
        .map(str::to_owned)
}

/// A failed submission's message unless it belongs to one of `fields` (shown there instead).
pub fn other_failure<T>(
    result: &Option<Result<T, ServerFnError>>,
    fields: &[&str],
) -> Option<String> {
    let message = failure(result)?;
    let claimed = fields
        .iter()
        .any(|field| message.starts_with(&format!("{field}: ")));
    (!claimed).then_some(message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_next_to_the_field_they_name() {
        let result: Option<Result<(), ServerFnError>> =
            Some(Err(ServerFnError::new("image: must not contain spaces")));
        assert_eq!(
            field_failure(&result, "image").as_deref(),
            Some("must not contain spaces")
        );
        assert_eq!(field_failure(&result, "name"), None);
        assert_eq!(other_failure(&result, &["image"]), None);
        assert_eq!(
            other_failure(&result, &["name"]).as_deref(),
            Some("image: must not contain spaces")
        );
        assert_eq!(field_failure::<()>(&Some(Ok(())), "image"), None);
    }
}
