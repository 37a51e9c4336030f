//! A schema's "text must not contain" rule run as a byte scan instead of a regex.
//!
//! A hole's subschema is run on every row; `jsonschema`'s regex for a rule such as a template
//! parameter's `not: {pattern: "[\n\r\t]| {5}"}` was half of what a template message costs
//! more than a Flow message a row. When the pattern is a known simple form (an alternation of
//! ASCII character classes and ASCII literals, a literal possibly repeated a fixed number of
//! times), its meaning is read from the schema's own pattern, parsed by `regex-syntax`, and
//! checked with `memchr`: the rule keeps its one home, the schema. Any other form stays with
//! `jsonschema`.

use memchr::memmem;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value};

/// The length up to which a value is scanned byte by byte (see [`Forbidden::allows`]).
const SHORT: usize = 64;

/// Text the value may not contain: any of `bytes`, or any of `runs`.
#[derive(Debug)]
pub(crate) struct Forbidden {
    bytes: Vec<u8>,
    runs: Vec<memmem::Finder<'static>>,
    /// `bytes`, and the first bytes of the runs, as sets (see [`ascii_set`]).
    byte_set: u128,
    run_starts: u128,
}

/// A set of ASCII bytes as the bits of a number: one test a byte, no search set up.
fn ascii_set(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .filter(|byte| byte.is_ascii())
        .fold(0, |set, byte| set | 1 << byte)
}

fn in_set(set: u128, byte: u8) -> bool {
    byte.is_ascii() && set & 1 << byte != 0
}

impl Forbidden {
    /// Whether `text` holds none of the forbidden bytes or runs.
    pub(crate) fn allows(&self, text: &str) -> bool {
        let text = text.as_bytes();
        // A short value, the usual one, is read once, byte by byte: setting up the vector
        // searchers for each byte and run would cost more than the reading.
        if text.len() <= SHORT {
            return text.iter().enumerate().all(|(at, &byte)| {
                !in_set(self.byte_set, byte)
                    && (!in_set(self.run_starts, byte)
                        || !self.runs.iter().any(|run| text[at..].starts_with(run.needle())))
            });
        }
        let found_byte = match self.bytes.as_slice() {
            [] => false,
            [a] => memchr::memchr(*a, text).is_some(),
            [a, b] => memchr::memchr2(*a, *b, text).is_some(),
            [a, b, c] => memchr::memchr3(*a, *b, *c, text).is_some(),
            many => text.iter().any(|byte| many.contains(byte)),
        };
        !found_byte && self.runs.iter().all(|run| run.find(text).is_none())
    }

    /// The forbidden text a search pattern means, when it is a simple form: an alternation of
    /// ASCII classes, ASCII literals and a literal repeated a fixed number of times.
    fn of_pattern(pattern: &str) -> Option<Forbidden> {
        let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?;
        let mut forbidden = Forbidden {
            bytes: Vec::new(),
            runs: Vec::new(),
            byte_set: 0,
            run_starts: 0,
        };
        let alternatives = match hir.kind() {
            HirKind::Alternation(alternatives) => alternatives.as_slice(),
            _ => std::slice::from_ref(&hir),
        };
        for alternative in alternatives {
            forbidden.add(alternative)?;
        }
        let starts: Vec<u8> = forbidden
            .runs
            .iter()
            .filter_map(|run| run.needle().first().copied())
            .collect();
        forbidden.run_starts = ascii_set(&starts);
        forbidden.byte_set = ascii_set(&forbidden.bytes);
        Some(forbidden)
    }

    fn add(&mut self, hir: &Hir) -> Option<()> {
        match hir.kind() {
            HirKind::Class(class) => self.bytes.extend(ascii_class(class)?),
            HirKind::Literal(literal) if literal.0.is_ascii() => match &*literal.0 {
                [byte] => self.bytes.push(*byte),
                run => self.runs.push(memmem::Finder::new(run).into_owned()),
            },
            HirKind::Repetition(repetition) if Some(repetition.min) == repetition.max && repetition.min > 0 => {
                let HirKind::Literal(literal) = repetition.sub.kind() else {
                    return None;
                };
                if !literal.0.is_ascii() {
                    return None;
                }
                let count = usize::try_from(repetition.min).ok()?;
                let run = literal.0.repeat(count);
                self.runs.push(memmem::Finder::new(&run).into_owned());
            }
            _ => return None,
        }
        Some(())
    }
}

/// The bytes of a class of ASCII characters only.
fn ascii_class(class: &Class) -> Option<Vec<u8>> {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(class) => class
            .ranges()
            .iter()
            .map(|range| (u32::from(range.start()), u32::from(range.end())))
            .collect(),
        Class::Bytes(class) => class
            .ranges()
            .iter()
            .map(|range| (u32::from(range.start()), u32::from(range.end())))
            .collect(),
    };
    let mut bytes = Vec::new();
    for (start, end) in ranges {
        if end > 0x7F {
            return None;
        }
        bytes.extend((start..=end).filter_map(|code| u8::try_from(code).ok()));
    }
    Some(bytes)
}

/// Keys that say something to a person and nothing to a validator.
pub(super) fn is_annotation(key: &str) -> bool {
    matches!(key, "description" | "title" | "$comment") || key.starts_with("x-")
}

/// Takes out of `schema` every `allOf` entry that is exactly `{"not": {"type": "string",
/// "pattern": P}}` (annotations aside) with P a simple form, and returns what they forbid.
/// Only entries that apply to the value itself are taken: the schema's own `allOf`, and the
/// `allOf`s of those entries, recursively. A `not` yields no annotation, so no other keyword's
/// outcome changes when one is taken out.
pub(crate) fn take_forbidden(schema: &mut Value) -> Vec<Forbidden> {
    let mut found = Vec::new();
    take_from(schema, &mut found, 0);
    found
}

fn take_from(schema: &mut Value, found: &mut Vec<Forbidden>, depth: usize) {
    // The embedded schemas nest a few levels; this bounds the walk whatever they become.
    if depth > 16 {
        return;
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let Some(Value::Array(entries)) = object.get_mut("allOf") else {
        return;
    };
    entries.retain(|entry| match entry.as_object().and_then(forbidden_in) {
        Some(forbidden) => {
            found.push(forbidden);
            false
        }
        None => true,
    });
    for entry in entries.iter_mut() {
        take_from(entry, found, depth + 1);
    }
    if entries.is_empty() {
        object.remove("allOf");
    }
}

/// What `{"not": {"type": "string", "pattern": P}}` forbids, when that is all the entry says.
fn forbidden_in(entry: &Map<String, Value>) -> Option<Forbidden> {
    if entry.keys().any(|key| key != "not" && !is_annotation(key)) {
        return None;
    }
    let not = entry.get("not")?.as_object()?;
    if not
        .keys()
        .any(|key| key != "type" && key != "pattern" && !is_annotation(key))
    {
        return None;
    }
    // Without `type: string`, a value that is not text would break the rule.
    if not.get("type")?.as_str()? != "string" {
        return None;
    }
    Forbidden::of_pattern(not.get("pattern")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_pattern_forbids_what_its_regex_finds() {
        let forbidden = Forbidden::of_pattern("[\\n\\r\\t]| {5}").expect("a simple form");
        let schema = serde_json::json!({"not": {"type": "string", "pattern": "[\\n\\r\\t]| {5}"}});
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        for text in [
            "",
            "plain",
            "a\nb",
            "tab\there",
            "cr\r",
            "four    spaces",
            "five     spaces",
            "    ",
            "     ",
            "Köln 🎉 {{x}}",
            "x\u{2028}y",
            "a long value, longer than a short one is, with no break and four    spaces at most",
            "a long value, longer than a short one is, with five     spaces in a row somewhere",
            "a long value, longer than a short one is, ending in a line break after all of it\n",
        ] {
            assert_eq!(
                forbidden.allows(text),
                validator.is_valid(&Value::from(text)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn other_patterns_are_left_to_the_regex_engine() {
        for pattern in ["^a", "a+", "[é]", "(ab)*", "a|b*", "\\d", "é"] {
            assert!(Forbidden::of_pattern(pattern).is_none(), "{pattern}");
        }
    }

    #[test]
    fn only_a_not_pattern_of_text_is_taken_out() {
        let mut schema = serde_json::json!({
            "type": "string",
            "allOf": [
                {"description": "d", "not": {"type": "string", "pattern": "[\\n\\r\\t]| {5}"}},
                {"not": {"pattern": "\\t"}},
                {"not": {"type": "string", "pattern": "\\t", "maxLength": 3}}
            ]
        });
        let found = take_forbidden(&mut schema);
        assert_eq!(found.len(), 1);
        assert_eq!(schema["allOf"].as_array().map(Vec::len), Some(2));
        let mut only = serde_json::json!({"allOf": [{"not": {"type": "string", "pattern": " {5}"}}]});
        assert_eq!(take_forbidden(&mut only).len(), 1);
        assert_eq!(only, serde_json::json!({}));
    }
}
