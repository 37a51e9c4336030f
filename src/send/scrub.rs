//! The API key kept out of what the provider sends back: an outcome's text is scrubbed, or
//! withheld whole, before it is shown or journalled.

use crate::secret::Secret;
use crate::send::response::Outcome;

/// Removes the API key from every text the server gave, in whatever encoding it came back
/// (classification decodes JSON escapes, which can turn `\u0053ECRET` into the key).
pub(super) fn scrub(outcome: Outcome, key: &Secret) -> Outcome {
    // Control characters (an escape sequence, a carriage return) would act on the terminal or
    // forge a summary line; a code is a short word.
    let clean = |value: &str, width: usize| crate::words::printable(&crate::words::clip(value, width)).into_owned();
    let text = |value: String| key.scrub(&clean(&value, 1_000));
    let optional = |value: Option<String>| value.map(|value| key.scrub(&clean(&value, 40)));
    // The key split between the code and the message would sit whole in the journal's file.
    let (withhold_all, outcome) = {
        let joined = format!("{}{}", outcome.code().unwrap_or_default(), describe_text(&outcome));
        (key.appears_in(&joined), outcome)
    };
    if withhold_all {
        return withheld(outcome);
    }
    match outcome {
        Outcome::Accepted {
            http_status,
            code,
            message_id,
            note,
        } => {
            let leaked = message_id.as_deref().is_some_and(|id| key.appears_in(id));
            Outcome::Accepted {
                http_status,
                code: optional(code),
                message_id: if leaked { None } else { message_id },
                note: if leaked {
                    Some("accepted, but the provider's message id was withheld: it contained the API key".to_owned())
                } else {
                    note
                },
            }
        }
        Outcome::Rejected {
            http_status,
            code,
            message,
        } => Outcome::Rejected {
            http_status,
            code: optional(code),
            message: text(message),
        },
        Outcome::Stop {
            http_status,
            code,
            message,
            reason,
        } => Outcome::Stop {
            http_status,
            code: text(code),
            message: text(message),
            reason,
        },
        Outcome::Retry {
            http_status,
            code,
            message,
            retry_after,
        } => Outcome::Retry {
            http_status,
            code: optional(code),
            message: text(message),
            retry_after,
        },
        Outcome::Ambiguous {
            http_status,
            code,
            message,
        } => Outcome::Ambiguous {
            http_status,
            code: optional(code),
            message: text(message),
        },
        Outcome::Later {
            http_status,
            code,
            message,
        } => Outcome::Later {
            http_status,
            code: text(code),
            message: text(message),
        },
    }
}

/// The outcome's message, for checking it together with its code.
pub(super) fn describe_text(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Accepted { message_id, .. } => message_id.as_deref().unwrap_or_default(),
        Outcome::Rejected { message, .. }
        | Outcome::Stop { message, .. }
        | Outcome::Retry { message, .. }
        | Outcome::Ambiguous { message, .. }
        | Outcome::Later { message, .. } => message,
    }
}

/// The outcome with every server-provided text replaced.
pub(super) fn withheld(outcome: Outcome) -> Outcome {
    let hidden = || crate::secret::WITHHELD.to_owned();
    match outcome {
        Outcome::Accepted { http_status, .. } => Outcome::Accepted {
            http_status,
            code: None,
            message_id: None,
            note: Some("accepted, but the provider's answer was withheld: it contained the API key".to_owned()),
        },
        Outcome::Rejected { http_status, .. } => Outcome::Rejected {
            http_status,
            code: None,
            message: hidden(),
        },
        Outcome::Stop {
            http_status, reason, ..
        } => Outcome::Stop {
            http_status,
            code: format!("HTTP {http_status}"),
            message: hidden(),
            reason,
        },
        Outcome::Retry {
            http_status,
            retry_after,
            ..
        } => Outcome::Retry {
            http_status,
            code: None,
            message: hidden(),
            retry_after,
        },
        Outcome::Ambiguous { http_status, .. } => Outcome::Ambiguous {
            http_status,
            code: None,
            message: hidden(),
        },
        Outcome::Later { http_status, code, .. } => Outcome::Later {
            http_status,
            code,
            message: hidden(),
        },
    }
}
