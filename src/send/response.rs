//! What a provider answer means for a row and for the campaign (provider page, "Responses").
//!
//! | HTTP | code | outcome |
//! |---|---|---|
//! | 202 | `WA202` | accepted; keep `data.message_id` |
//! | 400 | `WA400` | the row fails; the campaign goes on |
//! | 401 | `RBC001`, `WA401`, `WA-401` | the campaign stops: credentials, number or account |
//! | 400 | `E110` | the campaign stops: low balance |
//! | 429, 503 | | retried with backoff, honouring `Retry-After`: the server says it did not act |
//! | 500 | `WA500` | left retryable for a later run: the provider advises retries minutes apart |
//! | 400 | `WAV2101` | the campaign stops: the account's daily limit |
//! | 502, 504, other 5xx | | *ambiguous*: a gateway or an unknown layer failed, the provider may have the message |
//! | any but an acceptance | Meta's template codes | as [`crate::report::codes`] says: the row fails (`132000`, ...) or the campaign stops (`132015`, ...) |
//!
//! Where Meta's code sits in the provider's answer is not documented: it is read as the
//! provider's own `code` (`{"code": "132015", "message": …}`) and inside Meta's error object as
//! the provider may pass it on (`{"error": {"code": 132015, "message": …, "error_data":
//! {"details": …}}}`), and its detail is kept for the report.
//!
//! A dropped connection or a timeout after the request was written is ambiguous too (see
//! [`super::transport_failure`]): the API has no idempotency key, so sending again could give a
//! person the message twice. Ambiguous rows become `unknown` unless `--retry-ambiguous`.

use std::time::Duration;

use serde_json::Value;

use crate::report::codes::{self, AtSend, MetaCode};

/// Why a campaign must stop at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// `RBC001` (or a 401/403 without a known code): the SID or the API key is wrong.
    Credentials,
    /// `WA401`: the business number is not on this account.
    Number,
    /// `WA-401`: the account may not use this API, or the number is on another API version.
    Account,
    /// A redirect or 404/405 without the provider's code: the URL is wrong (region, base URL).
    Endpoint,
    /// `E110`: the account's balance is too low.
    Balance,
    /// A code in the table of Meta's codes that fails every later row alike (a template paused,
    /// a Flow blocked, the provider's `WAV2101` daily limit): its words are the report's.
    Meta(&'static MetaCode),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Accepted {
        http_status: u16,
        code: Option<String>,
        message_id: Option<String>,
        /// Why `message_id` is missing though the provider sent one.
        note: Option<String>,
    },
    /// The provider refused this message; sending it again would not help.
    Rejected {
        http_status: u16,
        code: Option<String>,
        message: String,
    },
    /// The campaign must stop; this row was not sent and stays pending.
    Stop {
        http_status: u16,
        code: String,
        message: String,
        reason: StopReason,
    },
    /// Worth another attempt: nothing reached the provider (no connection), or it said it
    /// did not act (429, 503, `WA500`).
    Retry {
        http_status: Option<u16>,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The provider failed and asks to be tried again minutes later (`WA500`): the row stays
    /// retryable for a later run.
    Later {
        http_status: u16,
        code: String,
        message: String,
    },
    /// The request may have reached the provider and been acted on: a connection dropped or
    /// timed out after the request was written, a gateway error. Sending again may duplicate.
    Ambiguous {
        http_status: Option<u16>,
        code: Option<String>,
        message: String,
    },
}

impl Outcome {
    pub(crate) fn http_status(&self) -> Option<u16> {
        match self {
            Outcome::Accepted { http_status, .. }
            | Outcome::Rejected { http_status, .. }
            | Outcome::Stop { http_status, .. }
            | Outcome::Later { http_status, .. } => Some(*http_status),
            Outcome::Retry { http_status, .. } | Outcome::Ambiguous { http_status, .. } => *http_status,
        }
    }

    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Outcome::Accepted { code, .. }
            | Outcome::Rejected { code, .. }
            | Outcome::Retry { code, .. }
            | Outcome::Ambiguous { code, .. } => code.as_deref(),
            Outcome::Stop { code, .. } | Outcome::Later { code, .. } => Some(code),
        }
    }
}

/// The most of an unexpected body that is kept: enough to diagnose, never a whole HTML page.
const BODY_EXCERPT: usize = 300;

/// Classifies an HTTP answer. `body` has already had secrets removed.
pub(crate) fn classify(http_status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let code = json
        .as_ref()
        .and_then(|json| json.get("code"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message = json
        .as_ref()
        .and_then(|json| json.get("message"))
        .and_then(Value::as_str)
        .map_or_else(
            || excerpt(body),
            |message| with_details(message, json.as_ref().and_then(|json| json.get("error"))),
        );
    let retry_after = retry_after.and_then(parse_retry_after);
    let message_id = json
        .as_ref()
        .and_then(|json| json.pointer("/data/message_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let accepted = (200..=299).contains(&http_status) && (code.as_deref() == Some("WA202") || message_id.is_some());
    if !accepted {
        if let Some(outcome) = json.as_ref().and_then(|json| meta_answer(http_status, json, &message)) {
            return outcome;
        }
    }
    match (http_status, code.as_deref()) {
        (_, Some(known @ ("RBC001" | "WA401" | "WA-401"))) => Outcome::Stop {
            http_status,
            reason: match known {
                "WA401" => StopReason::Number,
                "WA-401" => StopReason::Account,
                _ => StopReason::Credentials,
            },
            code: code.unwrap_or_default(),
            message,
        },
        // The provider asks for retries minutes apart (5, 10, 15), not a tight loop: the row
        // stays retryable for a later run.
        (_, Some("WA500")) => Outcome::Later {
            http_status,
            code: code.unwrap_or_default(),
            message,
        },
        (_, Some("E110")) => Outcome::Stop {
            http_status,
            code: code.unwrap_or_default(),
            message,
            reason: StopReason::Balance,
        },
        (200..=299, _) => {
            if accepted {
                Outcome::Accepted {
                    http_status,
                    message_id,
                    code,
                    note: None,
                }
            } else {
                // A captive portal, a proxy's login page or a wrong --base-url answers 2xx too:
                // what was done with the message is not known.
                Outcome::Ambiguous {
                    http_status: Some(http_status),
                    code,
                    message: format!(
                        "HTTP {http_status} without the provider's WA202 or a message id (a proxy, a captive portal or a wrong --base-url?): {}",
                        excerpt(body)
                    ),
                }
            }
        }
        (408 | 425 | 429 | 503, _) => Outcome::Retry {
            http_status: Some(http_status),
            code,
            message,
            retry_after,
        },
        (500..=599, _) => Outcome::Ambiguous {
            http_status: Some(http_status),
            code,
            message,
        },
        // A redirect or a missing endpoint without the provider's code is the address, not the
        // message: every row would get the same answer, so the campaign stops, rows pending.
        (300..=399 | 404 | 405, None) => Outcome::Stop {
            http_status,
            code: format!("HTTP {http_status}"),
            message: format!("the endpoint answered {http_status}: {message}"),
            reason: StopReason::Endpoint,
        },
        // A 401 without a known code is still a credentials problem: every row would get it.
        (401 | 403, _) => Outcome::Stop {
            http_status,
            code: code.unwrap_or_else(|| format!("HTTP {http_status}")),
            message,
            reason: StopReason::Credentials,
        },
        _ => Outcome::Rejected {
            http_status,
            code,
            message: if json.is_some() {
                message
            } else {
                format!("unexpected answer: {}", excerpt(body))
            },
        },
    }
}

/// An answer carrying a code of the table of Meta's codes that `flowc send` acts on (see
/// [`codes`]; the provider's `WAV2101` is there too): the row fails, or the campaign stops, with
/// Meta's detail.
fn meta_answer(http_status: u16, json: &Value, message: &str) -> Option<Outcome> {
    let nested = json.get("error").filter(|error| error.get("code").is_some());
    let known = [json.get("code"), nested.and_then(|error| error.get("code"))]
        .into_iter()
        .flatten()
        .find_map(|code| match code {
            Value::String(text) => codes::explain(text),
            Value::Number(number) => codes::explain(&number.to_string()),
            _ => None,
        })?;
    // Meta's own error object says more than the provider's envelope: its title and detail.
    let message = match nested {
        Some(error) => {
            let text = |pointer: &str| {
                error
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|text| !text.is_empty())
            };
            let title = text("/message").or_else(|| text("/title"));
            match (title, text("/error_data/details")) {
                (Some(title), Some(details)) if title != details => excerpt(&format!("{title}: {details}")),
                (_, Some(text)) | (Some(text), None) => excerpt(text),
                (None, None) => message.to_owned(),
            }
        }
        None => message.to_owned(),
    };
    let code = known.code.to_owned();
    Some(match known.at_send {
        AtSend::Callback => return None,
        AtSend::FailsTheRow => Outcome::Rejected {
            http_status,
            code: Some(code),
            message,
        },
        AtSend::StopsTheCampaign | AtSend::StopsFor { .. } => Outcome::Stop {
            http_status,
            code,
            message,
            reason: StopReason::Meta(known),
        },
    })
}

/// The provider's `message` with what its `error` object adds (`{"to": "Invalid recipient"}`
/// says which field a `WA400` is about), shortened.
fn with_details(message: &str, error: Option<&Value>) -> String {
    let Some(Value::Object(fields)) = error else {
        return message.to_owned();
    };
    let details: Vec<String> = fields
        .iter()
        .filter_map(|(field, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Null => return None,
                other => other.to_string(),
            };
            (text.trim() != message.trim() && !text.trim().is_empty()).then(|| format!("{field}: {text}"))
        })
        .collect();
    if details.is_empty() {
        message.to_owned()
    } else {
        excerpt(&format!("{message} ({})", details.join("; ")))
    }
}

/// `Retry-After` is either seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_answers() {
        let accepted = classify(
            202,
            None,
            r#"{"code":"WA202","message":"Request Accepted","data":{"message_id":"A1"},"error":{}}"#,
        );
        assert!(matches!(accepted, Outcome::Accepted { ref message_id, .. } if message_id.as_deref() == Some("A1")));
        let bad = classify(
            400,
            None,
            r#"{"code":"WA400","message":"Refer to correct payload format"}"#,
        );
        assert!(matches!(bad, Outcome::Rejected { .. }));
        let detailed = classify(
            400,
            None,
            r#"{"code":"WA400","message":"Refer to correct payload format","data":{},"error":{"to":"Invalid recipient"}}"#,
        );
        assert!(
            matches!(&detailed, Outcome::Rejected { message, .. } if message == "Refer to correct payload format (to: Invalid recipient)"),
            "{detailed:?}"
        );
        let same = classify(
            400,
            None,
            r#"{"code":"E110","message":"low","error":{"balance":"low"}}"#,
        );
        assert!(
            matches!(&same, Outcome::Stop { message, .. } if message == "low"),
            "{same:?}"
        );
        for (code, reason) in [
            ("RBC001", StopReason::Credentials),
            ("WA401", StopReason::Number),
            ("WA-401", StopReason::Account),
        ] {
            let stop = classify(401, None, &format!(r#"{{"code":"{code}","message":"x"}}"#));
            assert!(matches!(stop, Outcome::Stop { reason: r, .. } if r == reason), "{code}");
        }
        let balance = classify(400, None, r#"{"code":"E110","message":"low balance"}"#);
        assert!(matches!(
            balance,
            Outcome::Stop {
                reason: StopReason::Balance,
                ..
            }
        ));
        let later = classify(500, None, r#"{"code":"WA500","message":"Please try again later"}"#);
        assert!(matches!(later, Outcome::Later { .. }));
        let daily = classify(400, None, r#"{"code":"WAV2101","message":"limit"}"#);
        assert!(matches!(
            daily,
            Outcome::Stop {
                reason: StopReason::Meta(MetaCode { code: "WAV2101", .. }),
                ..
            }
        ));
    }

    /// Meta's code read alike as the provider's own `code` and inside Meta's error object, with
    /// Meta's detail kept.
    #[test]
    fn template_codes_stop_the_campaign_or_fail_the_row_in_either_shape() {
        let envelope = |code: &str| {
            format!(r#"{{"code":"{code}","message":"Meta says no","data":{{}},"error":{{"error":"the detail"}}}}"#)
        };
        let nested = |code: &str| {
            format!(
                r#"{{"code":"WA400","message":"Bad request","error":{{"message":"(#{code}) Meta says no","type":"OAuthException","code":{code},"error_data":{{"messaging_product":"whatsapp","details":"the detail"}},"fbtrace_id":"A1"}}}}"#
            )
        };
        for body in [envelope, nested] {
            for code in ["132001", "132015", "132016", "132068", "132069"] {
                let outcome = classify(400, None, &body(code));
                assert!(
                    matches!(&outcome, Outcome::Stop { reason: StopReason::Meta(known), code: said, message, .. }
                        if known.code == code && said == code && message.contains("the detail")),
                    "{code}: {outcome:?}"
                );
            }
            for code in ["132000", "132005", "132012", "131008", "131009"] {
                let outcome = classify(400, None, &body(code));
                assert!(
                    matches!(&outcome, Outcome::Rejected { code: Some(said), message, .. }
                        if said == code && message.contains("the detail")),
                    "{code}: {outcome:?}"
                );
            }
        }
        let raw = classify(
            400,
            None,
            r#"{"error":{"message":"(#132000) Number of parameters does not match the expected number of params","code":132000,"error_data":{"details":"body: number of localizable_params (2) does not match the expected number of params (1)"}}}"#,
        );
        assert_eq!(
            raw,
            Outcome::Rejected {
                http_status: 400,
                code: Some("132000".to_owned()),
                message: "(#132000) Number of parameters does not match the expected number of params: body: number of localizable_params (2) does not match the expected number of params (1)".to_owned(),
            }
        );
        // A code Meta sends only in callbacks, or none it documents, is read as before.
        assert!(matches!(
            classify(400, None, r#"{"code":"131047","message":"x"}"#),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            classify(401, None, r#"{"error":{"code":190,"message":"token"}}"#),
            Outcome::Stop {
                reason: StopReason::Credentials,
                ..
            }
        ));
    }

    #[test]
    fn only_the_providers_acceptance_counts_as_accepted() {
        assert!(matches!(
            classify(200, None, "<html>Proxy login required</html>"),
            Outcome::Ambiguous { .. }
        ));
        assert!(matches!(classify(204, None, ""), Outcome::Ambiguous { .. }));
        assert!(matches!(
            classify(202, None, r#"{"data":{"message_id":"A"}}"#),
            Outcome::Accepted { .. }
        ));
        assert!(matches!(
            classify(301, None, "moved"),
            Outcome::Stop {
                reason: StopReason::Endpoint,
                ..
            }
        ));
        assert!(matches!(
            classify(404, None, "Not Found"),
            Outcome::Stop {
                reason: StopReason::Endpoint,
                ..
            }
        ));
        assert!(matches!(classify(408, None, ""), Outcome::Retry { .. }));
    }

    #[test]
    fn gateway_errors_are_ambiguous_and_documented_busy_answers_retryable() {
        for status in [500, 502, 504, 599] {
            assert!(
                matches!(
                    classify(status, None, "<html>bad gateway</html>"),
                    Outcome::Ambiguous { .. }
                ),
                "{status}"
            );
        }
        for status in [429, 503] {
            assert!(matches!(classify(status, None, ""), Outcome::Retry { .. }), "{status}");
        }
    }

    #[test]
    fn capacity_and_retry_after() {
        let busy = classify(429, Some("2"), "");
        assert!(matches!(busy, Outcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(2)));
        let unavailable = classify(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "<html>down</html>");
        assert!(matches!(unavailable, Outcome::Retry { retry_after: Some(d), .. } if d == Duration::ZERO));
    }

    #[test]
    fn unexpected_answers_are_reported_verbatim_and_short() {
        let odd = classify(410, None, &"<html>nope</html>".repeat(100));
        match odd {
            Outcome::Rejected { message, .. } => {
                assert!(message.starts_with("unexpected answer: <html>nope</html>"));
                assert!(message.chars().count() < 340);
            }
            other => panic!("{other:?}"),
        }
    }
}
