//! `flowc render`: the exact request body, for the examples or for every row of a data file.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::grouping::Grouping;
use super::{
    check_overrides, examples, open_data, prepare, process_rows, report_problem, report_warnings, write_pretty,
    ExitStatus,
};
use crate::exit::Drawn;
use crate::words;

pub struct RenderOptions {
    pub template: PathBuf,
    pub vars: Vec<(String, String)>,
    pub data: Option<PathBuf>,
    /// The data file's field separator; `None`: read from its header line.
    pub delimiter: Option<u8>,
    /// `--column VAR=COLUMN`: variables read from a column of another name.
    pub columns: Vec<(String, String)>,
    pub fail_fast: bool,
    /// Findings shown in full at most; the rest are counted (see [`crate::findings`]).
    pub max_errors: usize,
}

pub(super) fn run(options: &RenderOptions, grouping: &Grouping<'_>) -> ExitStatus {
    try_run(options, grouping).unwrap_or_else(|Drawn(status)| status)
}

fn try_run(options: &RenderOptions, grouping: &Grouping<'_>) -> Result<ExitStatus, Drawn> {
    let printer = grouping.printer();
    let mut compiler = prepare(&options.template, &options.vars, grouping)?;
    check_overrides(&compiler, &options.vars, printer)?;
    super::map_columns(&mut compiler, &options.columns, printer)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let Some(data_path) = &options.data else {
        let values = examples(&compiler, &options.vars, printer)?;
        return match compiler.compile_values(&values) {
            Ok(message) => {
                report_warnings(&compiler, None, &message.warnings, grouping);
                grouping
                    .printer()
                    .track_output(write_pretty(&mut out, &message.body).and_then(|()| out.flush()));
                Ok(ExitStatus::Ok)
            }
            Err(problem) => {
                report_problem(&compiler, None, &problem, grouping);
                Err(problem.exit_status().into())
            }
        };
    };
    let rows = open_data(&compiler, data_path, options.delimiter, printer)?;
    let counts = process_rows(
        &compiler,
        data_path,
        rows,
        &options.vars,
        options.fail_fast,
        grouping,
        |_, body| {
            out.write_all(body)?;
            out.write_all(b"\n")
        },
    );
    let flushed = counts.and_then(|counts| out.flush().map(|()| counts));
    grouping.summarize();
    let counts = match flushed {
        Ok(counts) => counts,
        // A closed pipe is a quiet success; another failure is reported once, by `run`, which
        // ends the run with its status.
        Err(error) => {
            printer.track_output(Err(error));
            return Ok(ExitStatus::Ok);
        }
    };
    if counts.stopped {
        return Ok(ExitStatus::Ok);
    }
    // A data file without rows: nothing rendered, nothing to sum up.
    if counts.no_rows {
        return Ok(ExitStatus::checked(counts.any_invalid()));
    }
    printer.note(&format!(
        "{} rendered, {} failed{}",
        words::count(counts.ok, "row", "rows"),
        words::thousands(counts.failed),
        if counts.broken {
            " (the data file could not be read to its end)"
        } else {
            ""
        },
    ));
    Ok(ExitStatus::checked(counts.any_invalid()))
}
