//! The one place where errors and warnings become what a person reads.
//!
//! Every stage returns typed errors; the command layer turns them into [`Finding`]s here and
//! prints them with miette: `file:line:column`, the source line and a marker for templates;
//! the row number and column for data files. Colour follows the terminal and `NO_COLOR`;
//! output to a pipe or file is plain ASCII.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, Severity};

use crate::compile::Warning;
use crate::data::DataError;
use crate::pipeline::Problem;
use crate::render::LeafError;
use crate::template::{SourceFile, Template, TemplateError};
use crate::yaml::{Span, YamlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

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
}

impl Finding {
    pub fn error(message: impl Into<String>) -> Finding {
        Finding {
            level: Level::Error,
            message: message.into(),
            gist: None,
            help: None,
            source: None,
            span: None,
            pointer: None,
            row: None,
            column: None,
        }
    }

    pub fn with_help(mut self, help: Option<impl Into<String>>) -> Finding {
        self.help = help.map(Into::into);
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
                    _ => None,
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
            LeafError::Undeclared { help, .. } | LeafError::UnknownHelper { help, .. } => Some(help.clone()),
            LeafError::Syntax { .. } => {
                Some("handlebars expressions look like `{{name}}` or `{{upper name}}`".to_owned())
            }
            LeafError::Unsupported { .. } => None,
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

    fn severity(&self) -> &'static str {
        match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }

    /// `{"file", "line", "column", "pointer", "severity", "message", "help"}`, plus the data
    /// file's `row` and `column_name` for findings about a data row.
    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = match (self.position(), &self.row) {
            (Some((line, column)), _) => (Some(line as u64), Some(column as u64)),
            (None, Some(row)) => (Some(row.row), None),
            (None, None) => (None, None),
        };
        serde_json::json!({
            "file": self.file(),
            "line": line,
            "column": column,
            "pointer": self.pointer,
            "severity": self.severity(),
            "message": self.headline(),
            "help": self.help,
            "data_file": self.row.as_ref().map(|row| &row.file),
            "row": self.row.as_ref().map(|row| row.row),
            "column_name": self.column,
        })
    }

    /// `::error file=…,line=…,col=…,title=…::message`, escaped as GitHub requires.
    pub fn to_github(&self) -> String {
        let mut properties = Vec::new();
        if let Some(file) = self.file() {
            properties.push(format!("file={}", escape_property(file)));
        }
        match (self.position(), &self.row) {
            (Some((line, column)), _) => {
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
            (None, Some(row)) => properties.push(format!("line={}", row.row)),
            (None, None) => {}
        }
        properties.push("title=flowc".to_owned());
        let mut message = self.headline();
        if let Some(pointer) = &self.pointer {
            message.push_str(&format!(" (at {pointer})"));
        }
        if let Some(help) = &self.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        format!(
            "::{} {}::{}",
            self.severity(),
            properties.join(","),
            escape_data(&message)
        )
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

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Prints findings: to stderr for people, to stdout as JSON or workflow commands for tools.
/// How findings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people: miette's report on stderr, with the source line.
    #[default]
    Human,
    /// For tools: one JSON object per finding on stdout.
    Json,
    /// For GitHub Actions: workflow commands on stdout, so a pull request shows each finding
    /// on its line.
    Github,
}

pub struct Printer {
    handler: GraphicalReportHandler,
    format: Format,
}

impl Printer {
    pub fn for_stderr() -> Printer {
        Printer::with_format(Format::Human)
    }

    pub fn with_format(format: Format) -> Printer {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::none()
        };
        Printer {
            handler: GraphicalReportHandler::new_themed(theme).with_wrap_lines(false),
            format,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn render(&self, finding: &Finding) -> String {
        let view = View::new(finding);
        let mut out = String::new();
        if self.handler.render_report(&mut out, &view).is_err() {
            out = format!("{}\n", view.headline);
        }
        out
    }

    pub fn print(&self, finding: &Finding) {
        // The stream may be closed; there is nowhere left to report that.
        match self.format {
            Format::Human => {
                let text = self.render(finding);
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Format::Json => {
                let _ = writeln!(std::io::stdout().lock(), "{}", finding.to_json());
            }
            Format::Github => {
                let _ = writeln!(std::io::stdout().lock(), "{}", finding.to_github());
            }
        }
    }

    /// A plain line on standard error (summaries, progress).
    pub fn note(&self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// A finding as miette sees it.
struct View<'a> {
    finding: &'a Finding,
    headline: String,
    source: Option<NamedSource<Arc<str>>>,
}

impl<'a> View<'a> {
    fn new(finding: &'a Finding) -> Self {
        View {
            finding,
            headline: finding.headline(),
            source: finding
                .source
                .as_ref()
                .filter(|_| finding.span.is_some())
                .map(|source| NamedSource::new(&source.name, Arc::clone(&source.text))),
        }
    }
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline)
    }
}

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline)
    }
}

impl std::error::Error for View<'_> {}

impl Diagnostic for View<'_> {
    fn severity(&self) -> Option<Severity> {
        Some(match self.finding.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.finding
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.finding.span?;
        self.source.as_ref()?;
        let label = match &self.finding.pointer {
            Some(pointer) if !pointer.is_empty() => format!("field {pointer}"),
            _ => "here".to_owned(),
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            span.offset,
            span.len.max(1),
        ))))
    }
}
