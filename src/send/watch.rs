//! What a campaign learns from the provider's callbacks while it runs (`send --events STORE`,
//! the store `flowc receive` writes): who opted out (never messaged again, even when the STOP
//! arrives during the run), and Meta's throttles: 130429 (the number's throughput) halves the
//! rate for a minute, 131048 (the spam rate limit) stops the campaign, and a burst of 131026
//! (undeliverable) or 131047 (outside the 24-hour window) above `--max-failure-rate` stops it
//! rather than burn the rest of the list.
//!
//! The store is read through [`crate::events`] (read-only, a rotated store followed); here is
//! what the campaign makes of what it reads.

use std::collections::{HashSet, VecDeque};

pub(crate) use crate::events::{EventFeed, EventsError, Fresh, OptOutReader};

/// How many of the latest status events the failure rate is taken over.
pub(crate) const FAILURE_WINDOW: usize = 200;
/// Fewer statuses than this say nothing about a rate yet.
const FAILURE_MINIMUM: usize = 50;

/// Whether each of the latest statuses was a failure that points at the list (131026,
/// 131047), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    recent: VecDeque<bool>,
}

impl Failures {
    /// Counts the new statuses in; the error codes among them the campaign acts on (a failure's,
    /// a throttle's).
    pub(crate) fn add(&mut self, statuses: &[crate::events::NewStatus]) -> Vec<String> {
        let mut codes = Vec::new();
        for status in statuses {
            if self.recent.len() == FAILURE_WINDOW {
                self.recent.pop_front();
            }
            self.recent
                .push_back(status.failed && matches!(status.code.as_str(), "131026" | "131047"));
            if status.failed || matches!(status.code.as_str(), "130429" | "131048") {
                codes.push(status.code.clone());
            }
        }
        codes
    }

    /// The share of list failures (131026, 131047) among the latest statuses, once there are
    /// enough of them to say anything.
    pub(crate) fn rate(&self) -> Option<f64> {
        (self.recent.len() >= FAILURE_MINIMUM)
            .then(|| self.recent.iter().filter(|failed| **failed).count() as f64 / self.recent.len() as f64)
    }
}

/// The numbers that opted out, as the pre-flight needs them.
pub(crate) fn opted_out(feed: &mut EventFeed) -> Result<(HashSet<u64>, Fresh), EventsError> {
    let fresh = feed.poll()?;
    Ok((fresh.opt_outs.iter().copied().collect(), fresh))
}

/// What the sending tasks learn from the store while they run.
#[derive(Debug)]
pub(crate) struct Watch {
    /// Opt-outs are read right before each request, not on the feed's schedule: a STOP
    /// committed before a request leaves is always honoured.
    opt_outs: std::sync::Mutex<(OptOutReader, HashSet<u64>)>,
    slow_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a 130429 (throughput limit) halves the rate.
const SLOW_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the store's statuses are read.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Watch {
    pub(crate) fn new(opt_outs: OptOutReader) -> Watch {
        Watch {
            opt_outs: std::sync::Mutex::new((opt_outs, HashSet::new())),
            slow_until: std::sync::Mutex::new(None),
        }
    }

    /// Whether one of these numbers has opted out, as the store says now: what arrived since
    /// the last look is read first. An error means the store could not be read (the receiver
    /// holds its lock longer than the wait), so nobody can say.
    pub(crate) fn opted_out_now(&self, numbers: &[u64]) -> Result<bool, EventsError> {
        let mut guard = self.opt_outs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (reader, blocked) = &mut *guard;
        blocked.extend(reader.fresh()?);
        Ok(numbers.iter().any(|number| blocked.contains(number)))
    }

    /// Whether a 130429 asked for a slower pace within the last minute.
    pub(crate) fn is_slowed(&self) -> bool {
        self.slow_until
            .lock()
            .is_ok_and(|until| until.is_some_and(|until| std::time::Instant::now() < until))
    }
}

/// Reads the feed's statuses every few seconds until `done` or a stop, and acts on what it
/// finds: 130429 slows the campaign for a minute, 131048 and a burst of list failures stop it.
/// (Opt-outs are read by the sending tasks themselves: see [`Watch::opted_out_now`].)
pub(crate) fn watch(
    mut feed: EventFeed,
    watch: &Watch,
    stop: &super::StopSignal,
    max_failure_rate: f64,
    done: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    let mut failures = Failures::default();
    while !done.load(Ordering::Relaxed) && !stop.is_set() {
        // An error is the receiver holding a write lock for a moment: the next look will do.
        if let Ok(fresh) = feed.poll() {
            {
                let codes = failures.add(&fresh.statuses);
                if codes.iter().any(|code| code == "131048") {
                    stop.request(super::StopCause::SpamLimit);
                }
                if codes.iter().any(|code| code == "130429") {
                    if let Ok(mut until) = watch.slow_until.lock() {
                        *until = Some(std::time::Instant::now() + SLOW_FOR);
                    }
                }
                if let Some(rate) = failures.rate().filter(|rate| *rate > max_failure_rate) {
                    stop.request(super::StopCause::FailureBurst {
                        percent: (rate * 100.0).round() as u32,
                    });
                }
            }
        }
        let mut slept = std::time::Duration::ZERO;
        while slept < POLL_EVERY && !done.load(Ordering::Relaxed) && !stop.is_set() {
            std::thread::sleep(std::time::Duration::from_millis(100));
            slept += std::time::Duration::from_millis(100);
        }
    }
}
