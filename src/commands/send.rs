//! `flowc send`: pre-flight every row, show the plan, confirm, send, report.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::reporter::Reporter;
use super::{check_overrides, open_data, prepare, report_problem, ExitStatus};
use crate::diagnostic::{Finding, Printer, RowRef};
use crate::pipeline::MessageCompiler;
use crate::send::account::{Account, AccountSettings};
use crate::send::campaign::{self, CampaignError, Plan, PreflightEvent, Selection, TrackField};
use crate::send::guardrails::{ExcludeList, Guardrails};
use crate::send::hours::SendingHours;
use crate::send::journal::unix_now;
use crate::send::journal::{Journal, JournalError, Resume, RowStatus, TemplateChange};
use crate::send::run::{self, RunError, Watchers};
use crate::send::watch::{self, EventFeed};

/// A rolling day, in seconds: Meta's messaging limits count unique people per 24 hours.
const DAY: i64 = 24 * 60 * 60;
use crate::send::{csv_report, Logger, Progress, SendSettings, Signal, StopCause, StopReason, StopSignal};
use crate::words;

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
    /// The share (0 to 1) of list failures among the latest statuses that stops the campaign.
    pub max_failure_rate: f64,
    pub window: Option<String>,
    pub tz: Option<String>,
    pub exit_outside_window: bool,
    pub verbose: bool,
    /// Findings shown in full at most; the rest are counted (see [`crate::findings`]).
    pub max_errors: usize,
}

pub fn run(options: SendOptions, reporter: &Reporter<'_>) -> ExitStatus {
    match try_run(options, reporter) {
        Ok(status) | Err(status) => status,
    }
}

fn try_run(options: SendOptions, reporter: &Reporter<'_>) -> Result<ExitStatus, ExitStatus> {
    let usage = |finding: Finding| {
        reporter.print(&finding);
        ExitStatus::Usage
    };
    if options.data.as_os_str() == "-" {
        return Err(usage(
            Finding::error("flowc send needs a data file, not standard input").with_help(Some(
                "the file is read twice (pre-flight, then sending) and resuming reads it again",
            )),
        ));
    }
    let mut compiler = prepare(&options.template, &options.vars, reporter)?;
    check_overrides(&compiler, &options.vars, reporter)?;
    super::map_columns(&mut compiler, &options.columns, reporter)?;
    let hours = match &options.window {
        Some(text) => Some(
            SendingHours::parse(text, options.tz.as_deref())
                .map_err(|error| fail(reporter, &error, None, error.exit_status()))?,
        ),
        None => None,
    };
    let account = match options.account.clone().resolve() {
        Ok(account) => Some(account),
        Err(error) if options.dry_run && error.is_missing() => {
            reporter.note(&format!("note: {error} (a dry run sends nothing, so it goes on)"));
            None
        }
        Err(error) => return Err(fail(reporter, &error, None, error.exit_status())),
    };
    let fingerprint = campaign::fingerprint(&compiler, &options.vars, &options.data)
        .map_err(|error| fail(reporter, &error, None, error.exit_status()))?;
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
    if let Some(events) = &options.events {
        inputs.push(("event store", events));
    }
    // A dry run writes no journal, but is checked as the real run will be.
    crate::outputs::check(&inputs, Some(&journal_path), &report_path)
        .and_then(|()| crate::outputs::check_owner(&report_path, &journal_path, options.dry_run))
        .map_err(|error| fail(reporter, &error, error.help(), error.exit_status()))?;
    let journal_error = |error: JournalError| fail(reporter, &error, error.help(), error.exit_status());
    let mut journal = Journal::open_with(
        (!options.dry_run).then_some(journal_path.as_path()),
        &fingerprint,
        Resume {
            restart: options.restart,
            changed_template: options.changed_template,
        },
    )
    .map_err(journal_error)?;
    journal
        .record_names(
            &options.template.display().to_string(),
            &options.data.display().to_string(),
        )
        .map_err(journal_error)?;
    if !options.dry_run {
        journal.record_inputs(&inputs).map_err(journal_error)?;
    }
    let recovered = journal.recover_in_flight().map_err(journal_error)?;
    if recovered > 0 {
        reporter.note(&format!(
            "{recovered} row{} {} in flight when the last run stopped: delivery unknown, not sent again{}",
            plural(recovered),
            if recovered == 1 { "was" } else { "were" },
            if options.resend_unknown {
                " (but --resend-unknown sends them)"
            } else {
                " (--resend-unknown sends them)"
            }
        ));
    }
    // A row whose answer was lost is settled once a callback shows the provider has it.
    let settled = match (&options.events, options.dry_run) {
        (Some(store), false) => settle_unknown(&mut journal, store, reporter)?,
        _ => 0,
    };
    // The event store: who opted out before this run, and the feed the run watches.
    let mut feed = match &options.events {
        Some(path) => {
            let prefix = options.track.map(|_| {
                let key = campaign::track_key(journal.campaign_id(), 0);
                key[..key.len() - 1].to_owned()
            });
            Some(EventFeed::open(path, prefix).map_err(|error| fail(reporter, &error, None, error.exit_status()))?)
        }
        None => None,
    };
    let opted_out = match feed.as_mut() {
        Some(feed) => {
            let (numbers, _) =
                watch::opted_out(feed).map_err(|error| fail(reporter, &error, None, error.exit_status()))?;
            reporter.note(&format!(
                "events:   {} ({} numbers opted out)",
                options.events.as_deref().unwrap_or(Path::new("")).display(),
                numbers.len()
            ));
            numbers
        }
        None => HashSet::new(),
    };
    let mut plan = preflight(&compiler, &options, &mut journal, opted_out, reporter)?;
    plan.settled = settled;

    print_plan(
        &options,
        account.as_ref(),
        &plan,
        hours.as_ref(),
        (&journal_path, &report_path),
        reporter,
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
        reporter.print(
            &Finding::error(format!(
                "--strict: {} invalid row{}; nothing sent",
                plan.invalid,
                plural(plan.invalid)
            ))
            .with_help(Some(
                "fix the rows reported above, or run without --strict to send the valid ones",
            )),
        );
        journal.discard_if_unused().map_err(journal_error)?;
        return Err(ExitStatus::Invalid);
    }
    let mut stop_cause = None;
    if !options.dry_run && plan.to_send.count() > 0 {
        let Some(account) = account else {
            return Err(ExitStatus::Usage);
        };
        if let Some(hours) = &hours {
            let now = jiff::Timestamp::now();
            if let Some(opening) = hours.next_opening(now) {
                let when = hours.describe_opening(&opening, now);
                if options.exit_outside_window {
                    reporter.note(&format!(
                        "outside the sending window {} ({}): nothing sent; it opens {when}",
                        hours.text(),
                        hours.zone_name()
                    ));
                    journal.discard_if_unused().map_err(journal_error)?;
                    return Err(ExitStatus::Invalid);
                }
                reporter.note(&format!(
                    "window:   {} ({}) is closed now: sending waits until {when}",
                    hours.text(),
                    hours.zone_name()
                ));
            }
        }
        if let Err(status) = confirm(&options, plan.to_send.count(), reporter) {
            // Nothing was sent: a journal this run created is not left behind.
            journal.discard_if_unused().map_err(journal_error)?;
            return Err(status);
        }
        // The rows are read again to send them: the file must be the one the pre-flight read.
        match campaign::fingerprint(&compiler, &options.vars, &options.data) {
            Ok(now) if now == fingerprint => {}
            _ => {
                reporter.print(
                    &Finding::error(format!(
                        "{} changed after its pre-flight; nothing sent",
                        options.data.display()
                    ))
                    .with_help(Some("run the command again once the file is no longer being edited")),
                );
                return Err(ExitStatus::Usage);
            }
        }
        let (returned, cause) = send_rows(compiler, &options, account, journal, plan, (hours, feed), reporter)?;
        journal = returned;
        stop_cause = cause;
    }

    // A device, a pipe or standard output is written once: with --events, after the callbacks
    // are added (a file is written now, so that a failure to read the store leaves a report).
    let written_once = options.events.is_some()
        && !options.dry_run
        && !matches!(
            crate::outputs::destination(&report_path),
            Ok(crate::outputs::Destination::Replace(_))
        );
    let summary = if written_once {
        csv_report::write_to(&journal, &mut std::io::sink(), None)
    } else {
        csv_report::write(&journal, &report_path)
    }
    .map_err(|error| fail(reporter, &error, None, error.exit_status()))?;
    let on_stdout = crate::outputs::is_stdout(&report_path);
    if on_stdout {
        reporter.note("report: standard output");
    } else {
        reporter.note(&format!("report: {}", report_path.display()));
    }
    // With the report on standard output, the summary goes beside the notes.
    let say = |line: &str| {
        if on_stdout {
            reporter.note(line);
        } else {
            reporter.line(line);
        }
    };
    let status = explain_stop(stop_cause.as_ref(), &summary, reporter);
    if options.dry_run {
        let later = match held {
            0 => String::new(),
            held => format!(" ({held} more stay pending under {held_by})"),
        };
        say(&format!(
            "dry run: {to_send_now} would be sent{when}{later}, {} invalid; nothing was sent",
            summary.invalid
        ));
        return Ok(if summary.invalid > 0 {
            ExitStatus::Invalid
        } else {
            ExitStatus::Ok
        });
    }
    say(&summary.to_string());
    let delivery = match &options.events {
        Some(store) => super::report::after_send(&journal, store, &report_path, written_once, reporter),
        None => ExitStatus::Ok,
    };
    Ok(delivery.worst(match status {
        Some(status) => status,
        None if summary.all_accepted() => ExitStatus::Ok,
        None => ExitStatus::Invalid,
    }))
}

/// Marks `unknown` rows accepted when a status callback in `store` carries their `--track` key
/// or one of their ids (the report's matching): the provider has their message. A Flow reply
/// never settles a row (its `flow_token` is the template's choice, shared or reused).
fn settle_unknown(journal: &mut Journal, store: &Path, printer: &Printer) -> Result<u64, ExitStatus> {
    let journal_error = |error: JournalError| fail(printer, &error, error.help(), error.exit_status());
    if journal.unknown_rows().map_err(journal_error)? == 0 {
        return Ok(0);
    }
    let reconciled = crate::report::reconcile(journal, store, None)
        .map_err(|error| fail(printer, &error, error.help(), error.exit_status()))?;
    let proven: Vec<u64> = reconciled
        .delivery
        .rows()
        .filter(|(_, state)| state.sending == RowStatus::Unknown && state.provider_has_message())
        .map(|(row, _)| row)
        .collect();
    drop(reconciled);
    journal.settle_from_callbacks(&proven).map_err(journal_error)
}

/// The plan's line on a template changed since rows went out (`--changed-template`).
fn describe_template_change(change: &TemplateChange) -> String {
    let sent: u64 = change.earlier.iter().map(|(_, count)| count).sum();
    let earlier = match change.earlier.as_slice() {
        [(version, _)] => format!("the earlier version {version}"),
        versions => format!(
            "earlier versions ({})",
            versions
                .iter()
                .map(|(version, count)| format!("{count} with {version}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "          changed since rows went out (--changed-template): {} went out with {earlier}; the rows not yet sent go out with {} (the journal records each row's version)",
        words::tally(sent, "row", "rows"),
        change.now
    )
}

/// Prints an error with its help; its exit status.
fn fail(printer: &Printer, error: &dyn std::fmt::Display, help: Option<String>, status: ExitStatus) -> ExitStatus {
    printer.print(&Finding::error(error.to_string()).with_help(help));
    status
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Renders and validates every row (printing what is wrong), records it in the journal, and
/// decides what to send.
fn preflight(
    compiler: &MessageCompiler,
    options: &SendOptions,
    journal: &mut Journal,
    opted_out: HashSet<u64>,
    reporter: &Reporter<'_>,
) -> Result<Plan, ExitStatus> {
    let exclude = match &options.exclude {
        Some(path) => {
            let list = ExcludeList::load(path, options.exclude_column.as_deref())
                .map_err(|error| fail(reporter, &error, error.help(), error.exit_status()))?;
            if list.len() == 0 {
                // An empty list excludes nobody: most likely the wrong file, or an export that failed.
                Printer::print(
                    reporter,
                    &Finding::warning(format!(
                        "the exclude list `{}` holds no numbers: nobody is excluded",
                        path.display()
                    ))
                    .with_help(Some("check that it is the list you meant, with one number a line")),
                );
            }
            let without_plus = match list.read_without_plus() {
                0 => String::new(),
                n => format!(
                    "; {} without `+`, read as international number{}",
                    words::tally(n as u64, "line", "lines"),
                    plural(n as u64)
                ),
            };
            reporter.note(&format!(
                "exclude:  {} ({}{without_plus})",
                path.display(),
                words::tally(list.len() as u64, "number", "numbers")
            ));
            list
        }
        None => ExcludeList::default(),
    };
    let people = match options.daily_limit {
        Some(limit) => {
            let (reached, oldest) = journal
                .reached_since(unix_now() - DAY)
                .map_err(|error| fail(reporter, &error, error.help(), error.exit_status()))?;
            let left = limit.saturating_sub(reached);
            let next = oldest.map_or_else(String::new, |oldest| {
                format!(
                    "; the next slot opens {}",
                    words::about_duration((oldest + DAY - unix_now()).max(0) as u64).replacen("about", "in about", 1)
                )
            });
            reporter.note(&format!(
                "daily:    {reached} of {limit} people reached in the last 24 h (--daily-limit): at most {left} more in this run{next}"
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
    };
    let rows = open_data(compiler, &options.data, options.delimiter, reporter)?;
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
        selection,
        |event| match event {
            PreflightEvent::Invalid { row, problem } => {
                report_problem(compiler, Some(&row_ref(row)), problem, reporter)
            }
            PreflightEvent::Warnings { row, warnings } => {
                super::report_warnings(compiler, Some(&row_ref(row)), warnings, reporter);
            }
            PreflightEvent::Unreadable(error) => reporter.print(&Finding::from_data_error(error)),
        },
    )
    .map_err(|error| match error {
        // Its cause was printed as a finding.
        CampaignError::Broken => error.exit_status(),
        CampaignError::Journal(journal) => fail(reporter, &journal, journal.help(), journal.exit_status()),
        other => fail(reporter, &other, None, other.exit_status()),
    })
}

fn print_plan(
    options: &SendOptions,
    account: Option<&Account>,
    plan: &Plan,
    hours: Option<&SendingHours>,
    (journal, report): (&Path, &Path),
    reporter: &Reporter<'_>,
) {
    // The pre-flight's repeated findings, summed up before the plan they led to.
    reporter.summarize();
    if let Some((row, first)) = plan.first_shared_flow_token {
        // Once for the whole file, never folded into the counted findings.
        Printer::print(
            reporter,
            &Finding::warning(format!(
                "{} share{} a flow_token with an earlier row (row {row} has the flow_token of row {first})",
                words::tally(plan.shared_flow_token, "row", "rows"),
                if plan.shared_flow_token == 1 { "s" } else { "" }
            ))
            .with_help(Some(
                "a completed Flow is matched to its row by its flow_token: give each row its own (e.g. `flow_token: \"booking-{{customer_id}}\"`); replies to rows that share one are matched by the number that replied, or by the message they answer when the callbacks carry it",
            )),
        );
    }
    let endpoint = account.map_or_else(
        || "(no account configured)".to_owned(),
        |account| format!("POST {}", account.messages_url()),
    );
    let rate = match options.rate {
        0 => "no rate limit".to_owned(),
        rate => {
            let seconds = plan.to_send.count().div_ceil(u64::from(rate));
            format!("{rate} messages/s ({})", words::about_duration(seconds))
        }
    };
    let mut lines = vec![format!("template: {}", options.template.display())];
    if let Some(change) = &plan.template_change {
        lines.push(describe_template_change(change));
    }
    lines.extend([
        format!(
            "data:     {} ({} valid, {} invalid)",
            options.data.display(),
            plan.valid,
            plan.invalid
        ),
        format!("endpoint: {endpoint}"),
    ]);
    if let Some((field, key)) = plan.track_example() {
        lines.push(format!(
            "track:    extra_info.{field} carries each row's key (row 2: `{key}`); callbacks are matched to rows by it"
        ));
    }
    if plan.settled > 0 {
        lines.push(format!(
            "settled:  {} unknown settled as accepted from callbacks (--events): the provider has {} message{}",
            plan.settled,
            if plan.settled == 1 { "its" } else { "their" },
            plural(plan.settled)
        ));
    }
    if plan.accepted_before > 0 || plan.unknown > 0 {
        lines.push(format!(
            "resume:   {} accepted earlier (skipped), {} unknown ({})",
            plan.accepted_before,
            plan.unknown,
            if options.resend_unknown {
                "sent again"
            } else {
                "not sent"
            }
        ));
    }
    if plan.duplicate > 0 || plan.excluded > 0 || plan.opted_out > 0 {
        lines.push(format!(
            "not sent: {} duplicate (the number of an earlier row), {} excluded (--exclude), {} opted-out (--events)",
            plan.duplicate, plan.excluded, plan.opted_out
        ));
    }
    if plan.held_daily > 0 {
        lines.push(format!(
            "daily:    {} row{} stay pending (--daily-limit {}): run again when slots open",
            plan.held_daily,
            plural(plan.held_daily),
            options.daily_limit.unwrap_or_default()
        ));
    }
    if plan.held > 0 {
        lines.push(format!(
            "limit:    {} more row{} stay pending (--limit {}): run again to send them",
            plan.held,
            plural(plan.held),
            options.limit.unwrap_or_default()
        ));
    }
    if let Some(hours) = hours {
        lines.push(format!("window:   {}", hours.describe(jiff::Timestamp::now())));
    }
    lines.push(format!(
        "to send:  {} at {rate}, {} in flight at most",
        plan.to_send.count(),
        options.concurrency
    ));
    if options.dry_run {
        lines.push(format!("dry run:  nothing is sent; report {}", report.display()));
    } else {
        lines.push(format!("journal:  {}; report {}", journal.display(), report.display()));
    }
    for line in lines {
        reporter.note(&line);
    }
}

fn confirm(options: &SendOptions, count: u64, printer: &Printer) -> Result<(), ExitStatus> {
    if options.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        printer.print(
            &Finding::error("refusing to send without confirmation: standard input is not a terminal")
                .with_help(Some("pass --yes to send without asking (scripts, CI)")),
        );
        return Err(ExitStatus::Usage);
    }
    eprint!("Send {count} message{}? [y/N] ", plural(count));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() || !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        printer.note("nothing sent");
        return Err(ExitStatus::Invalid);
    }
    Ok(())
}

/// Sends the planned rows, drawing progress; returns the journal and why sending stopped early,
/// if it did.
fn send_rows(
    compiler: MessageCompiler,
    options: &SendOptions,
    account: Account,
    journal: Journal,
    plan: Plan,
    (hours, feed): (Option<SendingHours>, Option<EventFeed>),
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
    sent.map_err(|error| match error {
        RunError::Client(error) => fail(printer, &error, None, error.exit_status()),
        RunError::Runtime(_) => {
            printer.print(&Finding::error(error.to_string()));
            ExitStatus::Invalid
        }
        RunError::Journal(error) => fail(printer, &error, error.help(), error.exit_status()),
    })
}

/// The first Ctrl-C or SIGTERM stops taking rows and lets requests in flight finish; a second
/// signal quits at once (the journal stays consistent: rows in flight become `unknown`).
async fn watch_signals(stop: StopSignal, progress: Arc<Progress>, bar: Option<indicatif::ProgressBar>) {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return;
    };
    let Some(signal) = next_signal(&mut terminate).await else {
        return;
    };
    stop.request(StopCause::Interrupted(signal));
    // The bar is not drawn again below the message.
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "\nstopping ({}): no new requests; waiting for those in flight ({} rows done). A second Ctrl-C or SIGTERM quits at once (the journal stays consistent).",
        words::signal_name(signal),
        progress.done.load(Ordering::Relaxed)
    );
    if let Some(second) = next_signal(&mut terminate).await {
        eprintln!("quitting at once; rows in flight will be reported as unknown on the next run");
        std::process::exit(signal_status(second) as i32);
    }
}

async fn next_signal(terminate: &mut tokio::signal::unix::Signal) -> Option<Signal> {
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.ok().map(|()| Signal::Interrupt),
        received = terminate.recv() => received.map(|()| Signal::Terminate),
    }
}

fn signal_status(signal: Signal) -> ExitStatus {
    match signal {
        Signal::Interrupt => ExitStatus::Interrupted,
        Signal::Terminate => ExitStatus::Terminated,
    }
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} rows  {rate}  ETA {eta}  {msg}")
            .map(|style| {
                // indicatif's own `{per_sec}` prints four decimals (`155.1974/s`).
                style.with_key(
                    "rate",
                    |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        let _ = write!(out, "{:.0}/s", state.per_sec());
                    },
                )
            })
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Draws progress: the bar on a terminal, otherwise a plain line every few seconds.
async fn report_progress(bar: Option<indicatif::ProgressBar>, progress: Arc<Progress>, total: u64, stop: StopSignal) {
    let started = std::time::Instant::now();
    let tick = if bar.is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    loop {
        tokio::time::sleep(tick).await;
        if stop.is_set() && bar.is_some() {
            return;
        }
        let done = progress.done.load(Ordering::Relaxed);
        let accepted = progress.accepted.load(Ordering::Relaxed);
        let failed = progress.failed.load(Ordering::Relaxed);
        let retries = progress.retries.load(Ordering::Relaxed);
        let paused = progress
            .paused_until
            .lock()
            .ok()
            .and_then(|paused| paused.clone())
            .map(|until| format!(", paused outside the window until {until}"))
            .unwrap_or_default();
        match &bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!(
                    "{accepted} accepted, {failed} failed, {retries} retries{paused}"
                ));
            }
            None => {
                let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                let of = if total > 0 { format!("/{total}") } else { String::new() };
                eprintln!("progress: {done}{of} rows done, {accepted} accepted, {failed} failed, {retries} retries, {rate:.1} rows/s{paused}");
            }
        }
    }
}

/// Tells the user why sending stopped and what to do; the exit status it calls for.
fn explain_stop(cause: Option<&StopCause>, summary: &csv_report::Summary, printer: &Printer) -> Option<ExitStatus> {
    let pending = summary.pending + summary.retryable;
    match cause? {
        StopCause::Interrupted(signal) => {
            printer.note(&format!(
                "stopped by {}: {pending} row{} not sent yet. Run the same command again to resume.",
                words::signal_name(*signal),
                plural(pending)
            ));
            Some(signal_status(*signal))
        }
        StopCause::OutsideWindow(opening) => {
            printer.note(&format!(
                "outside the sending window (--window): {pending} row{} not sent yet; the window opens {opening}. Run the same command again then.",
                plural(pending)
            ));
            Some(ExitStatus::Invalid)
        }
        StopCause::DataChanged { row } => {
            printer.print(
                &Finding::error(format!(
                    "the data file changed during the run: row {row} is not the row the pre-flight checked; sending stopped"
                ))
                .with_help(Some(format!(
                    "row {row} was not sent (`invalid` in the report). Put the file back as it was and run the same command again to send the {pending} pending row{}; a changed file is a new campaign (--restart sends every row again)",
                    plural(pending)
                ))),
            );
            Some(ExitStatus::Invalid)
        }
        StopCause::SpamLimit => {
            printer.print(&Finding::error("Meta's spam rate limit (131048) came back in the event store: sending stopped").with_help(Some(format!(
                "the business number's quality rating is low: people block or report its messages. A person must look (WhatsApp Manager, the number's quality) before sending more; {pending} row{} stay pending: run the same command again once fixed",
                plural(pending)
            ))));
            Some(ExitStatus::Invalid)
        }
        StopCause::FailureBurst { percent } => {
            printer.print(&Finding::error(format!(
                "{percent}% of the latest deliveries failed as undeliverable (131026) or outside the 24-hour window (131047): sending stopped"
            )).with_help(Some(format!(
                "a Flow message reaches only people who wrote to the business in the last 24 hours; check the list (a wrong or stale one) before sending the {pending} pending row{} (--max-failure-rate sets the threshold)",
                plural(pending)
            ))));
            Some(ExitStatus::Invalid)
        }
        StopCause::Internal(message) => {
            printer.print(
                &Finding::error(format!("internal error, sending stopped: {message}"))
                    .with_help(Some("this is a bug in flowc: please report it. The journal is consistent: a row that was in flight is `unknown`; run the same command again to send the rest")),
            );
            Some(ExitStatus::Invalid)
        }
        StopCause::Refused { reason, code, message } => {
            let unsent = format!(
                "{pending} unsent row{} stay pending: run the same command again once fixed",
                plural(pending)
            );
            let (what, help) = match reason {
                StopReason::Credentials => (
                    "the provider refused the SID or the API key",
                    format!("check the SID (--sid / KALEYRA_SID), the API key (--api-key / KALEYRA_API_KEY) and the region (--region / KALEYRA_REGION): the key belongs to one region's API domain; {unsent}"),
                ),
                StopReason::Number => (
                    "the provider does not know the business number on this account",
                    format!("check the business number (--from / KALEYRA_WHATSAPP_NUMBER): it must be a WhatsApp number of this account, in E.164 with `+`; {unsent}"),
                ),
                StopReason::Account => (
                    "the provider does not allow this account or number on WhatsApp API v2",
                    format!("the account type or the number's API version does not fit this endpoint: ask Kaleyra support to enable WhatsApp API v2 for the account and number; {unsent}"),
                ),
                StopReason::Endpoint => (
                    "the endpoint is not the provider's messages API",
                    format!("check the region (--region / KALEYRA_REGION), --base-url, the SID and the business number, which make up the URL; {unsent}"),
                ),
                StopReason::DailyLimit => (
                    "the account's daily limit is reached",
                    format!("Kaleyra stops the account's messages for the day (WAV2101): run the same command again tomorrow, or once the limit is raised, to send the {pending} pending row{}", plural(pending)),
                ),
                StopReason::Balance => (
                    "low balance",
                    format!("top up the account, then run the same command again to send the {pending} pending row{}", plural(pending)),
                ),
            };
            printer
                .print(&Finding::error(format!("{what} ({code}: {message}); sending stopped")).with_help(Some(help)));
            Some(ExitStatus::Invalid)
        }
        StopCause::Events(message) => {
            printer.print(
                &Finding::error(format!("the event store could not be read to check for a STOP: {message}"))
                    .with_help(Some(format!(
                        "sending stopped rather than message someone who may have opted out; {pending} row{} stay pending: run the same command again once the store can be read",
                        plural(pending)
                    ))),
            );
            Some(ExitStatus::Invalid)
        }
        StopCause::Data(message) => {
            printer.print(&Finding::error(format!(
                "the data file could not be read again: {message}"
            )));
            Some(ExitStatus::Invalid)
        }
        StopCause::Journal(message) => {
            printer.print(
                &Finding::error(format!("the journal failed: {message}"))
                    .with_help(Some("sending stopped so that nothing goes unrecorded; free disk space or fix the journal's directory, then run the same command again")),
            );
            Some(ExitStatus::Invalid)
        }
    }
}
