//! Loading a template file: the YAML tree with spans, its declared variables, and the two
//! parts of the request body it describes (`messaging_object`, `extra_info`).
//!
//! Only the template's own shape is checked here (known top-level keys, well-formed `vars`).
//! Whether the message itself is valid is decided after rendering, against the schema, so
//! that a rule lives in one place whatever produced the value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::input;
use crate::input::Unreadable;
use crate::limits::MAX_TEMPLATE_BYTES;
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, NodeKind, Span, YamlError};

/// The text of a file, kept for diagnostics that quote it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub source: SourceFile,
    pub description: Option<String>,
    pub vars: Vec<VarDecl>,
    /// The body as written: a mapping with `messaging_object` and, if given, `extra_info`.
    pub body: Node,
    /// The Flow JSON file the message opens, if the template names it (`flow_json`).
    pub flow_json: Option<FlowJson>,
    /// The approved WhatsApp template the message names, if the template names its JSON
    /// (`template_json`): what a template message is checked against.
    pub template_json: Option<FlowJson>,
    /// An interactive Flow message, or an approved template message with a Flow button.
    pub kind: MessageKind,
    /// The template's own folder, which `flow_json` and `template_json` are relative to.
    pub folder: PathBuf,
}

/// What the body sends: decided by `messaging_object` as written (`type: template`, or a
/// `template` block), so that one file format holds both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `type: interactive` with an `interactive` Flow (the default).
    Flow,
    /// `type: template`: an approved template, which reaches people outside the 24-hour window.
    Template,
}

/// `flow_json: ../flows/booking.json`: the path as written and where.
#[derive(Debug, Clone)]
pub struct FlowJson {
    pub path: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct VarDecl {
    pub name: String,
    pub span: Span,
    pub example: Option<Value>,
    pub default: Option<Value>,
    pub description: Option<String>,
}

impl VarDecl {
    /// A variable without a default must have a non-empty value in every data row.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Unreadable(Unreadable),
    #[error("{error}")]
    Yaml { file: SourceFile, error: YamlError },
    #[error("{message}")]
    Shape {
        file: SourceFile,
        message: String,
        span: Span,
        help: Option<String>,
    },
}

impl std::fmt::Display for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "description",
    "vars",
    "flow_json",
    "template_json",
    "messaging_object",
    "extra_info",
];
const VAR_KEYS: &[&str] = &["example", "default", "description"];

impl Template {
    pub fn load(path: &Path) -> Result<Template, Box<TemplateError>> {
        let name = path.display().to_string();
        let text = input::read_text(path, MAX_TEMPLATE_BYTES, "a template").map_err(|error| {
            Box::new(TemplateError::Unreadable(Unreadable {
                what: "template",
                path: name.clone(),
                reason: error.to_string(),
            }))
        })?;
        let mut template = Template::parse(name, text)?;
        // The path itself, not its display: a folder whose name is not UTF-8 still resolves.
        template.folder = folder_of(path);
        Ok(template)
    }

    pub fn parse(name: String, text: String) -> Result<Template, Box<TemplateError>> {
        let source = SourceFile {
            name,
            text: Arc::from(text),
        };
        let root = match yaml::parse_document(&source.text) {
            Ok(root) => root,
            Err(error) => return Err(Box::new(TemplateError::Yaml { file: source, error })),
        };
        let shape_error = |message: String, span: Span, help: Option<String>| {
            Box::new(TemplateError::Shape {
                file: source.clone(),
                message,
                span,
                help,
            })
        };
        let Some(entries) = root.as_map() else {
            return Err(shape_error(
                format!("a template must be a mapping, found {}", root.type_name()),
                root.span,
                Some("start from one of the templates under templates/".to_owned()),
            ));
        };
        for entry in entries {
            if !TOP_LEVEL_KEYS.contains(&entry.key.as_str()) {
                return Err(shape_error(
                    format!("unknown template key `{}`", entry.key),
                    entry.key_span,
                    Some(
                        did_you_mean(&entry.key, TOP_LEVEL_KEYS.iter().copied())
                            .unwrap_or_else(|| format!("a template has the keys {}", TOP_LEVEL_KEYS.join(", "))),
                    ),
                ));
            }
        }
        let description = match root.get("description") {
            None => None,
            Some(entry) => match &entry.value.kind {
                NodeKind::Str { value, .. } => Some(value.clone()),
                NodeKind::Null => None,
                _ => {
                    return Err(shape_error(
                        format!("`description` must be text, found {}", entry.value.type_name()),
                        entry.value.span,
                        None,
                    ))
                }
            },
        };
        let path_at = |key: &str, what: &str, example: &str| match root.get(key) {
            None => Ok(None),
            Some(entry) => match &entry.value.kind {
                NodeKind::Str { value, .. } if !value.trim().is_empty() => Ok(Some(FlowJson {
                    path: value.clone(),
                    span: entry.value.span,
                })),
                _ => Err(shape_error(
                    format!("`{key}` must be the path of {what}, found {}", entry.value.type_name()),
                    entry.value.span,
                    Some(format!("a path relative to the template's folder, such as `{example}`")),
                )),
            },
        };
        let flow_json = path_at("flow_json", "a Flow JSON file", "../flows/booking.json")?;
        let template_json = path_at(
            "template_json",
            "the approved template's JSON",
            "approved/spring_booking.en_US.json",
        )?;
        let vars = match root.get("vars") {
            None => Vec::new(),
            Some(entry) => parse_vars(entry).map_err(|(message, span, help)| shape_error(message, span, help))?,
        };
        if root.get("messaging_object").is_none() {
            return Err(shape_error(
                "the template has no `messaging_object`".to_owned(),
                Span { len: 0, ..root.span },
                Some("`messaging_object` holds the message: `to` and `interactive`".to_owned()),
            ));
        }
        let body_entries: Vec<Entry> = entries
            .iter()
            .filter(|entry| matches!(entry.key.as_str(), "messaging_object" | "extra_info"))
            .cloned()
            .collect();
        let body = Node {
            span: root.span,
            kind: NodeKind::Map(body_entries),
        };
        let folder = folder_of(Path::new(&source.name));
        let kind = root
            .get("messaging_object")
            .map_or(MessageKind::Flow, |entry| kind_of(&entry.value));
        Ok(Template {
            source,
            description,
            vars,
            body,
            flow_json,
            template_json,
            kind,
            folder,
        })
    }

    pub fn var_index(&self, name: &str) -> Option<usize> {
        self.vars.iter().position(|var| var.name == name)
    }

    /// The template position that produced the value at a JSON pointer of the rendered body:
    /// the deepest node the template spells out on the way there. A field the compiler added
    /// (a constant) or one that is missing maps to its nearest written ancestor.
    pub fn span_at(&self, pointer: &str) -> Span {
        let mut node = &self.body;
        let mut span = node.span;
        for segment in pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            match &node.kind {
                NodeKind::Map(entries) => match entries.iter().find(|entry| entry.key == segment) {
                    Some(entry) => {
                        node = &entry.value;
                        span = entry.value.span;
                    }
                    None => return span,
                },
                NodeKind::Seq(items) => match segment.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(item) => {
                        node = item;
                        span = item.span;
                    }
                    None => return span,
                },
                _ => return span,
            }
        }
        span
    }

    /// The node the template writes at a JSON pointer of the rendered body, if it writes one
    /// there (not an ancestor, as [`Template::span_at`] falls back to).
    pub(crate) fn node_at(&self, pointer: &str) -> Option<&Node> {
        let mut node = &self.body;
        for segment in pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            node = match &node.kind {
                NodeKind::Map(entries) => &entries.iter().find(|entry| entry.key == segment)?.value,
                NodeKind::Seq(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the key whose value is at `pointer`, when the template spells it out.
    pub fn key_span_at(&self, pointer: &str) -> Option<Span> {
        let (parent, last) = pointer.rsplit_once('/')?;
        let last = last.replace("~1", "/").replace("~0", "~");
        self.node_at(parent)?.get(&last).map(|entry| entry.key_span)
    }
}

/// A `messaging_object` is a template message when its `type` says so, or when it holds a
/// `template` block and no `interactive` one (`type` is a constant flowc fills).
fn kind_of(object: &Node) -> MessageKind {
    let written_type = object.get("type").and_then(|entry| entry.value.as_str());
    match written_type {
        Some("template") => MessageKind::Template,
        Some(_) => MessageKind::Flow,
        None if object.get("template").is_some() && object.get("interactive").is_none() => MessageKind::Template,
        None => MessageKind::Flow,
    }
}

/// The folder of a file, `.` for a bare name.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

type ShapeProblem = (String, Span, Option<String>);

fn parse_vars(entry: &Entry) -> Result<Vec<VarDecl>, ShapeProblem> {
    let entries = match &entry.value.kind {
        NodeKind::Map(entries) => entries,
        NodeKind::Null => return Ok(Vec::new()),
        _ => {
            return Err((
                format!(
                    "`vars` must be a mapping of variable names, found {}",
                    entry.value.type_name()
                ),
                entry.value.span,
                Some("for example `vars: { name: { example: \"Asha\" } }`".to_owned()),
            ))
        }
    };
    let mut vars = Vec::with_capacity(entries.len());
    for var in entries {
        if !is_identifier(&var.key) {
            return Err((
                format!("`{}` is not a valid variable name", var.key),
                var.key_span,
                Some(VARIABLE_NAME_RULE.to_owned()),
            ));
        }
        let mut decl = VarDecl {
            name: var.key.clone(),
            span: var.key_span,
            example: None,
            default: None,
            description: None,
        };
        match &var.value.kind {
            // `name:` alone declares a required variable without an example.
            NodeKind::Null => {}
            NodeKind::Map(fields) => {
                for field in fields {
                    match field.key.as_str() {
                        "example" => decl.example = Some(field.value.to_json()),
                        "default" => decl.default = Some(field.value.to_json()),
                        "description" => decl.description = field.value.as_str().map(str::to_owned),
                        other => {
                            return Err((
                                format!("unknown key `{other}` in the declaration of `{}`", var.key),
                                field.key_span,
                                Some(
                                    did_you_mean(other, VAR_KEYS.iter().copied())
                                        .unwrap_or_else(|| format!("a variable takes {}", VAR_KEYS.join(", "))),
                                ),
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err((
                    format!(
                        "the declaration of `{}` must be a mapping, found {}",
                        var.key,
                        var.value.type_name()
                    ),
                    var.value.span,
                    Some(format!("for example `{}: {{ example: \"...\" }}`", var.key)),
                ))
            }
        }
        vars.push(decl);
    }
    Ok(vars)
}

/// A name `vars` accepts, and the one rule a newcomer must learn for it.
pub(crate) const VARIABLE_NAME_RULE: &str = "use letters, digits and `_`, starting with a letter or `_`";

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Template, Box<TemplateError>> {
        Template::parse("t.yaml".to_owned(), text.to_owned())
    }

    #[test]
    fn reads_vars_and_body() {
        let template =
            parse("vars:\n  name: { example: Asha }\n  city: { default: Pune }\nmessaging_object:\n  to: x\n")
                .expect("valid");
        assert_eq!(template.vars.len(), 2);
        assert!(template.vars[0].is_required());
        assert!(!template.vars[1].is_required());
        assert_eq!(template.span_at("/messaging_object/to").line, 5);
    }

    #[test]
    fn unknown_top_level_key_suggests_the_nearest() {
        let error = parse("messaging_objct: {}\n").expect_err("unknown key");
        match *error {
            TemplateError::Shape {
                message, help, span, ..
            } => {
                assert!(message.contains("messaging_objct"));
                assert_eq!(help.as_deref(), Some("did you mean `messaging_object`?"));
                assert_eq!((span.line, span.column), (1, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn span_of_missing_field_is_its_parent() {
        let template = parse("messaging_object:\n  interactive:\n    body: {text: x}\n").expect("valid");
        assert_eq!(template.span_at("/messaging_object/interactive/type").line, 3);
    }
}
