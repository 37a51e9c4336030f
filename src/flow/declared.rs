//! What a Flow screen's `data` declares for each key (its JSON Schema type and `__example__`),
//! and how a value is matched against that declaration: where it differs, said as a path.

use serde_json::Value;

use crate::words::{self, ValueKind};
use crate::yaml::Span;

/// A key of a screen's `data`.
#[derive(Debug)]
pub(crate) struct Declared {
    pub key: String,
    pub at: Span,
    pub ty: DeclaredType,
    pub example: Option<Value>,
}

/// The type a screen declares for a key, in the JSON Schema terms the Flow JSON reference uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeclaredType {
    /// No `type` given: anything but null.
    Any,
    String,
    Number,
    Integer,
    Boolean,
    /// A list, with the type of its items.
    Array(Box<DeclaredType>),
    /// A mapping, with the types of the properties it declares (others are free).
    Object(Vec<(String, DeclaredType)>),
    /// `"type": ["string", "number"]`.
    AnyOf(Vec<DeclaredType>),
}

pub(super) const TYPE_NAMES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];

impl DeclaredType {
    /// How the type is named in messages: "text", "a list of mappings".
    pub(crate) fn describe(&self) -> String {
        match self {
            DeclaredType::Any => "a value".to_owned(),
            DeclaredType::String => ValueKind::Text.name().to_owned(),
            DeclaredType::Number => ValueKind::Number.name().to_owned(),
            DeclaredType::Integer => ValueKind::WholeNumber.name().to_owned(),
            DeclaredType::Boolean => ValueKind::TrueFalse.name().to_owned(),
            DeclaredType::Array(_) => ValueKind::List.name().to_owned(),
            DeclaredType::Object(_) => ValueKind::Mapping.name().to_owned(),
            DeclaredType::AnyOf(types) => types
                .iter()
                .map(DeclaredType::describe)
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }

    /// Whether the value's own kind is this type (not looking inside lists and mappings).
    fn admits(&self, value: &Value) -> bool {
        match (self, value) {
            // Flows have no null (the reference: a null value fails validation).
            (_, Value::Null) => false,
            (DeclaredType::Any, _) => true,
            (DeclaredType::String, Value::String(_))
            | (DeclaredType::Number, Value::Number(_))
            | (DeclaredType::Boolean, Value::Bool(_))
            | (DeclaredType::Array(_), Value::Array(_))
            | (DeclaredType::Object(_), Value::Object(_)) => true,
            (DeclaredType::Integer, Value::Number(number)) => {
                number.is_i64() || number.is_u64() || number.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            (DeclaredType::AnyOf(types), value) => types.iter().any(|ty| ty.admits(value)),
            _ => false,
        }
    }

    /// The first place where `value` is not of this type: its path below the key (`[2].title`),
    /// the expected type there, and what was found.
    pub(crate) fn mismatch(&self, value: &Value) -> Option<Mismatch> {
        self.mismatch_with(value, false)
    }

    /// [`DeclaredType::mismatch`]; with `holes`, text holding a handlebars expression (`{{`)
    /// matches any type: the template's value before rendering, whose holes are checked per row.
    pub(crate) fn mismatch_with(&self, value: &Value, holes: bool) -> Option<Mismatch> {
        if holes && is_hole(value) {
            return None;
        }
        if !self.admits(value) {
            return Some(Mismatch {
                path: Vec::new(),
                expected: self.describe(),
                found: found(value),
                text_for_typed: value.is_string() && (self.admits(&Value::from(1)) || self.admits(&Value::Bool(true))),
            });
        }
        match (self, value) {
            (DeclaredType::Array(items), Value::Array(values)) => {
                values.iter().enumerate().find_map(|(index, item)| {
                    items.mismatch_with(item, holes).map(|mut inner| {
                        inner.path.insert(0, Segment::Index(index));
                        inner
                    })
                })
            }
            (DeclaredType::Object(properties), Value::Object(values)) => properties.iter().find_map(|(name, ty)| {
                let item = values.get(name)?;
                ty.mismatch_with(item, holes).map(|mut inner| {
                    inner.path.insert(0, Segment::Key(name.clone()));
                    inner
                })
            }),
            _ => None,
        }
    }

    /// The type of what is at `segments` below a value of this type; `None` where it is free.
    pub(crate) fn at(&self, segments: &[&str]) -> Option<&DeclaredType> {
        let Some((first, rest)) = segments.split_first() else {
            return Some(self);
        };
        match self {
            DeclaredType::Array(items) if first.parse::<usize>().is_ok() => items.at(rest),
            DeclaredType::Object(properties) => properties
                .iter()
                .find(|(name, _)| name == first)
                .and_then(|(_, ty)| ty.at(rest)),
            _ => None,
        }
    }
}

/// Whether a template value is rendered per row: text with a handlebars expression, as the
/// renderer decides.
pub(crate) fn is_hole(value: &Value) -> bool {
    matches!(value, Value::String(text) if text.contains("{{"))
}

/// Whether a template value holds a hole anywhere.
pub(crate) fn has_hole(value: &Value) -> bool {
    match value {
        Value::String(_) => is_hole(value),
        Value::Array(items) => items.iter().any(has_hole),
        Value::Object(entries) => entries.values().any(has_hole),
        _ => false,
    }
}

/// Where inside a value a type does not match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mismatch {
    pub path: Vec<Segment>,
    pub expected: String,
    /// What the value is, with the value itself when it is short: `text "three"`.
    pub found: String,
    /// Text where the type takes a number or a boolean: a value that lost its type in a text
    /// data file (CSV, `--var`).
    pub text_for_typed: bool,
}

/// How many characters of a value a message quotes.
const QUOTED: usize = 40;

/// A value's kind, and the value when it is a scalar: `text "three"`, `a number 4.5`.
fn found(value: &Value) -> String {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => words::kind(value).to_owned(),
        // `true` says what it is; "true or false true" would not.
        Value::Bool(value) => value.to_string(),
        scalar => format!("{} {}", words::kind(scalar), words::clip(&scalar.to_string(), QUOTED)),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

impl Mismatch {
    /// `weeks`, `slots[2].title`: the key and the path below it, as people write it.
    pub(crate) fn dotted(&self, key: &str) -> String {
        let mut out = key.to_owned();
        for segment in &self.path {
            match segment {
                Segment::Key(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    /// The JSON pointer of the place, below the key's own pointer.
    pub(crate) fn pointer_below(&self, key_pointer: &str) -> String {
        let mut out = key_pointer.to_owned();
        for segment in &self.path {
            out.push('/');
            match segment {
                Segment::Key(name) => out.push_str(&name.replace('~', "~0").replace('/', "~1")),
                Segment::Index(index) => out.push_str(&index.to_string()),
            }
        }
        out
    }
}
