//! The campaign report: one CSV line per data row, written from the journal, and the summary.
//!
//! Columns: `row,to,status,http_status,code,message_id,attempts,error,run,sent_at,message`, where status
//! is `accepted` (by this run or an earlier one: the report describes the campaign, and `run`
//! says which run sent it), `failed`, `invalid`, `pending`, `duplicate` (the recipient of an
//! earlier row), `excluded` (in `--exclude`), `opted-out` or `unknown` (in flight when a run
//! died, or no answer after the request was written: delivery unknown). `run` and `sent_at`
//! (when its last request left) are empty for a row never sent; `message` says which message
//! its last request carried (`flow` or `template`, see `--outside-window`).
//!
//! Every text field that a spreadsheet could take for a formula (leading `=`, `+`, `-`, `@`, tab
//! or carriage return: CSV injection) gets a leading `'`, whoever wrote it: the data file or the
//! provider's answer. The numbers flowc writes itself, and `to` (a checked E.164 list: `+` and
//! digits only), are left as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::journal::{Journal, JournalError, JournalRow, RowStatus};
use crate::csv_out::{csv_writer, text_cell};
use crate::words::thousands;

pub(crate) const HEADER: [&str; 11] = [
    "row",
    "to",
    "status",
    "http_status",
    "code",
    "message_id",
    "attempts",
    "error",
    "run",
    "sent_at",
    "message",
];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub accepted: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Failed rows by provider code (or `HTTP 503`, or `no answer`).
    pub failed_codes: BTreeMap<String, u64>,
    pub retryable: u64,
    pub invalid: u64,
    pub pending: u64,
    pub unknown: u64,
    pub duplicate: u64,
    pub excluded: u64,
    pub opted_out: u64,
}

impl Summary {
    /// Whether every valid row has been accepted, by this run or an earlier one.
    pub(crate) fn all_accepted(&self) -> bool {
        self.failed == 0 && self.pending == 0 && self.unknown == 0
    }

    fn add(&mut self, line: &JournalRow) -> &'static str {
        match line.status {
            // This run's summary counts it apart; the campaign's report calls it what it is.
            RowStatus::Accepted if line.earlier_run => {
                self.skipped += 1;
                "accepted"
            }
            RowStatus::Accepted => {
                self.accepted += 1;
                "accepted"
            }
            RowStatus::Failed | RowStatus::Retryable => {
                self.failed += 1;
                if line.status == RowStatus::Retryable {
                    self.retryable += 1;
                }
                let code = match (&line.record.code, line.record.http_status) {
                    (Some(code), _) => code.clone(),
                    (None, Some(status)) => format!("HTTP {status}"),
                    (None, None) => "no answer".to_owned(),
                };
                *self.failed_codes.entry(code).or_default() += 1;
                "failed"
            }
            RowStatus::Invalid => {
                self.invalid += 1;
                "invalid"
            }
            RowStatus::Pending => {
                self.pending += 1;
                "pending"
            }
            RowStatus::Unknown | RowStatus::Sending => {
                self.unknown += 1;
                "unknown"
            }
            RowStatus::Duplicate => {
                self.duplicate += 1;
                "duplicate"
            }
            RowStatus::Excluded => {
                self.excluded += 1;
                "excluded"
            }
            RowStatus::OptedOut => {
                self.opted_out += 1;
                "opted-out"
            }
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![format!("{} accepted", thousands(self.accepted))];
        if self.skipped > 0 {
            parts.push(format!("{} skipped (accepted earlier)", thousands(self.skipped)));
        }
        if self.failed > 0 {
            let codes: Vec<String> = self
                .failed_codes
                .iter()
                .map(|(code, count)| {
                    if self.failed_codes.len() == 1 {
                        code.clone()
                    } else {
                        format!("{code}: {}", thousands(*count))
                    }
                })
                .collect();
            parts.push(format!("{} failed ({})", thousands(self.failed), codes.join(", ")));
        }
        if self.invalid > 0 {
            parts.push(format!("{} invalid", thousands(self.invalid)));
        }
        if self.duplicate > 0 {
            parts.push(format!("{} duplicate", thousands(self.duplicate)));
        }
        if self.excluded > 0 {
            parts.push(format!("{} excluded", thousands(self.excluded)));
        }
        if self.opted_out > 0 {
            parts.push(format!("{} opted-out", thousands(self.opted_out)));
        }
        if self.pending > 0 {
            parts.push(format!("{} pending", thousands(self.pending)));
        }
        if self.unknown > 0 {
            parts.push(format!("{} unknown", thousands(self.unknown)));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Columns a later stage adds after the journal's (the delivery columns of `flowc report`).
pub(crate) trait ExtraColumns {
    fn names(&self) -> &[&'static str];
    /// The cells of `row`, pushed onto `cells`.
    fn cells(&self, row: u64, cells: &mut Vec<String>);
}

/// Writes the report (as [`crate::outputs`] writes every file: whole or not at all, never
/// through a link or over a device; `-` is standard output) and returns the summary.
pub(crate) fn write(journal: &Journal, path: &Path) -> Result<Summary, ReportError> {
    write_with(journal, path, None)
}

/// [`write`], with columns added to each line.
pub(crate) fn write_with(
    journal: &Journal,
    path: &Path,
    extra: Option<&dyn ExtraColumns>,
) -> Result<Summary, ReportError> {
    let io = |error: std::io::Error| ReportError::Io(path.display().to_string(), error);
    let mut out = std::io::BufWriter::new(crate::outputs::Output::create(path).map_err(io)?);
    let summary = write_to(journal, &mut out, extra).map_err(|error| match error {
        ReportError::Io(_, error) => io(error),
        other @ ReportError::Journal(_) => other,
    })?;
    out.into_inner()
        .map_err(|error| io(error.into_error()))?
        .finish()
        .map_err(io)?;
    Ok(summary)
}

/// The report to any writer (`flowc report --out -`: standard output). An I/O error names no
/// file (`ReportError::Io` with an empty path): the caller knows where it was writing.
pub(crate) fn write_to(
    journal: &Journal,
    out: &mut dyn std::io::Write,
    extra: Option<&dyn ExtraColumns>,
) -> Result<Summary, ReportError> {
    let mut writer = csv_writer(out);
    let io = csv_io;
    let mut header: Vec<&str> = HEADER.to_vec();
    header.extend(extra.map(ExtraColumns::names).unwrap_or_default());
    writer
        .write_record(&header)
        .map_err(|error| ReportError::Io(String::new(), io(error)))?;
    let mut summary = Summary::default();
    let mut cells: Vec<String> = Vec::with_capacity(header.len());
    let mut failed = None;
    journal
        .for_each_row(|line| {
            let row = line.row;
            cells_of(line, &mut summary, &mut cells);
            if let Some(extra) = extra {
                extra.cells(row, &mut cells);
            }
            writer.write_record(&cells).map_err(|error| {
                let error = io(error);
                let copy = std::io::Error::new(error.kind(), error.to_string());
                failed = Some(error);
                copy
            })
        })
        .map_err(|error| match failed.take() {
            Some(io_error) => ReportError::Io(String::new(), io_error),
            None => ReportError::Journal(error),
        })?;
    writer.flush().map_err(|error| ReportError::Io(String::new(), error))?;
    Ok(summary)
}

/// A row's cells as the report writes them (counted in `summary`), in place of `cells`.
fn cells_of(line: JournalRow, summary: &mut Summary, cells: &mut Vec<String>) {
    let status = summary.add(&line);
    cells.clear();
    cells.extend([
        line.row.to_string(),
        recipient_cell(line.recipient),
        status.to_owned(),
        line.record.http_status.map(|s| s.to_string()).unwrap_or_default(),
        text_cell(line.record.code.unwrap_or_default()),
        text_cell(line.record.message_id.unwrap_or_default()),
        line.record.attempts.to_string(),
        text_cell(line.record.error.unwrap_or_default()),
        if line.record.attempts > 0 {
            line.run.to_string()
        } else {
            String::new()
        },
        line.sent_at.map(crate::words::utc_time).unwrap_or_default(),
        // Recorded as the request was about to leave: a row held back then (a STOP just
        // in) got no message.
        if line.record.attempts > 0 {
            text_cell(line.message.unwrap_or_default())
        } else {
            String::new()
        },
    ]);
}

/// A dry run's report, written as its pre-flight decides each row: a dry run's journal is
/// thrown away, so its rows need not go into SQLite and be read back. The lines wait in an
/// unnamed temporary file (memory stays flat for any number of rows) until the plan is shown,
/// then go to the report as [`write`] writes it: whole or not at all.
///
/// A row the pre-flight decided was never sent, so most of its cells are empty: each line is
/// written as the report's CSV writer writes it (numbers bare, text quoted) without asking
/// the writer to read every cell as a number.
pub(crate) struct Spool {
    file: std::io::BufWriter<std::fs::File>,
    summary: Summary,
    line: Vec<u8>,
}

impl Spool {
    /// An empty report (its header written) in a temporary file.
    pub(crate) fn new() -> Result<Spool, ReportError> {
        let file = tempfile::tempfile().map_err(spool_error)?;
        let mut spool = Spool {
            file: std::io::BufWriter::with_capacity(64 * 1024, file),
            summary: Summary::default(),
            line: Vec::with_capacity(256),
        };
        for (index, name) in HEADER.iter().enumerate() {
            if index > 0 {
                spool.line.push(b',');
            }
            csv_cell(&mut spool.line, name);
        }
        spool.line.push(b'\n');
        std::io::Write::write_all(&mut spool.file, &spool.line).map_err(spool_error)?;
        Ok(spool)
    }

    /// Adds a row the pre-flight decided (rows come in row order, as the journal reads them).
    pub(crate) fn add(
        &mut self,
        row: u64,
        recipient: String,
        status: RowStatus,
        error: Option<&str>,
    ) -> Result<(), ReportError> {
        let line = JournalRow {
            row,
            recipient,
            status,
            record: super::journal::Record {
                error: error.map(str::to_owned),
                ..super::journal::Record::default()
            },
            earlier_run: false,
            run: 1,
            sent_at: None,
            message: None,
        };
        let status = self.summary.add(&line);
        let out = &mut self.line;
        out.clear();
        let _ = std::io::Write::write_fmt(out, format_args!("{row},"));
        csv_cell(out, &recipient_cell(line.recipient));
        out.push(b',');
        csv_cell(out, status);
        // http_status, code, message_id, attempts: never sent.
        out.extend_from_slice(b",\"\",\"\",\"\",0,");
        csv_cell(out, &text_cell(line.record.error.unwrap_or_default()));
        // run, sent_at, message: never sent.
        out.extend_from_slice(b",\"\",\"\",\"\"\n");
        std::io::Write::write_all(&mut self.file, out).map_err(spool_error)
    }

    /// Writes the report to `path` and returns its summary.
    pub(crate) fn write(self, path: &Path) -> Result<Summary, ReportError> {
        use std::io::{Seek as _, Write as _};
        let io = |error: std::io::Error| ReportError::Io(path.display().to_string(), error);
        let Spool { file, summary, .. } = self;
        let mut file = file.into_inner().map_err(|error| io(error.into_error()))?;
        file.rewind().map_err(io)?;
        let mut out = crate::outputs::Output::create(path).map_err(io)?;
        std::io::copy(&mut file, &mut out).map_err(io)?;
        out.flush().map_err(io)?;
        out.finish().map_err(io)?;
        Ok(summary)
    }
}

fn spool_error(error: std::io::Error) -> ReportError {
    ReportError::Io("(a temporary file)".to_owned(), error)
}

/// A cell as the report's CSV writer writes it ([`csv_writer`]: `QuoteStyle::NonNumeric`):
/// bare when it reads as a number, else quoted with its quotes doubled.
fn csv_cell(out: &mut Vec<u8>, text: &str) {
    // `+` and digits (a recipient) read as a number without asking the parser.
    let plain_number = text.len() > 1
        && text.starts_with('+')
        && text.len() <= 20
        && text.bytes().skip(1).all(|byte| byte.is_ascii_digit());
    if plain_number || (!text.is_empty() && (text.parse::<f64>().is_ok() || text.parse::<i128>().is_ok())) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for piece in text.split_inclusive('"') {
        out.extend_from_slice(piece.as_bytes());
        if piece.ends_with('"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

/// The I/O error under a CSV writer's.
fn csv_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// `to` as compiled is `+` and digits (several joined by commas): no formula can hide in it.
fn recipient_cell(to: String) -> String {
    if to.chars().all(|c| c.is_ascii_digit() || c == '+' || c == ',') {
        to
    } else {
        text_cell(to)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("cannot write the report `{0}`: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_leading_text_is_neutralised_but_phone_numbers_are_not() {
        assert_eq!(text_cell("=HYPERLINK(\"x\")".to_owned()), "'=HYPERLINK(\"x\")");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(text_cell(lead.to_owned()).starts_with('\''), "{lead:?}");
        }
        // A control character is shown, not kept: it cannot start a formula nor act on a terminal.
        assert_eq!(text_cell("\rx\u{1b}[2J".to_owned()), "?x?[2J");
        assert_eq!(
            text_cell("Refer to correct payload".to_owned()),
            "Refer to correct payload"
        );
        assert_eq!(
            recipient_cell("+14155550100,+14155550101".to_owned()),
            "+14155550100,+14155550101"
        );
        assert_eq!(recipient_cell("+1=cmd".to_owned()), "'+1=cmd");
    }

    #[test]
    fn summary_line_names_failure_codes() {
        let mut summary = Summary {
            accepted: 9998,
            failed: 1,
            invalid: 1,
            ..Summary::default()
        };
        summary.failed_codes.insert("WA400".to_owned(), 1);
        assert_eq!(summary.to_string(), "9,998 accepted, 1 failed (WA400), 1 invalid");
        assert!(!summary.all_accepted());
    }

    #[test]
    fn a_dry_runs_report_is_written_as_the_journals_report_would_be() {
        use crate::send::journal::{Fingerprint, RowKeys};
        let rows: [(u64, &str, RowStatus, Option<&str>); 9] = [
            (2, "+14155550100", RowStatus::Pending, None),
            (3, "", RowStatus::Invalid, Some("`name` is \"=1+1\", a formula")),
            (4, "+14155550100,+14155550101", RowStatus::Pending, None),
            (5, "+14155550100", RowStatus::Duplicate, Some("duplicate of row 2")),
            (6, "", RowStatus::Invalid, Some("123")),
            (7, "", RowStatus::Invalid, Some("-1 is\nbelow \u{1b}[2J the least")),
            (8, "+919876543210", RowStatus::Excluded, Some("on the --exclude list")),
            (9, "+919876543211", RowStatus::OptedOut, Some("opted out")),
            (10, "", RowStatus::Invalid, Some("NaN")),
        ];
        let fingerprint = Fingerprint {
            template: "t".to_owned(),
            data: "d".to_owned(),
        };
        let mut journal = Journal::open(None, &fingerprint, false).expect("temporary journal");
        let mut batch = journal.preflight().expect("batch");
        let mut spool = Spool::new().expect("spool");
        for (row, to, status, error) in rows {
            batch
                .record(row, &RowKeys::recipient(to), status, error)
                .expect("journal row");
            spool.add(row, to.to_owned(), status, error).expect("spooled row");
        }
        batch.finish().expect("commit");
        let mut from_journal = Vec::new();
        let journal_summary = write_to(&journal, &mut from_journal, None).expect("report");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dry-run.csv");
        let spool_summary = spool.write(&path).expect("written");
        assert_eq!(
            String::from_utf8(std::fs::read(&path).expect("read")).expect("text"),
            String::from_utf8(from_journal).expect("text")
        );
        assert_eq!(spool_summary, journal_summary);
    }
}
