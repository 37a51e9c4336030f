//! JSON with a source position for every key and value.
//!
//! A finding about a Flow must point at the line of the Flow file that caused it, as findings
//! about templates do; serde_json keeps no positions. This reader follows RFC 8259 exactly
//! (reading the file as YAML would also accept what Meta refuses, such as unquoted keys), and
//! builds the same [`Node`] tree as [`crate::yaml`], so the checks walk one kind of tree.
//! Positions are counted as the bytes go by, so a Flow minified onto one line costs no more than
//! one spread over many. Duplicate keys are refused: which one Meta would keep is not written.

use std::collections::HashMap;

use saphyr_parser::ScalarStyle;

use crate::limits::{MAX_DOCUMENT_VALUES, MAX_FLOW_NESTING};
use crate::yaml::{Entry, Node, NodeKind, Span};

/// Why a text is not the JSON a Flow file must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("{message}")]
    Syntax { message: String, span: Span },
    #[error("duplicate key `{key}`")]
    DuplicateKey { key: String, span: Span, first: Span },
    #[error("the JSON nests deeper than {MAX_FLOW_NESTING} levels")]
    TooDeep { span: Span },
    #[error("the file holds more than {MAX_DOCUMENT_VALUES} values")]
    TooManyValues { span: Span },
}

impl JsonError {
    pub(crate) fn span(&self) -> Span {
        match self {
            JsonError::Syntax { span, .. }
            | JsonError::DuplicateKey { span, .. }
            | JsonError::TooDeep { span }
            | JsonError::TooManyValues { span } => *span,
        }
    }
}

/// Reads a whole JSON document.
pub(crate) fn parse(text: &str) -> Result<Node, JsonError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        at: 0,
        line: 1,
        column: 1,
        depth: 0,
        values_left: MAX_DOCUMENT_VALUES,
    };
    // Editors on Windows may write a byte-order mark; it is not part of the document.
    if text.starts_with('\u{feff}') {
        reader.at = '\u{feff}'.len_utf8();
    }
    reader.skip_space();
    if reader.at == reader.bytes.len() {
        return Err(reader.error("the file is empty: it holds no JSON value"));
    }
    let root = reader.value()?;
    reader.skip_space();
    if reader.at < reader.bytes.len() {
        return Err(reader.error("unexpected text after the JSON value"));
    }
    Ok(root)
}

/// Up to this many keys, an object is searched for a duplicate key rather than indexed.
const SEARCHED_KEYS: usize = 16;

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    line: usize,
    /// In characters, from 1.
    column: usize,
    depth: usize,
    values_left: usize,
}

/// Where a token starts.
#[derive(Clone, Copy)]
struct Mark {
    at: usize,
    line: usize,
    column: usize,
}

impl Reader<'_> {
    fn mark(&self) -> Mark {
        Mark {
            at: self.at,
            line: self.line,
            column: self.column,
        }
    }

    fn span_from(&self, mark: Mark) -> Span {
        Span {
            offset: mark.at,
            len: self.at - mark.at,
            line: mark.line,
            column: mark.column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Moves past one byte, keeping the line and the column (a character is counted at its
    /// first byte).
    fn bump(&mut self) {
        if let Some(&byte) = self.bytes.get(self.at) {
            self.at += 1;
            if byte == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if byte & 0xC0 != 0x80 {
                self.column += 1;
            }
        }
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        let len = self
            .text
            .get(self.at..)
            .and_then(|rest| rest.chars().next())
            .map_or(0, char::len_utf8);
        JsonError::Syntax {
            message: message.into(),
            span: Span {
                offset: self.at,
                len,
                line: self.line,
                column: self.column,
            },
        }
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    fn value(&mut self) -> Result<Node, JsonError> {
        let mark = self.mark();
        self.values_left = self.values_left.checked_sub(1).ok_or(JsonError::TooManyValues {
            span: Span {
                offset: mark.at,
                len: 1,
                line: mark.line,
                column: mark.column,
            },
        })?;
        match self.peek() {
            Some(b'{') => self.nested(mark, Reader::object),
            Some(b'[') => self.nested(mark, Reader::array),
            Some(b'"') => {
                let value = self.string()?;
                Ok(Node {
                    span: self.span_from(mark),
                    kind: NodeKind::Str {
                        value,
                        style: ScalarStyle::DoubleQuoted,
                    },
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(mark),
            Some(b't') => self.word("true", NodeKind::Bool(true), mark),
            Some(b'f') => self.word("false", NodeKind::Bool(false), mark),
            Some(b'n') => self.word("null", NodeKind::Null, mark),
            Some(_) => {
                Err(self.error("expected a JSON value (an object, a list, text, a number, true, false or null)"))
            }
            None => Err(self.error("unexpected end of the file: a value is missing")),
        }
    }

    fn nested(&mut self, mark: Mark, read: fn(&mut Self, Mark) -> Result<Node, JsonError>) -> Result<Node, JsonError> {
        if self.depth >= MAX_FLOW_NESTING {
            return Err(JsonError::TooDeep {
                span: Span {
                    offset: mark.at,
                    len: 1,
                    line: mark.line,
                    column: mark.column,
                },
            });
        }
        self.depth += 1;
        let node = read(self, mark);
        self.depth -= 1;
        node
    }

    fn object(&mut self, mark: Mark) -> Result<Node, JsonError> {
        self.bump();
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: Option<HashMap<String, Span>> = None;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(Node {
                span: self.span_from(mark),
                kind: NodeKind::Map(entries),
            });
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let key_mark = self.mark();
            let key = self.string()?;
            let key_span = self.span_from(key_mark);
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after the key"));
            }
            self.bump();
            self.skip_space();
            let value = self.value()?;
            let first = match &index {
                Some(index) => index.get(&key).copied(),
                None => entries
                    .iter()
                    .find(|entry| entry.key == key)
                    .map(|entry| entry.key_span),
            };
            if let Some(first) = first {
                return Err(JsonError::DuplicateKey {
                    key,
                    span: key_span,
                    first,
                });
            }
            match &mut index {
                Some(index) => {
                    index.insert(key.clone(), key_span);
                }
                None if entries.len() >= SEARCHED_KEYS => {
                    let mut built: HashMap<String, Span> = entries
                        .iter()
                        .map(|entry| (entry.key.clone(), entry.key_span))
                        .collect();
                    built.insert(key.clone(), key_span);
                    index = Some(built);
                }
                None => {}
            }
            entries.push(Entry { key, key_span, value });
            self.skip_space();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(Node {
                        span: self.span_from(mark),
                        kind: NodeKind::Map(entries),
                    });
                }
                _ => return Err(self.error("expected `,` or `}` after a value in an object")),
            }
        }
    }

    fn array(&mut self, mark: Mark) -> Result<Node, JsonError> {
        self.bump();
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(Node {
                span: self.span_from(mark),
                kind: NodeKind::Seq(items),
            });
        }
        loop {
            self.skip_space();
            items.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return Ok(Node {
                        span: self.span_from(mark),
                        kind: NodeKind::Seq(items),
                    });
                }
                _ => return Err(self.error("expected `,` or `]` after an item of a list")),
            }
        }
    }

    /// A string token, the reader on its opening quote; its value with escapes resolved.
    fn string(&mut self) -> Result<String, JsonError> {
        self.bump();
        let mut value = String::new();
        loop {
            let start = self.at;
            // Plain characters are copied in runs: most strings hold no escape.
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.bump();
            }
            value.push_str(&self.text[start..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.bump();
                    return Ok(value);
                }
                Some(b'\\') => {
                    let escape = self.mark();
                    self.bump();
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.bump();
                            let c = self.unicode_escape(escape)?;
                            value.push(c);
                            continue;
                        }
                        _ => {
                            return Err(
                                self.error("unknown escape: JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
                            )
                        }
                    };
                    self.bump();
                    value.push(c);
                }
                Some(_) => {
                    return Err(self.error("a control character (a line break, a tab) must be escaped in JSON text"))
                }
                None => return Err(self.error("unexpected end of the file inside text: a closing `\"` is missing")),
            }
        }
    }

    /// The character of a `\uXXXX` escape (two of them for a surrogate pair), the reader past
    /// the `u`.
    fn unicode_escape(&mut self, escape: Mark) -> Result<char, JsonError> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.peek() != Some(b'\\') || self.bytes.get(self.at + 1) != Some(&b'u') {
                return Err(self.lone_surrogate(escape));
            }
            self.bump();
            self.bump();
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.lone_surrogate(escape));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.lone_surrogate(escape))
    }

    fn lone_surrogate(&self, escape: Mark) -> JsonError {
        JsonError::Syntax {
            message: "a \\u escape names half of a character (a lone UTF-16 surrogate)".to_owned(),
            span: self.span_from(escape),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(byte @ b'0'..=b'9') => byte - b'0',
                Some(byte @ b'a'..=b'f') => byte - b'a' + 10,
                Some(byte @ b'A'..=b'F') => byte - b'A' + 10,
                _ => return Err(self.error("a \\u escape needs four hexadecimal digits")),
            };
            code = code * 16 + u32::from(digit);
            self.bump();
        }
        Ok(code)
    }

    fn number(&mut self, mark: Mark) -> Result<Node, JsonError> {
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => self.bump(),
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit in the exponent"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(byte) if byte.is_ascii_alphanumeric() || byte == b'.') {
            return Err(self.error("unexpected character in a number"));
        }
        let text = &self.text[mark.at..self.at];
        let kind = match text.parse::<i64>() {
            Ok(int) if integer => NodeKind::Int(int),
            // Beyond i64, or with a fraction or an exponent.
            _ => NodeKind::Float(text.parse::<f64>().unwrap_or(f64::NAN)),
        };
        Ok(Node {
            span: self.span_from(mark),
            kind,
        })
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.bump();
        }
    }

    fn word(&mut self, word: &str, kind: NodeKind, mark: Mark) -> Result<Node, JsonError> {
        if !self.text[self.at..].starts_with(word) {
            return Err(self.error("expected a JSON value (an object, a list, text, a number, true, false or null)"));
        }
        for _ in 0..word.len() {
            self.bump();
        }
        if matches!(self.peek(), Some(byte) if byte.is_ascii_alphanumeric() || byte == b'_') {
            return Err(self.error("unexpected character after a value"));
        }
        Ok(Node {
            span: self.span_from(mark),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_line_and_column_of_keys_and_values() {
        let text = "{\n  \"a\": 1,\n  \"é\": {\"b\": [true, \"x\"]}\n}";
        let root = parse(text).expect("valid");
        let b = root.get("é").expect("é").value.get("b").expect("b");
        assert_eq!((b.key_span.line, b.key_span.column), (3, 9));
        let NodeKind::Seq(items) = &b.value.kind else {
            panic!("a list")
        };
        assert_eq!((items[1].span.line, items[1].span.column), (3, 21));
        assert_eq!(&text[items[1].span.offset..][..items[1].span.len], "\"x\"");
        assert_eq!(root.to_json(), serde_json::json!({"a": 1, "é": {"b": [true, "x"]}}));
    }

    #[test]
    fn resolves_every_escape() {
        let root = parse(r#"["\"\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00"]"#).expect("valid");
        assert_eq!(root.to_json(), serde_json::json!(["\"\\/\u{8}\u{c}\n\r\t", "é😀"]));
    }

    #[test]
    fn numbers_keep_integers_apart() {
        let root = parse("[0, -12, 1.5, 2e3, 99999999999999999999]").expect("valid");
        assert_eq!(root.to_json(), serde_json::json!([0, -12, 1.5, 2000.0, 1e20]));
        assert!(matches!(root, Node { kind: NodeKind::Seq(ref items), .. } if items[1].kind == NodeKind::Int(-12)));
    }

    #[test]
    fn refuses_what_json_does_not_allow() {
        for (text, line, column) in [
            ("{a: 1}", 1, 2),
            ("{\"a\": 1,}", 1, 9),
            ("[1 2]", 1, 4),
            ("{\"a\": 01}", 1, 8),
            ("\"tab\there\"", 1, 5),
            ("\"\\ud800\"", 1, 2),
            ("[1] x", 1, 5),
            ("{\"a\": tru}", 1, 7),
            ("", 1, 1),
        ] {
            let error = parse(text).expect_err(text);
            let span = error.span();
            assert_eq!((span.line, span.column), (line, column), "{text}: {error}");
        }
    }

    #[test]
    fn refuses_duplicate_keys_where_the_second_is() {
        let keys: Vec<String> = (0..40).map(|n| format!("\"k{n}\": {n}")).collect();
        let text = format!("{{{}, \"k3\": 0}}", keys.join(", "));
        let error = parse(&text).expect_err("duplicate");
        assert!(
            matches!(error, JsonError::DuplicateKey { ref key, .. } if key == "k3"),
            "{error:?}"
        );
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing_the_stack() {
        let text = "[".repeat(100_000);
        assert!(matches!(parse(&text), Err(JsonError::TooDeep { .. })));
    }

    #[test]
    fn counts_columns_in_characters_on_a_long_line() {
        let text = format!("[\"{}\", 1]", "é".repeat(50_000));
        let root = parse(&text).expect("valid");
        let NodeKind::Seq(items) = &root.kind else {
            panic!("a list")
        };
        assert_eq!(items[1].span.column, 50_006);
    }
}
