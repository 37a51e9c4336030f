//! What a rendered body is recognised by, read straight from its bytes: its recipient and the
//! keys the provider's callbacks carry back (`flow_token`, `extra_info.ref`, `ref1`, `ref2`),
//! and the `--track` key written into it. An interactive Flow message's `flow_token` is in its
//! `action.parameters`; a template message's in its FLOW button component.

use super::journal::RowKeys;
use crate::pipeline::flow_button_token;

/// What a compiled body can be recognised by: its recipient (`messaging_object.to`), and what
/// the provider's callbacks carry back (`flow_token`, `extra_info.ref`, `ref1`, `ref2`). A
/// template message's `flow_token` is its FLOW button's (see [`flow_button_token`]).
///
/// The body is compact JSON that flowc itself wrote, so one pass of a byte scanner suffices: it
/// descends only into the objects that hold these fields and skips every other value without
/// decoding it (serde's reader validates and decodes every string it skips, which cost more
/// than compiling the body). A body the scanner does not follow falls back to serde.
pub(super) fn keys_of(body: &[u8]) -> RowKeys {
    let mut raw = RawKeys::default();
    if body.first() == Some(&b'{') && scan_object(body, 0, Place::Top, &mut raw).is_some() {
        if let Some(keys) = raw.decode() {
            return keys;
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return RowKeys::default();
    };
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    RowKeys {
        recipient: text("/messaging_object/to").unwrap_or_default(),
        flow_token: text("/messaging_object/interactive/action/parameters/flow_token").or_else(|| {
            let pointer = flow_button_token(&value, |_| false).ok()??;
            text(&pointer)
        }),
        refs: [
            text("/extra_info/ref"),
            text("/extra_info/ref1"),
            text("/extra_info/ref2"),
        ],
        track: None,
    }
}

/// The recipient of a compiled body.
pub(crate) fn recipient_of(body: &[u8]) -> String {
    keys_of(body).recipient
}

/// The raw (still JSON-encoded) values [`keys_of`] looks for.
#[derive(Default)]
struct RawKeys<'a> {
    to: Option<&'a [u8]>,
    flow_token: Option<&'a [u8]>,
    /// A template message's FLOW button, once found.
    flow_button: Option<Found<'a>>,
    refs: [Option<&'a [u8]>; 3],
}

/// A template message's FLOW button, or its `action` parameter: the raw `flow_token` it holds.
#[derive(Clone, Copy)]
struct Found<'a> {
    flow_token: Option<&'a [u8]>,
}

impl RawKeys<'_> {
    fn decode(&self) -> Option<RowKeys> {
        let text = |raw: Option<&[u8]>| raw.map(string_value);
        Some(RowKeys {
            recipient: text(self.to)??,
            flow_token: text(self.flow_token)
                .flatten()
                .or_else(|| text(self.flow_button.and_then(|button| button.flow_token)).flatten()),
            refs: [
                text(self.refs[0]).flatten(),
                text(self.refs[1]).flatten(),
                text(self.refs[2]).flatten(),
            ],
            track: None,
        })
    }
}

/// Where in the body an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Messaging,
    Interactive,
    Action,
    Parameters,
    ExtraInfo,
    /// A template message's `template`: read by [`scan_template`].
    Template,
}

/// Scans the object starting at `start` (`{`); returns the index just past it.
fn scan_object<'a>(text: &'a [u8], start: usize, place: Place, keys: &mut RawKeys<'a>) -> Option<usize> {
    let mut at = start + 1;
    if text.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        let key_end = string_end(text, at)?;
        let key = &text[at + 1..key_end - 1];
        if text.get(key_end) != Some(&b':') {
            return None;
        }
        let value = key_end + 1;
        let child = match (place, key) {
            (Place::Top, b"messaging_object") => Some(Place::Messaging),
            (Place::Top, b"extra_info") => Some(Place::ExtraInfo),
            (Place::Messaging, b"interactive") => Some(Place::Interactive),
            (Place::Messaging, b"template") => Some(Place::Template),
            (Place::Interactive, b"action") => Some(Place::Action),
            (Place::Action, b"parameters") => Some(Place::Parameters),
            _ => None,
        };
        let end = match child {
            Some(Place::Template) if text.get(value) == Some(&b'{') => scan_template(text, value, keys)?,
            Some(child) if text.get(value) == Some(&b'{') => scan_object(text, value, child, keys)?,
            _ => {
                let end = value_end(text, value)?;
                let raw = Some(&text[value..end]);
                match (place, key) {
                    (Place::Messaging, b"to") => keys.to = raw,
                    (Place::Parameters, b"flow_token") => keys.flow_token = raw,
                    (Place::ExtraInfo, b"ref") => keys.refs[0] = raw,
                    (Place::ExtraInfo, b"ref1") => keys.refs[1] = raw,
                    (Place::ExtraInfo, b"ref2") => keys.refs[2] = raw,
                    _ => {}
                }
                end
            }
        };
        match text.get(end) {
            Some(b',') => at = end + 1,
            Some(b'}') => return Some(end + 1),
            _ => return None,
        }
    }
}

/// Scans a template message's `template` object (at `start`) for its FLOW button's token, as
/// [`flow_button_token`] finds it: the first component with `"type":"button"` and
/// `"sub_type":"flow"`, in it the first parameter with `"type":"action"`, its
/// `action.flow_token`. Their keys come in the template's order, so a component or a
/// parameter is judged at its end. Returns the index just past the object.
fn scan_template<'a>(text: &'a [u8], start: usize, keys: &mut RawKeys<'a>) -> Option<usize> {
    each_member(text, start, |key, value| {
        if key != b"components" || text.get(value) != Some(&b'[') {
            return value_end(text, value);
        }
        each_element(text, value, |element| {
            if text.get(element) != Some(&b'{') {
                return value_end(text, element);
            }
            let (end, button) = scan_component(text, element)?;
            if keys.flow_button.is_none() {
                keys.flow_button = button;
            }
            Some(end)
        })
    })
}

/// The end of the component at `start`, and what it holds when it is a FLOW button.
fn scan_component(text: &[u8], start: usize) -> Option<(usize, Option<Found<'_>>)> {
    let (mut button, mut flow) = (false, false);
    let mut action: Option<Found<'_>> = None;
    let end = each_member(text, start, |key, value| {
        if key == b"parameters" && text.get(value) == Some(&b'[') {
            return each_element(text, value, |element| {
                if text.get(element) != Some(&b'{') {
                    return value_end(text, element);
                }
                let (end, parameter) = scan_parameter(text, element)?;
                if action.is_none() {
                    action = parameter;
                }
                Some(end)
            });
        }
        let end = value_end(text, value)?;
        match key {
            b"type" => button = &text[value..end] == b"\"button\"",
            b"sub_type" => flow = &text[value..end] == b"\"flow\"",
            _ => {}
        }
        Some(end)
    })?;
    let flow_token = action.and_then(|action| action.flow_token);
    Some((end, (button && flow).then_some(Found { flow_token })))
}

/// The end of a component's parameter at `start`, and what it holds when it is an action.
fn scan_parameter(text: &[u8], start: usize) -> Option<(usize, Option<Found<'_>>)> {
    let mut action = false;
    let mut flow_token = None;
    let end = each_member(text, start, |key, value| {
        if key == b"action" && text.get(value) == Some(&b'{') {
            return each_member(text, value, |key, value| {
                let end = value_end(text, value)?;
                if key == b"flow_token" {
                    flow_token = Some(&text[value..end]);
                }
                Some(end)
            });
        }
        let end = value_end(text, value)?;
        if key == b"type" {
            action = &text[value..end] == b"\"action\"";
        }
        Some(end)
    })?;
    Some((end, action.then_some(Found { flow_token })))
}

/// Calls `member` with each key of the object at `start` (`{`) and where its value starts;
/// `member` returns the index just past the value. Returns the index just past the object.
fn each_member<'a>(
    text: &'a [u8],
    start: usize,
    mut member: impl FnMut(&'a [u8], usize) -> Option<usize>,
) -> Option<usize> {
    let mut at = start + 1;
    if text.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        let key_end = string_end(text, at)?;
        if text.get(key_end) != Some(&b':') {
            return None;
        }
        let end = member(&text[at + 1..key_end - 1], key_end + 1)?;
        match text.get(end) {
            Some(b',') => at = end + 1,
            Some(b'}') => return Some(end + 1),
            _ => return None,
        }
    }
}

/// Calls `element` with where each value of the array at `start` (`[`) starts; `element`
/// returns the index just past the value. Returns the index just past the array.
fn each_element(text: &[u8], start: usize, mut element: impl FnMut(usize) -> Option<usize>) -> Option<usize> {
    let mut at = start + 1;
    if text.get(at) == Some(&b']') {
        return Some(at + 1);
    }
    loop {
        let end = element(at)?;
        match text.get(end) {
            Some(b',') => at = end + 1,
            Some(b']') => return Some(end + 1),
            _ => return None,
        }
    }
}

/// A raw JSON string value as text (escapes decoded); `None` for anything else.
fn string_value(raw: &[u8]) -> Option<String> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        serde_json::from_slice(raw).ok()
    } else {
        String::from_utf8(inner.to_vec()).ok()
    }
}

/// `body` with `"field":"value"` added to its `extra_info` (created if absent). The body is
/// compact JSON flowc wrote; `value` needs no escaping (the `--track` key is `[a-z0-9-]`).
pub(crate) fn with_extra_info(body: &[u8], field: &str, value: &str) -> Vec<u8> {
    let pair = format!("\"{field}\":\"{value}\"");
    let mut out = Vec::with_capacity(body.len() + pair.len() + 16);
    match value_of_key(body, b"extra_info") {
        Some(object) if object.first() == Some(&b'{') => {
            let open = object.as_ptr() as usize - body.as_ptr() as usize + 1;
            out.extend_from_slice(&body[..open]);
            out.extend_from_slice(pair.as_bytes());
            if object != b"{}" {
                out.push(b',');
            }
            out.extend_from_slice(&body[open..]);
        }
        _ => {
            let close = body.iter().rposition(|&byte| byte == b'}').unwrap_or(body.len());
            out.extend_from_slice(&body[..close]);
            out.extend_from_slice(format!(",\"extra_info\":{{{pair}}}").as_bytes());
            out.extend_from_slice(&body[close..]);
        }
    }
    out
}

/// Which `extra_info` field `--track` writes the campaign-and-row key into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackField {
    Ref,
    Ref1,
    Ref2,
}

impl TrackField {
    pub fn name(self) -> &'static str {
        match self {
            TrackField::Ref => "ref",
            TrackField::Ref1 => "ref1",
            TrackField::Ref2 => "ref2",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The key `--track` gives a row: the campaign (8 hex digits of its id) and the row number,
/// which a callback's `ref` brings back.
pub(crate) fn track_key(campaign: &str, row: u64) -> String {
    format!("flowc-{}-{row}", campaign.get(..8).unwrap_or(campaign))
}

/// The raw value of `key` in the compact JSON object `object` (top level only).
fn value_of_key<'a>(object: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut at = 1; // past `{`
    if object.first() != Some(&b'{') {
        return None;
    }
    loop {
        let key_end = string_end(object, at)?;
        let found = &object[at + 1..key_end - 1];
        if object.get(key_end) != Some(&b':') {
            return None;
        }
        let value_start = key_end + 1;
        let value_end = value_end(object, value_start)?;
        if found == key {
            return Some(&object[value_start..value_end]);
        }
        match object.get(value_end) {
            Some(b',') => at = value_end + 1,
            _ => return None,
        }
    }
}

/// The index just past the string starting at `start` (which must be `"`).
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    if text.get(start) != Some(&b'"') {
        return None;
    }
    let mut index = start + 1;
    // Jumps to the next quote or backslash: most of a body is text.
    while let Some(offset) = memchr::memchr2(b'"', b'\\', text.get(index..)?) {
        index += offset;
        if text[index] == b'"' {
            return Some(index + 1);
        }
        index += 2;
    }
    None
}

/// The index just past the value starting at `start`.
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut index = start;
            while index < text.len() {
                match text[index] {
                    b'"' => {
                        index = string_end(text, index)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(index + 1);
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
            None
        }
        _ => {
            let length = text[start..]
                .iter()
                .position(|&byte| matches!(byte, b',' | b'}' | b']'))?;
            Some(start + length)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::data::Row;
    use crate::pipeline::MessageCompiler;
    use crate::template::{MessageKind, Template};

    /// Every template the project holds (shipped, and the test cases'), linked to its Flow or
    /// approved template where it names one; the ones that do not load or compile are left out.
    fn every_template() -> Vec<MessageCompiler> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        let mut folders = vec![root.join("templates"), root.join("tests/cases")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("a folder of templates").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|extension| extension == "yaml") {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        let mut compilers = Vec::new();
        for path in paths {
            let Ok(template) = Template::load(&path) else { continue };
            let Ok(mut compiler) = MessageCompiler::new(template) else {
                continue;
            };
            let mut opens = None;
            if let Some((linked, button)) = crate::approved::link(compiler.template()) {
                if let Some(check) = linked.check {
                    compiler.set_approved(check);
                }
                opens = button;
            }
            if let Some(linked) = crate::flow::link_opening(compiler.template(), opens.as_ref()) {
                if let Some(check) = linked.check {
                    compiler.set_flow(check);
                }
            }
            compilers.push(compiler);
        }
        compilers
    }

    /// Templates whose keys sit in the places the shipped ones leave alone.
    fn odd_templates() -> Vec<MessageCompiler> {
        let flow = |to: &str, rest: &str| {
            format!(
                "vars:\n  a: {{example: x}}\n  b: {{default: \"\"}}\n  info: {{default: \"\"}}\nmessaging_object:\n  to: \"{to}\"\n  interactive:\n    body: {{text: \"row {{{{a}}}}\"}}\n    action:\n      parameters: {{flow_id: \"1\", flow_cta: Go, flow_action: navigate, flow_token: \"{{{{b}}}}\", flow_action_payload: {{screen: A}}}}\n{rest}"
            )
        };
        let template_message = |components: &str| {
            format!(
                "vars:\n  a: {{example: x}}\n  b: {{default: \"\"}}\nmessaging_object:\n  to: \"{{{{a}}}}\"\n  type: template\n  template:\n    name: booking\n    language: {{ code: en_US }}\n    components:\n{components}extra_info:\n  ref: \"{{{{b}}}}\"\n"
            )
        };
        [
            // Several recipients, no `extra_info`.
            flow("+1 415 555 0100, +44 7700 900123", ""),
            // A recipient from the row; the refs constant, with escapes and unicode.
            flow("{{a}}", "extra_info:\n  ref: \"tok \\\"1\\\" ü😀\"\n  ref2: \"\"\n"),
            // The refs from the row, one of them typed (the value as the row gives it).
            flow(
                "{{a}}",
                "extra_info:\n  ref: \"{{b}}\"\n  ref1: \"{{info}}\"\n  ref2: \"r-{{b}}\"\n",
            ),
            // `extra_info` whole from the row: only the body tells its refs.
            flow("{{a}}", "extra_info: \"{{info}}\"\n"),
            // Template messages: the FLOW button first, its keys in another order than the
            // schema lists them, its action parameter after a text one; the token from the row.
            template_message(
                "      - { parameters: [{ action: { flow_token: \"t-{{b}}\" }, type: action }], index: \"0\", sub_type: flow, type: button }\n      - { type: body, parameters: [{ type: text, text: \"{{a}}\" }] }\n",
            ),
            // The button last of three, its token a constant with escapes and unicode.
            template_message(
                "      - { type: header, parameters: [{ type: text, text: \"{{a}}\" }] }\n      - { type: body, parameters: [{ type: text, text: Pune }] }\n      - type: button\n        sub_type: flow\n        index: \"0\"\n        parameters:\n          - { type: action, action: { flow_token: \"tok \\\"1\\\" ü😀\", flow_action_data: { flow_token: no } } }\n",
            ),
            // No FLOW button: no token.
            template_message("      - { type: body, parameters: [{ type: text, text: \"{{a}}\" }] }\n"),
            // Which component is the FLOW button only the row tells: only the body tells its token.
            template_message(
                "      - { type: button, sub_type: \"{{s}}\", index: \"0\", parameters: [{ type: action, action: { flow_token: \"t-{{b}}\" } }] }\n",
            )
            .replace("to: \"{{a}}\"", "to: \"+14155550100\"")
            .replace("  b: ", "  s: {example: flow}\n  b: "),
        ]
        .into_iter()
        .map(|text| {
            let template = Template::parse("t.yaml".to_owned(), text).expect("parses");
            MessageCompiler::new(template).expect("compiles")
        })
        .collect()
    }

    /// A value for a row: numbers (one or several), text with escapes and unicode, empty,
    /// typed values, or none.
    fn any_value(random: &mut fastrand::Rng, example: Option<&Value>) -> Option<Value> {
        let text = |text: &str| Some(Value::String(text.to_owned()));
        match random.u8(..14) {
            0 | 1 => example.cloned().or_else(|| text("+14155550100")),
            2 => text("+1 415 555 0100"),
            3 => text("+14155550100,+447700900123"),
            4 => text(&format!("+9198450{:05}", random.u32(..100_000))),
            5 => text(""),
            6 => text("a \"quoted\" \\ back\nslash\t\u{1}"),
            7 => text("Köln 😀 \u{E000} ü"),
            8 => Some(json!(7)),
            9 => Some(json!({"ref": "inner \"1\"", "ref1": "ü"})),
            10 => Some(Value::Null),
            11 => None,
            12 => text(&"x".repeat(random.usize(..300))),
            _ => text(&format!("C-{}", random.u32(..))),
        }
    }

    /// The keys the render gives with a body are the keys read from that body, for every
    /// template and many rows: the pre-flight takes one for the other.
    #[test]
    fn the_keys_the_render_gives_are_the_keys_read_from_its_body() {
        let mut random = fastrand::Rng::with_seed(21);
        let (mut from_plan, mut from_body) = (0, 0);
        let mut templates = 0;
        // Rows of template messages whose flow_token the plan gave (and the body must give too),
        // and whose keys the plan left to the body.
        let (mut template_tokens, mut template_from_body) = (0, 0);
        for compiler in every_template().into_iter().chain(odd_templates()) {
            templates += 1;
            let examples: Vec<Option<Value>> = compiler.template().vars.iter().map(|var| var.example.clone()).collect();
            for number in 2..300 {
                let values: Vec<Option<Value>> = examples
                    .iter()
                    .map(|example| any_value(&mut random, example.as_ref()))
                    .collect();
                let row = || Row {
                    number,
                    values: values.clone(),
                };
                let (mut keyed, mut plain) = (Vec::new(), Vec::new());
                let mut keys = None;
                let written = compiler.compile_row_with_keys(row(), &mut keyed, &mut keys);
                assert_eq!(written.is_ok(), compiler.compile_row_into(row(), &mut plain).is_ok());
                assert_eq!(keyed, plain, "{}", compiler.template().source.name);
                match written.map(|_| keys) {
                    Ok(Some(keys)) => {
                        if compiler.template().kind == MessageKind::Template && keys.flow_token.is_some() {
                            template_tokens += 1;
                        }
                        assert_eq!(
                            RowKeys::from(keys),
                            keys_of(&keyed),
                            "{}: {}",
                            compiler.template().source.name,
                            String::from_utf8_lossy(&keyed)
                        );
                        from_plan += 1;
                    }
                    Ok(None) => {
                        from_body += 1;
                        if compiler.template().kind == MessageKind::Template {
                            template_from_body += 1;
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        assert!(templates > 50, "{templates} templates");
        assert!(
            from_plan > 2_000,
            "{from_plan} rows' keys from the plan, {from_body} from the body"
        );
        assert!(from_body > 0, "the full path's rows are left to the body");
        assert!(
            template_tokens > 300,
            "{template_tokens} template messages' rows with a flow_token from the plan"
        );
        assert!(
            template_from_body > 0,
            "a template message whose FLOW button the row decides is left to the body"
        );
    }

    /// A template message's flow_token is its FLOW button's, wherever the button is among the
    /// components and whatever order the keys of its objects are in.
    #[test]
    fn a_template_messages_flow_token_is_read_from_its_flow_button() {
        let body = |components: &str| {
            format!(
                r#"{{"messaging_object":{{"messaging_product":"whatsapp","to":"+14155550100","type":"template","template":{{"name":"booking","language":{{"code":"en_US"}},"components":[{components}]}}}},"extra_info":{{"ref":"C-1"}}}}"#
            )
        };
        let header = r#"{"type":"header","parameters":[{"type":"text","text":"Asha"}]}"#;
        let text_body =
            r#"{"type":"body","parameters":[{"type":"text","text":"Pune"},{"type":"text","text":"31 May"}]}"#;
        let button = |token: &str| {
            format!(
                r#"{{"type":"button","sub_type":"flow","index":"0","parameters":[{{"type":"action","action":{{"flow_token":"{token}","flow_action_data":{{"flow_token":"no"}}}}}}]}}"#
            )
        };
        let cases = [
            // The button third, as the shipped example has it.
            (
                body(&format!("{header},{text_body},{}", button("booking-C-1"))),
                Some("booking-C-1"),
            ),
            // The button first, or alone.
            (body(&format!("{},{text_body}", button("first"))), Some("first")),
            (body(&button("alone")), Some("alone")),
            // Escapes and unicode in the token.
            (
                body(&format!("{text_body},{}", button(r#"tok \"1\" \\ \u00fc 😀"#))),
                Some("tok \"1\" \\ ü 😀"),
            ),
            // The component's and the parameter's keys in any order; a text parameter first.
            (
                body(&format!(
                    r#"{header},{{"parameters":[{{"type":"text","text":"x"}},{{"action":{{"flow_token":"late"}},"type":"action"}}],"index":"0","sub_type":"flow","type":"button"}}"#
                )),
                Some("late"),
            ),
            // A component that is not the FLOW button is not read, whatever it holds.
            (
                body(&format!(
                    r#"{{"type":"body","parameters":[{{"type":"action","action":{{"flow_token":"not a button"}}}}]}},{}"#,
                    button("the button")
                )),
                Some("the button"),
            ),
            // No button: no token.
            (body(&format!("{header},{text_body}")), None),
        ];
        for (body, token) in &cases {
            let keys = keys_of(body.as_bytes());
            assert_eq!(keys.flow_token.as_deref(), *token, "{body}");
            assert_eq!(keys.recipient, "+14155550100", "{body}");
            assert_eq!(keys.refs[0].as_deref(), Some("C-1"), "{body}");
            // A body the byte scanner does not follow (not compact) is read by serde alike.
            let pretty = serde_json::to_vec_pretty(&serde_json::from_str::<Value>(body).expect("JSON")).expect("JSON");
            assert_eq!(keys_of(&pretty), keys, "{body}");
        }
    }

    #[test]
    fn the_recipient_is_found_wherever_to_sits() {
        let bodies = [
            r#"{"messaging_object":{"messaging_product":"whatsapp","to":"+14155550100","interactive":{"x":[1,{"to":"no"}]}}}"#,
            r#"{"extra_info":{"ref":"a\"b}{"},"messaging_object":{"interactive":{"action":{"parameters":{"flow_action_payload":{"data":{"to":"+1"}}}}},"to":"+14155550100,+14155550101"}}"#,
        ];
        assert_eq!(recipient_of(bodies[0].as_bytes()), "+14155550100");
        assert_eq!(recipient_of(bodies[1].as_bytes()), "+14155550100,+14155550101");
        assert_eq!(recipient_of(br#"{"messaging_object":{"to":"+1\u0030"}}"#), "+10");
        assert_eq!(recipient_of(b"not json"), "");
    }

    #[test]
    fn callback_keys_are_read_and_the_track_key_added() {
        let body = br#"{"messaging_object":{"to":"+14155550100","interactive":{"action":{"parameters":{"flow_token":"tok \"1\""}}}},"extra_info":{"ref":"C-1","wa_source":"api"}}"#;
        let keys = keys_of(body);
        assert_eq!(keys.flow_token.as_deref(), Some("tok \"1\""));
        assert_eq!(keys.refs, [Some("C-1".to_owned()), None, None]);
        let tracked = with_extra_info(body, "ref2", "flowc-1a2b3c4d-7");
        let parsed: serde_json::Value = serde_json::from_slice(&tracked).expect("still JSON");
        assert_eq!(parsed["extra_info"]["ref2"], "flowc-1a2b3c4d-7");
        assert_eq!(parsed["extra_info"]["ref"], "C-1");
        for bare in [
            &br#"{"messaging_object":{"to":"+1"}}"#[..],
            br#"{"messaging_object":{"to":"+1"},"extra_info":{}}"#,
        ] {
            let parsed: serde_json::Value = serde_json::from_slice(&with_extra_info(bare, "ref", "k")).expect("JSON");
            assert_eq!(parsed["extra_info"]["ref"], "k");
        }
    }
}
