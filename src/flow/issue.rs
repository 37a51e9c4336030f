//! What can be wrong with a template's Flow, or with the message against it: one variant a
//! rule, each with what is needed to explain it and where it is, drawn by `diagnostic`.

use std::fmt;

use crate::template::{SourceFile, Template};
use crate::yaml::Span;

use super::json::JsonError;

/// Where a finding points.
#[derive(Debug, Clone)]
pub enum Place {
    /// A place in the template's text (its `flow_json` line).
    Template(Span),
    /// The template place that produced the value at a JSON pointer of the body; `key` points
    /// at the key rather than its value.
    Pointer { pointer: String, key: bool },
    /// A place in the Flow file.
    Flow(SourceFile, Span),
}

impl Place {
    /// The span of the template a pointer names: the key when `key`, else its value.
    pub(crate) fn in_template(template: &Template, pointer: &str, key: bool) -> Span {
        key.then(|| template.key_span_at(pointer))
            .flatten()
            .unwrap_or_else(|| template.span_at(pointer))
    }

    /// Where the place comes in the order findings are shown: the Flow file's in file order,
    /// then the template's in file order.
    pub(crate) fn order(&self, template: &Template) -> (u8, usize) {
        match self {
            Place::Flow(_, span) => (0, span.offset),
            Place::Template(span) => (1, span.offset),
            Place::Pointer { pointer, key } => (1, Place::in_template(template, pointer, *key).offset),
        }
    }
}

/// The screen a message opens, as the findings name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenRef {
    pub id: String,
    /// The message leaves `flow_action_payload.screen` out, so the Flow's entry screen opens.
    pub entry: bool,
    /// The approved template's FLOW button opens it (its `navigate_screen`).
    pub button: bool,
}

impl fmt::Display for ScreenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.button {
            write!(f, "screen `{}` (the approved FLOW button's `navigate_screen`)", self.id)
        } else if self.entry {
            write!(
                f,
                "the entry screen `{}` (opened because `flow_action_payload.screen` is left out)",
                self.id
            )
        } else {
            write!(f, "screen `{}`", self.id)
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FlowIssue {
    #[error("cannot read the Flow file `{path}` named by `flow_json`: {reason}")]
    Unreadable {
        path: String,
        reason: String,
        /// A file of the same folder whose name is close, as `flow_json` would name it.
        suggestion: Option<String>,
        at: Span,
    },
    #[error("{file} is not valid JSON: {error}")]
    Json { file: String, error: JsonError, at: Place },
    #[error("{what} must be {expected}, found {found}")]
    WrongKind {
        what: String,
        expected: &'static str,
        found: &'static str,
        at: Place,
    },
    #[error("{within} has no `{field}`")]
    MissingField {
        within: String,
        field: &'static str,
        at: Place,
    },
    #[error("screen id `{id}` may hold only letters and `_`")]
    BadScreenId { id: String, at: Place },
    #[error("`SUCCESS` is reserved by Meta and cannot be a screen id")]
    ReservedScreenId { at: Place },
    #[error("duplicate screen id `{id}`")]
    DuplicateScreen { id: String, at: Place, first: Place },
    #[error("`routing_model` names `{name}`, which is not a screen of {file}")]
    UnknownRoute {
        name: String,
        file: String,
        suggestion: Option<String>,
        at: Place,
    },
    #[error("{file} declares `data_api_version` (an endpoint Flow) but has no `routing_model`")]
    NoRoutingModel { file: String, at: Place },
    #[error("a `navigate` action goes to `{name}`, which is not a screen of {file}")]
    UnknownNext {
        name: String,
        file: String,
        suggestion: Option<String>,
        at: Place,
    },
    #[error(
        "`${{data.{key}}}` is used on screen `{screen}` of {file}, but that screen's `data` does not declare `{key}`"
    )]
    UndeclaredData {
        key: String,
        screen: String,
        file: String,
        suggestion: Option<String>,
        at: Place,
    },
    #[error("no screen of {file} is terminal")]
    NoTerminal { file: String, at: Place },
    #[error("`{key}` on screen `{screen}` has the unknown type `{name}`")]
    UnknownType {
        key: String,
        screen: String,
        name: String,
        suggestion: Option<String>,
        at: Place,
    },
    #[error("the `__example__` of `{path}` on screen `{screen}` is {found}, but `{path}` is declared as {expected}")]
    ExampleMismatch {
        path: String,
        screen: String,
        expected: String,
        found: String,
        at: Place,
    },
    #[error("`{field}` names `{screen}`, which is not a screen of {file}")]
    UnknownScreen {
        /// `flow_action_payload.screen`, or the approved FLOW button's `navigate_screen`.
        field: &'static str,
        screen: String,
        file: String,
        suggestion: Option<String>,
        known: Vec<String>,
        at: Place,
        screens: Place,
    },
    #[error("`{field}.{key}` is not declared by {screen} of {file}")]
    UndeclaredKey {
        /// `flow_action_payload.data`, or a template message's `flow_action_data`.
        field: &'static str,
        key: String,
        screen: ScreenRef,
        file: String,
        suggestion: Option<String>,
        declared: Vec<String>,
        at: Place,
        data: Place,
    },
    #[error("{screen} of {file} declares `{key}`, but `{field}` does not give it")]
    MissingKey {
        field: &'static str,
        key: String,
        screen: ScreenRef,
        file: String,
        at: Place,
        declared: Place,
    },
    #[error("`{field}.{path}` must be {expected}, as {screen} of {file} declares it; found {found}")]
    WrongType {
        field: &'static str,
        path: String,
        screen: ScreenRef,
        file: String,
        expected: String,
        found: String,
        /// Text where a number or a boolean is declared (see [`super::declared::Mismatch`]).
        text_for_typed: bool,
        at: Place,
        declared: Place,
    },
    #[error("{file} has {more} more problems")]
    TooManyIssues { more: usize, file: String, at: Place },
    #[error("`flow_action: data_exchange` asks the Flow's endpoint for its first screen, but {file} declares no `data_api_version` (no endpoint)")]
    NoEndpoint { file: String, at: Place, flow: Place },
}

impl FlowIssue {
    /// Whether the issue stops the template (an error) or only informs (a warning).
    pub(crate) fn is_error(&self) -> bool {
        !matches!(self, FlowIssue::NoEndpoint { .. })
    }

    pub(crate) fn place(&self) -> Place {
        match self {
            FlowIssue::Unreadable { at, .. } => Place::Template(*at),
            FlowIssue::Json { at, .. }
            | FlowIssue::WrongKind { at, .. }
            | FlowIssue::MissingField { at, .. }
            | FlowIssue::BadScreenId { at, .. }
            | FlowIssue::ReservedScreenId { at }
            | FlowIssue::DuplicateScreen { at, .. }
            | FlowIssue::UnknownRoute { at, .. }
            | FlowIssue::NoRoutingModel { at, .. }
            | FlowIssue::UnknownNext { at, .. }
            | FlowIssue::UndeclaredData { at, .. }
            | FlowIssue::NoTerminal { at, .. }
            | FlowIssue::UnknownType { at, .. }
            | FlowIssue::ExampleMismatch { at, .. }
            | FlowIssue::UnknownScreen { at, .. }
            | FlowIssue::UndeclaredKey { at, .. }
            | FlowIssue::MissingKey { at, .. }
            | FlowIssue::WrongType { at, .. }
            | FlowIssue::TooManyIssues { at, .. }
            | FlowIssue::NoEndpoint { at, .. } => at.clone(),
        }
    }

    /// The second place a finding shows, and what it is: the Flow line beside a template line.
    pub(crate) fn related(&self) -> Option<(Place, String)> {
        match self {
            FlowIssue::DuplicateScreen { first, id, .. } => {
                Some((first.clone(), format!("`{id}` is first defined here")))
            }
            FlowIssue::UnknownScreen { screens, .. } => Some((screens.clone(), "the Flow's screens".to_owned())),
            FlowIssue::UndeclaredKey { data, screen, .. } => {
                Some((data.clone(), format!("what `{}` declares", screen.id)))
            }
            FlowIssue::MissingKey { declared, key, .. } => {
                Some((declared.clone(), format!("`{key}` is declared here")))
            }
            FlowIssue::WrongType { declared, path, .. } => {
                Some((declared.clone(), format!("the declaration of `{}`", top_key(path))))
            }
            FlowIssue::NoEndpoint { flow, .. } => Some((flow.clone(), "the Flow".to_owned())),
            _ => None,
        }
    }

    pub(crate) fn help(&self) -> Option<String> {
        let suggested = |suggestion: &Option<String>| suggestion.as_ref().map(|name| format!("did you mean `{name}`?"));
        match self {
            FlowIssue::Unreadable { suggestion, .. } => suggested(suggestion)
                .or_else(|| Some("`flow_json` is a path relative to the template's own folder".to_owned())),
            FlowIssue::Json { error: JsonError::DuplicateKey { first, .. }, .. } => Some(format!(
                "it is first set on line {}, column {}",
                first.line, first.column
            )),
            FlowIssue::Json { .. } | FlowIssue::WrongKind { .. } => None,
            FlowIssue::MissingField { field, .. } => Some(match *field {
                "version" => "Meta's Flow JSON reference requires `version` (such as \"7.1\") and `screens`".to_owned(),
                "screens" => "Meta's Flow JSON reference requires `version` and `screens`, a list of screens".to_owned(),
                "id" | "layout" => "every screen needs an `id` and a `layout`".to_owned(),
                _ => return None,
            }),
            FlowIssue::BadScreenId { .. } => {
                Some("Meta refuses ids with other characters (digits, `-`, spaces): `SLOT_PICKER`, not `slot-picker-1`".to_owned())
            }
            FlowIssue::ReservedScreenId { .. } => Some("Meta's Flow JSON reference: SUCCESS is a reserved keyword".to_owned()),
            FlowIssue::DuplicateScreen { .. } => Some("screen ids must be unique: rename one of them".to_owned()),
            FlowIssue::UnknownRoute { suggestion, .. } | FlowIssue::UnknownNext { suggestion, .. } => {
                suggested(suggestion).or_else(|| Some("name a screen's `id`".to_owned()))
            }
            FlowIssue::NoRoutingModel { .. } => Some(
                "Meta asks endpoint Flows for `routing_model`, a map of each screen id to the screens it may go to"
                    .to_owned(),
            ),
            FlowIssue::UndeclaredData { key, suggestion, .. } => suggested(suggestion).or_else(|| {
                Some(format!(
                    "declare it in the screen's `data`: \"{key}\": {{\"type\": \"string\", \"__example__\": \"...\"}}"
                ))
            }),
            FlowIssue::NoTerminal { .. } => Some(
                "mark the screen that ends the Flow with \"terminal\": true (Meta requires one, with a Footer)"
                    .to_owned(),
            ),
            FlowIssue::UnknownType { suggestion, .. } => suggested(suggestion).or_else(|| {
                Some("the types are string, number, integer, boolean, array and object".to_owned())
            }),
            FlowIssue::ExampleMismatch { .. } => {
                Some("Meta checks `__example__` against the declared type when the Flow is uploaded".to_owned())
            }
            FlowIssue::UnknownScreen { suggestion, known, .. } => {
                suggested(suggestion).or_else(|| Some(format!("its screens are {}", known.join(", "))))
            }
            FlowIssue::UndeclaredKey {
                suggestion,
                declared,
                screen,
                ..
            } => suggested(suggestion).or_else(|| {
                Some(if declared.is_empty() {
                    format!("`{}` declares no data: leave `data` out", screen.id)
                } else {
                    format!("`{}` declares {}", screen.id, declared.join(", "))
                })
            }),
            FlowIssue::MissingKey { key, field, .. } => Some(format!(
                "give `{key}` a value under `{field}`: Meta refuses a message that leaves out data the screen declares"
            )),
            FlowIssue::WrongType { text_for_typed, .. } => {
                Some(if *text_for_typed {
                    "a value alone in its string (\"{{var}}\") keeps its type from a JSON, JSON Lines or YAML data file, an `example` or a `default`; CSV and --var values are text".to_owned()
                } else {
                    "Meta checks the message's data against the screen's declared types".to_owned()
                })
            }
            FlowIssue::TooManyIssues { .. } => Some("fix the problems above first".to_owned()),
            FlowIssue::NoEndpoint { .. } => Some(
                "an endpoint Flow declares \"data_api_version\": \"3.0\" and a `routing_model`; a Flow without one is opened with `flow_action: navigate`"
                    .to_owned(),
            ),
        }
    }
}

/// `weeks` for `weeks`, `slots` for `slots[2].title`.
fn top_key(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}
