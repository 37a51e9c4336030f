//! `flowc templates pull`: fetches the account's approved templates, writes one file per
//! (name, language), and prints what it wrote as a table on stdout; what differs from the
//! documented shape, what was refused and what could not be written go to stderr.

use std::path::PathBuf;
use std::time::Duration;

use super::{fail, ExitStatus};
use crate::diagnostic::{Emit, Finding, Printer};
use crate::pull::{self, FileState, Row};
use crate::send::account::AccountSettings;
use crate::words;

pub struct PullOptions {
    pub account: AccountSettings,
    /// The WhatsApp Business Account whose templates are listed.
    pub waba_id: String,
    /// The folder the files go in.
    pub out: PathBuf,
    pub timeout: Duration,
}

/// How many templates a warning names before it counts the rest.
const NAMED: usize = 5;

pub(super) fn pull(options: PullOptions, printer: &Printer) -> ExitStatus {
    let waba_id = match pull::check_waba_id(&options.waba_id) {
        Ok(id) => id.to_owned(),
        Err(error) => return fail(printer, &error),
    };
    let access = match options.account.resolve_access() {
        Ok(access) => access,
        Err(error) => return fail(printer, &error),
    };
    let listed = match pull::fetch(&access, &waba_id, options.timeout) {
        Ok(listed) => listed,
        Err(error) => return fail(printer, &error),
    };
    let sorted = pull::sort(&listed, &access.api_key);
    for warning in &sorted.warnings {
        let mut templates: Vec<&str> = warning.templates.iter().take(NAMED).map(String::as_str).collect();
        let more = warning.templates.len().saturating_sub(NAMED);
        let rest = format!("and {} more", words::thousands(more as u64));
        if more > 0 {
            templates.push(&rest);
        }
        if templates.is_empty() {
            printer.emit(Finding::warning(warning.message.clone()));
        } else {
            printer.emit(Finding::warning(format!(
                "{}: in {}",
                warning.message,
                templates.join(", ")
            )));
        }
    }
    for refused in &sorted.refused {
        printer.emit(Finding::error(format!(
            "template {}: {}",
            refused.template, refused.reason
        )));
    }
    if let Err(error) = pull::prepare_folder(&options.out) {
        return fail(printer, &error);
    }
    let mut rows: Vec<(&Row, &str)> = Vec::new();
    let (mut new, mut updated, mut unchanged, mut not_written) = (0u64, 0u64, 0u64, 0u64);
    for approved in &sorted.approved {
        match pull::write(&options.out, approved) {
            Ok((_, state)) => {
                match state {
                    FileState::New => new += 1,
                    FileState::Updated => updated += 1,
                    FileState::Unchanged => unchanged += 1,
                }
                rows.push((&approved.row, state.word()));
            }
            Err((path, reason)) => {
                not_written += 1;
                printer.emit(Finding::error(format!("cannot write `{}`: {reason}", path.display())));
                rows.push((&approved.row, "not written"));
            }
        }
    }
    if !rows.is_empty() {
        print_table(printer, &rows);
    }
    let written: Vec<&str> = sorted
        .approved
        .iter()
        .map(|approved| approved.file_name.as_str())
        .collect();
    let gone = pull::not_listed(&options.out, &written);
    if !gone.is_empty() {
        let mut names: Vec<&str> = gone.iter().take(NAMED).map(String::as_str).collect();
        let rest = format!("and {} more", words::thousands(gone.len().saturating_sub(NAMED) as u64));
        if gone.len() > NAMED {
            names.push(&rest);
        }
        printer.emit(
            Finding::warning(format!(
                "{} in `{}` the provider no longer lists (left as they are): {}",
                words::count(gone.len() as u64, "file", "files"),
                options.out.display(),
                names.join(", ")
            ))
            .with_help(Some(
                "a template deleted or renamed at the provider: a template message that names one checks against a template that may be gone",
            )),
        );
    }
    let refused = sorted.refused.len() as u64;
    let mut summary = format!(
        "{} from {} in `{}`: {} new, {} updated, {} unchanged",
        words::count(sorted.approved.len() as u64 + refused, "template", "templates"),
        words::count(listed.pages as u64, "page", "pages"),
        options.out.display(),
        words::thousands(new),
        words::thousands(updated),
        words::thousands(unchanged)
    );
    if not_written + refused > 0 {
        summary.push_str(&format!("; {} not written", words::thousands(not_written + refused)));
    }
    printer.note(&summary);
    ExitStatus::checked(not_written + refused > 0)
}

/// The table: one line a template, columns padded to their widest cell.
fn print_table(printer: &Printer, rows: &[(&Row, &str)]) {
    let header = ["name", "language", "category", "status", "quality", "flow", "file"];
    let lines: Vec<[&str; 7]> = rows
        .iter()
        .map(|(row, state)| {
            [
                row.name.as_str(),
                row.language.as_str(),
                row.category.as_str(),
                row.status.as_str(),
                row.quality.as_str(),
                row.flow.as_str(),
                state,
            ]
        })
        .collect();
    let mut widths = header.map(|cell| cell.chars().count());
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let format = |cells: &[&str; 7]| {
        let mut line = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if index + 1 < cells.len() {
                line.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
        }
        line
    };
    printer.line(&format(&header));
    for line in &lines {
        printer.line(&format(line));
    }
}
