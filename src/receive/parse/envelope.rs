//! The usual callbacks (the provider's envelope, Meta's webhook, a bare `value`) read straight
//! into typed fields borrowed from the body, without a `serde_json::Value` tree: building one,
//! with its ordered maps, cost more than the rest of the parse on every callback.
//!
//! This reading is a shortcut, never a second opinion: whenever it is unsure (a key given twice,
//! a field of an unexpected type, an interactive reply of a kind it does not name, no event
//! found, a body the general reading would refuse for what is skipped here unread) it answers
//! `None`, and [`super::json`] reads the body the general way. So what a callback yields, and
//! every problem it is refused for, stays the general reading's; the tests hold the two to the
//! same events.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{OptOutWords, MAX_EVENTS};
use crate::receive::event::{Event, IncomingMessage, Origin, Pricing, Refs, StatusEvent};

/// The events of a body in one of the usual shapes, or `None` to leave it to the general
/// reading.
pub(super) fn events(body: &[u8], words: &OptOutWords) -> Option<Vec<Event>> {
    let text = std::str::from_utf8(body).ok()?;
    if !read_alike(body) {
        return None;
    }
    let root: Envelope<'_> = serde_json::from_str(text).ok()?;
    let extra = root.extra_info.as_ref();
    let (found, other_field) = values(&root)?;
    // Meta's `calls`, `account_update`…: the general reading says which.
    if other_field {
        return None;
    }
    let root_id = text_of(root.message_id.as_ref());
    let mut events = Vec::new();
    for value in found {
        events_of_value(value, extra, root_id.as_ref(), words, &mut events)?;
    }
    (!events.is_empty() && events.len() <= MAX_EVENTS).then_some(events)
}

/// serde_json's nesting limit (128), less the level this reading may add.
const MAX_OPENINGS: usize = 126;

/// What the parts of a body this reading skips must be for the general reading to accept the
/// body too. serde_json skips unknown fields without checking what building a `Value` checks:
/// their depth, escaped UTF-16 surrogates (`\ud800`, which a `Value`'s string refuses alone) and
/// numbers too large for an `f64`. A body with any of them, or anything that might be one, is
/// left to the general reading.
fn read_alike(body: &[u8]) -> bool {
    // Every `[` and `{` counted, in strings too: the nesting is at most that.
    let openings = body.iter().filter(|&&byte| byte == b'{' || byte == b'[').count();
    if openings > MAX_OPENINGS {
        return false;
    }
    let surrogate = memchr::memmem::find_iter(body, b"\\u").any(|at| {
        matches!(body.get(at + 2), Some(b'd' | b'D'))
            && matches!(body.get(at + 3), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    });
    if surrogate {
        return false;
    }
    // A number too large for an `f64` (1.8e308): with an exponent, one of three digits or more
    // (`1e400`) or a mantissa of 200 digits or more; without, 300 digits or more in a row.
    let large_exponent = memchr::memchr2_iter(b'e', b'E', body).any(|at| {
        // Most are letters of words: nothing to look at.
        if at == 0 || !(body[at - 1].is_ascii_digit() || body[at - 1] == b'.') {
            return false;
        }
        let mantissa = body[..at]
            .iter()
            .rev()
            .take_while(|byte| byte.is_ascii_digit() || **byte == b'.')
            .count();
        let rest = &body[at + 1..];
        let rest = rest
            .strip_prefix(b"-")
            .or_else(|| rest.strip_prefix(b"+"))
            .unwrap_or(rest);
        let exponent = rest.iter().take(3).take_while(|byte| byte.is_ascii_digit()).count();
        mantissa > 0 && exponent > 0 && (exponent == 3 || mantissa >= 200)
    });
    // Counted first (a loop the compiler vectorises): a callback rarely holds that many digits.
    let long_digits = body.iter().filter(|byte| byte.is_ascii_digit()).count() >= 300
        && body.split(|byte| !byte.is_ascii_digit()).any(|run| run.len() >= 300);
    !(large_exponent || long_digits)
}

/// A field as [`super::text`] reads it: strings as they are (absent when blank), numbers
/// written out as serde_json writes them, `true`/`false`; `null` absent. An object or an array
/// fails the typed reading.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'a>, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a string, a number, a boolean or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text((!text.trim().is_empty()).then_some(Cow::Borrowed(text))))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text((!text.trim().is_empty()).then(|| Cow::Owned(text.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text((!text.trim().is_empty()).then_some(Cow::Owned(text))))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(serde_json::Number::from(number).to_string()))))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(serde_json::Number::from(number).to_string()))))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Text<'de>, E> {
                Ok(Text(
                    serde_json::Number::from_f64(number).map(|number| Cow::Owned(number.to_string())),
                ))
            }
            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(if flag { "true" } else { "false" }))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

fn text_of(field: Option<&Text<'_>>) -> Option<String> {
    field.and_then(|text| text.0.as_deref()).map(str::to_owned)
}

/// The body, or the provider's `meta_object` inside it: an object that may hold Meta's `value`
/// in one of its wrappings (`entry[].changes[]`, `value`, or its own `statuses`/`messages`).
/// One type for both, with every field either may have (serde's `flatten` would buffer the
/// body and let a key given twice through).
#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Envelope<'a> {
    #[serde(borrow, default)]
    meta_object: Option<Box<Envelope<'a>>>,
    #[serde(borrow, default)]
    extra_info: Option<Extra<'a>>,
    #[serde(borrow, default)]
    message_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    entry: Option<Vec<Entry<'a>>>,
    #[serde(borrow, default)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<MetaValue<'a>>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    statuses: Option<Vec<MetaStatus<'a>>>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Entry<'a> {
    #[serde(borrow, default)]
    changes: Option<Vec<Change<'a>>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Change<'a> {
    #[serde(borrow, default)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<MetaValue<'a>>,
}

/// Meta's `value`: the statuses and messages, and the business number they concern.
#[derive(Deserialize)]
#[serde(remote = "Self")]
struct MetaValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    statuses: Option<Vec<MetaStatus<'a>>>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Metadata<'a> {
    #[serde(borrow, default)]
    display_phone_number: Option<Text<'a>>,
    #[serde(borrow, default)]
    phone_number_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Extra<'a> {
    #[serde(borrow, default)]
    trace_id: Option<Text<'a>>,
    #[serde(borrow, default, rename = "ref")]
    ref0: Option<Text<'a>>,
    #[serde(borrow, default)]
    ref1: Option<Text<'a>>,
    #[serde(borrow, default)]
    ref2: Option<Text<'a>>,
    #[serde(borrow, default)]
    message_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    reply_to: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct MetaStatus<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    recipient_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    errors: Option<Vec<StatusError<'a>>>,
    #[serde(borrow, default)]
    biz_opaque_callback_data: Option<Text<'a>>,
    #[serde(borrow, default)]
    pricing: Option<MetaPricing<'a>>,
}

/// Meta's `pricing` on a status (anything but an object is left to the general reading).
#[derive(Deserialize)]
struct MetaPricing<'a> {
    #[serde(borrow, default)]
    billable: Option<Text<'a>>,
    #[serde(borrow, default)]
    pricing_model: Option<Text<'a>>,
    #[serde(borrow, default)]
    category: Option<Text<'a>>,
}

impl MetaPricing<'_> {
    /// As [`super::pricing`] reads it: `billable` a boolean, or `true`/`false` as text.
    fn read(&self) -> Pricing {
        let billable = text_of(self.billable.as_ref());
        Pricing {
            billable: match billable.as_deref().map(str::trim) {
                Some(flag) if flag.eq_ignore_ascii_case("true") => Some(true),
                Some(flag) if flag.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            },
            model: text_of(self.pricing_model.as_ref()),
            category: text_of(self.category.as_ref()),
        }
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct StatusError<'a> {
    #[serde(borrow, default)]
    code: Option<Text<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
    #[serde(borrow, default)]
    message: Option<Text<'a>>,
    #[serde(borrow, default)]
    error_data: Option<ErrorData<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct ErrorData<'a> {
    #[serde(borrow, default)]
    details: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    from: Option<Text<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Body<'a>>,
    #[serde(borrow, default)]
    button: Option<Button<'a>>,
    #[serde(borrow, default)]
    interactive: Option<Interactive<'a>>,
    #[serde(borrow, default)]
    context: Option<Context<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Body<'a> {
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Button<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Interactive<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    nfm_reply: Option<NfmReply<'a>>,
    #[serde(borrow, default)]
    button_reply: Option<Titled<'a>>,
    #[serde(borrow, default)]
    list_reply: Option<Titled<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct NfmReply<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
    /// Small, and re-serialised exactly as the general reading does: a `Value` here.
    #[serde(default)]
    response_json: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Titled<'a> {
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
struct Context<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    from: Option<Text<'a>>,
}

/// serde reads a struct from a JSON list too, its fields in order; the general reading finds
/// no field in a list. Each typed object is read from a JSON object only, else the body is
/// left to the general reading.
macro_rules! objects_only {
    ($($name:ident),*) => {$(
        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name<'a>, D::Error> {
                struct ObjectVisitor;
                impl<'de> Visitor<'de> for ObjectVisitor {
                    type Value = $name<'de>;
                    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        formatter.write_str("an object")
                    }
                    fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<$name<'de>, M::Error> {
                        $name::deserialize(de::value::MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    )*};
}

objects_only!(
    Envelope,
    Entry,
    Change,
    MetaValue,
    Metadata,
    Extra,
    MetaStatus,
    StatusError,
    ErrorData,
    Message,
    Body,
    Button,
    Interactive,
    NfmReply,
    Titled,
    Context
);

/// Meta's `value`, as found: a `value` object, or the fields of the object that holds
/// `statuses` or `messages` itself.
#[derive(Clone, Copy)]
struct Found<'r, 'a> {
    metadata: Option<&'r Metadata<'a>>,
    statuses: Option<&'r Vec<MetaStatus<'a>>>,
    messages: Option<&'r Vec<Message<'a>>>,
}

impl<'r, 'a> From<&'r MetaValue<'a>> for Found<'r, 'a> {
    fn from(value: &'r MetaValue<'a>) -> Found<'r, 'a> {
        Found {
            metadata: value.metadata.as_ref(),
            statuses: value.statuses.as_ref(),
            messages: value.messages.as_ref(),
        }
    }
}

/// The `value`s as [`super::values`] finds them, and whether a change of another `field` was
/// seen.
fn values<'r, 'a>(root: &'r Envelope<'a>) -> Option<(Vec<Found<'r, 'a>>, bool)> {
    let object = root.meta_object.as_deref().unwrap_or(root);
    let mut found = Vec::new();
    let mut other_field = false;
    let mut change = |field: Option<&Cow<'a, str>>, value: &'r MetaValue<'a>| match field {
        Some(field) if field != "messages" => other_field = true,
        _ => found.push(Found::from(value)),
    };
    if let Some(entries) = &object.entry {
        for entry in entries {
            for each in entry.changes.iter().flatten() {
                if let Some(value) = &each.value {
                    change(each.field.as_ref(), value);
                }
            }
        }
    } else if let Some(value) = &object.value {
        change(object.field.as_ref(), value);
    } else if object.statuses.is_some() || object.messages.is_some() {
        found.push(Found {
            metadata: object.metadata.as_ref(),
            statuses: object.statuses.as_ref(),
            messages: object.messages.as_ref(),
        });
    }
    Some((found, other_field))
}

fn events_of_value(
    value: Found<'_, '_>,
    extra: Option<&Extra<'_>>,
    root_id: Option<&String>,
    words: &OptOutWords,
    events: &mut Vec<Event>,
) -> Option<()> {
    let metadata = value.metadata;
    let origin = Origin {
        business_number: text_of(metadata.and_then(|m| m.display_phone_number.as_ref())),
        phone_number_id: text_of(metadata.and_then(|m| m.phone_number_id.as_ref())),
        trace_id: text_of(extra.and_then(|extra| extra.trace_id.as_ref())),
    };
    let refs = Refs {
        ref0: text_of(extra.and_then(|extra| extra.ref0.as_ref())),
        ref1: text_of(extra.and_then(|extra| extra.ref1.as_ref())),
        ref2: text_of(extra.and_then(|extra| extra.ref2.as_ref())),
    };
    let envelope_id = text_of(extra.and_then(|extra| extra.message_id.as_ref())).or_else(|| root_id.cloned());
    for status in value.statuses.into_iter().flatten() {
        let Some(name) = text_of(status.status.as_ref()) else {
            continue;
        };
        let message_id = text_of(status.id.as_ref());
        let error = status.errors.as_ref().and_then(|errors| errors.first());
        events.push(Event::Status(StatusEvent {
            provider_message_id: envelope_id.clone().filter(|id| Some(id) != message_id.as_ref()),
            message_id,
            status: name,
            timestamp: text_of(status.timestamp.as_ref()),
            recipient: text_of(status.recipient_id.as_ref()),
            error_code: text_of(error.and_then(|error| error.code.as_ref())),
            error_title: text_of(error.and_then(|error| error.title.as_ref())),
            error_detail: error.and_then(|error| {
                text_of(error.error_data.as_ref().and_then(|data| data.details.as_ref()))
                    .or_else(|| text_of(error.message.as_ref()))
            }),
            refs: refs.clone(),
            opaque: text_of(status.biz_opaque_callback_data.as_ref()),
            origin: origin.clone(),
            pricing: status.pricing.as_ref().map(MetaPricing::read).unwrap_or_default(),
        }));
    }
    for message in value.messages.into_iter().flatten() {
        events.push(Event::Message(incoming(message, extra, origin.clone(), words)?));
    }
    Some(())
}

fn incoming(
    message: &Message<'_>,
    extra: Option<&Extra<'_>>,
    origin: Origin,
    words: &OptOutWords,
) -> Option<IncomingMessage> {
    let kind = text_of(message.kind.as_ref());
    let interactive = message.interactive.as_ref();
    let mut flow = None;
    let said = match kind.as_deref() {
        Some("text") => text_of(message.text.as_ref().and_then(|text| text.body.as_ref())),
        Some("button") => text_of(message.button.as_ref().and_then(|button| button.text.as_ref())),
        Some("interactive") => {
            let interactive_kind = text_of(interactive.and_then(|i| i.kind.as_ref()));
            match interactive_kind.as_deref() {
                Some("nfm_reply") => {
                    let reply = interactive.and_then(|i| i.nfm_reply.as_ref());
                    flow = Some(super::flow_reply_of(
                        text_of(reply.and_then(|reply| reply.name.as_ref())),
                        reply.and_then(|reply| reply.response_json.as_ref()),
                    ));
                    text_of(reply.and_then(|reply| reply.body.as_ref()))
                }
                Some("button_reply") => text_of(
                    interactive
                        .and_then(|i| i.button_reply.as_ref())
                        .and_then(|reply| reply.title.as_ref()),
                ),
                Some("list_reply") => text_of(
                    interactive
                        .and_then(|i| i.list_reply.as_ref())
                        .and_then(|reply| reply.title.as_ref()),
                ),
                // A kind of reply not named above: its fields are read the general way.
                Some(_) => return None,
                None => None,
            }
        }
        _ => None,
    };
    let opt_out = match kind.as_deref() {
        Some("text") => said.as_deref().and_then(|said| words.matched(said)).map(str::to_owned),
        _ => None,
    };
    let context = message.context.as_ref();
    Some(IncomingMessage {
        message_id: text_of(message.id.as_ref()),
        from: text_of(message.from.as_ref()),
        context_id: text_of(context.and_then(|context| context.id.as_ref()))
            .or_else(|| text_of(extra.and_then(|extra| extra.reply_to.as_ref()))),
        context_from: text_of(context.and_then(|context| context.from.as_ref())),
        kind,
        text: said,
        timestamp: text_of(message.timestamp.as_ref()),
        flow,
        opt_out,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> OptOutWords {
        OptOutWords::new(&OptOutWords::DEFAULT)
    }

    const PROVIDER_STATUS: &str = r#"{"meta_object":{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"911234567890","phone_number_id":"104000000000001"},"statuses":[{"id":"wamid.A-1","status":"delivered","timestamp":"1722834665","recipient_id":"919407000001","conversation":{"id":"c0ffee","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"marketing"}}]}},"extra_info":{"trace_id":"trace-1","message_id":"AX1","waba_id":"100000000000001","ref":"R-1","ref1":"bench","ref2":"row"},"status":"delivered","message_id":"AX1"}"#;

    /// Bodies in the usual shapes, with what is easy to get wrong in them.
    fn usual() -> Vec<String> {
        vec![
            PROVIDER_STATUS.to_owned(),
            // Escaped strings in ids, numbers where strings are usual, a nested error.
            r#"{"meta_object":{"value":{"statuses":[{"id":"wamid.\u0041B\/C\"d\"","status":"failed","timestamp":1722834665,
               "recipient_id":919407000000,"errors":[{"code":131047,"title":"Re-engagement message","message":"m",
               "error_data":{"details":"24h"}},{"code":1}],"biz_opaque_callback_data":"op"}]}},
               "extra_info":{"ref":"R-\u00e9","ref1":12.50,"ref2":-3,"trace_id":true,"message_id":"AX2"}}"#
                .to_owned(),
            r#"{"statuses":[{"id":"w","status":"read","errors":[{"title":"t","message":"only a message"}]},
               {"id":"w2","status":"  "},{"status":"sent","id":"  ","timestamp":1.5e3}],"message_id":"w"}"#
                .to_owned(),
            r#"{"statuses":[{"id":"w","status":"failed","errors":[]}],"metadata":{"phone_number_id":104}}"#.to_owned(),
            // Meta's plain webhook with a Flow reply whose answers need re-serialising.
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
               "metadata":{"display_phone_number":"911234567890"},
               "messages":[{"from":"16315558151","id":"wamid.R","timestamp":"1","type":"interactive",
                 "context":{"from":"911234567890","id":"wamid.F"},
                 "interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent",
                   "response_json":"{\"flow_token\":\"tok-R-1\", \"slot\":\"10:00\",\"n\":1.0,\"big\":1e2,\"a\":[1, {\"b\":null}],\"slot\":\"11:00\",\"u\":\"\\u00e9\"}"}}}]}}]},
               {"changes":[{"value":{"messages":[{"from":"1","id":"m2","type":"text","text":{"body":" Stop! "}}]}}]}]}"#
                .to_owned(),
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"nfm_reply",
               "nfm_reply":{"response_json":{"flow_token":"t","z":1,"a":2}}}}]}"#
                .to_owned(),
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"nfm_reply",
               "nfm_reply":{"response_json":"{not json","name":"n"}}}]}"#
                .to_owned(),
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"nfm_reply"}}]}"#.to_owned(),
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"response_json":[1]}}}]}"#.to_owned(),
            r#"{"value":{"messages":[{"from":"1","id":"b","type":"button","button":{"text":"Yes","payload":"y"}},
               {"from":"1","id":"c","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"x","title":"Later"}}},
               {"from":"1","id":"d","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"x","title":"Row"}}},
               {"from":"1","type":"text","text":{"body":"STOP"},"timestamp":"7"}]},"field":"messages",
               "extra_info":{"reply_to":"wamid.ctx"}}"#
                .to_owned(),
            r#"{"meta_object":{"entry":[{"changes":[{"value":{"statuses":[{"id":"e","status":"sent"}]}}]}]},"message_id":"e"}"#
                .to_owned(),
            // What Meta charges, in each form `billable` comes in.
            r#"{"meta_object":{"field":"messages","value":{"statuses":[
               {"id":"p1","status":"delivered","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing"}},
               {"id":"p2","status":"sent","pricing":{"billable":" FALSE ","category":"service"}},
               {"id":"p3","status":"sent","pricing":{"billable":1,"category":7}},
               {"id":"p4","status":"read","pricing":{}},{"id":"p5","status":"read","pricing":null}]}}}"#
                .to_owned(),
        ]
    }

    /// Bodies the typed reading must leave to the general one.
    fn unusual() -> Vec<Vec<u8>> {
        let status = r#""statuses":[{"id":"w","status":"sent"}]"#;
        let mut bodies: Vec<Vec<u8>> = [
            // A key given twice: the general reading takes the last.
            format!(r#"{{{status},"statuses":[{{"id":"v","status":"read"}}]}}"#),
            r#"{"statuses":[{"id":"w","status":"sent","id":"v"}]}"#.to_owned(),
            // Skipped parts the general reading refuses.
            format!(r#"{{{status},"x":{}{}}}"#, "[".repeat(130), "]".repeat(130)),
            format!(r#"{{{status},"x":"\ud800"}}"#),
            format!(r#"{{{status},"x":1e400}}"#),
            format!(r#"{{{status},"x":{}}}"#, "9".repeat(400)),
            format!(r#"{{{status},"x":{}e99}}"#, "9".repeat(250)),
            format!(r#"{{{status},"x":0.{}E+99}}"#, "0".repeat(250)),
            // Other fields, shapes and kinds.
            r#"{"entry":[{"changes":[{"field":"calls","value":{"statuses":[{"id":"w","status":"sent"}]}}]}]}"#.to_owned(),
            r#"{"status":"read","message_id":"wamid.B","error_code":131026}"#.to_owned(),
            r#"{"messages":[{"from":"1","id":"w","type":"interactive","interactive":{"type":"other_reply","other_reply":{"title":"T"}}}]}"#.to_owned(),
            r#"{"statuses":[{"id":"w","status":"sent"}, 3]}"#.to_owned(),
            r#"{"statuses":{"id":"w","status":"sent"},"messages":[]}"#.to_owned(),
            r#"{"meta_object":"x","statuses":[{"id":"w","status":"sent"}]}"#.to_owned(),
            r#"{"statuses":[{"id":{"a":1},"status":"sent"}]}"#.to_owned(),
            r#"{"statuses":[{"id":"w","status":"sent","pricing":"free"}]}"#.to_owned(),
            r#"{"statuses":[]}"#.to_owned(),
            "[1]".to_owned(),
            "{\"a\":".to_owned(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        let mut invalid = format!(r#"{{{status},"x":"é"}}"#).into_bytes();
        let at = invalid.len() - 3;
        invalid[at] = 0xff;
        bodies.push(invalid);
        bodies
    }

    #[test]
    fn receive_the_usual_shapes_are_read_without_a_value_tree_into_the_same_events() {
        for body in usual() {
            let typed =
                events(body.as_bytes(), &words()).unwrap_or_else(|| panic!("left to the general reading: {body}"));
            assert_eq!(Ok(typed), super::super::general(body.as_bytes(), &words()), "{body}");
        }
    }

    #[test]
    fn receive_unusual_bodies_are_left_to_the_general_reading() {
        for body in unusual() {
            let shown = String::from_utf8_lossy(&body);
            assert_eq!(events(&body, &words()), None, "{shown}");
            assert_eq!(
                super::super::json(&body, &words()),
                super::super::general(&body, &words()),
                "{shown}"
            );
        }
        for body in [
            format!(
                r#"{{"statuses":[{{"id":"w","status":"sent"}}],"x":{}{}}}"#,
                "[".repeat(130),
                "]".repeat(130)
            ),
            r#"{"statuses":[{"id":"w","status":"sent"}],"x":"\ud800"}"#.to_owned(),
            r#"{"statuses":[{"id":"w","status":"sent"}],"x":1e400}"#.to_owned(),
        ] {
            let error = super::super::json(body.as_bytes(), &words()).expect_err(&body);
            assert!(error.starts_with("not JSON"), "{body}: {error}");
        }
    }

    #[test]
    fn receive_a_list_where_an_object_belongs_is_not_read_as_its_fields_in_order() {
        // A list in place of an object is no object to the general reading: nothing is read
        // from it field by field.
        for body in [
            r#"[null,null,null,null,null,null,null,[{"id":"w","status":"sent"}]]"#,
            r#"{"statuses":[["w","sent"]]}"#,
            r#"{"value":[null,[{"id":"w","status":"sent"}]]}"#,
            r#"{"statuses":[{"id":"w","status":"sent"}],"extra_info":["trace","R-1"]}"#,
            r#"{"messages":[["m","1","7","text",["STOP"]]]}"#,
        ] {
            assert_eq!(events(body.as_bytes(), &words()), None, "{body}");
            assert_eq!(
                super::super::json(body.as_bytes(), &words()),
                super::super::general(body.as_bytes(), &words()),
                "{body}"
            );
        }
    }

    #[test]
    fn receive_the_typed_reading_agrees_with_the_general_one_on_mangled_bodies() {
        // Every body above with pieces cut out or doubled: whatever the typed reading accepts,
        // the general one reads the same.
        let mut random = fastrand::Rng::with_seed(21);
        let bodies: Vec<Vec<u8>> = usual().into_iter().map(String::into_bytes).chain(unusual()).collect();
        let mut typed = 0;
        for _ in 0..4_000 {
            let body = &bodies[random.usize(0..bodies.len())];
            let start = random.usize(0..body.len());
            let end = random.usize(start..=body.len().min(start + 40));
            let mut mangled = body[..start].to_vec();
            if random.bool() {
                mangled.extend_from_slice(&body[start..end]);
                mangled.extend_from_slice(&body[start..]);
            } else {
                mangled.extend_from_slice(&body[end..]);
            }
            if let Some(events) = events(&mangled, &words()) {
                typed += 1;
                assert_eq!(
                    Ok(events),
                    super::super::general(&mangled, &words()),
                    "{}",
                    String::from_utf8_lossy(&mangled)
                );
            }
        }
        assert!(typed > 100, "{typed} mangled bodies read typed");
    }
}
