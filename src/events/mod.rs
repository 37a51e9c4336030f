//! The event store: the provider's callbacks as `flowc receive` stores them, and as `flowc send
//! --events` (opt-outs, throttles) and `flowc report --events` read them. This module is its one
//! owner: the layout and its version, opening it (as the receiver's writer, or read-only), the
//! table and column names, the queries each command needs, its one error type and how a stored
//! number is read. Nothing outside writes SQL against the store.
//!
//! A store is named by a [`StoreLocation`]; each backend sits behind the same types
//! ([`Store`] and [`StoreWriter`] for the receiver, [`EventReader`] for the report,
//! [`EventFeed`] and [`OptOutReader`] for a campaign while it runs), each an enum with one
//! variant a backend. SQLite (one file, embedded) is the default.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::receive::event::Event;
use crate::receive::parse::Unrecognised;

pub(crate) mod postgres;
mod sqlite;

/// The store's layout version: a receiver creates (or upgrades) the layout it knows; a reader
/// refuses a store of another version rather than misread it.
pub(crate) const VERSION: i64 = 1;

/// Where the event store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreLocation {
    /// A SQLite file (`--store`, `--events`), created by the receiver if needed.
    Sqlite(PathBuf),
}

impl From<PathBuf> for StoreLocation {
    /// What `--store` and `--events` name. (A database URL will be told from a path here.)
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::Sqlite(path)
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> StoreLocation {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

impl fmt::Display for StoreLocation {
    /// As messages name it (never with a secret).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => path.display().fmt(formatter),
        }
    }
}

/// How a store is opened: what its errors ask the user to do depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// By `flowc receive`, to write callbacks into.
    Write,
    /// By `flowc send --events` or `flowc report --events`, to read.
    Read,
}

/// Everything that can go wrong with the event store, for every command that opens it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    #[error("there is no event store `{store}`")]
    Missing { store: String },
    #[error("the event store `{store}` {problem}")]
    NotAStore {
        store: String,
        problem: String,
        access: Access,
    },
    #[error("the event store `{store}` {}", version_problem(*found))]
    OtherVersion { store: String, found: i64, access: Access },
    #[error("event store `{store}`: {source}")]
    Sqlite {
        store: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A store followed during a run (see [`OptOutReader`]) is gone, and with it the opt-outs.
    #[error("the event store `{store}` was moved away during the run and no store is at its path now ({reason}): a STOP stored elsewhere could not be honoured")]
    Gone { store: String, reason: String },
    /// The file at the store's path is no longer the one the receiver writes (moved, deleted or
    /// replaced by a backup): what it commits would reach nobody, so nothing is acknowledged.
    #[error("the event store `{store}` is no longer at its path (moved, deleted or replaced while the receiver runs): callbacks are answered 503 until it is restored or the receiver restarted")]
    Replaced { store: String },
    /// Another file's bytes were copied over the store's own (a backup restored with `cp`):
    /// SQLite's write-ahead log no longer fits the file, and writing on would damage it.
    #[error("the event store `{store}` was overwritten in place (another file copied over it) while the receiver runs: callbacks are answered 503 and nothing more is written into it")]
    Overwritten { store: String },
    /// A commit failed (the disk is full, the file was removed…); the callbacks it held were
    /// answered 503, so the provider sends them again.
    #[error("the event store could not commit: {0}")]
    Failed(String),
    /// The same, as every callback of the failed group is told.
    #[error("the event store could not commit: {0}")]
    Commit(std::sync::Arc<EventsError>),
}

fn version_problem(found: i64) -> String {
    if found > VERSION {
        format!("was written by a newer flowc (layout {found}; this one knows {VERSION})")
    } else {
        format!("has layout {found}, which this flowc does not read (it knows layout {VERSION}; `flowc receive` upgrades a store it opens)")
    }
}

impl EventsError {
    /// What the user can do about it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            EventsError::NotAStore {
                access: Access::Write, ..
            } => Some("name a new file or an existing flowc event store with --store".to_owned()),
            EventsError::Missing { .. } | EventsError::NotAStore { .. } => Some(
                "name the store `flowc receive` writes the callbacks to: its --store, by default flowc-events.sqlite in the directory it runs in".to_owned(),
            ),
            EventsError::OtherVersion { found, .. } if *found > VERSION => Some(
                "use the flowc that wrote the store (or a newer one): this one cannot tell what its layout means".to_owned(),
            ),
            EventsError::OtherVersion { .. } => {
                Some("start `flowc receive` on the store once: it brings the layout up to date".to_owned())
            }
            EventsError::Replaced { .. } => Some(
                "put the store back at its path, or restart flowc receive (it starts a new store there)".to_owned(),
            ),
            EventsError::Overwritten { .. } => Some(
                "stop flowc receive and start it on a new --store (the provider sends the callbacks answered 503 again); restore a backup with the receiver stopped, with its `-wal` removed".to_owned(),
            ),
            EventsError::Sqlite { .. } | EventsError::Gone { .. } | EventsError::Failed(_) | EventsError::Commit(_) => {
                None
            }
        }
    }
}

/// A number as the store keeps it (`919876543210`, without `+`, as the provider writes it; or
/// with spaces or dashes, as whoever typed it) as the key a row's recipients are compared with:
/// its digits, read as `to` is read. The one reading of stored numbers: the send watch's
/// opt-outs, the report's opt-outs and replies.
pub(crate) fn number_of(number: &str) -> Option<u64> {
    crate::phone::number_key(number, crate::phone::Reading::Provider)
        .ok()
        .map(|(key, _)| key)
}

/// A request as received, its secrets already removed, with what was read from it.
#[derive(Debug)]
pub(crate) struct Callback {
    /// Unix milliseconds.
    pub(crate) received_at: i64,
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) outcome: Result<Vec<Event>, Unrecognised>,
}

impl Callback {
    /// What makes two deliveries the same request (the path is left out: the same event sent
    /// to `/` and to `/status` is one event).
    pub(crate) fn digest(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        for part in [
            self.method.as_bytes(),
            self.query.as_deref().unwrap_or_default().as_bytes(),
            &self.body,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }
}

/// What a commit did with one callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Saved {
    /// The callback, or every event in it, was stored before.
    pub(crate) duplicate: bool,
    pub(crate) statuses: u64,
    pub(crate) messages: u64,
    pub(crate) opt_outs: u64,
}

/// The store opened by the receiver, checked and ready to be written.
pub(crate) enum Store {
    Sqlite(sqlite::Store),
}

impl Store {
    /// Opens the store, creating it (or bringing its layout up to date) if needed. Refuses
    /// what is not an event store, a damaged one, or one of a newer layout.
    pub(crate) fn open(location: &StoreLocation) -> Result<Store, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => sqlite::Store::open(path).map(Store::Sqlite),
        }
    }
}

/// The store's writer: callbacks committed in groups, each answered only once on disk.
pub(crate) enum StoreWriter {
    Sqlite(sqlite::StoreWriter),
}

/// A cheap handle for the request handlers.
#[derive(Clone)]
pub(crate) enum StoreHandle {
    Sqlite(sqlite::StoreHandle),
}

impl StoreWriter {
    pub(crate) fn spawn(store: Store) -> StoreWriter {
        match store {
            Store::Sqlite(store) => StoreWriter::Sqlite(sqlite::StoreWriter::spawn(store)),
        }
    }

    pub(crate) fn handle(&self) -> StoreHandle {
        match self {
            StoreWriter::Sqlite(writer) => StoreHandle::Sqlite(writer.handle()),
        }
    }

    /// Waits for every queued callback to be committed (once every handle is dropped), then
    /// closes the store.
    pub(crate) fn finish(self) -> Result<(), EventsError> {
        match self {
            StoreWriter::Sqlite(writer) => writer.finish(),
        }
    }
}

impl StoreHandle {
    /// Stores a callback and waits until it is committed.
    pub(crate) async fn save(&self, callback: Callback) -> Result<Saved, EventsError> {
        match self {
            StoreHandle::Sqlite(handle) => handle.save(callback).await,
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

/// The store as a report reads it: one consistent snapshot, each table streamed in the order
/// it was stored, so that memory does not grow with the number of events.
pub(crate) enum EventReader {
    Sqlite(sqlite::EventReader),
}

impl EventReader {
    pub(crate) fn open(location: &StoreLocation) -> Result<EventReader, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => sqlite::EventReader::open(path).map(EventReader::Sqlite),
        }
    }

    /// Every status, in the order stored.
    pub(crate) fn for_each_status(&self, visit: impl FnMut(&StatusRow<'_>)) -> Result<(), EventsError> {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_status(visit),
        }
    }

    /// Every completed Flow, in the order stored. The store keeps each message once, however
    /// often it was delivered.
    pub(crate) fn for_each_flow_reply<E>(&self, visit: impl FnMut(&ReplyRow<'_>) -> Result<(), E>) -> Result<(), E>
    where
        E: From<EventsError>,
    {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_flow_reply(visit),
        }
    }

    /// Every opt-out (`STOP`), in the order stored: its number's key ([`number_of`]; `None`
    /// when it is no number) and its time.
    pub(crate) fn for_each_opt_out(&self, mut visit: impl FnMut(Option<u64>, i64)) -> Result<(), EventsError> {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_opt_out(|number, time| visit(number_of(number), time)),
        }
    }
}

/// Whether `location` is an event store (to tell a user who swapped the journal and the store
/// which is which).
pub(crate) fn is_event_store(location: &StoreLocation) -> bool {
    EventReader::open(location).is_ok()
}

/// A status stored since the feed's last look, as a running campaign weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewStatus {
    pub(crate) failed: bool,
    /// Meta's error code, empty when it carried none.
    pub(crate) code: String,
}

/// What is new since the last look.
#[derive(Debug, Default)]
pub(crate) struct Fresh {
    pub(crate) opt_outs: Vec<u64>,
    /// The new statuses of this campaign (all of them when it is not tracked), oldest first.
    pub(crate) statuses: Vec<NewStatus>,
}

/// The store as a running campaign reads it: new opt-outs and statuses since the last look,
/// statuses stored before the feed opened left out (they are history).
pub(crate) struct EventFeed {
    statuses: StatusFeed,
    /// Until handed to the sending tasks ([`EventFeed::take_opt_outs`]).
    opt_outs: Option<OptOutReader>,
}

enum StatusFeed {
    Sqlite(sqlite::StatusFeed),
}

/// The store's opt-outs, read since the last look: cheap enough to run right before every
/// request.
#[derive(Debug)]
pub(crate) enum OptOutReader {
    Sqlite(sqlite::OptOutReader),
}

impl OptOutReader {
    /// The numbers that opted out since the last call (every one ever, the first time), as
    /// keys ([`number_of`]).
    pub(crate) fn fresh(&mut self) -> Result<Vec<u64>, EventsError> {
        match self {
            OptOutReader::Sqlite(reader) => reader.fresh(),
        }
    }
}

impl EventFeed {
    /// `track_prefix`: only statuses whose `ref`, `ref1` or `ref2` starts with it (the
    /// `--track` prefix of this campaign); all statuses without one.
    pub(crate) fn open(location: &StoreLocation, track_prefix: Option<String>) -> Result<EventFeed, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => Ok(EventFeed {
                statuses: StatusFeed::Sqlite(sqlite::StatusFeed::open(path, track_prefix)?),
                opt_outs: Some(OptOutReader::Sqlite(sqlite::OptOutReader::open(path)?)),
            }),
        }
    }

    /// Hands the opt-out reader (past every opt-out read so far) to the sending tasks, which
    /// look right before each request; the feed then reads statuses only.
    pub(crate) fn take_opt_outs(&mut self) -> Option<OptOutReader> {
        self.opt_outs.take()
    }

    /// Opt-outs (while the feed still reads them) and statuses stored since the last call
    /// (every opt-out ever, the first time).
    pub(crate) fn poll(&mut self) -> Result<Fresh, EventsError> {
        let opt_outs = match self.opt_outs.as_mut() {
            Some(reader) => reader.fresh()?,
            None => Vec::new(),
        };
        let statuses = match &mut self.statuses {
            StatusFeed::Sqlite(feed) => feed.fresh()?,
        };
        Ok(Fresh { opt_outs, statuses })
    }
}

/// When each number last wrote to the business (its 24-hour window opened then), as a
/// campaign with `--outside-window` reads it: every incoming message once, then only the new
/// ones, so a person who writes during the run is seen at the next look.
#[derive(Debug)]
pub(crate) enum IncomingReader {
    Sqlite(sqlite::IncomingReader),
}

impl IncomingReader {
    pub(crate) fn open(location: &StoreLocation) -> Result<IncomingReader, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => sqlite::IncomingReader::open(path).map(IncomingReader::Sqlite),
        }
    }

    /// The last incoming message time per number: calls `visit` with the key of the sender
    /// ([`number_of`]) and the message's time (Unix seconds) for every incoming message stored
    /// since the last call (every one, the first time), streamed in the order stored.
    pub(crate) fn last_incoming(&mut self, mut visit: impl FnMut(u64, i64)) -> Result<(), EventsError> {
        match self {
            IncomingReader::Sqlite(reader) => reader.since_last(|number, time| {
                if let Some(key) = number_of(number) {
                    visit(key, time);
                }
            }),
        }
    }
}
