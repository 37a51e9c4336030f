//! Who must not get the message, decided in the pre-flight: a person listed twice (after
//! normalisation, `+91 98765 43210` and `+919876543210` are one person), a number on the
//! `--exclude` list, and rows beyond `--limit`.
//!
//! Numbers are kept as integers (E.164 has at most 15 digits, so one fits a `u64` exactly), in
//! a compact table ([`FirstRows`]): about 16 bytes a distinct number, 16 MiB for a million.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::Path;

use crate::input::Unreadable;
use crate::phone::{normalise_number, number_key as read_number, PhoneProblem, Reading};

/// The most of an exclude file that is read: tens of millions of numbers.
const MAX_EXCLUDE_FILE: u64 = 512 * 1024 * 1024;
/// How many bad lines of an exclude file are listed.
const MAX_LISTED: usize = 20;

/// A number as an integer: the digits after `+`.
pub(crate) fn number_key(e164: &str) -> Option<u64> {
    e164.strip_prefix('+')?.parse().ok()
}

/// The recipients of a compiled `to` (comma-separated E.164).
pub(crate) fn recipient_keys(to: &str) -> Vec<u64> {
    to.split(',').filter_map(number_key).collect()
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExcludeError {
    #[error(transparent)]
    Unreadable(Unreadable),
    #[error("the exclude list `{path}` has no column named {wanted}; its columns: {found}")]
    NoColumn {
        path: String,
        wanted: String,
        found: String,
    },
    #[error("the exclude list `{path}` has {} that {} not a phone number: {lines}", crate::words::count(*count as u64, "line", "lines"), crate::words::plural(*count as u64, "is", "are"))]
    BadLines { path: String, count: usize, lines: String },
}

impl ExcludeError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            ExcludeError::BadLines { .. } => Some(
                "write each number with `+` and its country code, e.g. +919876543210 (11 to 15 digits without `+` are read as such); nobody is sent anything until the list can be read whole".to_owned(),
            ),
            _ => None,
        }
    }
}

/// The bad lines of an exclude list, grouped by what is wrong: each reason once, then the
/// first lines that have it with their value (`has no country code …: line 2 `98765``).
#[derive(Default)]
struct BadLines {
    groups: Vec<(String, Vec<String>)>,
    count: usize,
}

impl BadLines {
    fn add(&mut self, line: usize, value: &str, reason: String) {
        self.count += 1;
        let shown = format!(
            "line {line} `{}`",
            crate::words::printable(&crate::words::clip(value, 40))
        );
        if self.groups.iter().map(|(_, lines)| lines.len()).sum::<usize>() >= MAX_LISTED {
            return;
        }
        match self.groups.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, lines)) => lines.push(shown),
            None => self.groups.push((reason, vec![shown])),
        }
    }

    fn describe(&self) -> String {
        let listed: usize = self.groups.iter().map(|(_, lines)| lines.len()).sum();
        let mut text = self
            .groups
            .iter()
            .map(|(reason, lines)| format!("{reason}: {}", lines.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        if listed < self.count {
            text.push_str(&format!(" (and {} more)", self.count - listed));
        }
        text
    }
}

/// The numbers no message may go to.
#[derive(Debug, Default)]
pub(crate) struct ExcludeList {
    numbers: HashSet<u64>,
    /// Lines written without `+` and read as international numbers (as the provider and the
    /// event store write them).
    without_plus: usize,
}

impl ExcludeList {
    /// Reads one number a line, or a CSV with a header naming a phone column (`column`, else
    /// `phone`, `to` or `number`). Separators are removed as in `to`. A line that is not a number
    /// refuses the whole list: guessing could message someone who asked not to be.
    pub(crate) fn load(path: &Path, column: Option<&str>) -> Result<ExcludeList, ExcludeError> {
        let name = path.display().to_string();
        let unreadable = |reason: String| {
            ExcludeError::Unreadable(Unreadable {
                what: "the exclude list",
                path: name.clone(),
                reason,
            })
        };
        let file = crate::input::open(path).map_err(|error| unreadable(error.to_string()))?;
        let mut text = String::new();
        // One byte more than the limit tells a file over it from one that fills it: a list cut
        // short would leave its last numbers unprotected (or cut one into another number).
        file.take(MAX_EXCLUDE_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|_| unreadable("it is not UTF-8 text".to_owned()))?;
        if text.len() as u64 > MAX_EXCLUDE_FILE {
            return Err(unreadable(format!(
                "it is larger than {}, the limit for an exclude list",
                crate::words::size(MAX_EXCLUDE_FILE)
            )));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        let Some((_, first)) = lines.clone().next() else {
            return Ok(ExcludeList::default());
        };
        let delimiter = [',', ';', '\t'].into_iter().find(|d| first.contains(*d));
        let header_names: Vec<String> = match delimiter {
            Some(delimiter) => first
                .split(delimiter)
                .map(|cell| cell.trim().trim_matches('"').to_lowercase())
                .collect(),
            None => vec![first.trim().trim_matches('"').to_lowercase()],
        };
        let is_header = normalise_number(header_names.first().map_or("", String::as_str)).is_err()
            && (column.is_some()
                || header_names
                    .iter()
                    .any(|name| ["phone", "to", "number"].contains(&name.as_str())));
        let column_index = if is_header {
            lines.next();
            let wanted: Vec<String> = match column {
                Some(column) => vec![column.to_lowercase()],
                None => vec!["phone".to_owned(), "to".to_owned(), "number".to_owned()],
            };
            let found = header_names.iter().position(|name| wanted.contains(name));
            Some(found.ok_or_else(|| ExcludeError::NoColumn {
                path: name.clone(),
                wanted: wanted.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(" or "),
                found: header_names.join(", "),
            })?)
        } else if column.is_some() {
            return Err(ExcludeError::NoColumn {
                path: name.clone(),
                wanted: format!("`{}`", column.unwrap_or_default()),
                found: "(no header row)".to_owned(),
            });
        } else {
            None
        };
        let mut numbers = HashSet::new();
        let mut without_plus = 0;
        let mut bad = BadLines::default();
        for (index, line) in lines {
            let cell = match (column_index, delimiter) {
                (Some(column), Some(delimiter)) => line.split(delimiter).nth(column).unwrap_or(""),
                _ => line,
            };
            let cell = cell.trim().trim_matches('"');
            match read_number(cell, Reading::Exclude) {
                Ok((key, read_without_plus)) => {
                    numbers.insert(key);
                    without_plus += usize::from(read_without_plus);
                }
                Err(crate::phone::PhoneError::BadPhone { reason, .. }) => {
                    bad.add(index + 1, cell, exclude_reason(&reason));
                }
                Err(other) => bad.add(index + 1, cell, other.to_string()),
            }
        }
        if bad.count > 0 {
            return Err(ExcludeError::BadLines {
                path: name,
                count: bad.count,
                lines: bad.describe(),
            });
        }
        Ok(ExcludeList { numbers, without_plus })
    }

    /// How many lines were written without `+` and read as international numbers.
    pub(crate) fn read_without_plus(&self) -> usize {
        self.without_plus
    }

    pub(crate) fn len(&self) -> usize {
        self.numbers.len()
    }

    fn contains(&self, key: u64) -> bool {
        self.numbers.contains(&key)
    }
}

/// Why a line is not a number, with the fix where flowc can tell it.
fn exclude_reason(problem: &PhoneProblem) -> String {
    match problem {
        PhoneProblem::InternationalPrefix { suggested } => format!("{problem} (write {suggested})"),
        PhoneProblem::BracketedZero {
            suggested: Some(suggested),
        } => format!("has the trunk prefix 0 in brackets (write {suggested})"),
        PhoneProblem::BracketedZero { suggested: None } => {
            "has a 0 in brackets that may or may not belong to the number (write it as dialled from abroad)".to_owned()
        }
        PhoneProblem::TrunkZero { suggested } => format!("{problem} (write {suggested})"),
        PhoneProblem::NoCountryCode => {
            "has no country code (write `+` and the country code before the number)".to_owned()
        }
        other => other.to_string(),
    }
}

/// What the guardrails decide for one valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    /// The row whose recipient this row repeats.
    Duplicate {
        of_row: u64,
    },
    Excluded,
    /// Its recipient opted out (STOP) in the event store.
    OptedOut,
}

/// Entries in one chunk of a [`Chunked`] array.
const CHUNK: usize = 16 * 1024;
/// The hash tables a [`KeyTable`] is split into.
const SHARDS: usize = 16;

/// A growing array kept in fixed chunks: it grows without copying itself, so it never holds
/// its old and new copies at once (a `Vec` of a million keys doubling holds 12 MiB for a moment,
/// and the allocator may keep the 4 MiB it left).
struct Chunked<T> {
    chunks: Vec<Box<[T]>>,
    len: usize,
}

impl<T: Copy + Default> Chunked<T> {
    fn new() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, value: T) {
        let (chunk, at) = (self.len / CHUNK, self.len % CHUNK);
        if at == 0 {
            self.chunks.push(vec![T::default(); CHUNK].into_boxed_slice());
        }
        self.chunks[chunk][at] = value;
        self.len += 1;
    }

    fn get(&self, index: usize) -> T {
        self.chunks[index / CHUNK][index % CHUNK]
    }
}

/// A set of 64-bit keys (numbers, or hashes of `flow_token`s), each given the index of its
/// first insertion: the keys in a [`Chunked`] array, and hash tables of 4-byte indexes into it.
/// A `HashMap<u64, u32>` takes 16 bytes a slot (alignment) and twice that while it grows: a
/// million keys would cost 50 MiB at the peak. The table is split in [`SHARDS`] that grow one
/// at a time, so growing never holds a whole old table beside the new one; the shards take
/// unequal shares of the keys (from 1 to 2 in steps of 2^(1/16)), so that they double at
/// different sizes and the table as a whole is never as empty as one just doubled (at a
/// million keys, one table would be under half full).
pub(crate) struct KeyTable {
    keys: Chunked<u64>,
    shards: Vec<hashbrown::HashTable<u32>>,
    /// Where each shard's share of the 24 hash bits it is chosen by ends.
    bounds: [u32; SHARDS],
    /// Seeded at random: keys come from a file anyone may have written.
    hasher: foldhash::fast::FixedState,
}

impl Default for KeyTable {
    fn default() -> Self {
        let shares: Vec<f64> = (0..SHARDS).map(|shard| (shard as f64 / SHARDS as f64).exp2()).collect();
        let total: f64 = shares.iter().sum();
        let mut bounds = [0u32; SHARDS];
        let mut sum = 0.0;
        for (bound, share) in bounds.iter_mut().zip(&shares) {
            sum += share;
            *bound = (sum / total * f64::from(1u32 << 24)) as u32;
        }
        bounds[SHARDS - 1] = 1 << 24;
        KeyTable {
            keys: Chunked::new(),
            shards: (0..SHARDS).map(|_| hashbrown::HashTable::new()).collect(),
            bounds,
            hasher: foldhash::fast::FixedState::with_seed(fastrand::u64(..)),
        }
    }
}

impl KeyTable {
    /// The index `key` was first inserted at; `None` when it is new (and now inserted, unless
    /// the table holds four billion keys, which no real file brings: see [`KeyTable::len`]).
    pub(crate) fn index_or_insert(&mut self, key: u64) -> Option<u32> {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(key);
        // Bits the tables' own slots (the low ones) and tags (the top seven) do not use.
        let bits = ((hash >> 32) & 0xFF_FFFF) as u32;
        let shard = self.bounds.partition_point(|&bound| bound <= bits).min(SHARDS - 1);
        let shard = &mut self.shards[shard];
        let keys = &self.keys;
        if let Some(&index) = shard.find(hash, |&index| keys.get(index as usize) == key) {
            return Some(index);
        }
        let index = u32::try_from(self.keys.len).ok()?;
        self.keys.push(key);
        let (keys, hasher) = (&self.keys, &self.hasher);
        shard.insert_unique(hash, index, |&index| hasher.hash_one(keys.get(index as usize)));
        None
    }

    /// How many keys it holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len
    }
}

/// Rows in file order, one bit a row, with how many come before every 512th: the n-th row is
/// found with a binary search and a few word counts. 125 KiB for a million rows.
#[derive(Debug, Default)]
pub(crate) struct RowBits {
    bits: Vec<u64>,
    before: Vec<u64>,
    count: u64,
    last: Option<u64>,
}

impl RowBits {
    /// Adds `row`; `false` (and not added) when it does not come after every row added so far.
    pub(crate) fn push(&mut self, row: u64) -> bool {
        let Ok(word) = usize::try_from(row / 64) else {
            return false;
        };
        if self.last.is_some_and(|last| row <= last) {
            return false;
        }
        while self.bits.len() <= word {
            if self.bits.len() % 8 == 0 {
                self.before.push(self.count);
            }
            self.bits.push(0);
        }
        self.bits[word] |= 1 << (row % 64);
        self.count += 1;
        self.last = Some(row);
        true
    }

    /// The `index`-th row added (from 0).
    pub(crate) fn nth(&self, index: u64) -> Option<u64> {
        let block = self.before.partition_point(|&before| before <= index).checked_sub(1)?;
        let mut left = index - self.before[block];
        for (at, &word) in self.bits.iter().enumerate().skip(block * 8).take(8) {
            let ones = u64::from(word.count_ones());
            if left < ones {
                let mut word = word;
                for _ in 0..left {
                    word &= word - 1;
                }
                return Some(at as u64 * 64 + u64::from(word.trailing_zeros()));
            }
            left -= ones;
        }
        None
    }
}

/// The first row of each number seen: a [`KeyTable`], and the rows that brought a new number
/// (one bit a row; a row that brought several, a row of several recipients, is listed apart
/// for its second and later ones): about 16 bytes a distinct number.
#[derive(Default)]
struct FirstRows {
    numbers: KeyTable,
    rows: RowBits,
    /// The index and row of each number that was not its row's first new one, by index.
    more: Vec<(u32, u32)>,
}

impl std::fmt::Debug for FirstRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FirstRows({} numbers)", self.numbers.len())
    }
}

impl FirstRows {
    /// The first row of `number`, recording `row` as it when it is new.
    fn first_or_insert(&mut self, number: u64, row: u32) -> Option<u32> {
        let before = self.numbers.len();
        let Some(index) = self.numbers.index_or_insert(number) else {
            if self.numbers.len() > before && !self.rows.push(u64::from(row)) {
                if let Ok(index) = u32::try_from(before) {
                    self.more.push((index, row));
                }
            }
            return None;
        };
        match self.more.binary_search_by_key(&index, |&(index, _)| index) {
            Ok(at) => Some(self.more[at].1),
            // The numbers listed apart before `index` are not in `rows`.
            Err(at) => u32::try_from(self.rows.nth(u64::from(index) - at as u64)?).ok(),
        }
    }
}

/// The pre-flight's running state: the first row of each number seen so far.
#[derive(Debug, Default)]
pub(crate) struct Guardrails {
    exclude: ExcludeList,
    opted_out: HashSet<u64>,
    allow_duplicates: bool,
    first_rows: FirstRows,
}

impl Guardrails {
    pub(crate) fn new(exclude: ExcludeList, allow_duplicates: bool) -> Guardrails {
        Guardrails {
            exclude,
            opted_out: HashSet::new(),
            allow_duplicates,
            first_rows: FirstRows::default(),
        }
    }

    /// The numbers that opted out: their rows are never sent.
    pub(crate) fn with_opted_out(mut self, numbers: HashSet<u64>) -> Guardrails {
        self.opted_out = numbers;
        self
    }

    /// Decides a valid row, in file order. Every recipient of a row that is not excluded
    /// claims its number, so a later row with the same number is the duplicate.
    pub(crate) fn judge(&mut self, row: u64, to: &str) -> Verdict {
        let keys = recipient_keys(to);
        if keys.iter().any(|key| self.opted_out.contains(key)) {
            return Verdict::OptedOut;
        }
        if keys.iter().any(|key| self.exclude.contains(*key)) {
            return Verdict::Excluded;
        }
        let mut earlier = None;
        // Row numbers beyond u32 cannot come from a real file; such a row is not remembered
        // rather than remembered wrongly.
        if let Ok(row) = u32::try_from(row) {
            for key in keys {
                if let Some(first) = self.first_rows.first_or_insert(key, row) {
                    earlier.get_or_insert(u64::from(first));
                }
            }
        }
        match earlier {
            Some(of_row) if !self.allow_duplicates => Verdict::Duplicate { of_row },
            _ => Verdict::Send,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_row_of_a_number_is_the_duplicate() {
        let mut guardrails = Guardrails::default();
        assert_eq!(guardrails.judge(2, "+919876543210"), Verdict::Send);
        assert_eq!(
            guardrails.judge(3, "+14155550100,+919876543210"),
            Verdict::Duplicate { of_row: 2 }
        );
        assert_eq!(guardrails.judge(4, "+14155550100"), Verdict::Duplicate { of_row: 3 });
        let mut allowing = Guardrails::new(ExcludeList::default(), true);
        assert_eq!(allowing.judge(2, "+919876543210"), Verdict::Send);
        assert_eq!(allowing.judge(3, "+919876543210"), Verdict::Send);
    }

    #[test]
    fn a_key_table_remembers_where_each_key_came_first_across_its_chunks() {
        let mut table = KeyTable::default();
        let keys = (0..(CHUNK as u64) * 3).map(|n| n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for (index, key) in keys.clone().enumerate() {
            assert_eq!(table.index_or_insert(key), None);
            assert_eq!(table.len(), index + 1);
        }
        for (index, key) in keys.enumerate().step_by(997) {
            assert_eq!(table.index_or_insert(key), Some(index as u32));
        }
        assert_eq!(table.len(), CHUNK * 3);
    }

    #[test]
    fn the_first_row_of_a_number_is_found_among_many_and_after_a_row_of_several() {
        let mut first = FirstRows::default();
        for row in 2..5_000u32 {
            assert_eq!(first.first_or_insert(u64::from(row) * 7, row), None);
        }
        // Row 5000 brings two new numbers, the second listed apart.
        assert_eq!(first.first_or_insert(1, 5_000), None);
        assert_eq!(first.first_or_insert(3, 5_000), None);
        assert_eq!(first.first_or_insert(10, 5_001), None);
        for (number, row) in [(14, 2), (7 * 4_321, 4_321), (1, 5_000), (3, 5_000), (10, 5_001)] {
            assert_eq!(first.first_or_insert(number, 6_000), Some(row), "{number}");
        }
        let mut bits = RowBits::default();
        assert!(bits.push(3) && bits.push(700) && bits.push(100_000) && !bits.push(700));
        assert_eq!(
            [0, 1, 2, 3].map(|index| bits.nth(index)),
            [Some(3), Some(700), Some(100_000), None]
        );
    }

    #[test]
    fn exclude_lists_in_both_shapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "+91 98765 43210\n\n+1 (415) 555-0100\n").expect("write");
        let list = ExcludeList::load(&plain, None).expect("plain list");
        assert_eq!(list.len(), 2);
        let mut guardrails = Guardrails::new(list, false);
        assert_eq!(guardrails.judge(2, "+919876543210"), Verdict::Excluded);
        let csv = dir.path().join("stop.csv");
        std::fs::write(&csv, "name;Phone\nAsha;+919876543210\n").expect("write");
        assert_eq!(ExcludeList::load(&csv, None).expect("csv").len(), 1);
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "+919876543210\n98765\nhello\n").expect("write");
        let error = ExcludeList::load(&bad, None).expect_err("bad lines").to_string();
        assert!(
            error.contains("2 lines") && error.contains("line 2 `98765`") && error.contains("line 3 `hello`"),
            "{error}"
        );
    }
}
