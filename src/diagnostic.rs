//! The one place where errors and warnings become what a person reads.
//!
//! Every stage returns typed errors; the command layer turns them into [`Finding`]s here and
//! prints them with miette: `file:line:column`, the source line and a marker for templates;
//! the row number and column for data files. Colour follows the terminal and `NO_COLOR`;
//! output to a pipe or file is plain ASCII.

mod flow;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity};

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
        let mut json = serde_json::json!({
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
        });
        if !self.related.is_empty() {
            json["related"] = self
                .related
                .iter()
                .map(|related| {
                    serde_json::json!({
                        "file": related.source.name,
                        "line": related.span.line,
                        "column": related.span.column,
                        "message": related.message,
                    })
                })
                .collect();
        }
        json
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
        for related in &self.related {
            message.push_str(&format!(
                "\nsee {}:{}:{}: {}",
                related.source.name, related.span.line, related.span.column, related.message
            ));
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

/// The data column behind a finding about a row's value at `pointer`: the column of the one
/// variable that fills it (a data file's columns and keys are the variables' names).
fn column_at(template: &Template, row: Option<&RowRef>, pointer: &str) -> Option<String> {
    row?;
    crate::render::sole_variable_at(template, pointer).map(str::to_owned)
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

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

/// The one writer of a run's output: findings and notes to stderr, findings for tools and
/// status lines to stdout. It remembers the first write to stdout that failed, so that output
/// lost to a full disk is not taken for success; a closed pipe (`flowc check | head`) is the
/// reader's choice and is not remembered.
pub struct Printer {
    handler: GraphicalReportHandler,
    format: Format,
    lost_output: OnceLock<String>,
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
            handler: GraphicalReportHandler::new_themed(theme)
                .with_wrap_lines(false)
                .with_show_related_as_nested(true),
            format,
            lost_output: OnceLock::new(),
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
        match self.format {
            Format::Human => self.print_on_stderr(finding),
            Format::Json => self.line(&finding.to_json().to_string()),
            Format::Github => self.line(&finding.to_github()),
        }
    }

    /// A finding for people on stderr, whatever the format: for when stdout is what failed.
    pub fn print_on_stderr(&self, finding: &Finding) {
        let text = self.render(finding);
        // stderr may be closed too; there is nowhere left to report that.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// A plain line on standard error (summaries, progress).
    pub fn note(&self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A line on standard output.
    pub fn line(&self, line: &str) {
        let written = writeln!(std::io::stdout().lock(), "{line}");
        self.track_output(written);
    }

    /// Bytes on standard output, as they are.
    pub fn write_out(&self, bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
        self.track_output(written);
    }

    /// Remembers a failed write to stdout made elsewhere (a command's own buffered writer).
    pub fn track_output(&self, written: std::io::Result<()>) {
        if let Err(error) = written {
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = self.lost_output.set(error.to_string());
            }
        }
    }

    /// Why stdout could not be written, if a write to it failed other than by a closed pipe.
    pub fn lost_output(&self) -> Option<&str> {
        self.lost_output.get().map(String::as_str)
    }
}

/// A finding as miette sees it.
struct View<'a> {
    finding: &'a Finding,
    headline: String,
    excerpt: Option<Excerpt>,
    related: Vec<RelatedView>,
}

impl<'a> View<'a> {
    fn new(finding: &'a Finding) -> Self {
        View {
            finding,
            headline: finding.headline(),
            excerpt: match (&finding.source, finding.span) {
                (Some(source), Some(span)) => Some(Excerpt::new(&source.name, &source.text, span)),
                _ => None,
            },
            related: finding
                .related
                .iter()
                .map(|related| RelatedView {
                    message: printable(&clip(&related.message, MESSAGE_WIDTH)).into_owned(),
                    excerpt: Excerpt::new(&related.source.name, &related.source.text, related.span),
                })
                .collect(),
        }
    }
}

/// A related place as miette sees it: drawn after the finding, with its own source.
struct RelatedView {
    message: String,
    excerpt: Excerpt,
}

impl fmt::Debug for RelatedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for RelatedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RelatedView {}

impl Diagnostic for RelatedView {
    fn severity(&self) -> Option<Severity> {
        Some(Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".to_owned()),
            self.excerpt.label.start,
            self.excerpt.label.len().max(1),
        ))))
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
        self.excerpt.as_ref().map(|excerpt| excerpt as &dyn miette::SourceCode)
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|related| related as &dyn Diagnostic)))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let excerpt = self.excerpt.as_ref()?;
        let label = match &self.finding.pointer {
            Some(pointer) if !pointer.is_empty() => format!("field {pointer}"),
            _ => "here".to_owned(),
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            excerpt.label.start,
            excerpt.label.len().max(1),
        ))))
    }
}

/// How many characters of a source line a diagnostic quotes; a longer line is cut, with
/// [`CUT`] where text was left out. A 100 MB value on one line would otherwise be printed
/// whole, and miette cannot draw its marker past column 65,535 (it panics).
const EXCERPT_WIDTH: usize = 120;
/// How many of those characters come before the place pointed at.
const EXCERPT_LEAD: usize = 40;
/// How many lines of a place that spans several (a block of text) a diagnostic quotes.
const EXCERPT_LINES: usize = 6;
const CUT: &str = "...";

/// The few source lines a diagnostic quotes, each cut to a window of columns around the place
/// it points at, so that what is printed stays small whatever the source holds. Line and
/// column in the header are the true ones, counted in the whole source.
struct Excerpt {
    name: String,
    text: String,
    /// The source line (from 0) of the excerpt's first line.
    first_line: usize,
    line_count: usize,
    /// The source line and column (from 0, in characters) of the place.
    line: usize,
    column: usize,
    /// The place, in bytes of `text`.
    label: std::ops::Range<usize>,
}

impl Excerpt {
    fn new(name: &str, source: &str, span: Span) -> Excerpt {
        let start = floor_char_boundary(source, span.offset);
        let end = floor_char_boundary(source, span.offset.saturating_add(span.len)).max(start);
        let line_start = source[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line = source.as_bytes()[..line_start]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        let column = source[line_start..start].chars().count();
        // One line of context before the place, as miette shows it.
        let (mut position, first_line) = match line_start.checked_sub(1) {
            Some(newline) => (
                source[..newline].rfind('\n').map_or(0, |previous| previous + 1),
                line - 1,
            ),
            None => (0, line),
        };
        let first_column = column.saturating_sub(EXCERPT_LEAD);
        let mut part = if position < line_start {
            Part::Before
        } else {
            Part::Place
        };
        let mut text = String::new();
        let mut line_count = 0;
        let mut label = 0..0;
        let mut place_lines = 0;
        loop {
            let line_end = source[position..].find('\n').map_or(source.len(), |at| position + at);
            let content_end = if source[position..line_end].ends_with('\r') {
                line_end - 1
            } else {
                line_end
            };
            let from = position + byte_of_char(&source[position..content_end], first_column);
            let to = from + byte_of_char(&source[from..content_end], EXCERPT_WIDTH);
            if line_count > 0 {
                text.push('\n');
            }
            line_count += 1;
            if from > position {
                text.push_str(CUT);
            }
            let base = text.len();
            // A control character (a NUL, an escape sequence) is shown as `?`: one byte for one,
            // so the place stays where it was.
            text.extend(
                source[from..to]
                    .chars()
                    .map(|c| if c.is_ascii_control() && c != '\t' { '?' } else { c }),
            );
            if to < content_end {
                text.push_str(CUT);
            }
            let at = |byte: usize| base + byte.clamp(from, to) - from;
            match part {
                Part::Before => part = Part::Place,
                Part::Place => {
                    if place_lines == 0 {
                        label.start = at(start);
                    }
                    label.end = at(end.min(line_end)).max(label.start);
                    place_lines += 1;
                    if end <= line_end + 1 {
                        part = Part::After;
                    } else if place_lines == EXCERPT_LINES {
                        break;
                    }
                }
                Part::After => break,
            }
            if line_end == source.len() {
                break;
            }
            position = line_end + 1;
        }
        Excerpt {
            name: name.to_owned(),
            text,
            first_line,
            line_count,
            line,
            column,
            label,
        }
    }
}

/// Where the excerpt is, line by line: the line of context before the place, the place's
/// lines, the line of context after it.
enum Part {
    Before,
    Place,
    After,
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        _span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // miette asks for the place alone to write the header (`file:line:column`), and for
        // the place with its context to draw it: the whole excerpt.
        let (line, column) = if context_lines_before == 0 && context_lines_after == 0 {
            (self.line, self.column)
        } else {
            (self.first_line, 0)
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            (0, self.text.len()).into(),
            line,
            column,
            self.line_count,
        )))
    }
}

/// The largest character boundary of `text` at or before `byte`.
fn floor_char_boundary(text: &str, byte: usize) -> usize {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    byte
}

/// The byte offset of the character `n` of `text` (its length if it is shorter).
fn byte_of_char(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(byte, _)| byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt_at(source: &str, needle: &str) -> Excerpt {
        let offset = source.find(needle).expect("needle");
        let span = Span {
            offset,
            len: needle.len(),
            line: 0,
            column: 0,
        };
        Excerpt::new("t.yaml", source, span)
    }

    #[test]
    fn a_short_source_is_quoted_whole_with_a_line_of_context() {
        let source = "a: 1\r\nb: é{{x}}\r\nc: 3\r\nd: 4\r\n";
        let excerpt = excerpt_at(source, "{{x}}");
        assert_eq!(excerpt.text, "a: 1\nb: é{{x}}\nc: 3");
        assert_eq!(&excerpt.text[excerpt.label.clone()], "{{x}}");
        assert_eq!((excerpt.first_line, excerpt.line, excerpt.column), (0, 1, 4));
    }

    #[test]
    fn a_long_line_is_cut_around_the_place() {
        let source = format!("a: 1\nb: {}{{{{x}}}}{}\n", "é".repeat(100_000), "z".repeat(100_000));
        let excerpt = excerpt_at(&source, "{{x}}");
        assert_eq!(&excerpt.text[excerpt.label.clone()], "{{x}}");
        assert_eq!(excerpt.column, 100_003);
        assert!(excerpt.text.len() < 600, "{}", excerpt.text);
        assert!(excerpt.text.contains("...éé") && excerpt.text.contains("zz...\n"));
    }
}
