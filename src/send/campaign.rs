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
use crate::pipeline::{compile_in_order_with, Flow, MessageCompiler, Problem, RowOutcome};

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
    let unreadable = |reason: String| CampaignError::Unreadable {
        path: data.display().to_string(),
        reason,
    };
    let mut file = crate::input::open(data).map_err(|error| unreadable(error.to_string()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|error| unreadable(crate::input::io_reason(&error)))?;
    Ok(Fingerprint {
        template: hex(&template.finalize()),
        data: hex(&hasher.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The recipient of a compiled body: `messaging_object.to`.
///
/// The body is compact JSON that flowc itself wrote, so a byte scan suffices: it skips values
/// without decoding them (serde's reader validates and decodes every string it skips, which
/// cost more than compiling the body). `to` is `+`, digits and commas; anything else (an
/// escape) falls back to serde.
fn recipient_of(body: &[u8]) -> String {
    fast_recipient(body).unwrap_or_else(|| {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|body| body.pointer("/messaging_object/to")?.as_str().map(str::to_owned))
            .unwrap_or_default()
    })
}

fn fast_recipient(body: &[u8]) -> Option<String> {
    let object = value_of_key(body, b"messaging_object")?;
    let to = value_of_key(object, b"to")?;
    let text = to.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if text
        .iter()
        .all(|&byte| byte.is_ascii_digit() || byte == b'+' || byte == b',')
    {
        String::from_utf8(text.to_vec()).ok()
    } else {
        None
    }
}

/// The raw value of `key` in the compact JSON object `object` (top level only).
fn value_of_key<'a>(object: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut at = 1; // past `{`
    if object.first() != Some(&b'{') {
        return None;
    }
    loop {
        let key_end = string_end(object, at)?;
        let found = &object[at + 1..key_end - 1];
        if object.get(key_end) != Some(&b':') {
            return None;
        }
        let value_start = key_end + 1;
        let value_end = value_end(object, value_start)?;
        if found == key {
            return Some(&object[value_start..value_end]);
        }
        match object.get(value_end) {
            Some(b',') => at = value_end + 1,
            _ => return None,
        }
    }
}

/// The index just past the string starting at `start` (which must be `"`).
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    if text.get(start) != Some(&b'"') {
        return None;
    }
    let mut index = start + 1;
    while index < text.len() {
        match text[index] {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// The index just past the value starting at `start`.
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut index = start;
            while index < text.len() {
                match text[index] {
                    b'"' => {
                        index = string_end(text, index)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(index + 1);
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
            None
        }
        _ => {
            let length = text[start..]
                .iter()
                .position(|&byte| matches!(byte, b',' | b'}' | b']'))?;
            Some(start + length)
        }
    }
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
    let hasher = plan.hasher.clone();
    // The recipient and the hash are taken on the worker that compiled the body: the calling
    // thread already reads the file and writes the journal.
    let inspect = |body: &[u8]| (recipient_of(body), hasher.hash_one(body));
    compile_in_order_with(compiler, rows, workers, prepare, inspect, |outcome, inspected| {
        let recorded = match outcome {
            RowOutcome::Body { row, warnings, .. } => {
                if !warnings.is_empty() {
                    on_event(PreflightEvent::Warnings {
                        row,
                        warnings: &warnings,
                    });
                }
                plan.valid += 1;
                let (recipient, hash) = inspected.unwrap_or_default();
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
                    plan.checked.push(hash);
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
pub fn reopen(compiler: &MessageCompiler, data: &Path, delimiter: Option<u8>, stop: &StopSignal) -> Option<Rows> {
    match data::open(data, compiler.var_names(), compiler.required(), delimiter) {
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
    fn the_recipient_is_found_wherever_to_sits() {
        let bodies = [
            r#"{"messaging_object":{"messaging_product":"whatsapp","to":"+14155550100","interactive":{"x":[1,{"to":"no"}]}}}"#,
            r#"{"extra_info":{"ref":"a\"b}{"},"messaging_object":{"interactive":{"action":{"parameters":{"flow_action_payload":{"data":{"to":"+1"}}}}},"to":"+14155550100,+14155550101"}}"#,
        ];
        assert_eq!(recipient_of(bodies[0].as_bytes()), "+14155550100");
        assert_eq!(recipient_of(bodies[1].as_bytes()), "+14155550100,+14155550101");
        assert_eq!(recipient_of(br#"{"messaging_object":{"to":"+1\u0030"}}"#), "+10");
        assert_eq!(recipient_of(b"not json"), "");
    }

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
