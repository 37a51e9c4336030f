//! The store as `flowc report` and `flowc send --events` read it: opened read-only, its layout
//! and version checked as the receiver checks them, while `flowc receive` goes on writing (WAL
//! with SQLite's normal locking lets readers and the writer work at once).
//!
//! The report reads in one read transaction (one consistent snapshot), each table streamed in
//! the order it was stored, so that memory does not grow with the number of events. A running
//! campaign reads what is new since its last look (a range read of each table's rowid). A store
//! rotated during the run (moved away, a new one started at its path) is followed: each look
//! checks that the path still leads to the file opened (a `stat`), and opens the new file
//! otherwise, reading its opt-outs from the start; with no store at the path, the look fails.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use super::open_read_only;
use crate::events::{number_of, Access, EventsError, NewStatus, ReplyRow, StatusRow};

pub(crate) struct EventReader {
    connection: Connection,
    path: String,
}

/// The callback's timestamp, else the moment the receiver stored it (milliseconds).
const TIME: &str = "COALESCE(timestamp_unix, received_at / 1000)";

impl EventReader {
    pub(crate) fn open(path: &Path) -> Result<EventReader, EventsError> {
        let connection = open_read_only(path, Access::Read)?;
        let name = path.display().to_string();
        // One snapshot for every table read: the counts and the rows agree with each other
        // however many callbacks arrive meanwhile.
        connection
            .execute_batch("BEGIN")
            .map_err(|source| EventsError::Sqlite {
                store: name.clone(),
                source,
            })?;
        Ok(EventReader { connection, path: name })
    }

    fn sqlite(&self, source: rusqlite::Error) -> EventsError {
        EventsError::Sqlite {
            store: self.path.clone(),
            source,
        }
    }

    /// Every status, in the order stored, until `visit` says to stop.
    pub(crate) fn for_each_status_until(
        &self,
        mut visit: impl FnMut(&StatusRow<'_>) -> ControlFlow<()>,
    ) -> Result<(), EventsError> {
        let sqlite = |error| self.sqlite(error);
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT status, message_id, provider_message_id, ref, ref1, ref2, {TIME},
                        error_code, error_title, error_detail, billable, pricing_category
                 FROM statuses ORDER BY id"
            ))
            .map_err(sqlite)?;
        let mut rows = statement.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let text = |index: usize| -> Result<Option<&str>, EventsError> {
                row.get_ref(index)
                    .and_then(|value| Ok(value.as_str_or_null()?))
                    .map_err(sqlite)
            };
            if visit(&StatusRow {
                status: text(0)?.unwrap_or_default(),
                message_id: text(1)?,
                provider_message_id: text(2)?,
                refs: [text(3)?, text(4)?, text(5)?],
                time: row.get::<_, Option<i64>>(6).map_err(sqlite)?.unwrap_or_default(),
                error_code: text(7)?,
                error_title: text(8)?,
                error_detail: text(9)?,
                billable: row.get::<_, Option<bool>>(10).map_err(sqlite)?,
                pricing_category: text(11)?,
            })
            .is_break()
            {
                break;
            }
        }
        Ok(())
    }

    /// The ids and refs of every status after the first `skip`, in the order stored (the other
    /// fields of the [`StatusRow`] are empty): what a row's ids are learned from, read alone.
    pub(crate) fn for_each_status_ids(
        &self,
        skip: u64,
        mut visit: impl FnMut(&StatusRow<'_>),
    ) -> Result<(), EventsError> {
        let sqlite = |error| self.sqlite(error);
        let mut statement = self
            .connection
            .prepare(
                "SELECT message_id, provider_message_id, ref, ref1, ref2
                 FROM statuses ORDER BY id LIMIT -1 OFFSET ?1",
            )
            .map_err(sqlite)?;
        let mut rows = statement
            .query([i64::try_from(skip).unwrap_or(i64::MAX)])
            .map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let text = |index: usize| -> Result<Option<&str>, EventsError> {
                row.get_ref(index)
                    .and_then(|value| Ok(value.as_str_or_null()?))
                    .map_err(sqlite)
            };
            visit(&StatusRow {
                message_id: text(0)?,
                provider_message_id: text(1)?,
                refs: [text(2)?, text(3)?, text(4)?],
                ..StatusRow::default()
            });
        }
        Ok(())
    }

    /// Every completed Flow, in the order stored. The store keeps each message once, however
    /// often it was delivered.
    pub(crate) fn for_each_flow_reply<E>(&self, mut visit: impl FnMut(&ReplyRow<'_>) -> Result<(), E>) -> Result<(), E>
    where
        E: From<EventsError>,
    {
        let sqlite = |error| self.sqlite(error);
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT from_number, context_id, flow_token, response_json, {TIME}
                 FROM messages WHERE response_json IS NOT NULL OR flow_token IS NOT NULL ORDER BY id"
            ))
            .map_err(sqlite)?;
        let mut rows = statement.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let text = |index: usize| -> Result<Option<&str>, EventsError> {
                row.get_ref(index)
                    .and_then(|value| Ok(value.as_str_or_null()?))
                    .map_err(sqlite)
            };
            visit(&ReplyRow {
                from: text(0)?,
                context_id: text(1)?,
                flow_token: text(2)?,
                response_json: text(3)?,
                time: row.get::<_, Option<i64>>(4).map_err(sqlite)?.unwrap_or_default(),
            })?;
        }
        Ok(())
    }

    /// The number of every opt-out (`STOP`) and its time, in the order stored.
    pub(crate) fn for_each_opt_out(&self, mut visit: impl FnMut(&str, i64)) -> Result<(), EventsError> {
        let sqlite = |error| self.sqlite(error);
        let mut statement = self
            .connection
            .prepare(&format!("SELECT number, {TIME} FROM opt_outs ORDER BY id"))
            .map_err(sqlite)?;
        let mut rows = statement.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let number = row
                .get_ref(0)
                .and_then(|value| Ok(value.as_str_or_null()?))
                .map_err(sqlite)?;
            visit(
                number.unwrap_or_default(),
                row.get::<_, Option<i64>>(1).map_err(sqlite)?.unwrap_or_default(),
            );
        }
        Ok(())
    }
}

/// A file's device and inode: what the store's path must still lead to.
type Identity = (u64, u64);

fn identity_of(metadata: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.dev(), metadata.ino())
}

/// Opens the store read-only (see [`open_read_only`]); its identity.
fn open_followed(path: &Path) -> Result<(Connection, Identity), EventsError> {
    let connection = open_read_only(path, Access::Read)?;
    // Taken after the checks: a store swapped in between is seen at the next look.
    let identity = std::fs::metadata(path)
        .map(|metadata| identity_of(&metadata))
        .map_err(|error| EventsError::Gone {
            store: path.display().to_string(),
            reason: error.to_string(),
        })?;
    Ok((connection, identity))
}

/// The store now at `path` when it is no longer the file `opened` (moved away, a new one in its
/// place): its connection and identity. An error when no store is there: nobody can say who
/// opted out.
fn follow(path: &Path, opened: Identity) -> Result<Option<(Connection, Identity)>, EventsError> {
    match std::fs::metadata(path) {
        Ok(metadata) if identity_of(&metadata) == opened => Ok(None),
        Ok(_) => open_followed(path).map(Some),
        Err(error) => Err(EventsError::Gone {
            store: path.display().to_string(),
            reason: error.to_string(),
        }),
    }
}

fn unreadable(path: &Path, source: rusqlite::Error) -> EventsError {
    EventsError::Sqlite {
        store: path.display().to_string(),
        source,
    }
}

/// The store's opt-outs, read since the last look on a connection of their own.
#[derive(Debug)]
pub(crate) struct OptOutReader {
    connection: Connection,
    file: PathBuf,
    identity: Identity,
    last: i64,
}

impl OptOutReader {
    pub(crate) fn open(path: &Path) -> Result<OptOutReader, EventsError> {
        let (connection, identity) = open_followed(path)?;
        Ok(OptOutReader {
            connection,
            file: path.to_owned(),
            identity,
            last: 0,
        })
    }

    /// The numbers that opted out since the last call (every one ever, the first time, and
    /// every one of a new store found at the path).
    pub(crate) fn fresh(&mut self) -> Result<Vec<u64>, EventsError> {
        if let Some((connection, identity)) = follow(&self.file, self.identity)? {
            self.connection = connection;
            self.identity = identity;
            self.last = 0;
        }
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, number FROM opt_outs WHERE id > ?1 ORDER BY id")
            .map_err(|error| unreadable(&self.file, error))?;
        let opt_outs: Vec<(i64, String)> = statement
            .query_map([self.last], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|error| unreadable(&self.file, error))?;
        drop(statement);
        let mut numbers = Vec::with_capacity(opt_outs.len());
        for (id, number) in opt_outs {
            self.last = id;
            if let Some(key) = number_of(&number) {
                numbers.push(key);
            }
        }
        Ok(numbers)
    }
}

/// The store's statuses, read since the last look.
pub(crate) struct StatusFeed {
    connection: Connection,
    file: PathBuf,
    identity: Identity,
    last: i64,
    track_prefix: Option<String>,
}

impl StatusFeed {
    pub(crate) fn open(path: &Path, track_prefix: Option<String>) -> Result<StatusFeed, EventsError> {
        let (connection, identity) = open_followed(path)?;
        // Statuses from before this run are history: the throttles react to what happens now.
        let last = connection
            .query_row("SELECT max(id) FROM statuses", [], |row| row.get::<_, Option<i64>>(0))
            .optional()
            .map_err(|error| unreadable(path, error))?
            .flatten()
            .unwrap_or(0);
        Ok(StatusFeed {
            connection,
            file: path.to_owned(),
            identity,
            last,
            track_prefix,
        })
    }

    /// The statuses stored since the last call, of this campaign when it is tracked.
    pub(crate) fn fresh(&mut self) -> Result<Vec<NewStatus>, EventsError> {
        // A new store's statuses all come from after the rotation, during this run.
        if let Some((connection, identity)) = follow(&self.file, self.identity)? {
            self.connection = connection;
            self.identity = identity;
            self.last = 0;
        }
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT id, status, error_code, coalesce(ref, ''), coalesce(ref1, ''), coalesce(ref2, '')
                 FROM statuses WHERE id > ?1 ORDER BY id LIMIT 10000",
            )
            .map_err(|error| unreadable(&self.file, error))?;
        type Status = (i64, String, Option<String>, String, String, String);
        let statuses: Vec<Status> = statement
            .query_map([self.last], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|error| unreadable(&self.file, error))?;
        drop(statement);
        let mut fresh = Vec::with_capacity(statuses.len());
        for (id, status, code, reference, ref1, ref2) in statuses {
            self.last = id;
            if let Some(prefix) = &self.track_prefix {
                if ![&reference, &ref1, &ref2]
                    .iter()
                    .any(|value| value.starts_with(prefix.as_str()))
                {
                    continue;
                }
            }
            fresh.push(NewStatus {
                failed: status.eq_ignore_ascii_case("failed"),
                code: code.unwrap_or_default(),
            });
        }
        Ok(fresh)
    }
}

/// When each number last wrote to the business: the store's incoming messages, read since the
/// last look on a connection of their own (every one the first time, streamed).
#[derive(Debug)]
pub(crate) struct IncomingReader {
    connection: Connection,
    file: PathBuf,
    identity: Identity,
    last: i64,
}

impl IncomingReader {
    pub(crate) fn open(path: &Path) -> Result<IncomingReader, EventsError> {
        let (connection, identity) = open_followed(path)?;
        Ok(IncomingReader {
            connection,
            file: path.to_owned(),
            identity,
            last: 0,
        })
    }

    /// Calls `visit` with the sender and the time (Unix seconds) of every incoming message
    /// stored since the last call (every one the first time, and every one of a new store found
    /// at the path), in the order stored, one row in memory at a time.
    pub(crate) fn since_last(&mut self, mut visit: impl FnMut(&str, i64)) -> Result<(), EventsError> {
        if let Some((connection, identity)) = follow(&self.file, self.identity)? {
            self.connection = connection;
            self.identity = identity;
            self.last = 0;
        }
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT id, from_number, {TIME} FROM messages WHERE id > ?1 AND from_number IS NOT NULL ORDER BY id"
            ))
            .map_err(|error| unreadable(&self.file, error))?;
        let mut rows = statement
            .query([self.last])
            .map_err(|error| unreadable(&self.file, error))?;
        while let Some(row) = rows.next().map_err(|error| unreadable(&self.file, error))? {
            let id: i64 = row.get(0).map_err(|error| unreadable(&self.file, error))?;
            let number = row
                .get_ref(1)
                .and_then(|value| Ok(value.as_str_or_null()?))
                .map_err(|error| unreadable(&self.file, error))?;
            let time = row
                .get::<_, Option<i64>>(2)
                .map_err(|error| unreadable(&self.file, error))?
                .unwrap_or_default();
            self.last = id;
            visit(number.unwrap_or_default(), time);
        }
        Ok(())
    }
}
