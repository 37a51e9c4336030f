//! `flowc preview`: a self-contained HTML page of the message as WhatsApp draws it, with its
//! JSON body, warnings and errors. A template that does not validate still gets its page.
//!
//! Without `--out` the page goes to `NAME.preview.html` in the working directory, not to
//! standard output (a page of HTML on a terminal helps nobody) and not beside the template
//! (the templates directory is reviewed and committed; a generated page does not belong there).
//! `--out -` writes standard output. The page never replaces the template or the data file.

use std::path::PathBuf;

use serde_json::Value;

use super::{check_overrides, fail, ExitStatus};
use crate::data;
use crate::diagnostic::{Emit, Finding, Level, Printer};
use crate::exit::{NotWritten, Refused, Unfinished, UserError};
use crate::pipeline::{Inspection, MessageCompiler, Problem};
use crate::preview::{self, Note};
use crate::render::{example_values, LeafError};
use crate::template::Template;

pub struct PreviewOptions {
    pub template: PathBuf,
    pub vars: Vec<(String, String)>,
    pub data: Option<PathBuf>,
    /// The data file's field separator; `None`: read from its header line.
    pub delimiter: Option<u8>,
    /// `--column VAR=COLUMN`: variables read from a column of another name.
    pub columns: Vec<(String, String)>,
    pub row: Option<u64>,
    /// `None`: `NAME.preview.html` in the working directory; `-`: standard output.
    pub out: Option<PathBuf>,
}

/// Where the page goes.
enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    fn of(options: &PreviewOptions) -> Target {
        match &options.out {
            Some(path) if path.as_os_str() == "-" => Target::Stdout,
            Some(path) => Target::File(path.clone()),
            None => Target::File(PathBuf::from(format!(
                "{}.preview.html",
                crate::snapshot::file_stem(&options.template)
            ))),
        }
    }
}

pub(super) fn run(options: &PreviewOptions, printer: &Printer) -> ExitStatus {
    let target = Target::of(options);
    if let Target::File(path) = &target {
        let inputs = std::iter::once(&options.template).chain(options.data.as_ref());
        if let Some(input) = inputs.into_iter().find(|input| crate::outputs::same_file(path, input)) {
            return fail(
                printer,
                &Refused::new(
                    format!(
                        "refusing to overwrite {}, an input of this preview, with the page",
                        input.display()
                    ),
                    "name another file with --out FILE.html, or --out - for standard output",
                ),
            );
        }
    }
    let template_name = options
        .template
        .file_name()
        .map_or_else(|| "template".to_owned(), |name| name.to_string_lossy().into_owned());
    // The row shown, when it is a data file's: the page and the line saying where it went name it.
    let shown = match (&options.data, options.row) {
        (Some(data), Some(row)) => Some(format!("row {row} of {}", data.display())),
        _ => None,
    };
    let title = match &shown {
        Some(shown) => format!("{template_name} · {shown}"),
        None => template_name,
    };
    // Each finding with the field it is about, for marking the part of the phone that shows it.
    let (body, findings, status, screen, approved) = match inspect(options, printer) {
        Ok(inspected) => {
            let compiler = &inspected.compiler;
            let template = compiler.template();
            let mut findings: Vec<(Finding, Option<String>)> = inspected
                .leaf_errors
                .iter()
                .map(|error| {
                    let span = error.span();
                    let leaf = compiler.broken().iter().find(|leaf| {
                        leaf.span.offset <= span.offset && span.offset < leaf.span.offset + leaf.span.len.max(1)
                    });
                    (
                        Finding::from_leaf_error(template, error),
                        leaf.map(|leaf| leaf.pointer.clone()),
                    )
                })
                .collect();
            findings.extend(
                super::inspection_findings(compiler, None, &inspected.inspection)
                    .into_iter()
                    .map(|finding| {
                        let pointer = finding.pointer().map(str::to_owned);
                        (finding, pointer)
                    }),
            );
            findings.sort_by_key(|(finding, _)| finding.offset());
            // What the Flow's link found comes first, as `check` prints it.
            let flow_findings = inspected.flow_findings.iter().map(|finding| {
                let pointer = finding.pointer().map(str::to_owned);
                (finding.clone(), pointer)
            });
            let findings: Vec<(Finding, Option<String>)> = flow_findings.chain(findings).collect();
            let status =
                ExitStatus::checked(inspected.inspection.problem.is_some() || !inspected.leaf_errors.is_empty());
            // The screen the button opens, as far as the body names one of the Flow's.
            let screen = compiler
                .flow()
                .and_then(|check| check.opened(Some(&inspected.inspection.body)))
                .map(|opened| {
                    let label = template.flow_json.as_ref().map_or("", |flow| flow.path.as_str());
                    crate::flow::screen_html(&opened, label)
                });
            let status = status.worst(inspected.flow_status);
            let approved = compiler.approved().map(|check| std::sync::Arc::clone(&check.approved));
            (Some(inspected.inspection.body), findings, status, screen, approved)
        }
        Err((findings, status)) if !status.is_usage() => (
            None,
            findings.into_iter().map(|finding| (finding, None)).collect(),
            status,
            None,
            None,
        ),
        Err((findings, status)) => {
            for finding in &findings {
                printer.emit(finding.clone());
            }
            return status;
        }
    };
    for (finding, _) in &findings {
        printer.emit(finding.clone());
    }
    let notes: Vec<Note> = findings
        .iter()
        .map(|(finding, pointer)| note(finding, pointer.clone()))
        .collect();
    let html = preview::page(&title, body.as_ref(), approved.as_deref(), screen.as_deref(), &notes);
    let written = match &target {
        // Whole or not at all; a device or a pipe written into, a link never written through.
        Target::File(path) => crate::outputs::write_file(path, html.as_bytes())
            .map(|()| match &shown {
                Some(shown) => printer.note(&format!("wrote {} ({shown})", path.display())),
                None => printer.note(&format!("wrote {}", path.display())),
            })
            .map_err(|error| NotWritten {
                path: path.display().to_string(),
                reason: error.to_string(),
            }),
        Target::Stdout => {
            printer.write_out(html.as_bytes());
            Ok(())
        }
    };
    if let Err(error) = written {
        return fail(printer, &error);
    }
    status
}

fn note(finding: &Finding, pointer: Option<String>) -> Note {
    let location = match (finding.source_name(), finding.position(), finding.row()) {
        (Some(source), Some((line, column)), _) => Some(format!("{source}:{line}:{column}")),
        (_, _, Some(row)) => Some(format!("{} row {}", row.file, row.row)),
        _ => None,
    };
    Note {
        error: finding.level() == Level::Error,
        location,
        message: finding.message().to_owned(),
        help: finding.help().map(str::to_owned),
        pointer,
    }
}

type Failed = (Vec<Finding>, ExitStatus);

/// What the template gives for the chosen values, as far as it can be built.
struct Inspected {
    inspection: Inspection,
    compiler: MessageCompiler,
    /// The template's values that do not compile (the compiler then only serves the preview).
    leaf_errors: Vec<LeafError>,
    /// What is wrong with the template's Flow, and the status it ends the preview with.
    flow_findings: Vec<Finding>,
    flow_status: ExitStatus,
}

/// The template's body for the chosen values, as far as it can be built; the findings about its
/// Flow and their status.
fn inspect(options: &PreviewOptions, printer: &Printer) -> Result<Inspected, Failed> {
    let template = Template::load(&options.template)
        .map_err(|error| (vec![Finding::from_template_error(&error)], error.exit_status()))?;
    let (mut compiler, leaf_errors) = match MessageCompiler::new(template) {
        Ok(compiler) => (compiler, Vec::new()),
        Err(rejected) => (rejected.compiler, rejected.errors),
    };
    let (flow_findings, flow_status) = super::link_flow(&mut compiler);
    let mapped = super::map_columns(&mut compiler, &options.columns, printer);
    // Whatever else stops the preview, the values that do not compile are reported first.
    let stopped = |(findings, status): Failed| {
        let template = compiler.template();
        let leaf_findings = leaf_errors
            .iter()
            .map(|error| Finding::from_leaf_error(template, error));
        (leaf_findings.chain(findings).collect::<Vec<_>>(), status)
    };
    check_overrides(&compiler, &options.vars, printer).map_err(|status| stopped((Vec::new(), status)))?;
    mapped.map_err(|status| stopped((Vec::new(), status)))?;
    let values = match (&options.data, options.row) {
        (Some(path), Some(row)) => row_values(&compiler, path, row, options),
        _ => example_values(&compiler.template().vars, &options.vars)
            .map_err(|missing| (vec![super::missing_example(&compiler, &missing)], missing.exit_status())),
    }
    .map_err(stopped)?;
    let inspection = compiler.inspect(&values);
    Ok(Inspected {
        inspection,
        compiler,
        leaf_errors,
        flow_findings,
        flow_status,
    })
}

fn row_values(
    compiler: &MessageCompiler,
    path: &std::path::Path,
    wanted: u64,
    options: &PreviewOptions,
) -> Result<Vec<Value>, Failed> {
    let overrides = &options.vars;
    let rows = data::open(path, compiler.fields(), options.delimiter)
        .map_err(|error| (vec![Finding::from_data_error(&error)], error.exit_status()))?;
    let mut numbers: Option<(u64, u64)> = None;
    for row in rows {
        match row {
            Ok(mut row) if row.number == wanted => {
                compiler.apply_overrides(&mut row, overrides);
                return compiler.bind(row).map_err(|problem| {
                    let Problem::Missing(missing) = &problem else {
                        return (Vec::new(), problem.exit_status());
                    };
                    let finding = Finding::error(missing.to_string())
                        .in_row(Some(&crate::diagnostic::RowRef {
                            file: path.display().to_string(),
                            row: wanted,
                        }))
                        .in_column(Some(missing.name.clone()));
                    (vec![finding], problem.exit_status())
                });
            }
            Ok(row) => numbers = Some(numbers.map_or((row.number, row.number), |(first, _)| (first, row.number))),
            Err(error) if error.is_row_error() => {
                if let data::DataError::BadRow { row, .. } = &error {
                    if *row == wanted {
                        return Err((vec![Finding::from_data_error(&error)], error.exit_status()));
                    }
                }
            }
            // The file cannot be read to its end: its fault is the finding.
            Err(error) => return Err((vec![Finding::from_data_error(&error)], Unfinished.exit_status())),
        }
    }
    let help = match numbers {
        Some((first, last)) if first == last => format!("the file has one row: row {first}"),
        Some((first, last)) => format!("the file has rows {first} to {last}"),
        None => "the file has no rows".to_owned(),
    };
    let missing = Refused::new(format!("{}: there is no row {wanted}", path.display()), help);
    Err((
        vec![Finding::error(missing.to_string()).with_help(missing.help())],
        missing.exit_status(),
    ))
}
