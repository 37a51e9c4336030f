//! Turning a rendered template into the request body: the constants the API fixes, then the
//! provider's documented normalisation.
//!
//! Constants (`messaging_product: whatsapp`, `type: interactive`, ...) are filled when the
//! template leaves them out; a template that sets one to anything else is wrong, not
//! overridden. Normalisation does what the provider would do anyway (cut refs to 255
//! characters, turn an unknown `wa_source` into `api`), but in the open, with a warning, so
//! the user sees it before sending. Phone numbers are cleaned of visual separators; a number
//! that is not E.164 is an error (see [`crate::phone`]).

use serde_json::{Map, Value};

use crate::phone::{normalise_recipients, PhoneError};
use crate::template::MessageKind;

/// The provider truncates `ref`, `ref1`, `ref2` beyond this many characters (provider page).
pub(crate) const REF_LIMIT: usize = 255;

/// `wa_source` values the provider knows; anything else becomes `api` (provider page).
pub(crate) const WA_SOURCES: &[&str] = &[
    "api",
    "clevertap",
    "zoho",
    "webengage",
    "shopify",
    "leadsquared",
    "responsys",
    "braze",
    "hubspot",
    "salesforce",
    "zapier",
    "eloqua",
    "moengage",
];

/// Meta's current limit for `flow_cta` is 30 characters; older docs and SDKs enforce 20.
pub(crate) const CTA_SOFT_LIMIT: usize = 20;

/// A change or a risk the user should know of; the body is still sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    RefTruncated { field: &'static str, chars: usize },
    WaSourceReplaced { found: String },
    LongCta { chars: usize },
}

impl Warning {
    pub fn pointer(&self) -> String {
        match self {
            Warning::RefTruncated { field, .. } => format!("/extra_info/{field}"),
            Warning::WaSourceReplaced { .. } => "/extra_info/wa_source".to_owned(),
            Warning::LongCta { .. } => "/messaging_object/interactive/action/parameters/flow_cta".to_owned(),
        }
    }

    /// The warning without the row's value: the same words for every row it applies to, so
    /// that repeats can be counted together.
    pub fn gist(&self) -> String {
        match self {
            Warning::RefTruncated { field, .. } => {
                format!("extra_info.{field} has more than {REF_LIMIT} characters; cut to {REF_LIMIT}, as the provider would")
            }
            Warning::WaSourceReplaced { .. } => {
                "extra_info.wa_source is not one the provider knows; sent as `api`, as the provider would".to_owned()
            }
            Warning::LongCta { .. } => format!(
                "flow_cta has more than {CTA_SOFT_LIMIT} characters; Meta allows 30, but older WhatsApp clients and SDKs cut it at {CTA_SOFT_LIMIT}"
            ),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::RefTruncated { field, chars } => write!(
                f,
                "extra_info.{field} has {chars} characters; cut to {REF_LIMIT}, as the provider would"
            ),
            Warning::WaSourceReplaced { found } => write!(
                f,
                "extra_info.wa_source `{found}` is not one the provider knows; sent as `api`, as the provider would"
            ),
            Warning::LongCta { chars } => write!(
                f,
                "flow_cta has {chars} characters; Meta allows 30, but older WhatsApp clients and SDKs cut it at {CTA_SOFT_LIMIT}"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("`{field}` is fixed to {expected} by the API, but the template sets it to {found}")]
    ConstantOverridden {
        pointer: String,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Recipient(#[from] PhoneError),
    /// The provider's Flow messages take a text header only; an image, a video or a document
    /// header is what a newcomer tries first.
    #[error("only text headers are supported in Flow messages; this header's `type` is {found}")]
    HeaderNotText { found: String },
    #[error("`{pointer}` must be a mapping, found {found}")]
    NotAMapping { pointer: String, found: &'static str },
}

impl CompileError {
    pub fn pointer(&self) -> String {
        match self {
            CompileError::ConstantOverridden { pointer, .. } | CompileError::NotAMapping { pointer, .. } => {
                pointer.clone()
            }
            CompileError::HeaderNotText { .. } => format!("{HEADER}/type"),
            CompileError::Recipient(_) => "/messaging_object/to".to_owned(),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            CompileError::ConstantOverridden { field, .. } => Some(format!("remove `{field}`: flowc fills it")),
            CompileError::Recipient(error) => Some(error.help()),
            CompileError::HeaderNotText { .. } => Some(
                "write `header: { text: \"...\" }` (at most 60 characters), or leave the header out; the provider sends no image, video or document header with a Flow".to_owned(),
            ),
            CompileError::NotAMapping { .. } => None,
        }
    }

    /// The error without the value that broke the rule: the same words for every row that
    /// breaks it the same way, so that repeats can be counted together.
    pub fn gist(&self) -> String {
        match self {
            CompileError::ConstantOverridden { field, expected, .. } => {
                format!("`{field}` is fixed to {expected} by the API, but the template sets it to another value")
            }
            CompileError::Recipient(error) => error.gist(),
            CompileError::NotAMapping { pointer, .. } => format!("`{pointer}` must be a mapping"),
            CompileError::HeaderNotText { .. } => self.to_string(),
        }
    }
}

const HEADER: &str = "/messaging_object/interactive/header";

/// Where a constant lives, and its only value (provider page; `flow_message_version`: Meta).
pub(crate) const CONSTANTS: &[(&str, &str)] = &[
    ("/messaging_object/messaging_product", "whatsapp"),
    ("/messaging_object/recipient_type", "individual"),
    ("/messaging_object/type", "interactive"),
    ("/messaging_object/interactive/type", "flow"),
    ("/messaging_object/interactive/header/type", "text"),
    ("/messaging_object/interactive/action/name", "flow"),
    (
        "/messaging_object/interactive/action/parameters/flow_message_version",
        "3",
    ),
];

/// The constants of a template message (Kaleyra's "Send Template Messages"; Meta's template
/// object): the same envelope, `type: template`.
pub(crate) const TEMPLATE_CONSTANTS: &[(&str, &str)] = &[
    ("/messaging_object/messaging_product", "whatsapp"),
    ("/messaging_object/recipient_type", "individual"),
    ("/messaging_object/type", "template"),
];

/// The constants of a message of this kind.
pub(crate) fn constants(kind: MessageKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        MessageKind::Flow => CONSTANTS,
        MessageKind::Template => TEMPLATE_CONSTANTS,
    }
}

/// What compiling does to the value at one place of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldRule {
    /// `to`: separators removed, each recipient E.164.
    Recipients,
    /// `extra_info.ref`, `ref1`, `ref2`: cut to 255 characters.
    Reference(&'static str),
    /// `extra_info.wa_source`: unknown values become `api`.
    WaSource,
    /// `flow_cta`: a warning above 20 characters.
    Cta,
    /// Nothing to do.
    Plain,
}

pub(crate) const RULES: &[(&str, FieldRule)] = &[
    ("/messaging_object/to", FieldRule::Recipients),
    ("/extra_info/ref", FieldRule::Reference("ref")),
    ("/extra_info/ref1", FieldRule::Reference("ref1")),
    ("/extra_info/ref2", FieldRule::Reference("ref2")),
    ("/extra_info/wa_source", FieldRule::WaSource),
    (
        "/messaging_object/interactive/action/parameters/flow_cta",
        FieldRule::Cta,
    ),
];

/// The rule for the value at `pointer`.
pub(crate) fn field_rule(pointer: &str) -> FieldRule {
    RULES
        .iter()
        .find(|(at, _)| *at == pointer)
        .map_or(FieldRule::Plain, |(_, rule)| *rule)
}

/// Fills the constants and normalises a rendered body in place, finding every error, not just
/// the first: a value that breaks a rule is left as the template gave it, so that validation
/// can still look at the rest of the body.
pub(crate) fn compile(
    body: &mut Value,
    kind: MessageKind,
    warnings: &mut Vec<Warning>,
) -> Result<(), Vec<CompileError>> {
    let mut errors = fill_constants(body, kind).err().unwrap_or_default();
    for (pointer, rule) in RULES {
        if let Some(value) = body.pointer_mut(pointer) {
            if let Err(error) = apply_rule(*rule, value, warnings) {
                errors.push(error);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Adds the constants the template left out, refusing every one it set to another value. A
/// part that is not a mapping is refused and not looked into; the parts beside it still are.
pub(crate) fn fill_constants(body: &mut Value, kind: MessageKind) -> Result<(), Vec<CompileError>> {
    let mut errors = Vec::new();
    match kind {
        MessageKind::Flow => fill_constants_into(body, &mut errors),
        MessageKind::Template => fill_template_constants(body, &mut errors),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A template message's constants are its envelope's; what is inside `template` is the
/// schema's to check.
fn fill_template_constants(body: &mut Value, errors: &mut Vec<CompileError>) {
    let Some(root) = mapping(body, "", errors) else {
        return;
    };
    if let Some(object) = root.get_mut("messaging_object") {
        if let Some(object) = mapping(object, "/messaging_object", errors) {
            put_constants_first(object, "/messaging_object", &envelope(TEMPLATE_CONSTANTS), errors);
        }
    }
}

/// The constants directly under `/messaging_object`, by field name.
fn envelope(constants: &'static [(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    constants
        .iter()
        .filter_map(|(at, value)| Some((at.strip_prefix("/messaging_object/")?, *value)))
        .filter(|(field, _)| !field.contains('/'))
        .collect()
}

fn fill_constants_into(body: &mut Value, errors: &mut Vec<CompileError>) {
    let Some(root) = mapping(body, "", errors) else {
        return;
    };
    let Some(object) = root.get_mut("messaging_object") else {
        return;
    };
    let Some(object) = constants_in(object, "/messaging_object", errors) else {
        return;
    };
    let Some(interactive) = object.get_mut("interactive") else {
        return;
    };
    let Some(interactive) = constants_in(interactive, "/messaging_object/interactive", errors) else {
        return;
    };
    if let Some(header) = interactive.get_mut("header") {
        if let Some(header) = mapping(header, HEADER, errors) {
            match header.get("type").filter(|found| found.as_str() != Some("text")) {
                // Only text headers: the other constants of a header of another kind would
                // add a second finding about the same mistake.
                Some(found) => errors.push(CompileError::HeaderNotText {
                    found: found.to_string(),
                }),
                None => constants_at(header, HEADER, errors),
            }
        }
    }
    let Some(action) = interactive.get_mut("action") else {
        return;
    };
    let Some(action) = constants_in(action, "/messaging_object/interactive/action", errors) else {
        return;
    };
    if let Some(parameters) = action.get_mut("parameters") {
        constants_in(parameters, "/messaging_object/interactive/action/parameters", errors);
    }
}

/// The mapping at `pointer` with its constants filled; `None` when it is not a mapping.
fn constants_in<'a>(
    value: &'a mut Value,
    pointer: &str,
    errors: &mut Vec<CompileError>,
) -> Option<&'a mut Map<String, Value>> {
    let object = mapping(value, pointer, errors)?;
    constants_at(object, pointer, errors);
    Some(object)
}

fn mapping<'a>(
    value: &'a mut Value,
    pointer: &str,
    errors: &mut Vec<CompileError>,
) -> Option<&'a mut Map<String, Value>> {
    match as_map(value, pointer) {
        Ok(object) => Some(object),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

fn constants_at(object: &mut Map<String, Value>, pointer: &str, errors: &mut Vec<CompileError>) {
    let constants: Vec<(&'static str, &'static str)> = CONSTANTS
        .iter()
        .filter_map(|(at, value)| {
            let field = at.strip_prefix(pointer)?.strip_prefix('/')?;
            (!field.contains('/')).then_some((field, *value))
        })
        .collect();
    put_constants_first(object, pointer, &constants, errors);
}

/// Normalises one value by its rule, noting what changed.
impl FieldRule {
    /// Whether [`apply_rule`] leaves this text as it is, with no warning: a fast path may then
    /// write the text where it is.
    pub(crate) fn keeps(self, text: &str) -> bool {
        match self {
            FieldRule::Plain => true,
            // Fewer bytes than the limit's characters: fewer characters too.
            FieldRule::Reference(_) => text.len() <= REF_LIMIT || text.chars().count() <= REF_LIMIT,
            FieldRule::Recipients | FieldRule::WaSource | FieldRule::Cta => false,
        }
    }
}

pub(crate) fn apply_rule(rule: FieldRule, value: &mut Value, warnings: &mut Vec<Warning>) -> Result<(), CompileError> {
    match (rule, value) {
        (FieldRule::Recipients, Value::String(number)) => *number = normalise_recipients(number)?,
        (FieldRule::Reference(field), Value::String(text)) => {
            if let Some((cut, _)) = text.char_indices().nth(REF_LIMIT) {
                let chars = text.chars().count();
                text.truncate(cut);
                warnings.push(Warning::RefTruncated { field, chars });
            }
        }
        (FieldRule::WaSource, source) => {
            let found = match &*source {
                Value::String(known) if WA_SOURCES.contains(&known.as_str()) => None,
                Value::String(unknown) => Some(unknown.clone()),
                other => Some(other.to_string()),
            };
            if let Some(found) = found {
                *source = Value::String("api".to_owned());
                warnings.push(Warning::WaSourceReplaced { found });
            }
        }
        (FieldRule::Cta, Value::String(cta)) => {
            let chars = cta.chars().count();
            if chars > CTA_SOFT_LIMIT && chars <= 30 {
                warnings.push(Warning::LongCta { chars });
            }
        }
        _ => {}
    }
    Ok(())
}

/// Puts the constants first, in the documented order, then the template's own fields. A
/// constant the template set to another value keeps that value, and is refused.
fn put_constants_first(
    object: &mut Map<String, Value>,
    pointer: &str,
    constants: &[(&'static str, &'static str)],
    errors: &mut Vec<CompileError>,
) {
    let mut rest = std::mem::take(object);
    for (field, expected) in constants {
        let value = match rest.shift_remove(*field) {
            Some(found) if found.as_str() != Some(expected) => {
                errors.push(CompileError::ConstantOverridden {
                    pointer: format!("{pointer}/{field}"),
                    field,
                    expected: format!("\"{expected}\""),
                    found: found.to_string(),
                });
                found
            }
            _ => Value::String((*expected).to_owned()),
        };
        object.insert((*field).to_owned(), value);
    }
    object.append(&mut rest);
}

fn as_map<'a>(value: &'a mut Value, pointer: &str) -> Result<&'a mut Map<String, Value>, CompileError> {
    let found = crate::words::kind(value);
    value.as_object_mut().ok_or_else(|| CompileError::NotAMapping {
        pointer: pointer.to_owned(),
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn fills_constants_first_and_keeps_template_fields() {
        let mut body = json!({"messaging_object": {"to": "+91 98765-43210", "interactive": {
            "body": {"text": "hi"}, "action": {"parameters": {"flow_id": "1"}}}}});
        let mut warnings = Vec::new();
        compile(&mut body, MessageKind::Flow, &mut warnings).expect("valid");
        assert_eq!(
            body,
            json!({"messaging_object": {"messaging_product": "whatsapp", "recipient_type": "individual",
            "type": "interactive", "to": "+919876543210", "interactive": {"type": "flow", "body": {"text": "hi"},
            "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_id": "1"}}}}})
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn refuses_an_overridden_constant() {
        let mut body = json!({"messaging_object": {"type": "text"}});
        let errors = compile(&mut body, MessageKind::Flow, &mut Vec::new()).expect_err("overridden");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer(), "/messaging_object/type");
    }

    #[test]
    fn cuts_refs_on_character_boundaries() {
        let long = "é".repeat(300);
        let mut body = json!({"extra_info": {"ref": long, "wa_source": "excel"}});
        let mut warnings = Vec::new();
        compile(&mut body, MessageKind::Flow, &mut warnings).expect("valid");
        assert_eq!(body["extra_info"]["ref"].as_str().map(|s| s.chars().count()), Some(255));
        assert_eq!(body["extra_info"]["wa_source"], "api");
        assert_eq!(warnings.len(), 2);
    }
}
