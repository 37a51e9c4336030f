//! The event store: every callback as received, and the events read from it, in SQLite.
//!
//! A 2xx tells the provider it may forget an event, so a callback is answered only once its
//! transaction is on disk: WAL mode with `synchronous=FULL`, so a SIGKILL (or a power cut) at
//! any instant keeps every commit that was acknowledged. As in the campaign journal, one
//! writer thread ([`StoreWriter`]) commits everything queued since its last commit in one
//! transaction (group commit): one `fsync` covers many callbacks, so thousands a second are
//! stored while each is still durable before it is answered.
//!
//! Checkpoints (copying the WAL into the main file, then syncing it) are kept out of the
//! commits, where SQLite would run them and stall every callback waiting on that commit. A
//! second thread ([`BACKFILL_EVERY`]) does the bulk of the copying beside the writer's commits;
//! but a checkpoint that runs beside a busy writer never reaches the WAL's end, and only a WAL
//! copied to its end starts over. So the writer, after a batch has been answered, finishes the
//! job every [`CHECKPOINT_EVERY`]: only the pages written since the last copy are left. A lock
//! keeps the two from colliding (the writer skips its turn rather than wait). The WAL stays a
//! few seconds of callbacks long under any load.
//!
//! Unlike the journal, the store keeps SQLite's normal locking and a busy timeout: `flowc send`
//! and `flowc report` read it while the receiver writes (WAL lets readers and the writer work
//! at once).
//!
//! Tables (one row a thing, the columns a later `report` joins a campaign on):
//! - `callbacks`: the raw request (method, path, query without the token, content type, body
//!   as bytes), its digest (a callback delivered twice is stored once), whether it was
//!   understood and, if not, why;
//! - `statuses`: one row per status event (ids, status, timestamp, recipient, error, refs);
//! - `messages`: one row per incoming message (sender, the id it answers, type, text, Flow
//!   token and answers);
//! - `opt_outs`: the numbers that asked to stop, with the word and the message that asked.

use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::event::{Event, IncomingMessage, StatusEvent};
use super::parse::Unrecognised;

/// The store's layout version (`PRAGMA user_version`).
pub(crate) const VERSION: i64 = 1;

/// Callbacks committed together at most: bounds one transaction's time, so that the first
/// caller of a batch is not kept waiting behind an unbounded queue.
const MAX_BATCH: usize = 2_000;

/// Callbacks waiting for the writer at most; past that, handlers wait for room (backpressure
/// instead of memory growth).
const QUEUE: usize = 8_192;

/// How often the second thread copies the WAL's new pages into the main file.
const BACKFILL_EVERY: Duration = Duration::from_millis(250);

/// How often the writer finishes a checkpoint (so that the WAL starts over).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The size the WAL file is cut back to after it starts over (SQLite keeps its largest size
/// otherwise).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

const SCHEMA: &str = "
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
    phone_number_id TEXT
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

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("the event store `{path}` {problem}")]
    NotAStore { path: String, problem: String },
    #[error("event store `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The file at the store's path is no longer the one the receiver writes (moved, deleted or
    /// replaced by a backup): what it commits would reach nobody, so nothing is acknowledged.
    #[error("the event store `{path}` is no longer at its path (moved, deleted or replaced while the receiver runs): callbacks are answered 503 until it is restored or the receiver restarted")]
    Replaced { path: String },
    /// Another file's bytes were copied over the store's own (a backup restored with `cp`):
    /// SQLite's write-ahead log no longer fits the file, and writing on would damage it.
    #[error("the event store `{path}` was overwritten in place (another file copied over it) while the receiver runs: callbacks are answered 503 and nothing more is written into it")]
    Overwritten { path: String },
    /// A commit failed (the disk is full, the file was removed…); the callbacks it held were
    /// answered 503, so the provider sends them again.
    #[error("the event store could not commit: {0}")]
    Failed(String),
}

impl StoreError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            StoreError::NotAStore { .. } => {
                Some("name a new file or an existing flowc event store with --store".to_owned())
            }
            StoreError::Replaced { .. } => Some(
                "put the store back at its path, or restart flowc receive (it starts a new store there)".to_owned(),
            ),
            StoreError::Overwritten { .. } => Some(
                "stop flowc receive and start it on a new --store (the provider sends the callbacks answered 503 again); restore a backup with the receiver stopped, with its `-wal` removed".to_owned(),
            ),
            StoreError::Sqlite { .. } | StoreError::Failed(_) => None,
        }
    }
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
    fn digest(&self) -> [u8; 32] {
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

pub(crate) struct Store {
    connection: Connection,
    path: String,
    file: PathBuf,
    /// The device and inode of the file opened: the path must still lead to it at each commit.
    identity: (u64, u64),
    /// The main file as this receiver last left it; also the turn to checkpoint (see
    /// [`Stamp`]).
    main_file: Arc<Mutex<Stamp>>,
    /// Set once the main file was found overwritten: nothing more is committed.
    overwritten: Arc<std::sync::atomic::AtomicBool>,
}

/// The main file's size and modification time. In WAL mode only checkpoints write the main
/// file; a commit writes the `-wal`. So between two checkpoints the main file does not change,
/// and a change there is someone else's (a backup copied over it in place, same inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// A checkpoint of `connection` when the main file is as the last one left it (then the new
/// state is noted); none, and `overwritten` set, when someone else wrote it. `main_file` held.
fn checkpoint_if_ours(
    connection: &Connection,
    file: &Path,
    main_file: &mut Stamp,
    overwritten: &std::sync::atomic::AtomicBool,
    mode: &str,
) -> rusqlite::Result<()> {
    if stamp(file) != Some(*main_file) {
        overwritten.store(true, std::sync::atomic::Ordering::SeqCst);
        return Ok(());
    }
    let result = connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()));
    if let Some(now) = stamp(file) {
        *main_file = now;
    }
    result
}

/// The device and inode at a path (the file itself, not a link to it).
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

enum LayoutError {
    Sqlite(rusqlite::Error),
    NotAStore(String),
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
fn check_layout(connection: &Connection) -> Result<(), LayoutError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > VERSION {
        return Err(LayoutError::NotAStore(format!(
            "was written by a newer flowc (layout {version}; this one knows {VERSION})"
        )));
    }
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    const TABLES: [&str; 4] = ["callbacks", "statuses", "messages", "opt_outs"];
    if tables.iter().any(|table| !TABLES.contains(&table.as_str())) {
        return Err(LayoutError::NotAStore(
            "holds other tables: it is not a flowc event store (a campaign journal?)".to_owned(),
        ));
    }
    let expected = Connection::open_in_memory()?;
    expected.execute_batch(SCHEMA)?;
    for table in &tables {
        let want = columns(&expected, table)?;
        let found = columns(connection, table)?;
        if want != found {
            return Err(LayoutError::NotAStore(format!(
                "has a `{table}` table with other columns ({}; a flowc event store's are {}): not an event store this flowc can write (left as it is)",
                found.join(", "),
                want.join(", ")
            )));
        }
    }
    Ok(())
}

/// What to do with a damaged store.
const DAMAGED: &str = "restore it from a backup (with the receiver stopped), or name a new file with --store; flowc does not write into a damaged store";

/// How long the integrity check at start may take: a large store is checked as far as this
/// allows (a damaged header or schema, the usual result of a file copied over a running
/// store, shows at once).
const INTEGRITY_CHECK_TIME: Duration = Duration::from_secs(3);

/// SQLite's quick integrity check (b-tree structure, not index contents), cut off after
/// [`INTEGRITY_CHECK_TIME`].
fn check_integrity(connection: &Connection) -> Result<(), LayoutError> {
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

impl Store {
    /// Opens the store at `path`, creating it if needed. Refuses a file that is not SQLite, or
    /// a database with other tables (a campaign journal given by mistake, say).
    pub(crate) fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let sqlite = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotAStore {
                path: name.clone(),
                problem: "is not a SQLite database".to_owned(),
            },
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::NotAStore {
                path: name.clone(),
                problem: format!("is damaged ({source}): {DAMAGED}"),
            },
            _ => StoreError::Sqlite {
                path: name.clone(),
                source,
            },
        };
        // The store is a SQLite file: a disk, a pipe or a terminal at its path would be written
        // over or fail with an I/O error, and SQLite would leave a `-journal` beside it.
        if let Ok(metadata) = std::fs::metadata(path) {
            let kind = crate::outputs::Kind::of(metadata.file_type());
            if kind != crate::outputs::Kind::File {
                return Err(StoreError::NotAStore {
                    path: name,
                    problem: format!("is {}: the event store is a file SQLite writes", kind.name()),
                });
            }
        }
        if let Some(problem) = crate::outputs::planted_beside(path) {
            return Err(StoreError::NotAStore {
                path: name,
                problem: format!("cannot be opened: {problem}"),
            });
        }
        // Looked at read-only first: a file that is not a store is refused untouched (never
        // switched to WAL, never given a table, no `-wal` left beside it).
        if std::fs::metadata(path).is_ok_and(|metadata| metadata.len() > 0) {
            let side_files = crate::outputs::SideFiles::note(path);
            let checked = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|probe| {
                probe.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(check_layout(&probe).and_then(|()| check_integrity(&probe)))
            });
            let refusal = match checked {
                Err(source) => Some(sqlite(source)),
                Ok(Err(LayoutError::Sqlite(source))) => Some(sqlite(source)),
                Ok(Err(LayoutError::NotAStore(problem))) => Some(StoreError::NotAStore {
                    path: name.clone(),
                    problem,
                }),
                Ok(Ok(())) => None,
            };
            if let Some(refusal) = refusal {
                side_files.remove_created();
                return Err(refusal);
            }
        }
        let connection = Connection::open(path).map_err(sqlite)?;
        // Readers (`flowc report`) may hold the file briefly: wait rather than fail.
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotAStore {
                path: name,
                problem: format!("cannot use write-ahead logging (journal mode `{mode}`)"),
            });
        }
        // The writer checkpoints at moments of its choosing (see the module notes).
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_SIZE_LIMIT};"
            ))
            .map_err(sqlite)?;
        connection
            .execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = {VERSION}; COMMIT;"))
            .map_err(sqlite)?;
        let identity = identity(path).map_err(|error| StoreError::NotAStore {
            path: name.clone(),
            problem: format!("cannot be read: {}", crate::input::io_reason(&error)),
        })?;
        let main_file = stamp(path).ok_or_else(|| StoreError::NotAStore {
            path: name.clone(),
            problem: "cannot be read".to_owned(),
        })?;
        Ok(Store {
            connection,
            path: name,
            file: path.to_path_buf(),
            identity,
            main_file: Arc::new(Mutex::new(main_file)),
            overwritten: Arc::default(),
        })
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// One group commit; every callback's outcome, in order.
    /// Whether the path still leads to the file being written (one `stat` a group commit).
    fn still_at_its_path(&self) -> Result<(), StoreError> {
        match identity(&self.file) {
            Ok(found) if found == self.identity => Ok(()),
            _ => Err(StoreError::Replaced {
                path: self.path.clone(),
            }),
        }
    }

    /// Whether the main file is as this receiver's last checkpoint left it. While a checkpoint
    /// runs, the checkpoint looks before it writes.
    fn not_overwritten(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if !self.overwritten.load(Ordering::SeqCst) {
            let Ok(main_file) = self.main_file.try_lock() else {
                return Ok(());
            };
            if stamp(&self.file) == Some(*main_file) {
                return Ok(());
            }
            self.overwritten.store(true, Ordering::SeqCst);
        }
        Err(StoreError::Overwritten {
            path: self.path.clone(),
        })
    }

    fn commit(&mut self, batch: &[Op]) -> Result<Vec<Saved>, StoreError> {
        // Checked before, so that nothing is written into a file nobody can reach, and after,
        // so that a move during the commit is not acknowledged either.
        self.still_at_its_path()?;
        self.not_overwritten()?;
        let saved = self.commit_unchecked(batch)?;
        self.still_at_its_path()?;
        self.not_overwritten()?;
        Ok(saved)
    }

    fn commit_unchecked(&mut self, batch: &[Op]) -> Result<Vec<Saved>, StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let mut saved = Vec::with_capacity(batch.len());
        for op in batch {
            saved.push(insert(&transaction, &op.callback).map_err(sqlite)?);
        }
        transaction.commit().map_err(sqlite)?;
        Ok(saved)
    }

    /// Copies the WAL into the main file without waiting for readers; the next commit starts the
    /// WAL over when all of it was copied.
    /// `main_file`: the checkpoint's turn, held.
    fn checkpoint_passive(&self, main_file: &mut Stamp) -> Result<(), StoreError> {
        checkpoint_if_ours(&self.connection, &self.file, main_file, &self.overwritten, "PASSIVE")
            .map_err(|error| self.sqlite(error))
    }

    /// Folds the WAL into the main file, so that what is on disk no longer needs `-wal`; never
    /// into a file someone else wrote.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let mut main_file = self.main_file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        checkpoint_if_ours(
            &self.connection,
            &self.file,
            &mut main_file,
            &self.overwritten,
            "TRUNCATE",
        )
        .map_err(|error| self.sqlite(error))?;
        drop(main_file);
        self.not_overwritten()
    }
}

fn insert(transaction: &rusqlite::Transaction<'_>, callback: &Callback) -> rusqlite::Result<Saved> {
    let (recognised, problem) = match &callback.outcome {
        Ok(_) => (true, None),
        Err(problem) => (false, Some(problem.as_str())),
    };
    let inserted = transaction
        .prepare_cached(
            "INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(digest) DO NOTHING",
        )?
        .execute(params![
            callback.received_at,
            callback.method,
            callback.path,
            callback.query,
            callback.content_type,
            callback.body,
            callback.digest().as_slice(),
            recognised,
            problem,
        ])?;
    if inserted == 0 {
        return Ok(Saved {
            duplicate: true,
            ..Saved::default()
        });
    }
    let callback_id = transaction.last_insert_rowid();
    let mut saved = Saved::default();
    let events = callback.outcome.as_deref().unwrap_or_default();
    for event in events {
        let key = event.key();
        match event {
            Event::Status(status) => {
                saved.statuses += insert_status(transaction, &key, callback_id, callback.received_at, status)? as u64;
            }
            Event::Message(message) => {
                let new = insert_message(transaction, &key, callback_id, callback.received_at, message)?;
                saved.messages += new as u64;
                if let (true, Some(word), Some(number)) = (new > 0, &message.opt_out, &message.from) {
                    saved.opt_outs += transaction
                        .prepare_cached(
                            "INSERT OR IGNORE INTO opt_outs (event_key, callback_id, received_at, number, word, message_id, timestamp_unix)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![
                            key.as_slice(),
                            callback_id,
                            callback.received_at,
                            number,
                            word,
                            message.message_id,
                            unix(message.timestamp.as_deref()),
                        ])? as u64;
                }
            }
        }
    }
    saved.duplicate = !events.is_empty() && saved.statuses + saved.messages == 0;
    Ok(saved)
}

fn insert_status(
    transaction: &rusqlite::Transaction<'_>,
    key: &[u8; 32],
    callback_id: i64,
    received_at: i64,
    status: &StatusEvent,
) -> rusqlite::Result<usize> {
    // The same status of the same message delivered in two envelopes (a POST in the provider's
    // envelope, which carries two ids, and a GET, which carries one of them, or fewer refs) is
    // one event: found by either id, whichever one each delivery carries.
    if status.message_id.is_some() || status.provider_message_id.is_some() {
        let seen = transaction
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM statuses WHERE status = ?1 AND timestamp IS ?2 AND error_code IS ?3
                   AND (message_id IN (?4, ?5) OR provider_message_id IN (?4, ?5)))",
            )?
            .query_row(
                params![
                    status.status,
                    status.timestamp,
                    status.error_code,
                    status.message_id,
                    status.provider_message_id,
                ],
                |row| row.get::<_, bool>(0),
            )?;
        if seen {
            return Ok(0);
        }
    }
    transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id,
                status, timestamp, timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1, ref2,
                biz_opaque_callback_data, trace_id, business_number, phone_number_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )?
        .execute(params![
            key.as_slice(),
            callback_id,
            received_at,
            status.message_id,
            status.provider_message_id,
            status.status,
            status.timestamp,
            unix(status.timestamp.as_deref()),
            status.recipient,
            status.error_code,
            status.error_title,
            status.error_detail,
            status.refs.ref0,
            status.refs.ref1,
            status.refs.ref2,
            status.opaque,
            status.origin.trace_id,
            status.origin.business_number,
            status.origin.phone_number_id,
        ])
}

fn insert_message(
    transaction: &rusqlite::Transaction<'_>,
    key: &[u8; 32],
    callback_id: i64,
    received_at: i64,
    message: &IncomingMessage,
) -> rusqlite::Result<usize> {
    let flow = message.flow.as_ref();
    transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (event_key, callback_id, received_at, message_id, from_number, context_id,
                context_from, type, text, flow_name, flow_token, response_json, timestamp, timestamp_unix, trace_id,
                business_number, phone_number_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?
        .execute(params![
            key.as_slice(),
            callback_id,
            received_at,
            message.message_id,
            message.from,
            message.context_id,
            message.context_from,
            message.kind,
            message.text,
            flow.and_then(|flow| flow.name.as_deref()),
            flow.and_then(|flow| flow.flow_token.as_deref()),
            flow.and_then(|flow| flow.response_json.as_deref()),
            message.timestamp,
            unix(message.timestamp.as_deref()),
            message.origin.trace_id,
            message.origin.business_number,
            message.origin.phone_number_id,
        ])
}

/// Meta's timestamps are Unix seconds as text; anything else stays text only.
fn unix(timestamp: Option<&str>) -> Option<i64> {
    timestamp?.trim().parse().ok()
}

struct Op {
    callback: Box<Callback>,
    done: oneshot::Sender<Result<Saved, String>>,
}

/// The store's single writer thread, committing in groups.
pub(crate) struct StoreWriter {
    sender: mpsc::Sender<Op>,
    thread: thread::JoinHandle<Result<(), StoreError>>,
    /// Dropped to stop the backfill thread.
    stop_backfill: std_mpsc::Sender<()>,
    backfill: thread::JoinHandle<()>,
}

/// A cheap handle for the request handlers.
#[derive(Clone)]
pub(crate) struct StoreHandle {
    sender: mpsc::Sender<Op>,
}

impl StoreWriter {
    pub(crate) fn spawn(store: Store) -> StoreWriter {
        let (sender, mut receiver) = mpsc::channel::<Op>(QUEUE);
        let checkpointing = Arc::clone(&store.main_file);
        let overwritten = Arc::clone(&store.overwritten);
        let (stop_backfill, stop) = std_mpsc::channel::<()>();
        let file = store.file.clone();
        let backfilling = Arc::clone(&checkpointing);
        let backfill = thread::spawn(move || {
            // Without its own connection the writer's checkpoints still run, only longer.
            let Ok(connection) = Connection::open(&file) else {
                return;
            };
            while let Err(std_mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(BACKFILL_EVERY) {
                let Ok(mut main_file) = backfilling.lock() else { return };
                let _ = checkpoint_if_ours(&connection, &file, &mut main_file, &overwritten, "PASSIVE");
            }
        });
        let thread = thread::spawn(move || {
            let mut store = store;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut last_checkpoint = std::time::Instant::now();
            while let Some(first) = receiver.blocking_recv() {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                // A failed commit is not latched: a full disk may clear, and every callback
                // it held is answered 503, so the provider sends it again.
                match store.commit(&batch) {
                    Ok(saved) => {
                        for (op, saved) in batch.drain(..).zip(saved) {
                            let _ = op.done.send(Ok(saved));
                        }
                    }
                    Err(error) => {
                        let message = error.to_string();
                        for op in batch.drain(..) {
                            let _ = op.done.send(Err(message.clone()));
                        }
                    }
                }
                // After the answers, so that no callback of this batch waits for it.
                if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    if let Ok(mut main_file) = checkpointing.try_lock() {
                        // A failure (a reader in the way) leaves the WAL longer, never anything
                        // lost.
                        let _ = store.checkpoint_passive(&mut main_file);
                        last_checkpoint = std::time::Instant::now();
                    }
                }
            }
            store.checkpoint()?;
            // A store moved away while running is said at the end too (a non-zero exit).
            store.still_at_its_path()
        });
        StoreWriter {
            sender,
            thread,
            stop_backfill,
            backfill,
        }
    }

    pub(crate) fn handle(&self) -> StoreHandle {
        StoreHandle {
            sender: self.sender.clone(),
        }
    }

    /// Waits for every queued callback to be committed (once every handle is dropped), then
    /// checkpoints and closes the store.
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        drop(self.stop_backfill);
        let _ = self.backfill.join();
        drop(self.sender);
        self.thread
            .join()
            .map_err(|_| StoreError::Failed("the store's writer thread panicked".to_owned()))?
    }
}

impl StoreHandle {
    /// Stores a callback and waits until it is on disk.
    pub(crate) async fn save(&self, callback: Callback) -> Result<Saved, StoreError> {
        let (done, wait) = oneshot::channel();
        let closed = || StoreError::Failed("the store is closed".to_owned());
        self.sender
            .send(Op {
                callback: Box::new(callback),
                done,
            })
            .await
            .map_err(|_| closed())?;
        wait.await.map_err(|_| closed())?.map_err(StoreError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::parse::{json, OptOutWords};

    fn callback(body: &str) -> Callback {
        let words = OptOutWords::new(&OptOutWords::DEFAULT);
        Callback {
            received_at: 1,
            method: "POST",
            path: "/".to_owned(),
            query: None,
            content_type: Some("application/json".to_owned()),
            body: body.as_bytes().to_vec(),
            outcome: json(body.as_bytes(), &words),
        }
    }

    #[test]
    fn receive_store_keeps_each_event_once_and_unrecognised_bodies_raw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.sqlite");
        let writer = StoreWriter::spawn(Store::open(&path).expect("open"));
        let handle = writer.handle();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let status = r#"{"statuses":[{"id":"w1","status":"sent","timestamp":"5"}]}"#;
        let stop = r#"{"messages":[{"from":"9","id":"m1","type":"text","text":{"body":"STOP"}}]}"#;
        // The same event in another envelope: a second raw callback, no second event.
        let wrapped = r#"{"meta_object":{"value":{"statuses":[{"id":"w1","status":"sent","timestamp":"5"}]}}}"#;
        let results: Vec<Saved> = [status, status, stop, wrapped, "{oops"]
            .into_iter()
            .map(|body| runtime.block_on(handle.save(callback(body))).expect("saved"))
            .collect();
        assert!(!results[0].duplicate && results[0].statuses == 1);
        assert!(results[1].duplicate);
        assert_eq!(results[2].opt_outs, 1);
        assert!(results[3].duplicate);
        drop(handle);
        writer.finish().expect("closed");

        let connection = Connection::open(&path).expect("reopen");
        let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).expect(sql) };
        assert_eq!(count("SELECT count(*) FROM callbacks"), 4);
        assert_eq!(count("SELECT count(*) FROM callbacks WHERE recognised = 0"), 1);
        assert_eq!(count("SELECT count(*) FROM statuses WHERE timestamp_unix = 5"), 1);
        assert_eq!(
            count("SELECT count(*) FROM opt_outs WHERE number = '9' AND word = 'STOP'"),
            1
        );
    }

    #[test]
    fn receive_store_refuses_other_databases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("journal.sqlite");
        Connection::open(&other)
            .expect("create")
            .execute_batch("CREATE TABLE rows (row INTEGER)")
            .expect("table");
        assert!(matches!(Store::open(&other), Err(StoreError::NotAStore { .. })));
        let text = dir.path().join("contacts.csv");
        std::fs::write(&text, "name,phone\nAsha,+919876543210\n".repeat(100)).expect("write");
        assert!(matches!(Store::open(&text), Err(StoreError::NotAStore { .. })));
    }
}
