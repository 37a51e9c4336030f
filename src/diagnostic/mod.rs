//! The one place where errors and warnings become what a person reads.
//!
//! Every stage returns typed errors; the command layer turns them into [`Finding`]s here and
//! prints them with miette: `file:line:column`, the source line and a marker for templates;
//! the row number and column for data files. Colour follows the terminal and `NO_COLOR`;
//! output to a pipe or file is plain ASCII.

mod excerpt;
mod flow;
mod output;
mod printer;

pub use self::printer::{Format, Printer};
use crate::compile::Warning;
use crate::data::DataError;
use crate::pipeline::Problem;
use crate::render::LeafError;
use crate::template::{SourceFile, Template, TemplateError};
use crate::words::{clip, printable};
use crate::yaml::{Span, YamlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// How many characters of a message or a help a finding keeps: a message that quotes a value
/// (a 10 MB phone number, a 1 MB key) would otherwise be as long as the value.
const MESSAGE_WIDTH: usize = 400;

/// The data row a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    pub file: String,
    pub row: u64,
}

/// One thing to tell the user: what, where, and how to fix it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    /// The message without the value that broke the rule, when it quotes one: the same words
    /// for every row that breaks the rule the same way (repeats are counted by it).
    pub gist: Option<String>,
    pub help: Option<String>,
    /// The template and the place in it, when the finding has one.
    pub source: Option<SourceFile>,
    pub span: Option<Span>,
    /// The JSON pointer of the field in the request body.
    pub pointer: Option<String>,
    pub row: Option<RowRef>,
    pub column: Option<String>,
    /// Other places the finding is about (the Flow JSON line beside a template line).
    pub related: Vec<Related>,
}

/// A second place a finding shows, with what it is.
#[derive(Debug, Clone)]
pub struct Related {
    pub message: String,
    pub source: SourceFile,
    pub span: Span,
}

impl Finding {
    pub fn error(message: impl Into<String>) -> Finding {
        let message = message.into();
        Finding {
            level: Level::Error,
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

    pub fn warning(message: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warning,
            ..Finding::error(message)
        }
    }

    pub fn with_help(mut self, help: Option<impl Into<String>>) -> Finding {
        self.help = help.map(|help| {
            let help = help.into();
            printable(&clip(&help, MESSAGE_WIDTH)).into_owned()
        });
        self
    }

    fn at(mut self, source: &SourceFile, span: Span) -> Finding {
        self.source = Some(source.clone());
        self.span = Some(span);
        self
    }

    fn in_row(mut self, row: Option<&RowRef>) -> Finding {
        self.row = row.cloned();
        self
    }

    pub fn from_template_error(error: &TemplateError) -> Finding {
        match error {
            TemplateError::Unreadable { .. } => Finding::error(error.to_string()),
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

    pub fn from_leaf_error(template: &Template, error: &LeafError) -> Finding {
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
    pub fn from_problem(template: &Template, row: Option<&RowRef>, problem: &Problem) -> Vec<Finding> {
        let at_pointer = |message: String, pointer: &str, help: Option<String>| {
            let span = template
                .key_span_at(pointer)
                .filter(|_| message.starts_with("unknown field"));
            let mut finding = Finding::error(message)
                .with_help(help)
                .at(&template.source, span.unwrap_or_else(|| template.span_at(pointer)))
                .in_row(row);
            finding.pointer = Some(pointer.to_owned());
            finding.column = column_at(template, row, pointer);
            finding
        };
        match problem {
            Problem::Missing(missing) => {
                let mut finding = Finding::error(missing.to_string())
                    .with_help(Some(format!(
                        "give `{}` a value in this row, or a `default` in the template's `vars`",
                        missing.name
                    )))
                    .in_row(row);
                finding.column = Some(missing.name.clone());
                vec![finding]
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
                    .map(|failure| at_pointer(failure.message.clone(), &failure.pointer, None));
                let compile = compile.iter().map(|error| Finding {
                    gist: Some(error.gist()),
                    ..at_pointer(error.to_string(), &error.pointer(), error.help())
                });
                let schema = schema.iter().map(|violation| Finding {
                    gist: violation.gist.clone(),
                    ..at_pointer(violation.message.clone(), &violation.pointer, violation.help.clone())
                });
                let mut findings: Vec<Finding> = render.chain(compile).chain(schema).collect();
                findings.sort_by_key(|finding| finding.span.map(|span| span.offset));
                findings
            }
        }
    }

    pub fn from_warning(template: &Template, row: Option<&RowRef>, warning: &Warning) -> Finding {
        let pointer = warning.pointer();
        let mut finding = Finding::error(warning.to_string())
            .at(&template.source, template.span_at(&pointer))
            .in_row(row);
        finding.gist = Some(warning.gist());
        finding.level = Level::Warning;
        finding.column = column_at(template, row, &pointer);
        finding.pointer = Some(pointer);
        finding
    }

    pub fn from_data_error(error: &DataError) -> Finding {
        match error {
            // The same headline as the error's own, with the row where rows are counted.
            DataError::BadRow {
                path,
                row,
                column,
                message,
            } => {
                let mut finding = Finding::error(message.clone()).with_help(error.help());
                finding.row = Some(RowRef {
                    file: path.clone(),
                    row: *row,
                });
                finding.column = column.clone();
                finding
            }
            _ => Finding::error(error.to_string()).with_help(error.help()),
        }
    }

    /// Line and column (1-based) of the finding in its template, if it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
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
