//! Checks made before handlebars parses a leaf: unbalanced braces and nesting too deep, each
//! located at its place in the template's text, so that one pass reports them all.

use saphyr_parser::ScalarStyle;
use serde_json::Value;

use crate::limits::MAX_HANDLEBARS_NESTING;
use crate::render::Compiled;
use crate::yaml::Span;

/// An expression whose braces do not pair, found in a string value.
pub(super) struct Unbalanced {
    /// Where it starts, in bytes of the string.
    pub(super) at: usize,
    pub(super) written: String,
    pub(super) fixed: String,
    pub(super) problem: &'static str,
}

/// The first `{{name}`, `{name}}`, `{{name` or `{{name}}}` of `text`, where `name` looks like
/// a variable or helper call (letters, digits, `_`, `-`, `.`, spaces): braces around anything
/// else are left to handlebars, which says more about them.
pub(super) fn unbalanced(text: &str) -> Option<Unbalanced> {
    let bytes = text.as_bytes();
    let looks_like_name = |inner: &str| {
        inner.chars().any(char::is_alphabetic)
            && inner
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    };
    let mut at = 0;
    while let Some(found) = text[at..].find('{') {
        let start = at + found;
        let inner_start = start + bytes[start..].iter().take_while(|&&byte| byte == b'{').count();
        let inner_end = text[inner_start..]
            .find(['{', '}'])
            .map_or(text.len(), |end| inner_start + end);
        let closed = inner_end + bytes[inner_end..].iter().take_while(|&&byte| byte == b'}').count();
        let (opening, closing) = (inner_start - start, closed - inner_end);
        at = closed.max(inner_start);
        let inner = &text[inner_start..inner_end];
        let problem = match (opening, closing) {
            (2, 1) => "is missing a closing `}`",
            (1, 2) => "is missing an opening `{`",
            (2, 3) => "has one `}` too many",
            (2, 0) => "is missing its closing `}}`",
            _ => continue,
        };
        // `{{city is ready`: the expression is the first word.
        let (inner, closed) = if closing == 0 {
            let word = inner.split(' ').next().unwrap_or_default();
            (word, inner_start + word.len())
        } else {
            (inner, closed)
        };
        if !looks_like_name(inner) {
            continue;
        }
        return Some(Unbalanced {
            at: start,
            written: text[start..closed].to_owned(),
            fixed: format!("{{{{{}}}}}", inner.trim()),
            problem,
        });
    }
    None
}

/// Where blocks (`{{#if}}`) and subexpressions (`(upper name)`) in `text` first nest deeper
/// than [`MAX_HANDLEBARS_NESTING`]: the byte offset of the opening that goes over. Found by
/// scanning the text, because handlebars parses by recursion and overflows the stack first.
pub(super) fn too_deep_at(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut blocks = 0usize;
    let mut at = 0;
    while let Some(found) = text[at..].find("{{") {
        let open = at + found;
        let mut next = open + 2;
        // `{{{x}}}` and raw blocks `{{{{raw}}}}` open with more braces; `~` trims space.
        while matches!(bytes.get(next), Some(b'{' | b'~')) {
            next += 1;
        }
        match bytes.get(next) {
            Some(b'!') => {
                let end = if text[next..].starts_with("!--") { "--}}" } else { "}}" };
                match text[next..].find(end) {
                    Some(close) => {
                        at = next + close + end.len();
                        continue;
                    }
                    None => return None,
                }
            }
            // `{{^}}` alone is `else`; `{{^name}}` opens an inverted block.
            Some(b'#' | b'^') if !matches!(bytes.get(next + 1), Some(b'}' | b'~')) => {
                blocks += 1;
                if blocks > MAX_HANDLEBARS_NESTING {
                    return Some(open);
                }
            }
            Some(b'/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        let mut parens = 0usize;
        let mut quote = None;
        loop {
            match (bytes.get(next), quote) {
                (None, _) => return None,
                (Some(&byte), Some(open_quote)) if byte == open_quote => quote = None,
                (Some(_), Some(_)) => {}
                (Some(&byte @ (b'"' | b'\'')), None) => quote = Some(byte),
                (Some(b'('), None) => {
                    parens += 1;
                    if blocks + parens > MAX_HANDLEBARS_NESTING {
                        return Some(next);
                    }
                }
                (Some(b')'), None) => parens = parens.saturating_sub(1),
                (Some(b'}'), None) if bytes.get(next + 1) == Some(&b'}') => break,
                (Some(_), None) => {}
            }
            next += 1;
        }
        at = next + 2;
    }
    None
}

/// A list or map whose members are all constant is one constant, built once.
pub(super) fn collapse_seq(items: Vec<Compiled>) -> Compiled {
    if items.iter().all(|item| matches!(item, Compiled::Constant(_))) {
        Compiled::Constant(Value::Array(
            items
                .into_iter()
                .filter_map(|item| match item {
                    Compiled::Constant(value) => Some(value),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Compiled::Seq(items)
    }
}

pub(super) fn collapse_map(entries: Vec<(String, Compiled)>) -> Compiled {
    if entries.iter().all(|(_, value)| matches!(value, Compiled::Constant(_))) {
        Compiled::Constant(Value::Object(
            entries
                .into_iter()
                .filter_map(|(key, value)| match value {
                    Compiled::Constant(value) => Some((key, value)),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Compiled::Map(entries)
    }
}

/// Where the expressions of one string value are in the source, prepared once per value (a
/// value may hold thousands of them). A place is exact when the value is written on one line
/// exactly as it reads (plain, or quoted without escapes), or in a block (`|`, `>`) on one of
/// its lines; otherwise (an escape, an expression folded over two lines) it is the start of the
/// value, which is still the right line to look at, never a wrong place.
pub(super) struct Places<'t> {
    text: &'t str,
    pub(super) span: Span,
    /// The value is ASCII: a column is a byte count.
    ascii: bool,
    /// The byte each line of the value starts at.
    line_starts: Vec<usize>,
    /// The pieces of the value written unchanged in the source, in the value's order; none
    /// when no place inside the value can be told exactly.
    pieces: Vec<Piece>,
}

/// A piece of a value written, unchanged, on one line of the source.
pub(super) struct Piece {
    value: usize,
    source: usize,
    len: usize,
    line: usize,
    column: usize,
}

impl<'t> Places<'t> {
    pub(super) fn new(source: &str, text: &'t str, style: ScalarStyle, span: Span) -> Places<'t> {
        let pieces = match style {
            ScalarStyle::Plain => one_line_piece(source, text, span, 0),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => one_line_piece(source, text, span, 1),
            ScalarStyle::Literal | ScalarStyle::Folded => block_pieces(source, text, span),
        }
        .unwrap_or_default();
        let line_starts = if pieces.is_empty() {
            Vec::new()
        } else {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(at, _)| at + 1))
                .collect()
        };
        Places {
            text,
            span,
            ascii: text.is_ascii(),
            line_starts,
            pieces,
        }
    }

    /// The source place of the expression at (line, column) of the value (1-based, in
    /// characters, as handlebars counts).
    pub(super) fn at(&self, line: usize, column: usize) -> Span {
        self.exact(line, column).unwrap_or(self.span)
    }

    pub(super) fn exact(&self, line: usize, column: usize) -> Option<Span> {
        let text = self.text;
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self.line_starts.get(line).map_or(text.len(), |next| next - 1);
        let column = column.saturating_sub(1);
        let byte = if self.ascii {
            (start + column).min(end)
        } else {
            text[start..end]
                .char_indices()
                .nth(column)
                .map_or(end, |(byte, _)| start + byte)
        };
        let rest = &text[byte..];
        let len = rest.find("}}").map_or(rest.len(), |end| end + 2);
        let index = self
            .pieces
            .partition_point(|piece| piece.value <= byte)
            .checked_sub(1)?;
        let piece = &self.pieces[index];
        if byte + len > piece.value + piece.len {
            return None;
        }
        let within = &text[piece.value..byte];
        let chars = if self.ascii {
            within.len()
        } else {
            within.chars().count()
        };
        Some(Span {
            offset: piece.source + (byte - piece.value),
            len,
            line: piece.line,
            column: piece.column + chars,
        })
    }
}

/// A value written on one line as it reads, after `quote` opening characters.
pub(super) fn one_line_piece(source: &str, text: &str, span: Span, quote: usize) -> Option<Vec<Piece>> {
    let written = source.get(span.offset + quote..span.offset + quote + text.len())?;
    (written == text && !text.contains('\n')).then(|| {
        vec![Piece {
            value: 0,
            source: span.offset + quote,
            len: text.len(),
            line: span.line,
            column: span.column + quote,
        }]
    })
}

/// The lines of a block scalar found in its value. The parser's span of a block starts on its
/// first line that is not blank, after the block's indentation; the value is its lines without
/// that indentation, joined by line breaks (`|`) or by spaces where lines fold (`>`), blank
/// lines as line breaks. Each source line is found in the value where it must be, text for
/// text, or there are no pieces.
pub(super) fn block_pieces(source: &str, text: &str, span: Span) -> Option<Vec<Piece>> {
    let indent = span.column.checked_sub(1)?;
    let first = span.offset.checked_sub(indent)?;
    let at_line_start = first == 0 || source.as_bytes().get(first - 1) == Some(&b'\n');
    if !at_line_start || !source.get(first..span.offset)?.bytes().all(|byte| byte == b' ') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut line_start = first;
    for (number, written) in (span.line..).zip(source[first..].split('\n')) {
        let start = line_start;
        line_start += written.len() + 1;
        if at >= text.len() {
            break;
        }
        let written = written.strip_suffix('\r').unwrap_or(written);
        if written.bytes().all(|byte| byte == b' ') {
            continue;
        }
        // A line indented less than the block's ends it.
        let Some(content) = written
            .get(indent..)
            .filter(|_| written.as_bytes()[..indent].iter().all(|byte| *byte == b' '))
        else {
            break;
        };
        // What lies between two lines in the value is a line break or a folding space.
        while !text[at..].starts_with(content) {
            match text.as_bytes().get(at) {
                Some(b'\n' | b' ') => at += 1,
                _ => return None,
            }
        }
        pieces.push(Piece {
            value: at,
            source: start + indent,
            len: content.len(),
            line: number,
            column: indent + 1,
        });
        at += content.len();
    }
    // Only line breaks (and the spaces of blank lines) may be left: the value was read whole.
    text[at..]
        .bytes()
        .all(|byte| byte == b'\n' || byte == b' ')
        .then_some(pieces)
}
