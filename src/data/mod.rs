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
    Csv,
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
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data file `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot tell the format of `{path}`")]
    UnknownFormat { path: String },
    #[error("{path}: no column for the required variable{} {}", plural(columns.len()), quoted(columns))]
    MissingColumns {
        path: String,
        columns: Vec<String>,
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

    pub fn help(&self) -> Option<&str> {
        match self {
            DataError::MissingColumns { help, .. } => Some(help),
            DataError::UnknownFormat { .. } => {
                Some("use a .csv, .json, .jsonl, .ndjson, .yaml or .yml file, or - for CSV on standard input")
            }
            _ => None,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stream of rows from any supported format.
pub type Rows = Box<dyn Iterator<Item = Result<Row, DataError>>>;

/// Opens a data file (or `-` for standard input) and streams its rows for the given variables.
pub fn open(path: &Path, var_names: &[String], required: &[bool]) -> Result<Rows, DataError> {
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let format = Format::from_path(path).ok_or_else(|| DataError::UnknownFormat { path: name.clone() })?;
    let reader: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
    } else {
        let file = input::open(path).map_err(|error| DataError::Unreadable {
            path: name.clone(),
            reason: error.to_string(),
        })?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let columns = Columns::new(name, var_names);
    Ok(match format {
        Format::Csv => Box::new(CsvRows::new(reader, columns, required)?),
        Format::Json => Box::new(json::JsonArrayRows::new(reader, columns)),
        Format::JsonLines => Box::new(json::JsonLinesRows::new(reader, columns)),
        Format::Yaml => Box::new(yaml::YamlRows::new(reader, columns)),
    })
}

/// The file's name and the declared variables, shared by the readers.
#[derive(Debug, Clone)]
struct Columns {
    path: String,
    var_names: Vec<String>,
}

impl Columns {
    fn new(path: String, var_names: &[String]) -> Self {
        Columns {
            path,
            var_names: var_names.to_vec(),
        }
    }

    /// Takes the declared variables out of a JSON or YAML object row.
    fn row_from_object(&self, row: u64, value: Value) -> Result<Row, DataError> {
        match value {
            Value::Object(mut object) => Ok(Row {
                number: row,
                values: self.var_names.iter().map(|name| object.remove(name)).collect(),
            }),
            other => Err(self.bad_row(
                row,
                None,
                format!("expected an object of named values, found {}", kind(&other)),
            )),
        }
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

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads a stream as UTF-8 characters, for the YAML parser, remembering the first decoding error.
struct Utf8Chars<R: Read> {
    reader: R,
    buffer: Vec<u8>,
    decoded: std::vec::IntoIter<char>,
    error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    offset: u64,
    done: bool,
}

impl<R: Read> Utf8Chars<R> {
    fn new(reader: R) -> Self {
        Utf8Chars {
            reader,
            buffer: Vec::new(),
            decoded: Vec::new().into_iter(),
            error: Default::default(),
            offset: 0,
            done: false,
        }
    }

    fn fail(&mut self, message: String) -> Option<char> {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(message);
        }
        self.done = true;
        None
    }
}

impl<R: Read> Iterator for Utf8Chars<R> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            if let Some(c) = self.decoded.next() {
                return Some(c);
            }
            if self.done {
                return None;
            }
            let mut chunk = [0u8; 1 << 14];
            let read = match self.reader.read(&mut chunk) {
                Ok(read) => read,
                Err(error) => return self.fail(format!("read error: {error}")),
            };
            if read == 0 {
                self.done = true;
                if !self.buffer.is_empty() {
                    return self.fail(format!("invalid UTF-8 at byte {}", self.offset));
                }
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..read]);
            let (valid, rest) = match std::str::from_utf8(&self.buffer) {
                Ok(text) => (text.chars().collect::<Vec<_>>(), self.buffer.len()),
                Err(error) => {
                    if error.error_len().is_some() {
                        let at = self.offset + error.valid_up_to() as u64;
                        return self.fail(format!("invalid UTF-8 at byte {at}"));
                    }
                    let valid_up_to = error.valid_up_to();
                    let text = std::str::from_utf8(&self.buffer[..valid_up_to]).unwrap_or_default();
                    (text.chars().collect(), valid_up_to)
                }
            };
            self.offset += rest as u64;
            self.buffer.drain(..rest);
            self.decoded = valid.into_iter();
        }
    }
}
