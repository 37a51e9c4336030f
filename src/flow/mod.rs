//! A template's Flow: the Flow JSON file the team keeps in git, named by the template's
//! `flow_json` (relative to the template's own folder), read with the place of every value
//! ([`json`]), checked on its own ([`model`]), and the message checked against the screen it
//! opens ([`payload`]); [`draw`] shows that screen in previews.
//!
//! A template without `flow_json` is not affected. The Flow never enters the request body: it
//! only decides what the body may hold.

mod declared;
mod draw;
mod issue;
mod json;
mod model;
mod payload;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub(crate) use draw::screen_html;
pub(crate) use issue::{FlowIssue, Place};
pub(crate) use json::parse as parse_json;
pub(crate) use model::{DeclaredType, Flow};
pub(crate) use payload::{HoleCheck, PayloadCheck};

use crate::input;
use crate::limits::{MAX_FLOW_BYTES, MAX_FLOW_ISSUES};
use crate::template::{MessageKind, SourceFile, Template};

/// A template's Flow, read and checked.
pub(crate) struct Linked {
    /// The rules the Flow and the template as written break (errors and warnings).
    pub issues: Vec<FlowIssue>,
    /// What is left to check per row; none when the Flow could not be read far enough.
    pub check: Option<PayloadCheck>,
}

/// Reads and checks the Flow a template names (`None` when it names none), and the message
/// against the screen it opens: a Flow message's `flow_action_payload`, or a template message's `flow_action_data` against
/// the screen its approved FLOW button opens (`button`; unknown without `template_json`, when
/// only the Flow itself is checked).
pub(crate) fn link_opening(template: &Template, button: Option<&crate::approved::Opens>) -> Option<Linked> {
    let reference = template.flow_json.as_ref()?;
    let path = template.folder.join(&reference.path);
    let name = display_name(&path);
    let failed = |issue: FlowIssue| {
        Some(Linked {
            issues: vec![issue],
            check: None,
        })
    };
    let text = match input::read_text(&path, MAX_FLOW_BYTES, "a Flow JSON file") {
        Ok(text) => text,
        Err(error) => {
            return failed(FlowIssue::Unreadable {
                path: name,
                reason: error.to_string(),
                suggestion: (!path.exists()).then(|| near_file(&reference.path, &path)).flatten(),
                at: reference.span,
            })
        }
    };
    let source = SourceFile {
        name,
        text: Arc::from(text),
    };
    let root = match json::parse(&source.text) {
        Ok(root) => root,
        Err(error) => {
            return failed(FlowIssue::Json {
                file: source.name.clone(),
                at: Place::Flow(source.clone(), error.span()),
                error,
            })
        }
    };
    let (flow, mut issues) = Flow::build(source, root);
    let Some(flow) = flow else {
        in_file_order(template, &mut issues);
        return Some(Linked { issues, check: None });
    };
    let flow = Arc::new(flow);
    let body = template.body.to_json();
    let (check, more) = match (template.kind, button) {
        (MessageKind::Flow, _) => {
            let (check, more) = PayloadCheck::new(Arc::clone(&flow), &body);
            (Some(check), more)
        }
        (MessageKind::Template, Some(opens)) => {
            PayloadCheck::for_button(Arc::clone(&flow), &body, &opens.data, &opens.screen, opens.at.clone())
        }
        (MessageKind::Template, None) => (None, Vec::new()),
    };
    issues.extend(more);
    in_file_order(template, &mut issues);
    if issues.len() > MAX_FLOW_ISSUES {
        let more = issues.len() - MAX_FLOW_ISSUES;
        issues.truncate(MAX_FLOW_ISSUES);
        issues.push(FlowIssue::TooManyIssues {
            more,
            file: flow.source.name.clone(),
            at: Place::Flow(
                flow.source.clone(),
                crate::yaml::Span {
                    len: flow.root.span.len.min(1),
                    ..flow.root.span
                },
            ),
        });
    }
    Some(Linked { issues, check })
}

/// How many entries of a folder are compared with a missing file's name: enough for any
/// folder of Flows, bounded for a folder of millions.
const MAX_NEIGHBOURS: usize = 10_000;

/// `../flows/booking.json` for `flow_json: ../flows/booking.jsn` when `booking.json` is in that
/// folder: the reference as written with the nearest file name of its folder.
fn near_file(written: &str, path: &Path) -> Option<String> {
    let missing = path.file_name()?.to_str()?;
    let folder = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let names: Vec<String> = std::fs::read_dir(folder)
        .ok()?
        .take(MAX_NEIGHBOURS)
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    let nearest = crate::suggest::nearest(missing, names.iter().map(String::as_str))?;
    let prefix = written.rfind('/').map_or("", |slash| &written[..=slash]);
    Some(format!("{prefix}{nearest}"))
}

/// The issues as a person reads them: the Flow file's from its top down, then the template's
/// (the rules find them in another order: a screen's types before its references).
pub(crate) fn in_file_order(template: &Template, issues: &mut [FlowIssue]) {
    issues.sort_by_cached_key(|issue| issue.place().order(template));
}

/// A path as findings name it: `templates/../flows/booking.json` is `flows/booking.json`.
/// Only for reading; the file is opened by the path as joined.
pub(crate) fn display_name(path: &Path) -> String {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let clean: PathBuf = parts.iter().collect();
    if clean.as_os_str().is_empty() {
        path.display().to_string()
    } else {
        clean.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_people_write_them() {
        assert_eq!(display_name(Path::new("templates/../flows/a.json")), "flows/a.json");
        assert_eq!(display_name(Path::new("./a/./b.json")), "a/b.json");
        assert_eq!(display_name(Path::new("../flows/a.json")), "../flows/a.json");
        assert_eq!(display_name(Path::new("/t/x/../f.json")), "/t/f.json");
    }
}
