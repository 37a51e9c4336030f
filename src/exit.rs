//! Exit codes, and the one place that decides which error ends a run with which code (as
//! `just`'s `Error::code()`): each error type says its status here, and the commands ask.
//!
//! What each code means is [`CODES`], the one table `--help` and the manual print.

use crate::data::DataError;
use crate::outputs::OutputError;
use crate::receive::{ReceiveError, StoreError};
use crate::report::{DeliveryError, EventsError as StoreReadError};
use crate::send::account::AccountError;
use crate::send::campaign::CampaignError;
use crate::send::csv_report::ReportError;
use crate::send::guardrails::ExcludeError;
use crate::send::hours::HoursError;
use crate::send::journal::JournalError;
use crate::send::watch::EventsError;
use crate::send::ClientError;
use crate::template::TemplateError;

/// How a run ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Ok = 0,
    /// A template or a data row is invalid.
    Invalid = 1,
    /// Bad arguments, an unreadable file, or output that could not be written (a full disk),
    /// as ripgrep: what was asked for did not happen, whatever the templates hold.
    Usage = 2,
    /// Stopped by Ctrl-C (128 + SIGINT).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15).
    Terminated = 143,
}

/// Every exit code and what it means, for each command: `flowc --help` and the manual's EXIT
/// STATUS print this table. `report` reports a campaign's rows, it does not judge them; `receive`
/// is a server, whose normal end is a stop by SIGTERM or Ctrl-C.
pub(crate) const CODES: &[(ExitStatus, &str)] = &[
    (
        ExitStatus::Ok,
        "everything valid, every valid row accepted; report: its files written (whatever the rows say); receive: stopped by SIGTERM or Ctrl-C once the requests in flight are answered and the store is closed",
    ),
    (
        ExitStatus::Invalid,
        "an invalid template or data row; a data file empty or without rows; a row failed, pending or unknown; a campaign stopped (resumable)",
    ),
    (
        ExitStatus::Usage,
        "usage: bad arguments or settings; an unreadable, damaged or clashing file (report: a journal or store it cannot read; receive: a setting, file, port or store to fix)",
    ),
    (ExitStatus::Interrupted, "send stopped by Ctrl-C (resumable)"),
    (ExitStatus::Terminated, "send stopped by SIGTERM (resumable)"),
];

/// [`CODES`] as the text after `flowc --help`: one code a paragraph, wrapped to fit 80 columns
/// with its meaning indented (clap would wrap it without the indent).
pub(crate) fn codes_text() -> String {
    const WIDTH: usize = 78;
    const INDENT: &str = "        ";
    let mut text = String::from("Exit status:");
    for (status, meaning) in CODES {
        let mut line = format!("  {:<6}", *status as u8);
        let mut empty = true;
        for word in meaning.split(' ') {
            if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
                text.push('\n');
                text.push_str(&line);
                line = INDENT.to_owned();
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// [`CODES`] as the manual's EXIT STATUS section (roff: one tagged paragraph a code).
pub(crate) fn codes_roff() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (status, meaning) in CODES {
        let meaning = meaning.replace('\\', "\\e").replace('-', "\\-");
        roff.push_str(&format!(".TP\n{}\n{meaning}\n", *status as u8));
    }
    roff
}

impl ExitStatus {
    /// The more serious of two statuses.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        if other as u8 > self as u8 {
            other
        } else {
            self
        }
    }
}

impl TemplateError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            TemplateError::Unreadable { .. } => ExitStatus::Usage,
            _ => ExitStatus::Invalid,
        }
    }
}

impl DataError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            DataError::Unreadable { .. }
            | DataError::UnknownFormat { .. }
            | DataError::DelimiterNotApplicable { .. } => ExitStatus::Usage,
            _ => ExitStatus::Invalid,
        }
    }
}

impl AccountError {
    /// Every account problem is a setting to fix before anything can be sent.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl JournalError {
    /// A journal that cannot be used (another campaign's, busy, damaged, unwritable, failing)
    /// is a file the user must deal with, whichever moment it is found at.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl OutputError {
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl ReportError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            ReportError::Io(..) => ExitStatus::Usage,
            ReportError::Journal(error) => error.exit_status(),
        }
    }
}

impl ClientError {
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl CampaignError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CampaignError::Unreadable { .. } => ExitStatus::Usage,
            CampaignError::Journal(error) => error.exit_status(),
            // The data file cannot be read to its end: its fault was reported as a finding.
            CampaignError::Broken => ExitStatus::Invalid,
            CampaignError::TrackedFieldSet { .. } => ExitStatus::Usage,
        }
    }
}

impl ExcludeError {
    /// An exclude list that cannot be read whole is refused before anything is sent.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl HoursError {
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl crate::flow::FlowIssue {
    /// A Flow file that cannot be read is a file the user must deal with; a Flow or a message
    /// that breaks a rule is an invalid template; a warning changes nothing.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            crate::flow::FlowIssue::Unreadable { .. } => ExitStatus::Usage,
            issue if !issue.is_error() => ExitStatus::Ok,
            _ => ExitStatus::Invalid,
        }
    }
}

impl ReceiveError {
    /// Every receiver error is found before it serves: a setting, a file or a port to fix.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            ReceiveError::Store(error) => error.exit_status(),
            _ => ExitStatus::Usage,
        }
    }
}

impl StoreError {
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl EventsError {
    /// A store that is missing or not a store is a file to fix, not a finding about the campaign.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl StoreReadError {
    /// A store that is missing or not a store is a file to fix, not a finding about the campaign.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl DeliveryError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            DeliveryError::Journal(error) => error.exit_status(),
            DeliveryError::Events(error) => error.exit_status(),
            // Output lost (a full disk): what was asked for did not happen.
            DeliveryError::Write { .. } => ExitStatus::Usage,
        }
    }
}
