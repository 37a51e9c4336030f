//! Why and how a campaign stops before its end: the first cause wins, and every task sees it.

use std::sync::Arc;

use tokio::sync::watch;

use crate::data::DataError;
use crate::report::codes::AtSend;
use crate::send::hours::SendingHours;
use crate::send::journal::JournalError;
use crate::send::response::StopReason;
use crate::send::watch::EventsError;
use crate::signal::Signal;

/// Why a campaign stopped before its end.
#[derive(Debug, Clone)]
pub(crate) enum StopCause {
    Interrupted(Signal),
    /// The provider refused the account, the balance, the template or its Flow: every further
    /// row would fail alike.
    Refused {
        reason: StopReason,
        code: String,
        message: String,
        /// The template the refused message named (`spring_booking` in `en_US`), when the
        /// refusal is about it.
        template: Option<TemplateName>,
        /// When the rows may be sent, for a refusal that passes (Meta's Flow throttle), as the
        /// person reads it: `2026-12-07 15:05 Asia/Kolkata (in about 1h 00m)`.
        resume_after: Option<String>,
    },
    /// A bug: a sending task or the row producer panicked. Its row, if it was in flight, is
    /// `unknown`; the others are as recorded.
    Internal(String),
    /// The journal could not record a row: nothing more is sent unrecorded.
    Journal(Arc<JournalError>),
    /// Outside the `--window` with `--exit-outside-window`: when it opens.
    OutsideWindow(String),
    /// Meta's spam rate limit (131048) came back in the event store.
    SpamLimit,
    /// Undeliverable (131026) or outside-the-window (131047) failures above `--max-failure-rate`.
    FailureBurst {
        percent: u32,
    },
    /// A row read for sending is not the one the pre-flight checked: the data file changed.
    DataChanged {
        row: u64,
    },
    /// The data file could not be read for sending after its pre-flight.
    Data(DataError),
    /// The event store (`--events`) could not be read right before a request.
    Events(Arc<EventsError>),
    /// A second signal ended the run at once, without waiting for the requests in flight.
    Quit(Signal),
}

/// A template message's template as the request named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateName {
    pub(crate) name: String,
    pub(crate) language: String,
}

impl StopCause {
    /// The provider refused `body` in a way every later row would meet: the template the body
    /// names, and when the rows may go (now + the wait Meta's code calls for, in the zone of
    /// `hours` or the machine's), come with it.
    pub(crate) fn refused(
        reason: StopReason,
        (code, message): (&str, &str),
        body: &[u8],
        hours: Option<&SendingHours>,
    ) -> StopCause {
        let (template, resume_after) = match reason {
            StopReason::Meta(known) => (
                template_name(body),
                match known.at_send {
                    AtSend::StopsFor { seconds } => {
                        let now = jiff::Timestamp::now();
                        let wait = jiff::SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX));
                        now.checked_add(wait)
                            .ok()
                            .map(|at| super::hours::describe_moment(at, hours, now))
                    }
                    _ => None,
                },
            ),
            _ => (None, None),
        };
        StopCause::Refused {
            reason,
            code: code.to_owned(),
            message: message.to_owned(),
            template,
            resume_after,
        }
    }
}

/// The template a template message names (`messaging_object.template`), if it is one.
fn template_name(body: &[u8]) -> Option<TemplateName> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let template = body.pointer("/messaging_object/template")?;
    let text = |pointer: &str| {
        template
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Some(TemplateName {
        name: text("/name")?,
        language: text("/language/code").unwrap_or_default(),
    })
}

/// Shared by every task: set once, seen by all.
#[derive(Clone)]
pub(crate) struct StopSignal {
    sender: Arc<watch::Sender<Option<StopCause>>>,
    /// A second signal: the run ends at once, without waiting for the requests in flight.
    quit: Arc<watch::Sender<Option<Signal>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            sender: Arc::new(watch::channel(None).0),
            quit: Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    /// Asks every task to stop; the first cause given is kept.
    pub(crate) fn request(&self, cause: StopCause) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(cause);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn cause(&self) -> Option<StopCause> {
        self.sender.borrow().clone()
    }

    pub(crate) fn is_set(&self) -> bool {
        self.sender.borrow().is_some()
    }

    /// Ends the run at once (a second Ctrl-C or SIGTERM): the requests in flight are dropped, and
    /// their rows, recorded as on their way, are `unknown` on the next run.
    pub(crate) fn quit(&self, signal: Signal) {
        self.quit.send_if_modified(|current| {
            let first = current.is_none();
            current.get_or_insert(signal);
            first
        });
    }

    /// The signal that ended the run at once, if one did.
    pub(crate) fn quit_by(&self) -> Option<Signal> {
        *self.quit.borrow()
    }

    /// Waits for [`StopSignal::quit`].
    pub(crate) async fn quitting(&self) {
        let mut receiver = self.quit.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }

    pub(crate) async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so this only ends when a cause is set.
        let _ = receiver.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn stop_keeps_the_first_cause() {
        let stop = StopSignal::default();
        assert!(!stop.is_set());
        stop.request(StopCause::Interrupted(Signal::Terminate));
        stop.request(StopCause::SpamLimit);
        assert!(matches!(stop.cause(), Some(StopCause::Interrupted(Signal::Terminate))));
    }

    #[test]
    fn a_template_refusal_names_the_template_and_a_throttle_when_to_resume() {
        let body = br#"{"messaging_object":{"type":"template","template":{"name":"spring_booking","language":{"code":"en_US"}}}}"#;
        let paused = crate::report::codes::explain("132015").expect("known");
        let StopCause::Refused {
            template, resume_after, ..
        } = StopCause::refused(StopReason::Meta(paused), ("132015", "paused"), body, None)
        else {
            panic!("a refusal")
        };
        let expected = TemplateName {
            name: "spring_booking".to_owned(),
            language: "en_US".to_owned(),
        };
        assert_eq!(template.as_ref(), Some(&expected));
        assert_eq!(resume_after, None);
        let throttled = crate::report::codes::explain("132069").expect("known");
        let hours = SendingHours::parse("00:00-24:00", Some("Asia/Kolkata")).expect("hours");
        let in_an_hour = |now: jiff::Timestamp| {
            (now + jiff::SignedDuration::from_hours(1))
                .to_zoned(jiff::tz::TimeZone::get("Asia/Kolkata").expect("zone"))
                .strftime("%Y-%m-%d %H:%M Asia/Kolkata")
                .to_string()
        };
        let before = in_an_hour(jiff::Timestamp::now());
        let StopCause::Refused { resume_after, .. } = StopCause::refused(
            StopReason::Meta(throttled),
            ("132069", "throttled"),
            br#"{"messaging_object":{}}"#,
            Some(&hours),
        ) else {
            panic!("a refusal")
        };
        let after = in_an_hour(jiff::Timestamp::now());
        let said = resume_after.expect("a time");
        assert!(said.starts_with(&before) || said.starts_with(&after), "{said}");
        assert!(said.ends_with("(in about 1h 00m)"), "{said}");
        let StopCause::Refused { template, .. } = StopCause::refused(StopReason::Balance, ("E110", "low"), body, None)
        else {
            panic!("a refusal")
        };
        assert_eq!(template, None);
    }
}
