//! Data files: where the per-contact values come from.
//!
//! Every format yields [`Row`]s one at a time (a file is never held whole), each holding the
//! values of the template's declared variables in declaration order. Row numbers are what a
//! person would look for: the spreadsheet row for CSV (the header is row 1), the line for
//! JSON Lines, the item's position (from 1) in a JSON or YAML list.

mod csv;
mod json;
mod yaml;

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::input;
use crate::input::Unreadable;
use crate::limits::{MAX_FIELD_BYTES, MAX_ROW_BYTES};
use crate::words;

pub use self::csv::CsvRows;

/// One data row: its number as a person finds it, and the values of the declared variables
/// (`None` when the row does not have the variable at all).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: u64,
    pub values: Vec<Option<Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma, semicolon or tab separated: the separator is read from the header line.
    Csv,
    /// Tab separated.
    Tsv,
    Json,
    JsonLines,
    Yaml,
}

impl Format {
    /// The format named by a file's extension; `-` (standard input) is CSV.
    pub fn from_path(path: &Path) -> Option<Format> {
        if path.as_os_str() == "-" {
            return Some(Format::Csv);
        }
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Unreadable(Unreadable),
    #[error("cannot tell the format of `{path}`")]
    UnknownFormat { path: String },
    #[error("--delimiter is for CSV and TSV files; `{path}` is {format}")]
    DelimiterNotApplicable { path: String, format: &'static str },
    /// Nothing at all: not even a header.
    #[error("`{path}` is empty")]
    Empty { path: String },
    /// A header (or an empty list) and nothing else: a campaign of nobody, most likely an
    /// export of the wrong sheet, which would otherwise end quietly with nothing done.
    #[error("`{path}` {}: nothing to send", if *header { "has a header but no rows" } else { "holds no rows" })]
    NoRows { path: String, header: bool },
    #[error("{path}: no column for the required {} {}", crate::words::plural(columns.len() as u64, "variable", "variables"), quoted(columns))]
    MissingColumns {
        path: String,
        columns: Vec<String>,
        help: String,
    },
    /// `--column VAR="Name"` names a column the header does not have.
    #[error("{path}: no column `{column}` (--column {var}=\"{column}\")")]
    NoMappedColumn {
        path: String,
        var: String,
        column: String,
        help: String,
    },
    #[error("{path}: the header has the column `{column}` twice")]
    DuplicateColumn { path: String, column: String },
    /// A row that cannot be used; the rows after it still can.
    #[error("{path} row {row}{}: {message}", column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default())]
    BadRow {
        path: String,
        row: u64,
        column: Option<String>,
        message: String,
    },
    /// The file cannot be read past this point.
    #[error("{path}: {location}: {message}")]
    Broken {
        path: String,
        location: String,
        message: String,
    },
}

impl DataError {
    /// Whether reading can go on after this error.
    pub fn is_row_error(&self) -> bool {
        matches!(self, DataError::BadRow { .. })
    }

    /// Whether the file holds no rows at all (but could be read): nothing failed, nothing done.
    pub fn is_no_rows(&self) -> bool {
        matches!(self, DataError::NoRows { .. })
    }

    pub fn help(&self) -> Option<&str> {
        match self {
            DataError::MissingColumns { help, .. } | DataError::NoMappedColumn { help, .. } => Some(help),
            DataError::UnknownFormat { .. } => {
                Some("use a .csv, .tsv, .json, .jsonl, .ndjson, .yaml or .yml file, or - for CSV on standard input")
            }
            DataError::DelimiterNotApplicable { .. } => Some("leave --delimiter out: its format has no separator"),
            DataError::Empty { .. } => {
                Some("export the contacts again: a header row naming the columns, then a row per contact")
            }
            DataError::NoRows { header: true, .. } => Some("add a row per contact under the header"),
            _ => None,
        }
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is read from a data file for each declared variable, in declaration order: the column
/// (or key) it is read from (its own name, unless `--column VAR="Column Name"` maps it), and
/// whether a row must have it.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    vars: Vec<String>,
    columns: Vec<String>,
    required: Vec<bool>,
}

impl Fields {
    pub fn new(vars: Vec<String>, required: Vec<bool>) -> Fields {
        Fields {
            columns: vars.clone(),
            vars,
            required,
        }
    }

    /// Reads `var` from `column`; `false` when no variable is called `var`.
    pub fn map(&mut self, var: &str, column: &str) -> bool {
        match self.vars.iter().position(|name| name == var) {
            Some(index) => {
                column.clone_into(&mut self.columns[index]);
                true
            }
            None => false,
        }
    }

    /// The variables read from a column of another name, and that column.
    pub fn mapping(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .zip(&self.columns)
            .filter(|(var, column)| var != column)
            .map(|(var, column)| (var.as_str(), column.as_str()))
    }

    /// A column two variables are read from, if any (with the two variables).
    pub fn shared_column(&self) -> Option<(&str, &str, &str)> {
        self.columns.iter().enumerate().find_map(|(index, column)| {
            let other = self.columns[..index].iter().position(|earlier| earlier == column)?;
            Some((column.as_str(), self.vars[other].as_str(), self.vars[index].as_str()))
        })
    }

    fn is_mapped(&self, index: usize) -> bool {
        self.vars[index] != self.columns[index]
    }
}

/// A stream of rows from any supported format.
pub type Rows = Box<dyn Iterator<Item = Result<Row, DataError>>>;

/// Opens a data file (or `-` for standard input) and streams its rows for the given variables.
/// `delimiter` separates the fields of a CSV file; without it, it is read from the header line.
pub fn open(path: &Path, fields: &Fields, delimiter: Option<u8>) -> Result<Rows, DataError> {
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    // The file is opened first, so that a directory or a missing file is named as such
    // whatever its name looks like, and in the words of every command.
    let reader: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
    } else {
        let unreadable = |reason: String| {
            DataError::Unreadable(Unreadable {
                what: "data file",
                path: name.clone(),
                reason,
            })
        };
        let file = input::open(path).map_err(|error| unreadable(error.to_string()))?;
        if file
            .metadata()
            .map_err(|error| unreadable(input::io_reason(&error)))?
            .len()
            == 0
        {
            return Err(DataError::Empty { path: name });
        }
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let format = Format::from_path(path).ok_or_else(|| DataError::UnknownFormat { path: name.clone() })?;
    let not_applicable = |format| DataError::DelimiterNotApplicable {
        path: name.clone(),
        format,
    };
    let delimiter = match (format, delimiter) {
        (Format::Csv | Format::Tsv, delimiter) => delimiter,
        (Format::Json, Some(_)) => return Err(not_applicable("JSON")),
        (Format::JsonLines, Some(_)) => return Err(not_applicable("JSON Lines")),
        (Format::Yaml, Some(_)) => return Err(not_applicable("YAML")),
        (_, None) => None,
    };
    let columns = Columns::new(name.clone(), fields);
    let rows: Rows = match format {
        Format::Csv => Box::new(CsvRows::new(reader, columns, delimiter)?),
        Format::Tsv => Box::new(CsvRows::new(reader, columns, delimiter.or(Some(b'\t')))?),
        Format::Json => Box::new(json::JsonArrayRows::new(reader, columns)),
        Format::JsonLines => Box::new(json::JsonLinesRows::new(reader, columns)),
        Format::Yaml => Box::new(yaml::YamlRows::new(reader, columns)),
    };
    Ok(Box::new(NotEmpty {
        rows,
        path: name,
        header: matches!(format, Format::Csv | Format::Tsv),
        seen: false,
    }))
}

/// Ends a stream that gave nothing at all, not even a bad row, with [`DataError::NoRows`].
struct NotEmpty {
    rows: Rows,
    path: String,
    header: bool,
    seen: bool,
}

impl Iterator for NotEmpty {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rows.next() {
            Some(item) => {
                self.seen = true;
                Some(item)
            }
            None if !self.seen => {
                self.seen = true;
                Some(Err(DataError::NoRows {
                    path: self.path.clone(),
                    header: self.header,
                }))
            }
            None => None,
        }
    }
}

/// The file's name and what is read from it, shared by the readers.
#[derive(Debug, Clone)]
struct Columns {
    path: String,
    fields: Fields,
}

impl Columns {
    fn new(path: String, fields: &Fields) -> Self {
        Columns {
            path,
            fields: fields.clone(),
        }
    }

    /// Takes the declared variables out of a JSON or YAML object row.
    fn row_from_object(&self, row: u64, value: Value) -> Result<Row, DataError> {
        match value {
            Value::Object(mut object) => {
                let values: Vec<Option<Value>> = self.fields.columns.iter().map(|name| object.remove(name)).collect();
                for (name, value) in self.fields.columns.iter().zip(&values) {
                    let size = value.as_ref().map_or(0, json_size);
                    if size > MAX_FIELD_BYTES {
                        return Err(self.field_too_large(row, name.clone(), size as u64));
                    }
                }
                Ok(Row { number: row, values })
            }
            other => Err(self.bad_row(
                row,
                None,
                format!(
                    "expected a mapping of named values (a JSON object), found {}",
                    crate::words::kind(&other)
                ),
            )),
        }
    }

    fn field_too_large(&self, row: u64, column: String, size: u64) -> DataError {
        self.bad_row(
            row,
            Some(column),
            format!(
                "the value is {}; the limit for a value is {}",
                words::size(size),
                words::size(MAX_FIELD_BYTES as u64)
            ),
        )
    }

    fn row_too_large() -> String {
        format!(
            "the row is larger than {}, the limit for a row",
            words::size(MAX_ROW_BYTES as u64)
        )
    }

    fn bad_row(&self, row: u64, column: Option<String>, message: String) -> DataError {
        DataError::BadRow {
            path: self.path.clone(),
            row,
            column,
            message,
        }
    }

    fn broken(&self, location: String, message: String) -> DataError {
        DataError::Broken {
            path: self.path.clone(),
            location,
            message,
        }
    }
}

/// Why bytes are not UTF-8, for a person who saved them from a spreadsheet: the byte, what it
/// is in Windows-1252 (which Excel and many older programs write), and the format to save as.
fn not_utf8(bytes: &[u8], error: &std::str::Utf8Error, save_as: &str) -> String {
    let at = error.valid_up_to();
    let byte = bytes.get(at).copied().unwrap_or_default();
    format!(
        "byte 0x{byte:02X} at position {}{}",
        at + 1,
        encoding_hint(byte, save_as)
    )
}

/// What a byte that is not UTF-8 most likely is, and what to do.
fn encoding_hint(byte: u8, save_as: &str) -> String {
    let seen = match windows_1252(byte) {
        Some(c) => format!(" (`{c}` in Windows-1252)"),
        None => String::new(),
    };
    format!("{seen}; the file is probably Windows-1252 or Latin-1: save as {save_as}")
}

/// The character a byte stands for in Windows-1252 (Latin-1 above 0x9F), if any.
fn windows_1252(byte: u8) -> Option<char> {
    const C1: [char; 32] = [
        '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘', '’', '“', '”',
        '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => Some(C1[usize::from(byte - 0x80)]).filter(|&c| c != '\0'),
        0xA0..=0xFF => Some(char::from(byte)),
        _ => None,
    }
}

/// About how many bytes a value takes as JSON text: what [`MAX_FIELD_BYTES`] counts.
fn json_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
        // A string counts its text, as a CSV field does.
        Value::String(text) => text.len(),
        Value::Array(items) => 2 + items.iter().map(|item| json_size(item) + 3).sum::<usize>(),
        Value::Object(entries) => {
            2 + entries
                .iter()
                .map(|(key, value)| key.len() + 6 + json_size(value))
                .sum::<usize>()
        }
    }
}

/// Why a stream of characters ended early, and where, if the place is known.
#[derive(Debug, Clone)]
struct CharsFailure {
    location: Option<String>,
    message: String,
    /// Whether it is about the row being read (a row too large) rather than the stream.
    in_row: bool,
}

/// Reads a stream as UTF-8 characters, for the YAML parser, remembering the first decoding error.
/// A NUL character ends the stream too: saphyr would take it for the end of the input and
/// report a puzzling "unexpected end of stream".
struct Utf8Chars<R: Read> {
    reader: R,
    buffer: Vec<u8>,
    decoded: std::vec::IntoIter<char>,
    error: std::sync::Arc<std::sync::Mutex<Option<CharsFailure>>>,
    offset: u64,
    /// Line (from 1) and column (from 0, in characters) where the next chunk starts.
    line: u64,
    column: u64,
    /// A failure to report once the characters decoded before it have been read.
    pending: Option<CharsFailure>,
    /// Bytes given since a row started, against [`MAX_ROW_BYTES`]; the reader of rows counts
    /// the rows it starts in `rows_started`. The parser reads a little ahead, so a row is only
    /// refused once it is sure to be over the limit: when no row has started for a limit's
    /// worth of bytes.
    row_bytes: usize,
    rows_started: std::sync::Arc<std::sync::atomic::AtomicU64>,
    rows_seen: u64,
    done: bool,
}

impl<R: Read> Utf8Chars<R> {
    fn new(reader: R) -> Self {
        Utf8Chars {
            reader,
            buffer: Vec::new(),
            decoded: Vec::new().into_iter(),
            error: std::sync::Arc::default(),
            offset: 0,
            line: 1,
            column: 0,
            pending: None,
            row_bytes: 0,
            rows_started: std::sync::Arc::default(),
            rows_seen: 0,
            done: false,
        }
    }

    fn fail(&mut self, location: Option<String>, message: String) -> Option<char> {
        self.fail_with(CharsFailure {
            location,
            message,
            in_row: false,
        })
    }

    fn fail_with(&mut self, failure: CharsFailure) -> Option<char> {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(failure);
        }
        self.done = true;
        None
    }

    /// Advances the line and column over `text`.
    fn advance(&mut self, text: &str) {
        match text.rfind('\n') {
            Some(last) => {
                self.line += text.matches('\n').count() as u64;
                self.column = text[last + 1..].chars().count() as u64;
            }
            None => self.column += text.chars().count() as u64,
        }
    }

    /// The characters of a decoded chunk, up to a NUL if it holds one.
    fn take_chunk(&mut self, text: &str) -> Vec<char> {
        let Some(nul) = text.find('\0') else {
            self.advance(text);
            return text.chars().collect();
        };
        let before = &text[..nul];
        self.advance(before);
        let span = crate::yaml::Span {
            offset: 0,
            len: 1,
            line: usize::try_from(self.line).unwrap_or(usize::MAX),
            column: usize::try_from(self.column + 1).unwrap_or(usize::MAX),
        };
        self.pending = Some(CharsFailure {
            location: Some(format!("line {}, column {}", span.line, span.column)),
            message: crate::yaml::YamlError::Nul { span }.to_string(),
            in_row: false,
        });
        self.done = true;
        before.chars().collect()
    }
}

impl<R: Read> Iterator for Utf8Chars<R> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            if let Some(c) = self.decoded.next() {
                self.row_bytes += c.len_utf8();
                if self.row_bytes > MAX_ROW_BYTES {
                    let started = self.rows_started.load(std::sync::atomic::Ordering::Relaxed);
                    if started == self.rows_seen {
                        return self.fail_with(CharsFailure {
                            location: None,
                            message: Columns::row_too_large(),
                            in_row: true,
                        });
                    }
                    self.rows_seen = started;
                    self.row_bytes = 0;
                }
                return Some(c);
            }
            if let Some(failure) = self.pending.take() {
                return self.fail_with(failure);
            }
            if self.done {
                return None;
            }
            let mut chunk = [0u8; 1 << 14];
            let read = match self.reader.read(&mut chunk) {
                Ok(read) => read,
                Err(error) => return self.fail(None, format!("read error: {error}")),
            };
            if read == 0 {
                self.done = true;
                if !self.buffer.is_empty() {
                    return self.fail(None, format!("invalid UTF-8 at byte {}", self.offset));
                }
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..read]);
            let valid_up_to = match std::str::from_utf8(&self.buffer) {
                Ok(_) => self.buffer.len(),
                Err(error) => {
                    if error.error_len().is_some() {
                        let at = self.offset + error.valid_up_to() as u64;
                        let byte = self.buffer[error.valid_up_to()];
                        let hint = encoding_hint(byte, "UTF-8");
                        return self.fail(None, format!("invalid UTF-8 at byte {at}: 0x{byte:02X}{hint}"));
                    }
                    error.valid_up_to()
                }
            };
            let buffer = std::mem::take(&mut self.buffer);
            let text = std::str::from_utf8(&buffer[..valid_up_to]).unwrap_or_default();
            let valid = self.take_chunk(text);
            self.buffer = buffer;
            self.offset += valid_up_to as u64;
            self.buffer.drain(..valid_up_to);
            self.decoded = valid.into_iter();
        }
    }
}
