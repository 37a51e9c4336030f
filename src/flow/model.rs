//! A Flow JSON file as flowc understands it, and the rules it must follow on its own, as far as
//! Meta's public Flow JSON reference describes them: `version` and `screens` present; screen ids
//! unique, made of letters and `_`, never `SUCCESS`; a `routing_model` (required with
//! `data_api_version`) and every `navigate` action naming existing screens; each `${data.KEY}`
//! a screen uses declared in that screen's `data`, with a known type and a matching
//! `__example__`; at least one terminal screen.
//!
//! The model is built as far as the file allows, so that one run reports every problem, and so
//! that the message can still be checked against a Flow with, say, a bad route.

use std::collections::{HashMap, HashSet};

use crate::suggest::nearest;
use crate::template::SourceFile;
use crate::words::ValueKind;
use crate::yaml::{Node, NodeKind, Span};

use super::declared::TYPE_NAMES;
pub(crate) use super::declared::{has_hole, is_hole, Declared, DeclaredType};
use super::issue::{FlowIssue, Place};

/// The Flow JSON file of a template.
#[derive(Debug)]
pub(crate) struct Flow {
    pub source: SourceFile,
    pub root: Node,
    pub screens: Vec<Screen>,
    /// Where the list of screens is (the `screens` key).
    pub screens_at: Span,
    pub data_api_version: Option<String>,
    /// The screen a message opens when it names none (an index into `screens`).
    pub entry: usize,
}

#[derive(Debug)]
pub(crate) struct Screen {
    pub id: String,
    pub id_at: Span,
    /// Where the screen's `data` is declared (its key), else its id.
    pub data_at: Span,
    pub data: Vec<Declared>,
    /// The index of the screen in `screens`, to reach its layout in `root`.
    pub index: usize,
}

/// The first character of a node: where a finding about the whole node points.
fn opening(span: Span) -> Span {
    Span {
        len: span.len.min(1),
        ..span
    }
}

impl Flow {
    /// The Flow read from its tree, and every rule it breaks; no Flow when it has no usable
    /// screens.
    pub(crate) fn build(source: SourceFile, root: Node) -> (Option<Flow>, Vec<FlowIssue>) {
        let mut issues = Vec::new();
        let file = source.name.clone();
        let here = |span: Span| Place::Flow(source.clone(), span);
        let Some(entries) = root.as_map() else {
            issues.push(FlowIssue::WrongKind {
                what: format!("{file}, a Flow JSON file,"),
                expected: "a mapping with `version` and `screens`",
                found: root.type_name(),
                at: here(opening(root.span)),
            });
            return (None, issues);
        };
        let field = |name: &str| entries.iter().find(|entry| entry.key == name);
        match field("version") {
            None => issues.push(FlowIssue::MissingField {
                within: file.clone(),
                field: "version",
                at: here(opening(root.span)),
            }),
            Some(entry) if entry.value.as_str().is_none() => issues.push(FlowIssue::WrongKind {
                what: "`version`".to_owned(),
                expected: "text such as \"7.1\"",
                found: entry.value.type_name(),
                at: here(entry.value.span),
            }),
            Some(_) => {}
        }
        let data_api_version = match field("data_api_version") {
            None => None,
            Some(entry) => {
                if let Some(version) = entry.value.as_str() {
                    Some(version.to_owned())
                } else {
                    issues.push(FlowIssue::WrongKind {
                        what: "`data_api_version`".to_owned(),
                        expected: "text such as \"3.0\"",
                        found: entry.value.type_name(),
                        at: here(entry.value.span),
                    });
                    None
                }
            }
        };
        let Some(screens_entry) = field("screens") else {
            issues.push(FlowIssue::MissingField {
                within: file.clone(),
                field: "screens",
                at: here(opening(root.span)),
            });
            return (None, issues);
        };
        let items = match &screens_entry.value.kind {
            NodeKind::Seq(items) if !items.is_empty() => items,
            _ => {
                issues.push(FlowIssue::WrongKind {
                    what: "`screens`".to_owned(),
                    expected: "a list of at least one screen",
                    found: match &screens_entry.value.kind {
                        NodeKind::Seq(_) => "an empty list",
                        _ => screens_entry.value.type_name(),
                    },
                    at: here(screens_entry.value.span),
                });
                return (None, issues);
            }
        };
        let mut screens = Vec::with_capacity(items.len());
        let mut first_of: HashMap<String, Span> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            let Some(screen) = read_screen(&source, index, item, &mut issues) else {
                continue;
            };
            if let Some(first) = first_of.get(&screen.id) {
                issues.push(FlowIssue::DuplicateScreen {
                    id: screen.id.clone(),
                    at: here(screen.id_at),
                    first: here(*first),
                });
                continue;
            }
            first_of.insert(screen.id.clone(), screen.id_at);
            screens.push(screen);
        }
        if screens.is_empty() {
            return (None, issues);
        }
        let ids: Vec<&str> = screens.iter().map(|screen| screen.id.as_str()).collect();
        let known: HashSet<&str> = ids.iter().copied().collect();
        let unknown_screen = |name: &str| (!known.contains(name)).then(|| suggest(name, &ids));

        // Routes: the routing model's, else those of `navigate` actions, decide the entry screen.
        let mut targets: HashSet<String> = HashSet::new();
        let routing = field("routing_model");
        match routing {
            Some(entry) => match entry.value.as_map() {
                Some(routes) => {
                    for route in routes {
                        if let Some(suggestion) = unknown_screen(&route.key) {
                            issues.push(FlowIssue::UnknownRoute {
                                name: route.key.clone(),
                                file: file.clone(),
                                suggestion,
                                at: here(route.key_span),
                            });
                        }
                        let NodeKind::Seq(nexts) = &route.value.kind else {
                            issues.push(FlowIssue::WrongKind {
                                what: format!("the routes of `{}` in `routing_model`", route.key),
                                expected: "a list of screen ids",
                                found: route.value.type_name(),
                                at: here(route.value.span),
                            });
                            continue;
                        };
                        for next in nexts {
                            let Some(name) = next.as_str() else {
                                issues.push(FlowIssue::WrongKind {
                                    what: format!("a route of `{}` in `routing_model`", route.key),
                                    expected: "a screen id",
                                    found: next.type_name(),
                                    at: here(next.span),
                                });
                                continue;
                            };
                            if let Some(suggestion) = unknown_screen(name) {
                                issues.push(FlowIssue::UnknownRoute {
                                    name: name.to_owned(),
                                    file: file.clone(),
                                    suggestion,
                                    at: here(next.span),
                                });
                            }
                            targets.insert(name.to_owned());
                        }
                    }
                }
                None => issues.push(FlowIssue::WrongKind {
                    what: "`routing_model`".to_owned(),
                    expected: "a mapping of screen ids to the screens each may go to",
                    found: entry.value.type_name(),
                    at: here(entry.value.span),
                }),
            },
            None if data_api_version.is_some() => issues.push(FlowIssue::NoRoutingModel {
                file: file.clone(),
                at: here(field("data_api_version").map_or(opening(root.span), |entry| entry.key_span)),
            }),
            None => {}
        }
        for screen in &screens {
            let node = &items[screen.index];
            let mut navigations = Vec::new();
            if let Some(layout) = node.get("layout") {
                collect_navigations(&layout.value, &mut navigations);
            }
            for (name, span) in navigations {
                if let Some(suggestion) = unknown_screen(&name) {
                    issues.push(FlowIssue::UnknownNext {
                        name: name.clone(),
                        file: file.clone(),
                        suggestion,
                        at: here(span),
                    });
                }
                if routing.is_none() {
                    targets.insert(name);
                }
            }
            check_data_references(&source, screen, node, &mut issues);
        }
        let terminal = items.iter().any(|item| {
            item.get("terminal")
                .is_some_and(|entry| entry.value.kind == NodeKind::Bool(true))
        });
        if !terminal {
            issues.push(FlowIssue::NoTerminal {
                file: file.clone(),
                at: here(screens_entry.key_span),
            });
        }
        // Meta's routing rules: the entry screen is the one no route (or `navigate`) leads to.
        let entry = screens
            .iter()
            .position(|screen| !targets.contains(&screen.id))
            .unwrap_or(0);
        let screens_at = screens_entry.key_span;
        (
            Some(Flow {
                source,
                root,
                screens,
                screens_at,
                data_api_version,
                entry,
            }),
            issues,
        )
    }

    pub(crate) fn screen_ids(&self) -> impl Iterator<Item = &str> {
        self.screens.iter().map(|screen| screen.id.as_str())
    }

    /// The JSON node of a screen (for its title and layout).
    pub(crate) fn screen_node(&self, screen: &Screen) -> Option<&Node> {
        match &self.root.get("screens")?.value.kind {
            NodeKind::Seq(items) => items.get(screen.index),
            _ => None,
        }
    }
}

/// A screen's id and data, reporting what is wrong with them; `None` without a usable id.
fn read_screen(source: &SourceFile, index: usize, node: &Node, issues: &mut Vec<FlowIssue>) -> Option<Screen> {
    let here = |span: Span| Place::Flow(source.clone(), span);
    let Some(entries) = node.as_map() else {
        issues.push(FlowIssue::WrongKind {
            what: format!("screens[{index}]"),
            expected: "a mapping with an `id` and a `layout`",
            found: node.type_name(),
            at: here(node.span),
        });
        return None;
    };
    let field = |name: &str| entries.iter().find(|entry| entry.key == name);
    let Some(id_entry) = field("id") else {
        issues.push(FlowIssue::MissingField {
            within: format!("screens[{index}]"),
            field: "id",
            at: here(opening(node.span)),
        });
        return None;
    };
    let Some(id) = id_entry.value.as_str() else {
        issues.push(FlowIssue::WrongKind {
            what: format!("the `id` of screens[{index}]"),
            expected: "text",
            found: id_entry.value.type_name(),
            at: here(id_entry.value.span),
        });
        return None;
    };
    let id_at = id_entry.value.span;
    if id == "SUCCESS" {
        issues.push(FlowIssue::ReservedScreenId { at: here(id_at) });
    } else if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        issues.push(FlowIssue::BadScreenId {
            id: id.to_owned(),
            at: here(id_at),
        });
    }
    if field("layout").is_none() {
        issues.push(FlowIssue::MissingField {
            within: format!("screen `{id}`"),
            field: "layout",
            at: here(id_at),
        });
    }
    if let Some(terminal) = field("terminal") {
        if !matches!(terminal.value.kind, NodeKind::Bool(_)) {
            issues.push(FlowIssue::WrongKind {
                what: format!("`terminal` of screen `{id}`"),
                expected: ValueKind::TrueFalse.name(),
                found: terminal.value.type_name(),
                at: here(terminal.value.span),
            });
        }
    }
    let mut data = Vec::new();
    let mut data_at = id_at;
    if let Some(entry) = field("data") {
        data_at = entry.key_span;
        match entry.value.as_map() {
            Some(declarations) => {
                for declaration in declarations {
                    match declared_type(source, id, &declaration.key, &declaration.value, issues) {
                        Some(ty) => {
                            let example = declaration
                                .value
                                .get("__example__")
                                .map(|example| (example.value.to_json(), example.value.span));
                            if let Some((value, span)) = &example {
                                if let Some(mismatch) = ty.mismatch(value) {
                                    issues.push(FlowIssue::ExampleMismatch {
                                        path: mismatch.dotted(&declaration.key),
                                        screen: id.to_owned(),
                                        expected: mismatch.expected,
                                        found: mismatch.found,
                                        at: here(*span),
                                    });
                                }
                            }
                            data.push(Declared {
                                key: declaration.key.clone(),
                                at: declaration.key_span,
                                ty,
                                example: example.map(|(value, _)| value),
                            });
                        }
                        // Declared, though badly: not reported again as undeclared.
                        None => data.push(Declared {
                            key: declaration.key.clone(),
                            at: declaration.key_span,
                            ty: DeclaredType::Any,
                            example: None,
                        }),
                    }
                }
            }
            None => issues.push(FlowIssue::WrongKind {
                what: format!("the `data` of screen `{id}`"),
                expected: "a mapping of keys to their declarations",
                found: entry.value.type_name(),
                at: here(entry.value.span),
            }),
        }
    }
    Some(Screen {
        id: id.to_owned(),
        id_at,
        data_at,
        data,
        index,
    })
}

/// The type a declaration gives (`{"type": "array", "items": {...}}`).
fn declared_type(
    source: &SourceFile,
    screen: &str,
    key: &str,
    node: &Node,
    issues: &mut Vec<FlowIssue>,
) -> Option<DeclaredType> {
    let here = |span: Span| Place::Flow(source.clone(), span);
    if node.as_map().is_none() {
        issues.push(FlowIssue::WrongKind {
            what: format!("the declaration of `{key}` on screen `{screen}`"),
            expected: "a mapping with a `type` (and an `__example__`)",
            found: node.type_name(),
            at: here(node.span),
        });
        return None;
    }
    let Some(type_entry) = node.get("type") else {
        return Some(DeclaredType::Any);
    };
    let named = |name: &str, span: Span, issues: &mut Vec<FlowIssue>| -> Option<DeclaredType> {
        Some(match name {
            "string" => DeclaredType::String,
            "number" => DeclaredType::Number,
            "integer" => DeclaredType::Integer,
            "boolean" => DeclaredType::Boolean,
            "array" => DeclaredType::Array(Box::new(match node.get("items") {
                Some(items) => declared_type(source, screen, &format!("{key}[]"), &items.value, issues)?,
                None => DeclaredType::Any,
            })),
            "object" => DeclaredType::Object(match node.get("properties").and_then(|entry| entry.value.as_map()) {
                Some(properties) => {
                    let mut out = Vec::with_capacity(properties.len());
                    for property in properties {
                        let ty = declared_type(
                            source,
                            screen,
                            &format!("{key}.{}", property.key),
                            &property.value,
                            issues,
                        )?;
                        out.push((property.key.clone(), ty));
                    }
                    out
                }
                None => Vec::new(),
            }),
            other => {
                issues.push(FlowIssue::UnknownType {
                    key: key.to_owned(),
                    screen: screen.to_owned(),
                    name: other.to_owned(),
                    suggestion: nearest(other, TYPE_NAMES.iter().copied()).map(str::to_owned),
                    at: here(span),
                });
                return None;
            }
        })
    };
    match &type_entry.value.kind {
        NodeKind::Str { value, .. } => named(value, type_entry.value.span, issues),
        NodeKind::Seq(names) => {
            let mut types = Vec::with_capacity(names.len());
            for name in names {
                if let Some(text) = name.as_str() {
                    types.push(named(text, name.span, issues)?);
                } else {
                    issues.push(FlowIssue::WrongKind {
                        what: format!("a `type` of `{key}` on screen `{screen}`"),
                        expected: "a type name such as \"string\"",
                        found: name.type_name(),
                        at: here(name.span),
                    });
                    return None;
                }
            }
            Some(DeclaredType::AnyOf(types))
        }
        _ => {
            issues.push(FlowIssue::WrongKind {
                what: format!("the `type` of `{key}` on screen `{screen}`"),
                expected: "a type name such as \"string\"",
                found: type_entry.value.type_name(),
                at: here(type_entry.value.span),
            });
            None
        }
    }
}

/// The candidate nearest to a mistyped name, among a few: a real Flow has a handful of screens
/// and keys, and a hostile one with thousands would make each suggestion cost as much.
pub(crate) fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    const MAX_CANDIDATES: usize = 256;
    if candidates.len() > MAX_CANDIDATES {
        return None;
    }
    nearest(name, candidates.iter().copied()).map(str::to_owned)
}

/// The targets of the `navigate` actions under a node, with the place of each name.
fn collect_navigations(node: &Node, out: &mut Vec<(String, Span)>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            let is_navigate = entries
                .iter()
                .any(|entry| entry.key == "name" && entry.value.as_str() == Some("navigate"));
            if is_navigate {
                let target = entries
                    .iter()
                    .find(|entry| entry.key == "next")
                    .and_then(|next| next.value.get("name"));
                if let Some(target) = target {
                    if let Some(name) = target.value.as_str() {
                        out.push((name.to_owned(), target.value.span));
                    }
                }
            }
            for entry in entries {
                collect_navigations(&entry.value, out);
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                collect_navigations(item, out);
            }
        }
        _ => {}
    }
}

/// Reports each `${data.KEY}` of a screen's title and layout (its components, a Form's
/// `init-values`, action payloads) that the screen does not declare. `${form.…}` is what the
/// person typed and `${screen.…}` another screen's: neither is this screen's data.
fn check_data_references(source: &SourceFile, screen: &Screen, node: &Node, issues: &mut Vec<FlowIssue>) {
    let mut reported: HashSet<String> = HashSet::new();
    let names: Vec<&str> = screen.data.iter().map(|declared| declared.key.as_str()).collect();
    let declared: HashSet<&str> = names.iter().copied().collect();
    for part in ["title", "layout"] {
        let Some(entry) = node.get(part) else { continue };
        let mut references = Vec::new();
        collect_data_references(&source.text, &entry.value, &mut references);
        for (key, span) in references {
            if declared.contains(key.as_str()) || reported.contains(&key) {
                continue;
            }
            issues.push(FlowIssue::UndeclaredData {
                suggestion: suggest(&key, &names),
                key: key.clone(),
                screen: screen.id.clone(),
                file: source.name.clone(),
                at: Place::Flow(source.clone(), span),
            });
            reported.insert(key);
        }
    }
}

const DATA_REFERENCE: &str = "${data.";

/// The keys of the `${data.KEY}` references in the strings under a node, each with its place:
/// the reference itself when the string's source shows it as written, else the whole string.
fn collect_data_references(text: &str, node: &Node, out: &mut Vec<(String, Span)>) {
    match &node.kind {
        NodeKind::Str { value, .. } => {
            let source = text
                .get(node.span.offset..node.span.offset + node.span.len)
                .unwrap_or("");
            // References come in the same order in the value and in its source: each is searched
            // for after the previous one, its column counted from there (searching from the
            // start for each reference of a long string would take quadratic time).
            let mut source_from = 0;
            let mut column = node.span.column;
            let mut search_from = 0;
            while let Some(found) = value[search_from..].find(DATA_REFERENCE) {
                let start = search_from + found + DATA_REFERENCE.len();
                let key: String = value[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                search_from = start;
                if key.is_empty() {
                    continue;
                }
                let reference = format!("{DATA_REFERENCE}{key}");
                // A JSON string holds no raw line break: the reference is on the string's line.
                let span = match source[source_from..].find(&reference) {
                    Some(at) => {
                        let at = source_from + at;
                        column += source[source_from..at].chars().count();
                        source_from = at;
                        let closed = source[at + reference.len()..].starts_with('}');
                        Span {
                            offset: node.span.offset + at,
                            len: reference.len() + usize::from(closed),
                            line: node.span.line,
                            column,
                        }
                    }
                    None => node.span,
                };
                out.push((key, span));
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                collect_data_references(text, item, out);
            }
        }
        NodeKind::Map(entries) => {
            for entry in entries {
                collect_data_references(text, &entry.value, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> (Option<Flow>, Vec<FlowIssue>) {
        let source = SourceFile {
            name: "flow.json".to_owned(),
            text: text.into(),
        };
        let root = super::super::json::parse(text).expect("valid JSON");
        Flow::build(source, root)
    }

    #[test]
    fn a_small_valid_flow() {
        let (flow, issues) = build(
            r#"{"version": "7.1", "screens": [{"id": "A", "terminal": true,
            "data": {"n": {"type": "number", "__example__": 2}},
            "layout": {"type": "SingleColumnLayout", "children": [{"type": "TextBody", "text": "${data.n}"},
            {"type": "TextInput", "name": "x", "label": "${form.x}"}]}}]}"#,
        );
        assert!(issues.is_empty(), "{issues:?}");
        let flow = flow.expect("a flow");
        assert_eq!(flow.screens[flow.entry].id, "A");
        assert_eq!(flow.screens[0].data[0].ty, DeclaredType::Number);
    }

    #[test]
    fn the_entry_screen_is_the_one_nothing_leads_to() {
        let (flow, _) = build(
            r#"{"version": "7.1", "screens": [
            {"id": "B", "terminal": true, "layout": {}},
            {"id": "A", "layout": {"children": [{"type": "Footer", "on-click-action": {"name": "navigate", "next": {"type": "screen", "name": "B"}}}]}}]}"#,
        );
        let flow = flow.expect("a flow");
        assert_eq!(flow.screens[flow.entry].id, "A");
    }

    #[test]
    fn types_match_values_deeply() {
        let ty = DeclaredType::Array(Box::new(DeclaredType::Object(vec![(
            "title".to_owned(),
            DeclaredType::String,
        )])));
        let mismatch = ty
            .mismatch(&serde_json::json!([{"title": "a"}, {"title": 3}]))
            .expect("a mismatch");
        assert_eq!(mismatch.dotted("slots"), "slots[1].title");
        assert_eq!(mismatch.pointer_below("/d/slots"), "/d/slots/1/title");
        assert_eq!(mismatch.found, "a number 3");
        assert!(DeclaredType::Integer.mismatch(&serde_json::json!(2.0)).is_none());
        assert!(DeclaredType::Integer.mismatch(&serde_json::json!(2.5)).is_some());
        assert!(DeclaredType::String.mismatch(&serde_json::json!(null)).is_some());
    }
}
