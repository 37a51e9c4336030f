//! Stored request bodies for `flowc test`, in insta's snapshot file format, so that the
//! files read the same as flowc's own snapshots and `cargo insta` tooling recognises them.
//!
//! A template `templates/NAME.yaml` has its snapshots in `templates/__snapshots__/`, one per
//! case: `NAME@example.snap` for its examples and `NAME@FIXTURE.snap` for each fixture of
//! `templates/NAME.fixtures.yaml`. A new or changed body is written beside the snapshot as
//! `NAME@CASE.snap.new`, pending review.
//!
//! ```text
//! ---
//! source: service-booking.yaml
//! expression: example
//! ---
//! { ...the pretty JSON body... }
//! ```
//!
//! `source` is the template's path relative to its own directory (the parent of
//! `__snapshots__`), never the path it was named by: `flowc test` run from the repository root,
//! from `templates/` or with an absolute path, and `flowc init DIR`, write the same bytes, so a
//! snapshot changes in a pull request only when its body does.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::input;
use crate::limits::MAX_TEMPLATE_BYTES;
use crate::template::{SourceFile, Template};
use crate::yaml::{self, NodeKind, Span};

pub(crate) const DIR: &str = "__snapshots__";
pub(crate) const EXTENSION: &str = "snap";

/// One set of values a template is tested with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    pub name: String,
    /// Values that replace the template's examples, by variable name.
    pub vars: Vec<(String, Value)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("cannot read `{path}`: {reason}")]
    Io { path: String, reason: String },
    #[error("{message}")]
    Fixture {
        file: SourceFile,
        span: Option<Span>,
        message: String,
        help: Option<String>,
    },
    #[error("`{path}` is not a snapshot file: {reason}")]
    Corrupt { path: String, reason: &'static str },
}

/// Where the snapshots of a template live.
pub(crate) fn directory(template: &Path) -> PathBuf {
    template.parent().unwrap_or(Path::new(".")).join(DIR)
}

pub(crate) fn file_stem(template: &Path) -> String {
    template
        .file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned())
}

pub(crate) fn snapshot_path(template: &Path, case: &str) -> PathBuf {
    directory(template).join(format!("{}@{case}.{EXTENSION}", file_stem(template)))
}

pub(crate) fn pending_path(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// `templates/NAME.fixtures.yaml` for `templates/NAME.yaml`.
pub(crate) fn fixtures_path(template: &Path) -> PathBuf {
    template.with_file_name(format!("{}.fixtures.yaml", file_stem(template)))
}

/// The cases of a template: its examples, then each fixture, if it has a fixtures file.
pub(crate) fn cases(template: &Template, template_path: &Path) -> Result<Vec<Case>, Box<SnapshotError>> {
    let mut cases = vec![Case {
        name: "example".to_owned(),
        vars: Vec::new(),
    }];
    let path = fixtures_path(template_path);
    let text = match input::read_text(&path, MAX_TEMPLATE_BYTES, "a fixtures file") {
        Ok(text) => text,
        Err(error) if error.is_not_found() => return Ok(cases),
        Err(error) => {
            return Err(Box::new(SnapshotError::Io {
                path: path.display().to_string(),
                reason: error.to_string(),
            }))
        }
    };
    let file = SourceFile {
        name: path.display().to_string(),
        text: text.into(),
    };
    let fixture_error = |span: Option<Span>, message: String, help: Option<String>| {
        Box::new(SnapshotError::Fixture {
            file: file.clone(),
            span,
            message,
            help,
        })
    };
    let root = match yaml::parse_document(&file.text) {
        Ok(root) => root,
        Err(yaml::YamlError::Empty) => return Ok(cases),
        Err(error) => return Err(fixture_error(error.span(), error.to_string(), None)),
    };
    let NodeKind::Seq(items) = &root.kind else {
        return Err(fixture_error(
            Some(root.span),
            format!("a fixtures file is a list of cases, found {}", root.type_name()),
            Some("- name: long-name\n  vars: { name: \"...\" }".to_owned()),
        ));
    };
    for item in items {
        let Some(entries) = item.as_map() else {
            return Err(fixture_error(
                Some(item.span),
                "a case is a mapping with `name` and `vars`".to_owned(),
                None,
            ));
        };
        let mut name = None;
        let mut vars = Vec::new();
        for entry in entries {
            match entry.key.as_str() {
                "name" => name = entry.value.as_str().map(str::to_owned),
                "vars" => {
                    let Some(assignments) = entry.value.as_map() else {
                        return Err(fixture_error(
                            Some(entry.value.span),
                            "`vars` must map variable names to values".to_owned(),
                            None,
                        ));
                    };
                    for assignment in assignments {
                        if template.var_index(&assignment.key).is_none() {
                            let declared = template.vars.iter().map(|var| var.name.as_str());
                            return Err(fixture_error(
                                Some(assignment.key_span),
                                format!(
                                    "the fixture sets `{}`, which the template does not declare",
                                    assignment.key
                                ),
                                crate::suggest::did_you_mean(&assignment.key, declared),
                            ));
                        }
                        vars.push((assignment.key.clone(), assignment.value.to_json()));
                    }
                }
                other => {
                    return Err(fixture_error(
                        Some(entry.key_span),
                        format!("unknown key `{other}` in a case"),
                        Some("a case has `name` and `vars`".to_owned()),
                    ))
                }
            }
        }
        let Some(name) = name.filter(|name| is_case_name(name)) else {
            return Err(fixture_error(
                Some(item.span),
                "every case needs a `name` of letters, digits, `-` and `_`".to_owned(),
                None,
            ));
        };
        if cases.iter().any(|case| case.name == name) {
            return Err(fixture_error(
                Some(item.span),
                format!("two cases are named `{name}`"),
                None,
            ));
        }
        cases.push(Case { name, vars });
    }
    Ok(cases)
}

fn is_case_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The text of a snapshot file for a body of a template's case.
pub(crate) fn render(template: &Path, case: &str, body: &str) -> String {
    let source = template
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    format!("---\nsource: {source}\nexpression: {case}\n---\n{}\n", body.trim_end())
}

/// Writes a pending snapshot. The file is removed and created anew, never opened in place: a
/// link planted at its path (a pull request can add one) is replaced, not written through.
pub(crate) fn write_pending(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// The body stored in a snapshot file.
pub(crate) fn read(path: &Path) -> Result<Option<String>, Box<SnapshotError>> {
    let text = match input::read_text(path, MAX_TEMPLATE_BYTES, "a snapshot") {
        Ok(text) => text,
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => {
            return Err(Box::new(SnapshotError::Io {
                path: path.display().to_string(),
                reason: error.to_string(),
            }))
        }
    };
    let corrupt = |reason| {
        Box::new(SnapshotError::Corrupt {
            path: path.display().to_string(),
            reason,
        })
    };
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| corrupt("it does not start with a `---` header"))?;
    let end = rest
        .find("\n---\n")
        .ok_or_else(|| corrupt("its header is not closed by `---`"))?;
    let header = &rest[..end];
    if !header.lines().all(|line| line.contains(':') || line.starts_with(' ')) {
        return Err(corrupt("its header is not `key: value` lines"));
    }
    Ok(Some(rest[end + 5..].trim_end().to_owned()))
}

/// The JSON pointer of the first place where `new` differs from `old`, in `new`'s order; the
/// pointer of the object or list itself when something was only removed from it.
pub(crate) fn first_difference(old: &Value, new: &Value) -> Option<String> {
    if old == new {
        return None;
    }
    let child = |key: &str, pointer: String| format!("/{}{pointer}", key.replace('~', "~0").replace('/', "~1"));
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => Some(
            new.iter()
                .find_map(|(key, value)| match old.get(key) {
                    Some(before) => first_difference(before, value).map(|pointer| child(key, pointer)),
                    None => Some(child(key, String::new())),
                })
                .unwrap_or_default(),
        ),
        (Value::Array(old), Value::Array(new)) => Some(
            new.iter()
                .enumerate()
                .find_map(|(index, value)| match old.get(index) {
                    Some(before) => first_difference(before, value).map(|pointer| child(&index.to_string(), pointer)),
                    None => Some(child(&index.to_string(), String::new())),
                })
                .unwrap_or_default(),
        ),
        _ => Some(String::new()),
    }
}

/// Snapshot files in a directory that no case produces any more: not in `live` (the files of
/// the cases of every template that loaded), and not of a template in `unloaded` (one that, or
/// whose fixtures, could not be read: its cases are unknown, so none of its snapshots is an
/// orphan; a typo must not make a reviewed snapshot look deletable).
pub(crate) fn orphans(directory: &Path, live: &[PathBuf], unloaded: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let unloaded_stems: Vec<String> = unloaded
        .iter()
        .filter(|template| self::directory(template) == directory)
        .map(|template| file_stem(template))
        .collect();
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let is_snapshot = name.ends_with(".snap") || name.ends_with(".snap.new");
            // Case names have no `@`; a template's stem may.
            let stem = name.rsplit_once('@').map_or(name, |(stem, _)| stem);
            is_snapshot && !live.contains(path) && !unloaded_stems.iter().any(|unloaded| unloaded == stem)
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_files_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t@example.snap");
        let text = render(
            Path::new("/somewhere/templates/t.yaml"),
            "example",
            "{\n  \"a\": 1\n}\n",
        );
        assert!(
            text.starts_with("---\nsource: t.yaml\nexpression: example\n---\n"),
            "{text}"
        );
        std::fs::write(&path, text).expect("write");
        assert_eq!(read(&path).expect("valid").as_deref(), Some("{\n  \"a\": 1\n}"));
        std::fs::write(&path, "garbage").expect("write");
        assert!(matches!(
            read(&path).map_err(|e| *e),
            Err(SnapshotError::Corrupt { .. })
        ));
        assert!(read(&dir.path().join("missing.snap")).expect("absent").is_none());
    }

    #[test]
    fn first_difference_is_a_pointer_into_the_new_body() {
        let old = serde_json::json!({"a": {"b": [1, 2], "c": "x"}, "d": 1});
        assert_eq!(first_difference(&old, &old), None);
        let new = serde_json::json!({"a": {"b": [1, 3], "c": "y"}, "d": 1});
        assert_eq!(first_difference(&old, &new).as_deref(), Some("/a/b/1"));
        let new = serde_json::json!({"a": {"b": [1, 2]}, "d": 1});
        assert_eq!(first_difference(&old, &new).as_deref(), Some("/a"), "a removed key");
        let new = serde_json::json!({"a": {"b": [1, 2], "c": "x", "e/f": 0}, "d": 1});
        assert_eq!(first_difference(&old, &new).as_deref(), Some("/a/e~1f"));
    }

    #[test]
    fn paths_follow_insta() {
        let template = Path::new("templates/service-booking.yaml");
        let snapshot = snapshot_path(template, "example");
        assert_eq!(
            snapshot,
            Path::new("templates/__snapshots__/service-booking@example.snap")
        );
        assert_eq!(
            pending_path(&snapshot),
            Path::new("templates/__snapshots__/service-booking@example.snap.new")
        );
        assert_eq!(
            fixtures_path(template),
            Path::new("templates/service-booking.fixtures.yaml")
        );
    }
}
