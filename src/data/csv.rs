//! CSV rows: a header row names the columns; values are text.
//!
//! Spreadsheets separate fields with what the computer's language uses: a comma, a semicolon
//! where the comma is the decimal mark (most of Europe, Brazil), a tab for "Unicode text". The
//! separator is read from the header line, the one that counts most often outside quotes, a
//! comma if none does, unless `--delimiter` names it.
//!
//! Records are read field by field with `csv_core` rather than whole with `csv::Reader`, so
//! that only the fields of declared variables are kept, each up to [`MAX_FIELD_BYTES`]: a
//! field of any size costs no more memory than that, and the row it is in is reported while
//! the rows after it are still read.

use std::io::{self, BufRead, Read};
use std::ops::Range;

use csv_core::ReadFieldResult;
use serde_json::Value;

use super::{Columns, DataError, Row};
use crate::limits::{MAX_FIELD_BYTES, MAX_ROW_BYTES};
use crate::suggest::did_you_mean;

pub struct CsvRows {
    reader: RecordReader,
    columns: Columns,
    /// For each declared variable, the index of its column, if the file has one.
    column_of_var: Vec<Option<usize>>,
    /// Whether each column is kept: whether a variable reads it.
    kept: Vec<bool>,
    header: Vec<String>,
    done: bool,
}

/// Reads records one field at a time.
struct RecordReader {
    input: Box<dyn BufRead + Send>,
    parser: csv_core::Reader,
    record: Record,
    /// Records read, the header included: the number of the last one's row.
    rows: u64,
}

/// One record: the bytes of the fields it keeps, and the place of each.
#[derive(Default)]
struct Record {
    /// Workspace the parser writes into; `used` bytes of it hold fields.
    buffer: Vec<u8>,
    used: usize,
    /// The bytes of each of the first fields (empty for a field not kept).
    fields: Vec<Range<usize>>,
    /// How many fields the record has.
    count: usize,
    /// The first kept field over [`MAX_FIELD_BYTES`]: its index and size.
    oversized: Option<(usize, u64)>,
}

/// Room the parser is given at least for each call.
const MIN_ROOM: usize = 1 << 12;

impl Record {
    fn field(&self, index: usize) -> &[u8] {
        &self.buffer[self.range(index)]
    }

    /// Where the field's bytes are in the buffer (nowhere for a field not kept).
    fn range(&self, index: usize) -> Range<usize> {
        self.fields.get(index).cloned().unwrap_or(0..0)
    }
}

impl CsvRows {
    pub(super) fn new(
        mut input: Box<dyn BufRead + Send>,
        columns: Columns,
        delimiter: Option<u8>,
    ) -> Result<Self, DataError> {
        let delimiter = if let Some(delimiter) = delimiter {
            delimiter
        } else {
            let header =
                header_line(&mut input).map_err(|error| columns.broken("row 1".to_owned(), error.to_string()))?;
            let delimiter = sniff(&header);
            input = Box::new(io::Cursor::new(header).chain(input));
            delimiter
        };
        let mut reader = RecordReader {
            input,
            parser: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            record: Record::default(),
            rows: 0,
        };
        // The header is kept whole, up to the size of a row.
        let read = reader
            .read_record(None, MAX_ROW_BYTES)
            .map_err(|error| columns.broken("row 1".to_owned(), error.to_string()))?;
        if read && reader.record.oversized.is_some() {
            return Err(columns.broken("row 1".to_owned(), Columns::row_too_large()));
        }
        let mut header = Vec::with_capacity(reader.record.count);
        for index in 0..reader.record.count {
            let field = reader.record.field(index);
            let name = std::str::from_utf8(field).map_err(|error| {
                columns.broken(
                    "row 1".to_owned(),
                    format!(
                        "column {} of the header is not UTF-8: {}",
                        index + 1,
                        super::not_utf8(field, &error, "CSV UTF-8")
                    ),
                )
            })?;
            // Spreadsheets often save a byte-order mark and stray spaces around names.
            header.push(name.trim_start_matches('\u{feff}').trim().to_owned());
        }
        if header.iter().all(String::is_empty) {
            return Err(DataError::Empty {
                path: columns.path.clone(),
            });
        }
        let fields = &columns.fields;
        let mut column_of_var = Vec::with_capacity(fields.columns.len());
        let mut missing = Vec::new();
        for (index, (var, is_required)) in fields.columns.iter().zip(&fields.required).enumerate() {
            let mut found = header
                .iter()
                .enumerate()
                .filter(|(_, name)| *name == var)
                .map(|(index, _)| index);
            let found_at = found.next();
            if found.next().is_some() {
                return Err(DataError::DuplicateColumn {
                    path: columns.path.clone(),
                    column: var.clone(),
                });
            }
            if found_at.is_none() && fields.is_mapped(index) {
                // A column the user named must be there, whether the variable is required or not.
                return Err(DataError::NoMappedColumn {
                    path: columns.path.clone(),
                    var: fields.vars[index].clone(),
                    column: var.clone(),
                    help: did_you_mean(var, header.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("the header (row 1) has: {}", header.join(", "))),
                });
            }
            if found_at.is_none() && *is_required {
                missing.push(var.clone());
            }
            column_of_var.push(found_at);
        }
        if !missing.is_empty() {
            let hints: Vec<String> = missing
                .iter()
                .filter_map(|var| {
                    did_you_mean(var, header.iter().map(String::as_str)).map(|hint| format!("for `{var}`: {hint}"))
                })
                .collect();
            // A header read as one column holds its separator: `name|phone|ref`.
            let separator = match header.as_slice() {
                [only] => only
                    .chars()
                    .find(|c| matches!(c, '|' | ':' | ',' | ';' | '\t' | '^' | '~')),
                _ => None,
            };
            let help = match separator {
                Some('\t') => "the header is read as one column: for tab-separated fields, pass --delimiter tab".to_owned(),
                Some(separator) => format!(
                    "the header is read as one column: if `{separator}` separates its fields, pass --delimiter '{separator}'"
                ),
                None if hints.is_empty() => format!("the header (row 1) has: {}", header.join(", ")),
                None => hints.join("; "),
            };
            return Err(DataError::MissingColumns {
                path: columns.path.clone(),
                columns: missing,
                help,
            });
        }
        let mut kept = vec![false; header.len()];
        for index in column_of_var.iter().flatten() {
            kept[*index] = true;
        }
        Ok(CsvRows {
            reader,
            columns,
            column_of_var,
            kept,
            header,
            done: false,
        })
    }

    fn row(&self) -> Result<Row, DataError> {
        let number = self.reader.rows;
        let record = &self.reader.record;
        if record.count != self.header.len() {
            return Err(self.columns.bad_row(
                number,
                None,
                format!(
                    "the row has {} fields but the header has {}",
                    record.count,
                    self.header.len()
                ),
            ));
        }
        if let Some((index, size)) = record.oversized {
            return Err(self.columns.field_too_large(number, self.header[index].clone(), size));
        }
        // The fields lie side by side in the buffer (with those not kept, until they are let go):
        // one check of them all is cheaper than one a field. A field whose ends are characters'
        // ends of valid text is valid text; any other is checked alone, for its error.
        let all = std::str::from_utf8(&record.buffer[..record.used]).ok();
        let mut values = Vec::with_capacity(self.column_of_var.len());
        for column in &self.column_of_var {
            let Some(index) = *column else {
                values.push(None);
                continue;
            };
            if let Some(text) = all.and_then(|all| all.get(record.range(index))) {
                values.push(Some(Value::String(text.to_owned())));
                continue;
            }
            let field = record.field(index);
            let text = std::str::from_utf8(field).map_err(|error| {
                self.columns.bad_row(
                    number,
                    Some(self.header[index].clone()),
                    format!(
                        "the value is not UTF-8: {}",
                        super::not_utf8(field, &error, "CSV UTF-8")
                    ),
                )
            })?;
            values.push(Some(Value::String(text.to_owned())));
        }
        Ok(Row { number, values })
    }
}

/// The first line of the input, a quoted line break included, up to the size of a row: what
/// the separator is read from. It is put back in front of the input before parsing.
fn header_line(input: &mut Box<dyn BufRead + Send>) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut quoted = false;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(line);
        }
        let end = buffer.iter().position(|&byte| {
            if byte == b'"' {
                quoted = !quoted;
            }
            byte == b'\n' && !quoted
        });
        let taken = end.map_or(buffer.len(), |end| end + 1);
        line.extend_from_slice(&buffer[..taken]);
        input.consume(taken);
        if end.is_some() || line.len() > MAX_ROW_BYTES {
            return Ok(line);
        }
    }
}

/// The separator of a header line: of comma, semicolon and tab, the one found most often
/// outside quotes; a comma when none is (a single column), or on a tie.
fn sniff(header: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &byte in header {
        match byte {
            b'"' => quoted = !quoted,
            _ if quoted => {}
            _ => {
                if let Some((_, count)) = counts.iter_mut().find(|(separator, _)| *separator == byte) {
                    *count += 1;
                }
            }
        }
    }
    // The first of the most frequent: `max_by_key` would take the last.
    let most = counts.iter().map(|(_, count)| *count).max().unwrap_or(0);
    counts
        .iter()
        .find(|(_, count)| *count == most)
        .map_or(b',', |(separator, _)| *separator)
}

impl RecordReader {
    /// Reads the next record; `false` at the end of the input. A data record keeps the
    /// columns `kept` says, each up to `limit` bytes, and no more fields than the header has.
    /// The header (`kept` is `None`) keeps all its fields, up to `limit` bytes in all.
    fn read_record(&mut self, kept: Option<&[bool]>, limit: usize) -> io::Result<bool> {
        let record = &mut self.record;
        record.used = 0;
        record.fields.clear();
        record.count = 0;
        record.oversized = None;
        let stored = kept.map_or(usize::MAX, <[bool]>::len);
        let mut start = 0;
        let mut size: u64 = 0;
        loop {
            let kept = match kept {
                Some(kept) => kept.get(record.count).copied().unwrap_or(false),
                None => record.oversized.is_none(),
            };
            if record.buffer.len() - record.used < MIN_ROOM {
                let grown = (record.buffer.len() * 2).max(MIN_ROOM * 4);
                record.buffer.resize(grown, 0);
            }
            let input = self.input.fill_buf()?;
            let (result, read, written) = self.parser.read_field(input, &mut record.buffer[record.used..]);
            self.input.consume(read);
            size += written as u64;
            record.used += written;
            // A field not kept, or kept but too large, keeps nothing: only its size counts.
            if !kept || size > limit as u64 {
                record.used = start;
            }
            match result {
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                ReadFieldResult::Field { record_end } => {
                    // A field and its separator: what the header's size counts.
                    let header_size = record.used + record.count + 1;
                    let over = size > limit as u64 || (stored == usize::MAX && header_size > limit);
                    if kept && over && record.oversized.is_none() {
                        record.oversized = Some((record.count, size));
                    }
                    if record.count < stored {
                        record.fields.push(start..record.used);
                    }
                    record.count += 1;
                    start = record.used;
                    size = 0;
                    if record_end {
                        self.rows += 1;
                        return Ok(true);
                    }
                }
                ReadFieldResult::End => return Ok(false),
            }
        }
    }
}

/// Where the field being read starts in the buffer, and how many of its bytes were let go.
#[derive(Clone, Copy, Default)]
struct Open {
    start: usize,
    dropped: u64,
}

impl RecordReader {
    /// Reads the next data record, as [`RecordReader::read_record`] does with `kept`, but a
    /// record at a time: the parser copies the whole record and says where each field ends,
    /// which costs less than a call a field. The fields not kept are let go whenever the
    /// buffer runs short, so memory stays bounded by the kept fields however large the others.
    fn read_data_record(&mut self, kept: &[bool], limit: usize) -> io::Result<bool> {
        let record = &mut self.record;
        record.used = 0;
        record.fields.clear();
        record.count = 0;
        record.oversized = None;
        let mut ends = [0usize; 32];
        // The parser counts a field's end from the record's start as if no byte were let go:
        // `shift` is how many were before the place it now writes at.
        let mut shift = 0usize;
        let mut open = Open::default();
        loop {
            if record.buffer.len() - record.used < MIN_ROOM {
                record.compact(kept, limit, &mut open, &mut shift);
                let room = record.buffer.len() - record.used;
                if room < MIN_ROOM.max(record.buffer.len() / 2) {
                    let grown = (record.buffer.len() * 2).max(record.used + MIN_ROOM * 4);
                    record.buffer.resize(grown, 0);
                }
            }
            let input = self.input.fill_buf()?;
            let (result, read, written, found) =
                self.parser
                    .read_record(input, &mut record.buffer[record.used..], &mut ends);
            self.input.consume(read);
            record.used += written;
            for &end in &ends[..found] {
                record.close(end - shift, kept, limit, &mut open);
            }
            match result {
                csv_core::ReadRecordResult::InputEmpty
                | csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {}
                csv_core::ReadRecordResult::Record => {
                    self.rows += 1;
                    return Ok(true);
                }
                csv_core::ReadRecordResult::End => return Ok(false),
            }
        }
    }
}

impl Record {
    /// Ends the open field at `end` in the buffer, as [`RecordReader::read_record`] would.
    fn close(&mut self, end: usize, kept: &[bool], limit: usize, open: &mut Open) {
        let size = (end - open.start) as u64 + open.dropped;
        let is_kept = kept.get(self.count).copied().unwrap_or(false);
        if is_kept && size > limit as u64 && self.oversized.is_none() {
            self.oversized = Some((self.count, size));
        }
        if self.count < kept.len() {
            let stored_end = if is_kept && size <= limit as u64 {
                end
            } else {
                open.start
            };
            self.fields.push(open.start..stored_end);
        }
        self.count += 1;
        *open = Open { start: end, dropped: 0 };
    }

    /// Keeps only the kept fields and the open field's bytes, side by side at the start of the
    /// buffer; the open field's are let go too when it is not kept or already over `limit`.
    fn compact(&mut self, kept: &[bool], limit: usize, open: &mut Open, shift: &mut usize) {
        let mut to = 0;
        for range in &mut self.fields {
            let length = range.len();
            self.buffer.copy_within(range.clone(), to);
            *range = to..to + length;
            to += length;
        }
        let partial = self.used - open.start;
        let is_kept = kept.get(self.count).copied().unwrap_or(false);
        if is_kept && (partial as u64 + open.dropped) <= limit as u64 {
            self.buffer.copy_within(open.start..self.used, to);
            *shift += open.start - to;
            open.start = to;
            self.used = to + partial;
        } else {
            *shift += self.used - to;
            open.dropped += partial as u64;
            open.start = to;
            self.used = to;
        }
    }
}

impl Iterator for CsvRows {
    type Item = Result<Row, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_data_record(&self.kept, MAX_FIELD_BYTES) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => Some(self.row()),
            Err(error) => {
                self.done = true;
                Some(Err(self
                    .columns
                    .broken(format!("row {}", self.reader.rows + 1), error.to_string())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader gives for each record: its field count, the kept fields' bytes, the
    /// oversized field, the row number.
    type Read = (usize, Vec<Vec<u8>>, Option<(usize, u64)>, u64);

    fn records(data: &[u8], kept: &[bool], limit: usize, whole_records: bool) -> Vec<Read> {
        let mut reader = RecordReader {
            // A small buffer splits records and fields between reads.
            input: Box::new(io::BufReader::with_capacity(7, io::Cursor::new(data.to_vec()))),
            parser: csv_core::Reader::new(),
            record: Record::default(),
            rows: 0,
        };
        let mut read = Vec::new();
        loop {
            let more = if whole_records {
                reader.read_data_record(kept, limit)
            } else {
                reader.read_record(Some(kept), limit)
            };
            if !more.expect("reads from memory") {
                return read;
            }
            let record = &reader.record;
            let fields = (0..kept.len())
                .filter(|index| kept[*index])
                .map(|index| record.field(index).to_vec())
                .collect();
            read.push((record.count, fields, record.oversized, reader.rows));
        }
    }

    #[test]
    fn a_record_read_whole_gives_what_reading_it_field_by_field_gives() {
        let big = "x".repeat(70_000);
        let kept_big = "é".repeat(20_000);
        let data = format!(
            "a,b,c\n1,2,3\n\"q,\"\"x\"\"\",,z\r\n{big},{big},{big}\n{kept_big},{big}{big},y\nonly\n1,2,3,4,5\n\n{big}x,ok,{kept_big}\nlast,{big},no newline"
        );
        for kept in [
            [true, false, true],
            [false, true, false],
            [true, true, true],
            [false, false, false],
        ] {
            for limit in [3, 64 << 10] {
                let by_field = records(data.as_bytes(), &kept, limit, false);
                assert_eq!(by_field.len(), 9);
                assert_eq!(
                    records(data.as_bytes(), &kept, limit, true),
                    by_field,
                    "{kept:?} {limit}"
                );
            }
        }
    }

    #[test]
    fn the_separator_is_the_most_frequent_outside_quotes() {
        assert_eq!(sniff(b"name,phone,ref\n"), b',');
        assert_eq!(sniff(b"name;phone;ref\r\n"), b';');
        assert_eq!(sniff(b"name\tphone\tref\n"), b'\t');
        assert_eq!(sniff(b"\"last, first\";phone\n"), b';');
        assert_eq!(sniff(b"phone\n"), b',');
        assert_eq!(sniff(b"a,b;c\n"), b',');
    }
}
