//! Validation of compiled bodies against `schemas/flow-message.schema.json`.
//!
//! The schema is embedded in the binary (flowc works from any directory) and compiled once per
//! run. Violations come back as [`Violation`]s with a JSON pointer, a message a person can act
//! on, and a hint: the nearest known field for a typo, or the rule's cited source.

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;

mod scan;

use crate::phone::RECIPIENTS_PATTERN;
use crate::suggest::did_you_mean;
use crate::template::MessageKind;
use crate::words::ValueKind;

pub(crate) const SCHEMA_SOURCE: &str = include_str!("../schemas/flow-message.schema.json");
/// The rules of a template message (`type: template`): the same envelope, Meta's template object.
pub(crate) const TEMPLATE_SCHEMA_SOURCE: &str = include_str!("../schemas/template-message.schema.json");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the body, as a JSON pointer (`/messaging_object/interactive/footer`).
    pub pointer: String,
    pub message: String,
    /// The message without the value that broke the rule (a length, a value not allowed), when
    /// it quotes one: the same words for every row that breaks the rule the same way.
    pub gist: Option<String>,
    pub help: Option<String>,
    /// Whether the value is over a length limit: a longer value would break the rule too, so a
    /// value rendered without some of its parts (an undeclared variable) is still too long.
    pub too_long: bool,
    /// A key the schema does not know: marked at the key itself, not at its value.
    pub unknown_key: bool,
}

pub(crate) struct BodyValidator {
    validator: Validator,
    schema: Value,
}

impl BodyValidator {
    pub(crate) fn new() -> BodyValidator {
        BodyValidator::for_kind(MessageKind::Flow)
    }

    /// The validator of the schema for messages of this kind.
    pub(crate) fn for_kind(kind: MessageKind) -> BodyValidator {
        let source = match kind {
            MessageKind::Flow => SCHEMA_SOURCE,
            MessageKind::Template => TEMPLATE_SCHEMA_SOURCE,
        };
        // The schema ships inside the binary and a test compiles it: failing here is a build defect.
        let schema: Value = serde_json::from_str(source).expect("the embedded schema is valid JSON");
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(&schema)
            .expect("the embedded schema compiles");
        BodyValidator { validator, schema }
    }

    /// Every rule the body breaks, in document order.
    pub(crate) fn validate(&self, body: &Value) -> Vec<Violation> {
        if self.validator.is_valid(body) {
            return Vec::new();
        }
        let mut violations: Vec<Violation> = self
            .validator
            .iter_errors(body)
            .map(|error| self.explain(&error))
            .collect();
        violations.dedup();
        violations
    }

    fn explain(&self, error: &ValidationError<'_>) -> Violation {
        let pointer = error.instance_path().as_str().to_owned();
        let schema_path = error.schema_path().as_str();
        let rule = self.rule_of(schema_path);
        let field = field_name(&pointer);
        let description = rule.and_then(|rule| rule["description"].as_str()).map(str::to_owned);
        if let Some(custom) = rule.and_then(|rule| rule["x-flowc-message"].as_str()) {
            let pointer = match rule.and_then(|rule| rule["x-flowc-field"].as_str()) {
                Some(child) => format!("{pointer}/{child}"),
                None => pointer,
            };
            return Violation {
                pointer,
                message: custom.to_owned(),
                gist: None,
                help: description,
                too_long: false,
                unknown_key: false,
            };
        }
        let subschema = self.schema.pointer(parent_path(schema_path));
        // (message, gist, help, pointer): the gist only where the message quotes the value.
        let (message, gist, help, pointer) = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let unknown = unexpected.first().map_or("", String::as_str);
                let known = subschema
                    .and_then(|schema| schema["properties"].as_object())
                    .map(|properties| properties.keys().map(String::as_str).collect::<Vec<_>>())
                    .unwrap_or_default();
                let help = did_you_mean(unknown, known.iter().copied())
                    .unwrap_or_else(|| format!("the known fields here are {}", known.join(", ")));
                let message = if pointer == "/messaging_object/interactive/header"
                    && matches!(unknown, "image" | "video" | "document")
                {
                    format!("unknown field `{unknown}` in `{field}`: only text headers are supported in Flow messages")
                } else {
                    format!("unknown field `{unknown}` in `{field}`")
                };
                (
                    message,
                    None,
                    Some(help),
                    format!("{pointer}/{}", escape_pointer(unknown)),
                )
            }
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default();
                let help = subschema
                    .and_then(|schema| schema["properties"][property]["description"].as_str())
                    .map(str::to_owned);
                (
                    format!("`{field}` is missing the required field `{property}`"),
                    None,
                    help,
                    pointer,
                )
            }
            ValidationErrorKind::MaxLength { limit } => (
                format!(
                    "`{field}` is {} characters long; the limit is {limit}",
                    char_count(error.instance())
                ),
                Some(format!("`{field}` is longer than its limit of {limit} characters")),
                description,
                pointer,
            ),
            ValidationErrorKind::MinLength { .. } => {
                (format!("`{field}` must not be empty"), None, description, pointer)
            }
            ValidationErrorKind::Constant { expected_value } => (
                format!("`{field}` must be {expected_value}, found {}", error.instance()),
                Some(format!("`{field}` must be {expected_value}")),
                description,
                pointer,
            ),
            ValidationErrorKind::Enum { options } => {
                let options: Vec<&str> = options
                    .as_array()
                    .map(|items| items.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let found = error.instance();
                let help = found
                    .as_str()
                    .and_then(|found| did_you_mean(found, options.iter().copied()))
                    .or(description);
                (
                    format!("`{field}` must be one of {}, found {found}", options.join(", ")),
                    Some(format!("`{field}` must be one of {}", options.join(", "))),
                    help,
                    pointer,
                )
            }
            ValidationErrorKind::Type { kind } => {
                let expected = type_words(kind);
                let message = match &**error.instance() {
                    // YAML reads `123`, `true` and `2026-01-31` unquoted as what they look like.
                    found @ (Value::Number(_) | Value::Bool(_)) if expected == ValueKind::Text.name() => {
                        let what = if found.is_number() { "the number " } else { "" };
                        format!("`{field}` must be text, found {what}{found}: write \"{found}\" in quotes")
                    }
                    Value::Null if !self.is_required(schema_path, &pointer) => {
                        format!("`{field}` is null (no value): leave the field out, or give it a value")
                    }
                    found => format!("`{field}` must be {expected}, found {}", crate::words::kind(found)),
                };
                (message, None, description, pointer)
            }
            _ => (
                format!("`{field}`: {error}"),
                Some(format!(
                    "`{field}` breaks the rule `{}`",
                    schema_path.rsplit('/').next().unwrap_or_default()
                )),
                description,
                pointer,
            ),
        };
        Violation {
            pointer,
            message,
            gist,
            help,
            too_long: matches!(error.kind(), ValidationErrorKind::MaxLength { .. }),
            unknown_key: matches!(
                error.kind(),
                ValidationErrorKind::AdditionalProperties { .. } | ValidationErrorKind::UnevaluatedProperties { .. }
            ),
        }
    }

    /// Whether the property at `pointer`, whose own rule failed at `schema_path`, must be
    /// present: whether the object schema around it lists it as `required`.
    fn is_required(&self, schema_path: &str, pointer: &str) -> bool {
        let Some((_, key)) = pointer.rsplit_once('/') else {
            return true;
        };
        let property = parent_path(schema_path);
        let Some(object) = property.strip_suffix(&format!("/properties/{key}")) else {
            return true;
        };
        self.schema
            .pointer(object)
            .and_then(|object| object["required"].as_array())
            .is_some_and(|required| required.iter().any(|name| name == key))
    }

    /// The subschema that holds the failing keyword, looking through `then`/`else`/`not`
    /// so that a rule written as `if`/`then` is explained by its own message.
    fn rule_of(&self, schema_path: &str) -> Option<&Value> {
        let mut path = parent_path(schema_path);
        loop {
            let node = self.schema.pointer(path)?;
            if node.get("x-flowc-message").is_some() {
                return Some(node);
            }
            match path.rsplit_once('/') {
                Some((parent, "then" | "else" | "not")) => path = parent,
                _ => return Some(node),
            }
        }
    }
}

/// How the value at one place of a body whose shape is fixed can be checked on its own.
pub(crate) enum HoleSchema {
    /// The schema says nothing about it.
    Any,
    /// Its own subschema decides; no rule elsewhere looks at it.
    Check(Box<ValueCheck>),
    /// A rule elsewhere depends on it (`if`/`oneOf` over its value, say): check the whole body.
    Dependent,
}

/// A hole's own subschema, compiled: `jsonschema`, less the rules on text that a byte scan
/// decides as the schema's pattern does (see [`scan`]).
pub(crate) struct ValueCheck {
    validator: Validator,
    forbidden: Vec<scan::Forbidden>,
    /// The subschema says only `type: string` and `pattern:` [`RECIPIENTS_PATTERN`].
    recipients_form: bool,
    /// The subschema (less `forbidden`) says only `type: string` and its length in characters:
    /// then that is checked here, most often from the text's size alone.
    text_length: Option<TextLength>,
}

/// `{type: string, minLength: min, maxLength: max}`: the only rules on some text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextLength {
    min: usize,
    max: usize,
}

impl TextLength {
    /// The rules, when `schema` says nothing else (annotations aside).
    fn of(schema: &Value) -> Option<TextLength> {
        let object = schema.as_object()?;
        let mut length = TextLength {
            min: 0,
            max: usize::MAX,
        };
        let mut typed = false;
        for (key, value) in object.iter().filter(|(key, _)| !scan::is_annotation(key)) {
            match key.as_str() {
                "type" if value.as_str() == Some("string") => typed = true,
                "minLength" => length.min = usize::try_from(value.as_u64()?).ok()?,
                "maxLength" => length.max = usize::try_from(value.as_u64()?).ok()?,
                _ => return None,
            }
        }
        typed.then_some(length)
    }

    /// Whether the text has from `min` to `max` characters. A character takes 1 to 4 bytes:
    /// text of no more bytes than `max` (and at least one, when `min` is 1) needs no counting.
    fn admits(self, text: &str) -> bool {
        if text.len() < self.min {
            return false;
        }
        if text.len() <= self.max && self.min <= 1 {
            return true;
        }
        (self.min..=self.max).contains(&text.chars().count())
    }
}

impl ValueCheck {
    pub(crate) fn is_valid(&self, value: &Value) -> bool {
        if let Some(length) = self.text_length {
            return value.as_str().is_some_and(|text| {
                length.admits(text) && self.forbidden.iter().all(|forbidden| forbidden.allows(text))
            });
        }
        let text_allowed = match value {
            Value::String(text) => self.forbidden.iter().all(|forbidden| forbidden.allows(text)),
            _ => true,
        };
        text_allowed && self.validator.is_valid(value)
    }

    /// Whether every output of [`crate::phone::normalise_recipients`] passes this check: the
    /// subschema asks for nothing but text of [`RECIPIENTS_PATTERN`], which that output always is.
    pub(crate) fn implied_by_normalised_recipients(&self) -> bool {
        self.recipients_form
    }
}

/// Whether `schema` is exactly `{type: string, pattern: RECIPIENTS_PATTERN}`, annotations aside.
fn is_recipients_form(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| {
        let rules: Vec<(&String, &Value)> = object.iter().filter(|(key, _)| !scan::is_annotation(key)).collect();
        rules.len() == 2
            && rules.iter().all(|(key, value)| match key.as_str() {
                "type" => value.as_str() == Some("string"),
                "pattern" => value.as_str() == Some(RECIPIENTS_PATTERN),
                _ => false,
            })
    })
}

/// Keywords whose subschemas are evaluated against the object that holds a property.
const APPLICATORS: &[&str] = &[
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "patternProperties",
    "unevaluatedProperties",
    "$ref",
    "$dynamicRef",
];

impl BodyValidator {
    /// How to check the value at `pointer` alone, given every key of the body is fixed and
    /// `skeleton` is the body with every hole (`holes`, by pointer) a placeholder.
    ///
    /// Walking the schema down the pointer, each level's rules fall in two kinds: those about
    /// which keys exist (`required`, `additionalProperties`, `minProperties`, `minItems`), settled
    /// once for a fixed shape, and those that look at values (`properties`, `items`, and
    /// applicators such as `if`/`oneOf`). An `if`/`then` decided by constants of the skeleton (a
    /// component's `type: body`) applies the same way to every row: its branch is walked as the
    /// level's own rules. If any other applicator on the way looks at this property, the value
    /// cannot be checked alone.
    pub(crate) fn hole_schema(&self, pointer: &str, skeleton: &Value, holes: &[String]) -> HoleSchema {
        let segments: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        let mut schemas: Vec<&Value> = vec![&self.schema];
        let mut node = Some(skeleton);
        let mut at = String::new();
        for (depth, key) in segments.iter().enumerate() {
            let level = Level {
                node,
                at: &at,
                key,
                is_hole: depth + 1 == segments.len(),
                holes,
            };
            let mut next = Vec::new();
            for schema in schemas {
                if level.step(schema, &mut next).is_err() {
                    return HoleSchema::Dependent;
                }
            }
            schemas = next;
            node = node.and_then(|node| match node {
                Value::Object(object) => object.get(key.as_str()),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|index| items.get(index)),
                _ => None,
            });
            at = format!("{at}/{}", escape_pointer(key));
        }
        let mut schema = match schemas.as_slice() {
            [] => return HoleSchema::Any,
            [only] if only.as_bool() == Some(true) => return HoleSchema::Any,
            [only] => (*only).clone(),
            several => serde_json::json!({ "allOf": several }),
        };
        let forbidden = scan::take_forbidden(&mut schema);
        let recipients_form = forbidden.is_empty() && is_recipients_form(&schema);
        let text_length = TextLength::of(&schema);
        match jsonschema::options().with_draft(Draft::Draft202012).build(&schema) {
            Ok(validator) => HoleSchema::Check(Box::new(ValueCheck {
                validator,
                forbidden,
                recipients_form,
                text_length,
            })),
            Err(_) => HoleSchema::Dependent,
        }
    }

    /// Violations that are not at or under any of the given pointers: faults of the shape.
    pub(crate) fn shape_violations(&self, body: &Value, holes: &[String]) -> Vec<Violation> {
        self.validate(body)
            .into_iter()
            .filter(|violation| {
                !holes
                    .iter()
                    .any(|hole| violation.pointer == *hole || violation.pointer.starts_with(&format!("{hole}/")))
            })
            .collect()
    }
}

/// One level of [`BodyValidator::hole_schema`]'s walk: the skeleton's node there, its pointer,
/// and the key the walk goes down.
struct Level<'a> {
    node: Option<&'a Value>,
    at: &'a str,
    key: &'a str,
    is_hole: bool,
    holes: &'a [String],
}

/// The walk cannot check the hole alone.
struct Dependent;

/// What [`Level::decided`] made of a rule.
enum Decided<'s> {
    /// The condition holds the same way for every row; this branch applies.
    Branch(&'s Value),
    /// It holds the same way for every row, and no branch applies.
    Neither,
    /// It cannot be decided once.
    No,
}

impl Level<'_> {
    /// Adds to `next` the subschemas of `schema` that apply to the value under `key`.
    fn step<'s>(&self, schema: &'s Value, next: &mut Vec<&'s Value>) -> Result<(), Dependent> {
        let Some(object) = schema.as_object() else {
            return if schema.as_bool() == Some(true) {
                Ok(())
            } else {
                Err(Dependent)
            };
        };
        let key = self.key;
        for applicator in APPLICATORS {
            let Some(rules) = object.get(*applicator) else {
                continue;
            };
            if let (&"allOf", Some(items)) = (applicator, rules.as_array()) {
                for item in items {
                    // A rule that reports at the hole would have its findings taken for the hole's.
                    if self.is_hole && reports_at(item, key) {
                        return Err(Dependent);
                    }
                    match self.decided(item) {
                        Decided::Branch(branch) => self.step(branch, next)?,
                        Decided::Neither => {}
                        Decided::No if looks_at(item, key) => return Err(Dependent),
                        Decided::No => {}
                    }
                }
                continue;
            }
            if looks_at(rules, key) || (self.is_hole && reports_at(rules, key)) {
                return Err(Dependent);
            }
        }
        if ["prefixItems", "contains", "uniqueItems"]
            .iter()
            .any(|keyword| object.contains_key(*keyword))
        {
            return Err(Dependent);
        }
        if let Some(items) = object.get("items") {
            // Each item of a list is checked by `items` alone (no rule above compares items).
            return if key.parse::<usize>().is_ok() {
                next.push(items);
                Ok(())
            } else {
                Err(Dependent)
            };
        }
        match object.get("properties").and_then(|properties| properties.get(key)) {
            Some(child) => next.push(child),
            None => match object.get("additionalProperties") {
                Some(Value::Bool(false)) => return Err(Dependent),
                Some(child @ Value::Object(_)) => next.push(child),
                _ => {}
            },
        }
        Ok(())
    }

    /// Which branch of an `{"if", "then"}` rule applies, when its condition looks only at
    /// fields that are the same in every row.
    fn decided<'s>(&self, rule: &'s Value) -> Decided<'s> {
        self.decide(rule)
            .map_or(Decided::No, |branch| branch.map_or(Decided::Neither, Decided::Branch))
    }

    /// `Some(branch)` with the branch that applies (`None` when none does); `None` when the
    /// condition cannot be decided once.
    #[allow(clippy::option_option)]
    fn decide<'s>(&self, rule: &'s Value) -> Option<Option<&'s Value>> {
        let rule = rule.as_object()?;
        let condition = rule.get("if")?;
        let condition_keys = condition.as_object()?;
        if condition_keys
            .keys()
            .any(|keyword| !matches!(keyword.as_str(), "required" | "properties"))
        {
            return None;
        }
        let looked_at = condition_keys
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|properties| properties.keys());
        for field in looked_at {
            let place = format!("{}/{}", self.at, escape_pointer(field));
            if self
                .holes
                .iter()
                .any(|hole| *hole == place || hole.starts_with(&format!("{place}/")))
            {
                return None;
            }
        }
        let node = self.node?;
        let holds = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(condition)
            .ok()?
            .is_valid(node);
        Some(if holds { rule.get("then") } else { rule.get("else") })
    }
}

/// Whether a rule reports its violations at property `key` (flowc's `x-flowc-field`): a hole
/// there would hide them, since violations at a hole are taken for the hole's own.
fn reports_at(rules: &Value, key: &str) -> bool {
    match rules {
        Value::Object(object) => object
            .iter()
            .any(|(name, value)| (name == "x-flowc-field" && value == key) || reports_at(value, key)),
        Value::Array(items) => items.iter().any(|item| reports_at(item, key)),
        _ => false,
    }
}

/// Whether a rule looks at the value of property `key` (or could, through a reference).
fn looks_at(rules: &Value, key: &str) -> bool {
    match rules {
        Value::Object(object) => object.iter().any(|(name, value)| {
            (name == "properties" && value.get(key).is_some())
                || matches!(
                    name.as_str(),
                    "patternProperties" | "$ref" | "$dynamicRef" | "additionalProperties"
                )
                || looks_at(value, key)
        }),
        Value::Array(items) => items.iter().any(|item| looks_at(item, key)),
        _ => false,
    }
}

impl Default for BodyValidator {
    fn default() -> Self {
        BodyValidator::new()
    }
}

fn parent_path(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// `interactive.header.text` for `/messaging_object/interactive/header/text`.
fn field_name(pointer: &str) -> String {
    let trimmed = pointer.strip_prefix("/messaging_object").unwrap_or(pointer);
    let name = trimmed.trim_start_matches('/').replace('/', ".");
    if name.is_empty() {
        pointer.trim_start_matches('/').replace('/', ".")
    } else {
        name
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn char_count(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

fn type_words(kind: &jsonschema::error::TypeKind) -> String {
    // The template's schema says `integer` where any number is read: "a number" either way.
    let words = |ty: &jsonschema::JsonType| match ty.to_string().as_str() {
        "integer" => ValueKind::Number.name(),
        name => ValueKind::of_schema_type(name).name(),
    };
    match kind {
        jsonschema::error::TypeKind::Single(ty) => words(ty).to_owned(),
        jsonschema::error::TypeKind::Multiple(types) => {
            types.iter().map(|ty| words(&ty)).collect::<Vec<_>>().join(" or ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid_body() -> Value {
        json!({"messaging_object": {"messaging_product": "whatsapp", "recipient_type": "individual",
            "type": "interactive", "to": "+919876543210", "interactive": {"type": "flow",
            "body": {"text": "hi"}, "action": {"name": "flow", "parameters": {
            "flow_message_version": "3", "flow_id": "1", "flow_cta": "Book"}}}}})
    }

    #[test]
    fn accepts_a_valid_body() {
        assert_eq!(BodyValidator::new().validate(&valid_body()), Vec::new());
    }

    #[test]
    fn unknown_field_points_at_it_and_suggests() {
        let mut body = valid_body();
        body["messaging_object"]["interactive"]["foter"] = json!({"text": "x"});
        let violations = BodyValidator::new().validate(&body);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].pointer, "/messaging_object/interactive/foter");
        assert_eq!(violations[0].help.as_deref(), Some("did you mean `footer`?"));
    }

    /// How the hole at `pointer` is checked when it is the body's only hole.
    fn alone(validator: &BodyValidator, pointer: &str, skeleton: &Value) -> HoleSchema {
        validator.hole_schema(pointer, skeleton, &[pointer.to_owned()])
    }

    #[test]
    fn the_rule_on_to_is_implied_by_normalising_it_for_both_kinds_of_message() {
        for kind in [MessageKind::Flow, MessageKind::Template] {
            let HoleSchema::Check(check) = alone(&BodyValidator::for_kind(kind), "/messaging_object/to", &valid_body())
            else {
                panic!("`to` is checked alone");
            };
            assert!(check.implied_by_normalised_recipients(), "{kind:?}");
        }
        assert!(is_recipients_form(
            &json!({"description": "d", "type": "string", "pattern": RECIPIENTS_PATTERN})
        ));
        for stricter in [
            json!({"type": "string", "pattern": RECIPIENTS_PATTERN, "maxLength": 16}),
            json!({"type": "string", "pattern": "^\\+91[0-9]{10}$"}),
            json!({"pattern": RECIPIENTS_PATTERN}),
            json!({"type": ["string"], "pattern": RECIPIENTS_PATTERN}),
        ] {
            assert!(!is_recipients_form(&stricter), "{stricter}");
        }
    }

    #[test]
    fn a_length_in_characters_is_decided_as_the_schema_decides_it() {
        let schemas = [
            json!({"type": "string", "minLength": 1, "maxLength": 5}),
            json!({"description": "d", "type": "string", "maxLength": 3}),
            json!({"type": "string", "minLength": 3}),
            json!({"type": "string", "minLength": 2, "maxLength": 2}),
            json!({"type": "string"}),
        ];
        let values = [
            json!(""),
            json!("a"),
            json!("ab"),
            json!("abc"),
            json!("abcde"),
            json!("abcdef"),
            json!("é"),
            json!("éé"),
            json!("éèê"),
            json!("🎉🎉🎉🎉🎉"),
            json!("🎉🎉🎉🎉🎉🎉"),
            json!(7),
            json!(null),
            json!(["a"]),
        ];
        for schema in schemas {
            let length = TextLength::of(&schema).expect("a length rule");
            let validator = jsonschema::validator_for(&schema).expect("compiles");
            for value in &values {
                let decided = value.as_str().is_some_and(|text| length.admits(text));
                assert_eq!(decided, validator.is_valid(value), "{schema} {value}");
            }
        }
        for other in [
            json!({"type": "string", "maxLength": 3, "pattern": "a"}),
            json!({"maxLength": 3}),
            json!({"type": ["string", "null"], "maxLength": 3}),
            json!({"type": "string", "maxLength": -1}),
            json!({"type": "string", "maxLength": 2.5}),
        ] {
            assert_eq!(TextLength::of(&other), None, "{other}");
        }
    }

    #[test]
    fn holes_are_checked_alone_unless_a_rule_looks_at_them() {
        let validator = BodyValidator::new();
        let skeleton = valid_body();
        assert!(matches!(
            alone(&validator, "/messaging_object/to", &skeleton),
            HoleSchema::Check(_)
        ));
        assert!(matches!(
            alone(
                &validator,
                "/messaging_object/interactive/action/parameters/flow_cta",
                &skeleton
            ),
            HoleSchema::Check(_)
        ));
        assert!(matches!(
            alone(
                &validator,
                "/messaging_object/interactive/action/parameters/flow_action",
                &skeleton
            ),
            HoleSchema::Dependent
        ));
        assert!(matches!(
            alone(
                &validator,
                "/messaging_object/interactive/action/parameters/flow_action_payload/data/who",
                &skeleton
            ),
            HoleSchema::Any
        ));
        assert!(matches!(
            alone(&validator, "/messaging_object/nonsense", &skeleton),
            HoleSchema::Dependent
        ));
    }

    /// A template message's values sit in lists of components whose rules depend on each
    /// `type`: a constant type decides them once, so each value is checked alone; a type that
    /// is itself a hole leaves the rules that look at it undecided.
    #[test]
    fn a_value_inside_a_component_of_constant_type_is_checked_alone() {
        let validator = BodyValidator::for_kind(MessageKind::Template);
        let skeleton = json!({"messaging_object": {"messaging_product": "whatsapp", "type": "template",
            "to": "+14155550100", "template": {"name": "t", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]}}});
        let text = "/messaging_object/template/components/0/parameters/0/text";
        let HoleSchema::Check(check) = alone(&validator, text, &skeleton) else {
            panic!("a body value is checked alone");
        };
        assert!(check.is_valid(&json!("Pune")));
        assert!(!check.is_valid(&json!("two\nlines")));
        assert!(!check.is_valid(&json!("five     spaces")));
        let kind = "/messaging_object/template/components/0/parameters/0/type";
        let holes = [text.to_owned(), kind.to_owned()];
        assert!(matches!(
            validator.hole_schema(kind, &skeleton, &holes),
            HoleSchema::Dependent
        ));
    }

    #[test]
    fn emoji_in_cta_is_refused() {
        let mut body = valid_body();
        body["messaging_object"]["interactive"]["action"]["parameters"]["flow_cta"] = json!("Book 📅");
        let violations = BodyValidator::new().validate(&body);
        assert_eq!(violations.len(), 1);
        assert!(violations[0].message.contains("emoji"));
    }

    fn cta_violations(cta: &str) -> Vec<Violation> {
        let mut body = valid_body();
        body["messaging_object"]["interactive"]["action"]["parameters"]["flow_cta"] = json!(cta);
        BodyValidator::new().validate(&body)
    }

    /// Every kind of RGI emoji sequence: keycaps (digit, `#` and `*` bases are not
    /// pictographic), presentation sequences, flags of regional indicators, tag-sequence flags,
    /// skin-tone modifiers, ZWJ sequences.
    #[test]
    fn every_kind_of_emoji_sequence_in_cta_is_refused() {
        for cta in [
            "Step 1\u{FE0F}\u{20E3}",                                                // 1️⃣ keycap
            "Call #\u{FE0F}\u{20E3}",                                                // #️⃣ keycap
            "Press *\u{FE0F}\u{20E3}",                                               // *️⃣ keycap
            "Press 1\u{20E3}",                                                       // a keycap without its FE0F
            "Book \u{A9}\u{FE0F}",                                                   // ©️
            "Book \u{263A}\u{FE0F}",                                                 // ☺️
            "Book \u{263A}\u{FE0E}",    // ☺︎ (text presentation: still a pictograph)
            "Visit \u{1F1EE}\u{1F1F3}", // 🇮🇳
            "Visit \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}", // England
            "Wave \u{1F44B}\u{1F3FD}",  // 👋🏽
            "Team \u{1F468}\u{200D}\u{1F4BB}", // 👨‍💻
            "A\u{FE0F}",                // a stray variation selector
            "Tone \u{1F3FD}",           // a lone skin tone
            "Tag \u{E0041}",            // a lone tag character
        ] {
            let violations = cta_violations(cta);
            assert_eq!(violations.len(), 1, "{cta:?}: {violations:?}");
            assert!(violations[0].message.contains("emoji"), "{cta:?}");
        }
    }

    /// A bare © (no FE0F) is Extended_Pictographic, and several platforms draw it as an emoji:
    /// it is refused too (stricter wins); "(c)" passes, as do letters, digits, `#`, `*` and
    /// punctuation on their own.
    #[test]
    fn bare_copyright_is_refused_and_plain_text_passes() {
        assert_eq!(cta_violations("Book \u{A9} 2026").len(), 1);
        for cta in [
            "Book (c) 2026",
            "Step 1 #2 *3",
            "Zoë Ørsted: 50% off!",
            "予約する",
            "Réserver →",
        ] {
            assert_eq!(cta_violations(cta), Vec::new(), "{cta:?}");
        }
    }

    #[test]
    fn payload_with_data_exchange_points_at_the_payload() {
        let mut body = valid_body();
        let parameters = &mut body["messaging_object"]["interactive"]["action"]["parameters"];
        parameters["flow_action"] = json!("data_exchange");
        parameters["flow_action_payload"] = json!({"screen": "A"});
        let violations = BodyValidator::new().validate(&body);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(
            violations[0].pointer,
            "/messaging_object/interactive/action/parameters/flow_action_payload"
        );
    }
}
