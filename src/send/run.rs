//! A campaign's sending run, once its plan is made: the journal's writer thread, the row
//! producer, the event-store watcher and the sending tasks on one runtime, started and joined
//! in order so that every outcome is on disk before the run returns.
//!
//! The command layer keeps what a person sees (the plan, the prompt, the progress bar, the
//! signal messages): it hands in the hooks that draw them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::account::Account;
use super::campaign::{self, Plan};
use super::csv_report::{self, ReportError, Summary};
use super::hours::SendingHours;
use super::journal::{Fingerprint, Journal, JournalError, JournalWriter, Resume};
use super::watch::{self, EventFeed};
use super::{ClientError, Job, Logger, Progress, SendSettings, StopCause, StopSignal};
use crate::pipeline::MessageCompiler;

/// Opens (or creates) the campaign's journal (`None`: a dry run's temporary one), records the
/// names and the inputs it was made from (a dry run records no inputs), and marks the rows left
/// in flight by the last run `unknown`; returns the journal and how many rows that was.
pub(crate) fn open_journal(
    path: Option<&Path>,
    fingerprint: &Fingerprint,
    resume: Resume,
    (template, data): (&Path, &Path),
    inputs: &[(&'static str, &Path)],
) -> Result<(Journal, u64), JournalError> {
    let mut journal = Journal::open_with(path, fingerprint, resume)?;
    journal.record_names(&template.display().to_string(), &data.display().to_string())?;
    if path.is_some() {
        journal.record_inputs(inputs)?;
    }
    let recovered = journal.recover_in_flight()?;
    Ok((journal, recovered))
}

/// Writes the send's CSV report; returns its summary and whether the writing waits for the
/// callbacks (`callbacks_follow`, with `--events`): a device, a pipe or standard output is
/// written once, after the callbacks are added, while a file is written now, so that a failure
/// to read the store leaves a report.
pub(crate) fn write_report(
    journal: &Journal,
    report: &Path,
    callbacks_follow: bool,
) -> Result<(Summary, bool), ReportError> {
    let written_once = callbacks_follow
        && !matches!(
            crate::outputs::destination(report),
            Ok(crate::outputs::Destination::Replace(_))
        );
    let summary = if written_once {
        csv_report::write_to(journal, &mut std::io::sink(), None)
    } else {
        csv_report::write(journal, report)
    }?;
    Ok((summary, written_once))
}

/// What the sending run reads besides the plan: the data file and the values the template
/// was compiled with.
pub(crate) struct Rows {
    pub data: PathBuf,
    pub delimiter: Option<u8>,
    pub vars: Vec<(String, String)>,
    /// The approved template sent to people outside their 24-hour window (`--outside-window`).
    pub outside_window: Option<MessageCompiler>,
}

/// Why the run could not start or could not finish writing its journal.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error(transparent)]
    Client(ClientError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Journal(JournalError),
}

/// The tasks the command layer runs beside the sending (signal watching, progress), started on
/// the run's runtime and aborted when the sending ends.
pub(crate) type Watchers = Box<dyn FnOnce(&StopSignal, &Arc<Progress>) -> Vec<tokio::task::JoinHandle<()>>>;

/// Sends the planned rows; returns the journal and why sending stopped early, if it did.
#[allow(clippy::too_many_arguments)]
pub(crate) fn send_planned(
    compiler: MessageCompiler,
    rows: Rows,
    account: Account,
    journal: Journal,
    plan: Plan,
    (hours, feed): (Option<SendingHours>, Option<EventFeed>),
    mut settings: SendSettings,
    max_failure_rate: f64,
    (progress, log, watchers): (Arc<Progress>, Logger, Watchers),
) -> Result<(Journal, Option<StopCause>), RunError> {
    let mut feed = feed;
    let watch = feed
        .as_mut()
        .and_then(EventFeed::take_opt_outs)
        .map(|opt_outs| Arc::new(watch::Watch::new(opt_outs)));
    settings.watch.clone_from(&watch);
    settings.hours = hours;
    let concurrency = settings.concurrency;
    let client = super::http_client(&settings).map_err(RunError::Client)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let writer = JournalWriter::spawn(journal);
    let watching = Arc::new(AtomicBool::new(false));
    let stop = StopSignal::default();
    // The event store is read on a thread of its own: SQLite's reads block.
    let watcher = match (feed, &watch) {
        (Some(feed), Some(watch)) => {
            let (watch, stop, done) = (Arc::clone(watch), stop.clone(), Arc::clone(&watching));
            Some(std::thread::spawn(move || {
                watch::watch(feed, &watch, &stop, max_failure_rate, &done);
            }))
        }
        _ => None,
    };
    let (jobs, queue) = mpsc::channel::<Job>(concurrency * 2);
    let producer = {
        let stop = stop.clone();
        let journal = writer.handle();
        let Rows {
            data,
            delimiter,
            vars,
            outside_window,
        } = rows;
        std::thread::spawn(move || {
            if let Some(rows) = campaign::reopen(&compiler, &data, delimiter, &stop) {
                let template = match &outside_window {
                    Some(template) => match campaign::reopen(template, &data, delimiter, &stop) {
                        Some(rows) => Some((template, rows)),
                        None => return,
                    },
                    None => None,
                };
                campaign::produce((&compiler, template), rows, &vars, &plan, &jobs, &stop, &journal);
            }
        })
    };
    let delivered = runtime.block_on(async {
        let beside = watchers(&stop, &progress);
        let delivering = super::deliver(
            queue,
            super::Delivery {
                client,
                account,
                settings,
                journal: writer.handle(),
                stop: stop.clone(),
                progress: Arc::clone(&progress),
                log,
            },
        );
        // A second signal drops the sending tasks (and the requests in flight) where they are.
        let delivered = tokio::select! {
            delivered = delivering => delivered,
            () = stop.quitting() => Ok(()),
        };
        for task in beside {
            task.abort();
        }
        delivered
    });
    watching.store(true, Ordering::Relaxed);
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    if producer.join().is_err() {
        stop.request(StopCause::Internal("the row producer panicked".to_owned()));
    }
    let journal = writer.finish().map_err(RunError::Journal)?;
    delivered.map_err(RunError::Client)?;
    Ok((journal, stop.quit_by().map(StopCause::Quit).or_else(|| stop.cause())))
}
