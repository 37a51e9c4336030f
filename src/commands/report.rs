//! `flowc report`: the campaign's report rewritten from its journal, with what the provider's
//! callbacks said about each row (`--events`), the Flow answers (`--responses`) and a page
//! (`--html`); and the same at the end of `flowc send --events`.
//!
//! The journal and the store are only read, so a report can be made while `flowc receive`
//! goes on storing callbacks. A `flowc send` holds its journal locked while it runs: the report
//! then reads the journal as the run's last checkpoint left it, without a lock (see
//! [`Journal::open_while_sending`]), and says so.

use std::path::{Path, PathBuf};

use super::ExitStatus;
use crate::diagnostic::{Finding, Printer};
use crate::report::responses::ResponsesFormat;
use crate::report::{self, html, DeliveryError, Reconciled};
use crate::send::journal::{unix_now, Journal, JournalError};
use crate::send::outputs;
use crate::send::report::{self as csv_report, ExtraColumns, ReportError};

pub struct ReportOptions {
    /// The campaign's journal.
    pub journal: PathBuf,
    /// The event store `flowc receive` writes.
    pub events: Option<PathBuf>,
    /// `None`: beside the journal, as `flowc send` names its report; `-`: standard output.
    pub out: Option<PathBuf>,
    pub responses: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// Where the report goes.
enum Target {
    Stdout,
    File(PathBuf),
}

pub fn run(options: &ReportOptions, printer: &Printer) -> ExitStatus {
    match try_run(options, printer) {
        Ok(status) | Err(status) => status,
    }
}

fn fail(printer: &Printer, error: &dyn std::fmt::Display, help: Option<String>, status: ExitStatus) -> ExitStatus {
    printer.print(&Finding::error(error.to_string()).with_help(help));
    status
}

fn try_run(options: &ReportOptions, printer: &Printer) -> Result<ExitStatus, ExitStatus> {
    let target = match &options.out {
        Some(path) if path.as_os_str() == "-" => Target::Stdout,
        Some(path) => Target::File(path.clone()),
        None => Target::File(default_report(&options.journal)),
    };
    let responses = match &options.responses {
        Some(path) => match ResponsesFormat::of(path) {
            Some(format) => Some((path.as_path(), format)),
            None => {
                return Err(fail(
                    printer,
                    &format!("--responses {}: the name must end in .csv or .jsonl", path.display()),
                    Some("FILE.csv gets one column per answer; FILE.jsonl one JSON object per line".to_owned()),
                    ExitStatus::Usage,
                ))
            }
        },
        None => None,
    };
    let mut inputs: Vec<(&'static str, &Path)> = vec![("journal", &options.journal)];
    if let Some(store) = &options.events {
        inputs.push(("event store", store));
    }
    let mut written: Vec<(&'static str, &Path)> = Vec::new();
    if let Target::File(path) = &target {
        written.push(("report", path));
    }
    if let Some((path, _)) = responses {
        written.push(("responses file", path));
    }
    if let Some(path) = &options.html {
        written.push(("page", path));
    }
    outputs::check_distinct(&inputs, &written).map_err(|error| fail(printer, &error, None, error.exit_status()))?;

    let journal = match Journal::open_read_only(&options.journal) {
        Ok(journal) => journal,
        Err(JournalError::BusyReading { .. }) => {
            let journal = Journal::open_while_sending(&options.journal)
                .map_err(|error| fail(printer, &error, error.help(), error.exit_status()))?;
            printer.note(&format!(
                "note: a `flowc send` is running on `{}`: this report shows the campaign as the run last wrote it down (a few seconds ago); make it again once the run ends for the whole campaign",
                options.journal.display()
            ));
            journal
        }
        Err(error) => {
            // `flowc report STORE --events JOURNAL`: the two files swapped.
            if let Some(swapped) = swapped(options) {
                return Err(fail(printer, &swapped.0, Some(swapped.1), ExitStatus::Usage));
            }
            return Err(fail(printer, &error, error.help(), error.exit_status()));
        }
    };
    let reconciled = match &options.events {
        Some(store) => Some(
            report::reconcile(&journal, store, responses)
                .map_err(|error| fail(printer, &error, error.help(), error.exit_status()))?,
        ),
        None => None,
    };
    let columns = reconciled
        .as_ref()
        .map(|reconciled| &reconciled.delivery as &dyn ExtraColumns);
    let summary = match &target {
        Target::File(path) => csv_report::write_with(&journal, path, columns),
        Target::Stdout => {
            let mut stdout = std::io::stdout().lock();
            csv_report::write_to(&journal, &mut stdout, columns).map_err(|error| match error {
                ReportError::Io(_, error) => ReportError::Io("standard output".to_owned(), error),
                other => other,
            })
        }
    }
    .map_err(|error| match &error {
        // `flowc report … --out - | head`: the reader's choice, not a failure.
        ReportError::Io(_, io) if matches!(target, Target::Stdout) && io.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitStatus::Ok
        }
        _ => fail(printer, &error, None, error.exit_status()),
    })?;
    if let (Some(path), Some(reconciled), Some(store)) = (&options.html, &reconciled, &options.events) {
        let page = page(&journal, &options.journal, store, reconciled, &summary)
            .map_err(|error| fail(printer, &error, error.help(), error.exit_status()))?;
        report::write_page(path, &page).map_err(|error| fail(printer, &error, None, error.exit_status()))?;
    }

    if let Target::File(path) = &target {
        printer.note(&format!("report: {}", path.display()));
    }
    if let (
        Some((path, _)),
        Some(Reconciled {
            responses: Some(lines), ..
        }),
    ) = (responses, &reconciled)
    {
        printer.note(&format!(
            "responses: {} ({})",
            path.display(),
            crate::words::tally(*lines, "Flow completion", "Flow completions")
        ));
    }
    if let Some(path) = &options.html {
        printer.note(&format!("page: {}", path.display()));
    }
    printer.note(&format!("sending: {summary}"));
    // With the report on standard output, the summary goes beside the notes.
    let say = |line: &str| match target {
        Target::Stdout => printer.note(line),
        Target::File(_) => printer.line(line),
    };
    match &reconciled {
        Some(reconciled) => {
            printer.note(&reconciled.funnel.events_line());
            if let Some(silence) = reconciled.funnel.silence(unix_now()) {
                printer.print(&Finding::warning(silence));
            }
            say(&reconciled.funnel.to_string());
        }
        None => {
            printer.note("no --events: the report says what sending did; give the store `flowc receive` writes to add what became of each message");
            say(&summary.to_string());
        }
    }
    Ok(ExitStatus::Ok)
}

/// `flowc send`'s name for the report of a journal: `contacts.journal.sqlite` →
/// `contacts.report.csv` beside it; any other name gets `.report.csv` added.
fn default_report(journal: &Path) -> PathBuf {
    let name = journal
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = match name.strip_suffix(".journal.sqlite") {
        Some(stem) => format!("{stem}.report.csv"),
        None => format!("{name}.report.csv"),
    };
    journal.with_file_name(report)
}

/// Which of the two files is which, when they were given the wrong way round: the error and
/// the command to run.
fn swapped(options: &ReportOptions) -> Option<(String, String)> {
    let store = options.events.as_ref()?;
    if !report::events::is_event_store(&options.journal) || Journal::open_read_only(store).is_err() {
        return None;
    }
    Some((
        format!(
            "`{}` is an event store and `{}` a campaign journal: the two are swapped",
            options.journal.display(),
            store.display()
        ),
        format!(
            "the journal comes first: flowc report {} --events {}",
            store.display(),
            options.journal.display()
        ),
    ))
}

fn page(
    journal: &Journal,
    journal_path: &Path,
    store: &Path,
    reconciled: &Reconciled,
    rows: &csv_report::Summary,
) -> Result<String, JournalError> {
    let (template, data) = journal.names()?;
    let sources = format!(
        "journal {} · events {} · made {}",
        journal_path.display(),
        store.display(),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
    );
    let journal_name = journal_path.display().to_string();
    let campaign = html::Campaign {
        template: template.as_deref(),
        data: data.as_deref(),
        journal: &journal_name,
        sources: &sources,
        rows,
    };
    Ok(html::page(
        &campaign,
        &reconciled.funnel,
        &reconciled.delivery,
        &reconciled.answers,
    ))
}

/// At the end of `flowc send --events STORE`: the report rewritten with the delivery columns,
/// and the funnel. Callbacks still on their way are not in it: `flowc report` later has them.
pub(super) fn after_send(journal: &Journal, store: &Path, report_path: &Path, printer: &Printer) -> ExitStatus {
    let fail = |error: &DeliveryError| fail(printer, error, error.help(), error.exit_status());
    let reconciled = match report::reconcile(journal, store, None) {
        Ok(reconciled) => reconciled,
        Err(error) => return fail(&error),
    };
    if let Err(error) = csv_report::write_with(journal, report_path, Some(&reconciled.delivery)) {
        return self::fail(printer, &error, None, error.exit_status());
    }
    printer.note(&reconciled.funnel.events_line());
    if let Some(silence) = reconciled.funnel.silence(unix_now()) {
        printer.print(&Finding::warning(silence));
    }
    printer.line(&reconciled.funnel.to_string());
    ExitStatus::Ok
}
