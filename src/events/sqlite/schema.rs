//! The event store's tables, and the checks that a file opened as a store has their layout
//! and is not damaged before the receiver writes into it.

use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

use super::{Access, VERSION};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,          -- Unix milliseconds
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT,                            -- without the token
    content_type TEXT,
    body BLOB NOT NULL,
    digest BLOB NOT NULL UNIQUE,           -- SHA-256 of method, query and body
    recognised INTEGER NOT NULL,           -- 1: read into events; 0: kept raw only
    problem TEXT                           -- why it was not understood
);
CREATE TABLE IF NOT EXISTS statuses (
    id INTEGER PRIMARY KEY,
    event_key BLOB NOT NULL UNIQUE,
    callback_id INTEGER NOT NULL REFERENCES callbacks(id),
    received_at INTEGER NOT NULL,
    message_id TEXT,
    provider_message_id TEXT,
    status TEXT NOT NULL,
    timestamp TEXT,
    timestamp_unix INTEGER,
    recipient TEXT,
    error_code TEXT,
    error_title TEXT,
    error_detail TEXT,
    ref TEXT,
    ref1 TEXT,
    ref2 TEXT,
    biz_opaque_callback_data TEXT,
    trace_id TEXT,
    business_number TEXT,
    phone_number_id TEXT,
    billable INTEGER,                      -- Meta's pricing (layout 2): 1, 0, or not said
    pricing_model TEXT,
    pricing_category TEXT
);
CREATE INDEX IF NOT EXISTS statuses_message_id ON statuses(message_id);
CREATE INDEX IF NOT EXISTS statuses_provider_message_id ON statuses(provider_message_id);
CREATE INDEX IF NOT EXISTS statuses_ref ON statuses(ref);
CREATE INDEX IF NOT EXISTS statuses_recipient ON statuses(recipient);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    event_key BLOB NOT NULL UNIQUE,
    callback_id INTEGER NOT NULL REFERENCES callbacks(id),
    received_at INTEGER NOT NULL,
    message_id TEXT,
    from_number TEXT,
    context_id TEXT,
    context_from TEXT,
    type TEXT,
    text TEXT,
    flow_name TEXT,
    flow_token TEXT,
    response_json TEXT,
    timestamp TEXT,
    timestamp_unix INTEGER,
    trace_id TEXT,
    business_number TEXT,
    phone_number_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_context_id ON messages(context_id);
CREATE INDEX IF NOT EXISTS messages_flow_token ON messages(flow_token);
CREATE INDEX IF NOT EXISTS messages_from ON messages(from_number);
CREATE TABLE IF NOT EXISTS opt_outs (
    id INTEGER PRIMARY KEY,
    event_key BLOB NOT NULL UNIQUE,        -- the message's
    callback_id INTEGER NOT NULL REFERENCES callbacks(id),
    received_at INTEGER NOT NULL,
    number TEXT NOT NULL,
    word TEXT NOT NULL,
    message_id TEXT,
    timestamp_unix INTEGER
);
CREATE INDEX IF NOT EXISTS opt_outs_number ON opt_outs(number);
";

/// The columns layout 2 added at the end of `statuses` (what Meta charged), with their types: a
/// receiver adds them to a store of layout 1, so that its columns end as a new store's do.
const ADDED_IN_2: [(&str, &str); 3] = [
    ("billable", "INTEGER"),
    ("pricing_model", "TEXT"),
    ("pricing_category", "TEXT"),
];

/// Brings a store of an older layout (its tables already created where missing) up to this
/// one, inside the receiver's transaction that then sets the version: either all of it is done,
/// or none.
pub(super) fn upgrade(connection: &Connection) -> rusqlite::Result<()> {
    let found = columns(connection, "statuses")?;
    for (name, kind) in ADDED_IN_2 {
        if !found.iter().any(|column| column == name) {
            connection.execute_batch(&format!("ALTER TABLE statuses ADD COLUMN {name} {kind}"))?;
        }
    }
    Ok(())
}

pub(super) enum LayoutError {
    Sqlite(rusqlite::Error),
    NotAStore(String),
    /// `PRAGMA user_version`, when it is not a layout this flowc can use.
    Version(i64),
}

impl From<rusqlite::Error> for LayoutError {
    fn from(error: rusqlite::Error) -> LayoutError {
        LayoutError::Sqlite(error)
    }
}

/// The columns of a table, in order.
fn columns(connection: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let names = statement.query_map([table], |row| row.get(0))?;
    names.collect()
}

/// Whether a database is a flowc event store this version can write (or empty): no newer
/// layout, no other tables, and each of the store's tables with the columns it has here. A store
/// with the right table names and other columns would start, then fail every commit.
pub(super) fn check_layout(connection: &Connection, access: Access) -> Result<(), LayoutError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    // A newer layout may hold other tables: it is said as such, before they are looked at.
    if version > VERSION {
        return Err(LayoutError::Version(version));
    }
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if tables.iter().any(|table| !TABLES.contains(&table.as_str())) {
        return Err(LayoutError::NotAStore(if tables.iter().any(|table| table == "rows") {
            "is a campaign journal, not a flowc event store".to_owned()
        } else {
            "holds other tables: it is not a flowc event store".to_owned()
        }));
    }
    // The receiver creates what is missing and sets the version; a reader needs all of it.
    if access == Access::Read {
        if tables.len() < TABLES.len() {
            return Err(LayoutError::NotAStore(
                "holds no callbacks: it is not a flowc event store".to_owned(),
            ));
        }
        if version != VERSION {
            return Err(LayoutError::Version(version));
        }
    }
    let expected = Connection::open_in_memory()?;
    expected.execute_batch(SCHEMA)?;
    for table in &tables {
        let want = columns(&expected, table)?;
        let found = columns(connection, table)?;
        // A layout-1 store's statuses, which the receiver upgrades.
        let older = access == Access::Write
            && version < VERSION
            && table == "statuses"
            && found.len() + ADDED_IN_2.len() == want.len()
            && want.starts_with(&found);
        if want != found && !older {
            return Err(LayoutError::NotAStore(format!(
                "has a `{table}` table with other columns ({}; a flowc event store's are {}): not an event store this flowc can write (left as it is)",
                found.join(", "),
                want.join(", ")
            )));
        }
    }
    Ok(())
}

/// The store's tables, every one of them made by the receiver at once.
pub(super) const TABLES: [&str; 4] = ["callbacks", "messages", "opt_outs", "statuses"];

/// What to do with a damaged store.
pub(super) const DAMAGED: &str = "restore it from a backup (with the receiver stopped), or name a new file with --store; flowc does not write into a damaged store";

/// How long the integrity check at start may take: a large store is checked as far as this
/// allows (a damaged header or schema, the usual result of a file copied over a running
/// store, shows at once).
const INTEGRITY_CHECK_TIME: Duration = Duration::from_secs(3);

/// SQLite's quick integrity check (b-tree structure, not index contents), cut off after
/// [`INTEGRITY_CHECK_TIME`].
pub(super) fn check_integrity(connection: &Connection) -> Result<(), LayoutError> {
    let interrupt = connection.get_interrupt_handle();
    let (done, finished) = std_mpsc::channel::<()>();
    let timer = thread::spawn(move || {
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(INTEGRITY_CHECK_TIME) {
            interrupt.interrupt();
        }
    });
    let result: rusqlite::Result<String> = connection.query_row("PRAGMA quick_check(1)", [], |row| row.get(0));
    drop(done);
    let _ = timer.join();
    match result {
        Ok(verdict) if verdict == "ok" => Ok(()),
        Ok(verdict) => Err(LayoutError::NotAStore(format!(
            "is damaged (SQLite's integrity check: {verdict}): {DAMAGED}"
        ))),
        Err(error) if error.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => Ok(()),
        Err(error) => Err(LayoutError::Sqlite(error)),
    }
}
