//! `flowc send`: pre-flight every row, show the plan, confirm, send, report.

mod plan;
mod progress;
mod stop;

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::grouping::Grouping;
use super::{check_overrides, fail, open_data, prepare, report_problem, ExitStatus};
use crate::diagnostic::{Emit, Finding, Printer, RowRef};
use crate::exit::{Drawn, UserError};
use crate::pipeline::MessageCompiler;
use crate::send::account::{Account, AccountSettings};
use crate::send::callbacks;
use crate::send::campaign::{self, CampaignError, Plan, PreflightEvent, Selection, TrackField};
use crate::send::csv_report::Spool;
use crate::send::daily::{self, DailyAllowance};
use crate::send::guardrails::{ExcludeList, Guardrails};
use crate::send::hours::SendingHours;
use crate::send::journal::{Journal, JournalError, Resume};
use crate::send::refusal::NotSent;
use crate::send::run::{self, Watchers};
use crate::send::watch::{self, EventFeed};
use crate::send::window::Window;
use crate::template::MessageKind;

use crate::send::{Logger, Progress, SendSettings, StopCause, StopSignal};
use crate::words;

use self::plan::print_plan;
use self::progress::{progress_bar, report_progress, watch_signals};
use self::stop::explain_stop;

pub struct SendOptions {
    pub template: PathBuf,
    pub data: PathBuf,
    /// The data file's field separator (`--delimiter`); `None`: read from its header line.
    pub delimiter: Option<u8>,
    /// `--column VAR=COLUMN`: variables read from a column of another name.
    pub columns: Vec<(String, String)>,
    pub vars: Vec<(String, String)>,
    pub account: AccountSettings,
    pub rate: u32,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub retry_delay: Duration,
    pub timeout: Duration,
    pub journal: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub dry_run: bool,
    pub yes: bool,
    pub strict: bool,
    pub restart: bool,
    /// Resume after a template change: the rows not yet sent get the changed template.
    pub changed_template: bool,
    pub resend_unknown: bool,
    pub retry_ambiguous: bool,
    pub allow_duplicates: bool,
    pub exclude: Option<PathBuf>,
    pub exclude_column: Option<String>,
    pub limit: Option<u64>,
    pub daily_limit: Option<u64>,
    pub track: Option<TrackField>,
    /// The event store `flowc receive` writes: opt-outs and throttles during the run, and what
    /// became of each message in the report.
    pub events: Option<PathBuf>,
    /// The approved template message sent instead of the Flow message to people whose 24-hour
    /// window is closed (`--outside-window`, with `--events`).
    pub outside_window: Option<PathBuf>,
    /// Seconds of the window that must be left for it to count as open (`--window-margin`).
    pub window_margin: u64,
    /// The password of a PostgreSQL store, in a file.
    pub events_password_file: Option<PathBuf>,
    /// The share (0 to 1) of list failures among the latest statuses that stops the campaign.
    pub max_failure_rate: f64,
    pub window: Option<String>,
    pub tz: Option<String>,
    pub exit_outside_window: bool,
    pub verbose: bool,
    /// Findings shown in full at most; the rest are counted (see [`crate::findings`]).
    pub max_errors: usize,
}

pub(super) fn run(options: SendOptions, grouping: &Grouping<'_>) -> ExitStatus {
    try_run(options, grouping).unwrap_or_else(|Drawn(status)| status)
}

fn try_run(options: SendOptions, grouping: &Grouping<'_>) -> Result<ExitStatus, Drawn> {
    let printer = grouping.printer();
    if options.data.as_os_str() == "-" {
        return Err(fail(grouping, &NotSent::DataFromStdin).into());
    }
    if options.outside_window.is_some() && options.events.is_none() {
        return Err(fail(grouping, &NotSent::WindowWithoutEvents).into());
    }
    // Both messages are checked before either's findings end the run: all of them in one pass.
    let prepared = prepare(&options.template, &options.vars, grouping);
    let outside_window = options
        .outside_window
        .as_ref()
        .map(|path| prepare(path, &options.vars, grouping));
    let mut compiler = prepared?;
    let mut outside_window = outside_window.transpose()?;
    check_overrides(&compiler, &options.vars, printer)?;
    super::map_columns(&mut compiler, &options.columns, printer)?;
    if let Some(template) = outside_window.as_mut() {
        check_overrides(template, &options.vars, printer)?;
        super::map_columns(template, &options.columns, printer)?;
        if template.template().kind != MessageKind::Template || compiler.template().kind != MessageKind::Flow {
            return Err(fail(grouping, &NotSent::OutsideWindowKinds).into());
        }
        // Each row goes to one person, whichever message it gets: both write the same `to`.
        let to = |compiler: &MessageCompiler| {
            compiler
                .template()
                .node_at("/messaging_object/to")
                .and_then(|node| node.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (flow_to, template_to) = (to(&compiler), to(template));
        if flow_to != template_to {
            return Err(fail(
                grouping,
                &NotSent::OutsideWindowRecipient {
                    flow: flow_to,
                    template: template_to,
                },
            )
            .into());
        }
    }
    let hours = match &options.window {
        Some(text) => Some(SendingHours::parse(text, options.tz.as_deref()).map_err(|error| fail(printer, &error))?),
        None => None,
    };
    let account = match options.account.clone().resolve() {
        Ok(account) => Some(account),
        Err(error) if options.dry_run && error.is_missing() => {
            grouping
                .printer()
                .note(&format!("note: {error} (a dry run sends nothing, so it goes on)"));
            None
        }
        Err(error) => return Err(fail(printer, &error).into()),
    };
    let data = (!options.dry_run).then_some(options.data.as_path());
    let fingerprint = campaign::fingerprint_with(&compiler, outside_window.as_ref(), &options.vars, data)
        .map_err(|error| fail(printer, &error))?;
    let stem = options
        .data
        .file_stem()
        .map_or_else(|| "campaign".to_owned(), |stem| stem.to_string_lossy().into_owned());
    let journal_path = options
        .journal
        .clone()
        .unwrap_or_else(|| options.data.with_file_name(format!("{stem}.journal.sqlite")));
    // The report is named after the journal: a trial with another journal keeps its own.
    let report_path = options
        .report
        .clone()
        .unwrap_or_else(|| crate::outputs::default_report(&journal_path, options.dry_run));
    let mut inputs: Vec<(&'static str, &Path)> = vec![("template", &options.template), ("data file", &options.data)];
    if let Some(key_file) = &options.account.api_key_file {
        inputs.push(("API key file", key_file));
    }
    if let Some(exclude) = &options.exclude {
        inputs.push(("exclude list", exclude));
    }
    if let Some(events) = options
        .events
        .as_ref()
        .filter(|store| !crate::events::names_database(store))
    {
        inputs.push(("event store", events));
    }
    if let Some(template) = &options.outside_window {
        inputs.push(("--outside-window template", template));
    }
    let store = match &options.events {
        Some(store) => Some(
            super::store_location(store, options.events_password_file.as_deref())
                .map_err(|error| fail(printer, &error))?,
        ),
        None => None,
    };
    // A dry run writes no journal, but is checked as the real run will be.
    crate::outputs::check(&inputs, Some(&journal_path), &report_path)
        .and_then(|()| crate::outputs::check_owner(&report_path, &journal_path, options.dry_run))
        .map_err(|error| fail(printer, &error))?;
    let journal_error = |error: JournalError| fail(printer, &error);
    let (mut journal, recovered) = run::open_journal(
        (!options.dry_run).then_some(journal_path.as_path()),
        &fingerprint,
        Resume {
            restart: options.restart,
            changed_template: options.changed_template,
        },
        (&options.template, &options.data),
        &inputs,
    )
    .map_err(journal_error)?;
    if recovered > 0 {
        printer.note(&format!(
            "{} {} in flight when the last run stopped: delivery unknown, not sent again{}",
            words::count(recovered, "row", "rows"),
            words::plural(recovered, "was", "were"),
            if options.resend_unknown {
                " (but --resend-unknown sends them)"
            } else {
                " (--resend-unknown sends them)"
            }
        ));
    }
    // A row whose answer was lost is settled once a callback shows the provider has it.
    let settled = match (&store, options.dry_run) {
        (Some(store), false) => {
            callbacks::settle_unknown(&mut journal, store).map_err(|error| fail(printer, &error))?
        }
        _ => (0, 0),
    };
    // The event store: who opted out before this run, and the feed the run watches.
    let mut feed = match &store {
        Some(store) => {
            let prefix = options.track.map(|_| {
                let key = campaign::track_key(journal.campaign_id(), 0);
                key[..key.len() - 1].to_owned()
            });
            Some(EventFeed::open(store, prefix).map_err(|error| fail(printer, &error))?)
        }
        None => None,
    };
    let opted_out = match feed.as_mut() {
        Some(feed) => {
            let (numbers, _) = watch::opted_out(feed).map_err(|error| fail(printer, &error))?;
            printer.note(&format!(
                "events:   {} ({} opted out)",
                store.as_ref().map(ToString::to_string).unwrap_or_default(),
                words::count(numbers.len() as u64, "number", "numbers")
            ));
            numbers
        }
        None => HashSet::new(),
    };
    // Who wrote to the business lately: the plan counts whose window is open, and with
    // --outside-window each row's message is decided from it right before it is sent.
    let window = match &store {
        Some(store) => {
            let margin = if options.outside_window.is_some() {
                i64::try_from(options.window_margin).unwrap_or(i64::MAX)
            } else {
                0
            };
            Some(Arc::new(
                Window::open(store, margin).map_err(|error| fail(printer, &error))?,
            ))
        }
        None => None,
    };
    let template_invalid = match &outside_window {
        Some(template) => check_outside_window(template, &options, grouping)?,
        None => std::collections::BTreeMap::new(),
    };
    // A dry run's rows go straight into its report (its journal is thrown away).
    let mut spool = if options.dry_run {
        Some(Spool::new().map_err(|error| fail(printer, &error))?)
    } else {
        None
    };
    let mut plan = preflight(
        &compiler,
        &options,
        (&mut journal, spool.as_mut()),
        (opted_out, window.clone(), template_invalid),
        grouping,
    )?;
    (plan.settled, plan.settled_not_sent) = settled;
    // A template message reaches anyone: only a Flow message cares about the window.
    if compiler.template().kind != MessageKind::Flow {
        plan.in_window = None;
    }

    print_plan(
        &options,
        account.as_ref(),
        &plan,
        hours.as_ref(),
        (&journal_path, &report_path),
        grouping,
    );
    let held = plan.held + plan.held_daily;
    let held_by = [
        (plan.held, "--limit", options.limit),
        (plan.held_daily, "--daily-limit", options.daily_limit),
    ]
    .iter()
    .filter(|(rows, ..)| *rows > 0)
    .map(|(_, flag, value)| format!("{flag} {}", value.unwrap_or_default()))
    .collect::<Vec<_>>()
    .join(" and ");
    let to_send_now = plan.to_send.count();
    // When a dry run's rows would go: now, or when the window opens.
    let when = {
        let now = jiff::Timestamp::now();
        match hours.as_ref().and_then(|hours| Some((hours, hours.next_opening(now)?))) {
            Some((hours, opening)) => format!(" when the window opens {}", hours.describe_opening(&opening, now)),
            None => " now".to_owned(),
        }
    };
    if options.strict && plan.invalid > 0 {
        journal.discard_if_unused().map_err(journal_error)?;
        return Err(fail(grouping, &NotSent::Strict { invalid: plan.invalid }).into());
    }
    let mut stop_cause = None;
    if !options.dry_run && plan.to_send.count() > 0 {
        let Some(account) = account else {
            return Err(NotSent::NoAccount.exit_status().into());
        };
        if let Some(hours) = &hours {
            let now = jiff::Timestamp::now();
            if let Some(opening) = hours.next_opening(now) {
                let when = hours.describe_opening(&opening, now);
                if options.exit_outside_window {
                    printer.note(&format!(
                        "outside the sending window {} ({}): nothing sent; it opens {when}",
                        hours.text(),
                        hours.zone_name()
                    ));
                    journal.discard_if_unused().map_err(journal_error)?;
                    return Err(NotSent::OutsideWindow.exit_status().into());
                }
                printer.note(&format!(
                    "window:   {} ({}) is closed now: sending waits until {when}",
                    hours.text(),
                    hours.zone_name()
                ));
            }
        }
        if let Err(status) = confirm(&options, plan.to_send.count(), printer) {
            // Nothing was sent: a journal this run created is not left behind.
            journal.discard_if_unused().map_err(journal_error)?;
            return Err(status.into());
        }
        // The rows are read again to send them: the file must be the one the pre-flight read.
        match campaign::fingerprint_with(&compiler, outside_window.as_ref(), &options.vars, Some(&options.data)) {
            Ok(now) if now == fingerprint => {}
            _ => {
                let path = options.data.display().to_string();
                return Err(fail(grouping, &NotSent::DataChanged { path }).into());
            }
        }
        let window = window.filter(|_| outside_window.is_some());
        let (returned, cause) = send_rows(
            (compiler, outside_window),
            &options,
            account,
            journal,
            plan,
            (hours, feed, window),
            printer,
        )?;
        // Quit at once (a second signal): no report, as the person asked to stop now.
        if let Some(cause @ StopCause::Quit(_)) = &cause {
            return Ok(cause.exit_status());
        }
        journal = returned;
        stop_cause = cause;
    }

    // With --events the callbacks follow: see `run::write_report`.
    let (summary, written_once) = match spool {
        Some(spool) => spool.write(&report_path).map(|summary| (summary, false)),
        None => run::write_report(&journal, &report_path, options.events.is_some()),
    }
    .map_err(|error| fail(printer, &error))?;
    let on_stdout = crate::outputs::is_stdout(&report_path);
    if on_stdout {
        printer.note("report: standard output");
    } else {
        printer.note(&format!("report: {}", report_path.display()));
    }
    // With the report on standard output, the summary goes beside the notes.
    let say = |line: &str| {
        if on_stdout {
            printer.note(line);
        } else {
            printer.line(line);
        }
    };
    let status = explain_stop(stop_cause.as_ref(), &summary, printer);
    if options.dry_run {
        let later = match held {
            0 => String::new(),
            held => format!(
                " ({} pending under {held_by})",
                words::count(held, "more stays", "more stay")
            ),
        };
        say(&format!(
            "dry run: {} would be sent{when}{later}, {} invalid; nothing was sent",
            words::thousands(to_send_now),
            words::thousands(summary.invalid)
        ));
        return Ok(summary.dry_run_status());
    }
    say(&summary.to_string());
    let delivery = match &store {
        Some(store) => super::report::after_send(&journal, store, &report_path, written_once, printer),
        None => ExitStatus::Ok,
    };
    Ok(delivery.worst(status.unwrap_or_else(|| summary.exit_status())))
}

/// Renders and validates every row (printing what is wrong), records it in the journal, and
/// decides what to send.
fn preflight(
    compiler: &MessageCompiler,
    options: &SendOptions,
    (journal, spool): (&mut Journal, Option<&mut Spool>),
    (opted_out, window, template_invalid): (HashSet<u64>, Option<Arc<Window>>, BTreeMap<u64, String>),
    grouping: &Grouping<'_>,
) -> Result<Plan, ExitStatus> {
    let printer = grouping.printer();
    let exclude = match &options.exclude {
        Some(path) => {
            let list =
                ExcludeList::load(path, options.exclude_column.as_deref()).map_err(|error| fail(printer, &error))?;
            if list.len() == 0 {
                // An empty list excludes nobody: most likely the wrong file, or an export that failed.
                printer.emit(
                    Finding::warning(format!(
                        "the exclude list `{}` holds no numbers: nobody is excluded",
                        path.display()
                    ))
                    .with_help(Some("check that it is the list you meant, with one number a line")),
                );
            }
            let without_plus = match list.read_without_plus() {
                0 => String::new(),
                n => format!(
                    "; {} without `+`, read as {}",
                    words::count(n as u64, "line", "lines"),
                    words::plural(n as u64, "an international number", "international numbers")
                ),
            };
            printer.note(&format!(
                "exclude:  {} ({}{without_plus})",
                path.display(),
                words::count(list.len() as u64, "number", "numbers")
            ));
            list
        }
        None => ExcludeList::default(),
    };
    let people = match options.daily_limit {
        Some(limit) => {
            let DailyAllowance {
                reached,
                left,
                next_slot_in,
                ..
            } = daily::allowance(journal, limit).map_err(|error| fail(printer, &error))?;
            let next = next_slot_in.map_or_else(String::new, |seconds| {
                format!(
                    "; the next slot opens {}",
                    words::about_duration(seconds).replacen("about", "in about", 1)
                )
            });
            printer.note(&format!(
                "daily:    {} of {} reached in the last 24 h (--daily-limit): at most {} more in this run{next}",
                words::thousands(reached),
                words::count(limit, "person", "people"),
                words::thousands(left)
            ));
            Some(left)
        }
        None => None,
    };
    let selection = Selection {
        resend_unknown: options.resend_unknown,
        guardrails: Guardrails::new(exclude, options.allow_duplicates).with_opted_out(opted_out),
        limit: options.limit,
        people,
        track: options.track,
        window: window.map(|window| {
            let margin = window.margin();
            (window, margin)
        }),
        template_invalid,
    };
    let rows = open_data(compiler, &options.data, options.delimiter, printer)?;
    let file = super::data_name(&options.data);
    let row_ref = |row: u64| RowRef {
        file: file.clone(),
        row,
    };
    campaign::preflight(
        compiler,
        rows,
        &options.data,
        &options.vars,
        journal,
        spool,
        selection,
        |event| match event {
            PreflightEvent::Invalid { row, problem } => {
                report_problem(compiler, Some(&row_ref(row)), problem, grouping);
            }
            PreflightEvent::Warnings { row, warnings } => {
                super::report_warnings(compiler, Some(&row_ref(row)), warnings, grouping);
            }
            PreflightEvent::Unreadable(error) => grouping.emit(Finding::from_data_error(error)),
        },
    )
    .map_err(|error| match error {
        // Its cause was printed as a finding.
        CampaignError::Broken => error.exit_status(),
        CampaignError::Journal(journal) => fail(printer, &journal),
        other => fail(printer, &other),
    })
}

/// Renders every row with the `--outside-window` template, printing what is wrong with it;
/// the rows it cannot be sent for.
fn check_outside_window(
    template: &MessageCompiler,
    options: &SendOptions,
    grouping: &Grouping<'_>,
) -> Result<BTreeMap<u64, String>, ExitStatus> {
    let printer = grouping.printer();
    let rows = open_data(template, &options.data, options.delimiter, printer)?;
    let file = super::data_name(&options.data);
    let row_ref = |row: u64| RowRef {
        file: file.clone(),
        row,
    };
    campaign::check_outside_window(template, rows, &options.vars, |event| match event {
        PreflightEvent::Invalid { row, problem } => {
            report_problem(template, Some(&row_ref(row)), problem, grouping);
        }
        PreflightEvent::Warnings { row, warnings } => {
            super::report_warnings(template, Some(&row_ref(row)), warnings, grouping);
        }
        PreflightEvent::Unreadable(_) => {}
    })
    .map_err(|error| fail(printer, &error))
}

fn confirm(options: &SendOptions, count: u64, printer: &Printer) -> Result<(), ExitStatus> {
    if options.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(printer, &NotSent::NoTerminal));
    }
    eprint!("Send {}? [y/N] ", words::count(count, "message", "messages"));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() || !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        printer.note(&NotSent::Declined.to_string());
        return Err(NotSent::Declined.exit_status());
    }
    Ok(())
}

/// Sends the planned rows, drawing progress; returns the journal and why sending stopped early,
/// if it did.
fn send_rows(
    (compiler, outside_window): (MessageCompiler, Option<MessageCompiler>),
    options: &SendOptions,
    account: Account,
    journal: Journal,
    plan: Plan,
    (hours, feed, window): (Option<SendingHours>, Option<EventFeed>, Option<Arc<Window>>),
    printer: &Printer,
) -> Result<(Journal, Option<StopCause>), ExitStatus> {
    let settings = SendSettings {
        rate: NonZeroU32::new(options.rate),
        concurrency: options.concurrency,
        max_attempts: options.max_attempts,
        retry_base: options.retry_delay,
        timeout: options.timeout,
        retry_ambiguous: options.retry_ambiguous,
        space_pairs: options.allow_duplicates,
        watch: None,
        window,
        hours: None,
        exit_outside_window: options.exit_outside_window,
        // Within what service managers allow before they kill (Kubernetes: 30 s by default).
        grace: options.timeout.min(Duration::from_secs(10)),
        verbose: options.verbose,
    };
    let progress = Arc::new(Progress::default());
    let total = plan.to_send.count();
    let bar = progress_bar(total);
    let log: Logger = {
        let bar = bar.clone();
        Arc::new(move |line: String| match &bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        })
    };
    let watchers: Watchers = {
        let bar = bar.clone();
        Box::new(move |stop: &StopSignal, progress: &Arc<Progress>| {
            vec![
                tokio::spawn(watch_signals(stop.clone(), Arc::clone(progress), bar.clone())),
                tokio::spawn(report_progress(bar, Arc::clone(progress), total, stop.clone())),
            ]
        })
    };
    let rows = run::Rows {
        data: options.data.clone(),
        delimiter: options.delimiter,
        vars: options.vars.clone(),
        outside_window,
    };
    let sent = run::send_planned(
        compiler,
        rows,
        account,
        journal,
        plan,
        (hours, feed),
        settings,
        options.max_failure_rate,
        (progress, log, watchers),
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    sent.map_err(|error| fail(printer, &error))
}
