//! What a callback says once it is understood: a message's new status, or a message a person
//! sent to the business (a text, a button, a completed Flow).
//!
//! Every field the provider or Meta may leave out is an `Option`: providers differ, a GET
//! profile sends only the variables the business chose, and an event is worth keeping with
//! whatever it carries. The fields that a campaign can later be matched by (message ids, the
//! recipient, `ref`/`ref1`/`ref2`, the `flow_token`, the id a reply answers) each become a column
//! of the store.

/// The refs a send carried in `extra_info`, echoed in its callbacks (the only documented way to
/// match a callback to the row that caused it: see the provider's Flow-message page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Refs {
    pub(crate) ref0: Option<String>,
    pub(crate) ref1: Option<String>,
    pub(crate) ref2: Option<String>,
}

/// Where an event came from: the business number and the provider's trace, when sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) business_number: Option<String>,
    pub(crate) phone_number_id: Option<String>,
    pub(crate) trace_id: Option<String>,
}

/// A message's status: `sent`, `delivered`, `read`, `failed`, `not-sent`, or whatever else the
/// provider names (kept as sent: a status flowc does not know yet is still a fact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StatusEvent {
    /// `statuses[].id` (a `wamid.…` or a provider id), or `message_id` in a flat callback.
    pub(crate) message_id: Option<String>,
    /// The other id the provider's envelope carries (`extra_info.message_id` or the top-level
    /// `message_id`) when it differs: which one a send's answer matches is not documented.
    pub(crate) provider_message_id: Option<String>,
    pub(crate) status: String,
    /// As sent (Meta: Unix seconds as a string).
    pub(crate) timestamp: Option<String>,
    pub(crate) recipient: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_title: Option<String>,
    pub(crate) error_detail: Option<String>,
    pub(crate) refs: Refs,
    /// Meta's `biz_opaque_callback_data`: another echo a sender may set.
    pub(crate) opaque: Option<String>,
    pub(crate) origin: Origin,
    /// What Meta charges for the message, as the status says it.
    pub(crate) pricing: Pricing,
}

/// Meta's `pricing` object on a status (`billable`, `pricing_model`, `category`: `marketing`,
/// `utility`, `authentication`, `service`, `referral_conversion`), kept as sent: what a
/// campaign cost is counted from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pricing {
    pub(crate) billable: Option<bool>,
    pub(crate) model: Option<String>,
    pub(crate) category: Option<String>,
}

/// A message from a person to the business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IncomingMessage {
    pub(crate) message_id: Option<String>,
    pub(crate) from: Option<String>,
    /// The id of the business message this one answers (`context.id`; for a Flow reply, the
    /// Flow message).
    pub(crate) context_id: Option<String>,
    pub(crate) context_from: Option<String>,
    /// Meta's `type`: `text`, `interactive`, `button`, `image`…
    pub(crate) kind: Option<String>,
    /// What the person wrote or tapped.
    pub(crate) text: Option<String>,
    pub(crate) timestamp: Option<String>,
    pub(crate) flow: Option<FlowReply>,
    /// The opt-out word the whole text matched (`STOP`…), if it did.
    pub(crate) opt_out: Option<String>,
    pub(crate) origin: Origin,
}

/// A completed Flow (`interactive.nfm_reply`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlowReply {
    pub(crate) name: Option<String>,
    /// The `flow_token` the Flow message was sent with, read from `response_json`.
    pub(crate) flow_token: Option<String>,
    /// The answers: `response_json` re-serialised as compact JSON when it parses (so SQLite's
    /// `json_extract` can read it), else the string as sent.
    pub(crate) response_json: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Status(StatusEvent),
    Message(IncomingMessage),
}

impl Event {
    /// What makes two deliveries the same event: a message is its id; a status is every field
    /// it was delivered with (the same status of the same message, at the same time, with the
    /// same error). A retried callback therefore adds nothing, while a genuinely new event about
    /// the same message (a `read` after a `delivered`) is kept.
    pub(crate) fn key(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        let mut field = |value: Option<&str>| match value {
            Some(text) => {
                hash.update((text.len() as u64).to_le_bytes());
                hash.update(text.as_bytes());
            }
            None => hash.update(u64::MAX.to_le_bytes()),
        };
        match self {
            Event::Status(status) => {
                field(Some("status"));
                for value in [
                    status.message_id.as_deref(),
                    status.provider_message_id.as_deref(),
                    Some(status.status.as_str()),
                    status.timestamp.as_deref(),
                    status.recipient.as_deref(),
                    status.error_code.as_deref(),
                    status.refs.ref0.as_deref(),
                    status.refs.ref1.as_deref(),
                    status.refs.ref2.as_deref(),
                ] {
                    field(value);
                }
            }
            Event::Message(message) => {
                field(Some("message"));
                match &message.message_id {
                    Some(id) => field(Some(id)),
                    None => {
                        for value in [
                            message.from.as_deref(),
                            message.timestamp.as_deref(),
                            message.kind.as_deref(),
                            message.text.as_deref(),
                            message.context_id.as_deref(),
                        ] {
                            field(value);
                        }
                    }
                }
            }
        }
        hash.finalize().into()
    }
}
