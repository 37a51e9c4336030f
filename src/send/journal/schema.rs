//! The journal's tables and columns, and the columns added since the first journals (an older
//! journal gets them, empty, when it is opened).

use crate::send::journal::Journal;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    http_status INTEGER,
    code TEXT,
    message_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    run INTEGER NOT NULL,
    -- When its last request left (Unix seconds): what `--daily-limit` counts.
    sent_at INTEGER,
    -- What the provider's callbacks can be matched by (see `flowc receive`).
    flow_token TEXT,
    ref TEXT,
    ref1 TEXT,
    ref2 TEXT,
    -- The campaign-and-row key `--track` wrote into `ref`, `ref1` or `ref2`.
    track TEXT,
    -- How a row `unknown` when sent was settled later (`callback`: the provider's callbacks
    -- carried its key or id).
    settled TEXT,
    -- The template version its last request went out with: the fingerprint's first 12 hex
    -- digits (see `--changed-template`).
    template TEXT,
    -- Which message its last request carried (`flow` or `template`; see `--outside-window`).
    message TEXT
);
";

/// Columns added after the first journals were written, with their types: an older journal
/// gets them (empty) when it is opened.
pub(super) const ADDED_COLUMNS: [(&str, &str); 9] = [
    ("sent_at", "INTEGER"),
    ("flow_token", "TEXT"),
    ("ref", "TEXT"),
    ("ref1", "TEXT"),
    ("ref2", "TEXT"),
    ("track", "TEXT"),
    ("settled", "TEXT"),
    ("template", "TEXT"),
    ("message", "TEXT"),
];

impl Journal {
    /// Whether the file holds the journal's tables (a journal, not merely a SQLite file).
    pub(super) fn has_tables(&self) -> rusqlite::Result<bool> {
        self.connection.query_row(
            "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'rows')",
            [],
            |row| row.get(0),
        )
    }
}
