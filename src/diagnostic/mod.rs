//! The one place where errors and warnings become what a person reads.
//!
//! Every stage returns typed errors; the command layer turns them into [`Finding`]s here and
//! prints them with miette: `file:line:column`, the source line and a marker for templates;
//! the row number and column for data files. Colour follows the terminal and `NO_COLOR`;
//! output to a pipe or file is plain ASCII.

mod approved;
mod excerpt;
mod flow;
mod output;
mod printer;

pub(crate) use self::printer::{Format, Printer};
use crate::compile::Warning;
use crate::data::DataError;
use crate::pipeline::Problem;
use crate::render::LeafError;
use crate::template::{SourceFile, Template, TemplateError};
use crate::words::{clip, printable};
use crate::yaml::{Span, YamlError};

/// Where findings go: the printer, or a layer in front of it that counts them (the grouping of
/// repeated findings). One trait, so that what a command tells the user takes one road (typos'
/// `Report`; named `Emit` here because a report in flowc is a campaign's).
pub(crate) trait Emit {
    fn emit(&self, finding: Finding);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warning,
}

/// How many characters of a message or a help a finding keeps: a message that quotes a value
/// (a 10 MB phone number, a 1 MB key) would otherwise be as long as the value.
const MESSAGE_WIDTH: usize = 400;

/// The data row a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowRef {
    pub file: String,
    pub row: u64,
}

/// One thing to tell the user: what, where, and how to fix it. Made by [`Finding::error`] or
/// [`Finding::warning`] (the level is set once, never changed), its optional parts added by the
/// `with_`/`at`/`in_` builders.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    level: Level,
    message: String,
    /// The message without the value that broke the rule, when it quotes one: the same words
    /// for every row that breaks the rule the same way (repeats are counted by it).
    gist: Option<String>,
    help: Option<String>,
    /// The template and the place in it, when the finding has one.
    source: Option<SourceFile>,
    span: Option<Span>,
    /// The JSON pointer of the field in the request body.
    pointer: Option<String>,
    row: Option<RowRef>,
    column: Option<String>,
    /// Other places the finding is about (the Flow JSON line beside a template line).
    related: Vec<Related>,
}

/// A second place a finding shows, with what it is.
#[derive(Debug, Clone)]
struct Related {
    message: String,
    source: SourceFile,
    span: Span,
}

impl Finding {
    pub(crate) fn error(message: impl Into<String>) -> Finding {
        Finding::new(Level::Error, message.into())
    }

    pub(crate) fn warning(message: impl Into<String>) -> Finding {
        Finding::new(Level::Warning, message.into())
    }

    fn new(level: Level, message: String) -> Finding {
        Finding {
            level,
            message: printable(&clip(&message, MESSAGE_WIDTH)).into_owned(),
            gist: None,
            help: None,
            source: None,
            span: None,
            pointer: None,
            row: None,
            column: None,
            related: Vec::new(),
        }
    }

    pub(crate) fn with_help(mut self, help: Option<impl Into<String>>) -> Finding {
        self.help = help.map(|help| {
            let help = help.into();
            printable(&clip(&help, MESSAGE_WIDTH)).into_owned()
        });
        self
    }

    /// The words that stand for every finding of its kind (see [`crate::findings`]).
    pub(crate) fn with_gist(mut self, gist: impl Into<String>) -> Finding {
        self.gist = Some(gist.into());
        self
    }

    /// The template the finding is about, without a place in it.
    pub(crate) fn in_file(mut self, source: &SourceFile) -> Finding {
        self.source = Some(source.clone());
        self
    }

    /// The place in a template (or a fixture, a Flow) the finding is about.
    pub(crate) fn at(mut self, source: &SourceFile, span: Span) -> Finding {
        self.source = Some(source.clone());
        self.span = Some(span);
        self
    }

    /// The field of the request body the finding is about.
    pub(crate) fn at_pointer(mut self, pointer: impl Into<String>) -> Finding {
        self.pointer = Some(pointer.into());
        self
    }

    /// The data row the finding is about, if any.
    pub(crate) fn in_row(mut self, row: Option<&RowRef>) -> Finding {
        self.row = row.cloned();
        self
    }

    /// The data column the finding is about, if any.
    pub(crate) fn in_column(mut self, column: Option<String>) -> Finding {
        self.column = column;
        self
    }

    /// The same finding with `prefix` before its message (the case of a snapshot it is about).
    pub(crate) fn prefixed(mut self, prefix: &str) -> Finding {
        self.message = format!("{prefix}{}", self.message);
        self
    }

    pub(crate) fn level(&self) -> Level {
        self.level
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The words that stand for every finding of its kind: its gist, else its message.
    pub(crate) fn gist(&self) -> &str {
        self.gist.as_deref().unwrap_or(&self.message)
    }

    pub(crate) fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }

    pub(crate) fn row(&self) -> Option<&RowRef> {
        self.row.as_ref()
    }

    pub(crate) fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The template (or other source) the finding is in, when it has a place in one.
    pub(crate) fn source_name(&self) -> Option<&str> {
        self.source
            .as_ref()
            .filter(|_| self.span.is_some())
            .map(|source| source.name.as_str())
    }

    /// Where in its source the finding is (byte offset), for putting findings in file order.
    pub(crate) fn offset(&self) -> Option<usize> {
        self.span.map(|span| span.offset)
    }

    pub(crate) fn from_template_error(error: &TemplateError) -> Finding {
        match error {
            TemplateError::Unreadable(_) => Finding::error(error.to_string()),
            TemplateError::Yaml { file: source, error } => {
                let help = match error {
                    YamlError::DuplicateKey { first, .. } => Some(format!(
                        "it is first set on line {}, column {}",
                        first.line, first.column
                    )),
                    YamlError::Syntax { .. } => {
                        Some("a value with `:`, `#`, `{` or `}` in it must be quoted".to_owned())
                    }
                    _ => error.help(),
                };
                match error.span() {
                    Some(span) => Finding::error(error.to_string()).with_help(help).at(source, span),
                    None => Finding::error(format!("{}: {error}", source.name)).with_help(help),
                }
            }
            TemplateError::Shape {
                file: source,
                message,
                span,
                help,
            } => Finding::error(message.clone())
                .with_help(help.clone())
                .at(source, *span),
        }
    }

    pub(crate) fn from_leaf_error(template: &Template, error: &LeafError) -> Finding {
        let help = match error {
            LeafError::Undeclared { help, .. }
            | LeafError::UnknownHelper { help, .. }
            | LeafError::BadName { help, .. } => Some(help.clone()),
            LeafError::Syntax { .. } => {
                Some("handlebars expressions look like `{{name}}` or `{{upper name}}`".to_owned())
            }
            LeafError::Unsupported { .. } | LeafError::TooDeep { .. } | LeafError::Unbalanced { .. } => None,
        };
        Finding::error(error.to_string())
            .with_help(help)
            .at(&template.source, error.span())
    }

    /// The findings for one set of values that did not compile: one per broken rule, in the
    /// order of the template.
    pub(crate) fn from_problem(template: &Template, row: Option<&RowRef>, problem: &Problem) -> Vec<Finding> {
        // `key`: the finding is about a key that should not be there, marked at the key.
        let at_pointer = |message: String, pointer: &str, help: Option<String>, key: bool| {
            let span = template.key_span_at(pointer).filter(|_| key);
            Finding::error(message)
                .with_help(help)
                .at(&template.source, span.unwrap_or_else(|| template.span_at(pointer)))
                .at_pointer(pointer)
                .in_row(row)
                .in_column(column_at(template, row, pointer))
        };
        match problem {
            Problem::Missing(missing) => {
                vec![Finding::error(missing.to_string())
                    .with_help(Some(format!(
                        "give `{}` a value in this row, or a `default` in the template's `vars`",
                        missing.name
                    )))
                    .in_row(row)
                    .in_column(Some(missing.name.clone()))]
            }
            Problem::Flow(issues) => {
                let mut issues = issues.clone();
                crate::flow::in_file_order(template, &mut issues);
                issues
                    .iter()
                    .map(|issue| Finding::from_flow_issue(template, issue).in_row(row))
                    .collect()
            }
            Problem::Invalid {
                render,
                compile,
                schema,
            } => {
                let render = render
                    .iter()
                    .map(|failure| at_pointer(failure.message.clone(), &failure.pointer, None, false));
                let compile = compile.iter().map(|error| {
                    at_pointer(error.to_string(), &error.pointer(), error.help(), false).with_gist(error.gist())
                });
                let schema = schema.iter().map(|violation| {
                    let finding = at_pointer(
                        violation.message.clone(),
                        &violation.pointer,
                        violation.help.clone(),
                        violation.unknown_key,
                    );
                    match &violation.gist {
                        Some(gist) => finding.with_gist(gist.clone()),
                        None => finding,
                    }
                });
                let mut findings: Vec<Finding> = render.chain(compile).chain(schema).collect();
                findings.sort_by_key(Finding::offset);
                findings
            }
        }
    }

    pub(crate) fn from_warning(template: &Template, row: Option<&RowRef>, warning: &Warning) -> Finding {
        let pointer = warning.pointer();
        Finding::warning(warning.to_string())
            .with_gist(warning.gist())
            .at(&template.source, template.span_at(&pointer))
            .in_row(row)
            .in_column(column_at(template, row, &pointer))
            .at_pointer(pointer)
    }

    pub(crate) fn from_data_error(error: &DataError) -> Finding {
        match error {
            // The same headline as the error's own, with the row where rows are counted.
            DataError::BadRow {
                path,
                row,
                column,
                message,
            } => Finding::error(message.clone())
                .with_help(error.help())
                .in_row(Some(&RowRef {
                    file: path.clone(),
                    row: *row,
                }))
                .in_column(column.clone()),
            _ => Finding::error(error.to_string()).with_help(error.help()),
        }
    }

    /// Line and column (1-based) of the finding in its template, if it has one.
    pub(crate) fn position(&self) -> Option<(usize, usize)> {
        self.span
            .filter(|_| self.source.is_some())
            .map(|span| (span.line, span.column))
    }

    /// The file a finding is about: the template, else the data file.
    fn file(&self) -> Option<&str> {
        match (&self.source, &self.row) {
            (Some(source), _) if self.span.is_some() => Some(&source.name),
            (_, Some(row)) => Some(&row.file),
            (Some(source), None) => Some(&source.name),
            (None, None) => None,
        }
    }

    /// The headline, with the data row in front when there is one.
    fn headline(&self) -> String {
        match &self.row {
            Some(row) => match &self.column {
                Some(column) => format!("{} row {}, column `{column}`: {}", row.file, row.row, self.message),
                None => format!("{} row {}: {}", row.file, row.row, self.message),
            },
            None => self.message.clone(),
        }
    }
}

/// The data column behind a finding about a row's value at `pointer`: the column of the one
/// variable that fills it (a data file's columns and keys are the variables' names).
fn column_at(template: &Template, row: Option<&RowRef>, pointer: &str) -> Option<String> {
    row?;
    crate::render::sole_variable_at(template, pointer).map(str::to_owned)
}
