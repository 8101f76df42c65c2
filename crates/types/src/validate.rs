//! Input rules shared by the browser (to explain a mistake before sending) and the server
//! (which never trusts the browser). Each rule has one clear message.

use std::fmt;

/// Why an input was refused: which field, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

pub const PASSWORD_MIN_CHARS: usize = 10;
/// Argon2 hashes any length, but a megabyte "password" is an attack on CPU, not a secret.
pub const PASSWORD_MAX_BYTES: usize = 1024;
pub const TOKEN_NAME_MAX_CHARS: usize = 64;
/// Longest app name, as CapRover allows.
pub const APP_NAME_MAX_CHARS: usize = 49;
/// Names that would collide with Captain's own hosts and services.
pub const RESERVED_APP_NAMES: &[&str] = &[
    "captain", "registry", "www", "api", "admin", "proxy", "nginx",
];
/// DNS limits: 253 characters in all, 63 per label.
pub const DOMAIN_MAX_CHARS: usize = 253;

pub fn password(value: &str) -> Result<(), Invalid> {
    if value.len() > PASSWORD_MAX_BYTES {
        return Err(invalid(
            "password",
            format!("must be at most {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    if value.chars().count() < PASSWORD_MIN_CHARS {
        return Err(invalid(
            "password",
            format!("must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if value.trim().is_empty() {
        return Err(invalid("password", "must not be only spaces"));
    }
    Ok(())
}

pub fn token_name(value: &str) -> Result<(), Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid("name", "give the token a name, e.g. \"ci\""));
    }
    if trimmed.chars().count() > TOKEN_NAME_MAX_CHARS {
        return Err(invalid(
            "name",
            format!("must be at most {TOKEN_NAME_MAX_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(())
}

/// CapRover's app-name rules: lowercase letters, digits and single hyphens, starting with a
/// letter, not ending with a hyphen, under 50 characters, and not a reserved name.
pub fn app_name(value: &str) -> Result<(), Invalid> {
    const FIELD: &str = "name";
    if value.is_empty() {
        return Err(invalid(FIELD, "is required"));
    }
    if value.chars().count() > APP_NAME_MAX_CHARS {
        return Err(invalid(
            FIELD,
            format!("must be at most {APP_NAME_MAX_CHARS} characters"),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(
            FIELD,
            format!("may only contain lowercase letters, digits and hyphens, not {bad:?}"),
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid(FIELD, "must start with a lowercase letter"));
    }
    if value.ends_with('-') {
        return Err(invalid(FIELD, "must not end with a hyphen"));
    }
    if value.contains("--") {
        return Err(invalid(FIELD, "must not contain two hyphens in a row"));
    }
    if RESERVED_APP_NAMES.contains(&value) {
        return Err(invalid(FIELD, format!("{value:?} is reserved by Captain")));
    }
    Ok(())
}

/// A fully qualified domain name an app can be served at (no scheme, port or path).
pub fn domain(value: &str) -> Result<(), Invalid> {
    const FIELD: &str = "domain";
    let value = value.strip_suffix('.').unwrap_or(value);
    if value.is_empty() {
        return Err(invalid(FIELD, "is required"));
    }
    if value.len() > DOMAIN_MAX_CHARS {
        return Err(invalid(
            FIELD,
            format!("must be at most {DOMAIN_MAX_CHARS} characters"),
        ));
    }
    if value.contains("://") || value.contains('/') || value.contains(':') {
        return Err(invalid(
            FIELD,
            "give the host name only, without scheme, port or path",
        ));
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            FIELD,
            "needs at least two labels, e.g. example.com",
        ));
    }
    for label in labels {
        if label.is_empty() {
            return Err(invalid(FIELD, "has an empty label (two dots in a row?)"));
        }
        if label.len() > 63 {
            return Err(invalid(FIELD, "each label must be at most 63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                FIELD,
                "may only contain letters, digits, hyphens and dots",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(FIELD, "labels must not start or end with a hyphen"));
        }
    }
    Ok(())
}

pub const IMAGE_MAX_CHARS: usize = 255;
pub const ENV_KEY_MAX_CHARS: usize = 256;
pub const ENV_VALUE_MAX_BYTES: usize = 32 * 1024;
pub const VOLUME_PATH_MAX_CHARS: usize = 256;

/// A Docker image reference: `[host[:port]/]path[:tag][@sha256:digest]`, path components
/// lowercase, as `docker pull` accepts them.
pub fn image_reference(value: &str) -> Result<(), Invalid> {
    const FIELD: &str = "image";
    if value.is_empty() {
        return Err(invalid(FIELD, "is required"));
    }
    if value.len() > IMAGE_MAX_CHARS {
        return Err(invalid(
            FIELD,
            format!("must be at most {IMAGE_MAX_CHARS} characters"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(FIELD, "must not contain spaces"));
    }
    let (name, digest) = match value.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (value, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return Err(invalid(
                FIELD,
                "digest must be sha256: followed by 64 lowercase hex digits",
            ));
        }
    }
    // A tag follows the last ':' only if no '/' comes after it (else it was a port).
    let (repository, tag) = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (name, None),
    };
    if let Some(tag) = tag {
        let valid_tag = !tag.is_empty()
            && tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_tag {
            return Err(invalid(
                FIELD,
                format!("tag {tag:?} may only use letters, digits, '_', '.' and '-'"),
            ));
        }
    }
    let mut components: Vec<&str> = repository.split('/').collect();
    // The first component is a registry host when it has a dot, a port, or is localhost.
    if components.len() > 1
        && (components[0].contains('.')
            || components[0].contains(':')
            || components[0] == "localhost")
    {
        let host = components.remove(0);
        let (hostname, port) = host.split_once(':').unwrap_or((host, ""));
        let host_ok = !hostname.is_empty()
            && hostname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && (port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0));
        if !host_ok {
            return Err(invalid(
                FIELD,
                format!("registry {host:?} is not a host[:port]"),
            ));
        }
    }
    for component in components {
        let valid = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !valid {
            return Err(invalid(
                FIELD,
                format!("{component:?} must be lowercase letters, digits and separators (. _ -), e.g. nginx:1.27"),
            ));
        }
    }
    Ok(())
}

/// An environment variable name (as POSIX shells accept) and a bounded value.
pub fn env_var(key: &str, value: &str) -> Result<(), Invalid> {
    const FIELD: &str = "env";
    if key.is_empty() {
        return Err(invalid(FIELD, "a variable has no name"));
    }
    if key.len() > ENV_KEY_MAX_CHARS {
        return Err(invalid(
            FIELD,
            format!("names must be at most {ENV_KEY_MAX_CHARS} characters"),
        ));
    }
    if !key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(invalid(
            FIELD,
            format!("{key:?} must be letters, digits and '_', not starting with a digit"),
        ));
    }
    if value.len() > ENV_VALUE_MAX_BYTES {
        return Err(invalid(
            FIELD,
            format!("the value of {key} must be at most {ENV_VALUE_MAX_BYTES} bytes"),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(
            FIELD,
            format!("the value of {key} must not contain a NUL byte"),
        ));
    }
    Ok(())
}

/// A volume: a short name and an absolute, clean path inside the container.
pub fn volume(name: &str, path: &str) -> Result<(), Invalid> {
    const FIELD: &str = "volumes";
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(invalid(FIELD, format!("volume name {name:?} must be lowercase letters, digits, '-', '_' or '.' (at most 64)")));
    }
    if !path.starts_with('/') {
        return Err(invalid(
            FIELD,
            format!("path {path:?} must be absolute, e.g. /data"),
        ));
    }
    if path == "/" || path.len() > VOLUME_PATH_MAX_CHARS {
        return Err(invalid(FIELD, format!("path {path:?} must be a folder below / (at most {VOLUME_PATH_MAX_CHARS} characters)")));
    }
    if path.split('/').any(|part| part == ".." || part == ".") || path.contains("//") {
        return Err(invalid(
            FIELD,
            format!("path {path:?} must not contain '.', '..' or '//'"),
        ));
    }
    if path.chars().any(|c| c.is_control() || c == ':' || c == ',') {
        return Err(invalid(
            FIELD,
            format!("path {path:?} must not contain ':', ',' or control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_app_name_rule_rejects_with_its_own_message() {
        let cases = [
            ("", "required"),
            (&"a".repeat(50), "at most 49"),
            ("My-app", "lowercase"),
            ("app_1", "lowercase"),
            ("1app", "start with a lowercase letter"),
            ("-app", "start with a lowercase letter"),
            ("app-", "end with a hyphen"),
            ("my--app", "two hyphens"),
            ("captain", "reserved"),
        ];
        for (name, expected) in cases {
            let error = app_name(name).unwrap_err();
            assert!(error.message.contains(expected), "{name:?}: {error}");
        }
        for good in ["a", "my-app", "web2", &"a".repeat(49)] {
            assert_eq!(app_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn password_rules_reject_short_huge_and_blank() {
        assert!(password("short").unwrap_err().message.contains("at least"));
        assert!(password(&"x".repeat(2000))
            .unwrap_err()
            .message
            .contains("at most"));
        assert!(password("           ")
            .unwrap_err()
            .message
            .contains("spaces"));
        assert_eq!(password("correct horse battery"), Ok(()));
    }

    #[test]
    fn token_names_need_text_without_control_characters() {
        assert!(token_name("  ").is_err());
        assert!(token_name(&"n".repeat(65)).is_err());
        assert!(token_name("ci\u{7}").is_err());
        assert_eq!(token_name("deploy from CI"), Ok(()));
    }

    #[test]
    fn domains_are_host_names_only() {
        for bad in [
            "",
            "localhost",
            "http://a.com",
            "a.com/x",
            "a.com:80",
            "a..com",
            "-a.com",
            "a_b.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(domain(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["example.com", "app.example.com.", "xn--bcher-kva.example"] {
            assert_eq!(domain(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn image_references_follow_docker_syntax() {
        for good in [
            "nginx",
            "nginx:1.27",
            "library/nginx:latest",
            "ghcr.io/owner/app:v1.2.3",
            "localhost:5000/app",
            "10.77.0.1:5000/team/app:build-7",
            "captain-test/httpd:1",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(image_reference(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "required"),
            ("Nginx", "lowercase"),
            ("nginx:", "tag"),
            ("nginx:bad tag", "spaces"),
            ("nginx:-x", "tag"),
            ("a//b", "lowercase"),
            ("app@sha256:123", "digest"),
            ("bad_host:99999/app", "registry"),
        ];
        for (image, expected) in cases {
            let error = image_reference(image).unwrap_err();
            assert!(error.message.contains(expected), "{image:?}: {error}");
        }
        assert!(image_reference(&"a".repeat(300)).is_err());
    }

    #[test]
    fn env_vars_need_posix_names_and_bounded_values() {
        assert_eq!(env_var("DATABASE_URL", "postgres://x"), Ok(()));
        assert_eq!(env_var("_x1", ""), Ok(()));
        for (key, expected) in [
            ("", "no name"),
            ("1A", "not starting"),
            ("A-B", "letters"),
            (&"K".repeat(300), "at most"),
        ] {
            assert!(
                env_var(key, "v").unwrap_err().message.contains(expected),
                "{key}"
            );
        }
        assert!(env_var("BIG", &"v".repeat(40_000))
            .unwrap_err()
            .message
            .contains("at most"));
        assert!(env_var("NUL", "a\0b").unwrap_err().message.contains("NUL"));
    }

    #[test]
    fn volumes_need_a_clean_absolute_path() {
        assert_eq!(volume("data", "/var/lib/data"), Ok(()));
        for (name, path, expected) in [
            ("Data", "/d", "volume name"),
            ("data", "relative", "absolute"),
            ("data", "/", "below /"),
            ("data", "/a/../etc", "'..'"),
            ("data", "/a:/b", "':'"),
        ] {
            assert!(
                volume(name, path).unwrap_err().message.contains(expected),
                "{name} {path}"
            );
        }
    }

    proptest! {
        #[test]
        fn validators_never_panic(input in "\\PC{0,300}") {
            let _ = image_reference(&input);
            let _ = env_var(&input, &input);
            let _ = volume(&input, &input);
            let _ = app_name(&input);
            let _ = domain(&input);
            let _ = password(&input);
            let _ = token_name(&input);
        }

        #[test]
        fn accepted_app_names_are_safe_dns_labels(input in "[a-z0-9-]{0,60}") {
            if app_name(&input).is_ok() {
                prop_assert!(input.len() < 50 && !input.contains("--") && !input.ends_with('-'));
                let host = format!("{}.example.com", input);
                prop_assert!(domain(&host).is_ok());
            }
        }
    }
}
