//! Sending a campaign: rows in, HTTP requests out, at the configured rate, with retries, and
//! every step recorded in the [`journal`] before it happens.
//!
//! The flow: a producer thread renders the rows still to send into [`Job`]s (bounded queue, so
//! memory does not grow with the file); the dispatcher starts one task per job, at most
//! `concurrency` at once; each task waits for the rate limiter, commits `sending`, posts, and
//! records the outcome. A [`StopSignal`] (Ctrl-C, bad credentials, low balance, a journal
//! failure) stops new requests; requests in flight finish and are recorded.

pub mod account;
pub mod campaign;
pub mod events;
pub mod guardrails;
pub mod journal;
pub(crate) use crate::outputs;
pub mod report;
pub mod response;
pub mod run;
pub mod window;

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

pub use crate::signal::Signal;

use self::account::Account;
use self::journal::{JournalHandle, Record, RowStatus};
pub use self::response::StopReason;
use self::response::{classify, Outcome};
use crate::secret::Secret;

/// The most of a response body that is read; Kaleyra's answers are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct SendSettings {
    /// Messages per second; `None` for no limit.
    pub rate: Option<NonZeroU32>,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// The first retry waits about this long; each further one twice as long (with jitter).
    pub retry_base: Duration,
    pub timeout: Duration,
    /// Quiet hours: requests go out only inside this window.
    pub hours: Option<window::Window>,
    /// Outside the window, stop (resumably) instead of pausing.
    pub exit_outside_window: bool,
    /// What the event store says while the campaign runs (`--events`).
    pub watch: Option<Arc<events::Watch>>,
    /// Rows to one number are spaced [`PAIR_SPACING`] apart (there are such rows only with
    /// `--allow-duplicates`).
    pub space_pairs: bool,
    /// Retry outcomes where the request may have reached the provider (a dropped connection
    /// after writing, a timeout, a gateway error) instead of recording them `unknown`.
    pub retry_ambiguous: bool,
    /// After a stop, how long requests in flight may take to finish before they are abandoned
    /// (their rows are then `unknown`).
    pub grace: Duration,
    pub verbose: bool,
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: u64,
    pub body: Vec<u8>,
    /// Its recipients' numbers (see [`guardrails::number_key`]).
    pub recipients: Vec<u64>,
}

/// Meta's pair rate limit (131056) allows about one message per 6 seconds to one person.
const PAIR_SPACING: Duration = Duration::from_secs(6);

/// With `--allow-duplicates`, a number that gets several messages gets them at least
/// [`PAIR_SPACING`] apart.
#[derive(Default)]
struct PairSpacing {
    last: std::sync::Mutex<std::collections::HashMap<u64, tokio::time::Instant>>,
}

impl PairSpacing {
    async fn wait_turn(&self, numbers: &[u64]) {
        loop {
            let wait = {
                let Ok(mut last) = self.last.lock() else { return };
                let now = tokio::time::Instant::now();
                let latest = numbers.iter().filter_map(|number| last.get(number)).max().copied();
                match latest {
                    Some(at) if now.duration_since(at) < PAIR_SPACING => at + PAIR_SPACING - now,
                    _ => {
                        if last.len() > 100_000 {
                            last.retain(|_, at| now.duration_since(*at) < PAIR_SPACING);
                        }
                        for number in numbers {
                            last.insert(*number, now);
                        }
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why a campaign stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    Interrupted(Signal),
    /// The provider refused the account or the balance: every further row would fail alike.
    Refused {
        reason: StopReason,
        code: String,
        message: String,
    },
    /// A bug: a sending task or the row producer panicked. Its row, if it was in flight, is
    /// `unknown`; the others are as recorded.
    Internal(String),
    Journal(String),
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
    Data(String),
    /// The event store (`--events`) could not be read right before a request.
    Events(String),
}

/// Shared by every task: set once, seen by all.
#[derive(Clone)]
pub struct StopSignal {
    sender: Arc<watch::Sender<Option<StopCause>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            sender: Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    /// Asks every task to stop; the first cause given is kept.
    pub fn request(&self, cause: StopCause) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(cause);
                true
            } else {
                false
            }
        });
    }

    pub fn cause(&self) -> Option<StopCause> {
        self.sender.borrow().clone()
    }

    pub fn is_set(&self) -> bool {
        self.sender.borrow().is_some()
    }

    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so this only ends when a cause is set.
        let _ = receiver.wait_for(Option::is_some).await;
    }
}

/// Counters the command layer reads to draw progress.
#[derive(Debug, Default)]
pub struct Progress {
    pub accepted: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    /// Rows whose request may or may not have reached the provider.
    pub unknown: AtomicU64,
    /// While paused outside the window: when it opens, for the progress line.
    pub paused_until: std::sync::Mutex<Option<String>>,
    /// Rows whose sending ended (any outcome, including giving up).
    pub done: AtomicU64,
}

/// Something worth a line in `--verbose` output; never holds the API key.
pub type Logger = Arc<dyn Fn(String) + Send + Sync>;

struct Context {
    client: reqwest::Client,
    url: String,
    api_key: HeaderValue,
    account: Account,
    settings: SendSettings,
    limiter: Option<DefaultDirectRateLimiter>,
    /// One task at a time waits on the limiter, in arrival order: hundreds of tasks polling it
    /// at once would all wake for every permit.
    limiter_gate: tokio::sync::Mutex<()>,
    window: Option<StrictWindow>,
    pairs: Option<PairSpacing>,
    journal: JournalHandle,
    stop: StopSignal,
    progress: Arc<Progress>,
    log: Logger,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the API key contains characters that cannot go in an HTTP header")]
    BadKey,
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// The pooled keep-alive HTTPS client (rustls).
pub fn http_client(settings: &SendSettings) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .user_agent(concat!("flowc/", env!("CARGO_PKG_VERSION")))
        .timeout(settings.timeout)
        .connect_timeout((settings.timeout / 2).min(Duration::from_secs(10)))
        .pool_max_idle_per_host(settings.concurrency)
        // The connect timeout is strictly shorter than the whole request's: a connection that
        // never completes is then reported as one (retryable), not as a request without answer
        // (unknown).
        // A redirect would replay the POST, with the `api-key` header, to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .map_err(|error| ClientError::Client(error.to_string()))
}

/// Everything the sending tasks share.
pub struct Delivery {
    pub client: reqwest::Client,
    pub account: Account,
    pub settings: SendSettings,
    pub journal: JournalHandle,
    pub stop: StopSignal,
    pub progress: Arc<Progress>,
    pub log: Logger,
}

/// Sends every job from `jobs` until the queue ends or a stop is requested; returns when every
/// request in flight has finished (or been abandoned after the grace period) and its outcome
/// is on disk.
pub async fn deliver(mut jobs: mpsc::Receiver<Job>, delivery: Delivery) -> Result<(), ClientError> {
    let Delivery {
        client,
        account,
        settings,
        journal,
        stop,
        progress,
        log,
    } = delivery;
    let mut api_key = HeaderValue::from_str(account.api_key.expose()).map_err(|_| ClientError::BadKey)?;
    api_key.set_sensitive(true);
    let limiter = settings.rate.map(|rate| {
        // Requests are spaced evenly; a burst of a fiftieth of a second lets a late wake-up
        // catch up instead of losing its slot. The strict window keeps every second within the rate.
        let burst = NonZeroU32::new(rate.get() / 50).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(Quota::per_second(rate).allow_burst(burst));
        // Start with the burst spent, so the first second is as even as the others.
        let _ = limiter.check_n(burst);
        limiter
    });
    let window = settings.rate.map(StrictWindow::new);
    let context = Arc::new(Context {
        window,
        pairs: settings.space_pairs.then(PairSpacing::default),
        limiter_gate: tokio::sync::Mutex::new(()),
        url: account.messages_url(),
        client,
        api_key,
        account,
        limiter,
        journal,
        stop: stop.clone(),
        progress,
        log,
        settings,
    });
    let slots = Arc::new(Semaphore::new(context.settings.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        if !inside_window(&context).await {
            break;
        }
        let slot = tokio::select! {
            biased;
            () = stop.wait() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let job = tokio::select! {
            biased;
            () = stop.wait() => break,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
        };
        let context = Arc::clone(&context);
        tasks.spawn(async move {
            deliver_row(job, &context).await;
            drop(slot);
        });
        while let Some(joined) = tasks.try_join_next() {
            report_panic(joined, &stop);
        }
    }
    drop(jobs);
    // Once stopped, requests in flight get the grace period to finish; then they are
    // abandoned, and their rows, still `sending`, become `unknown`.
    let grace = context.settings.grace;
    let deadline = async {
        stop.wait().await;
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(joined) => report_panic(joined, &stop),
                None => break,
            },
            () = &mut deadline => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    if let Err(error) = context.journal.flush().await {
        stop.request(StopCause::Journal(error.to_string()));
    }
    Ok(())
}

/// Waits until the quiet-hours window is open; `false` when the campaign stops instead (a
/// stop request, or the window closed with `--exit-outside-window`).
async fn inside_window(context: &Context) -> bool {
    let Some(hours) = &context.settings.hours else {
        return !context.stop.is_set();
    };
    loop {
        if context.stop.is_set() {
            return false;
        }
        let now = jiff::Timestamp::now();
        let Some(opening) = hours.next_opening(now) else {
            if let Ok(mut paused) = context.progress.paused_until.lock() {
                *paused = None;
            }
            return true;
        };
        let described = hours.describe_opening(&opening, now);
        if context.settings.exit_outside_window {
            context.stop.request(StopCause::OutsideWindow(described));
            return false;
        }
        if let Ok(mut paused) = context.progress.paused_until.lock() {
            *paused = Some(described);
        }
        let until = opening.timestamp().as_second().saturating_sub(now.as_second()).max(1) as u64;
        // Woken at least every 30 s: the clock may jump (suspend, NTP).
        let wait = Duration::from_secs(until.min(30));
        tokio::select! {
            biased;
            () = context.stop.wait() => return false,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A task that panicked is a bug: say so and stop, rather than carry on as if it had not.
fn report_panic(joined: Result<(), tokio::task::JoinError>, stop: &StopSignal) {
    if let Err(error) = joined {
        if error.is_panic() {
            let payload = error.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a sending task panicked".to_owned());
            stop.request(StopCause::Internal(message));
        }
    }
}

async fn deliver_row(job: Job, context: &Context) {
    let mut attempt = 0;
    // Once an attempt may have reached the provider (`--retry-ambiguous`), the row is never
    // again one a later run may send without asking: it stays `unknown` until an answer says
    // otherwise.
    let mut ambiguous_seen = false;
    loop {
        attempt += 1;
        if !inside_window(context).await {
            // Nothing recorded for this attempt: the row keeps its status for the next run.
            return;
        }
        if let Some(pairs) = &context.pairs {
            tokio::select! {
                biased;
                () = context.stop.wait() => return,
                () = pairs.wait_turn(&job.recipients) => {}
            }
        }
        if let Some(limiter) = &context.limiter {
            tokio::select! {
                biased;
                () = context.stop.wait() => return,
                () = async {
                    let _turn = context.limiter_gate.lock().await;
                    // governor's own `until_ready` sleeps on a timer thread of its own; tokio's
                    // timer is already running.
                    while let Err(not_until) = limiter.check() {
                        tokio::time::sleep(not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))).await;
                    }
                } => {}
            }
        }
        if context.stop.is_set() {
            return;
        }
        if let Some(watch) = &context.settings.watch {
            // 130429: half the pace for a minute (a second permit per request).
            if watch.is_slowed() {
                if let Some(limiter) = &context.limiter {
                    let _turn = context.limiter_gate.lock().await;
                    while let Err(not_until) = limiter.check() {
                        tokio::time::sleep(
                            not_until
                                .wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default())),
                        )
                        .await;
                    }
                }
            }
        }
        // The limiter's wait may have carried the row past the window's end.
        if context.settings.hours.is_some() && !inside_window(context).await {
            return;
        }
        // The record that this row is on its way is on disk before the request leaves.
        if let Err(error) = context.journal.sending(job.row, attempt).await {
            context.stop.request(StopCause::Journal(error.to_string()));
            return;
        }
        if let Some(window) = &context.window {
            window.admit().await;
        }
        if let Some(watch) = &context.settings.watch {
            // Looked up last, right before the request leaves: a STOP stored at any moment
            // before it is honoured.
            let held = match watch.opted_out_now(&job.recipients) {
                Ok(false) => None,
                Ok(true) => Some((
                    RowStatus::OptedOut,
                    "opted out (a STOP reply arrived during the run); not sent",
                )),
                Err(error) => {
                    context.stop.request(StopCause::Events(error.to_string()));
                    Some((
                        RowStatus::Pending,
                        "not sent: the event store could not be read to check for a STOP",
                    ))
                }
            };
            if let Some((status, reason)) = held {
                // An earlier attempt that may have reached the provider leaves the row unknown.
                let status = if ambiguous_seen { RowStatus::Unknown } else { status };
                let record = Record {
                    error: Some(reason.to_owned()),
                    attempts: attempt - 1,
                    ..Record::default()
                };
                if let Err(error) = context.journal.outcome(job.row, status, record) {
                    context.stop.request(StopCause::Journal(error.to_string()));
                }
                if status != RowStatus::Pending {
                    context.progress.done.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
        let outcome = post(context, &job.body).await;
        if context.settings.verbose {
            (context.log)(describe(job.row, attempt, &outcome));
        }
        ambiguous_seen |= matches!(outcome, Outcome::Ambiguous { .. });
        // Without `--retry-ambiguous`, a request that may have arrived is never sent again.
        let outcome = match outcome {
            Outcome::Ambiguous {
                http_status,
                code,
                message,
            } if context.settings.retry_ambiguous => Outcome::Retry {
                http_status,
                code,
                message,
                retry_after: None,
            },
            other => other,
        };
        let record = |error: Option<String>| Record {
            http_status: outcome.http_status(),
            code: outcome.code().map(str::to_owned),
            message_id: match &outcome {
                Outcome::Accepted { message_id, .. } => message_id.clone(),
                _ => None,
            },
            attempts: attempt,
            error,
        };
        let (status, record, finished) = match &outcome {
            Outcome::Accepted { note, .. } => {
                context.progress.accepted.fetch_add(1, Ordering::Relaxed);
                (RowStatus::Accepted, record(note.clone()), true)
            }
            Outcome::Ambiguous { message, .. } => {
                context.progress.unknown.fetch_add(1, Ordering::Relaxed);
                let error = format!(
                    "{message}: the request may have reached the provider, so delivery is unknown; not sent again without --resend-unknown"
                );
                (RowStatus::Unknown, record(Some(error)), true)
            }
            Outcome::Rejected { message, .. } => {
                context.progress.failed.fetch_add(1, Ordering::Relaxed);
                (RowStatus::Failed, record(Some(message.clone())), true)
            }
            Outcome::Later { message, .. } => {
                context.progress.failed.fetch_add(1, Ordering::Relaxed);
                let error = format!(
                    "{message}: the provider asks to retry later (5, 10 and 15 minutes apart); run the same command again in a few minutes"
                );
                (RowStatus::Retryable, record(Some(error)), true)
            }
            Outcome::Stop {
                code, message, reason, ..
            } => {
                context.stop.request(StopCause::Refused {
                    reason: *reason,
                    code: code.clone(),
                    message: message.clone(),
                });
                // Not sent: the row stays pending for the next run.
                (RowStatus::Pending, record(Some(message.clone())), true)
            }
            Outcome::Retry { message, .. } => {
                let last = attempt >= context.settings.max_attempts || context.stop.is_set();
                let error = if last {
                    context.progress.failed.fetch_add(1, Ordering::Relaxed);
                    format!(
                        "gave up after {attempt} attempt{}: {message}",
                        if attempt == 1 { "" } else { "s" }
                    )
                } else {
                    context.progress.retries.fetch_add(1, Ordering::Relaxed);
                    message.clone()
                };
                let status = if ambiguous_seen {
                    RowStatus::Unknown
                } else {
                    RowStatus::Retryable
                };
                (status, record(Some(error)), last)
            }
        };
        if let Err(error) = context.journal.outcome(job.row, status, record) {
            context.stop.request(StopCause::Journal(error.to_string()));
            return;
        }
        if finished {
            context.progress.done.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let retry_after = match &outcome {
            Outcome::Retry { retry_after, .. } => *retry_after,
            _ => None,
        };
        let delay = backoff(context.settings.retry_base, attempt, retry_after);
        tokio::select! {
            biased;
            // Stopped while waiting: the row stays `retryable` and is sent on resume.
            () = context.stop.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The hard guarantee behind the rate: no one-second window holds more than `limit` request
/// starts. The smoothing limiter runs before the journal commit, whose time varies; this check
/// runs right before the request leaves, and only waits when that variation bunched requests.
struct StrictWindow {
    limit: usize,
    /// Held while waiting, so that waiters queue in order instead of all waking together.
    starts: tokio::sync::Mutex<VecDeque<tokio::time::Instant>>,
}

impl StrictWindow {
    fn new(rate: NonZeroU32) -> StrictWindow {
        let limit = rate.get() as usize;
        StrictWindow {
            limit,
            starts: tokio::sync::Mutex::new(VecDeque::with_capacity(limit.min(4096))),
        }
    }

    async fn admit(&self) {
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
pub fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exponential.min(Duration::from_secs(300));
    let jittered = capped.mul_f64(0.5 + fastrand::f64() * 0.5);
    match retry_after {
        Some(wait) => jittered.max(wait.min(Duration::from_secs(3600))),
        None => jittered,
    }
}

async fn post(context: &Context, body: &[u8]) -> Outcome {
    let request = context
        .client
        .post(&context.url)
        .header(CONTENT_TYPE, "application/json")
        .header("api-key", context.api_key.clone())
        .body(body.to_vec());
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return transport_failure(context, &error),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut text = Vec::new();
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY.saturating_sub(text.len());
                text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            // The answer's status arrived; a body cut short still tells what happened.
            Err(_) => break,
        }
    }
    let text = context.account.api_key.redact(&String::from_utf8_lossy(&text));
    scrub(
        classify(status, retry_after.as_deref(), &text),
        &context.account.api_key,
    )
}

/// Removes the API key from every text the server gave, in whatever encoding it came back
/// (classification decodes JSON escapes, which can turn `\u0053ECRET` into the key).
fn scrub(outcome: Outcome, key: &Secret) -> Outcome {
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
fn describe_text(outcome: &Outcome) -> &str {
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
fn withheld(outcome: Outcome) -> Outcome {
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

/// A request that got no answer. Only a failure to connect (refused, DNS, TLS handshake, a
/// connect timeout) proves that nothing reached the server; a timeout or a dropped connection
/// after the request was written leaves its fate unknown.
fn transport_failure(context: &Context, error: &reqwest::Error) -> Outcome {
    let (kind, safe) = if error.is_connect() {
        ("could not connect", true)
    } else if error.is_timeout() {
        ("no answer in time", false)
    } else {
        ("the connection failed after the request was sent", false)
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let message = if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    };
    let message = context.account.api_key.scrub(&message);
    if safe {
        Outcome::Retry {
            http_status: None,
            code: None,
            message,
            retry_after: None,
        }
    } else {
        Outcome::Ambiguous {
            http_status: None,
            code: None,
            message,
        }
    }
}

fn describe(row: u64, attempt: u32, outcome: &Outcome) -> String {
    let status = outcome
        .http_status()
        .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
    let code = outcome.code().unwrap_or("-");
    let detail = match outcome {
        Outcome::Accepted { message_id, .. } => format!("message_id {}", message_id.as_deref().unwrap_or("-")),
        Outcome::Rejected { message, .. }
        | Outcome::Stop { message, .. }
        | Outcome::Retry { message, .. }
        | Outcome::Ambiguous { message, .. }
        | Outcome::Later { message, .. } => message.clone(),
    };
    format!("row {row} attempt {attempt}: {status} {code}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
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
    async fn the_window_never_admits_more_than_the_limit_in_a_second() {
        let window = StrictWindow::new(NonZeroU32::new(5).expect("non-zero"));
        let started = tokio::time::Instant::now();
        let mut admitted = Vec::new();
        for _ in 0..12 {
            window.admit().await;
            admitted.push(started.elapsed());
        }
        for (index, at) in admitted.iter().enumerate().skip(5) {
            assert!(*at - admitted[index - 5] >= Duration::from_secs(1), "{admitted:?}");
        }
    }

    #[test]
    fn stop_keeps_the_first_cause() {
        let stop = StopSignal::default();
        assert!(!stop.is_set());
        stop.request(StopCause::Interrupted(Signal::Terminate));
        stop.request(StopCause::Journal("x".to_owned()));
        assert_eq!(stop.cause(), Some(StopCause::Interrupted(Signal::Terminate)));
    }
}
