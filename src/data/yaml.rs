//! YAML rows: a list of mappings, read one item at a time.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{CharsFailure, Columns, DataError, Row, Utf8Chars};
use crate::yaml::{SeqStream, SeqStreamError};

type CharStream = Utf8Chars<Box<dyn BufRead + Send>>;

pub(super) struct YamlRows {
    stream: SeqStream<'static, saphyr_parser::BufferedInput<CharStream>>,
    decode_error: Arc<Mutex<Option<CharsFailure>>>,
    rows_started: Arc<AtomicU64>,
    columns: Columns,
    index: u64,
    done: bool,
}

impl YamlRows {
    pub(super) fn new(reader: Box<dyn BufRead + Send>, columns: Columns) -> Self {
        let chars = Utf8Chars::new(reader);
        let decode_error = Arc::clone(&chars.error);
        let rows_started = Arc::clone(&chars.rows_started);
        YamlRows {
            stream: SeqStream::from_chars(chars),
            decode_error,
            rows_started,
            columns,
            index: 0,
            done: false,
        }
    }
}

impl Iterator for YamlRows {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.rows_started.fetch_add(1, Ordering::Relaxed);
        let item = self.stream.next_item();
        if let Some(failure) = self.decode_error.lock().ok().and_then(|slot| slot.clone()) {
            self.done = true;
            let location = match failure.location {
                Some(location) => location,
                None if failure.in_row => format!("row {}", self.index + 1),
                None => format!("after row {}", self.index),
            };
            return Some(Err(self.columns.broken(location, failure.message)));
        }
        match item {
            Ok(Some(node)) => {
                self.index += 1;
                Some(self.columns.row_from_object(self.index, node.to_json()))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                let (location, message) = match &error {
                    SeqStreamError::Yaml(inner) => match inner.span() {
                        Some(span) => (format!("line {}, column {}", span.line, span.column), inner.to_string()),
                        None => (format!("after row {}", self.index), inner.to_string()),
                    },
                    SeqStreamError::NotAList { span, .. } => (format!("line {}", span.line), error.to_string()),
                };
                Some(Err(self.columns.broken(location, message)))
            }
        }
    }
}
