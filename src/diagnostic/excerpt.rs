//! The miette adapter: a finding drawn with its source excerpt (the template's lines, or a
//! data row cut to the width of a terminal) and a marker under the place.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, Severity};

use crate::diagnostic::{Finding, Level, MESSAGE_WIDTH};
use crate::words::{clip, printable};
use crate::yaml::Span;

/// A finding as miette sees it.
pub(super) struct View<'a> {
    finding: &'a Finding,
    pub(super) headline: String,
    excerpt: Option<Excerpt>,
    related: Vec<RelatedView>,
}

impl<'a> View<'a> {
    pub(super) fn new(finding: &'a Finding) -> Self {
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
pub(super) struct RelatedView {
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
pub(super) const EXCERPT_WIDTH: usize = 120;
/// How many of those characters come before the place pointed at.
pub(super) const EXCERPT_LEAD: usize = 40;
/// How many lines of a place that spans several (a block of text) a diagnostic quotes.
pub(super) const EXCERPT_LINES: usize = 6;
pub(super) const CUT: &str = "...";

/// The few source lines a diagnostic quotes, each cut to a window of columns around the place
/// it points at, so that what is printed stays small whatever the source holds. Line and
/// column in the header are the true ones, counted in the whole source.
pub(super) struct Excerpt {
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
    pub(super) fn new(name: &str, source: &str, span: Span) -> Excerpt {
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
pub(super) enum Part {
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
pub(super) fn floor_char_boundary(text: &str, byte: usize) -> usize {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    byte
}

/// The byte offset of the character `n` of `text` (its length if it is shorter).
pub(super) fn byte_of_char(text: &str, n: usize) -> usize {
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
