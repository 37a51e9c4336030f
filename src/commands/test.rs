//! `flowc test`: every template's examples and fixtures rendered and compared with their
//! stored snapshots; new or changed bodies are written as pending files for review.

mod review;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{prepare, template_files, templates_here, ExitStatus};
use crate::data::Row;
use crate::diagnostic::{Emit, Finding, Format, Printer};
use crate::pipeline::MessageCompiler;
use crate::snapshot::{self, Case, SnapshotError};

pub struct TestOptions {
    pub paths: Vec<PathBuf>,
    pub review: bool,
    pub accept: bool,
    pub prune: bool,
    pub format: Format,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    accepted: usize,
    rejected: usize,
    pending: usize,
    failed: usize,
}

pub(super) fn run(options: &TestOptions, printer: &Printer) -> ExitStatus {
    let paths = templates_here(&options.paths);
    let files = match template_files(&paths, "test") {
        Ok(files) => files,
        Err(refused) => return super::fail(printer, &refused),
    };
    let mut tally = Tally::default();
    let mut live = Vec::new();
    let mut unloaded = Vec::new();
    let mut directories = BTreeSet::new();
    for file in &files {
        directories.insert(snapshot::directory(file));
        let show_diffs = !options.accept && !options.review;
        if !test_template(file, printer, show_diffs, &mut tally, &mut live) {
            unloaded.push(file.clone());
        }
    }
    // Snapshots of templates not named in this run are not orphans: only a run over whole
    // directories can tell.
    let whole_directories = paths.iter().all(|path| path.is_dir());
    let orphans: Vec<PathBuf> = directories
        .iter()
        .filter(|_| whole_directories)
        .flat_map(|directory| snapshot::orphans(directory, &live, &unloaded))
        .collect();
    // Pruning deletes reviewed work: only a run where everything loaded and passed can say
    // what is no longer produced.
    let prune = options.prune && tally.failed == 0;
    if options.prune && !prune {
        printer.emit(
            Finding::error(format!(
                "not pruning: {} above, and a failing template's snapshots cannot be told from orphans; no snapshot was removed",
                crate::words::count(tally.failed as u64, "failure", "failures")
            ))
            .with_help(Some("fix the failures above, then run `flowc test --prune` again")),
        );
    }
    for orphan in &orphans {
        if prune {
            match std::fs::remove_file(orphan) {
                Ok(()) => printer.note(&format!("pruned {}", orphan.display())),
                Err(error) => printer.emit(Finding::error(format!("cannot remove {}: {error}", orphan.display()))),
            }
        } else {
            let finding = Finding::warning(format!(
                "orphan snapshot {}: no template or fixture produces it",
                orphan.display()
            ))
            .with_help(Some(if tally.failed == 0 {
                "run `flowc test --prune` to remove it"
            } else {
                "once the failures above are fixed, `flowc test --prune` removes it"
            }));
            printer.emit(finding);
        }
    }
    let pending = pending_files(&live);
    if options.accept {
        tally.accepted = pending.iter().filter(|path| accept(path, printer)).count();
        tally.pending = pending.len() - tally.accepted;
    } else if options.review && !pending.is_empty() {
        let reviewed = review::review(&pending, printer);
        tally.accepted = reviewed.accepted;
        tally.rejected = reviewed.rejected;
        tally.pending = pending.len() - reviewed.accepted - reviewed.rejected;
    }
    let n = |count: usize| crate::words::thousands(count as u64);
    let mut summary = format!(
        "{} passed, {} new or changed (pending review), {} failed",
        n(tally.passed),
        n(tally.pending),
        n(tally.failed)
    );
    if tally.accepted > 0 {
        summary.push_str(&format!(", {} accepted", n(tally.accepted)));
    }
    if tally.rejected > 0 {
        summary.push_str(&format!(", {} rejected", n(tally.rejected)));
    }
    match printer.format() {
        Format::Json => printer.note(&summary),
        Format::Human | Format::Github => printer.line(&summary),
    }
    if tally.pending > 0 && !options.review {
        printer.note("review with `flowc test --review`, or accept all with `flowc test --accept`");
    }
    // A rejected change keeps its old snapshot, which still differs from the body.
    ExitStatus::checked(tally.failed > 0 || tally.pending > 0 || tally.rejected > 0)
}

/// Tests every case of a template; false if the template or its fixtures could not be loaded,
/// so its cases are unknown.
fn test_template(file: &Path, printer: &Printer, show_diffs: bool, tally: &mut Tally, live: &mut Vec<PathBuf>) -> bool {
    let Ok(compiler) = prepare(file, &[], &super::grouping::Grouping::every(printer)) else {
        tally.failed += 1;
        return false;
    };
    let cases = match snapshot::cases(compiler.template(), file) {
        Ok(cases) => cases,
        Err(error) => {
            printer.emit(snapshot_finding(&error));
            tally.failed += 1;
            return false;
        }
    };
    for case in cases {
        let path = snapshot::snapshot_path(file, &case.name);
        live.push(path.clone());
        live.push(snapshot::pending_path(&path));
        match test_case(&compiler, file, &case, &path, printer, show_diffs) {
            CaseResult::Passed => tally.passed += 1,
            CaseResult::Pending => tally.pending += 1,
            CaseResult::Failed => tally.failed += 1,
        }
    }
    true
}

enum CaseResult {
    Passed,
    Pending,
    Failed,
}

fn test_case(
    compiler: &MessageCompiler,
    file: &Path,
    case: &Case,
    path: &Path,
    printer: &Printer,
    show_diff: bool,
) -> CaseResult {
    let template = compiler.template();
    let values: Vec<Option<Value>> = template
        .vars
        .iter()
        .map(|var| {
            case.vars
                .iter()
                .find(|(name, _)| *name == var.name)
                .map(|(_, value)| value.clone())
                .or_else(|| var.example.clone())
        })
        .collect();
    let pending = snapshot::pending_path(path);
    let message = match compiler.compile_row(Row { number: 0, values }) {
        Ok(message) => message,
        Err(problem) => {
            // A body from an earlier run must not be accepted in place of this failure.
            let _ = std::fs::remove_file(&pending);
            for finding in Finding::from_problem(template, None, &problem) {
                printer.emit(finding.prefixed(&format!("case `{}`: ", case.name)));
            }
            return CaseResult::Failed;
        }
    };
    let body = match serde_json::to_string_pretty(&message.body) {
        Ok(body) => body,
        Err(error) => {
            printer.emit(Finding::error(error.to_string()));
            return CaseResult::Failed;
        }
    };
    match snapshot::read(path) {
        Err(error) => {
            printer.emit(snapshot_finding(&error));
            CaseResult::Failed
        }
        Ok(Some(stored)) if stored == body => {
            // A pending change that was undone is no longer pending.
            let _ = std::fs::remove_file(&pending);
            CaseResult::Passed
        }
        Ok(stored) => {
            let text = snapshot::render(file, &case.name, &body);
            if let Err(error) = snapshot::write_pending(&pending, &text) {
                printer.emit(Finding::error(format!("cannot write {}: {error}", pending.display())));
                return CaseResult::Failed;
            }
            let what = if stored.is_some() { "changed" } else { "new" };
            let finding = Finding::error(format!(
                "{} case `{}`: {what} body, written to {}",
                file.display(),
                case.name,
                pending.display()
            ))
            .with_help(Some(format!(
                "run `flowc test --review` (or `flowc test --accept`) and commit the snapshot with the template\n{}",
                diff(stored.as_deref().unwrap_or(""), &body, false)
            )));
            // Annotate the template, the file a reviewer changed: at the field that changed,
            // or its first line for a new case.
            let changed = stored
                .as_deref()
                .and_then(|stored| serde_json::from_str::<Value>(stored).ok())
                .and_then(|stored| snapshot::first_difference(&stored, &message.body));
            let finding = finding.at(
                &template.source,
                match changed {
                    Some(pointer) => template.span_at(&pointer),
                    None => crate::yaml::Span {
                        offset: 0,
                        len: 0,
                        line: 1,
                        column: 1,
                    },
                },
            );
            match printer.format() {
                Format::Human if show_diff => {
                    printer.note(&format!(
                        "{what}: {} case `{}` -> {}",
                        file.display(),
                        case.name,
                        pending.display()
                    ));
                    printer.note(&diff(stored.as_deref().unwrap_or(""), &body, colour()));
                }
                Format::Human => {}
                Format::Json | Format::Github => printer.emit(finding),
            }
            CaseResult::Pending
        }
    }
}

fn snapshot_finding(error: &SnapshotError) -> Finding {
    match error {
        SnapshotError::Fixture {
            file,
            span,
            message,
            help,
        } => match span {
            Some(span) => Finding::error(message.clone()).at(file, *span),
            None => Finding::error(format!("{}: {message}", file.name)),
        }
        .with_help(help.clone()),
        SnapshotError::Corrupt { .. } => {
            Finding::error(error.to_string()).with_help(Some("delete it and run `flowc test` to write it again"))
        }
        SnapshotError::Io { .. } => Finding::error(error.to_string()),
    }
}

fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The changed lines of the stored and the new body, with three lines of context.
fn diff(old: &str, new: &str, colour: bool) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for (index, group) in diff.grouped_ops(3).iter().enumerate() {
        if index > 0 {
            out.push_str("  ...\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ('-', "\x1b[31m"),
                    similar::ChangeTag::Insert => ('+', "\x1b[32m"),
                    similar::ChangeTag::Equal => (' ', ""),
                };
                let line = change.to_string_lossy();
                let line = line.trim_end_matches('\n');
                if colour && !style.is_empty() {
                    out.push_str(&format!("{style}{sign} {line}\x1b[0m\n"));
                } else {
                    out.push_str(&format!("{sign} {line}\n"));
                }
            }
        }
    }
    out
}

fn pending_files(live: &[PathBuf]) -> Vec<PathBuf> {
    let mut pending: Vec<PathBuf> = live
        .iter()
        .filter(|path| path.to_string_lossy().ends_with(".snap.new") && path.exists())
        .cloned()
        .collect();
    pending.sort();
    pending.dedup();
    pending
}

fn accepted_path(pending: &Path) -> PathBuf {
    PathBuf::from(pending.to_string_lossy().trim_end_matches(".new"))
}

fn accept(pending: &Path, printer: &Printer) -> bool {
    let target = accepted_path(pending);
    match std::fs::rename(pending, &target) {
        Ok(()) => {
            printer.note(&format!("accepted {}", target.display()));
            true
        }
        Err(error) => {
            printer.emit(Finding::error(format!("cannot accept {}: {error}", pending.display())));
            false
        }
    }
}
