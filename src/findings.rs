//! Findings that repeat. The same fault in a thousand rows is one thing to fix, and a thousand
//! diagnostics of ten lines each would bury the others: each kind of finding is shown in full
//! once, then only counted, and the counts are summed up at the end, with a few row numbers to
//! look at. A cap on the findings shown in full (`--max-errors`) keeps the worst file's report
//! on a screen or two; tools that want every finding read `--format json`, which is not grouped.
//!
//! Two findings are of one kind when they say the same thing (the gist: the message without
//! the row's value, see [`Finding::gist`]) about the same place (the template's line and
//! column and the body's field, or the data file's column), at the same level, both about data
//! rows or both not.

use std::collections::HashMap;

use crate::diagnostic::{Finding, Level};
use crate::words;

/// How many row numbers a summary line gives to look at.
const EXAMPLE_ROWS: usize = 5;

/// How many kinds the summary names; the rest are counted on one line.
const SUMMARY_KINDS: usize = 20;

/// How many kinds are told apart. A message that quotes something of its row that no gist
/// removes (a parser's column, say) makes every row a kind of its own: past this many, new
/// kinds are only counted, so that memory stays flat over millions of rows.
const MAX_KINDS: usize = 10_000;

/// Counts findings by kind and decides which are shown in full.
#[derive(Debug)]
pub(crate) struct Digest {
    max_full: usize,
    shown: usize,
    index: HashMap<Key, usize>,
    kinds: Vec<Kind>,
    /// Findings of kinds past [`MAX_KINDS`], and how many of them were shown in full.
    untold: u64,
    untold_shown: u64,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    error: bool,
    /// A finding about a data row is not of one kind with the same finding about the
    /// examples: the rows are counted apart.
    in_row: bool,
    gist: String,
    template: Option<(String, usize)>,
    pointer: Option<String>,
    column: Option<String>,
}

#[derive(Debug)]
struct Kind {
    error: bool,
    gist: String,
    place: Option<String>,
    count: u64,
    /// Whether its first finding was shown in full.
    shown: bool,
    rows: Vec<u64>,
}

impl Digest {
    /// Shows at most `max_full` findings in full, one of each kind.
    pub(crate) fn new(max_full: usize) -> Digest {
        Digest {
            max_full,
            shown: 0,
            index: HashMap::new(),
            kinds: Vec::new(),
            untold: 0,
            untold_shown: 0,
        }
    }

    /// Counts a finding; whether to show it in full: the first of its kind, while fewer than
    /// `max_full` findings were.
    pub(crate) fn admit(&mut self, finding: &Finding) -> bool {
        let room = self.shown < self.max_full;
        let key = Key::of(finding);
        let index = match self.index.get(&key) {
            Some(&index) => index,
            None if self.kinds.len() >= MAX_KINDS => {
                self.untold += 1;
                self.untold_shown += u64::from(room);
                self.shown += usize::from(room);
                return room;
            }
            None => {
                self.kinds.push(Kind {
                    error: key.error,
                    gist: key.gist.clone(),
                    place: place(finding),
                    count: 0,
                    shown: false,
                    rows: Vec::new(),
                });
                self.index.insert(key, self.kinds.len() - 1);
                self.kinds.len() - 1
            }
        };
        let kind = &mut self.kinds[index];
        kind.count += 1;
        if let Some(row) = finding.row() {
            if kind.rows.len() < EXAMPLE_ROWS {
                kind.rows.push(row.row);
            }
        }
        let full = kind.count == 1 && room;
        if full {
            kind.shown = true;
            self.shown += 1;
        }
        full
    }

    /// Lines that sum up every kind with findings not shown in full, in the order each was
    /// first found; the kinds are then forgotten (the cap stays spent), so that the next
    /// template's summary is its own.
    pub(crate) fn summary(&mut self) -> Vec<String> {
        self.index.clear();
        let kinds = std::mem::take(&mut self.kinds);
        let (untold, untold_shown) = (self.untold, self.untold_shown);
        self.untold = 0;
        self.untold_shown = 0;
        let mut hidden = kinds.into_iter().filter(|kind| kind.count > u64::from(kind.shown));
        let mut lines: Vec<String> = hidden
            .by_ref()
            .take(SUMMARY_KINDS)
            .map(|kind| kind.line(self.max_full))
            .collect();
        let (rest_kinds, rest) = hidden.fold((0u64, untold - untold_shown), |(kinds, findings), kind| {
            (kinds + 1, findings + kind.count - u64::from(kind.shown))
        });
        if rest > 0 {
            let kinds = if untold > 0 {
                "other kinds".to_owned()
            } else {
                words::count(rest_kinds, "other kind", "other kinds")
            };
            lines.push(format!(
                "and {} of {kinds}, not shown",
                words::count(rest, "finding", "findings")
            ));
        }
        lines
    }
}

impl Key {
    fn of(finding: &Finding) -> Key {
        Key {
            error: finding.level() == Level::Error,
            in_row: finding.row().is_some(),
            gist: finding.gist().to_owned(),
            template: finding
                .source_name()
                .zip(finding.offset())
                .map(|(source, offset)| (source.to_owned(), offset)),
            pointer: finding.pointer().map(str::to_owned),
            column: finding.column().map(str::to_owned),
        }
    }
}

/// Where a kind of finding is, as a person looks it up: `at file:line:column`, else its column.
fn place(finding: &Finding) -> Option<String> {
    match (finding.source_name(), finding.position(), finding.column()) {
        (Some(source), Some((line, column)), _) => Some(format!("at {source}:{line}:{column}")),
        (_, _, Some(column)) => Some(format!("in column `{column}`")),
        _ => None,
    }
}

impl Kind {
    /// `error in 1,000 rows: … at t.yaml:8:7; rows 3, 5, 7, 12, 15 and 995 more (the first
    /// shown in full above)`.
    fn line(&self, max_full: usize) -> String {
        let level = if self.error { "error" } else { "warning" };
        let many = if !self.rows.is_empty() {
            format!(" in {}", words::count(self.count, "row", "rows"))
        } else if self.count > 1 {
            format!(", {}", words::count(self.count, "time", "times"))
        } else {
            String::new()
        };
        let place = self.place.as_ref().map(|place| format!(" {place}")).unwrap_or_default();
        let rows = match self.rows.as_slice() {
            [] => String::new(),
            [row] => format!("; row {row}"),
            rows => {
                let listed: Vec<String> = rows.iter().map(u64::to_string).collect();
                let more = self.count.saturating_sub(rows.len() as u64);
                if more > 0 {
                    format!("; rows {} and {} more", listed.join(", "), words::thousands(more))
                } else {
                    format!("; rows {}", listed.join(", "))
                }
            }
        };
        let shown = if self.shown {
            "the first shown in full above".to_owned()
        } else {
            format!("none shown in full: --max-errors {max_full}")
        };
        format!("{level}{many}: {}{place}{rows} ({shown})", self.gist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::RowRef;

    fn bad_phone(row: u64, number: &str) -> Finding {
        Finding::error(format!("`to` has no country code: `{number}`"))
            .with_gist("`to` has no country code")
            .at_pointer("/messaging_object/to")
            .in_row(Some(&RowRef {
                file: "rows.csv".to_owned(),
                row,
            }))
    }

    #[test]
    fn the_first_of_a_kind_is_shown_and_the_rest_counted() {
        let mut digest = Digest::new(20);
        let shown: Vec<bool> = (2..1_002)
            .map(|row| digest.admit(&bad_phone(row, &row.to_string())))
            .collect();
        assert_eq!(shown.iter().filter(|shown| **shown).count(), 1);
        assert!(shown[0]);
        assert_eq!(
            digest.summary(),
            ["error in 1,000 rows: `to` has no country code; rows 2, 3, 4, 5, 6 and 995 more (the first shown in full above)"]
        );
        assert!(digest.summary().is_empty(), "a summary forgets what it summed up");
    }

    #[test]
    fn past_the_cap_nothing_more_is_shown_in_full() {
        let mut digest = Digest::new(1);
        assert!(digest.admit(&Finding::error("one")));
        assert!(!digest.admit(&Finding::error("two")));
        assert!(!digest.admit(&Finding::error("two")));
        assert_eq!(
            digest.summary(),
            ["error, 2 times: two (none shown in full: --max-errors 1)"]
        );
    }

    #[test]
    fn a_kind_shown_once_and_never_again_is_not_summed_up() {
        let mut digest = Digest::new(20);
        assert!(digest.admit(&Finding::error("alone")));
        assert!(digest.summary().is_empty());
    }

    #[test]
    fn kinds_past_the_limit_are_counted_together() {
        let mut digest = Digest::new(0);
        for n in 0..MAX_KINDS + 3 {
            digest.admit(&Finding::error(format!("message {n}")));
        }
        let summary = digest.summary();
        assert_eq!(summary.len(), SUMMARY_KINDS + 1);
        assert_eq!(
            summary.last().map(String::as_str),
            Some("and 9,983 findings of other kinds, not shown")
        );
    }
}
