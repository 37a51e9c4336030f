//! The event store as a report reads it: opened read-only, in one read transaction (one
//! consistent snapshot while `flowc receive` goes on writing: the store is WAL with SQLite's
//! normal locking), each table streamed in the order it was stored so that memory does not grow
//! with the number of events.
//!
//! The layout is `receive::store`'s; only the columns a campaign is matched on are read.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    #[error("there is no event store `{path}`")]
    Missing { path: String },
    #[error("the event store `{path}` {problem}")]
    NotAStore { path: String, problem: String },
    #[error("event store `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
}

impl EventsError {
    /// What the user can do about it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            EventsError::Missing { .. } | EventsError::NotAStore { .. } => Some(
                "name the store `flowc receive` writes the callbacks to: its --store, by default flowc-events.sqlite in the directory it runs in".to_owned(),
            ),
            EventsError::Sqlite { .. } => None,
        }
    }
}

/// A status callback, borrowed from the row being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusRow<'a> {
    pub(crate) status: &'a str,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) provider_message_id: Option<&'a str>,
    /// `extra_info.ref`, `ref1`, `ref2` as echoed.
    pub(crate) refs: [Option<&'a str>; 3],
    /// The callback's own time (Unix seconds), or when it was stored if it carried none.
    pub(crate) time: i64,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) error_title: Option<&'a str>,
    pub(crate) error_detail: Option<&'a str>,
}

/// A completed Flow (an incoming `nfm_reply`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyRow<'a> {
    pub(crate) from: Option<&'a str>,
    /// The id of the message it answers (`context.id`).
    pub(crate) context_id: Option<&'a str>,
    pub(crate) flow_token: Option<&'a str>,
    /// The answers, as compact JSON when they parsed, else as sent.
    pub(crate) response_json: Option<&'a str>,
    pub(crate) time: i64,
}

pub(crate) struct EventReader {
    connection: Connection,
    path: String,
}

/// The callback's timestamp, else the moment the receiver stored it (milliseconds).
const TIME: &str = "COALESCE(timestamp_unix, received_at / 1000)";

/// Whether `path` is an event store (a SQLite file with the store's tables): to tell a user who
/// swapped the journal and the store which is which.
pub(crate) fn is_event_store(path: &Path) -> bool {
    EventReader::open(path).is_ok()
}

impl EventReader {
    pub(crate) fn open(path: &Path) -> Result<EventReader, EventsError> {
        let name = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => {
                return Err(EventsError::NotAStore {
                    path: name,
                    problem: "is not a regular file".to_owned(),
                })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(EventsError::Missing { path: name })
            }
            Err(error) => {
                return Err(EventsError::NotAStore {
                    path: name,
                    problem: format!("cannot be read: {}", crate::input::io_reason(&error)),
                })
            }
        }
        let sqlite = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => EventsError::NotAStore {
                path: name.clone(),
                problem: "is not a SQLite database".to_owned(),
            },
            _ => EventsError::Sqlite {
                path: name.clone(),
                source,
            },
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        // The receiver's commits and checkpoints hold the store for moments only.
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite)?;
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('statuses', 'messages', 'opt_outs')",
                [],
                |row| row.get(0),
            )
            .map_err(sqlite)?;
        if tables != 3 {
            let journal: bool = connection
                .query_row(
                    "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'rows'",
                    [],
                    |row| row.get(0),
                )
                .map_err(sqlite)?;
            return Err(EventsError::NotAStore {
                path: name,
                problem: if journal {
                    "is a campaign journal, not an event store".to_owned()
                } else {
                    "holds no callbacks: it is not a flowc event store".to_owned()
                },
            });
        }
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sqlite)?;
        if version > crate::receive::store::VERSION {
            return Err(EventsError::NotAStore {
                path: name,
                problem: format!(
                    "was written by a newer flowc (layout {version}; this one knows {})",
                    crate::receive::store::VERSION
                ),
            });
        }
        // One snapshot for every table read: the counts and the rows agree with each other
        // however many callbacks arrive meanwhile.
        connection.execute_batch("BEGIN").map_err(sqlite)?;
        Ok(EventReader { connection, path: name })
    }

    fn sqlite(&self, source: rusqlite::Error) -> EventsError {
        EventsError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Every status, in the order stored.
    pub(crate) fn for_each_status(&self, mut visit: impl FnMut(&StatusRow<'_>)) -> Result<(), EventsError> {
        let sqlite = |error| self.sqlite(error);
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT status, message_id, provider_message_id, ref, ref1, ref2, {TIME},
                        error_code, error_title, error_detail
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
            visit(&StatusRow {
                status: text(0)?.unwrap_or_default(),
                message_id: text(1)?,
                provider_message_id: text(2)?,
                refs: [text(3)?, text(4)?, text(5)?],
                time: row.get::<_, Option<i64>>(6).map_err(sqlite)?.unwrap_or_default(),
                error_code: text(7)?,
                error_title: text(8)?,
                error_detail: text(9)?,
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
