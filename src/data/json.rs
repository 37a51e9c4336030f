//! JSON rows: an array of objects, or one object per line (JSON Lines).

use std::io::{BufRead, Read};

use serde::Deserialize;
use serde_json::Value;

use super::{Columns, DataError, Row};
use crate::limits::MAX_ROW_BYTES;

/// Streams the items of a top-level JSON array, one object at a time.
pub(super) struct JsonArrayRows {
    reader: Box<dyn BufRead + Send>,
    columns: Columns,
    index: u64,
    state: ArrayState,
}

enum ArrayState {
    Start,
    Items,
    Done,
}

impl JsonArrayRows {
    pub(super) fn new(reader: Box<dyn BufRead + Send>, columns: Columns) -> Self {
        JsonArrayRows {
            reader,
            columns,
            index: 0,
            state: ArrayState::Start,
        }
    }

    fn next_byte_skipping_space(&mut self) -> Result<Option<u8>, DataError> {
        loop {
            let buffer = self.reader.fill_buf().map_err(|error| {
                self.columns
                    .broken(format!("after row {}", self.index), error.to_string())
            })?;
            let Some(&byte) = buffer.first() else {
                return Ok(None);
            };
            self.reader.consume(1);
            // A byte-order mark before the array is tolerated, as in CSV.
            if !byte.is_ascii_whitespace() && !matches!(byte, 0xEF | 0xBB | 0xBF) {
                return Ok(Some(byte));
            }
        }
    }

    fn peek_byte_skipping_space(&mut self) -> Result<Option<u8>, DataError> {
        loop {
            let buffer = self.reader.fill_buf().map_err(|error| {
                self.columns
                    .broken(format!("after row {}", self.index), error.to_string())
            })?;
            match buffer.first() {
                None => return Ok(None),
                Some(byte) if byte.is_ascii_whitespace() => self.reader.consume(1),
                Some(&byte) => return Ok(Some(byte)),
            }
        }
    }

    fn item(&mut self) -> Result<Option<Row>, DataError> {
        match self.state {
            ArrayState::Done => return Ok(None),
            ArrayState::Start => {
                match self.next_byte_skipping_space()? {
                    Some(b'[') => {}
                    None => {
                        return Err(self.columns.broken(
                            "the file".to_owned(),
                            "is empty; expected a JSON array of objects".to_owned(),
                        ))
                    }
                    Some(_) => {
                        return Err(self.columns.broken(
                            "the file".to_owned(),
                            "expected a JSON array of objects, starting with `[`".to_owned(),
                        ))
                    }
                }
                self.state = ArrayState::Items;
                if self.peek_byte_skipping_space()? == Some(b']') {
                    self.reader.consume(1);
                    self.state = ArrayState::Done;
                    return Ok(None);
                }
            }
            ArrayState::Items => match self.next_byte_skipping_space()? {
                Some(b',') => {}
                Some(b']') => {
                    self.state = ArrayState::Done;
                    return Ok(None);
                }
                None => {
                    return Err(self.columns.broken(
                        format!("after row {}", self.index),
                        "the array is not closed with `]`".to_owned(),
                    ))
                }
                Some(byte) => {
                    return Err(self.columns.broken(
                        format!("after row {}", self.index),
                        format!("expected `,` or `]`, found `{}`", char::from(byte)),
                    ))
                }
            },
        }
        self.index += 1;
        let row = self.index;
        if self.peek_byte_skipping_space()? != Some(b'{') {
            // Only objects are read one by one: a bare number would need a byte of look-ahead
            // that the stream cannot give back.
            return Err(self.columns.broken(
                format!("row {row}"),
                "expected a mapping of named values (a JSON object)".to_owned(),
            ));
        }
        // A row is read whole: never more of it than a row may have.
        let mut limited = (&mut self.reader).take(MAX_ROW_BYTES as u64);
        let mut deserializer = serde_json::Deserializer::from_reader(&mut limited);
        let value = Value::deserialize(&mut deserializer);
        let value = value.map_err(|error| {
            let message = if limited.limit() == 0 {
                Columns::row_too_large()
            } else {
                format!("invalid JSON: {}", json_error(&error))
            };
            self.columns.broken(format!("row {row}"), message)
        })?;
        self.columns.row_from_object(row, value).map(Some)
    }
}

impl Iterator for JsonArrayRows {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.item() {
            Ok(row) => row.map(Ok),
            Err(error) => {
                if !error.is_row_error() {
                    self.state = ArrayState::Done;
                }
                Some(Err(error))
            }
        }
    }
}

/// One JSON object per line; blank lines are skipped; a bad line is a bad row.
pub(super) struct JsonLinesRows {
    reader: Box<dyn BufRead + Send>,
    columns: Columns,
    line: u64,
    buffer: Vec<u8>,
    done: bool,
}

impl JsonLinesRows {
    pub(super) fn new(reader: Box<dyn BufRead + Send>, columns: Columns) -> Self {
        JsonLinesRows {
            reader,
            columns,
            line: 0,
            buffer: Vec::new(),
            done: false,
        }
    }
}

impl Iterator for JsonLinesRows {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            // A line is read whole: never more of it than a row may have, and a newline.
            let read = (&mut self.reader)
                .take(MAX_ROW_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buffer);
            match read {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let content = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
                    if content.len() > MAX_ROW_BYTES {
                        let row = self.line;
                        return Some(match skip_line(&mut self.reader) {
                            Ok(()) => Err(self.columns.bad_row(row, None, Columns::row_too_large())),
                            Err(error) => {
                                self.done = true;
                                Err(self.columns.broken(format!("line {row}"), error.to_string()))
                            }
                        });
                    }
                    let mut text = self.buffer.as_slice();
                    if self.line == 1 {
                        text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
                    }
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let row = self.line;
                    return Some(match serde_json::from_slice::<Value>(text) {
                        Ok(value) => self.columns.row_from_object(row, value),
                        Err(error) => {
                            Err(self
                                .columns
                                .bad_row(row, None, format!("invalid JSON: {}", json_error(&error))))
                        }
                    });
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(self
                        .columns
                        .broken(format!("line {}", self.line + 1), error.to_string())));
                }
            }
        }
        None
    }
}

/// Reads past the end of the current line, keeping nothing.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(newline) = buffer.iter().position(|&byte| byte == b'\n') {
            reader.consume(newline + 1);
            return Ok(());
        }
        let len = buffer.len();
        reader.consume(len);
    }
}

/// serde_json's message without its position, which counts from the start of the item, not
/// of the file; the row number already says where.
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}
