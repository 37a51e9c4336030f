//! The funnel: how many messages got how far, and why the others failed, in one line.
//!
//! `10,000 accepted → 9,120 sent → 8,700 delivered → 5,100 read → 1,240 completed the Flow;
//! 880 failed (131047 outside the 24-hour window: 700, 131026 undeliverable: 180)`
//!
//! Each count holds the rows that got at least that far: a `read` message was delivered and
//! sent, even when Meta skipped its `delivered`. A row whose Flow was completed counts as read
//! (its person opened it, whatever read receipts said: people can turn them off). A row whose
//! send answer was lost (`unknown` in the journal) but whose callbacks came was sent after all,
//! and is counted with the accepted ones.

use std::fmt;

use super::codes;
use super::reconcile::{Delivery, EventCounts, Stage};
use crate::send::journal::RowStatus;
use crate::template::MessageKind;
use crate::words::{about_duration, count, plural, printable, thousands};

/// Failed rows with one code (or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureCount {
    pub(crate) code: Option<String>,
    /// The code's meaning in a few words (see [`codes`]), else the callback's own title.
    pub(crate) words: Option<String>,
    pub(crate) rows: u64,
}

impl fmt::Display for FailureCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = self.code.as_deref().and_then(codes::explain).is_some();
        // A callback's code and title reach the terminal: shown, never acted on.
        let code = self.code.as_deref().map(printable);
        let words = self.words.as_deref().map(printable);
        match (&code, &words) {
            (Some(code), Some(words)) if known => write!(f, "{code} {words}")?,
            (Some(code), Some(words)) => write!(f, "{code} ({words})")?,
            (Some(code), None) => f.write_str(code)?,
            (None, Some(words)) => write!(f, "no code ({words})")?,
            (None, None) => f.write_str("no code")?,
        }
        write!(f, ": {}", thousands(self.rows))
    }
}

/// The messages of one pricing category (`marketing`, `utility`…), counted once each whatever
/// number of their statuses carried the pricing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PricingCount {
    /// As the statuses named it; `None` when they named none.
    pub(crate) category: Option<String>,
    pub(crate) billable: u64,
    pub(crate) not_billable: u64,
}

impl PricingCount {
    /// The category as the report writes it.
    pub(crate) fn name(&self) -> &str {
        self.category.as_deref().unwrap_or("no category")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Funnel {
    pub(crate) accepted: u64,
    /// Of the accepted, rows `unknown` at sending that callbacks showed were sent.
    pub(crate) found_sent: u64,
    pub(crate) sent: u64,
    pub(crate) delivered: u64,
    pub(crate) read: u64,
    pub(crate) completed: u64,
    /// Flow completions in all (a person may complete a Flow twice).
    pub(crate) completions: u64,
    pub(crate) failed: u64,
    /// By count, the largest first.
    pub(crate) failures: Vec<FailureCount>,
    /// The provider never passed them to Meta.
    pub(crate) not_sent: u64,
    /// The rows not sent by the provider, by code, as [`Funnel::failures`].
    pub(crate) not_sent_failures: Vec<FailureCount>,
    /// Accepted, and no callback yet.
    pub(crate) unheard: u64,
    pub(crate) opted_out: u64,
    pub(crate) events: EventCounts,
    /// Names of statuses that are not stages, with their counts.
    pub(crate) other_statuses: Vec<(String, u64)>,
    /// The first and the last request of the campaign that left (Unix seconds), as the
    /// journal says; `None` for a journal older than that record, or nothing sent.
    pub(crate) sent_span: Option<(i64, i64)>,
    /// Rows matched by at least one callback (status or reply).
    pub(crate) heard: u64,
    /// What Meta charges, by pricing category, the most billable messages first; empty when no
    /// status carried pricing.
    pub(crate) pricing: Vec<PricingCount>,
}

/// After this long without a callback matching any row, the receiving end is suspect.
pub(crate) const SILENCE: i64 = 120;

/// Counts a failed (or not sent) row under its code.
fn count_failure(failures: &mut Vec<FailureCount>, delivery: &Delivery, state: &super::reconcile::RowDelivery) {
    let failure = delivery.failure(state);
    let code = failure.and_then(|failure| failure.code.clone());
    match failures.iter_mut().find(|counted| counted.code == code) {
        Some(counted) => counted.rows += 1,
        None => failures.push(FailureCount {
            words: match code.as_deref().and_then(codes::explain) {
                Some(known) => Some(known.short.to_owned()),
                None => failure.and_then(|failure| failure.text.clone()),
            },
            code,
            rows: 1,
        }),
    }
}

impl Funnel {
    pub(crate) fn of(delivery: &Delivery) -> Funnel {
        Funnel::of_rows(delivery, |_| true)
    }

    /// The funnel of each message a campaign sent (`--outside-window`: the Flow message and
    /// the template), when its rows got more than one; empty otherwise.
    pub(crate) fn per_message(delivery: &Delivery) -> Vec<(MessageKind, Funnel)> {
        let (mut flow, mut template) = (false, false);
        for state in delivery.states() {
            match state.message() {
                Some(MessageKind::Flow) => flow = true,
                Some(MessageKind::Template) => template = true,
                None => {}
            }
        }
        if !(flow && template) {
            return Vec::new();
        }
        [MessageKind::Flow, MessageKind::Template]
            .into_iter()
            .map(|kind| (kind, Funnel::of_rows(delivery, |state| state.message() == Some(kind))))
            .collect()
    }

    fn of_rows(delivery: &Delivery, include: impl Fn(&super::reconcile::RowDelivery) -> bool) -> Funnel {
        let mut funnel = Funnel {
            events: delivery.events,
            other_statuses: delivery.other_statuses.clone(),
            ..Funnel::default()
        };
        let mut failures: Vec<FailureCount> = Vec::new();
        let mut not_sent: Vec<FailureCount> = Vec::new();
        for state in delivery.states().filter(|state| include(state)) {
            if state.sent_at != super::reconcile::NEVER {
                let (first, last) = funnel.sent_span.get_or_insert((state.sent_at, state.sent_at));
                *first = (*first).min(state.sent_at);
                *last = (*last).max(state.sent_at);
            }
            if state.heard() {
                funnel.heard += 1;
            }
            if let Some(billable) = state.billable() {
                let category = delivery.category(state);
                let index = funnel
                    .pricing
                    .iter()
                    .position(|counted| counted.category.as_deref() == category)
                    .unwrap_or_else(|| {
                        funnel.pricing.push(PricingCount {
                            category: category.map(str::to_owned),
                            ..PricingCount::default()
                        });
                        funnel.pricing.len() - 1
                    });
                let counted = &mut funnel.pricing[index];
                if billable {
                    counted.billable += 1;
                } else {
                    counted.not_billable += 1;
                }
            }
            let accepted = state.sending == RowStatus::Accepted;
            if !accepted && !state.heard() {
                continue;
            }
            funnel.accepted += 1;
            if !accepted {
                funnel.found_sent += 1;
            }
            if state.opted_out() {
                funnel.opted_out += 1;
            }
            let replied = state.completions > 0;
            if replied {
                funnel.completed += 1;
                funnel.completions += u64::from(state.completions);
            }
            let stage = match state.stage {
                Stage::Failed => Stage::Failed,
                stage if replied => stage.max(Stage::Read),
                stage => stage,
            };
            match stage {
                Stage::Unheard => funnel.unheard += 1,
                Stage::NotSent => {
                    funnel.not_sent += 1;
                    count_failure(&mut not_sent, delivery, state);
                }
                Stage::Sent | Stage::Delivered | Stage::Read => {
                    funnel.sent += 1;
                    funnel.delivered += u64::from(stage >= Stage::Delivered);
                    funnel.read += u64::from(stage == Stage::Read);
                }
                Stage::Failed => {
                    funnel.failed += 1;
                    count_failure(&mut failures, delivery, state);
                }
            }
        }
        for list in [&mut failures, &mut not_sent] {
            list.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.code.cmp(&b.code)));
        }
        funnel.failures = failures;
        funnel.not_sent_failures = not_sent;
        funnel.pricing.sort_by(|a, b| {
            (b.billable, b.not_billable)
                .cmp(&(a.billable, a.not_billable))
                .then_with(|| a.category.cmp(&b.category))
        });
        funnel
    }

    /// What Meta charges, counted once a message from its statuses' `pricing`: `billable
    /// messages: 8,700 (marketing: 8,690, utility: 10); not billable: 12 (service: 12)`. `None`
    /// when no status carried pricing.
    pub(crate) fn pricing_line(&self) -> Option<String> {
        if self.pricing.is_empty() {
            return None;
        }
        let part = |count: fn(&PricingCount) -> u64| {
            let total: u64 = self.pricing.iter().map(count).sum();
            let each: Vec<String> = self
                .pricing
                .iter()
                .filter(|counted| count(counted) > 0)
                .map(|counted| format!("{}: {}", printable(counted.name()), thousands(count(counted))))
                .collect();
            (total, each.join(", "))
        };
        let (billable, categories) = part(|counted| counted.billable);
        let mut line = if billable > 0 {
            format!("billable messages: {} ({categories})", thousands(billable))
        } else {
            "billable messages: 0".to_owned()
        };
        let (free, categories) = part(|counted| counted.not_billable);
        if free > 0 {
            line.push_str(&format!("; not billable: {} ({categories})", thousands(free)));
        }
        Some(line)
    }

    /// When messages left minutes ago and no callback matched any row: what to check, since
    /// a receiver that is down, unreachable or refusing the provider looks exactly like this.
    pub(crate) fn silence(&self, now: i64) -> Option<String> {
        let (first, _) = self.sent_span?;
        let waited = now.saturating_sub(first);
        if self.heard > 0 || self.accepted == 0 || waited < SILENCE {
            return None;
        }
        let seen = if self.events.statuses + self.events.replies == 0 {
            "the store holds no status or reply at all".to_owned()
        } else {
            format!(
                "the store's {} and {} are all about other messages",
                count(self.events.statuses, "status", "statuses"),
                count(self.events.replies, "Flow reply", "Flow replies")
            )
        };
        Some(format!(
            "no callback has matched any row of this campaign, though its first message left {} ago ({seen}): check that `flowc receive` is running, that it is reachable at the callback URL set in the provider's callback profile, and that the profile sends the token (or user and password) `flowc receive` was started with; its minute lines count what it refused",
            about_duration(u64::try_from(waited).unwrap_or(0)).trim_start_matches("about ")
        ))
    }

    /// What the events were and how many matched nothing, when anything did not: `400,000
    /// statuses, 1,240 Flow replies and 3 opt-outs read; 12 statuses matched no row of this
    /// campaign (they stay in the store)`.
    pub(crate) fn events_line(&self) -> String {
        let events = &self.events;
        let mut line = format!(
            "events: {}, {} and {} read",
            count(events.statuses, "status", "statuses"),
            count(events.replies, "Flow reply", "Flow replies"),
            count(events.opt_outs, "opt-out", "opt-outs")
        );
        let mut unmatched = Vec::new();
        if events.unmatched_statuses > 0 {
            unmatched.push(count(events.unmatched_statuses, "status", "statuses"));
        }
        if events.unmatched_replies > 0 {
            unmatched.push(count(events.unmatched_replies, "Flow reply", "Flow replies"));
        }
        if events.unmatched_opt_outs > 0 {
            unmatched.push(count(events.unmatched_opt_outs, "opt-out", "opt-outs"));
        }
        if !unmatched.is_empty() {
            let total = events.unmatched_statuses + events.unmatched_replies + events.unmatched_opt_outs;
            line.push_str(&format!(
                "; {} matched no row of this campaign (another campaign's, or sent another way; {} in the store)",
                unmatched.join(", "),
                plural(total, "it stays", "they stay")
            ));
        }
        if events.replies_before_send > 0 {
            line.push_str(&format!(
                "; {} carried a row's flow_token or answered its message but {} dated before the row was sent: another campaign's, not counted",
                count(events.replies_before_send, "Flow reply", "Flow replies"),
                plural(events.replies_before_send, "is", "are")
            ));
        }
        if events.ambiguous_replies > 0 {
            line.push_str(&format!(
                "; {} ambiguous: matched by a flow_token that another campaign's replies carry too, so {} may be that campaign's (give each campaign its own flow_token: put the campaign in it, as --track puts it in its key, e.g. `flow_token: \"spring-{{{{ref}}}}\"`)",
                count(events.ambiguous_replies, "Flow completion", "Flow completions"),
                plural(events.ambiguous_replies, "it", "they")
            ));
        }
        if events.other_statuses > 0 {
            let names: Vec<String> = self
                .other_statuses
                .iter()
                .map(|(name, count)| format!("`{name}`: {}", thousands(*count)))
                .collect();
            line.push_str(&format!(
                "; {} of this campaign's rows {} not a stage flowc knows ({}): counted here, the rows' stages left as they were",
                count(events.other_statuses, "status", "statuses"),
                plural(events.other_statuses, "is", "are"),
                names.join(", ")
            ));
        }
        line
    }
}

impl fmt::Display for Funnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} accepted → {} sent → {} delivered → {} read → {} completed the Flow",
            thousands(self.accepted),
            thousands(self.sent),
            thousands(self.delivered),
            thousands(self.read),
            thousands(self.completed)
        )?;
        if self.failed > 0 {
            let failures: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
            write!(f, "; {} failed ({})", thousands(self.failed), failures.join(", "))?;
        }
        if self.not_sent > 0 {
            let codes: Vec<String> = self.not_sent_failures.iter().map(ToString::to_string).collect();
            write!(
                f,
                "; {} not sent by the provider ({})",
                thousands(self.not_sent),
                codes.join(", ")
            )?;
        }
        if self.unheard > 0 {
            write!(f, "; {} with no status yet", thousands(self.unheard))?;
        }
        if self.opted_out > 0 {
            write!(f, "; {} asked to stop", thousands(self.opted_out))?;
        }
        if self.found_sent > 0 {
            write!(
                f,
                " ({} of the accepted had no answer when sent, but their callbacks came)",
                thousands(self.found_sent)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_the_funnel_reads_as_the_issue_wrote_it() {
        let funnel = Funnel {
            accepted: 10_000,
            sent: 9_120,
            delivered: 8_700,
            read: 5_100,
            completed: 1_240,
            failed: 880,
            failures: vec![
                FailureCount {
                    code: Some("131047".to_owned()),
                    words: Some("outside the 24-hour window".to_owned()),
                    rows: 700,
                },
                FailureCount {
                    code: Some("131026".to_owned()),
                    words: Some("undeliverable".to_owned()),
                    rows: 180,
                },
            ],
            ..Funnel::default()
        };
        assert_eq!(
            funnel.to_string(),
            "10,000 accepted → 9,120 sent → 8,700 delivered → 5,100 read → 1,240 completed the Flow; 880 failed (131047 outside the 24-hour window: 700, 131026 undeliverable: 180)"
        );
    }

    #[test]
    fn report_codes_meta_does_not_document_keep_the_callbacks_title() {
        let unknown = FailureCount {
            code: Some("131000".to_owned()),
            words: Some("Something went wrong".to_owned()),
            rows: 5,
        };
        assert_eq!(unknown.to_string(), "131000 (Something went wrong): 5");
        let bare = FailureCount {
            code: None,
            words: None,
            rows: 1,
        };
        assert_eq!(bare.to_string(), "no code: 1");
    }

    #[test]
    fn report_what_it_cost_reads_in_one_line_by_category() {
        let count = |category: Option<&str>, billable, not_billable| PricingCount {
            category: category.map(str::to_owned),
            billable,
            not_billable,
        };
        let funnel = Funnel {
            pricing: vec![
                count(Some("marketing"), 8_690, 0),
                count(Some("utility"), 10, 0),
                count(Some("service"), 0, 12),
            ],
            ..Funnel::default()
        };
        assert_eq!(
            funnel.pricing_line().as_deref(),
            Some("billable messages: 8,700 (marketing: 8,690, utility: 10); not billable: 12 (service: 12)")
        );
        let free = Funnel {
            pricing: vec![count(None, 0, 3)],
            ..Funnel::default()
        };
        assert_eq!(
            free.pricing_line().as_deref(),
            Some("billable messages: 0; not billable: 3 (no category: 3)")
        );
        assert_eq!(Funnel::default().pricing_line(), None);
    }

    #[test]
    fn report_unmatched_events_are_counted_in_words() {
        let funnel = Funnel {
            events: EventCounts {
                statuses: 400_000,
                unmatched_statuses: 12,
                replies: 1_240,
                unmatched_replies: 1,
                opt_outs: 3,
                unmatched_opt_outs: 0,
                ..EventCounts::default()
            },
            ..Funnel::default()
        };
        assert_eq!(
            funnel.events_line(),
            "events: 400,000 statuses, 1,240 Flow replies and 3 opt-outs read; 12 statuses, 1 Flow reply matched no row of this campaign (another campaign's, or sent another way; they stay in the store)"
        );
    }
}
