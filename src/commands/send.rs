//! `flowc send`: pre-flight every row, show the plan, confirm, send, report.

use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{check_overrides, open_data, prepare, report_problem, ExitStatus};
use crate::diagnostic::{Finding, Printer, RowRef};
use crate::pipeline::MessageCompiler;
use crate::send::account::{Account, AccountSettings};
use crate::send::journal::{Fingerprint, Journal, JournalError, JournalHandle, JournalWriter, Record, RowStatus};
use crate::send::{self, report, Job, Logger, Progress, SendSettings, StopCause, StopSignal};

pub struct SendOptions {
    pub template: PathBuf,
    pub data: PathBuf,
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
    pub resend_unknown: bool,
    pub verbose: bool,
}

pub fn run(options: SendOptions, printer: &Printer) -> ExitStatus {
    match try_run(options, printer) {
        Ok(status) | Err(status) => status,
    }
}

/// Which rows this run sends: one bit a row number.
struct RowSet {
    bits: Vec<u64>,
    count: u64,
}

impl RowSet {
    fn new() -> RowSet {
        RowSet {
            bits: Vec::new(),
            count: 0,
        }
    }

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

    fn contains(&self, row: u64) -> bool {
        self.bits
            .get((row / 64) as usize)
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }
}

/// What the pre-flight found.
struct Plan {
    valid: u64,
    invalid: u64,
    accepted_before: u64,
    unknown: u64,
    to_send: RowSet,
}

fn try_run(options: SendOptions, printer: &Printer) -> Result<ExitStatus, ExitStatus> {
    let usage = |finding: Finding| {
        printer.print(&finding);
        ExitStatus::Usage
    };
    if options.data.as_os_str() == "-" {
        return Err(usage(
            Finding::error("flowc send needs a data file, not standard input").with_help(Some(
                "the file is read twice (pre-flight, then sending) and resuming reads it again",
            )),
        ));
    }
    let compiler = prepare(&options.template, printer)?;
    check_overrides(&compiler, &options.vars, printer)?;
    let account = match options.account.clone().resolve() {
        Ok(account) => Some(account),
        Err(error) if options.dry_run => {
            printer.note(&format!("note: {error} (a dry run sends nothing, so it goes on)"));
            None
        }
        Err(error) => return Err(usage(Finding::error(error.to_string()))),
    };
    let fingerprint =
        fingerprint(&compiler, &options.vars, &options.data).map_err(|message| usage(Finding::error(message)))?;
    let stem = options
        .data
        .file_stem()
        .map_or_else(|| "campaign".to_owned(), |stem| stem.to_string_lossy().into_owned());
    let journal_path = options
        .journal
        .clone()
        .unwrap_or_else(|| options.data.with_file_name(format!("{stem}.journal.sqlite")));
    let report_path = options.report.clone().unwrap_or_else(|| {
        let name = if options.dry_run {
            format!("{stem}.dry-run.report.csv")
        } else {
            format!("{stem}.report.csv")
        };
        journal_path.with_file_name(name)
    });
    let journal_error = |error: JournalError| {
        let help = match &error {
            JournalError::Changed { .. } => Some(
                "resuming would send a different campaign: run with --restart to start a new one (rows accepted earlier would be sent again), or use another --journal".to_owned(),
            ),
            JournalError::Busy { .. } => Some("wait for the other run to finish, or use another --journal".to_owned()),
            _ => None,
        };
        printer.print(&Finding::error(error.to_string()).with_help(help));
        ExitStatus::Usage
    };
    let mut journal = Journal::open(
        (!options.dry_run).then_some(journal_path.as_path()),
        &fingerprint,
        options.restart,
    )
    .map_err(journal_error)?;
    let recovered = journal.recover_in_flight().map_err(journal_error)?;
    if recovered > 0 {
        printer.note(&format!(
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
    let plan = preflight(&compiler, &options, &mut journal, printer)?;

    print_plan(&options, account.as_ref(), &plan, &journal_path, &report_path, printer);
    if options.strict && plan.invalid > 0 {
        printer.print(
            &Finding::error(format!(
                "--strict: {} invalid row{}; nothing sent",
                plan.invalid,
                plural(plan.invalid)
            ))
            .with_help(Some(
                "fix the rows reported above, or run without --strict to send the valid ones",
            )),
        );
        return Err(ExitStatus::Invalid);
    }
    let mut stop_cause = None;
    if !options.dry_run && plan.to_send.count > 0 {
        let Some(account) = account else {
            return Err(ExitStatus::Usage);
        };
        confirm(&options, plan.to_send.count, printer)?;
        // The rows are read again to send them: the file must be the one the pre-flight read.
        match self::fingerprint(&compiler, &options.vars, &options.data) {
            Ok(now) if now == fingerprint => {}
            _ => {
                printer.print(
                    &Finding::error(format!(
                        "{} changed after its pre-flight; nothing sent",
                        options.data.display()
                    ))
                    .with_help(Some("run the command again once the file is no longer being edited")),
                );
                return Err(ExitStatus::Usage);
            }
        }
        let (returned, cause) = send_rows(compiler, &options, account, journal, plan.to_send, printer)?;
        journal = returned;
        stop_cause = cause;
    }

    let summary = report::write(&journal, &report_path).map_err(|error| {
        printer.print(&Finding::error(error.to_string()));
        ExitStatus::Invalid
    })?;
    printer.note(&format!("report: {}", report_path.display()));
    let status = explain_stop(stop_cause.as_ref(), &summary, printer);
    if options.dry_run {
        printer.line(&format!(
            "dry run: {} would be sent, {} invalid; nothing was sent",
            summary.pending, summary.invalid
        ));
        return Ok(if summary.invalid > 0 {
            ExitStatus::Invalid
        } else {
            ExitStatus::Ok
        });
    }
    printer.line(&summary.to_string());
    Ok(match status {
        Some(status) => status,
        None if summary.all_accepted() => ExitStatus::Ok,
        None => ExitStatus::Invalid,
    })
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The campaign's identity: the template text with its `--var` values, and the data file's bytes.
fn fingerprint(compiler: &MessageCompiler, vars: &[(String, String)], data: &Path) -> Result<Fingerprint, String> {
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
    let mut file =
        crate::input::open(data).map_err(|error| format!("cannot read data file `{}`: {error}", data.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|error| format!("cannot read data file `{}`: {error}", data.display()))?;
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

/// Renders and validates every row, records it in the journal, and decides what to send.
fn preflight(
    compiler: &MessageCompiler,
    options: &SendOptions,
    journal: &mut Journal,
    printer: &Printer,
) -> Result<Plan, ExitStatus> {
    let journal_failed = |error: JournalError| {
        printer.print(&Finding::error(error.to_string()));
        ExitStatus::Invalid
    };
    let before = journal.resume_index().map_err(journal_failed)?;
    let rows = open_data(compiler, &options.data, printer)?;
    let file = super::data_name(&options.data);
    let mut plan = Plan {
        valid: 0,
        invalid: 0,
        accepted_before: 0,
        unknown: 0,
        to_send: RowSet::new(),
    };
    let mut batch = journal.preflight().map_err(journal_failed)?;
    let mut body = Vec::with_capacity(2048);
    for row in rows {
        let mut row = match row {
            Ok(row) => row,
            Err(error) => {
                printer.print(&Finding::from_data_error(&error));
                if !error.is_row_error() {
                    return Err(ExitStatus::Invalid);
                }
                if let crate::data::DataError::BadRow { row, .. } = &error {
                    plan.invalid += 1;
                    batch
                        .record(*row, "", Some(&error.to_string()))
                        .map_err(journal_failed)?;
                }
                continue;
            }
        };
        compiler.apply_overrides(&mut row, &options.vars);
        let number = row.number;
        let row_ref = RowRef {
            file: file.clone(),
            row: number,
        };
        body.clear();
        match compiler.compile_row_into(row, &mut body) {
            Ok(_) => {
                plan.valid += 1;
                // Only `to` is read back; serde skips the rest of the body without building it.
                let recipient = serde_json::from_slice::<Recipient>(&body)
                    .map(|peek| peek.messaging_object.to)
                    .unwrap_or_default();
                batch.record(number, &recipient, None).map_err(journal_failed)?;
                let send = match before.get(number) {
                    None | Some(RowStatus::Pending | RowStatus::Invalid | RowStatus::Retryable) => true,
                    Some(RowStatus::Unknown | RowStatus::Sending) => {
                        plan.unknown += 1;
                        options.resend_unknown
                    }
                    Some(RowStatus::Accepted) => {
                        plan.accepted_before += 1;
                        false
                    }
                    Some(RowStatus::Failed) => false,
                };
                if send {
                    plan.to_send.insert(number);
                }
            }
            Err(problem) => {
                report_problem(compiler, Some(&row_ref), &problem, printer);
                plan.invalid += 1;
                let reason = Finding::from_problem(compiler.template(), None, &problem)
                    .into_iter()
                    .map(|finding| finding.message)
                    .collect::<Vec<_>>()
                    .join("; ");
                batch.record(number, "", Some(&reason)).map_err(journal_failed)?;
            }
        }
    }
    batch.finish().map_err(journal_failed)?;
    Ok(plan)
}

fn print_plan(
    options: &SendOptions,
    account: Option<&Account>,
    plan: &Plan,
    journal: &Path,
    report: &Path,
    printer: &Printer,
) {
    let endpoint = account.map_or_else(
        || "(no account configured)".to_owned(),
        |account| format!("POST {}", account.messages_url()),
    );
    let rate = match options.rate {
        0 => "no rate limit".to_owned(),
        rate => {
            let seconds = plan.to_send.count / u64::from(rate);
            format!("{rate} messages/s (about {}m {}s)", seconds / 60, seconds % 60)
        }
    };
    let mut lines = vec![
        format!("template: {}", options.template.display()),
        format!(
            "data:     {} ({} valid, {} invalid)",
            options.data.display(),
            plan.valid,
            plan.invalid
        ),
        format!("endpoint: {endpoint}"),
    ];
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
    lines.push(format!(
        "to send:  {} at {rate}, {} in flight at most",
        plan.to_send.count, options.concurrency
    ));
    if options.dry_run {
        lines.push(format!("dry run:  nothing is sent; report {}", report.display()));
    } else {
        lines.push(format!("journal:  {}; report {}", journal.display(), report.display()));
    }
    for line in lines {
        printer.note(&line);
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

/// Sends the planned rows; returns the journal and why sending stopped early, if it did.
fn send_rows(
    compiler: MessageCompiler,
    options: &SendOptions,
    account: Account,
    journal: Journal,
    to_send: RowSet,
    printer: &Printer,
) -> Result<(Journal, Option<StopCause>), ExitStatus> {
    let settings = SendSettings {
        rate: NonZeroU32::new(options.rate),
        concurrency: options.concurrency,
        max_attempts: options.max_attempts,
        retry_base: options.retry_delay,
        timeout: options.timeout,
        verbose: options.verbose,
    };
    let client = send::http_client(&settings).map_err(|error| {
        printer.print(&Finding::error(error.to_string()));
        ExitStatus::Usage
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| {
            printer.print(&Finding::error(format!("cannot start the async runtime: {error}")));
            ExitStatus::Invalid
        })?;
    let writer = JournalWriter::spawn(journal);
    let stop = StopSignal::default();
    let progress = Arc::new(Progress::default());
    let bar = progress_bar(to_send.count);
    let log: Logger = {
        let bar = bar.clone();
        Arc::new(move |line: String| match &bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        })
    };
    let total = to_send.count;
    let (jobs, queue) = mpsc::channel::<Job>(options.concurrency * 2);
    let producer = {
        let stop = stop.clone();
        let journal = writer.handle();
        let vars = options.vars.clone();
        let data = options.data.clone();
        std::thread::spawn(
            move || match crate::data::open(&data, compiler.var_names(), compiler.required()) {
                Ok(rows) => produce(&compiler, rows, &vars, &to_send, &jobs, &stop, &journal),
                Err(error) => stop.request(StopCause::Data(error.to_string())),
            },
        )
    };
    let delivered = runtime.block_on(async {
        let interrupt = tokio::spawn(watch_interrupts(stop.clone(), Arc::clone(&progress)));
        let reporter = tokio::spawn(report_progress(bar.clone(), Arc::clone(&progress), total));
        let delivered = send::deliver(
            queue,
            client,
            account,
            settings,
            writer.handle(),
            stop.clone(),
            Arc::clone(&progress),
            log,
        )
        .await;
        interrupt.abort();
        reporter.abort();
        delivered
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let _ = producer.join();
    let journal = writer.finish().map_err(|error| {
        printer.print(&Finding::error(error.to_string()));
        ExitStatus::Invalid
    })?;
    if let Err(error) = delivered {
        printer.print(&Finding::error(error.to_string()));
        return Err(ExitStatus::Usage);
    }
    Ok((journal, stop.cause()))
}

/// Renders the rows to send into jobs; blocks when the queue is full, so memory stays flat.
fn produce(
    compiler: &MessageCompiler,
    rows: crate::data::Rows,
    vars: &[(String, String)],
    to_send: &RowSet,
    jobs: &mpsc::Sender<Job>,
    stop: &StopSignal,
    journal: &JournalHandle,
) {
    for row in rows {
        if stop.is_set() {
            return;
        }
        let Ok(mut row) = row else { continue };
        if !to_send.contains(row.number) {
            continue;
        }
        compiler.apply_overrides(&mut row, vars);
        let number = row.number;
        let mut body = Vec::with_capacity(1024);
        match compiler.compile_row_into(row, &mut body) {
            Ok(_) => {
                if jobs.blocking_send(Job { row: number, body }).is_err() {
                    return;
                }
            }
            // The pre-flight found this row valid: the data file changed during the run.
            Err(_) => {
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
}

async fn watch_interrupts(stop: StopSignal, progress: Arc<Progress>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.request(StopCause::Interrupted);
    eprintln!(
        "\nstopping: no new requests; waiting for those in flight ({} rows done). Press Ctrl-C again to quit at once (the journal stays consistent).",
        progress.done.load(Ordering::Relaxed)
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("quitting at once; rows in flight will be reported as unknown on the next run");
        std::process::exit(ExitStatus::Interrupted as i32);
    }
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Draws progress: the bar on a terminal, otherwise a plain line every few seconds.
async fn report_progress(bar: Option<indicatif::ProgressBar>, progress: Arc<Progress>, total: u64) {
    let started = std::time::Instant::now();
    let tick = if bar.is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    loop {
        tokio::time::sleep(tick).await;
        let done = progress.done.load(Ordering::Relaxed);
        let accepted = progress.accepted.load(Ordering::Relaxed);
        let failed = progress.failed.load(Ordering::Relaxed);
        let retries = progress.retries.load(Ordering::Relaxed);
        match &bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!("{accepted} accepted, {failed} failed, {retries} retries"));
            }
            None => {
                let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                let of = if total > 0 { format!("/{total}") } else { String::new() };
                eprintln!("progress: {done}{of} rows done, {accepted} accepted, {failed} failed, {retries} retries, {rate:.1} rows/s");
            }
        }
    }
}

/// Tells the user why sending stopped and what to do; the exit status it calls for.
fn explain_stop(cause: Option<&StopCause>, summary: &report::Summary, printer: &Printer) -> Option<ExitStatus> {
    let pending = summary.pending + summary.retryable;
    match cause? {
        StopCause::Interrupted => {
            printer.note(&format!(
                "stopped by Ctrl-C: {pending} row{} not sent yet. Run the same command again to resume.",
                plural(pending)
            ));
            Some(ExitStatus::Interrupted)
        }
        StopCause::Credentials { code, message } => {
            printer.print(
                &Finding::error(format!("the provider refused the account ({code}: {message}); sending stopped"))
                    .with_help(Some(format!(
                        "check the SID (--sid / KALEYRA_SID), the API key (--api-key / KALEYRA_API_KEY), the business number (--from / KALEYRA_WHATSAPP_NUMBER) and the region; {pending} unsent row{} stay pending: run the same command again once fixed",
                        plural(pending)
                    ))),
            );
            Some(ExitStatus::Invalid)
        }
        StopCause::Balance { code, message } => {
            printer.print(
                &Finding::error(format!("low balance ({code}: {message}); sending stopped")).with_help(Some(format!(
                    "top up the account, then run the same command again to send the {pending} pending row{}",
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
