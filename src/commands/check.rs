//! `flowc check`: every template parses, declares what it uses, and renders its examples to a
//! valid body; with `--data`, every row of a campaign's data file does too.

use std::path::PathBuf;

use super::grouping::Grouping;
use super::{
    check_overrides, examples, fail, open_data, prepare, process_rows, report_problem, report_warnings, template_files,
    templates_here, ExitStatus,
};
use crate::diagnostic::{Emit, Finding, Format, Printer, RowRef};
use crate::exit::{Refused, Unfinished, UserError};
use crate::send::campaign::recipient_of;
use crate::send::guardrails::{Guardrails, Verdict};
use crate::words;

pub struct CheckOptions {
    pub paths: Vec<PathBuf>,
    pub data: Option<PathBuf>,
    /// The data file's field separator; `None`: read from its header line.
    pub delimiter: Option<u8>,
    /// `--column VAR=COLUMN`: variables read from a column of another name.
    pub columns: Vec<(String, String)>,
    pub vars: Vec<(String, String)>,
    pub format: Format,
    /// Findings shown in full at most; the rest are counted (see [`crate::findings`]).
    pub max_errors: usize,
}

/// A status line: on stdout, unless stdout is reserved for JSON findings.
fn status_line(printer: &Printer, line: &str) {
    match printer.format() {
        Format::Json => printer.note(line),
        Format::Human | Format::Github => printer.line(line),
    }
}

pub(super) fn run(options: &CheckOptions, grouping: &Grouping<'_>) -> ExitStatus {
    let printer = grouping.printer();
    let files = match template_files(&templates_here(&options.paths), "check") {
        Ok(files) => files,
        Err(refused) => return fail(grouping, &refused),
    };
    if options.data.is_some() && files.len() != 1 {
        return fail(
            grouping,
            &Refused::new(
                format!("--data needs exactly one template, found {}", files.len()),
                "name the campaign's template: flowc check TEMPLATE --data FILE",
            ),
        );
    }
    let mut status = ExitStatus::Ok;
    let mut failed = 0usize;
    for file in &files {
        let outcome = check_template(file, options, grouping);
        grouping.summarize();
        if outcome == ExitStatus::Ok {
            status_line(printer, &format!("ok    {}", file.display()));
        } else {
            status_line(printer, &format!("FAIL  {}", file.display()));
            failed += 1;
        }
        status = status.worst(outcome);
    }
    status_line(
        printer,
        &format!(
            "{} checked: {} ok, {} failed",
            words::count(files.len() as u64, "template", "templates"),
            words::thousands((files.len() - failed) as u64),
            words::thousands(failed as u64)
        ),
    );
    status
}

fn check_template(file: &std::path::Path, options: &CheckOptions, grouping: &Grouping<'_>) -> ExitStatus {
    let printer = grouping.printer();
    let mut compiler = match prepare(file, &options.vars, grouping) {
        Ok(compiler) => compiler,
        Err(status) => return status,
    };
    if let Err(status) = check_overrides(&compiler, &options.vars, printer) {
        return status;
    }
    if let Err(status) = super::map_columns(&mut compiler, &options.columns, printer) {
        return status;
    }
    let values = match examples(&compiler, &options.vars, printer) {
        Ok(values) => values,
        Err(status) => return status,
    };
    match compiler.compile_values(&values) {
        Ok(message) => report_warnings(&compiler, None, &message.warnings, grouping),
        Err(problem) => {
            report_problem(&compiler, None, &problem, grouping);
            return problem.exit_status();
        }
    }
    let Some(data_path) = &options.data else {
        return ExitStatus::Ok;
    };
    let rows = match open_data(&compiler, data_path, options.delimiter, printer) {
        Ok(rows) => rows,
        Err(status) => return status,
    };
    // `flowc send` sends one message per number: say so now for the rows it would skip.
    let mut guardrails = Guardrails::default();
    let file = super::data_name(data_path);
    let processed = process_rows(
        &compiler,
        data_path,
        rows,
        &options.vars,
        false,
        grouping,
        |row, body| {
            if let Verdict::Duplicate { of_row } = guardrails.judge(row, &recipient_of(body)) {
                let finding = Finding::warning(format!(
                // The finding names this row already: the message names only the other one.
                "the number of row {of_row} again: flowc send sends it once (this row is `duplicate`; --allow-duplicates sends both)"
            ));
                grouping.emit(
                    finding
                        .with_gist("a number an earlier row has: flowc send sends it once")
                        .in_row(Some(&RowRef {
                            file: file.clone(),
                            row,
                        })),
                );
            }
            Ok(())
        },
    );
    grouping.summarize();
    match processed {
        Ok(counts) if counts.no_rows => ExitStatus::checked(counts.any_invalid()),
        Ok(counts) => {
            printer.note(&format!(
                "{}: {} valid, {} invalid{}",
                super::data_name(data_path),
                words::count(counts.ok, "row", "rows"),
                words::thousands(counts.failed),
                if counts.broken {
                    " (the file could not be read to its end)"
                } else {
                    ""
                }
            ));
            ExitStatus::checked(counts.any_invalid())
        }
        Err(error) => {
            grouping.emit(Finding::error(format!("cannot check the rows: {error}")));
            Unfinished.exit_status()
        }
    }
}
