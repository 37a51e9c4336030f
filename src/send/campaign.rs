//! A campaign before and around its requests: its identity (fingerprint), the pre-flight that
//! renders and checks every row and decides which to send, and the producer that renders
//! them again for sending. The command layer only adds flags, the prompt and printing.
//!
//! The data file is read twice (pre-flight, then sending), so a row edited in between could be
//! sent unchecked. The pre-flight keeps a 64-bit hash of each body it approved for sending,
//! and the producer compares: a body that is not the one checked is not sent (`invalid`, "the
//! row changed after the pre-flight").

use std::hash::BuildHasher;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::body_keys::keys_of;
pub(crate) use super::body_keys::{recipient_of, with_extra_info};
pub(crate) use super::body_keys::{track_key, TrackField};
use super::csv_report::Spool;
use super::guardrails::{Guardrails, Verdict};
use super::guardrails::{KeyTable, RowBits};
use super::journal::{Fingerprint, Journal, JournalError, JournalHandle, Record, RowKeys, RowStatus};
use super::{Job, StopCause, StopSignal};
use crate::data::{self, DataError, Rows};
use crate::input::Unreadable;
use crate::pipeline::{compile_in_order, compile_in_order_with, BodyKeys, Flow, MessageCompiler, Problem, RowOutcome};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CampaignError {
    #[error(transparent)]
    Unreadable(Unreadable),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The data file could not be read to its end (reported through the callback).
    #[error("the data file could not be read to its end")]
    Broken,
    /// A dry run's report could not be kept until the plan is shown.
    #[error(transparent)]
    Report(#[from] super::csv_report::ReportError),
    #[error(
        "--track {field}: the template sets `extra_info.{field}` itself (row {row}), and the key would replace it"
    )]
    TrackedFieldSet { field: &'static str, row: u64 },
}

/// Which rows this run sends: one bit a row number.
#[derive(Debug, Default)]
pub(crate) struct RowSet {
    bits: Vec<u64>,
    count: u64,
}

impl RowSet {
    fn insert(&mut self, row: u64) {
        let (word, bit) = ((row / 64) as usize, row % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.bits[word] |= 1 << bit;
            self.count += 1;
        }
    }

    pub(crate) fn contains(&self, row: u64) -> bool {
        self.bits
            .get((row / 64) as usize)
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

/// What the pre-flight found and decided.
#[derive(Debug)]
pub(crate) struct Plan {
    pub valid: u64,
    pub invalid: u64,
    pub accepted_before: u64,
    pub unknown: u64,
    /// Rows `unknown` when sent that the callbacks settled as accepted before this pre-flight
    /// (counted in `accepted_before`; set by the caller, which settles them).
    pub settled: u64,
    /// Rows `unknown` when sent that a `not sent` callback settled as failed (set by the
    /// caller, as `settled`).
    pub settled_not_sent: u64,
    /// Set when this run resumes with a changed template (`--changed-template`).
    pub template_change: Option<super::journal::TemplateChange>,
    /// Rows whose recipient an earlier row has.
    pub duplicate: u64,
    /// Rows whose recipient is on the `--exclude` list.
    pub excluded: u64,
    /// Rows whose recipient opted out in the event store.
    pub opted_out: u64,
    /// Rows left pending by `--limit`.
    pub held: u64,
    /// Rows left pending by `--daily-limit`.
    pub held_daily: u64,
    /// Valid rows whose `flow_token` an earlier valid row has, and the first such pair (the row,
    /// the earlier row): a Flow reply is matched to its row by its `flow_token`.
    pub shared_flow_token: u64,
    pub first_shared_flow_token: Option<(u64, u64)>,
    pub to_send: RowSet,
    /// Of the rows to send, how many people's 24-hour window was open (with the margin) when the
    /// plan was made (`--events`); decided again for each row right before it is sent.
    pub in_window: Option<u64>,
    /// The hash of each body to send, in row order (8 bytes a row).
    checked: Vec<u64>,
    /// Where `--track` keys go, and the campaign they name.
    track: Option<TrackField>,
    campaign: String,
    hasher: foldhash::quality::FixedState,
}

impl Plan {
    /// The `extra_info` field `--track` writes, and the key it gets for row 2 (the first data
    /// row), for the plan.
    pub(crate) fn track_example(&self) -> Option<(&'static str, String)> {
        self.track.map(|field| (field.name(), track_key(&self.campaign, 2)))
    }
}

/// What the pre-flight tells its caller about one row, for printing.
pub(crate) enum PreflightEvent<'a> {
    Invalid {
        row: u64,
        problem: &'a Problem,
    },
    Warnings {
        row: u64,
        warnings: &'a [crate::compile::Warning],
    },
    Unreadable(&'a DataError),
}

/// The campaign's identity: the template text with its `--var` values, and the data file's bytes
/// (`None`: a dry run, whose journal is thrown away and never compared, reads the file once).
pub(crate) fn fingerprint(
    compiler: &MessageCompiler,
    vars: &[(String, String)],
    data: Option<&Path>,
) -> Result<Fingerprint, CampaignError> {
    let mut template = Sha256::new();
    template.update(compiler.template().source.text.as_bytes());
    // The values that take effect: the last `--var` for each key.
    let mut effective = std::collections::BTreeMap::new();
    for (key, value) in vars {
        effective.insert(key, value);
    }
    for (key, value) in effective {
        template.update(format!("\0{key}={value}").as_bytes());
    }
    // Which column each variable is read from (`--column`) decides the messages as the file does.
    for (var, column) in compiler.fields().mapping() {
        template.update(format!("\0column {var}={column}").as_bytes());
    }
    let Some(data) = data else {
        return Ok(Fingerprint {
            template: hex(&template.finalize()),
            data: String::new(),
        });
    };
    let unreadable = |reason: String| {
        CampaignError::Unreadable(Unreadable {
            what: "data file",
            path: data.display().to_string(),
            reason,
        })
    };
    let mut file = crate::input::open(data).map_err(|error| unreadable(error.to_string()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|error| unreadable(crate::input::io_reason(&error)))?;
    Ok(Fingerprint {
        template: hex(&template.finalize()),
        data: hex(&hasher.finalize()),
    })
}

/// The campaign's identity with an `--outside-window` template: its text is part of what the
/// rows are sent with.
pub(crate) fn fingerprint_with(
    compiler: &MessageCompiler,
    outside_window: Option<&MessageCompiler>,
    vars: &[(String, String)],
    data: Option<&Path>,
) -> Result<Fingerprint, CampaignError> {
    let mut fingerprint = fingerprint(compiler, vars, data)?;
    if let Some(template) = outside_window {
        let mut hash = Sha256::new();
        hash.update(fingerprint.template.as_bytes());
        hash.update(b"\0outside-window\0");
        hash.update(template.template().source.text.as_bytes());
        fingerprint.template = hex(&hash.finalize());
    }
    Ok(fingerprint)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Who this run may send to, beyond the rows' own validity.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Send rows whose delivery is unknown.
    pub resend_unknown: bool,
    /// Duplicates and the exclude list.
    pub guardrails: Guardrails,
    /// Send at most this many rows in this run.
    pub limit: Option<u64>,
    /// Reach at most this many more people in this run (what `--daily-limit` leaves).
    pub people: Option<u64>,
    /// Write a campaign-and-row key into this `extra_info` field of every message.
    pub track: Option<TrackField>,
    /// Who wrote to the business lately, and the margin their window is counted with: the plan
    /// counts the rows to send whose window is open.
    pub window: Option<(std::sync::Arc<super::window::Window>, i64)>,
    /// Rows the `--outside-window` template cannot be sent for, with why (see
    /// [`check_outside_window`]): they are invalid, whichever message they would get.
    pub template_invalid: std::collections::BTreeMap<u64, String>,
}

/// Why an excluded row is not sent, in the journal and the report.
const EXCLUDED: &str = "on the --exclude list";
/// Why an opted-out row is not sent, in the journal and the report.
const OPTED_OUT: &str = "opted out (a STOP reply in the event store)";

/// Where the pre-flight records each row: the journal the sending run goes on from, or, for a
/// dry run (whose journal is thrown away), straight into its report.
enum Recorder<'a> {
    Journal(super::journal::Preflight<'a>),
    Report(&'a mut Spool),
}

impl Recorder<'_> {
    fn record(&mut self, row: u64, keys: RowKeys, status: RowStatus, error: Option<&str>) -> Result<(), CampaignError> {
        match self {
            Recorder::Journal(batch) => Ok(batch.record(row, &keys, status, error)?),
            Recorder::Report(spool) => Ok(spool.add(row, keys.recipient, status, error)?),
        }
    }

    fn finish(self) -> Result<(), CampaignError> {
        match self {
            Recorder::Journal(batch) => Ok(batch.finish()?),
            Recorder::Report(_) => Ok(()),
        }
    }
}

/// Renders and validates every row (on every core), records it in the journal (a dry run: in
/// `dry_run`'s report), and decides what to send: rows never sent, pending or retryable, unless
/// they repeat an earlier row's recipient or are excluded, up to the limit; `unknown` ones only
/// with `resend_unknown`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn preflight(
    compiler: &MessageCompiler,
    rows: Rows,
    data: &Path,
    vars: &[(String, String)],
    journal: &mut Journal,
    dry_run: Option<&mut Spool>,
    mut selection: Selection,
    mut on_event: impl FnMut(PreflightEvent<'_>),
) -> Result<Plan, CampaignError> {
    // No row number can exceed the data file's size in bytes (+ the header's row).
    let max_row = std::fs::metadata(data).map_or(u64::MAX, |metadata| metadata.len() + 2);
    let before = journal.resume_index(max_row)?;
    let mut plan = Plan {
        valid: 0,
        invalid: 0,
        accepted_before: 0,
        unknown: 0,
        settled: 0,
        settled_not_sent: 0,
        template_change: journal.template_change().cloned(),
        duplicate: 0,
        excluded: 0,
        opted_out: 0,
        held: 0,
        held_daily: 0,
        shared_flow_token: 0,
        first_shared_flow_token: None,
        to_send: RowSet::default(),
        in_window: selection.window.as_ref().map(|_| 0),
        checked: Vec::new(),
        track: selection.track,
        campaign: journal.campaign_id().to_owned(),
        hasher: foldhash::quality::FixedState::with_seed(fastrand::u64(..)),
    };
    // A dry run sends nothing: no body is checked again before sending.
    let sending = dry_run.is_none();
    let mut batch = match dry_run {
        Some(spool) => Recorder::Report(spool),
        None => Recorder::Journal(journal.preflight()?),
    };
    let mut failure: Option<CampaignError> = None;
    let workers = std::thread::available_parallelism().map_or(0, |cores| usize::from(cores) - 1);
    let prepare = |row: &mut data::Row| compiler.apply_overrides(row, vars);
    let hasher = plan.hasher.clone();
    // The keys and the hash are taken on the worker that compiled the body: the calling thread
    // already reads the file and writes the journal. The keys come from the render itself; a
    // body it cannot tell them for is read again.
    let inspect = |body: &[u8], keys: Option<BodyKeys>| {
        let keys = keys.map_or_else(|| keys_of(body), RowKeys::from);
        (keys, if sending { hasher.hash_one(body) } else { 0 })
    };
    let campaign = plan.campaign.clone();
    // A 64-bit hash of each token, not the token, in the table the numbers are kept in: about
    // 16 bytes a row whatever the tokens' length. Its rows are not kept: the plan names one
    // shared pair, found from the rows that brought a new token (one bit a row).
    let mut tokens = KeyTable::default();
    let mut token_rows = RowBits::default();
    let mut first_shared: Option<(u64, u32)> = None;
    let token_hasher = foldhash::quality::FixedState::with_seed(fastrand::u64(..));
    let now = jiff::Timestamp::now().as_second();
    compile_in_order_with(compiler, rows, workers, prepare, inspect, |outcome, inspected| {
        let recorded = match outcome {
            RowOutcome::Body { row, .. } if selection.template_invalid.contains_key(&row) => {
                plan.invalid += 1;
                let problem = selection.template_invalid.get(&row).map(String::as_str);
                batch.record(row, RowKeys::default(), RowStatus::Invalid, problem)
            }
            RowOutcome::Body { row, warnings, .. } => {
                if !warnings.is_empty() {
                    on_event(PreflightEvent::Warnings {
                        row,
                        warnings: &warnings,
                    });
                }
                plan.valid += 1;
                let (mut keys, hash) = inspected.unwrap_or_default();
                if let Some(field) = selection.track {
                    if keys.refs[field.index()].is_some() {
                        failure = Some(CampaignError::TrackedFieldSet {
                            field: field.name(),
                            row,
                        });
                        return Flow::Stop;
                    }
                    let key = track_key(&campaign, row);
                    keys.refs[field.index()] = Some(key.clone());
                    keys.track = Some(key);
                }
                if let Some(token) = &keys.flow_token {
                    let before = tokens.len();
                    match tokens.index_or_insert(token_hasher.hash_one(token)) {
                        Some(index) => {
                            plan.shared_flow_token += 1;
                            first_shared.get_or_insert((row, index));
                        }
                        None if tokens.len() > before => {
                            token_rows.push(row);
                        }
                        None => {}
                    }
                }
                let recipient = keys.recipient.as_str();
                // Every row claims its numbers in file order, whatever an earlier run did with it.
                let verdict = selection.guardrails.judge(row, recipient);
                let mut status = RowStatus::Pending;
                let mut reason = None;
                let mut send = match before.get(row) {
                    Some(RowStatus::Accepted) => {
                        plan.accepted_before += 1;
                        false
                    }
                    Some(RowStatus::Failed) => false,
                    // A person who asked not to be messaged, or was excluded, stays so on every
                    // later run, whether or not it names the store or the list again.
                    Some(RowStatus::Excluded) => {
                        plan.excluded += 1;
                        status = RowStatus::Excluded;
                        reason = Some(EXCLUDED.to_owned());
                        false
                    }
                    Some(RowStatus::OptedOut) => {
                        plan.opted_out += 1;
                        status = RowStatus::OptedOut;
                        reason = Some(OPTED_OUT.to_owned());
                        false
                    }
                    Some(RowStatus::Unknown | RowStatus::Sending) => {
                        plan.unknown += 1;
                        selection.resend_unknown && verdict == Verdict::Send
                    }
                    None
                    | Some(RowStatus::Pending | RowStatus::Invalid | RowStatus::Retryable | RowStatus::Duplicate) => {
                        match verdict {
                            Verdict::Send => true,
                            Verdict::Duplicate { of_row } => {
                                plan.duplicate += 1;
                                status = RowStatus::Duplicate;
                                reason = Some(format!("duplicate of row {of_row}"));
                                false
                            }
                            Verdict::Excluded => {
                                plan.excluded += 1;
                                status = RowStatus::Excluded;
                                reason = Some(EXCLUDED.to_owned());
                                false
                            }
                            Verdict::OptedOut => {
                                plan.opted_out += 1;
                                status = RowStatus::OptedOut;
                                reason = Some(OPTED_OUT.to_owned());
                                false
                            }
                        }
                    }
                };
                if send && selection.limit.is_some_and(|limit| plan.to_send.count() >= limit) {
                    plan.held += 1;
                    send = false;
                }
                if send {
                    if let Some(people) = selection.people.as_mut() {
                        let reaches = recipient.split(',').count() as u64;
                        if reaches > *people {
                            plan.held_daily += 1;
                            send = false;
                        } else {
                            *people -= reaches;
                        }
                    }
                }
                if send {
                    plan.to_send.insert(row);
                    if sending {
                        plan.checked.push(hash);
                    }
                    if let (Some(in_window), Some((window, margin))) = (plan.in_window.as_mut(), &selection.window) {
                        let recipients = super::guardrails::recipient_keys(recipient);
                        *in_window += u64::from(window.is_open(&recipients, now, *margin));
                    }
                }
                batch.record(row, keys, status, reason.as_deref())
            }
            RowOutcome::Invalid { row, problem } => {
                on_event(PreflightEvent::Invalid { row, problem: &problem });
                plan.invalid += 1;
                batch.record(
                    row,
                    RowKeys::default(),
                    RowStatus::Invalid,
                    Some(&problem_text(compiler, &problem)),
                )
            }
            RowOutcome::Unreadable(error) => {
                on_event(PreflightEvent::Unreadable(&error));
                if !error.is_row_error() {
                    failure = Some(CampaignError::Broken);
                    return Flow::Stop;
                }
                match &error {
                    DataError::BadRow { row, .. } => {
                        plan.invalid += 1;
                        batch.record(*row, RowKeys::default(), RowStatus::Invalid, Some(&error.to_string()))
                    }
                    _ => Ok(()),
                }
            }
        };
        match recorded {
            Ok(()) => Flow::Continue,
            Err(error) => {
                failure = Some(error);
                Flow::Stop
            }
        }
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    batch.finish()?;
    plan.first_shared_flow_token = first_shared.and_then(|(row, index)| Some((row, token_rows.nth(u64::from(index))?)));
    Ok(plan)
}

/// Renders every row with the `--outside-window` template (from the same data file, with the
/// same values), reporting what is wrong through `on_event`; returns the rows it cannot be
/// sent for, with why, for the pre-flight to record invalid.
pub(crate) fn check_outside_window(
    template: &MessageCompiler,
    rows: Rows,
    vars: &[(String, String)],
    mut on_event: impl FnMut(PreflightEvent<'_>),
) -> Result<std::collections::BTreeMap<u64, String>, CampaignError> {
    let mut invalid = std::collections::BTreeMap::new();
    let mut broken = false;
    let workers = std::thread::available_parallelism().map_or(0, |cores| usize::from(cores) - 1);
    let prepare = |row: &mut data::Row| template.apply_overrides(row, vars);
    compile_in_order(template, rows, workers, prepare, |outcome| {
        match outcome {
            RowOutcome::Body { row, warnings, .. } => {
                if !warnings.is_empty() {
                    on_event(PreflightEvent::Warnings {
                        row,
                        warnings: &warnings,
                    });
                }
            }
            RowOutcome::Invalid { row, problem } => {
                on_event(PreflightEvent::Invalid { row, problem: &problem });
                invalid.insert(
                    row,
                    format!("--outside-window template: {}", problem_text(template, &problem)),
                );
            }
            // The Flow message's pre-flight reads the same file and reports what is unreadable.
            RowOutcome::Unreadable(error) => {
                if !error.is_row_error() {
                    broken = true;
                    return Flow::Stop;
                }
            }
        }
        Flow::Continue
    });
    if broken {
        return Err(CampaignError::Broken);
    }
    Ok(invalid)
}

/// A problem as one line, for the journal and the report.
fn problem_text(compiler: &MessageCompiler, problem: &Problem) -> String {
    crate::diagnostic::Finding::from_problem(compiler.template(), None, problem)
        .into_iter()
        .map(|finding| finding.message().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders the rows to send into jobs, on its own thread; blocks when the queue is full, so
/// memory stays flat. A body that is not the one the pre-flight checked is not sent.
pub(crate) fn produce(
    (compiler, outside_window): (&MessageCompiler, Option<(&MessageCompiler, Rows)>),
    rows: Rows,
    vars: &[(String, String)],
    plan: &Plan,
    jobs: &mpsc::Sender<Job>,
    stop: &StopSignal,
    journal: &JournalHandle,
) {
    let mut checked = plan.checked.iter();
    // The template reads the same file with its own variables: its rows are taken in step.
    let (template_compiler, mut template_rows) = match outside_window {
        Some((compiler, rows)) => (Some(compiler), Some(rows.filter_map(Result::ok).peekable())),
        None => (None, None),
    };
    for row in rows {
        if stop.is_set() {
            return;
        }
        let Ok(mut row) = row else { continue };
        if !plan.to_send.contains(row.number) {
            continue;
        }
        let expected = checked.next();
        compiler.apply_overrides(&mut row, vars);
        let number = row.number;
        // The template for the same row, rendered from the same values (the pre-flight checked
        // it renders).
        let template = template_compiler
            .zip(template_rows.as_mut())
            .and_then(|(template, rows)| {
                while rows.next_if(|next| next.number < number).is_some() {}
                let mut same_row = rows.next_if(|next| next.number == number)?;
                template.apply_overrides(&mut same_row, vars);
                let mut body = Vec::with_capacity(1024);
                template.compile_row_into(same_row, &mut body).ok().map(|_| body)
            });
        let mut body = Vec::with_capacity(1024);
        let unchanged = compiler.compile_row_into(row, &mut body).is_ok()
            && expected == Some(&plan.hasher.hash_one(&body[..]))
            && (template_compiler.is_none() || template.is_some());
        if unchanged {
            let recipients = super::guardrails::recipient_keys(&recipient_of(&body));
            let tracked = |body: Vec<u8>| match (plan.track, &plan.campaign) {
                (Some(field), campaign) => with_extra_info(&body, field.name(), &track_key(campaign, number)),
                (None, _) => body,
            };
            if jobs
                .blocking_send(Job {
                    row: number,
                    body: tracked(body),
                    message: compiler.template().kind,
                    outside_window: template.map(tracked),
                    recipients,
                })
                .is_err()
            {
                return;
            }
        } else {
            let record = Record {
                error: Some("the row changed after the pre-flight; not sent".to_owned()),
                ..Record::default()
            };
            if journal.outcome(number, RowStatus::Invalid, record).is_err() {
                return;
            }
            // The file under the campaign is being rewritten: what follows cannot be trusted
            // either, and a run that goes on would end as if all were well.
            stop.request(StopCause::DataChanged { row: number });
            return;
        }
    }
}

/// Opens the data file for sending, on the producer's thread.
pub(crate) fn reopen(
    compiler: &MessageCompiler,
    data: &Path,
    delimiter: Option<u8>,
    stop: &StopSignal,
) -> Option<Rows> {
    match data::open(data, compiler.fields(), delimiter) {
        Ok(rows) => Some(rows),
        Err(error) => {
            stop.request(StopCause::Data(error));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_set_counts_each_row_once() {
        let mut set = RowSet::default();
        for row in [2, 70, 2, 1_000] {
            set.insert(row);
        }
        assert_eq!(set.count(), 3);
        assert!(set.contains(70) && set.contains(1_000) && !set.contains(3));
    }
}
