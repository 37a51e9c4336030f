//! Pacing: the rate limiter that spaces requests evenly, the strict one-second cap behind it,
//! the spacing of messages to one person, and the backoff between retries.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The smoothing rate limiter: requests spaced evenly at the rate.
pub(super) struct Limiter {
    limiter: DefaultDirectRateLimiter,
    /// One task at a time waits on the limiter, in arrival order: hundreds of tasks polling it
    /// at once would all wake for every permit.
    gate: tokio::sync::Mutex<()>,
}

impl Limiter {
    pub(super) fn new(rate: NonZeroU32) -> Limiter {
        // Requests are spaced evenly; a burst of a fiftieth of a second lets a late wake-up
        // catch up instead of losing its slot. The one-second cap keeps every second within the rate.
        let burst = NonZeroU32::new(rate.get() / 50).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(Quota::per_second(rate).allow_burst(burst));
        // Start with the burst spent, so the first second is as even as the others.
        let _ = limiter.check_n(burst);
        Limiter {
            limiter,
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for a permit, in turn.
    pub(super) async fn wait(&self) {
        let _turn = self.gate.lock().await;
        // governor's own `until_ready` sleeps on a timer thread of its own; tokio's timer is
        // already running.
        while let Err(not_until) = self.limiter.check() {
            let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
            tokio::time::sleep(not_until.wait_time_from(now)).await;
        }
    }
}

/// Meta's pair rate limit (131056) allows about one message per 6 seconds to one person.
pub(super) const PAIR_SPACING: Duration = Duration::from_secs(6);

/// With `--allow-duplicates`, a number that gets several messages gets them at least
/// [`PAIR_SPACING`] apart, counted from when the provider answered the earlier one: the
/// provider passes a message on to Meta once it has accepted it, so the earlier request's
/// answer, not the moment it was queued, is when Meta's clock for that person starts.
#[derive(Default)]
pub(super) struct PairSpacing {
    last: std::sync::Mutex<std::collections::HashMap<u64, Turn>>,
}

#[derive(Clone, Copy)]
enum Turn {
    /// A request to this number is on its way: the next one waits for its answer.
    InFlight,
    /// The last request to this number was answered (or given up) at this instant.
    Since(tokio::time::Instant),
}

/// How often a row waiting behind a request still on its way looks again.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(20);

impl PairSpacing {
    /// Waits until every number of the row may get a message, then holds them until the
    /// returned turn is dropped (after the request's answer, or when the row gives up).
    pub(super) async fn wait_turn<'a>(&'a self, numbers: &'a [u64]) -> PairTurn<'a> {
        loop {
            let wait = {
                let Ok(mut last) = self.last.lock() else {
                    return PairTurn { spacing: None, numbers };
                };
                let now = tokio::time::Instant::now();
                let mut wait = Duration::ZERO;
                for number in numbers {
                    match last.get(number) {
                        Some(Turn::InFlight) => wait = wait.max(IN_FLIGHT_POLL),
                        Some(Turn::Since(at)) if now.duration_since(*at) < PAIR_SPACING => {
                            wait = wait.max(*at + PAIR_SPACING - now);
                        }
                        _ => {}
                    }
                }
                if wait.is_zero() {
                    if last.len() > 100_000 {
                        last.retain(|_, turn| match turn {
                            Turn::InFlight => true,
                            Turn::Since(at) => now.duration_since(*at) < PAIR_SPACING,
                        });
                    }
                    for number in numbers {
                        last.insert(*number, Turn::InFlight);
                    }
                    return PairTurn {
                        spacing: Some(self),
                        numbers,
                    };
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// A row's hold on its numbers; dropping it starts their [`PAIR_SPACING`].
pub(super) struct PairTurn<'a> {
    spacing: Option<&'a PairSpacing>,
    numbers: &'a [u64],
}

impl Drop for PairTurn<'_> {
    fn drop(&mut self) {
        let Some(spacing) = self.spacing else { return };
        let Ok(mut last) = spacing.last.lock() else { return };
        let now = tokio::time::Instant::now();
        for number in self.numbers {
            last.insert(*number, Turn::Since(now));
        }
    }
}

/// The hard guarantee behind the rate: no one-second window holds more than `limit` request
/// starts. The smoothing limiter runs before the journal commit, whose time varies; this check
/// runs right before the request leaves, and only waits when that variation bunched requests.
pub(super) struct SecondCap {
    limit: usize,
    /// Held while waiting, so that waiters queue in order instead of all waking together.
    starts: tokio::sync::Mutex<VecDeque<tokio::time::Instant>>,
}

impl SecondCap {
    pub(super) fn new(rate: NonZeroU32) -> SecondCap {
        let limit = rate.get() as usize;
        SecondCap {
            limit,
            starts: tokio::sync::Mutex::new(VecDeque::with_capacity(limit.min(4096))),
        }
    }

    pub(super) async fn admit(&self) {
        let mut starts = self.starts.lock().await;
        loop {
            let now = tokio::time::Instant::now();
            while starts
                .front()
                .is_some_and(|start| now.duration_since(*start) >= Duration::from_secs(1))
            {
                starts.pop_front();
            }
            if starts.len() < self.limit {
                starts.push_back(now);
                return;
            }
            match starts.front() {
                Some(oldest) => tokio::time::sleep_until(*oldest + Duration::from_secs(1)).await,
                None => return,
            }
        }
    }
}

/// Exponential backoff with jitter (half to all of `base · 2^(attempt-1)`, at most 5 minutes),
/// never shorter than the server's `Retry-After`.
pub(super) fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exponential.min(Duration::from_secs(300));
    let jittered = capped.mul_f64(0.5 + fastrand::f64() * 0.5);
    match retry_after {
        Some(wait) => jittered.max(wait.min(Duration::from_secs(3600))),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn backoff_grows_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let delay = backoff(base, attempt, None);
            let full = base * (1 << (attempt - 1));
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert!(backoff(base, 1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        assert!(backoff(base, 40, None) <= Duration::from_secs(300));
    }

    #[tokio::test(start_paused = true)]
    pub(super) async fn the_window_never_admits_more_than_the_limit_in_a_second() {
        let window = SecondCap::new(NonZeroU32::new(5).expect("non-zero"));
        let started = tokio::time::Instant::now();
        let mut admitted = Vec::new();
        for _ in 0..12 {
            window.admit().await;
            admitted.push(started.elapsed());
        }
        for (index, at) in admitted.iter().enumerate().skip(5) {
            assert!(
                (*at).checked_sub(admitted[index - 5]).expect("admitted in order") >= Duration::from_secs(1),
                "{admitted:?}"
            );
        }
    }
}
