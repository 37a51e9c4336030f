//! Sending a campaign: rows in, HTTP requests out, at the configured rate, with retries, and
//! every step recorded in the [`journal`] before it happens.
//!
//! The flow: a producer thread renders the rows still to send into [`Job`]s (bounded queue, so
//! memory does not grow with the file); the dispatcher starts one task per job, at most
//! `concurrency` at once; each task waits for the rate limiter, commits `sending`, posts, and
//! records the outcome. A [`StopSignal`] (Ctrl-C, bad credentials, low balance, a journal
//! failure) stops new requests; requests in flight finish and are recorded.

pub(crate) mod account;
mod body_keys;
pub(crate) mod callbacks;
pub(crate) mod campaign;
mod client;
pub(crate) mod csv_report;
pub(crate) mod daily;
mod dispatch;
pub(crate) mod guardrails;
pub(crate) mod hours;
pub(crate) mod journal;
mod pacing;
pub(crate) mod refusal;
pub(crate) mod response;
pub(crate) mod run;
mod scrub;
mod stop;
pub(crate) mod watch;
pub(crate) mod window;

use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::client::{client_builder, http_client, ClientError};
pub(crate) use self::dispatch::{deliver, Delivery};
pub(crate) use self::stop::{StopCause, StopSignal};

#[derive(Debug, Clone)]
pub(crate) struct SendSettings {
    /// Messages per second; `None` for no limit.
    pub rate: Option<NonZeroU32>,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// The first retry waits about this long; each further one twice as long (with jitter).
    pub retry_base: Duration,
    pub timeout: Duration,
    /// Quiet hours: requests go out only inside this window.
    pub hours: Option<hours::SendingHours>,
    /// Outside the window, stop (resumably) instead of pausing.
    pub exit_outside_window: bool,
    /// What the event store says while the campaign runs (`--events`).
    pub watch: Option<Arc<watch::Watch>>,
    /// Who wrote to the business lately (`--outside-window`): each job with a template beside
    /// its Flow message is sent the one that reaches its person now.
    pub window: Option<Arc<window::Window>>,
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
pub(crate) struct Job {
    pub row: u64,
    pub body: Vec<u8>,
    /// What `body` is.
    pub message: crate::template::MessageKind,
    /// The approved template for the same row (`--outside-window`), sent instead of `body`
    /// when the person's 24-hour window is closed.
    pub outside_window: Option<Vec<u8>>,
    /// Its recipients' numbers (see [`guardrails::number_key`]).
    pub recipients: Vec<u64>,
}

/// Counters the command layer reads to draw progress.
#[derive(Debug, Default)]
pub(crate) struct Progress {
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
pub(crate) type Logger = Arc<dyn Fn(String) + Send + Sync>;
