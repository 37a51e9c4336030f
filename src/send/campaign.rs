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

use super::journal::{Fingerprint, Journal, JournalError, JournalHandle, Record, RowStatus};
use super::{Job, StopCause, StopSignal};
use crate::data::{self, DataError, Rows};
use crate::pipeline::{compile_in_order, Flow, MessageCompiler, Problem, RowOutcome};

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("cannot read data file `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The data file could not be read to its end (reported through the callback).
    #[error("the data file could not be read to its end")]
    Broken,
}

/// Which rows this run sends: one bit a row number.
#[derive(Debug, Default)]
pub struct RowSet {
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

    pub fn contains(&self, row: u64) -> bool {
        self.bits
            .get((row / 64) as usize)
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// What the pre-flight found and decided.
#[derive(Debug)]
pub struct Plan {
    pub valid: u64,
    pub invalid: u64,
    pub accepted_before: u64,
    pub unknown: u64,
    pub to_send: RowSet,
    /// The hash of each body to send, in row order (8 bytes a row).
    checked: Vec<u64>,
    hasher: std::hash::RandomState,
}

/// What the pre-flight tells its caller about one row, for printing.
pub enum PreflightEvent<'a> {
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

/// The campaign's identity: the template text with its `--var` values, and the data file's bytes.
pub fn fingerprint(
    compiler: &MessageCompiler,
    vars: &[(String, String)],
    data: &Path,
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
    let unreadable = |error: std::io::Error| CampaignError::Unreadable {
        path: data.display().to_string(),
        reason: crate::template::io_reason(&error),
    };
    let mut file = std::fs::File::open(data).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok(Fingerprint {
        template: hex(&template.finalize()),
        data: hex(&hasher.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The recipient of a compiled body.
#[derive(serde::Deserialize)]
struct Recipient {
    messaging_object: RecipientField,
}

#[derive(serde::Deserialize)]
struct RecipientField {
    to: String,
}

/// Renders and validates every row (on every core), records it in the journal, and decides
/// what to send: rows never sent, pending or retryable; `unknown` ones only with
/// `resend_unknown`.
pub fn preflight(
    compiler: &MessageCompiler,
    rows: Rows,
    data: &Path,
    vars: &[(String, String)],
    journal: &mut Journal,
    resend_unknown: bool,
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
        to_send: RowSet::default(),
        checked: Vec::new(),
        hasher: std::hash::RandomState::new(),
    };
    let mut batch = journal.preflight()?;
    let mut failure: Option<CampaignError> = None;
    let workers = std::thread::available_parallelism().map_or(0, |cores| usize::from(cores) - 1);
    let prepare = |row: &mut data::Row| compiler.apply_overrides(row, vars);
    compile_in_order(compiler, rows, workers, prepare, |outcome| {
        let recorded = match outcome {
            RowOutcome::Body { row, body, warnings } => {
                if !warnings.is_empty() {
                    on_event(PreflightEvent::Warnings {
                        row,
                        warnings: &warnings,
                    });
                }
                plan.valid += 1;
                // Only `to` is read back; serde skips the rest of the body without building it.
                let recipient = serde_json::from_slice::<Recipient>(body)
                    .map(|peek| peek.messaging_object.to)
                    .unwrap_or_default();
                let send = match before.get(row) {
                    None | Some(RowStatus::Pending | RowStatus::Invalid | RowStatus::Retryable) => true,
                    Some(RowStatus::Unknown | RowStatus::Sending) => {
                        plan.unknown += 1;
                        resend_unknown
                    }
                    Some(RowStatus::Accepted) => {
                        plan.accepted_before += 1;
                        false
                    }
                    Some(RowStatus::Failed) => false,
                };
                if send {
                    plan.to_send.insert(row);
                    plan.checked.push(plan.hasher.hash_one(body));
                }
                batch.record(row, &recipient, None)
            }
            RowOutcome::Invalid { row, problem } => {
                on_event(PreflightEvent::Invalid { row, problem: &problem });
                plan.invalid += 1;
                batch.record(row, "", Some(&problem_text(compiler, &problem)))
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
                        batch.record(*row, "", Some(&error.to_string()))
                    }
                    _ => Ok(()),
                }
            }
        };
        match recorded {
            Ok(()) => Flow::Continue,
            Err(error) => {
                failure = Some(error.into());
                Flow::Stop
            }
        }
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    batch.finish()?;
    Ok(plan)
}

/// A problem as one line, for the journal and the report.
fn problem_text(compiler: &MessageCompiler, problem: &Problem) -> String {
    crate::diagnostic::Finding::from_problem(compiler.template(), None, problem)
        .into_iter()
        .map(|finding| finding.message)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders the rows to send into jobs, on its own thread; blocks when the queue is full, so
/// memory stays flat. A body that is not the one the pre-flight checked is not sent.
pub fn produce(
    compiler: &MessageCompiler,
    rows: Rows,
    vars: &[(String, String)],
    plan: &Plan,
    jobs: &mpsc::Sender<Job>,
    stop: &StopSignal,
    journal: &JournalHandle,
) {
    let mut checked = plan.checked.iter();
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
        let mut body = Vec::with_capacity(1024);
        let unchanged =
            compiler.compile_row_into(row, &mut body).is_ok() && expected == Some(&plan.hasher.hash_one(&body[..]));
        if unchanged {
            if jobs.blocking_send(Job { row: number, body }).is_err() {
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
        }
    }
}

/// Opens the data file for sending, on the producer's thread.
pub fn reopen(compiler: &MessageCompiler, data: &Path, stop: &StopSignal) -> Option<Rows> {
    match data::open(data, compiler.var_names(), compiler.required()) {
        Ok(rows) => Some(rows),
        Err(error) => {
            stop.request(StopCause::Data(error.to_string()));
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
