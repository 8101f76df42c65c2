//! What to build from an upload: a `captain-definition` (CapRover's format, schema
//! version 2, so repositories that deploy to CapRover deploy here unchanged) or, without
//! one, the `Dockerfile` at the top of the tree.

use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

pub const DEFINITION_FILE: &str = "captain-definition";
/// Where `dockerfileLines` are written inside the build context.
pub const GENERATED_DOCKERFILE: &str = ".captain.Dockerfile";

/// How an upload becomes an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// Nothing to build: deploy this image.
    Image(String),
    /// Build with the Dockerfile at this path, relative to the context root.
    Dockerfile(PathBuf),
    /// Build with a Dockerfile made of these lines.
    DockerfileLines(Vec<String>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DefinitionError {
    #[error("captain-definition is not valid JSON: {0}")]
    Json(String),
    #[error("captain-definition needs \"schemaVersion\": 2 (found {0})")]
    SchemaVersion(String),
    #[error("captain-definition needs exactly one of imageName, dockerfilePath or dockerfileLines (found {0})")]
    Choice(String),
    #[error("captain-definition's dockerfileLines is empty")]
    NoLines,
    #[error("captain-definition's imageName is not usable: {0}")]
    Image(String),
    #[error("dockerfilePath {0:?} must be a relative path inside the upload")]
    PathOutside(String),
    #[error("dockerfilePath {0:?} does not exist in the upload")]
    Missing(String),
    #[error("the upload has neither a captain-definition nor a Dockerfile at its top level")]
    Nothing,
    #[error("cannot read the upload: {0}")]
    Read(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition {
    schema_version: Option<serde_json::Value>,
    image_name: Option<String>,
    dockerfile_path: Option<String>,
    dockerfile_lines: Option<Vec<String>>,
}

/// Parses a captain-definition's text (paths are checked against a tree later).
pub fn parse(text: &str) -> Result<Recipe, DefinitionError> {
    let definition: Definition =
        serde_json::from_str(text).map_err(|error| DefinitionError::Json(error.to_string()))?;
    match &definition.schema_version {
        Some(version) if version.as_u64() == Some(2) => {}
        Some(other) => return Err(DefinitionError::SchemaVersion(other.to_string())),
        None => return Err(DefinitionError::SchemaVersion("none".into())),
    }
    let given: Vec<&str> = [
        definition.image_name.as_ref().map(|_| "imageName"),
        definition
            .dockerfile_path
            .as_ref()
            .map(|_| "dockerfilePath"),
        definition
            .dockerfile_lines
            .as_ref()
            .map(|_| "dockerfileLines"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_owned()
        } else {
            given.join(" and ")
        };
        return Err(DefinitionError::Choice(found));
    }
    if let Some(image) = definition.image_name {
        let image = image.trim().to_owned();
        types::validate::image_reference(&image)
            .map_err(|invalid| DefinitionError::Image(invalid.message))?;
        return Ok(Recipe::Image(image));
    }
    if let Some(path) = definition.dockerfile_path {
        return Ok(Recipe::Dockerfile(relative_inside(&path)?));
    }
    let lines = definition.dockerfile_lines.unwrap_or_default();
    if lines.iter().all(|line| line.trim().is_empty()) {
        return Err(DefinitionError::NoLines);
    }
    Ok(Recipe::DockerfileLines(lines))
}

/// CapRover writes `./Dockerfile`; a path may not leave the upload.
fn relative_inside(raw: &str) -> Result<PathBuf, DefinitionError> {
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return Err(DefinitionError::PathOutside(raw.to_owned())),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(DefinitionError::PathOutside(raw.to_owned()));
    }
    Ok(clean)
}

/// The folder to build from inside an unpacked upload: its top, or — for archives made
/// with a leading folder, as GitHub's and `git archive --prefix` are — that one folder.
pub fn context_root(unpacked: &Path) -> Result<PathBuf, DefinitionError> {
    if has_recipe(unpacked) {
        return Ok(unpacked.to_path_buf());
    }
    let entries: Vec<_> = std::fs::read_dir(unpacked)
        .map_err(|error| DefinitionError::Read(error.to_string()))?
        .filter_map(Result::ok)
        .collect();
    if let [only] = entries.as_slice() {
        let inner = only.path();
        let is_dir = only.file_type().is_ok_and(|kind| kind.is_dir());
        if is_dir && has_recipe(&inner) {
            return Ok(inner);
        }
    }
    Err(DefinitionError::Nothing)
}

fn has_recipe(folder: &Path) -> bool {
    [DEFINITION_FILE, "Dockerfile"]
        .iter()
        .any(|name| folder.join(name).is_file())
}

/// Reads the recipe of a context root: its captain-definition, else its Dockerfile. The
/// Dockerfile a definition names must exist and be a file inside the tree.
pub fn recipe_for(root: &Path) -> Result<Recipe, DefinitionError> {
    let definition = root.join(DEFINITION_FILE);
    let recipe = if definition.is_file() {
        let text = std::fs::read_to_string(&definition)
            .map_err(|error| DefinitionError::Read(error.to_string()))?;
        parse(&text)?
    } else if root.join("Dockerfile").is_file() {
        Recipe::Dockerfile(PathBuf::from("Dockerfile"))
    } else {
        return Err(DefinitionError::Nothing);
    };
    if let Recipe::Dockerfile(path) = &recipe {
        // symlink_metadata: a link named as the Dockerfile could point anywhere.
        let shown = path.display().to_string();
        let meta = std::fs::symlink_metadata(root.join(path))
            .map_err(|_| DefinitionError::Missing(shown.clone()))?;
        if !meta.is_file() {
            return Err(DefinitionError::Missing(shown));
        }
    }
    Ok(recipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_caprover_forms_parse() {
        assert_eq!(
            parse(r#"{"schemaVersion":2,"imageName":"nginx:1.25"}"#),
            Ok(Recipe::Image("nginx:1.25".into()))
        );
        assert_eq!(
            parse(r#"{"schemaVersion":2,"dockerfilePath":"./docker/Dockerfile"}"#),
            Ok(Recipe::Dockerfile("docker/Dockerfile".into()))
        );
        assert_eq!(
            parse(r#"{"schemaVersion":2,"dockerfileLines":["FROM debian:bookworm-slim"]}"#),
            Ok(Recipe::DockerfileLines(vec![
                "FROM debian:bookworm-slim".into()
            ]))
        );
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| parse(text).unwrap_err().to_string();
        assert!(error("{").contains("not valid JSON"));
        assert!(error(r#"{"imageName":"x"}"#).contains("schemaVersion"));
        assert!(error(r#"{"schemaVersion":1,"imageName":"x"}"#).contains("found 1"));
        assert!(error(r#"{"schemaVersion":2}"#).contains("found none"));
        assert!(
            error(r#"{"schemaVersion":2,"imageName":"a","dockerfilePath":"b"}"#)
                .contains("imageName and dockerfilePath")
        );
        assert!(error(r#"{"schemaVersion":2,"dockerfileLines":[" "]}"#).contains("empty"));
        assert!(
            error(r#"{"schemaVersion":2,"dockerfilePath":"../Dockerfile"}"#)
                .contains("inside the upload")
        );
        assert!(
            error(r#"{"schemaVersion":2,"dockerfilePath":"/etc/passwd"}"#)
                .contains("inside the upload")
        );
        assert!(error(r#"{"schemaVersion":2,"imageName":"UPPER case"}"#).contains("imageName"));
    }

    #[test]
    fn a_leading_folder_is_looked_into_and_missing_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(context_root(dir.path()), Err(DefinitionError::Nothing));
        let inner = dir.path().join("repo-abc123");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("Dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(context_root(dir.path()), Ok(inner.clone()));
        assert_eq!(
            recipe_for(&inner),
            Ok(Recipe::Dockerfile("Dockerfile".into()))
        );
        std::fs::write(
            inner.join(DEFINITION_FILE),
            r#"{"schemaVersion":2,"dockerfilePath":"./sub/Dockerfile"}"#,
        )
        .unwrap();
        assert_eq!(
            recipe_for(&inner),
            Err(DefinitionError::Missing("sub/Dockerfile".into()))
        );
    }
}
