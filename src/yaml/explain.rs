//! Plain words for the YAML mistakes people make most: a tab in the indentation, a line
//! indented unlike its neighbours, a `{`, `[` or quote never closed.
//!
//! saphyr reports these in a parser's terms ("while parsing a block mapping, did not find
//! expected key", "invalid indentation in flow construct"), often at a line after the mistake.
//! Its errors carry only a message and a place, so they are recognised by message here, and
//! told apart with the source: the indentation of the line and of the one before it, or a
//! scan for a bracket that is never closed, whose place is where the fix goes.

use super::{Span, YamlError};

/// Whether a parser message is about a tab: saphyr has five, all of them about a tab where
/// YAML counts indentation.
pub(super) fn is_about_tabs(message: &str) -> bool {
    message.contains("tab")
}

/// The error in plain words, when the source shows which mistake it is.
pub(super) fn explain(source: &str, error: YamlError) -> YamlError {
    match error {
        YamlError::Tab { span } => YamlError::Tab {
            span: first_tab_of_line(source, span.offset).unwrap_or(span),
        },
        YamlError::Syntax { message, span } => {
            if let Some((bracket, open)) = unclosed(source).filter(|(_, open)| open.offset <= span.offset) {
                return YamlError::Unclosed { bracket, open };
            }
            match misindented(source, &message, span) {
                Some(line) => YamlError::Indentation { span: line },
                None => YamlError::Syntax { message, span },
            }
        }
        other => other,
    }
}

/// The tab in the indentation of the line holding `offset`.
fn first_tab_of_line(source: &str, offset: usize) -> Option<Span> {
    let offset = offset.min(source.len());
    let start = source.get(..offset)?.rfind('\n').map_or(0, |newline| newline + 1);
    let indentation = source[start..]
        .find(|c: char| c != ' ' && c != '\t')
        .map_or(&source[start..], |end| &source[start..start + end]);
    let tab = indentation.find('\t')?;
    Some(span_at(source, start + tab))
}

/// The content of the line at `span`, when the parser's complaint is that line's indentation:
/// it is indented unlike the line before it, where the parser expected a key of the same
/// mapping (or an item of the same list), or, after a line that opens nothing, further.
fn misindented(source: &str, message: &str, span: Span) -> Option<Span> {
    let wants_same = message.contains("did not find expected key")
        || message.contains("did not find expected '-'")
        || message == "invalid indentation";
    let wants_less = message.contains("mapping values are not allowed");
    if !wants_same && !wants_less {
        return None;
    }
    let offset = span.offset.min(source.len());
    let start = source.get(..offset)?.rfind('\n').map_or(0, |newline| newline + 1);
    let line = source[start..].split('\n').next().unwrap_or_default();
    let indent = line.len() - line.trim_start_matches(' ').len();
    let previous = source[..start]
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))?;
    // A list item's content starts after its `- `: that is the column a line below aligns with.
    let mut content = previous.trim_start_matches(' ');
    let mut previous_indent = previous.len() - content.len();
    while let Some(item) = content.strip_prefix("- ") {
        let rest = item.trim_start_matches(' ');
        previous_indent += content.len() - rest.len();
        content = rest;
    }
    let content = content.split(" #").next().unwrap_or_default().trim_end();
    let opens_a_block = content.ends_with(':') || content == "-" || content.ends_with(['|', '>']);
    let differs = if wants_same {
        indent != previous_indent
    } else {
        indent > previous_indent && !opens_a_block
    };
    differs.then(|| Span {
        len: line.trim().len().max(1),
        ..span_at(source, start + indent)
    })
}

/// The first `{`, `[` or quote of the source that is never closed, and its place.
///
/// A rough reading of YAML, enough to find brackets: a flow collection opens where a value
/// starts (after `key: `, `- `, or at the start of a line) or inside another one; quotes open
/// there too; comments and block scalars (`|`, `>`) are skipped; inside a flow collection,
/// brackets outside quotes open and close.
fn unclosed(source: &str) -> Option<(char, Span)> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut value_start = true;
    // The indentation of the line that started a block scalar: deeper lines are its text.
    let mut block_scalar: Option<usize> = None;
    let mut line_start = true;
    let mut chars = source.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if line_start {
            line_start = false;
            let line = &source[at..];
            let indent = line.len() - line.trim_start_matches(' ').len();
            if let Some(scalar_indent) = block_scalar {
                let content = line.split('\n').next().unwrap_or_default();
                if content.trim().is_empty() || indent > scalar_indent {
                    skip_line(&mut chars, &mut line_start);
                    continue;
                }
                block_scalar = None;
            }
            if open.is_empty() && quote.is_none() {
                value_start = true;
            }
        }
        if c == '\n' {
            line_start = true;
            continue;
        }
        if let Some((mark, _)) = quote {
            match c {
                '\\' if mark == '"' => {
                    chars.next_if(|&(_, next)| next != '\n');
                }
                '\'' if mark == '\'' && chars.peek().is_some_and(|&(_, next)| next == '\'') => {
                    chars.next();
                }
                c if c == mark => {
                    quote = None;
                    value_start = false;
                }
                _ => {}
            }
            continue;
        }
        let after_space = at == 0 || source[..at].ends_with([' ', '\t', '\n']);
        match c {
            ' ' | '\t' | '\r' => {}
            '#' if after_space => skip_line(&mut chars, &mut line_start),
            '"' | '\'' if value_start => quote = Some((c, at)),
            '{' | '[' if value_start || !open.is_empty() => {
                open.push((c, at));
                value_start = true;
            }
            '}' | ']' if !open.is_empty() => {
                open.pop();
                value_start = false;
            }
            ',' if !open.is_empty() => value_start = true,
            ':' | '-' | '?'
                if chars
                    .peek()
                    .is_none_or(|&(_, next)| matches!(next, ' ' | '\t' | '\n' | '\r')) =>
            {
                value_start = true;
            }
            '|' | '>' if value_start && open.is_empty() => {
                let line_begin = source[..at].rfind('\n').map_or(0, |newline| newline + 1);
                let line = &source[line_begin..];
                block_scalar = Some(line.len() - line.trim_start_matches(' ').len());
                skip_line(&mut chars, &mut line_start);
            }
            _ => value_start = false,
        }
    }
    let (bracket, at) = quote.or_else(|| open.first().copied())?;
    Some((bracket, span_at(source, at)))
}

/// Consumes the rest of the line, its line break included.
fn skip_line(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, line_start: &mut bool) {
    for (_, c) in chars.by_ref() {
        if c == '\n' {
            *line_start = true;
            return;
        }
    }
}

/// The one-character span at a byte offset of `source`.
fn span_at(source: &str, offset: usize) -> Span {
    super::span_of_byte(source, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(source: &str) -> Option<(char, usize, usize)> {
        unclosed(source).map(|(bracket, span)| (bracket, span.line, span.column))
    }

    #[test]
    fn finds_the_bracket_never_closed() {
        assert_eq!(place("a: {b: 1\nc: 2\n"), Some(('{', 1, 4)));
        assert_eq!(place("a:\n  b: {c: {d: 1}\n  e: 2\n"), Some(('{', 2, 6)));
        assert_eq!(place("a: [1, 2\nb: 3\n"), Some(('[', 1, 4)));
        assert_eq!(place("a: \"abc\nb: 1\n"), Some(('"', 1, 4)));
    }

    #[test]
    fn ignores_brackets_in_text_comments_quotes_and_block_scalars() {
        assert_eq!(place("a: Hi {name\nb: [1, 2]\n"), None);
        assert_eq!(place("a: 1 # {not\nb: '{' \nc: \"it's {\"\n"), None);
        assert_eq!(place("a: |\n  {text\n  [more\nb: {c: 1}\n"), None);
        assert_eq!(place("a: {b: 1,\n    c: [2,\n      3]}\n- {x: \"{{y}}\"}\n"), None);
        assert_eq!(place("a: 'it''s {'\n"), None);
    }
}
