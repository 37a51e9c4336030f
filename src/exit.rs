//! Exit codes, and the one place that decides which error ends a run with which code (as
//! `just`'s `Error::code()`): each error type says its status here, and the commands ask.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything valid; every valid row accepted |
//! | 1 | an invalid template or data row; a data file empty or without rows; a row failed, pending or unknown; a campaign stopped |
//! | 2 | usage: bad arguments or settings, an unreadable, damaged or clashing file |
//! | 130 | `send` stopped by Ctrl-C |
//! | 143 | `send` stopped by SIGTERM |
//!
//! `report` exits 0 once its files are written, whatever the campaign's rows say (it reports
//! them; it does not judge them), and 2 when the journal or the store cannot be read.
//!
//! `receive` is a server: a stop by SIGTERM or Ctrl-C is its normal end (0), after the requests in
//! flight are answered and the store is closed.

use crate::data::DataError;
use crate::receive::{ReceiveError, StoreError};
use crate::report::{DeliveryError, EventsError as StoreReadError};
use crate::send::account::AccountError;
use crate::send::campaign::CampaignError;
use crate::send::events::EventsError;
use crate::send::guardrails::ExcludeError;
use crate::send::journal::JournalError;
use crate::send::outputs::OutputError;
use crate::send::report::ReportError;
use crate::send::window::WindowError;
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

impl WindowError {
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
