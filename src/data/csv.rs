//! CSV rows: a header row names the columns; values are text.

use std::io::BufRead;

use csv::{ByteRecord, ReaderBuilder};
use serde_json::Value;

use super::{Columns, DataError, Row};
use crate::suggest::did_you_mean;

pub struct CsvRows {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    columns: Columns,
    /// For each declared variable, the index of its column, if the file has one.
    column_of_var: Vec<Option<usize>>,
    header: Vec<String>,
    record: ByteRecord,
    done: bool,
}

impl CsvRows {
    pub(super) fn new(input: Box<dyn BufRead + Send>, columns: Columns, required: &[bool]) -> Result<Self, DataError> {
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(input);
        let header_record = reader
            .byte_headers()
            .map_err(|error| columns.broken("row 1".to_owned(), error.to_string()))?;
        let mut header = Vec::with_capacity(header_record.len());
        for (index, field) in header_record.iter().enumerate() {
            let name = std::str::from_utf8(field).map_err(|_| {
                columns.broken(
                    "row 1".to_owned(),
                    format!("column {} of the header is not valid UTF-8", index + 1),
                )
            })?;
            // Spreadsheets often save a byte-order mark and stray spaces around names.
            header.push(name.trim_start_matches('\u{feff}').trim().to_owned());
        }
        let mut column_of_var = Vec::with_capacity(columns.var_names.len());
        let mut missing = Vec::new();
        for (var, is_required) in columns.var_names.iter().zip(required) {
            let mut found = header
                .iter()
                .enumerate()
                .filter(|(_, name)| *name == var)
                .map(|(index, _)| index);
            let index = found.next();
            if found.next().is_some() {
                return Err(DataError::DuplicateColumn {
                    path: columns.path.clone(),
                    column: var.clone(),
                });
            }
            if index.is_none() && *is_required {
                missing.push(var.clone());
            }
            column_of_var.push(index);
        }
        if !missing.is_empty() {
            let hints: Vec<String> = missing
                .iter()
                .filter_map(|var| {
                    did_you_mean(var, header.iter().map(String::as_str)).map(|hint| format!("for `{var}`: {hint}"))
                })
                .collect();
            let help = if hints.is_empty() {
                format!("the header (row 1) has: {}", header.join(", "))
            } else {
                hints.join("; ")
            };
            return Err(DataError::MissingColumns {
                path: columns.path.clone(),
                columns: missing,
                help,
            });
        }
        Ok(CsvRows {
            reader,
            columns,
            column_of_var,
            header,
            record: ByteRecord::new(),
            done: false,
        })
    }

    fn row_number(&self) -> u64 {
        // The header is row 1 and each record, even one spanning several lines, is one row.
        self.record.position().map_or(0, |position| position.record()) + 1
    }

    fn row(&self) -> Result<Row, DataError> {
        let number = self.row_number();
        let mut values = Vec::with_capacity(self.column_of_var.len());
        for column in &self.column_of_var {
            let Some(index) = *column else {
                values.push(None);
                continue;
            };
            let bytes = self.record.get(index).unwrap_or_default();
            let text = std::str::from_utf8(bytes).map_err(|error| {
                self.columns.bad_row(
                    number,
                    Some(self.header[index].clone()),
                    format!(
                        "the value is not valid UTF-8 (bad byte at position {})",
                        error.valid_up_to() + 1
                    ),
                )
            })?;
            values.push(Some(Value::String(text.to_owned())));
        }
        Ok(Row { number, values })
    }
}

impl Iterator for CsvRows {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => Some(self.row()),
            Err(error) => {
                let row = error.position().map_or(0, |position| position.record()) + 1;
                match error.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Some(Err(self.columns.bad_row(
                        row,
                        None,
                        format!("the row has {len} fields but the header has {expected_len}"),
                    ))),
                    _ => {
                        self.done = true;
                        Some(Err(self.columns.broken(format!("row {row}"), error.to_string())))
                    }
                }
            }
        }
    }
}
