//! Turning a rendered template into the request body: the constants the API fixes, then the
//! provider's documented normalisation.
//!
//! Constants (`messaging_product: whatsapp`, `type: interactive`, ...) are filled when the
//! template leaves them out; a template that sets one to anything else is wrong, not
//! overridden. Normalisation does what the provider would do anyway (cut refs to 255
//! characters, turn an unknown `wa_source` into `api`), but in the open, with a warning, so
//! the user sees it before sending. Phone numbers are cleaned of visual separators; a number
//! that is not E.164 is an error, never a guess, since Meta would prefix the business
//! number's country code and could reach the wrong person.

use serde_json::{Map, Value};

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
    #[error("{}", phone_message(number, reason))]
    BadPhone { number: String, reason: PhoneProblem },
    #[error("`to` lists {number} twice: that person would get the message twice")]
    RepeatedRecipient { number: String },
    #[error("`to` lists {count} recipients; one row may list at most {max}", max = MAX_RECIPIENTS)]
    TooManyRecipients { count: usize },
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
            CompileError::BadPhone { .. }
            | CompileError::RepeatedRecipient { .. }
            | CompileError::TooManyRecipients { .. } => "/messaging_object/to".to_owned(),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            CompileError::ConstantOverridden { field, .. } => Some(format!("remove `{field}`: flowc fills it")),
            CompileError::BadPhone { number, reason } => Some(phone_help(number, reason)),
            CompileError::RepeatedRecipient { .. } => Some("list each number once".to_owned()),
            CompileError::TooManyRecipients { .. } => {
                Some("give each contact a row of its own in the data file".to_owned())
            }
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
            CompileError::BadPhone { reason, .. } => format!("`to` {reason}"),
            CompileError::RepeatedRecipient { .. } => {
                "`to` lists a number twice: that person would get the message twice".to_owned()
            }
            CompileError::TooManyRecipients { .. } => {
                format!("`to` lists more than {MAX_RECIPIENTS} recipients")
            }
            CompileError::NotAMapping { pointer, .. } => format!("`{pointer}` must be a mapping"),
            CompileError::HeaderNotText { .. } => self.to_string(),
        }
    }
}

/// Why a phone number is not one flowc sends to. Its `Display` is the short reason, after the
/// name of the field ("has no country code"); [`CompileError`] says more for `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneProblem {
    Empty,
    Letters,
    NotDigits,
    /// 11 to 15 digits, not starting with 0: a country code and a number, most likely, without
    /// the `+` (a spreadsheet drops it when it takes the cell for a number).
    NoPlus {
        suggested: String,
    },
    /// `00`, the international prefix of most countries, where E.164 writes `+`.
    InternationalPrefix {
        suggested: String,
    },
    /// At most 10 digits, or a leading 0: a national number.
    NoCountryCode,
    ZeroCountryCode,
    Length,
    /// `9.19877E+11`: a spreadsheet took the cell for a number and shortened it.
    ScientificNotation {
        kept: usize,
        digits: usize,
    },
    /// `'+919876543210`: Excel's marker for text, kept by a program that does not hide it.
    Apostrophe,
    /// A 0 in brackets that flowc cannot drop for certain: after a country code whose numbers
    /// keep their 0 or whose numbering flowc does not know (`+39 (0)6…`), inside the number
    /// (`+91 98765 (0) 43210`), or an area code written with its trunk 0 (`+44 (020) …`).
    /// `suggested` is the number without the 0, when the country is known to drop it.
    BracketedZero {
        suggested: Option<String>,
    },
    /// `+44 020 …`: after a country code whose numbers drop their trunk 0 abroad, the national
    /// number starts with 0: the trunk prefix written by mistake (sent, it reaches nobody or a
    /// stranger). `suggested`: the number without it.
    TrunkZero {
        suggested: String,
    },
}

impl std::fmt::Display for PhoneProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PhoneProblem::Empty => "has an empty recipient",
            PhoneProblem::Letters => "contains letters",
            PhoneProblem::NotDigits => "contains characters that are not digits",
            PhoneProblem::NoPlus { .. } => "has no `+` before its country code",
            PhoneProblem::InternationalPrefix { .. } => "starts with 00 instead of `+`",
            PhoneProblem::NoCountryCode => "has no country code (E.164 numbers start with `+`)",
            PhoneProblem::ZeroCountryCode => "has a country code starting with 0",
            PhoneProblem::Length => "must have 2 to 15 digits after `+`",
            PhoneProblem::ScientificNotation { .. } => "is in scientific notation",
            PhoneProblem::Apostrophe => "starts with an apostrophe",
            PhoneProblem::BracketedZero { .. } => "has a 0 in brackets",
            PhoneProblem::TrunkZero { .. } => "has the trunk prefix 0 after its country code",
        })
    }
}

/// What a bad `to` is told: what to write instead when flowc can tell.
fn phone_message(number: &str, problem: &PhoneProblem) -> String {
    match problem {
        PhoneProblem::NoPlus { suggested } => format!("`to` has no `+`: write {suggested}"),
        PhoneProblem::InternationalPrefix { suggested } => {
            format!("`to` starts with the international prefix 00: write {suggested}")
        }
        PhoneProblem::ScientificNotation { .. } => format!(
            "`to` `{number}`: the spreadsheet turned this number into scientific notation: format the column as text and export again"
        ),
        PhoneProblem::Apostrophe => {
            format!("`to` `{number}`: a leading apostrophe ' is Excel's text marker; remove it")
        }
        PhoneProblem::BracketedZero {
            suggested: Some(suggested),
        } => format!("`to` `{number}` has the trunk prefix 0 in brackets, dialled only inside the country: write {suggested}"),
        PhoneProblem::BracketedZero { suggested: None } => {
            format!("`to` `{number}` has a 0 in brackets that may or may not belong to the number")
        }
        PhoneProblem::TrunkZero { suggested } => format!(
            "`to` `{number}` has the trunk prefix 0 after its country code, dialled only inside the country: write {suggested}"
        ),
        other => format!("`to` {other}: `{number}`"),
    }
}

const E164: &str = "write numbers in E.164: `+`, the country code, then the number, e.g. +919876543210";

fn phone_help(number: &str, problem: &PhoneProblem) -> String {
    match problem {
        PhoneProblem::NoPlus { .. } => format!(
            "flowc does not add the `+` itself: check that `{number}` starts with the country code ({E164})"
        ),
        PhoneProblem::ScientificNotation { kept, digits } if kept < digits => format!(
            "this form shows only {kept} of the number's {digits} digits, and the file may hold no more: export the column again from the original data"
        ),
        PhoneProblem::ScientificNotation { .. } => {
            "or start each number with `+`, which no spreadsheet takes for a number".to_owned()
        }
        PhoneProblem::Apostrophe => {
            "Excel hides a leading ' and does not export it; the program that wrote this file kept it".to_owned()
        }
        PhoneProblem::BracketedZero { .. } => {
            "write the number as it is dialled from abroad, without brackets: flowc never guesses which number was meant".to_owned()
        }
        PhoneProblem::TrunkZero { .. } => {
            "abroad, the country's trunk prefix 0 is left out: flowc never sends to a number it had to guess".to_owned()
        }
        _ => E164.to_owned(),
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
pub(crate) fn compile(body: &mut Value, warnings: &mut Vec<Warning>) -> Result<(), Vec<CompileError>> {
    let mut errors = fill_constants(body).err().unwrap_or_default();
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
pub(crate) fn fill_constants(body: &mut Value) -> Result<(), Vec<CompileError>> {
    let mut errors = Vec::new();
    fill_constants_into(body, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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

/// The most recipients one row's `to` may list. The provider documents comma-separated
/// recipients without a limit; a data row is a contact, so more than this is a list pasted into
/// one cell, and one bad cell must not fan out into thousands of messages.
pub(crate) const MAX_RECIPIENTS: usize = 100;

/// Removes visual separators from each comma-separated recipient and checks it is E.164.
/// The same number twice in one `to` would be two messages to one person: refused.
pub(crate) fn normalise_recipients(field: &str) -> Result<String, CompileError> {
    // A decimal comma (`9,19877E+11`) is not a list of two recipients.
    let trimmed = field.trim();
    if let Some((kept, digits)) = scientific_notation(trimmed) {
        return Err(CompileError::BadPhone {
            number: trimmed.to_owned(),
            reason: PhoneProblem::ScientificNotation { kept, digits },
        });
    }
    let mut out = String::with_capacity(field.len());
    let mut seen = std::collections::HashSet::new();
    for (index, recipient) in field.split(',').enumerate() {
        if index >= MAX_RECIPIENTS {
            return Err(CompileError::TooManyRecipients {
                count: field.split(',').count(),
            });
        }
        if index > 0 {
            out.push(',');
        }
        let number = normalise_number(recipient)?;
        out.push_str(&number);
        if !seen.insert(number.clone()) {
            return Err(CompileError::RepeatedRecipient { number });
        }
    }
    Ok(out)
}

pub(crate) fn normalise_number(recipient: &str) -> Result<String, CompileError> {
    let trimmed = recipient.trim();
    let bad = |reason| CompileError::BadPhone {
        number: trimmed.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(bad(PhoneProblem::Empty));
    }
    if trimmed.starts_with('\'') {
        return Err(bad(PhoneProblem::Apostrophe));
    }
    if let Some((kept, digits)) = scientific_notation(trimmed) {
        return Err(bad(PhoneProblem::ScientificNotation { kept, digits }));
    }
    let without_trunk = drop_trunk_zero(trimmed).map_err(bad)?;
    let mut digits = String::with_capacity(trimmed.len());
    for (index, c) in without_trunk.chars().enumerate() {
        match c {
            '+' if index == 0 => digits.push('+'),
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            c if c.is_alphabetic() => return Err(bad(PhoneProblem::Letters)),
            _ => return Err(bad(PhoneProblem::NotDigits)),
        }
    }
    let Some(national) = digits.strip_prefix('+') else {
        return Err(bad(without_plus(&digits)));
    };
    if national.starts_with('0') {
        return Err(bad(PhoneProblem::ZeroCountryCode));
    }
    if !(2..=15).contains(&national.len()) {
        return Err(bad(PhoneProblem::Length));
    }
    // Country codes are prefix-free: at most one of the list begins the number.
    if let Some(code) = TRUNK_ZERO.iter().find(|code| national.starts_with(**code)) {
        let rest = &national[code.len()..];
        if rest.starts_with('0') {
            return Err(bad(PhoneProblem::TrunkZero {
                suggested: format!("+{code}{}", rest.trim_start_matches('0')),
            }));
        }
    }
    Ok(digits)
}

/// Country codes whose national numbers start with the trunk prefix 0, dropped when dialled
/// from abroad: `+44 (0)20 7946 0958` is +44 20 7946 0958. From the ITU-T's national numbering
/// plans (<https://www.itu.int/oth/T0202>); a country not listed (Italy keeps its 0:
/// +39 06…; the US has no trunk 0) has its bracketed 0 refused, never guessed.
const TRUNK_ZERO: &[&str] = &[
    "20", "27", "31", "32", "33", "40", "41", "43", "44", "46", "49", "51", "54", "55", "58", "60", "61", "62", "63",
    "64", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "98", "212", "213", "233", "234", "251", "254",
    "255", "256", "353", "358", "359", "380", "381", "385", "386", "387", "389", "593", "880", "886", "961", "962",
    "963", "964", "966", "971", "972", "977",
];

/// The number without a bracketed trunk prefix (`+44 (0)20…` → `+44 20…`); an error for a 0 in
/// brackets that is not certainly one. Only an international number (`+` or `00`) is looked
/// at: a national one is refused later for its missing country code.
fn drop_trunk_zero(number: &str) -> Result<std::borrow::Cow<'_, str>, PhoneProblem> {
    let prefix = if number.starts_with('+') {
        1
    } else if number.starts_with("00") {
        2
    } else {
        return Ok(std::borrow::Cow::Borrowed(number));
    };
    let digits_of = |text: &str| text.chars().filter(char::is_ascii_digit).collect::<String>();
    let mut result = std::borrow::Cow::Borrowed(number);
    let mut searched = prefix;
    let mut dropped_one = false;
    while let Some(open) = result[searched..].find('(').map(|at| at + searched) {
        let Some(close) = result[open..].find(')').map(|at| at + open) else {
            break;
        };
        // `((0))`: brackets in brackets, read as what they hold, and refused below.
        let inside: String = result[open + 1..close]
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '(')
            .collect();
        let nested = result[open + 1..close].contains('(');
        searched = close + 1;
        if !inside.starts_with('0') {
            continue;
        }
        let before: String = result[prefix..open]
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
            .collect();
        let known = before.bytes().all(|b| b.is_ascii_digit()) && TRUNK_ZERO.contains(&before.as_str());
        // One trunk 0 is dropped; `(0)(0)` or `((0))` is refused, naming the number.
        if known && inside == "0" && !nested && !dropped_one {
            dropped_one = true;
            let mut dropped = result.into_owned();
            dropped.replace_range(open..=close, " ");
            searched = open + 1;
            result = std::borrow::Cow::Owned(dropped);
            continue;
        }
        let suggested = known.then(|| {
            let rest = format!("{}{}", digits_of(&inside[1..]), digits_of(&result[close + 1..]));
            format!("+{before}{}", rest.trim_start_matches('0'))
        });
        return Err(PhoneProblem::BracketedZero { suggested });
    }
    Ok(result)
}

/// How a number written without `+` is read by [`number_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// An exclude list: 11 to 15 digits not starting with 0 are a country code and a number
    /// (reading them so excludes, the safe side); fewer are refused as national numbers.
    Exclude,
    /// The event store: the provider writes every number internationally, without `+`.
    Provider,
}

/// A number as an integer (the digits after `+`), read as [`normalise_number`] reads `to`, so
/// that `to`, an exclude list and an opt-out name one person alike; `true` when it was written
/// without `+` and read as international.
pub(crate) fn number_key(text: &str, reading: Reading) -> Result<(u64, bool), CompileError> {
    // What flowc and the provider write themselves (`+919876543210`, `919876543210`), read
    // without the full rules: the report reads a number for every row of a journal.
    let (plain, without_plus) = match text.strip_prefix('+') {
        Some(digits) => (digits, false),
        None => (text, true),
    };
    if (2..=15).contains(&plain.len())
        && !plain.starts_with('0')
        && plain.bytes().all(|b| b.is_ascii_digit())
        && (!without_plus || reading == Reading::Provider || plain.len() >= 11)
    {
        if let Ok(value) = plain.parse::<u64>() {
            return Ok((value, without_plus));
        }
    }
    let key = |e164: &str| e164.strip_prefix('+').and_then(|digits| digits.parse::<u64>().ok());
    let bare = |text: &str| {
        let digits = text.trim();
        (!digits.is_empty() && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("+{digits}"))
    };
    let (e164, without_plus) = match normalise_number(text) {
        Ok(e164) => (e164, false),
        Err(CompileError::BadPhone {
            reason: PhoneProblem::NoPlus { suggested },
            ..
        }) => (suggested, true),
        Err(error) => match bare(text).filter(|_| reading == Reading::Provider) {
            Some(e164) => (normalise_number(&e164).map_err(|_| error)?, true),
            None => return Err(error),
        },
    };
    match key(&e164) {
        Some(value) => Ok((value, without_plus)),
        None => Err(CompileError::BadPhone {
            number: text.trim().to_owned(),
            reason: PhoneProblem::Length,
        }),
    }
}

/// What digits written without `+` most likely are. E.164 numbers have at most 15 digits,
/// country code included, and national numbers at most 10 in the countries with the most
/// WhatsApp users (India, Brazil, Indonesia, the US, Mexico): 11 to 15 digits not starting with
/// 0 are a country code and a number, fewer are a national number. The rule only chooses the
/// message: a number without `+` is refused either way, never completed.
fn without_plus(digits: &str) -> PhoneProblem {
    let international = |rest: &str| (11..=15).contains(&rest.len()) && !rest.starts_with('0');
    match digits.strip_prefix("00") {
        Some(rest) if international(rest) => PhoneProblem::InternationalPrefix {
            suggested: format!("+{rest}"),
        },
        _ if international(digits) => PhoneProblem::NoPlus {
            suggested: format!("+{digits}"),
        },
        _ => PhoneProblem::NoCountryCode,
    }
}

/// `9.19877E+11` (a decimal point or comma, as the spreadsheet's language writes it): how many
/// digits the form kept, and how many the number has.
fn scientific_notation(text: &str) -> Option<(usize, usize)> {
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || exponent.is_empty() || !all_digits(whole) || !all_digits(fraction) || !all_digits(exponent) {
        return None;
    }
    let kept = whole.len() + fraction.len();
    let digits = whole.len() + exponent.parse::<usize>().ok()?;
    Some((kept, digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bracketed_trunk_zero_is_dropped_only_where_the_country_drops_it() {
        assert_eq!(normalise_number("+44 (0)20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(normalise_number("+91 (0) 98765 43210").as_deref(), Ok("+919876543210"));
        assert_eq!(normalise_number("+44(0)2079460958").as_deref(), Ok("+442079460958"));
        let problem = |number: &str| match normalise_number(number) {
            Err(CompileError::BadPhone { reason, .. }) => reason,
            other => panic!("{number}: {other:?}"),
        };
        // Italy keeps its 0; the US has no trunk 0; a 0 inside the number is not a prefix.
        for number in [
            "+39 (0)6 1234 5678",
            "+1 (0) 415 555 0100",
            "+91 98765 (0) 43210",
            "+44 (0)20 (0)7946",
        ] {
            assert_eq!(
                problem(number),
                PhoneProblem::BracketedZero { suggested: None },
                "{number}"
            );
        }
        assert_eq!(
            problem("+44 (020) 7946 0958"),
            PhoneProblem::BracketedZero {
                suggested: Some("+442079460958".to_owned())
            }
        );
    }

    #[test]
    fn a_trunk_zero_after_a_country_code_that_drops_it_is_refused_naming_the_number() {
        let problem = |number: &str| match normalise_number(number) {
            Err(CompileError::BadPhone { reason, .. }) => reason,
            other => panic!("{number}: {other:?}"),
        };
        assert_eq!(
            problem("+44 020 7946 0000"),
            PhoneProblem::TrunkZero {
                suggested: "+442079460000".to_owned()
            }
        );
        for number in [
            "+44 ((0))20 7946 0000",
            "+44 (0)(0)20 7946 0000",
            "+44 (0) (0) 20 7946 0000",
        ] {
            assert_eq!(
                problem(number),
                PhoneProblem::BracketedZero {
                    suggested: Some("+442079460000".to_owned())
                },
                "{number}"
            );
        }
        // Italy keeps its 0, and a 0 later in the number is the number's.
        assert_eq!(normalise_number("+39 06 1234 5678").as_deref(), Ok("+390612345678"));
        assert_eq!(normalise_number("+44 20 7946 0000").as_deref(), Ok("+442079460000"));
    }

    #[test]
    fn exclude_lists_and_the_store_read_numbers_as_to_does() {
        assert_eq!(
            number_key("+44 (0)20 7946 0958", Reading::Exclude),
            Ok((442_079_460_958, false))
        );
        assert_eq!(
            number_key("919876543210", Reading::Exclude),
            Ok((919_876_543_210, true))
        );
        assert!(number_key("9876543210", Reading::Exclude).is_err(), "a national number");
        assert_eq!(number_key("4712345678", Reading::Provider), Ok((4_712_345_678, true)));
        assert!(number_key("", Reading::Provider).is_err());
        assert!(number_key("0123", Reading::Provider).is_err());
    }

    #[test]
    fn fills_constants_first_and_keeps_template_fields() {
        let mut body = json!({"messaging_object": {"to": "+91 98765-43210", "interactive": {
            "body": {"text": "hi"}, "action": {"parameters": {"flow_id": "1"}}}}});
        let mut warnings = Vec::new();
        compile(&mut body, &mut warnings).expect("valid");
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
        let errors = compile(&mut body, &mut Vec::new()).expect_err("overridden");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer(), "/messaging_object/type");
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(normalise_recipients("+1 (415) 555.0100").as_deref(), Ok("+14155550100"));
        assert_eq!(
            normalise_recipients("+911234567890, +14155550100").as_deref(),
            Ok("+911234567890,+14155550100")
        );
        assert!(normalise_recipients("9876543210").is_err());
        assert!(normalise_recipients("+91 98765 ABCDE").is_err());
        assert!(normalise_recipients("+91,").is_err());
        assert!(normalise_recipients("+1234567890123456").is_err());
    }

    fn problem(field: &str) -> PhoneProblem {
        match normalise_recipients(field) {
            Err(CompileError::BadPhone { reason, .. }) => reason,
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn a_number_without_plus_is_named_by_its_length() {
        let suggested = |number: &str| PhoneProblem::NoPlus {
            suggested: number.to_owned(),
        };
        assert_eq!(problem("919876543210"), suggested("+919876543210"));
        assert_eq!(problem("1 415 555 0100"), suggested("+14155550100"));
        assert_eq!(problem("123456789012345"), suggested("+123456789012345"));
        assert_eq!(
            problem("0091 98765 43210"),
            PhoneProblem::InternationalPrefix {
                suggested: "+919876543210".to_owned()
            }
        );
        for national in ["9876543210", "4155550100", "09876543210", "1234567890123456"] {
            assert_eq!(problem(national), PhoneProblem::NoCountryCode, "{national}");
        }
    }

    #[test]
    fn spreadsheet_forms_are_named() {
        assert_eq!(
            problem("9.19876543210E+11"),
            PhoneProblem::ScientificNotation { kept: 12, digits: 12 }
        );
        assert_eq!(
            problem("9,19877E+11"),
            PhoneProblem::ScientificNotation { kept: 6, digits: 12 }
        );
        assert_eq!(problem("'+919876543210"), PhoneProblem::Apostrophe);
        assert_eq!(problem("+91 ABC"), PhoneProblem::Letters);
    }

    #[test]
    fn a_number_twice_or_a_pasted_list_is_refused() {
        assert_eq!(
            normalise_recipients("+91 98765 43210, +919876543210"),
            Err(CompileError::RepeatedRecipient {
                number: "+919876543210".to_owned()
            })
        );
        let many: Vec<String> = (0..1_000).map(|n| format!("+1415555{n:04}")).collect();
        assert_eq!(
            normalise_recipients(&many.join(",")),
            Err(CompileError::TooManyRecipients { count: 1_000 })
        );
        let allowed: Vec<String> = (0..MAX_RECIPIENTS).map(|n| format!("+1415555{n:04}")).collect();
        assert!(normalise_recipients(&allowed.join(",")).is_ok());
    }

    #[test]
    fn cuts_refs_on_character_boundaries() {
        let long = "é".repeat(300);
        let mut body = json!({"extra_info": {"ref": long, "wa_source": "excel"}});
        let mut warnings = Vec::new();
        compile(&mut body, &mut warnings).expect("valid");
        assert_eq!(body["extra_info"]["ref"].as_str().map(|s| s.chars().count()), Some(255));
        assert_eq!(body["extra_info"]["wa_source"], "api");
        assert_eq!(warnings.len(), 2);
    }
}
