//! `flowc report`: the campaign's report rewritten from its journal, with what the provider's
//! callbacks said about each row (`--events`), the Flow answers (`--responses`) and a page
//! (`--html`); and the same at the end of `flowc send --events`.
//!
//! The journal and the store are only read, so a report can be made while `flowc receive`
//! goes on storing callbacks. A `flowc send` holds its journal locked while it runs: the report
//! then reads the journal as the run's last checkpoint left it, without a lock (see
//! [`Journal::open_while_sending`]), and says so.

use std::path::{Path, PathBuf};

use super::{fail, ExitStatus};
use crate::diagnostic::{Emit, Finding, Printer};
use crate::exit::{Drawn, Refused};
use crate::outputs;
use crate::report::responses::ResponsesFormat;
use crate::report::{self, html, DeliveryError, Reconciled};
use crate::send::csv_report::{self, ExtraColumns, ReportError};
use crate::send::journal::{unix_now, Journal, JournalError};

pub struct ReportOptions {
    /// The campaign's journal.
    pub journal: PathBuf,
    /// The event store `flowc receive` writes.
    pub events: Option<PathBuf>,
    /// The password of a PostgreSQL store, in a file.
    pub events_password_file: Option<PathBuf>,
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

pub(super) fn run(options: &ReportOptions, printer: &Printer) -> ExitStatus {
    let databases: Vec<&Path> = std::iter::once(options.journal.as_path())
        .chain(
            options
                .events
                .as_deref()
                .filter(|store| !crate::events::names_database(store)),
        )
        .collect();
    // A link planted where SQLite writes beside a database (`-wal`, `-shm`) is named as such.
    for database in &databases {
        if let Some(problem) = outputs::planted_beside(database) {
            let message = format!("`{}` cannot be opened: {problem}", database.display());
            return fail(printer, &Refused { message, help: None });
        }
    }
    // Reading a journal or a store copied without its `-wal` leaves none behind.
    let side_files: Vec<outputs::SideFiles> = databases.iter().map(|path| outputs::SideFiles::note(path)).collect();
    let status = try_run(options, printer).unwrap_or_else(|Drawn(status)| status);
    for side in side_files {
        side.remove_created();
    }
    status
}

fn try_run(options: &ReportOptions, printer: &Printer) -> Result<ExitStatus, Drawn> {
    let target = match &options.out {
        Some(path) if outputs::is_stdout(path) => Target::Stdout,
        Some(path) => Target::File(path.clone()),
        None => Target::File(outputs::default_report(&options.journal, false)),
    };
    let responses = match &options.responses {
        // Standard output takes the responses as they come: one JSON object a line.
        Some(path) if outputs::is_stdout(path) => Some((path.as_path(), ResponsesFormat::Jsonl)),
        Some(path) => match ResponsesFormat::of(path) {
            Some(format) => Some((path.as_path(), format)),
            None => {
                return Err(fail(
                    printer,
                    &Refused::new(
                        format!("--responses {}: the name must end in .csv or .jsonl", path.display()),
                        "FILE.csv gets one column per answer; FILE.jsonl one JSON object per line",
                    ),
                )
                .into())
            }
        },
        None => None,
    };
    let journal = match Journal::open_read_only(&options.journal) {
        Ok(journal) => journal,
        Err(JournalError::BusyReading { .. }) => {
            let journal = Journal::open_while_sending(&options.journal).map_err(|error| fail(printer, &error))?;
            printer.note(&format!(
                "note: a `flowc send` is running on `{}`: this report shows the campaign as the run last wrote it down (a few seconds ago); make it again once the run ends for the whole campaign",
                options.journal.display()
            ));
            journal
        }
        Err(error) => {
            // `flowc report STORE --events JOURNAL`: the two files swapped.
            if let Some(swapped) = swapped(options) {
                return Err(fail(printer, &Refused::new(swapped.0, swapped.1)).into());
            }
            return Err(fail(printer, &error).into());
        }
    };
    // The outputs are named by hand: none may be what the campaign reads (its template and
    // data file, as `flowc send` recorded them), the journal or the store.
    let recorded = journal.recorded_inputs().map_err(|error| fail(printer, &error))?;
    let mut inputs: Vec<(&'static str, &Path)> = vec![("journal", &options.journal)];
    if let Some(store) = options
        .events
        .as_ref()
        .filter(|store| !crate::events::names_database(store))
    {
        inputs.push(("event store", store));
    }
    inputs.extend(recorded.iter().map(|(role, path)| (input_role(role), path.as_path())));
    let report_path = match &target {
        Target::File(path) => path.as_path(),
        Target::Stdout => Path::new("-"),
    };
    let mut written: Vec<(&'static str, &Path)> = vec![("report", report_path)];
    if let Some((path, _)) = responses {
        written.push(("responses file", path));
    }
    if let Some(path) = &options.html {
        written.push(("page", path));
    }
    outputs::check_distinct(&inputs, &written)
        .and_then(|()| outputs::check_owner(report_path, &options.journal, false))
        .map_err(|error| fail(printer, &error))?;
    // The journal's paths are where the campaign was sent from: a folder copied or moved since
    // holds the same files at other paths. Its data file and template are known by content too.
    let digests = journal
        .data_fingerprint()
        .and_then(|data| Ok((data, journal.template_fingerprint()?)))
        .map_err(|error| fail(printer, &error))?;
    for (input, digest) in [("data file", digests.0), ("template", digests.1)] {
        let Some(digest) = digest else { continue };
        if let Some((output, path)) = written.iter().find(|(_, path)| outputs::has_digest(path, &digest)) {
            let error = outputs::OutputError::HoldsInput {
                output,
                path: path.display().to_string(),
                input,
            };
            return Err(fail(printer, &error).into());
        }
    }
    let store = match &options.events {
        Some(store) => Some(
            super::store_location(store, options.events_password_file.as_deref())
                .map_err(|error| fail(printer, &error))?,
        ),
        None => None,
    };
    let reconciled = match &store {
        Some(store) => Some(report::reconcile(&journal, store, responses).map_err(|error| fail(printer, &error))?),
        None => None,
    };
    let columns = reconciled
        .as_ref()
        .map(|reconciled| &reconciled.delivery as &dyn ExtraColumns);
    // `flowc report … --out - | head`: a closed standard output is the reader's choice, not a
    // failure (see `outputs`).
    let summary = csv_report::write_with(&journal, report_path, columns).map_err(|error| match error {
        ReportError::Io(path, error) if path == "-" => ReportError::Io("standard output".to_owned(), error),
        other => other,
    });
    let summary = summary.map_err(|error| fail(printer, &error))?;
    if let (Some(path), Some(reconciled), Some(store)) = (&options.html, &reconciled, &store) {
        let page =
            page(&journal, &options.journal, store, reconciled, &summary).map_err(|error| fail(printer, &error))?;
        report::write_page(path, &page).map_err(|error| fail(printer, &error))?;
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
            crate::words::count(*lines, "Flow completion", "Flow completions")
        ));
    }
    if let Some(path) = &options.html {
        printer.note(&format!("page: {}", path.display()));
    }
    printer.note(&format!("sending: {summary}"));
    // With an output on standard output, the summary goes beside the notes.
    let on_stdout = written.iter().any(|(_, path)| outputs::is_stdout(path));
    let say = |line: &str| {
        if on_stdout {
            printer.note(line);
        } else {
            printer.line(line);
        }
    };
    if let Some(reconciled) = &reconciled {
        printer.note(&reconciled.funnel.events_line());
        if let Some(silence) = reconciled.funnel.silence(unix_now()) {
            printer.emit(Finding::warning(silence));
        }
        say(&reconciled.funnel.to_string());
    } else {
        printer.note("no --events: the report says what sending did; give the store `flowc receive` writes to add what became of each message");
        say(&summary.to_string());
    }
    Ok(ExitStatus::Ok)
}

/// The name an input recorded in the journal is given in messages.
fn input_role(role: &str) -> &'static str {
    match role {
        "template" => "template",
        "data file" => "data file",
        "exclude list" => "exclude list",
        "API key file" => "API key file",
        _ => "campaign's input",
    }
}

/// Which of the two files is which, when they were given the wrong way round: the error and
/// the command to run.
fn swapped(options: &ReportOptions) -> Option<(String, String)> {
    let store = options.events.as_ref()?;
    if !crate::events::is_event_store(&options.journal.clone().into()) || Journal::open_read_only(store).is_err() {
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
    store: &crate::events::StoreLocation,
    reconciled: &Reconciled,
    rows: &csv_report::Summary,
) -> Result<String, JournalError> {
    let (template, data) = journal.names()?;
    let sources = format!(
        "journal {} · events {} · made {}",
        journal_path.display(),
        store,
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
/// `written_once`: the report (a device, a pipe, standard output) was not written yet.
pub(super) fn after_send(
    journal: &Journal,
    store: &crate::events::StoreLocation,
    report_path: &Path,
    written_once: bool,
    printer: &Printer,
) -> ExitStatus {
    let fail = |error: &DeliveryError| fail(printer, error);
    let reconciled = match report::reconcile(journal, store, None) {
        Ok(reconciled) => reconciled,
        Err(error) => {
            if written_once {
                // The report without the delivery columns, rather than none.
                if let Err(error) = csv_report::write(journal, report_path) {
                    self::fail(printer, &error);
                }
            }
            return fail(&error);
        }
    };
    if let Err(error) = csv_report::write_with(journal, report_path, Some(&reconciled.delivery)) {
        return self::fail(printer, &error);
    }
    printer.note(&reconciled.funnel.events_line());
    if let Some(silence) = reconciled.funnel.silence(unix_now()) {
        printer.emit(Finding::warning(silence));
    }
    if outputs::is_stdout(report_path) {
        printer.note(&reconciled.funnel.to_string());
    } else {
        printer.line(&reconciled.funnel.to_string());
    }
    ExitStatus::Ok
}
