//! `flowc preview`: a self-contained HTML page of the message as WhatsApp draws it, with its
//! JSON body, warnings and errors. A template that does not validate still gets its page.
//!
//! Without `--out` the page goes to `NAME.preview.html` in the working directory, not to
//! standard output (a page of HTML on a terminal helps nobody) and not beside the template
//! (the templates directory is reviewed and committed; a generated page does not belong there).
//! `--out -` writes standard output. The page never replaces the template or the data file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{check_overrides, ExitStatus};
use crate::data;
use crate::diagnostic::{Finding, Level, Printer};
use crate::pipeline::{Inspection, MessageCompiler, Problem};
use crate::preview::{self, Note};
use crate::render::example_values;
use crate::template::{Template, TemplateError};

pub struct PreviewOptions {
    pub template: PathBuf,
    pub vars: Vec<(String, String)>,
    pub data: Option<PathBuf>,
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

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn run(options: &PreviewOptions, printer: &Printer) -> ExitStatus {
    let target = Target::of(options);
    if let Target::File(path) = &target {
        let inputs = std::iter::once(&options.template).chain(options.data.as_ref());
        if let Some(input) = inputs.into_iter().find(|input| same_file(path, input)) {
            printer.print(
                &Finding::error(format!(
                    "refusing to overwrite {}, an input of this preview, with the page",
                    input.display()
                ))
                .with_help(Some(
                    "name another file with --out FILE.html, or --out - for standard output",
                )),
            );
            return ExitStatus::Usage;
        }
    }
    let title = options
        .template
        .file_name()
        .map_or_else(|| "template".to_owned(), |name| name.to_string_lossy().into_owned());
    let (body, findings, status, screen) = match inspect(options, printer) {
        Ok((inspection, compiler, flow_findings, flow_status)) => {
            let template = compiler.template();
            let mut findings = flow_findings;
            findings.extend(
                inspection
                    .warnings
                    .iter()
                    .map(|warning| Finding::from_warning(template, None, warning)),
            );
            if let Some(problem) = &inspection.problem {
                findings.extend(Finding::from_problem(template, None, problem));
            }
            let status = if inspection.problem.is_some() {
                ExitStatus::Invalid
            } else {
                ExitStatus::Ok
            };
            // The screen the button opens, as far as the body names one of the Flow's.
            let screen = compiler
                .flow()
                .and_then(|check| check.opened(inspection.body.as_ref()))
                .map(|opened| {
                    let label = template.flow_json.as_ref().map_or("", |flow| flow.path.as_str());
                    crate::flow::screen_html(&opened, label)
                });
            (inspection.body, findings, status.worst(flow_status), screen)
        }
        Err((findings, status)) if status != ExitStatus::Usage => (None, findings, status, None),
        Err((findings, status)) => {
            for finding in &findings {
                printer.print(finding);
            }
            return status;
        }
    };
    for finding in &findings {
        printer.print(finding);
    }
    let notes: Vec<Note> = findings.iter().map(note).collect();
    let html = preview::page(&title, body.as_ref(), screen.as_deref(), &notes);
    let written = match &target {
        Target::File(path) => std::fs::write(path, html)
            .map(|()| printer.note(&format!("wrote {}", path.display())))
            .map_err(|error| format!("cannot write {}: {error}", path.display())),
        Target::Stdout => {
            printer.write_out(html.as_bytes());
            Ok(())
        }
    };
    if let Err(message) = written {
        printer.print(&Finding::error(message));
        return ExitStatus::Usage;
    }
    status
}

fn note(finding: &Finding) -> Note {
    let location = match (&finding.source, finding.position(), &finding.row) {
        (Some(source), Some((line, column)), _) => Some(format!("{}:{line}:{column}", source.name)),
        (_, _, Some(row)) => Some(format!("{} row {}", row.file, row.row)),
        _ => None,
    };
    let message = match &finding.pointer {
        Some(pointer) if !pointer.is_empty() => format!("{} (at {pointer})", finding.message),
        _ => finding.message.clone(),
    };
    Note {
        error: finding.level == Level::Error,
        location,
        message,
        help: finding.help.clone(),
    }
}

type Failed = (Vec<Finding>, ExitStatus);
type Inspected = (Inspection, MessageCompiler, Vec<Finding>, ExitStatus);

/// The template's body for the chosen values, as far as it can be built; the findings about its
/// Flow and their status.
fn inspect(options: &PreviewOptions, printer: &Printer) -> Result<Inspected, Failed> {
    let template = Template::load(&options.template).map_err(|error| {
        let status = match *error {
            TemplateError::Unreadable { .. } => ExitStatus::Usage,
            _ => ExitStatus::Invalid,
        };
        (vec![Finding::from_template_error(&error)], status)
    })?;
    let mut compiler = MessageCompiler::new(template).map_err(|rejected| {
        let findings = rejected
            .errors
            .iter()
            .map(|error| Finding::from_leaf_error(&rejected.template, error))
            .collect();
        (findings, ExitStatus::Invalid)
    })?;
    let (flow_findings, flow_status) = super::link_flow(&mut compiler);
    check_overrides(&compiler, &options.vars, printer).map_err(|status| (Vec::new(), status))?;
    let values = match (&options.data, options.row) {
        (Some(path), Some(row)) => row_values(&compiler, path, row, &options.vars)?,
        _ => example_values(&compiler.template().vars, &options.vars)
            .map_err(|name| (vec![super::missing_example(&compiler, &name)], ExitStatus::Invalid))?,
    };
    let inspection = compiler.inspect(&values);
    Ok((inspection, compiler, flow_findings, flow_status))
}

fn row_values(
    compiler: &MessageCompiler,
    path: &std::path::Path,
    wanted: u64,
    overrides: &[(String, String)],
) -> Result<Vec<Value>, Failed> {
    let rows = data::open(path, compiler.var_names(), compiler.required())
        .map_err(|error| (vec![Finding::from_data_error(&error)], ExitStatus::Usage))?;
    let mut last = None;
    for row in rows {
        match row {
            Ok(mut row) if row.number == wanted => {
                compiler.apply_overrides(&mut row, overrides);
                return compiler.bind(row).map_err(|problem| {
                    let Problem::Missing(missing) = &problem else {
                        return (Vec::new(), ExitStatus::Invalid);
                    };
                    let mut finding = Finding::error(missing.to_string());
                    finding.row = Some(crate::diagnostic::RowRef {
                        file: path.display().to_string(),
                        row: wanted,
                    });
                    finding.column = Some(missing.name.clone());
                    (vec![finding], ExitStatus::Invalid)
                });
            }
            Ok(row) => last = Some(row.number),
            Err(error) if error.is_row_error() => {
                if let data::DataError::BadRow { row, .. } = &error {
                    if *row == wanted {
                        return Err((vec![Finding::from_data_error(&error)], ExitStatus::Invalid));
                    }
                }
            }
            Err(error) => return Err((vec![Finding::from_data_error(&error)], ExitStatus::Invalid)),
        }
    }
    let help = match last {
        Some(last) => format!("the file's rows are numbered up to {last} (CSV: the header is row 1)"),
        None => "the file has no rows".to_owned(),
    };
    Err((
        vec![Finding::error(format!("{}: there is no row {wanted}", path.display())).with_help(Some(help))],
        ExitStatus::Usage,
    ))
}
