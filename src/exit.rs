//! Exit codes, and the one place that decides which error ends a run with which code (as
//! `just`'s `Error::code()`): each error type says its status here, and the commands ask.
//!
//! What each code means is [`CODES`], the one table `--help` and the manual print.

use crate::data::DataError;
use crate::events::EventsError;
use crate::outputs::OutputError;
use crate::pipeline::Problem;
use crate::pull::PullError;
use crate::receive::ReceiveError;
use crate::render::{LeafError, MissingExample};
use crate::report::DeliveryError;
use crate::scaffold::InitError;
use crate::send::account::AccountError;
use crate::send::callbacks::CallbacksError;
use crate::send::campaign::CampaignError;
use crate::send::csv_report::{ReportError, Summary};
use crate::send::guardrails::ExcludeError;
use crate::send::hours::HoursError;
use crate::send::journal::JournalError;
use crate::send::refusal::NotSent;
use crate::send::run::RunError;
use crate::send::{ClientError, StopCause};
use crate::signal::Signal;
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
        "an invalid template or data row; a data file empty or without rows; a row failed, pending or unknown; a campaign stopped (resumable); templates pull: a template not written (its name, a file in the way)",
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
                INDENT.clone_into(&mut line);
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

/// An error a person is shown: its message (`Display`), what to do about it, and the status it
/// ends the run with. Every error a command draws implements it here, so that which error ends a
/// run with which code is decided in this file only.
pub(crate) trait UserError: std::fmt::Display {
    fn exit_status(&self) -> ExitStatus;

    /// What the person can do about it, when there is something to say.
    fn help(&self) -> Option<String> {
        None
    }
}

/// A request refused before anything is done: a bad argument, or files named for clashing roles.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Refused {
    pub message: String,
    pub help: Option<String>,
}

impl Refused {
    pub(crate) fn new(message: impl Into<String>, help: impl Into<String>) -> Refused {
        Refused {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

impl UserError for Refused {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }

    fn help(&self) -> Option<String> {
        self.help.clone()
    }
}

/// Standard output or standard error could not be written (a full disk, a closed terminal):
/// what was asked for did not all happen.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output: {0}")]
pub(crate) struct OutputLost(pub String);

impl UserError for OutputLost {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// The machine would not give a command what it needs to run (threads, signal handlers), or a
/// task it ran ended unexpectedly: nothing the templates or rows decide.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CannotRun(pub String);

impl UserError for CannotRun {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// An error a command has already shown (with its help), and the status it ends the run with:
/// what a command's steps return to stop it early, so that its `Ok` is a run that got to its end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drawn(pub ExitStatus);

impl From<ExitStatus> for Drawn {
    fn from(status: ExitStatus) -> Drawn {
        Drawn(status)
    }
}

/// A data file that could not be read to its end once its rows were being read: its fault was
/// shown as a finding; the rows it holds are not all valid (as [`CampaignError::Broken`]).
#[derive(Debug, thiserror::Error)]
#[error("the data file could not be read to its end")]
pub(crate) struct Unfinished;

impl UserError for Unfinished {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Invalid
    }
}

/// The help an error type already gives, as its [`UserError::help`].
macro_rules! help_from {
    ($type:ty) => {
        fn help(&self) -> Option<String> {
            <$type>::help(self)
        }
    };
}

impl ExitStatus {
    /// A run over templates, rows or snapshots that did all it was asked: invalid when any of
    /// them is (each said as a finding), success otherwise.
    pub fn checked(any_invalid: bool) -> ExitStatus {
        if any_invalid {
            ExitStatus::Invalid
        } else {
            ExitStatus::Ok
        }
    }

    /// A status that stops before anything is made (a usage error), as opposed to a finding
    /// about the templates or rows.
    pub fn is_usage(self) -> bool {
        self == ExitStatus::Usage
    }

    /// The more serious of two statuses.
    #[must_use]
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        if other as u8 > self as u8 {
            other
        } else {
            self
        }
    }
}

impl UserError for TemplateError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            TemplateError::Unreadable(_) => ExitStatus::Usage,
            _ => ExitStatus::Invalid,
        }
    }
}

impl UserError for DataError {
    fn help(&self) -> Option<String> {
        DataError::help(self).map(str::to_owned)
    }

    fn exit_status(&self) -> ExitStatus {
        match self {
            DataError::Unreadable(_) | DataError::UnknownFormat { .. } | DataError::DelimiterNotApplicable { .. } => {
                ExitStatus::Usage
            }
            _ => ExitStatus::Invalid,
        }
    }
}

impl UserError for AccountError {
    /// Every account problem is a setting to fix before anything can be sent.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for JournalError {
    help_from!(JournalError);

    /// A journal that cannot be used (another campaign's, busy, damaged, unwritable, failing)
    /// is a file the user must deal with, whichever moment it is found at.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for OutputError {
    help_from!(OutputError);

    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for ReportError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            ReportError::Io(..) => ExitStatus::Usage,
            ReportError::Journal(error) => error.exit_status(),
        }
    }
}

impl UserError for ClientError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for CampaignError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            CampaignError::Unreadable(_) => ExitStatus::Usage,
            CampaignError::Journal(error) => error.exit_status(),
            // The data file cannot be read to its end: its fault was reported as a finding.
            CampaignError::Broken => ExitStatus::Invalid,
            CampaignError::TrackedFieldSet { .. } => ExitStatus::Usage,
            CampaignError::Report(error) => error.exit_status(),
        }
    }
}

impl UserError for ExcludeError {
    help_from!(ExcludeError);

    /// An exclude list that cannot be read whole is refused before anything is sent.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for HoursError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for crate::flow::FlowIssue {
    /// A Flow file that cannot be read is a file the user must deal with; a Flow or a message
    /// that breaks a rule is an invalid template; a warning changes nothing.
    fn exit_status(&self) -> ExitStatus {
        match self {
            crate::flow::FlowIssue::Unreadable { .. } => ExitStatus::Usage,
            issue if !issue.is_error() => ExitStatus::Ok,
            _ => ExitStatus::Invalid,
        }
    }
}

impl UserError for crate::approved::ApprovedIssue {
    /// An approved template that cannot be read is a file the user must deal with; a message
    /// that does not match it is an invalid template.
    fn exit_status(&self) -> ExitStatus {
        match self {
            crate::approved::ApprovedIssue::Unreadable { .. } => ExitStatus::Usage,
            _ => ExitStatus::Invalid,
        }
    }
}

impl UserError for ReceiveError {
    help_from!(ReceiveError);

    /// Every receiver error is found before it serves: a setting, a file or a port to fix.
    fn exit_status(&self) -> ExitStatus {
        match self {
            ReceiveError::Store(error) => error.exit_status(),
            _ => ExitStatus::Usage,
        }
    }
}

impl UserError for EventsError {
    help_from!(EventsError);

    /// A store that is missing, not a store or failing is a file (or a setting) to fix, not a
    /// finding about the campaign.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for DeliveryError {
    help_from!(DeliveryError);

    fn exit_status(&self) -> ExitStatus {
        match self {
            DeliveryError::Journal(error) => error.exit_status(),
            DeliveryError::Events(error) => error.exit_status(),
            // Output lost (a full disk): what was asked for did not happen.
            DeliveryError::Write { .. } => ExitStatus::Usage,
        }
    }
}

impl UserError for RunError {
    /// A run that cannot start (no HTTP client, no runtime) is a setting or a machine to fix,
    /// as it is for `receive`.
    fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Client(error) => error.exit_status(),
            RunError::Runtime(_) => ExitStatus::Usage,
            RunError::Journal(error) => error.exit_status(),
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            RunError::Journal(error) => error.help(),
            RunError::Client(_) | RunError::Runtime(_) => None,
        }
    }
}

impl UserError for CallbacksError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            CallbacksError::Journal(error) => error.exit_status(),
            CallbacksError::Events(error) => error.exit_status(),
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            CallbacksError::Journal(error) => error.help(),
            CallbacksError::Events(error) => error.help(),
        }
    }
}

impl UserError for NotSent {
    help_from!(NotSent);

    /// A send refused as asked (a stdin data file, no confirmation, a file that changed) is a
    /// usage error; one that found invalid rows, was declined or is outside its window leaves
    /// rows to send (resumable).
    fn exit_status(&self) -> ExitStatus {
        match self {
            NotSent::DataFromStdin
            | NotSent::NoAccount
            | NotSent::DataChanged { .. }
            | NotSent::NoTerminal
            | NotSent::WindowWithoutEvents
            | NotSent::OutsideWindowKinds
            | NotSent::OutsideWindowRecipient { .. } => ExitStatus::Usage,
            NotSent::Strict { .. } | NotSent::Declined | NotSent::OutsideWindow => ExitStatus::Invalid,
        }
    }
}

impl Summary {
    /// A campaign that ran to its end: success when every valid row was accepted; a row invalid,
    /// failed, pending or unknown is not (see [`CODES`]).
    pub(crate) fn exit_status(&self) -> ExitStatus {
        if self.all_accepted() {
            ExitStatus::Ok
        } else {
            ExitStatus::Invalid
        }
    }

    /// A dry run: success unless a row is invalid.
    pub(crate) fn dry_run_status(&self) -> ExitStatus {
        if self.invalid > 0 {
            ExitStatus::Invalid
        } else {
            ExitStatus::Ok
        }
    }
}

impl UserError for PullError {
    help_from!(PullError);

    /// The list could not be read whole (a setting, the provider, its answer): nothing was
    /// written, what was asked for did not happen.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for MissingExample {
    /// The template cannot be rendered as it is: an invalid template.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Invalid
    }

    help_from!(MissingExample);
}

impl UserError for InitError {
    /// A path in the way (a file, a link) or one that cannot be written: nothing the templates
    /// decide.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }

    fn help(&self) -> Option<String> {
        InitError::help(self).map(str::to_owned)
    }
}

/// A file a command was asked to write could not be written (a full disk, a directory in the
/// way): what was asked for did not happen.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}")]
pub(crate) struct NotWritten {
    pub path: String,
    pub reason: String,
}

impl UserError for NotWritten {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

impl UserError for LeafError {
    /// A template value that does not compile: an invalid template.
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Invalid
    }
}

impl Problem {
    /// Values that do not make a valid message: an invalid template or row.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Invalid
    }
}

impl From<Signal> for ExitStatus {
    fn from(signal: Signal) -> ExitStatus {
        match signal {
            Signal::Interrupt => ExitStatus::Interrupted,
            Signal::Terminate => ExitStatus::Terminated,
        }
    }
}

impl StopCause {
    /// The status a campaign stopped before its end exits with: a signal's own; a journal that
    /// failed or a data file that cannot be read again is a file to fix, as when either is met
    /// at the start (an event store alike); anything else leaves rows pending (resumable).
    pub(crate) fn exit_status(&self) -> ExitStatus {
        match self {
            StopCause::Interrupted(signal) | StopCause::Quit(signal) => ExitStatus::from(*signal),
            StopCause::Journal(error) => error.exit_status(),
            StopCause::Data(error) => error.exit_status(),
            StopCause::Refused { .. }
            | StopCause::Internal(_)
            | StopCause::OutsideWindow(_)
            | StopCause::SpamLimit
            | StopCause::FailureBurst { .. }
            | StopCause::DataChanged { .. } => ExitStatus::Invalid,
            StopCause::Events(error) => error.exit_status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same data file fault ends the run alike whether it is met at the pre-flight or when
    /// the rows are read again to send them.
    #[test]
    fn a_data_file_unreadable_at_the_reopen_exits_as_at_its_opening() {
        let error = DataError::Unreadable(crate::input::Unreadable {
            what: "data file",
            path: "contacts.csv".to_owned(),
            reason: "permission denied".to_owned(),
        });
        assert_eq!(error.exit_status(), ExitStatus::Usage);
        assert_eq!(StopCause::Data(error).exit_status(), ExitStatus::Usage);
    }

    /// `send` and `receive` both end with a setting or a machine to fix when their runtime does
    /// not start.
    #[test]
    fn a_runtime_that_will_not_start_is_a_usage_error_in_send_as_in_receive() {
        let error = RunError::Runtime(std::io::Error::other("no threads"));
        assert_eq!(error.exit_status(), ExitStatus::Usage);
    }

    #[test]
    fn a_journal_failing_mid_run_exits_as_at_its_opening() {
        let error = JournalError::ReadOnly {
            path: "j".to_owned(),
            reason: "disk full".to_owned(),
        };
        let at_open = error.exit_status();
        let cause = StopCause::Journal(std::sync::Arc::new(JournalError::Failed(std::sync::Arc::new(error))));
        assert_eq!(cause.exit_status(), at_open);
    }

    /// An event store that stops answering mid-run is the same file to fix as one that cannot
    /// be opened at the start.
    #[test]
    fn an_event_store_failing_mid_run_exits_as_at_its_opening() {
        let error = EventsError::Gone {
            store: "events.db".to_owned(),
            reason: "No such file or directory".to_owned(),
        };
        let at_open = error.exit_status();
        assert_eq!(at_open, ExitStatus::Usage);
        assert_eq!(StopCause::Events(std::sync::Arc::new(error)).exit_status(), at_open);
    }

    #[test]
    fn a_signal_ends_the_run_with_its_own_status() {
        assert_eq!(
            StopCause::Interrupted(Signal::Interrupt).exit_status(),
            ExitStatus::Interrupted
        );
        assert_eq!(
            StopCause::Interrupted(Signal::Terminate).exit_status(),
            ExitStatus::Terminated
        );
    }
}
