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
/// refuses a store of another version rather than misread it. Layout 2 keeps what Meta charged
/// for each message (a status's `pricing`).
pub(crate) const VERSION: i64 = 2;

/// Where the event store is.
#[derive(Debug, Clone)]
pub(crate) enum StoreLocation {
    /// A SQLite file (`--store`, `--events`), created by the receiver if needed.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`, `postgresql://…`), shared by several receivers.
    Postgres(postgres::StoreUrl),
}

impl StoreLocation {
    /// What `--store` or `--events` names: a value starting with `postgres://` or
    /// `postgresql://` is a PostgreSQL store (its password from the URL, else `password_file`,
    /// else `environment`, PGPASSWORD as the command read it), anything else a SQLite file.
    pub(crate) fn parse(
        value: &Path,
        password_file: Option<&Path>,
        environment: Option<crate::secret::Secret>,
    ) -> Result<StoreLocation, EventsError> {
        match value.to_str().filter(|text| postgres::is_postgres_url(text)) {
            Some(text) => {
                let sources = postgres::PasswordSources {
                    file: password_file,
                    environment,
                };
                Ok(StoreLocation::Postgres(postgres::StoreUrl::parse(text, &sources)?))
            }
            None if password_file.is_some() => Err(EventsError::PasswordForFile {
                store: value.display().to_string(),
            }),
            None => Ok(StoreLocation::Sqlite(value.to_path_buf())),
        }
    }
}

/// Whether `--store` or `--events` names a PostgreSQL database rather than a file (files'
/// checks, such as for links planted beside them, are not for it).
pub(crate) fn names_database(value: &Path) -> bool {
    value.to_str().is_some_and(postgres::is_postgres_url)
}

impl From<PathBuf> for StoreLocation {
    /// A SQLite file.
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
            StoreLocation::Postgres(url) => url.fmt(formatter),
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
    /// replaced by another file or a link): what it commits would reach nobody, so nothing more
    /// is acknowledged, and the receiver stops.
    #[error("the event store `{store}` is no longer at its path (moved, deleted or replaced while the receiver ran): nothing more was acknowledged into it (callbacks were answered 503) and the receiver stopped")]
    Replaced { store: String },
    /// Another file's bytes were copied over the store's own (a backup restored with `cp`):
    /// SQLite's write-ahead log no longer fits the file, and writing on would damage it.
    #[error("the event store `{store}` was overwritten in place (another file copied over it) while the receiver runs: callbacks are answered 503 and nothing more is written into it")]
    Overwritten { store: String },
    /// SQLite found the store damaged while the receiver wrote it, or its write-ahead log was
    /// cut short or written over by another program: a checkpoint would copy the damage into
    /// the main file, so nothing more is written there, not even as the store closes.
    #[error("the event store `{store}` was found damaged while the receiver runs ({reason}): callbacks are answered 503 and nothing more is written into it")]
    Damaged { store: String, reason: String },
    /// Another receiver writes the SQLite file: two writers would each take the other's
    /// checkpoints for a backup copied over the file, and set aside the WAL the other still
    /// writes (with callbacks it acknowledged).
    #[error("the event store `{store}` is held by another program, another flowc receive writing it most likely: a SQLite store takes one receiver at a time")]
    InUse { store: String },
    /// A commit failed (the disk is full, the file was removed…); the callbacks it held were
    /// answered 503, so the provider sends them again.
    #[error("the event store could not commit: {0}")]
    Failed(String),
    /// The same, as every callback of the failed group is told.
    #[error("the event store could not commit: {0}")]
    Commit(std::sync::Arc<EventsError>),
    /// A password file given for a SQLite file, which has none: a URL mistyped, most likely.
    #[error("a password file was given for the event store `{store}`, a SQLite file, which has no password")]
    PasswordForFile { store: String },
    /// A PostgreSQL store (its URL shown without the password, the driver's words scrubbed).
    #[error(transparent)]
    Postgres(#[from] postgres::PgError),
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
                "every callback acknowledged until then is in the file that was moved; start flowc receive again (a supervisor does): it stores in the file at the path, a new one if none is there".to_owned(),
            ),
            EventsError::Overwritten { .. } => Some(
                "stop flowc receive and start it on a new --store (the provider sends the callbacks answered 503 again); restore a backup with the receiver stopped, with its `-wal` removed (a receiver stopped after the copy left the copy as it was and set its `-wal` aside as `-wal.overwritten`)".to_owned(),
            ),
            EventsError::Damaged { .. } => Some(
                "stop flowc receive and start it again (it left the main file as its last checkpoint wrote it, and the `-wal` as it was found): a store still damaged is refused at start, then restore a backup with the receiver stopped or name a new file with --store. Callbacks acknowledged since that checkpoint were in the `-wal` and may be lost with it; find what wrote into the store's files".to_owned(),
            ),
            EventsError::InUse { .. } => Some(
                "stop the other receiver first, or give each its own --store; several receivers share one PostgreSQL store (--store postgres://USER@HOST/DATABASE)".to_owned(),
            ),
            EventsError::Postgres(error) => error.help(),
            EventsError::PasswordForFile { .. } => Some(
                "name the PostgreSQL store as postgres://USER@HOST:PORT/DATABASE, or drop the password file".to_owned(),
            ),
            EventsError::Sqlite { .. } | EventsError::Gone { .. } | EventsError::Failed(_) | EventsError::Commit(_) => {
                None
            }
        }
    }
}

impl EventsError {
    /// Whether the store is no longer at its path (the receiver stops, and says so then).
    pub(crate) fn is_lost(&self) -> bool {
        match self {
            EventsError::Replaced { .. } => true,
            EventsError::Commit(error) => error.is_lost(),
            _ => false,
        }
    }

    /// Whether the store could not be reached (rather than refused what it was given).
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            EventsError::Postgres(error) => error.is_unavailable(),
            _ => false,
        }
    }
}

/// Runs a call of the blocking PostgreSQL client where it may run: that client drives its own
/// runtime, which cannot start inside the receiver's or a send's (both multi-threaded).
fn off_runtime<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
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
    Sqlite(Box<sqlite::Store>),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the store, creating it (or bringing its layout up to date) if needed. Refuses
    /// what is not an event store, a damaged one, or one of a newer layout.
    pub(crate) fn open(location: &StoreLocation) -> Result<Store, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => sqlite::Store::open(path).map(|store| Store::Sqlite(Box::new(store))),
            StoreLocation::Postgres(url) => Ok(Store::Postgres(off_runtime(|| postgres::PgStore::open(url))?)),
        }
    }

    /// The layout the store had when this open brought it up to date in place (`None` when it
    /// was created, or already of this layout): the receiver says so, since readers of the
    /// older layout refuse it from then on.
    pub(crate) fn upgraded_from(&self) -> Option<i64> {
        match self {
            Store::Sqlite(store) => store.upgraded_from(),
            Store::Postgres(store) => store.upgraded_from(),
        }
    }
}

/// The store's writer: callbacks committed in groups, each answered only once on disk.
pub(crate) enum StoreWriter {
    Sqlite(sqlite::StoreWriter),
    Postgres(postgres::PgWriter),
}

/// A cheap handle for the request handlers.
#[derive(Clone)]
pub(crate) enum StoreHandle {
    Sqlite(sqlite::StoreHandle),
    Postgres(postgres::PgHandle),
}

impl StoreWriter {
    pub(crate) fn spawn(store: Store) -> StoreWriter {
        match store {
            Store::Sqlite(store) => StoreWriter::Sqlite(sqlite::StoreWriter::spawn(*store)),
            Store::Postgres(store) => StoreWriter::Postgres(postgres::PgWriter::spawn(store)),
        }
    }

    pub(crate) fn handle(&self) -> StoreHandle {
        match self {
            StoreWriter::Sqlite(writer) => StoreHandle::Sqlite(writer.handle()),
            StoreWriter::Postgres(writer) => StoreHandle::Postgres(writer.handle()),
        }
    }

    /// Waits for every queued callback to be committed (once every handle is dropped), then
    /// closes the store.
    pub(crate) fn finish(self) -> Result<(), EventsError> {
        match self {
            StoreWriter::Sqlite(writer) => writer.finish(),
            StoreWriter::Postgres(writer) => {
                writer.finish();
                Ok(())
            }
        }
    }
}

impl StoreHandle {
    /// Stores a callback and waits until it is committed. An error means it was not stored
    /// (the receiver answers 503 with `Retry-After`).
    pub(crate) async fn save(&self, callback: Callback) -> Result<Saved, EventsError> {
        match self {
            StoreHandle::Sqlite(handle) => handle.save(callback).await,
            StoreHandle::Postgres(handle) => Ok(handle.save(callback).await?),
        }
    }

    /// Why callbacks cannot be stored now, if they cannot (for `/healthz`): the database does
    /// not answer, or the SQLite writer stopped, or its file is no longer at its path.
    pub(crate) fn unavailable(&self) -> Option<&'static str> {
        match self {
            StoreHandle::Sqlite(handle) => handle.unavailable(),
            StoreHandle::Postgres(handle) => (!handle.reachable()).then_some("the event store is unreachable"),
        }
    }

    /// Resolves once the store is lost for good (a SQLite file no longer at its path): the
    /// receiver then stops, rather than answer 503 until someone notices. Never for
    /// PostgreSQL, which comes back by itself.
    pub(crate) fn lost(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        match self {
            StoreHandle::Sqlite(handle) => Box::pin(handle.lost()),
            StoreHandle::Postgres(_) => Box::pin(std::future::pending()),
        }
    }
}

/// A status callback, borrowed from the row being read.
#[derive(Debug, Clone, Copy, Default)]
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
    /// Meta's `pricing.billable` and `pricing.category`, when the status carried them.
    pub(crate) billable: Option<bool>,
    pub(crate) pricing_category: Option<&'a str>,
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
    /// Boxed, as the other: a connection is large, and one reader is opened a run.
    Sqlite(Box<sqlite::EventReader>),
    Postgres(Box<postgres::PgReader>),
}

impl EventReader {
    pub(crate) fn open(location: &StoreLocation) -> Result<EventReader, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => {
                sqlite::EventReader::open(path).map(|reader| EventReader::Sqlite(Box::new(reader)))
            }
            StoreLocation::Postgres(url) => Ok(EventReader::Postgres(Box::new(off_runtime(|| {
                postgres::PgReader::open(url)
            })?))),
        }
    }

    /// Every status, in the order stored, until `visit` says to stop.
    pub(crate) fn for_each_status_until(
        &self,
        visit: impl FnMut(&StatusRow<'_>) -> std::ops::ControlFlow<()>,
    ) -> Result<(), EventsError> {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_status_until(visit),
            EventReader::Postgres(reader) => Ok(off_runtime(|| reader.for_each_status_until(visit))?),
        }
    }

    /// Every status, in the order stored.
    pub(crate) fn for_each_status(&self, mut visit: impl FnMut(&StatusRow<'_>)) -> Result<(), EventsError> {
        self.for_each_status_until(|status| {
            visit(status);
            std::ops::ControlFlow::Continue(())
        })
    }

    /// The ids and refs of every status after the first `skip`, in the order stored; the other
    /// fields are empty. Fewer columns than [`EventReader::for_each_status`] reads.
    pub(crate) fn for_each_status_ids(&self, skip: u64, visit: impl FnMut(&StatusRow<'_>)) -> Result<(), EventsError> {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_status_ids(skip, visit),
            EventReader::Postgres(reader) => Ok(off_runtime(|| reader.for_each_status_ids(skip, visit))?),
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
            EventReader::Postgres(reader) => {
                off_runtime(|| reader.for_each_flow_reply::<Visited<E>>(wrap(visit))).map_err(Visited::into_inner)
            }
        }
    }

    /// Every opt-out (`STOP`), in the order stored: its number's key ([`number_of`]; `None`
    /// when it is no number) and its time.
    pub(crate) fn for_each_opt_out(&self, mut visit: impl FnMut(Option<u64>, i64)) -> Result<(), EventsError> {
        match self {
            EventReader::Sqlite(reader) => reader.for_each_opt_out(|number, time| visit(number_of(number), time)),
            EventReader::Postgres(reader) => Ok(off_runtime(|| {
                reader.for_each_opt_out(|number, time| visit(number_of(number), time))
            })?),
        }
    }
}

/// A visitor's own error, or the store's, as the PostgreSQL reader passes them on.
enum Visited<E> {
    Visitor(E),
    Store(postgres::PgError),
}

impl<E> From<postgres::PgError> for Visited<E> {
    fn from(error: postgres::PgError) -> Visited<E> {
        Visited::Store(error)
    }
}

impl<E: From<EventsError>> Visited<E> {
    fn into_inner(self) -> E {
        match self {
            Visited::Visitor(error) => error,
            Visited::Store(error) => E::from(EventsError::from(error)),
        }
    }
}

fn wrap<E>(
    mut visit: impl FnMut(&ReplyRow<'_>) -> Result<(), E>,
) -> impl FnMut(&ReplyRow<'_>) -> Result<(), Visited<E>> {
    move |row| visit(row).map_err(Visited::Visitor)
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
    Postgres {
        feed: PgFeedThread,
        last: i64,
        track_prefix: Option<String>,
    },
}

/// Statuses read from PostgreSQL at a time (as from SQLite).
const STATUSES_AT_ONCE: i64 = 10_000;

/// A job for a [`PgFeedThread`].
type FeedJob = Box<dyn FnOnce(&mut postgres::PgFeed) + Send>;

/// A PostgreSQL feed on a plain thread of its own: the sending tasks look at the opt-outs from
/// a send's runtime, where the blocking client cannot run (nor be dropped).
pub(crate) struct PgFeedThread {
    jobs: std::sync::mpsc::Sender<FeedJob>,
    store: String,
}

impl fmt::Debug for PgFeedThread {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PgFeedThread")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl PgFeedThread {
    /// Connects and checks the store's version, on the feed's thread.
    fn open(url: &postgres::StoreUrl) -> Result<PgFeedThread, EventsError> {
        let (jobs, queue) = std::sync::mpsc::channel::<FeedJob>();
        let (opened, wait) = std::sync::mpsc::sync_channel(1);
        let store = url.to_string();
        let url = url.clone();
        std::thread::spawn(move || {
            let mut feed = match postgres::PgFeed::open(&url) {
                Ok(feed) => {
                    let _ = opened.send(Ok(()));
                    feed
                }
                Err(error) => {
                    let _ = opened.send(Err(error));
                    return;
                }
            };
            while let Ok(job) = queue.recv() {
                job(&mut feed);
            }
        });
        let feed = PgFeedThread { jobs, store };
        wait.recv().map_err(|_| feed.closed())??;
        Ok(feed)
    }

    fn closed(&self) -> EventsError {
        EventsError::Postgres(postgres::PgError::Closed {
            store: self.store.clone(),
        })
    }

    /// Runs `call` on the feed's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut postgres::PgFeed) -> Result<T, postgres::PgError> + Send + 'static,
    ) -> Result<T, EventsError> {
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |feed| {
                let _ = answer.send(call(feed));
            }))
            .map_err(|_| self.closed())?;
        Ok(wait.recv().map_err(|_| self.closed())??)
    }
}

/// The store's opt-outs, read since the last look: cheap enough to run right before every
/// request.
#[derive(Debug)]
pub(crate) enum OptOutReader {
    Sqlite(sqlite::OptOutReader),
    Postgres { feed: PgFeedThread, last: i64 },
}

impl OptOutReader {
    /// The numbers that opted out since the last call (every one ever, the first time), as
    /// keys ([`number_of`]).
    pub(crate) fn fresh(&mut self) -> Result<Vec<u64>, EventsError> {
        match self {
            OptOutReader::Sqlite(reader) => reader.fresh(),
            OptOutReader::Postgres { feed, last } => {
                let after = *last;
                let opt_outs = feed.call(move |feed| feed.opt_outs_after(after))?;
                let mut numbers = Vec::with_capacity(opt_outs.len());
                for (id, number) in opt_outs {
                    *last = id;
                    numbers.extend(number_of(&number));
                }
                Ok(numbers)
            }
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
            StoreLocation::Postgres(url) => {
                let feed = PgFeedThread::open(url)?;
                // Statuses from before this run are history: the throttles react to what
                // happens now.
                let last = feed.call(postgres::PgFeed::last_status_id)?;
                Ok(EventFeed {
                    statuses: StatusFeed::Postgres {
                        feed,
                        last,
                        track_prefix,
                    },
                    opt_outs: Some(OptOutReader::Postgres {
                        feed: PgFeedThread::open(url)?,
                        last: 0,
                    }),
                })
            }
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
            StatusFeed::Postgres {
                feed,
                last,
                track_prefix,
            } => {
                let after = *last;
                let statuses = feed.call(move |feed| feed.statuses_after(after, STATUSES_AT_ONCE))?;
                let mut fresh = Vec::with_capacity(statuses.len());
                for status in statuses {
                    *last = status.id;
                    if let Some(prefix) = track_prefix.as_deref() {
                        if !status.refs.iter().any(|value| value.starts_with(prefix)) {
                            continue;
                        }
                    }
                    fresh.push(NewStatus {
                        failed: status.status.eq_ignore_ascii_case("failed"),
                        code: status.error_code.unwrap_or_default(),
                    });
                }
                fresh
            }
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
    Postgres { feed: PgFeedThread, last: i64 },
}

/// Incoming messages read from PostgreSQL at a time: memory stays flat however many there are.
const INCOMING_PAGE: i64 = 5_000;

impl IncomingReader {
    pub(crate) fn open(location: &StoreLocation) -> Result<IncomingReader, EventsError> {
        match location {
            StoreLocation::Sqlite(path) => sqlite::IncomingReader::open(path).map(IncomingReader::Sqlite),
            StoreLocation::Postgres(url) => Ok(IncomingReader::Postgres {
                feed: PgFeedThread::open(url)?,
                last: 0,
            }),
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
            IncomingReader::Postgres { feed, last } => loop {
                let after = *last;
                let page = feed.call(move |feed| feed.incoming_after(after, INCOMING_PAGE))?;
                for (id, number, time) in &page {
                    *last = *id;
                    if let Some(key) = number_of(number) {
                        visit(key, *time);
                    }
                }
                if (page.len() as i64) < INCOMING_PAGE {
                    return Ok(());
                }
            },
        }
    }
}
