//! The command layer: runs a command over the library's stages and is the only code (with
//! `main.rs`) that prints. Findings go to stderr through [`Printer`]; bodies go to stdout.

mod check;
mod grouping;
mod init;
mod preview;
mod receive;
mod render;
mod report;
mod send;
mod test;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::data::{self, Rows};
use crate::diagnostic::{Emit, Finding, Printer, RowRef};
use crate::flow;
use crate::pipeline::{compile_in_order, Flow, Inspection, MessageCompiler, Problem, RowOutcome};
use crate::render::{example_values, LeafError, MissingExample};
use crate::suggest::did_you_mean;
use crate::template::Template;

use self::grouping::Grouping;

pub use check::CheckOptions;
pub use init::InitOptions;
pub use preview::PreviewOptions;
pub use receive::ReceiveOptions;
pub use render::RenderOptions;
pub use report::ReportOptions;
pub use send::SendOptions;
pub use test::TestOptions;

pub enum Command {
    Render(RenderOptions),
    Check(CheckOptions),
    Send(Box<SendOptions>),
    Test(TestOptions),
    Init(InitOptions),
    Preview(PreviewOptions),
    Receive(ReceiveOptions),
    Report(ReportOptions),
    /// Text made by the command line itself (completions, the manual page).
    Print(Vec<u8>),
}

pub use crate::exit::ExitStatus;
use crate::exit::{OutputLost, Refused, UserError};

/// Prints an error with its help; the status it ends the run with (decided in `exit.rs`).
/// The event store `--store` or `--events` names: a PostgreSQL URL (its password from the URL,
/// the password file or `PGPASSWORD`) or a SQLite file.
fn store_location(
    value: &Path,
    password_file: Option<&Path>,
) -> Result<crate::events::StoreLocation, crate::events::EventsError> {
    let environment = std::env::var("PGPASSWORD")
        .ok()
        .filter(|password| !password.is_empty())
        .map(crate::secret::Secret::new);
    crate::events::StoreLocation::parse(value, password_file, environment)
}

fn fail(printer: &dyn Emit, error: &dyn UserError) -> ExitStatus {
    printer.emit(Finding::error(error.to_string()).with_help(error.help()));
    error.exit_status()
}

pub fn run(command: Command) -> ExitStatus {
    let printer = match &command {
        Command::Check(options) => Printer::with_format(options.format),
        Command::Test(options) => Printer::with_format(options.format),
        _ => Printer::for_stderr(),
    };
    let status = match command {
        Command::Render(options) => grouped(&printer, options.max_errors, |grouping| render::run(&options, grouping)),
        Command::Check(options) => grouped(&printer, options.max_errors, |grouping| check::run(&options, grouping)),
        Command::Send(options) => grouped(&printer, options.max_errors, |grouping| send::run(*options, grouping)),
        Command::Test(options) => test::run(&options, &printer),
        Command::Init(options) => init::run(&options, &printer),
        Command::Preview(options) => preview::run(&options, &printer),
        Command::Receive(options) => receive::run(options, &printer),
        Command::Report(options) => report::run(&options, &printer),
        Command::Print(text) => {
            printer.write_out(&text);
            ExitStatus::Ok
        }
    };
    match printer.lost_output() {
        Some(reason) => {
            let lost = OutputLost(reason.to_owned());
            printer.print_on_stderr(&Finding::error(lost.to_string()));
            status.worst(lost.exit_status())
        }
        None => status,
    }
}

/// Runs a command over rows with repeated findings grouped; what was not summed up yet when
/// it stopped (early, on an error) is summed up last.
fn grouped(printer: &Printer, max_full: usize, run: impl FnOnce(&Grouping<'_>) -> ExitStatus) -> ExitStatus {
    let grouping = Grouping::new(printer, max_full);
    let status = run(&grouping);
    grouping.summarize();
    status
}

/// Loads a template and prepares its compiler, printing what is wrong if it cannot: every value
/// that does not compile, and, in the same pass, what the rest of the template breaks with the
/// example values (`overrides` applied), in the order of the template.
fn prepare(
    path: &Path,
    overrides: &[(String, String)],
    grouping: &Grouping<'_>,
) -> Result<MessageCompiler, ExitStatus> {
    let template = Template::load(path).map_err(|error| {
        grouping.emit(Finding::from_template_error(&error));
        error.exit_status()
    })?;
    let mut compiler = match MessageCompiler::new(template) {
        Ok(compiler) => compiler,
        Err(rejected) => {
            let mut compiler = rejected.compiler;
            let (flow_findings, status) = link_flow(&mut compiler);
            let template = compiler.template();
            let mut findings: Vec<Finding> = rejected
                .errors
                .iter()
                .map(|error| Finding::from_leaf_error(template, error))
                .collect();
            // Without example values there is nothing to check the rest with (a data file gives
            // the values): not an error of its own for `render --data` or `send`.
            if let Ok(values) = example_values(&template.vars, overrides) {
                findings.extend(inspection_findings(&compiler, None, &compiler.inspect(&values)));
            }
            findings.sort_by_key(Finding::offset);
            // What is wrong with the Flow follows, in the order it was found.
            for finding in findings.into_iter().chain(flow_findings) {
                grouping.emit(finding);
            }
            let status = rejected
                .errors
                .iter()
                .map(LeafError::exit_status)
                .fold(status, ExitStatus::worst);
            return Err(status);
        }
    };
    let (findings, status) = link_flow(&mut compiler);
    for finding in findings {
        grouping.emit(finding);
    }
    match status {
        ExitStatus::Ok => Ok(compiler),
        status => Err(status),
    }
}

/// Reads the Flow the template names (if any) and has every body checked against it; the
/// findings about the Flow and about the template as written, and the status they end the
/// template with (warnings leave it `Ok`).
fn link_flow(compiler: &mut MessageCompiler) -> (Vec<Finding>, ExitStatus) {
    let Some(linked) = flow::link(compiler.template()) else {
        return (Vec::new(), ExitStatus::Ok);
    };
    let mut status = ExitStatus::Ok;
    let findings = linked
        .issues
        .iter()
        .map(|issue| {
            status = status.worst(issue.exit_status());
            Finding::from_flow_issue(compiler.template(), issue)
        })
        .collect();
    if let Some(check) = linked.check {
        compiler.set_flow(check);
    }
    (findings, status)
}

/// The findings of an inspection: its warnings and its problem's.
fn inspection_findings(compiler: &MessageCompiler, row: Option<&RowRef>, inspection: &Inspection) -> Vec<Finding> {
    let template = compiler.template();
    let mut findings: Vec<Finding> = inspection
        .warnings
        .iter()
        .map(|warning| Finding::from_warning(template, row, warning))
        .collect();
    if let Some(problem) = &inspection.problem {
        findings.extend(Finding::from_problem(template, row, problem));
    }
    findings
}

/// `--var` keys must be declared: a typo would otherwise be silently ignored.
fn check_overrides(
    compiler: &MessageCompiler,
    overrides: &[(String, String)],
    printer: &Printer,
) -> Result<(), ExitStatus> {
    let mut status = Ok(());
    for (key, _) in overrides {
        if compiler.template().var_index(key).is_none() {
            let names = compiler.var_names().iter().map(String::as_str);
            let help = did_you_mean(key, names.clone())
                .unwrap_or_else(|| format!("the template declares: {}", names.collect::<Vec<_>>().join(", ")));
            status = Err(fail(
                printer,
                &Refused::new(
                    format!(
                        "--var {key}: `{key}` is not declared in {}",
                        compiler.template().source.name
                    ),
                    help,
                ),
            ));
        }
    }
    status
}

/// `--column VAR="Column Name"`: reads each named variable from that column of the data file.
/// A variable the template does not declare, one named twice, or one column read for two
/// variables is refused: each would leave a value that is not the one the user meant.
fn map_columns(
    compiler: &mut MessageCompiler,
    columns: &[(String, String)],
    printer: &Printer,
) -> Result<(), ExitStatus> {
    let mut status = Ok(());
    for (index, (var, column)) in columns.iter().enumerate() {
        let column = column.trim();
        let shown = format!("--column {var}=\"{}\"", crate::words::printable(column));
        if columns[..index].iter().any(|(earlier, _)| earlier == var) {
            status = Err(fail(
                printer,
                &Refused::new(
                    format!("{shown}: `{var}` is given a column twice"),
                    "give each variable one --column",
                ),
            ));
        } else if column.is_empty() {
            status = Err(fail(
                printer,
                &Refused::new(
                    format!("{shown}: the column name is empty"),
                    format!("write --column {var}=\"Column Name\", the name in the header"),
                ),
            ));
        } else if !compiler.map_column(var, column) {
            let names = compiler.var_names().iter().map(String::as_str);
            let help = did_you_mean(var, names.clone())
                .unwrap_or_else(|| format!("the template declares: {}", names.collect::<Vec<_>>().join(", ")));
            status = Err(fail(
                printer,
                &Refused::new(
                    format!(
                        "{shown}: `{var}` is not declared in {}",
                        compiler.template().source.name
                    ),
                    help,
                ),
            ));
        }
    }
    if status.is_ok() {
        if let Some((column, first, second)) = compiler.fields().shared_column() {
            status = Err(fail(
                printer,
                &Refused::new(
                    format!("`{column}` would be read for both `{first}` and `{second}`"),
                    "map each variable to its own column with --column VAR=\"Column Name\"",
                ),
            ));
        }
    }
    status
}

/// A variable without a value to render the template's examples with, at its declaration.
fn missing_example(compiler: &MessageCompiler, missing: &MissingExample) -> Finding {
    let template = compiler.template();
    let finding = Finding::error(missing.to_string())
        .with_help(missing.help())
        .in_file(&template.source);
    match template.vars.iter().find(|var| var.name == missing.name) {
        Some(var) => finding.at(&template.source, var.span),
        None => finding,
    }
}

/// The example values of the template, or what is missing to render it.
fn examples(
    compiler: &MessageCompiler,
    overrides: &[(String, String)],
    printer: &Printer,
) -> Result<Vec<Value>, ExitStatus> {
    example_values(&compiler.template().vars, overrides).map_err(|missing| {
        printer.emit(missing_example(compiler, &missing));
        missing.exit_status()
    })
}

fn open_data(
    compiler: &MessageCompiler,
    path: &Path,
    delimiter: Option<u8>,
    printer: &Printer,
) -> Result<Rows, ExitStatus> {
    data::open(path, compiler.fields(), delimiter).map_err(|error| {
        printer.emit(Finding::from_data_error(&error));
        error.exit_status()
    })
}

fn data_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Prints the findings of a problem and of the warnings of a compiled message.
fn report_problem(compiler: &MessageCompiler, row: Option<&RowRef>, problem: &Problem, grouping: &Grouping<'_>) {
    for finding in Finding::from_problem(compiler.template(), row, problem) {
        grouping.emit(finding);
    }
}

fn report_warnings(
    compiler: &MessageCompiler,
    row: Option<&RowRef>,
    warnings: &[crate::compile::Warning],
    grouping: &Grouping<'_>,
) {
    for warning in warnings {
        grouping.emit(Finding::from_warning(compiler.template(), row, warning));
    }
}

/// Whether a write failed because the reader went away (`flowc render ... | head`).
fn is_broken_pipe(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
}

fn write_pretty(out: &mut impl Write, body: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, body)?;
    out.write_all(b"\n")
}

/// The folder `check` and `test` read when given none (where `flowc init` puts templates).
const TEMPLATES: &str = "templates";

/// The paths `check` and `test` read: `templates` asked for inside a folder named `templates`
/// (which holds no `templates/` of its own) is that folder, so both run where the templates are.
fn templates_here(paths: &[PathBuf]) -> Vec<PathBuf> {
    let inside = || std::env::current_dir().is_ok_and(|dir| dir.file_name().is_some_and(|name| name == TEMPLATES));
    paths
        .iter()
        .map(|path| {
            if path.as_os_str() == TEMPLATES && std::fs::symlink_metadata(path).is_err() && inside() {
                PathBuf::from(".")
            } else {
                path.clone()
            }
        })
        .collect()
}

/// Template files under the given paths: files as given, directories searched for
/// `*.yaml`/`*.yml` (fixtures and snapshots excluded), in a stable order. `command` (`check`,
/// `test`) names what to run instead when the default folder is not there.
fn template_files(paths: &[PathBuf], command: &str) -> Result<Vec<PathBuf>, Refused> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|error| Refused {
            message: format!("cannot read `{}`: {}", path.display(), crate::input::io_reason(&error)),
            help: (path.as_os_str() == TEMPLATES && error.kind() == io::ErrorKind::NotFound).then(|| format!(
                "run `flowc {command}` in the folder that holds `{TEMPLATES}/` (or in `{TEMPLATES}/` itself), or name the templates: flowc {command} PATH..."
            )),
        })?;
        if metadata.is_dir() {
            let mut found = Vec::new();
            collect_templates(path, &mut found).map_err(|error| Refused {
                message: format!("cannot list `{}`: {error}", path.display()),
                help: None,
            })?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(Refused::new(
            "no templates found",
            "templates are *.yaml or *.yml files",
        ));
    }
    Ok(files)
}

fn collect_templates(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if name.starts_with('.') || name == "__snapshots__" {
            continue;
        }
        if path.is_dir() {
            collect_templates(&path, found)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".fixtures.") {
            found.push(path);
        }
    }
    Ok(())
}

/// What happened to the rows of a data file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct RowCounts {
    ok: u64,
    failed: u64,
    /// The file could not be read to its end.
    broken: bool,
    /// The output closed; the run stopped early without error.
    stopped: bool,
    /// The file holds no rows (said as a finding): nothing done, which is not what was asked.
    no_rows: bool,
}

impl RowCounts {
    /// Whether the rows make the run invalid: a row failed, or there were none.
    fn any_invalid(&self) -> bool {
        self.no_rows || self.failed > 0
    }
}

/// Compiles every row (on every core), reports bad rows, and hands each good body to `emit`
/// in row order.
fn process_rows(
    compiler: &MessageCompiler,
    data_path: &Path,
    rows: Rows,
    overrides: &[(String, String)],
    fail_fast: bool,
    grouping: &Grouping<'_>,
    mut emit: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<RowCounts> {
    let file = data_name(data_path);
    let mut counts = RowCounts::default();
    let mut failure = None;
    let row_ref = |row: u64| RowRef {
        file: file.clone(),
        row,
    };
    // The calling thread reads and writes; the other cores compile.
    let workers = std::thread::available_parallelism().map_or(0, |cores| usize::from(cores) - 1);
    let prepare = |row: &mut data::Row| compiler.apply_overrides(row, overrides);
    // A value set by `--var` came from the command line, not from the row's column.
    let print_in_row = |finding: Finding| {
        if overrides.iter().any(|(key, _)| finding.column() == Some(key.as_str())) {
            grouping.emit(finding.in_column(None));
        } else {
            grouping.emit(finding);
        }
    };
    compile_in_order(compiler, rows, workers, prepare, |outcome| {
        let failed = match outcome {
            RowOutcome::Body { row, body, warnings } => {
                for warning in &warnings {
                    print_in_row(Finding::from_warning(compiler.template(), Some(&row_ref(row)), warning));
                }
                match emit(row, body) {
                    Ok(()) => {
                        counts.ok += 1;
                        false
                    }
                    Err(error) => {
                        if is_broken_pipe(&error) {
                            counts.stopped = true;
                        } else {
                            failure = Some(error);
                        }
                        return Flow::Stop;
                    }
                }
            }
            RowOutcome::Invalid { row, problem } => {
                Finding::from_problem(compiler.template(), Some(&row_ref(row)), &problem)
                    .into_iter()
                    .for_each(print_in_row);
                true
            }
            RowOutcome::Unreadable(error) if error.is_no_rows() => {
                grouping.emit(Finding::from_data_error(&error));
                counts.no_rows = true;
                false
            }
            RowOutcome::Unreadable(error) => {
                grouping.emit(Finding::from_data_error(&error));
                if !error.is_row_error() {
                    counts.broken = true;
                }
                true
            }
        };
        if failed {
            counts.failed += 1;
            if fail_fast || counts.broken {
                return Flow::Stop;
            }
        }
        Flow::Continue
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(counts),
    }
}
