//! From a callback's body or query string to [`Event`]s.
//!
//! Providers differ, and the provider's own pages show more than one shape, so every shape
//! that has been seen is accepted:
//! - the provider's envelope: `{"meta_object": {"field": …, "value": {…}}, "extra_info": {…}}`,
//!   whose `value` is Meta's (`statuses`, `messages`) and whose `extra_info` echoes the send's
//!   `ref`/`ref1`/`ref2`;
//! - Meta's plain webhook: `{"entry": [{"changes": [{"value": {…}}]}]}`;
//! - a bare `value` (`{"statuses": […]}` or `{"messages": […]}`);
//! - flat fields, as a GET profile sends them as query parameters (or a POST as a form or a
//!   flat JSON object), under the names docs/operator.md tells the user to choose: `status`,
//!   `message_id`, `recipient_id`, `timestamp`, `ref`, `ref1`, `ref2`, `error_code`,
//!   `error_title` for a status; `from`, `body`, `type`, `reply_to` for an incoming message.
//!
//! Anything else is *unrecognised*: the caller stores it raw and answers 400. Nothing here
//! recurses over the input, so no nesting depth can exhaust the stack (serde_json itself stops
//! at 128 levels).

use serde_json::{Map, Value};

mod envelope;

use super::event::{Event, FlowReply, IncomingMessage, Origin, Refs, StatusEvent};
use crate::secret::fold;

/// Words that, as the whole text of a reply, ask the business to stop writing to that number.
#[derive(Debug, Clone)]
pub(crate) struct OptOutWords {
    /// Upper-cased.
    words: Vec<String>,
}

impl OptOutWords {
    /// What a person who wants no more messages usually writes (and what the template footers
    /// tell them to write).
    pub(crate) const DEFAULT: [&'static str; 2] = ["STOP", "UNSUBSCRIBE"];

    pub(crate) fn new<S: AsRef<str>>(words: &[S]) -> OptOutWords {
        OptOutWords {
            words: words
                .iter()
                .map(|word| fold(word.as_ref()).trim().to_uppercase())
                .filter(|word| !word.is_empty())
                .collect(),
        }
    }

    /// The word a text is, ignoring case, surrounding spaces and closing punctuation (`Stop.`,
    /// ` STOP! `), fullwidth forms (`ＳＴＯＰ`) and invisible characters (a zero-width space a
    /// keyboard added). Only the whole text counts: "please don't stop" is not an opt-out.
    pub(crate) fn matched(&self, text: &str) -> Option<&str> {
        let bare = fold(text);
        let bare = bare
            .trim()
            .trim_end_matches(['.', '!', '?', '。', '！'])
            .trim()
            .to_uppercase();
        self.words.iter().find(|word| **word == bare).map(String::as_str)
    }
}

/// The JSON values (or form pairs) a callback may hold: a callback carries a few events, and a
/// body of tens of thousands of tiny values costs tens of times its size once parsed.
pub(crate) const MAX_VALUES: usize = 50_000;

/// The events one callback may carry (Meta batches a few; a provider sends one).
pub(crate) const MAX_EVENTS: usize = 1_000;

/// Why a callback was not understood (kept with its raw copy).
pub(crate) type Unrecognised = String;

/// A JSON body.
pub(crate) fn json(body: &[u8], words: &OptOutWords) -> Result<Vec<Event>, Unrecognised> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("empty body".to_owned());
    }
    // Every value after the first follows a `,`, a `:` or a `[`: a bound counted before parsing.
    let bound = body.iter().filter(|byte| matches!(byte, b',' | b':' | b'[')).count() + 1;
    if bound > MAX_VALUES {
        return Err(format!(
            "more than {MAX_VALUES} JSON values (a callback carries a few events)"
        ));
    }
    // The usual shapes are read into typed fields; the rest, and anything unusual, as a `Value`.
    if let Some(events) = envelope::events(body, words) {
        return Ok(events);
    }
    general(body, words)
}

/// A JSON body read as a `serde_json::Value`: every shape, and why a body is not understood.
fn general(body: &[u8], words: &OptOutWords) -> Result<Vec<Event>, Unrecognised> {
    let root: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {}", error_class(&error)))?;
    let Value::Object(root) = root else {
        return Err("the JSON is not an object".to_owned());
    };
    let extra = root.get("extra_info").and_then(Value::as_object);
    let mut events = Vec::new();
    let mut found_value = false;
    let (found, other_fields) = values(&root);
    for value in found {
        found_value = true;
        events_of_value(value, extra, &root, words, &mut events);
    }
    // Meta's `calls`, `account_update`, template updates…: not message events, kept raw.
    if events.is_empty() {
        if let Some(field) = other_fields.first() {
            return Err(format!("a `{field}` event, not a message status or a message"));
        }
    }
    if events.is_empty() && (root.contains_key("status") || root.contains_key("from")) {
        return flat_object(&root, extra, words);
    }
    if events.len() > MAX_EVENTS {
        return Err(format!(
            "{} events in one callback (at most {MAX_EVENTS} are taken)",
            events.len()
        ));
    }
    if events.is_empty() {
        return Err(if found_value {
            "no status or message with the fields it needs".to_owned()
        } else {
            "no `statuses` or `messages`, and no `status` field".to_owned()
        });
    }
    Ok(events)
}

/// serde_json's error category, without the text around it (which could quote the input).
fn error_class(error: &serde_json::Error) -> String {
    let what = match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

/// A flat JSON object, such as the provider's "not sent" callbacks (`{"code": "WAV2101",
/// "status": "not sent", "reason": …, "message_id": …, "extra_info": {"message_id": …, "ref": …}}`,
/// no `meta_object`): its own fields, and the refs, trace and second id its `extra_info` echoes.
fn flat_object(
    root: &Map<String, Value>,
    extra: Option<&Map<String, Value>>,
    words: &OptOutWords,
) -> Result<Vec<Event>, Unrecognised> {
    let mut pairs: Vec<(String, String)> = root
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), text(value)?)))
        .collect();
    for name in ["ref", "ref1", "ref2", "trace_id"] {
        let given = pairs.iter().any(|(key, _)| key == name);
        if let (false, Some(value)) = (given, extra.and_then(|extra| text(extra.get(name)?))) {
            pairs.push((name.to_owned(), value));
        }
    }
    let mut events = flat(&pairs, words)?;
    let second_id = extra.and_then(|extra| text(extra.get("message_id")?));
    for event in &mut events {
        if let Event::Status(status) = event {
            if status.message_id.is_none() {
                status.message_id.clone_from(&second_id);
            } else if second_id != status.message_id {
                status.provider_message_id.clone_from(&second_id);
            }
        }
    }
    Ok(events)
}

/// Flat fields: query parameters, a form, or a flat JSON object.
pub(crate) fn flat(pairs: &[(String, String)], words: &OptOutWords) -> Result<Vec<Event>, Unrecognised> {
    if pairs.len() > MAX_VALUES {
        return Err(format!("more than {MAX_VALUES} parameters"));
    }
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    if let Some(status) = get("status") {
        return Ok(vec![Event::Status(StatusEvent {
            message_id: get("message_id").or_else(|| get("id")),
            status,
            timestamp: get("timestamp"),
            recipient: get("recipient_id").or_else(|| get("recipient")),
            // `code` and `reason`: the provider's "not sent" callbacks (`WAV2101`).
            error_code: get("error_code").or_else(|| get("code")),
            error_title: get("error_title").or_else(|| get("reason")),
            error_detail: get("error_detail"),
            refs: Refs {
                ref0: get("ref"),
                ref1: get("ref1"),
                ref2: get("ref2"),
            },
            origin: Origin {
                trace_id: get("trace_id"),
                ..Origin::default()
            },
            ..StatusEvent::default()
        })]);
    }
    if let Some(from) = get("from") {
        let text = get("body").or_else(|| get("text")).or_else(|| get("message"));
        let opt_out = text.as_deref().and_then(|text| words.matched(text)).map(str::to_owned);
        return Ok(vec![Event::Message(IncomingMessage {
            message_id: get("message_id").or_else(|| get("id")),
            from: Some(from),
            context_id: get("reply_to").or_else(|| get("context_id")),
            kind: get("type"),
            text,
            timestamp: get("timestamp").or_else(|| get("created_at")),
            opt_out,
            ..IncomingMessage::default()
        })]);
    }
    if pairs.is_empty() {
        Err("no parameters".to_owned())
    } else {
        Err("neither `status` nor `from` among the parameters".to_owned())
    }
}

type Object = Map<String, Value>;

/// The `value` objects (Meta's) a body carries, in whichever envelope, with the `field`s of
/// the changes left out because they are not about messages (`calls`, whose `statuses` are a
/// call's, not a message's).
fn values(root: &Map<String, Value>) -> (Vec<&Map<String, Value>>, Vec<String>) {
    let object = match root.get("meta_object").and_then(Value::as_object) {
        Some(meta) => meta,
        None => root,
    };
    // Each change (an object with a `field`) and its `value`.
    let mut changes: Vec<(&Object, &Object)> = Vec::new();
    let mut found = Vec::new();
    if let Some(entries) = object.get("entry").and_then(Value::as_array) {
        for entry in entries {
            let listed = entry.get("changes").and_then(Value::as_array);
            for change in listed.into_iter().flatten().filter_map(Value::as_object) {
                if let Some(value) = change.get("value").and_then(Value::as_object) {
                    changes.push((change, value));
                }
            }
        }
    } else if let Some(value) = object.get("value").and_then(Value::as_object) {
        changes.push((object, value));
    } else if object.contains_key("statuses") || object.contains_key("messages") {
        found.push(object);
    }
    let mut other_fields = Vec::new();
    for (change, value) in changes {
        match field_name(change) {
            Some(field) if field != "messages" => other_fields.push(field),
            _ => found.push(value),
        }
    }
    (found, other_fields)
}

/// A change's `field`, as written (`messages`, `calls`…).
fn field_name(change: &Map<String, Value>) -> Option<String> {
    change.get("field").and_then(Value::as_str).map(str::to_owned)
}

fn events_of_value(
    value: &Map<String, Value>,
    extra: Option<&Map<String, Value>>,
    root: &Map<String, Value>,
    words: &OptOutWords,
    events: &mut Vec<Event>,
) {
    let metadata = value.get("metadata");
    let origin = Origin {
        business_number: metadata.and_then(|m| field(m, "display_phone_number")),
        phone_number_id: metadata.and_then(|m| field(m, "phone_number_id")),
        trace_id: extra.and_then(|extra| text(extra.get("trace_id")?)),
    };
    let extra_field = |name: &str| extra.and_then(|extra| text(extra.get(name)?));
    let refs = Refs {
        ref0: extra_field("ref"),
        ref1: extra_field("ref1"),
        ref2: extra_field("ref2"),
    };
    let envelope_id = extra_field("message_id").or_else(|| root.get("message_id").and_then(text));
    for status in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = field(status, "status") else { continue };
        let message_id = field(status, "id");
        let error = status
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first());
        events.push(Event::Status(StatusEvent {
            provider_message_id: envelope_id.clone().filter(|id| Some(id) != message_id.as_ref()),
            message_id,
            status: name,
            timestamp: field(status, "timestamp"),
            recipient: field(status, "recipient_id"),
            error_code: error.and_then(|error| field(error, "code")),
            error_title: error.and_then(|error| field(error, "title")),
            error_detail: error.and_then(|error| {
                error
                    .get("error_data")
                    .and_then(|data| field(data, "details"))
                    .or_else(|| field(error, "message"))
            }),
            refs: refs.clone(),
            opaque: field(status, "biz_opaque_callback_data"),
            origin: origin.clone(),
        }));
    }
    for message in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
        if !message.is_object() {
            continue;
        }
        events.push(Event::Message(incoming(message, extra, origin.clone(), words)));
    }
}

fn incoming(
    message: &Value,
    extra: Option<&Map<String, Value>>,
    origin: Origin,
    words: &OptOutWords,
) -> IncomingMessage {
    let kind = field(message, "type");
    let interactive = message.get("interactive");
    let mut flow = None;
    let said = match kind.as_deref() {
        Some("text") => message.get("text").and_then(|text| field(text, "body")),
        Some("button") => message.get("button").and_then(|button| field(button, "text")),
        Some("interactive") => {
            let interactive_kind = interactive.and_then(|i| field(i, "type"));
            match interactive_kind.as_deref() {
                Some("nfm_reply") => {
                    let reply = interactive.and_then(|i| i.get("nfm_reply"));
                    flow = Some(flow_reply(reply));
                    reply.and_then(|reply| field(reply, "body"))
                }
                Some(other) => interactive
                    .and_then(|i| i.get(other))
                    .and_then(|reply| field(reply, "title")),
                None => None,
            }
        }
        _ => None,
    };
    let opt_out = match kind.as_deref() {
        Some("text") => said.as_deref().and_then(|said| words.matched(said)).map(str::to_owned),
        _ => None,
    };
    let context = message.get("context");
    IncomingMessage {
        message_id: field(message, "id"),
        from: field(message, "from"),
        context_id: context
            .and_then(|context| field(context, "id"))
            .or_else(|| extra.and_then(|extra| text(extra.get("reply_to")?))),
        context_from: context.and_then(|context| field(context, "from")),
        kind,
        text: said,
        timestamp: field(message, "timestamp"),
        flow,
        opt_out,
        origin,
    }
}

fn flow_reply(reply: Option<&Value>) -> FlowReply {
    flow_reply_of(
        reply.and_then(|reply| field(reply, "name")),
        reply.and_then(|reply| reply.get("response_json")),
    )
}

/// A Flow reply of the given name, from its `response_json` as sent.
fn flow_reply_of(name: Option<String>, raw: Option<&Value>) -> FlowReply {
    // Meta sends a JSON string; a provider that already parsed it may send the object.
    let parsed = match raw {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
        Some(object @ Value::Object(_)) => Some(object.clone()),
        _ => None,
    };
    let response_json = match (&parsed, raw) {
        (Some(value), _) => serde_json::to_string(value).ok(),
        (None, Some(Value::String(text))) => Some(text.clone()),
        (None, _) => None,
    };
    FlowReply {
        name,
        flow_token: parsed.as_ref().and_then(|value| field(value, "flow_token")),
        response_json,
    }
}

/// A field as text: strings as they are, numbers written out (Meta sends error codes as
/// numbers, a provider may send them as strings); empty strings are absent.
fn field(object: &Value, name: &str) -> Option<String> {
    text(object.get(name)?)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> OptOutWords {
        OptOutWords::new(&OptOutWords::DEFAULT)
    }

    fn one(body: &str) -> Event {
        let mut events = json(body.as_bytes(), &words()).expect("recognised");
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    #[test]
    fn receive_the_providers_status_envelope() {
        let Event::Status(status) = one(
            r#"{"meta_object":{"field":"messages","value":{"messaging_product":"whatsapp",
                "metadata":{"display_phone_number":"911234567890","phone_number_id":"104"},
                "statuses":[{"id":"wamid.A","status":"failed","timestamp":"1722834665","recipient_id":"919407000000",
                  "errors":[{"code":131047,"title":"Re-engagement message","error_data":{"details":"24h"}}]}]}},
              "extra_info":{"trace_id":"t-1","message_id":"AX1","ref":"R-1","ref1":"c","ref2":"d"},
              "status":"failed","message_id":"AX1"}"#,
        ) else {
            panic!("not a status")
        };
        assert_eq!(status.message_id.as_deref(), Some("wamid.A"));
        assert_eq!(status.provider_message_id.as_deref(), Some("AX1"));
        assert_eq!(status.status, "failed");
        assert_eq!(status.error_code.as_deref(), Some("131047"));
        assert_eq!(status.error_title.as_deref(), Some("Re-engagement message"));
        assert_eq!(status.error_detail.as_deref(), Some("24h"));
        assert_eq!(status.refs.ref0.as_deref(), Some("R-1"));
        assert_eq!(status.refs.ref2.as_deref(), Some("d"));
        assert_eq!(status.origin.trace_id.as_deref(), Some("t-1"));
        assert_eq!(status.origin.phone_number_id.as_deref(), Some("104"));
    }

    #[test]
    fn receive_metas_plain_webhook_with_a_flow_reply() {
        let Event::Message(message) = one(
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
                "messages":[{"from":"16315558151","id":"wamid.R","timestamp":"1","type":"interactive",
                  "context":{"from":"911234567890","id":"wamid.F"},
                  "interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent",
                    "response_json":"{\"flow_token\":\"tok-R-1\",\"slot\":\"10:00\"}"}}}]}}]}]}"#,
        ) else {
            panic!("not a message")
        };
        assert_eq!(message.context_id.as_deref(), Some("wamid.F"));
        let flow = message.flow.expect("a flow reply");
        assert_eq!(flow.flow_token.as_deref(), Some("tok-R-1"));
        assert_eq!(
            flow.response_json.as_deref(),
            Some(r#"{"flow_token":"tok-R-1","slot":"10:00"}"#)
        );
        assert_eq!(message.opt_out, None);
    }

    #[test]
    fn receive_an_unparsable_response_json_is_kept_as_sent() {
        let Event::Message(message) = one(
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"nfm_reply",
                "nfm_reply":{"response_json":"{not json"}}}]}"#,
        ) else {
            panic!("not a message")
        };
        let flow = message.flow.expect("a flow reply");
        assert_eq!(flow.flow_token, None);
        assert_eq!(flow.response_json.as_deref(), Some("{not json"));
    }

    #[test]
    fn receive_opt_out_words_are_whole_texts() {
        let words = OptOutWords::new(&["stop", "Arrêt"]);
        assert_eq!(words.matched(" Stop! "), Some("STOP"));
        assert_eq!(words.matched("arrêt."), Some("ARRÊT"));
        assert_eq!(words.matched("please don't stop"), None);
        let Event::Message(message) =
            one(r#"{"messages":[{"from":"1","id":"w","type":"text","text":{"body":"unsubscribe"}}]}"#)
        else {
            panic!("not a message")
        };
        assert_eq!(message.opt_out.as_deref(), Some("UNSUBSCRIBE"));
    }

    #[test]
    fn receive_flat_fields_from_a_query_or_a_flat_object() {
        let pairs = vec![
            ("status".to_owned(), "delivered".to_owned()),
            ("message_id".to_owned(), "wamid.B".to_owned()),
            ("ref".to_owned(), "R-2".to_owned()),
        ];
        let events = flat(&pairs, &words()).expect("recognised");
        let Event::Status(status) = &events[0] else { panic!() };
        assert_eq!(status.refs.ref0.as_deref(), Some("R-2"));
        let Event::Status(status) = one(r#"{"status":"read","message_id":"wamid.B","error_code":131026}"#) else {
            panic!()
        };
        assert_eq!(status.error_code.as_deref(), Some("131026"));
    }

    #[test]
    fn receive_unrecognised_shapes_say_why() {
        for (body, why) in [
            ("", "empty"),
            ("[1]", "not an object"),
            ("{\"hello\":1}", "no `statuses`"),
            ("{\"statuses\":[{\"id\":\"x\"}]}", "no status or message"),
            ("{\"a\":", "not JSON"),
        ] {
            let error = json(body.as_bytes(), &words()).expect_err(body);
            assert!(error.contains(why), "{body}: {error}");
        }
    }

    #[test]
    fn receive_a_retried_status_has_the_same_key_and_a_new_stage_another() {
        let body = r#"{"statuses":[{"id":"w","status":"delivered","timestamp":"1"}]}"#;
        assert_eq!(one(body).key(), one(body).key());
        assert_ne!(one(body).key(), one(&body.replace("delivered", "read")).key());
    }
}
