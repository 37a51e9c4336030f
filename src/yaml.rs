//! YAML as a tree that remembers where every key and value came from.
//!
//! Templates need a source position for each value so that an error found after rendering
//! (a header over 60 characters, an unknown field) can point at the template line that produced
//! it. `saphyr-parser` gives spanned events; this module folds them into [`Node`]s, resolving
//! aliases, typing plain scalars with YAML 1.2's core schema (via `saphyr`), and refusing
//! duplicate keys, which a hash-map based loader would silently collapse into the last one.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar as CoreScalar;
use saphyr_parser::{Event, Input, Parser, ScalarStyle, Span as EventSpan, Tag};
use serde_json::Value;

use crate::limits::{
    ALIAS_EXPANSION_FACTOR, ALIAS_EXPANSION_FLOOR, MAX_ANCHORED_BYTES, MAX_DOCUMENT_VALUES, MAX_YAML_NESTING,
};
use crate::words::{self, ValueKind};

mod explain;

/// A region of the source text, in bytes, with the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str { value: String, style: ScalarStyle },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    #[error("invalid YAML: {message}")]
    Syntax { message: String, span: Span },
    #[error("duplicate key `{key}`")]
    DuplicateKey { key: String, span: Span, first: Span },
    #[error("a mapping key must be a plain string")]
    ComplexKey { span: Span },
    #[error("the value `{text}` does not match its tag `{tag}`")]
    BadTaggedValue { text: String, tag: String, span: Span },
    #[error("expected a single YAML document, found a second one")]
    SecondDocument { span: Span },
    #[error("the file is empty: it holds no YAML value")]
    Empty,
    #[error(
        "aliases expand to more than {}; the limit is {ALIAS_EXPANSION_FACTOR} times the YAML read, and at least {}",
        words::size(*limit as u64),
        words::size(ALIAS_EXPANSION_FLOOR as u64)
    )]
    AliasBomb { span: Span, limit: usize },
    #[error(
        "anchors (`&name`) keep more than {} of the file for later aliases",
        words::size(MAX_ANCHORED_BYTES as u64)
    )]
    TooMuchAnchored { span: Span },
    #[error("the file holds more than {MAX_DOCUMENT_VALUES} values")]
    TooManyValues { span: Span },
    #[error("the YAML nests deeper than {MAX_YAML_NESTING} levels")]
    TooDeep { span: Span },
    /// saphyr's several messages about a tab where YAML counts indentation.
    #[error("a tab is not allowed for indentation in YAML: use spaces")]
    Tab { span: Span },
    #[error("this line is indented differently from the lines above it")]
    Indentation { span: Span },
    /// A flow collection or a quoted value that runs to the end of the file; the parser stops
    /// lines later, where the next key looks out of place.
    #[error("`{bracket}` opened at {}:{} is never closed", open.line, open.column)]
    Unclosed { bracket: char, open: Span },
    /// saphyr takes a NUL written as it is for the end of the input ("unexpected end of
    /// stream") and keeps one written `"\0"`; no message field can hold one.
    #[error("a NUL character (\\0) is not allowed")]
    Nul { span: Span },
}

impl YamlError {
    pub fn span(&self) -> Option<Span> {
        match self {
            YamlError::Syntax { span, .. }
            | YamlError::DuplicateKey { span, .. }
            | YamlError::ComplexKey { span }
            | YamlError::BadTaggedValue { span, .. }
            | YamlError::SecondDocument { span }
            | YamlError::AliasBomb { span, .. }
            | YamlError::TooMuchAnchored { span }
            | YamlError::TooDeep { span }
            | YamlError::TooManyValues { span }
            | YamlError::Nul { span }
            | YamlError::Tab { span }
            | YamlError::Indentation { span }
            | YamlError::Unclosed { open: span, .. } => Some(*span),
            YamlError::Empty => None,
        }
    }

    /// How to fix the mistakes [`explain`] puts in plain words.
    pub fn help(&self) -> Option<String> {
        match self {
            YamlError::Tab { .. } => {
                Some("indent with spaces only (most editors have a setting to insert spaces for Tab)".to_owned())
            }
            // `to: {{phone}}`: YAML reads a flow mapping whose key is another one.
            YamlError::ComplexKey { .. } => Some(
                "a value starting with `{` is read as a mapping: quote a handlebars value, `to: \"{{phone}}\"`".to_owned(),
            ),
            YamlError::Indentation { .. } => Some(
                "the keys of one mapping start in the same column, and the keys inside a key's value further right than it"
                    .to_owned(),
            ),
            YamlError::Unclosed { bracket, open } => Some(match bracket {
                '{' => format!("add `}}` where the mapping ends, e.g. at the end of line {}", open.line),
                '[' => format!("add `]` where the list ends, e.g. at the end of line {}", open.line),
                quote => format!("add the closing {quote} where the text ends"),
            }),
            _ => None,
        }
    }
}

impl Node {
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|entry| entry.key == key)
    }

    /// A short name of the node's type, for messages such as "expected a mapping, found a list".
    pub fn type_name(&self) -> &'static str {
        self.value_kind().name()
    }

    /// The node's kind in the words every message uses for values.
    pub fn value_kind(&self) -> ValueKind {
        match self.kind {
            NodeKind::Null => ValueKind::Nothing,
            NodeKind::Bool(_) => ValueKind::TrueFalse,
            NodeKind::Int(_) | NodeKind::Float(_) => ValueKind::Number,
            NodeKind::Str { .. } => ValueKind::Text,
            NodeKind::Seq(_) => ValueKind::List,
            NodeKind::Map(_) => ValueKind::Mapping,
        }
    }

    /// About how many bytes of memory the node takes, itself included: what the alias and
    /// anchor budgets count.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Node>()
            + match &self.kind {
                NodeKind::Str { value, .. } => value.len(),
                NodeKind::Seq(items) => items.iter().map(Node::weight).sum(),
                NodeKind::Map(entries) => entries
                    .iter()
                    .map(|entry| {
                        std::mem::size_of::<Entry>() - std::mem::size_of::<Node>()
                            + entry.key.len()
                            + entry.value.weight()
                    })
                    .sum(),
                _ => 0,
            }
    }

    /// The node as JSON; YAML floats that JSON cannot hold (`.nan`, `.inf`) become null.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeKind::Str { value, .. } => Value::String(value.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses a whole document held in memory (a template).
pub fn parse_document(source: &str) -> Result<Node, YamlError> {
    parse_whole(source).map_err(|error| explain::explain(source, error))
}

fn parse_whole(source: &str) -> Result<Node, YamlError> {
    if let Some(at) = source.find('\0') {
        return Err(YamlError::Nul {
            span: span_of_byte(source, at),
        });
    }
    let positions = Positions::new(source);
    let mut builder = Builder::new(Parser::new_from_str(source), positions);
    builder.values_left = Some(MAX_DOCUMENT_VALUES);
    builder.expect_stream_start()?;
    let Some(root) = builder.next_document()? else {
        return Err(YamlError::Empty);
    };
    if let Some(span) = builder.another_document()? {
        return Err(YamlError::SecondDocument { span });
    }
    Ok(root)
}

/// Reads a YAML list one item at a time, so a data file of any length is never held whole.
pub struct SeqStream<'input, I: Input> {
    builder: Builder<'input, I>,
    state: StreamState,
}

enum StreamState {
    Start,
    InList,
    Done,
}

impl<'input, T: Iterator<Item = char> + 'input> SeqStream<'input, saphyr_parser::BufferedInput<T>> {
    pub fn from_chars(chars: T) -> Self {
        let mut builder = Builder::new(Parser::new_from_iter(chars), Positions::Ascii);
        builder.anchor_budget = Some(MAX_ANCHORED_BYTES);
        SeqStream {
            builder,
            state: StreamState::Start,
        }
    }
}

impl<I: Input> SeqStream<'_, I> {
    /// The next item of the top-level list; `Ok(None)` at its end.
    pub fn next_item(&mut self) -> Result<Option<Node>, SeqStreamError> {
        loop {
            match self.state {
                StreamState::Done => return Ok(None),
                StreamState::Start => {
                    self.builder.expect_stream_start()?;
                    let (event, span) = self.builder.next_event()?;
                    match event {
                        Event::DocumentStart(_) => {}
                        Event::StreamEnd => {
                            self.state = StreamState::Done;
                            return Ok(None);
                        }
                        _ => return Err(self.builder.unexpected(span).into()),
                    }
                    let (event, span) = self.builder.next_event()?;
                    match event {
                        Event::SequenceStart(..) => self.state = StreamState::InList,
                        // An empty document (only comments) holds no rows.
                        Event::Scalar(ref text, ScalarStyle::Plain, _, None) if text.is_empty() => {
                            self.state = StreamState::Done;
                            return Ok(None);
                        }
                        other => {
                            let found = match other {
                                Event::MappingStart(..) => ValueKind::Mapping.name(),
                                _ => "a single value",
                            };
                            return Err(SeqStreamError::NotAList {
                                found,
                                span: self.builder.span(span),
                            });
                        }
                    }
                }
                StreamState::InList => {
                    let (event, span) = self.builder.next_event()?;
                    if matches!(event, Event::SequenceEnd) {
                        self.state = StreamState::Done;
                        return Ok(None);
                    }
                    // What aliases expand is dropped with its row: each row has its budget.
                    self.builder.start_unit(span);
                    return self.builder.node_from(event, span).map(Some).map_err(Into::into);
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeqStreamError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("expected a list of rows at the top of the file, found {found}")]
    NotAList { found: &'static str, span: Span },
}

/// Converts the parser's character positions into byte offsets.
enum Positions {
    /// The source is ASCII (or streamed, where only line and column are reported).
    Ascii,
    /// Byte offset of every character, for sources with multi-byte characters.
    Table(Vec<usize>),
}

impl Positions {
    fn new(source: &str) -> Self {
        if source.is_ascii() {
            Positions::Ascii
        } else {
            let mut table: Vec<usize> = source.char_indices().map(|(offset, _)| offset).collect();
            table.push(source.len());
            Positions::Table(table)
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match self {
            Positions::Ascii => char_index,
            Positions::Table(table) => table.get(char_index).or(table.last()).copied().unwrap_or(0),
        }
    }
}

/// Up to this many keys, a mapping is searched for a duplicate key rather than indexed: the
/// rows of a data file have a handful, and an index per row would cost more than it saves.
const SEARCHED_KEYS: usize = 16;

struct Builder<'input, I: Input> {
    parser: Parser<'input, I>,
    positions: Positions,
    /// Anchored values by anchor id, with their weight.
    anchors: HashMap<usize, (Node, usize)>,
    /// The weight of all anchored values, and how much it may reach (none: a document,
    /// whose anchored values are part of it anyway).
    anchored: usize,
    anchor_budget: Option<usize>,
    /// Where the document or row being built starts (a character index), and the weight its
    /// aliases have copied so far.
    unit_start: usize,
    expanded: usize,
    /// How many collections enclose the node being built, against [`MAX_YAML_NESTING`].
    depth: usize,
    /// How many more values may be built (none: a stream, whose rows are dropped as read).
    values_left: Option<usize>,
}

impl<'input, I: Input> Builder<'input, I> {
    fn new(parser: Parser<'input, I>, positions: Positions) -> Self {
        Builder {
            parser,
            positions,
            anchors: HashMap::new(),
            anchored: 0,
            anchor_budget: None,
            unit_start: 0,
            expanded: 0,
            depth: 0,
            values_left: None,
        }
    }

    /// Starts the alias budget of a new row, at the span of its first event.
    fn start_unit(&mut self, span: EventSpan) {
        self.unit_start = span.start.index();
        self.expanded = 0;
    }

    fn span(&self, span: EventSpan) -> Span {
        let start = self.positions.byte(span.start.index());
        let end = self.positions.byte(span.end.index()).max(start);
        Span {
            offset: start,
            len: end - start,
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }

    fn next_event(&mut self) -> Result<(Event<'input>, EventSpan), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => {
                let mark = *error.marker();
                let span = self.span(EventSpan::empty(mark));
                // The scanner reads ahead, and stops flow collections (`[[[`) at 255 levels
                // before the builder has seen 128 of them: the same limit, in its words.
                if error.info() == "recursion limit exceeded" {
                    return Err(YamlError::TooDeep { span });
                }
                if explain::is_about_tabs(error.info()) {
                    return Err(YamlError::Tab { span });
                }
                Err(YamlError::Syntax {
                    message: error.info().to_owned(),
                    span,
                })
            }
            None => Err(YamlError::Syntax {
                message: "unexpected end of input".to_owned(),
                span: Span::default(),
            }),
        }
    }

    fn unexpected(&self, span: EventSpan) -> YamlError {
        YamlError::Syntax {
            message: "unexpected YAML structure".to_owned(),
            span: self.span(span),
        }
    }

    fn expect_stream_start(&mut self) -> Result<(), YamlError> {
        match self.next_event()? {
            (Event::StreamStart, _) => Ok(()),
            (_, span) => Err(self.unexpected(span)),
        }
    }

    /// The root node of the next document, or `None` at the end of the stream.
    fn next_document(&mut self) -> Result<Option<Node>, YamlError> {
        match self.next_event()? {
            (Event::StreamEnd, _) => Ok(None),
            (Event::DocumentStart(_), _) => {
                let (event, span) = self.next_event()?;
                let root = self.node_from(event, span)?;
                match self.next_event()? {
                    (Event::DocumentEnd, _) => Ok(Some(root)),
                    (_, span) => Err(self.unexpected(span)),
                }
            }
            (_, span) => Err(self.unexpected(span)),
        }
    }

    /// The span of a further document, if the stream holds one.
    fn another_document(&mut self) -> Result<Option<Span>, YamlError> {
        match self.next_event()? {
            (Event::StreamEnd, _) => Ok(None),
            (_, span) => Ok(Some(self.span(span))),
        }
    }

    fn node_from(&mut self, event: Event<'input>, event_span: EventSpan) -> Result<Node, YamlError> {
        let nests = matches!(event, Event::SequenceStart(..) | Event::MappingStart(..));
        if !nests {
            return self.node_within(event, event_span);
        }
        if self.depth >= MAX_YAML_NESTING {
            return Err(YamlError::TooDeep {
                span: self.span(event_span),
            });
        }
        self.depth += 1;
        let node = self.node_within(event, event_span);
        self.depth -= 1;
        node
    }

    fn node_within(&mut self, event: Event<'input>, event_span: EventSpan) -> Result<Node, YamlError> {
        let span = self.span(event_span);
        if let Some(left) = &mut self.values_left {
            *left = left.checked_sub(1).ok_or(YamlError::TooManyValues { span })?;
        }
        let (node, anchor) = match event {
            Event::Alias(anchor) => {
                let (anchored, weight) = self.anchors.get(&anchor).ok_or(YamlError::Syntax {
                    message: "alias to an unknown anchor".to_owned(),
                    span,
                })?;
                self.expanded = self.expanded.saturating_add(*weight);
                let read = event_span.end.index().saturating_sub(self.unit_start);
                let limit = read.saturating_mul(ALIAS_EXPANSION_FACTOR).max(ALIAS_EXPANSION_FLOOR);
                if self.expanded > limit {
                    return Err(YamlError::AliasBomb { span, limit });
                }
                let mut node = anchored.clone();
                node.span = span;
                return Ok(node);
            }
            Event::Scalar(text, style, anchor, tag) => (scalar_node(text, style, tag.as_ref(), span)?, anchor),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, item_span) = self.next_event()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node_from(event, item_span)?);
                }
                (
                    Node {
                        span,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<Entry> = Vec::new();
                // Keys seen, by name, once the mapping is too large to search: a search per key
                // made 100,000 keys take 25 s.
                let mut seen: Option<HashMap<String, Span>> = None;
                loop {
                    let (event, key_event_span) = self.next_event()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key_node = self.node_from(event, key_event_span)?;
                    // A key and its value count as one value.
                    if let Some(left) = &mut self.values_left {
                        *left += 1;
                    }
                    let key = match key_node.kind {
                        NodeKind::Str { value, .. } => value,
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Float(f) => f.to_string(),
                        NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => {
                            return Err(YamlError::ComplexKey { span: key_node.span })
                        }
                    };
                    let (event, value_span) = self.next_event()?;
                    let value = self.node_from(event, value_span)?;
                    let first = match &seen {
                        Some(seen) => seen.get(&key).copied(),
                        None => entries
                            .iter()
                            .find(|entry| entry.key == key)
                            .map(|entry| entry.key_span),
                    };
                    if let Some(first) = first {
                        return Err(YamlError::DuplicateKey {
                            key,
                            span: key_node.span,
                            first,
                        });
                    }
                    match &mut seen {
                        Some(seen) => {
                            seen.insert(key.clone(), key_node.span);
                        }
                        None if entries.len() >= SEARCHED_KEYS => {
                            let mut index: HashMap<String, Span> = entries
                                .iter()
                                .map(|entry| (entry.key.clone(), entry.key_span))
                                .collect();
                            index.insert(key.clone(), key_node.span);
                            seen = Some(index);
                        }
                        None => {}
                    }
                    entries.push(Entry {
                        key,
                        key_span: key_node.span,
                        value,
                    });
                }
                (
                    Node {
                        span,
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                )
            }
            _ => return Err(self.unexpected(event_span)),
        };
        if anchor != 0 {
            let weight = node.weight();
            self.anchored = self.anchored.saturating_add(weight);
            if self.anchor_budget.is_some_and(|budget| self.anchored > budget) {
                return Err(YamlError::TooMuchAnchored { span });
            }
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        Ok(node)
    }
}

/// The one-character span at a byte offset of `source`, with its line and column.
fn span_of_byte(source: &str, offset: usize) -> Span {
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    Span {
        offset,
        len: 1,
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

fn scalar_node(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, Tag>>,
    span: Span,
) -> Result<Node, YamlError> {
    if text.contains('\0') {
        return Err(YamlError::Nul { span });
    }
    let kind = match CoreScalar::parse_from_cow_and_metadata(text.clone(), style, tag) {
        Some(CoreScalar::Null) => NodeKind::Null,
        Some(CoreScalar::Boolean(b)) => NodeKind::Bool(b),
        Some(CoreScalar::Integer(i)) => NodeKind::Int(i),
        Some(CoreScalar::FloatingPoint(f)) => NodeKind::Float(f.into_inner()),
        Some(CoreScalar::String(value)) => NodeKind::Str {
            value: value.into_owned(),
            style,
        },
        None => {
            return Err(YamlError::BadTaggedValue {
                text: text.into_owned(),
                tag: tag.map_or_else(String::new, |tag| format!("{}{}", tag.handle, tag.suffix)),
                span,
            })
        }
    };
    Ok(Node { span, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_line_and_column_of_values_and_keys() {
        let root = parse_document("a: 1\nb:\n  c: \"x\"\n").expect("valid yaml");
        let b = root.get("b").expect("b");
        let c = b.value.get("c").expect("c");
        assert_eq!((c.key_span.line, c.key_span.column), (3, 3));
        assert_eq!((c.value.span.line, c.value.span.column), (3, 6));
        assert_eq!(c.value.as_str(), Some("x"));
    }

    #[test]
    fn byte_offsets_account_for_multibyte_characters() {
        let source = "a: \"é\"\nb: x\n";
        let root = parse_document(source).expect("valid yaml");
        let b = &root.get("b").expect("b").value;
        assert_eq!(&source[b.span.offset..b.span.offset + b.span.len], "x");
    }

    #[test]
    fn types_plain_scalars_but_not_quoted_ones() {
        let root = parse_document("n: 3\ns: \"3\"\nt: true\nz: ~\n").expect("valid yaml");
        assert_eq!(root.get("n").expect("n").value.kind, NodeKind::Int(3));
        assert!(matches!(root.get("s").expect("s").value.kind, NodeKind::Str { .. }));
        assert_eq!(root.get("t").expect("t").value.kind, NodeKind::Bool(true));
        assert_eq!(root.get("z").expect("z").value.kind, NodeKind::Null);
    }

    #[test]
    fn refuses_duplicate_keys() {
        let error = parse_document("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert!(matches!(error, YamlError::DuplicateKey { ref key, span, .. } if key == "a" && span.line == 3));
    }

    #[test]
    fn refuses_duplicate_keys_in_a_large_mapping() {
        let keys: Vec<String> = (0..100).map(|key| format!("k{key}: 1")).collect();
        let text = format!("{{{}, k7: 2}}", keys.join(", "));
        let error = parse_document(&text).expect_err("duplicate");
        assert!(matches!(error, YamlError::DuplicateKey { ref key, first, .. } if key == "k7" && first.column == 51));
    }

    #[test]
    fn resolves_aliases() {
        let root = parse_document("a: &x {k: v}\nb: *x\n").expect("valid yaml");
        assert_eq!(root.get("b").expect("b").value.to_json(), serde_json::json!({"k": "v"}));
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let error = parse_document("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(matches!(error, YamlError::Unclosed { bracket: '[', open } if (open.line, open.column) == (1, 4)));
        let error = parse_document("a: b: c\n").expect_err("colon");
        assert!(matches!(error, YamlError::Syntax { .. }));
        assert!(error.span().expect("span").line >= 1);
    }

    #[test]
    fn refuses_an_alias_bomb() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        assert!(matches!(parse_document(&text), Err(YamlError::AliasBomb { .. })));
    }

    #[test]
    fn streams_list_items() {
        let mut stream = SeqStream::from_chars("- {a: 1}\n- {a: 2}\n".chars());
        let first = stream.next_item().expect("ok").expect("item");
        assert_eq!(first.to_json(), serde_json::json!({"a": 1}));
        assert!(stream.next_item().expect("ok").is_some());
        assert!(stream.next_item().expect("ok").is_none());
    }
}
