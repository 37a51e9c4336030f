//! The dispatcher: one task per job, at most `concurrency` at once; each waits for its turn,
//! commits `sending`, posts and records the outcome, until the queue ends or a stop comes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::send::account::Account;
use crate::send::client::{post, ClientError};
use crate::send::journal::{JournalHandle, Record, RowStatus};
use crate::send::pacing::{backoff, Limiter, PairSpacing, SecondCap};
use crate::send::response::Outcome;
use crate::send::stop::{StopCause, StopSignal};
use crate::send::window::kind_name;
use crate::send::{Job, Logger, Progress, SendSettings};
use crate::template::MessageKind;

pub(super) struct Context {
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    pub(super) api_key: HeaderValue,
    pub(super) account: Account,
    pub(super) settings: SendSettings,
    pub(super) limiter: Option<Limiter>,
    pub(super) second_cap: Option<SecondCap>,
    pub(super) pairs: Option<PairSpacing>,
    pub(super) journal: JournalHandle,
    pub(super) stop: StopSignal,
    pub(super) progress: Arc<Progress>,
    pub(super) log: Logger,
}

/// Everything the sending tasks share.
pub(crate) struct Delivery {
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
pub(crate) async fn deliver(mut jobs: mpsc::Receiver<Job>, delivery: Delivery) -> Result<(), ClientError> {
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
    let limiter = settings.rate.map(Limiter::new);
    let second_cap = settings.rate.map(SecondCap::new);
    let context = Arc::new(Context {
        second_cap,
        pairs: settings.space_pairs.then(PairSpacing::default),
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
        if !inside_hours(&context).await {
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
        stop.request(StopCause::Journal(Arc::new(error)));
    }
    Ok(())
}

/// Waits until the quiet-hours window is open; `false` when the campaign stops instead (a
/// stop request, or the window closed with `--exit-outside-window`).
pub(super) async fn inside_hours(context: &Context) -> bool {
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
pub(super) fn report_panic(joined: Result<(), tokio::task::JoinError>, stop: &StopSignal) {
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

pub(super) async fn deliver_row(job: Job, context: &Context) {
    let mut attempt = 0;
    // Once an attempt may have reached the provider (`--retry-ambiguous`), the row is never
    // again one a later run may send without asking: it stays `unknown` until an answer says
    // otherwise.
    let mut ambiguous_seen = false;
    let mut message = job.message;
    loop {
        attempt += 1;
        if !inside_hours(context).await {
            // Nothing recorded for this attempt: the row keeps its status for the next run.
            return;
        }
        // Held until this attempt is over (answered, or given up), so that the next row to the
        // same person waits for the answer.
        let _turn = match &context.pairs {
            Some(pairs) => tokio::select! {
                biased;
                () = context.stop.wait() => return,
                turn = pairs.wait_turn(&job.recipients) => Some(turn),
            },
            None => None,
        };
        if let Some(limiter) = &context.limiter {
            tokio::select! {
                biased;
                () = context.stop.wait() => return,
                () = limiter.wait() => {}
            }
        }
        if context.stop.is_set() {
            return;
        }
        if let Some(watch) = &context.settings.watch {
            // 130429: half the pace for a minute (a second permit per request).
            if watch.is_slowed() {
                if let Some(limiter) = &context.limiter {
                    limiter.wait().await;
                }
            }
        }
        // The limiter's wait may have carried the row past the window's end.
        if context.settings.hours.is_some() && !inside_hours(context).await {
            return;
        }
        // Which message reaches the person is decided now, from what the store holds now; an
        // earlier attempt that may have arrived keeps its message.
        if !ambiguous_seen {
            match choose(&job, context) {
                Ok(chosen) => message = chosen,
                Err(error) => {
                    context.stop.request(StopCause::Events(Arc::new(error)));
                    let record = Record {
                        error: Some("not sent: the event store could not be read to see whether the person's 24-hour window is open".to_owned()),
                        attempts: attempt - 1,
                        ..Record::default()
                    };
                    if let Err(error) = context.journal.outcome(job.row, RowStatus::Pending, record) {
                        context.stop.request(StopCause::Journal(Arc::new(error)));
                    }
                    return;
                }
            }
        }
        let body = match (message, &job.outside_window) {
            (MessageKind::Template, Some(template)) if job.message == MessageKind::Flow => template,
            _ => &job.body,
        };
        // The record that this row is on its way is on disk before the request leaves.
        if let Err(error) = context.journal.sending(job.row, attempt, kind_name(message)).await {
            context.stop.request(StopCause::Journal(Arc::new(error)));
            return;
        }
        if let Some(second_cap) = &context.second_cap {
            second_cap.admit().await;
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
                    context.stop.request(StopCause::Events(Arc::new(error)));
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
                    context.stop.request(StopCause::Journal(Arc::new(error)));
                }
                if status != RowStatus::Pending {
                    context.progress.done.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
        let outcome = post(context, body).await;
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
                context.stop.request(StopCause::refused(
                    *reason,
                    (code, message),
                    body,
                    context.settings.hours.as_ref(),
                ));
                // Not sent: the row stays pending for the next run.
                (RowStatus::Pending, record(Some(message.clone())), true)
            }
            Outcome::Retry { message, .. } => {
                let last = attempt >= context.settings.max_attempts || context.stop.is_set();
                let error = if last {
                    context.progress.failed.fetch_add(1, Ordering::Relaxed);
                    format!(
                        "gave up after {}: {message}",
                        crate::words::count(u64::from(attempt), "attempt", "attempts")
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
            context.stop.request(StopCause::Journal(Arc::new(error)));
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

/// The message that reaches the job's person now: its own, unless it has a template beside a
/// Flow message and the person's 24-hour window is closed (or about to).
fn choose(job: &Job, context: &Context) -> Result<MessageKind, crate::events::EventsError> {
    match (&context.settings.window, &job.outside_window) {
        (Some(window), Some(_)) if job.message == MessageKind::Flow => window.message_now(&job.recipients),
        _ => Ok(job.message),
    }
}

pub(super) fn describe(row: u64, attempt: u32, outcome: &Outcome) -> String {
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
