//! The event store in SQLite (the default backend: one file, embedded): every callback as
//! received, and the events read from it.
//!
//! A 2xx tells the provider it may forget an event, so a callback is answered only once its
//! transaction is on disk: WAL mode with `synchronous=FULL`, so a SIGKILL (or a power cut) at
//! any instant keeps every commit that was acknowledged. As in the campaign journal, one
//! writer thread ([`StoreWriter`]) commits everything queued since its last commit in one
//! transaction (group commit): one `fsync` covers many callbacks, so thousands a second are
//! stored while each is still durable before it is answered.
//!
//! Checkpoints (copying the WAL into the main file, then syncing it) are run by the writer
//! itself, after a batch has been answered, each time the WAL holds [`CHECKPOINT_PAGES`] pages:
//! many small checkpoints, each copying the few pages written since the last and starting the
//! WAL over, so that no callback waits behind a long one. (A checkpoint on another thread
//! never reaches the end of a WAL a busy writer keeps appending to, so the WAL never starts
//! over; finishing that copy once a second stalled every waiting callback for tens of
//! milliseconds.) SQLite's own automatic checkpoints are off: they would write the main file
//! inside a commit, where a backup copied over the file could no longer be told from the
//! receiver's own writes (see [`Stamp`]).
//!
//! Once SQLite says the store is damaged (a page it cannot read, a frame of the WAL no longer
//! there), or the WAL is no longer as the writer left it (cut short or written over by another
//! program: the wal-index still points at frames that are gone), the writer writes nothing more
//! into the main file: a checkpoint, its own or SQLite's as the store closes, would copy
//! whatever is there now (zeros) over pages that were good. See [`Store::not_damaged`].
//!
//! Unlike the journal, the store keeps SQLite's normal locking and one busy timeout for every
//! connection ([`BUSY_TIMEOUT`]): `flowc send` and `flowc report` read it ([`read`]) while the
//! receiver writes (WAL lets readers and the writer work at once). Every opener checks the
//! layout and its version first ([`schema::check_layout`]).
//!
//! Tables (one row a thing, the columns a later `report` joins a campaign on):
//! - `callbacks`: the raw request (method, path, query without the token, content type, body
//!   as bytes), its digest (a callback delivered twice is stored once), whether it was
//!   understood and, if not, why;
//! - `statuses`: one row per status event (ids, status, timestamp, recipient, error, refs);
//! - `messages`: one row per incoming message (sender, the id it answers, type, text, Flow
//!   token and answers);
//! - `opt_outs`: the numbers that asked to stop, with the word and the message that asked.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{Access, Callback, EventsError, Saved, VERSION};

mod read;
mod schema;
mod writer;

pub(super) use read::{EventReader, IncomingReader, OptOutReader, StatusFeed};
use schema::{check_integrity, check_layout, LayoutError, DAMAGED, SCHEMA};
use writer::{insert, Op};
pub(super) use writer::{StoreHandle, StoreWriter};

/// How long any connection waits for another's lock (the receiver's commits and checkpoints,
/// a reader's snapshot) before it fails: each holds the store for moments only.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Callbacks committed together at most: bounds one transaction's time, so that the first
/// caller of a batch is not kept waiting behind an unbounded queue.
const MAX_BATCH: usize = 2_000;

/// Callbacks waiting for the writer at most; past that, handlers wait for room (backpressure
/// instead of memory growth).
const QUEUE: usize = 8_192;

/// The WAL's length in pages at which the writer checkpoints (SQLite's own default): a few
/// milliseconds of callbacks under load, so each checkpoint copies little.
const CHECKPOINT_PAGES: i32 = 1_000;

/// The least time between two checkpoints while the WAL is under [`CHECKPOINT_PAGES_MOST`]:
/// under a heavy load the WAL reaches [`CHECKPOINT_PAGES`] many times a second, and a
/// checkpoint after every batch (its two `fsync`s in the writer's turn) would cut the rate
/// the writer keeps up with.
const CHECKPOINT_SPACING: Duration = Duration::from_millis(50);

/// The WAL's length in pages past which the writer checkpoints however recent the last was.
const CHECKPOINT_PAGES_MOST: i32 = 8 * CHECKPOINT_PAGES;

/// How often the writer tries again a checkpoint a reader kept from copying the whole WAL,
/// whatever was written since: once the reader is done, the WAL it held is copied and starts
/// over within this time of the next callback, not only after [`CHECKPOINT_PAGES`] more pages
/// (hours of callbacks at a quiet time, with a WAL of hundreds of megabytes every reader
/// goes through).
const CHECKPOINT_HELD_RETRY: Duration = Duration::from_secs(1);

/// The size the WAL file is cut back to after it starts over (SQLite keeps its largest size
/// otherwise).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// How much of the log is read at once when its frames are looked at (a few frames).
const WAL_PIECE: usize = 64 * 1024;

/// A WAL frame header's salts: the round of the log it was written in (SQLite gives every
/// frame of a round the salts of the log's header, new ones when it starts the log over).
fn round_of(frame_header: &[u8]) -> [u8; 8] {
    let mut salts = [0; 8];
    salts.copy_from_slice(&frame_header[8..16]);
    salts
}

/// Whether a frame header is one SQLite wrote in the log's present `round`: a page number, and
/// that round's salts (never all zeros: zeros are a hole, not a round).
fn is_frame_of(frame_header: &[u8], round: [u8; 8]) -> bool {
    frame_header[..4] != [0; 4] && round_of(frame_header) == round && round != [0; 8]
}

/// The frames of a log whose every header is looked at before a checkpoint (64 MiB of 4 KiB
/// pages: more than the writer lets the log grow to while no reader holds it).
const FRAMES_EACH_LOOKED_AT: u64 = 16 * 1024;

/// The WAL's header, then each frame's before its page (SQLite's file format).
const WAL_HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;

pub(crate) struct Store {
    connection: Connection,
    /// The file, locked for as long as this receiver writes it (see [`hold_for_writing`]).
    _writing: std::fs::File,
    path: String,
    file: PathBuf,
    /// The file opened, which the path must still lead to at each commit.
    place: Arc<Place>,
    /// The main file as this receiver's last checkpoint left it (see [`Stamp`]).
    main_file: Stamp,
    /// The WAL's length in pages at which the next checkpoint is due: further than
    /// [`CHECKPOINT_PAGES`] while a reader keeps part of the WAL from being copied, so that
    /// the writer does not try again after every commit.
    checkpoint_at: i32,
    /// When the writer last checkpointed.
    last_checkpoint: std::time::Instant,
    /// Set once the main file was found overwritten: nothing more is committed.
    overwritten: Arc<std::sync::atomic::AtomicBool>,
    /// The write-ahead log beside the file (see [`Store::wal_changed`]).
    wal: PathBuf,
    /// That log, opened once (at the first look): a look at it is a look at the file SQLite
    /// writes, whatever is at its path now (a log deleted or replaced there is still SQLite's,
    /// open, and folded at stop), and never fails for want of a file descriptor.
    wal_file: std::cell::OnceCell<std::fs::File>,
    page_size: u64,
    /// Why the store was found damaged, once it was: nothing more is written into it.
    damaged: Arc<std::sync::OnceLock<String>>,
    /// The older layout this open brought up to date, if it did.
    upgraded_from: Option<i64>,
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

/// Where the store was opened, and whether the path still leads there. A commit (and a health
/// check) into a file no longer at its path would be acknowledged into a file nobody looks at,
/// so each looks first (one `lstat`: a link put in its place is another file, since readers
/// opening the path look for the write-ahead log beside the link's target). The first to find
/// it gone says so to the receiver, which answers 503 from then on and stops: once lost, it
/// stays lost, even if the file comes back.
pub(super) struct Place {
    file: PathBuf,
    /// The device and inode of the file opened (the path itself, a link not followed).
    identity: (u64, u64),
    lost: tokio::sync::watch::Sender<bool>,
}

impl Place {
    /// Whether the path still leads to the file opened; when it does not, the store is lost.
    fn holds(&self) -> bool {
        if *self.lost.borrow() {
            return false;
        }
        let here = self.is_here();
        if !here {
            self.lost.send_replace(true);
        }
        here
    }

    /// The same look, without telling anyone (for the checkpoints: the next commit tells).
    fn is_here(&self) -> bool {
        !*self.lost.borrow() && identity(&self.file).is_ok_and(|found| found == self.identity)
    }

    /// Resolves once the store is lost (never if it is not).
    pub(super) fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.subscribe();
        async move {
            if lost.wait_for(|lost| *lost).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

thread_local! {
    /// The WAL's length in pages after the last commit on this thread (the writer's), as SQLite
    /// tells it to [`note_wal_pages`], or after its last checkpoint (none once one started the
    /// WAL over).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// SQLite's hook after each commit in WAL mode. A plain function (the hook takes no state), so
/// the length is left where the writer's thread reads it after the commit.
#[allow(clippy::unnecessary_wraps, reason = "the signature SQLite's hook takes")]
fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Whether SQLite's error says the store's files are damaged (a page that is not what it should
/// be, a frame of the WAL that is not there), rather than that it cannot write now (a full
/// disk, a lock held).
fn says_damaged(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|failure| {
        matches!(
            failure.code,
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
        ) || failure.extended_code == rusqlite::ffi::SQLITE_IOERR_SHORT_READ
    })
}

/// The store's file, locked (`flock`) against a second receiver: SQLite lets two connections
/// write one file, but two receivers would each take the other's checkpoints for a backup
/// copied over it ([`Stamp`]) and, stopping, set aside the WAL the other still writes, with
/// callbacks it acknowledged in it. The lock is the file's (its inode): one moved away keeps
/// it, a new file at the path is free. Readers (`flowc report`, `send --events`) take none.
/// SQLite's own locks are POSIX record locks, which an `flock` does not touch.
fn hold_for_writing(path: &Path, name: &str) -> Result<std::fs::File, EventsError> {
    let file = std::fs::File::open(path).map_err(|error| EventsError::NotAStore {
        store: name.to_owned(),
        problem: format!("cannot be opened: {}", crate::input::io_reason(&error)),
        access: Access::Write,
    })?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(EventsError::InUse { store: name.to_owned() }),
        Err(error) => Err(EventsError::NotAStore {
            store: name.to_owned(),
            problem: format!(
                "cannot be locked for writing: {}",
                crate::input::io_reason(&std::io::Error::from(error))
            ),
            access: Access::Write,
        }),
    }
}

/// The device and inode at a path (a link there is itself, not the file it leads to).
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::symlink_metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// SQLite's error as the user is told it: a file that is not a database, or a damaged one, is
/// not a store; anything else is SQLite's own words.
fn sqlite_error(store: &str, access: Access, source: rusqlite::Error) -> EventsError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => EventsError::NotAStore {
            store: store.to_owned(),
            problem: "is not a SQLite database".to_owned(),
            access,
        },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => EventsError::NotAStore {
            store: store.to_owned(),
            problem: format!("is damaged ({source}): {DAMAGED}"),
            access,
        },
        _ => EventsError::Sqlite {
            store: store.to_owned(),
            source,
        },
    }
}

/// Refuses what is not a regular file at `path` before SQLite opens it: a disk, a pipe or a
/// terminal would be written over, block, or fail with an I/O error. Nothing at the path is
/// refused only when reading (the receiver creates the store).
fn check_kind(path: &Path, store: &str, access: Access) -> Result<(), EventsError> {
    match std::fs::metadata(path) {
        Ok(metadata) => {
            let kind = crate::outputs::Kind::of(metadata.file_type());
            if kind == crate::outputs::Kind::File {
                Ok(())
            } else {
                Err(EventsError::NotAStore {
                    store: store.to_owned(),
                    problem: format!("is {}: the event store is a file SQLite writes", kind.name()),
                    access,
                })
            }
        }
        Err(error) if access == Access::Write && error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(EventsError::Missing {
            store: store.to_owned(),
        }),
        Err(error) => Err(EventsError::NotAStore {
            store: store.to_owned(),
            problem: format!("cannot be read: {}", crate::input::io_reason(&error)),
            access,
        }),
    }
}

/// A read-only connection to the store at `path`, its layout and version checked (see
/// [`check_layout`]): how the readers open it, and how the receiver looks before it writes.
fn open_read_only(path: &Path, access: Access) -> Result<Connection, EventsError> {
    let store = path.display().to_string();
    check_kind(path, &store, access)?;
    let sqlite = |source| sqlite_error(&store, access, source);
    let connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    match check_layout(&connection, access) {
        Ok(()) => Ok(connection),
        Err(LayoutError::Sqlite(source)) => Err(sqlite(source)),
        Err(LayoutError::NotAStore(problem)) => Err(EventsError::NotAStore { store, problem, access }),
        Err(LayoutError::Version(found)) => Err(EventsError::OtherVersion { store, found, access }),
    }
}

impl Store {
    /// Opens the store at `path`, creating it if needed. Refuses a file that is not SQLite, or
    /// a database with other tables (a campaign journal given by mistake, say).
    pub(crate) fn open(path: &Path) -> Result<Store, EventsError> {
        let name = path.display().to_string();
        let sqlite = |source: rusqlite::Error| sqlite_error(&name, Access::Write, source);
        check_kind(path, &name, Access::Write)?;
        if let Some(problem) = crate::outputs::planted_beside(path) {
            return Err(EventsError::NotAStore {
                store: name,
                problem: format!("cannot be opened: {problem}"),
                access: Access::Write,
            });
        }
        // A file already there is held before anything else opens it: a second receiver is
        // refused before its look leaves a `-wal` or `-shm` beside a name of the file.
        let held = if std::fs::metadata(path).is_ok() {
            Some(hold_for_writing(path, &name)?)
        } else {
            None
        };
        // Looked at read-only first: a file that is not a store is refused untouched (never
        // switched to WAL, never given a table, no `-wal` left beside it).
        if std::fs::metadata(path).is_ok_and(|metadata| metadata.len() > 0) {
            let side_files = crate::outputs::SideFiles::note(path);
            let checked = open_read_only(path, Access::Write).and_then(|probe| match check_integrity(&probe) {
                Ok(()) => Ok(()),
                Err(LayoutError::Sqlite(source)) => Err(sqlite(source)),
                Err(LayoutError::NotAStore(problem)) => Err(EventsError::NotAStore {
                    store: name.clone(),
                    problem,
                    access: Access::Write,
                }),
                Err(LayoutError::Version(found)) => Err(EventsError::OtherVersion {
                    store: name.clone(),
                    found,
                    access: Access::Write,
                }),
            });
            if let Err(refusal) = checked {
                side_files.remove_created();
                return Err(refusal);
            }
        }
        let connection = Connection::open(path).map_err(sqlite)?;
        let writing = match held {
            Some(held) => held,
            None => hold_for_writing(path, &name)?,
        };
        // Readers (`flowc report`) may hold the file briefly: wait rather than fail.
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(EventsError::NotAStore {
                store: name,
                problem: format!("cannot use write-ahead logging (journal mode `{mode}`)"),
                access: Access::Write,
            });
        }
        // The writer checkpoints at moments of its choosing (see the module notes); the hook,
        // set after the pragma (which would replace it), tells it the WAL's length.
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_SIZE_LIMIT};"
            ))
            .map_err(sqlite)?;
        connection.wal_hook(Some(note_wal_pages));
        let page_size: u64 = connection
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(sqlite)?;
        // Created, or brought up to this layout, in one transaction with its version: a store
        // is of one layout or the other, never half upgraded.
        let mut connection = connection;
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        // 0 for a file that had no store yet.
        let found: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sqlite)?;
        transaction
            .execute_batch(SCHEMA)
            .and_then(|()| schema::upgrade(&transaction))
            .and_then(|()| transaction.pragma_update(None, "user_version", VERSION))
            .and_then(|()| transaction.commit())
            .map_err(sqlite)?;
        let identity = identity(path).map_err(|error| EventsError::NotAStore {
            store: name.clone(),
            problem: format!("cannot be read: {}", crate::input::io_reason(&error)),
            access: Access::Write,
        })?;
        let main_file = stamp(path).ok_or_else(|| EventsError::NotAStore {
            store: name.clone(),
            problem: "cannot be read".to_owned(),
            access: Access::Write,
        })?;
        Ok(Store {
            connection,
            _writing: writing,
            path: name,
            file: path.to_path_buf(),
            place: Arc::new(Place {
                file: path.to_path_buf(),
                identity,
                lost: tokio::sync::watch::Sender::new(false),
            }),
            main_file,
            checkpoint_at: CHECKPOINT_PAGES,
            last_checkpoint: std::time::Instant::now(),
            overwritten: Arc::default(),
            wal: {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                PathBuf::from(wal)
            },
            page_size,
            wal_file: std::cell::OnceCell::new(),
            damaged: Arc::default(),
            upgraded_from: (found > 0 && found < VERSION).then_some(found),
        })
    }

    /// The older layout this open brought up to date, if it did.
    pub(crate) fn upgraded_from(&self) -> Option<i64> {
        self.upgraded_from
    }

    /// SQLite's error, as the writer says it; one that says the store is damaged marks it so.
    fn sqlite(&self, source: rusqlite::Error) -> EventsError {
        if says_damaged(&source) {
            let _ = self.damaged.set(format!("SQLite: {source}"));
            return self.damaged();
        }
        EventsError::Sqlite {
            store: self.path.clone(),
            source,
        }
    }

    fn damaged(&self) -> EventsError {
        EventsError::Damaged {
            store: self.path.clone(),
            reason: self.damaged.get().cloned().unwrap_or_default(),
        }
    }

    /// Whether the store was found damaged.
    fn is_damaged(&self) -> bool {
        self.damaged.get().is_some()
    }

    /// Whether the store is as SQLite and this writer left it (checked after each commit, and
    /// before each checkpoint); once found damaged, it stays so.
    fn not_damaged(&self) -> Result<(), EventsError> {
        if !self.is_damaged() {
            match self.wal_changed() {
                None => return Ok(()),
                Some(reason) => {
                    let _ = self.damaged.set(reason);
                }
            }
        }
        Err(self.damaged())
    }

    /// Why the WAL is no longer the one this writer wrote, if it is not: shorter than the
    /// frames SQLite counted at the last commit (cut by another program: the wal-index still
    /// points at frames that are gone), or cut and then written past the hole by a commit, or
    /// zeroed (its first or last frame is not SQLite's any more). Only SQLite
    /// shortens the WAL, when it starts over (after the commit that says its new length) or in
    /// the checkpoint at stop (after which nothing is committed). A look that cannot be made
    /// (the log not there yet) tells nothing.
    fn wal_changed(&self) -> Option<String> {
        let pages = u64::try_from(WAL_PAGES.get()).unwrap_or(0);
        if pages == 0 {
            return None;
        }
        let file = self.wal_log()?;
        let wal = self.wal.display();
        let written = WAL_HEADER + pages * (self.page_size + FRAME_HEADER);
        let length = file.metadata().ok()?.len();
        if length < written {
            return Some(format!(
                "its write-ahead log `{wal}` was cut to {} bytes by another program, from the {} the receiver wrote",
                crate::words::thousands(length),
                crate::words::thousands(written)
            ));
        }
        // Its first and last frames, as SQLite wrote them (a header spoiled over them harms
        // nothing a checkpoint does: it goes by the wal-index); frames between are looked at
        // before each checkpoint ([`Store::wal_frames_changed`]).
        let frame = self.broken_frame(file, &[1, pages])?;
        Some(format!(
            "its write-ahead log `{wal}` has lost frame {} of the {} SQLite wrote: another program cut it or wrote over it",
            crate::words::thousands(frame),
            crate::words::thousands(pages)
        ))
    }

    /// The log as SQLite writes it, opened at the first look.
    fn wal_log(&self) -> Option<&std::fs::File> {
        if self.wal_file.get().is_none() {
            let _ = self.wal_file.set(std::fs::File::open(&self.wal).ok()?);
        }
        self.wal_file.get()
    }

    /// The first of `frames` (numbered from 1) that is not one SQLite wrote in this log's
    /// present round: a page number of 0, or salts other than the first frame's (SQLite gives
    /// every frame of a round the salts of its header).
    fn broken_frame(&self, file: &std::fs::File, frames: &[u64]) -> Option<u64> {
        use std::os::unix::fs::FileExt as _;
        let header_of = |frame: u64| {
            let mut header = [0u8; FRAME_HEADER as usize];
            let at = WAL_HEADER + (frame - 1) * (self.page_size + FRAME_HEADER);
            file.read_exact_at(&mut header, at).ok().map(|()| header)
        };
        let round = header_of(1).map(|header| round_of(&header));
        frames.iter().copied().find(|&frame| {
            header_of(frame)
                .zip(round)
                .is_none_or(|(header, round)| !is_frame_of(&header, round))
        })
    }

    /// Why the frames a checkpoint would copy are not all SQLite's, if they are not, so that a
    /// log cut or zeroed anywhere, then written past, is not copied into the main file. Every
    /// frame's header is looked at while the log is of usual length ([`FRAMES_EACH_LOOKED_AT`]:
    /// read [`WAL_PIECE`] at a time, a few MiB in all, once a checkpoint); a log a reader kept long is
    /// looked at every 64th frame past that.
    fn wal_frames_changed(&self) -> Option<String> {
        use std::os::unix::fs::FileExt as _;
        let pages = u64::try_from(WAL_PAGES.get()).unwrap_or(0);
        if pages == 0 {
            return None;
        }
        let file = self.wal_log()?;
        let frame_size = self.page_size + FRAME_HEADER;
        let mut round: Option<[u8; 8]> = None;
        let mut piece = vec![0u8; WAL_PIECE];
        let mut frame = 1;
        while frame <= pages {
            let at = WAL_HEADER + (frame - 1) * frame_size;
            // Whole frames in one read; one frame's header when they are looked at apart.
            let apart = frame > FRAMES_EACH_LOOKED_AT;
            let count = if apart {
                1
            } else {
                (pages - frame + 1).min((piece.len() as u64 / frame_size).max(1))
            };
            let length = if apart {
                FRAME_HEADER
            } else {
                (count - 1) * frame_size + FRAME_HEADER
            };
            let buffer = &mut piece[..usize::try_from(length).ok()?];
            file.read_exact_at(buffer, at).ok()?;
            for index in 0..count {
                let start = usize::try_from(index * frame_size).ok()?;
                let header = &buffer[start..start + FRAME_HEADER as usize];
                let round = *round.get_or_insert_with(|| round_of(header));
                if !is_frame_of(header, round) {
                    return Some(format!(
                        "its write-ahead log `{}` has lost frame {} of the {} SQLite wrote: another program cut it or wrote over it",
                        self.wal.display(),
                        crate::words::thousands(frame + index),
                        crate::words::thousands(pages)
                    ));
                }
            }
            frame += if apart { 64.min(pages - frame).max(1) } else { count };
        }
        None
    }

    /// Whether the path still leads to the file being written (one `lstat` a group commit).
    fn still_at_its_path(&self) -> Result<(), EventsError> {
        if self.place.holds() {
            Ok(())
        } else {
            Err(EventsError::Replaced {
                store: self.path.clone(),
            })
        }
    }

    /// Once the store is no longer at its path: the write-ahead log (which stayed at the path)
    /// folded into the file that was moved, so that the file holds every callback acknowledged,
    /// and no log of this file is left beside whatever is at the path now. Best effort: SQLite
    /// does the same when the last connection closes. Not once the store was found damaged.
    fn fold_into_moved_file(&self) {
        if self.is_damaged() {
            return;
        }
        if let Err(error) = self
            .connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            let _ = self.sqlite(error);
        }
    }

    /// Whether the main file is as this receiver's last checkpoint left it.
    fn not_overwritten(&self) -> Result<(), EventsError> {
        use std::sync::atomic::Ordering;
        if !self.overwritten.load(Ordering::SeqCst) {
            if stamp(&self.file) == Some(self.main_file) {
                return Ok(());
            }
            self.overwritten.store(true, Ordering::SeqCst);
        }
        Err(EventsError::Overwritten {
            store: self.path.clone(),
        })
    }

    /// Whether the main file was found overwritten by someone else.
    fn is_overwritten(&self) -> bool {
        self.overwritten.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Closes a store whose main file someone else overwrote (a backup copied over it): SQLite
    /// would fold this receiver's write-ahead log into the copy as the connection closes, and
    /// the next opener would read it in, both damaging the copy. So the log is not folded, and
    /// is set aside under another name (kept: it is what was acknowledged since the last
    /// checkpoint, though it fits only the file that was overwritten).
    fn close_overwritten(self) -> EventsError {
        let error = EventsError::Overwritten { store: self.path };
        close_without_checkpoint(self.connection);
        let mut wal = self.file.into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        if let Some(aside) = (0..100)
            .map(|n| {
                let mut name = wal.clone().into_os_string();
                name.push(if n == 0 {
                    ".overwritten".to_owned()
                } else {
                    format!(".overwritten-{n}")
                });
                PathBuf::from(name)
            })
            .find(|aside| std::fs::symlink_metadata(aside).is_err())
        {
            let _ = std::fs::rename(&wal, aside);
        }
        error
    }

    /// Closes the store, SQLite checkpointing once more as the connection closes; when it was
    /// found damaged, without that checkpoint (see [`Store::not_damaged`]), the WAL left as
    /// it was found: the damage, then.
    fn close(self) -> Result<(), EventsError> {
        if !self.is_damaged() {
            return Ok(());
        }
        let error = self.damaged();
        close_without_checkpoint(self.connection);
        Err(error)
    }

    /// One group commit; every callback's outcome, in order.
    fn commit(&mut self, batch: &[Op]) -> Result<Vec<Saved>, EventsError> {
        // Checked before, so that nothing is written into a file nobody can reach, and after,
        // so that a move during the commit is not acknowledged either. The WAL is looked at
        // after only: a commit into a WAL cut before it is found then, before it is answered,
        // and nothing but a checkpoint (which looks again) carries the WAL into the main file.
        self.still_at_its_path()?;
        self.not_overwritten()?;
        // Once damaged, nothing more goes into the log either (it would only grow).
        if self.is_damaged() {
            return Err(self.damaged());
        }
        let saved = self.commit_unchecked(batch).map_err(|error| self.sqlite(error))?;
        self.still_at_its_path()?;
        self.not_overwritten()?;
        self.not_damaged()?;
        Ok(saved)
    }

    fn commit_unchecked(&mut self, batch: &[Op]) -> rusqlite::Result<Vec<Saved>> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut saved = Vec::with_capacity(batch.len());
        for op in batch {
            saved.push(insert(&transaction, &op.callback)?);
        }
        transaction.commit()?;
        Ok(saved)
    }

    /// Once the WAL holds [`CHECKPOINT_PAGES`] pages (as the last commit left it) and the last
    /// checkpoint is [`CHECKPOINT_SPACING`] old, or it holds [`CHECKPOINT_PAGES_MOST`], or a
    /// reader kept the last from copying it all [`CHECKPOINT_HELD_RETRY`] ago: copies it
    /// into the main file without waiting for readers; the next commit starts the WAL over when
    /// all of it was copied (a reader still reading an older state keeps its part until it
    /// is done, as with SQLite's own checkpoints).
    fn checkpoint_when_due(&mut self) -> Result<(), EventsError> {
        let pages = WAL_PAGES.get();
        let since = self.last_checkpoint.elapsed();
        let long = pages >= self.checkpoint_at;
        let too_long = pages
            >= self
                .checkpoint_at
                .saturating_add(CHECKPOINT_PAGES_MOST - CHECKPOINT_PAGES);
        // The last checkpoint left part of the WAL to a reader (see `checkpoint_at`).
        let held = self.checkpoint_at > CHECKPOINT_PAGES;
        let due = (long && (since >= CHECKPOINT_SPACING || too_long)) || (held && since >= CHECKPOINT_HELD_RETRY);
        if !due {
            return Ok(());
        }
        self.last_checkpoint = std::time::Instant::now();
        let left = self.checkpoint_if_ours("PASSIVE").map_err(|error| self.sqlite(error))?;
        self.checkpoint_at = match left {
            Some((length, copied)) if copied < length => length.saturating_add(CHECKPOINT_PAGES),
            _ => CHECKPOINT_PAGES,
        };
        Ok(())
    }

    /// Folds the WAL into the main file, so that what is on disk no longer needs `-wal`; never
    /// into a file someone else wrote.
    fn checkpoint(&mut self) -> Result<(), EventsError> {
        self.checkpoint_if_ours("TRUNCATE")
            .map(drop)
            .map_err(|error| self.sqlite(error))?;
        self.not_overwritten()
    }

    /// A checkpoint when the main file is as the last one left it (then the new state is
    /// noted); none, and the store marked overwritten, when someone else wrote it; none either
    /// when the file is no longer at its path (the next commit says so), or when the store is
    /// damaged (then it is marked so). The WAL's length and how much of it is now copied, in
    /// pages, when it ran.
    fn checkpoint_if_ours(&mut self, mode: &str) -> rusqlite::Result<Option<(i32, i32)>> {
        if !self.place.is_here() {
            return Ok(None);
        }
        if stamp(&self.file) != Some(self.main_file) {
            self.overwritten.store(true, std::sync::atomic::Ordering::SeqCst);
            return Ok(None);
        }
        if self.not_damaged().is_err() {
            return Ok(None);
        }
        if let Some(reason) = self.wal_frames_changed() {
            let _ = self.damaged.set(reason);
            return Ok(None);
        }
        let result = self
            .connection
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok(Some((row.get(1)?, row.get(2)?)))
            });
        if let Ok(Some((length, _))) = result {
            WAL_PAGES.set(length);
        }
        if let Some(now) = stamp(&self.file) {
            self.main_file = now;
        }
        result
    }
}

/// Closes a connection without SQLite's checkpoint on close, which would copy the WAL into the
/// main file.
fn close_without_checkpoint(connection: Connection) {
    match connection.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true) {
        Ok(_) => drop(connection),
        // Never closed, so never folded: the process ends soon after.
        Err(_) => std::mem::forget(connection),
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

    /// A store being written by its writer thread, one status callback a commit.
    struct Writing {
        dir: tempfile::TempDir,
        path: PathBuf,
        wal: PathBuf,
        writer: StoreWriter,
        handle: StoreHandle,
        runtime: tokio::runtime::Runtime,
    }

    impl Writing {
        fn start() -> Writing {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("events.sqlite");
            let writer = StoreWriter::spawn(Store::open(&path).expect("open"));
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            Writing {
                handle: writer.handle(),
                writer,
                runtime: tokio::runtime::Builder::new_current_thread().build().expect("runtime"),
                wal: PathBuf::from(wal),
                path,
                dir,
            }
        }

        /// Statuses `from..to`, each its own callback, answered before the next is sent.
        fn save(&self, from: usize, to: usize, mut after_each: impl FnMut(usize)) {
            for n in from..to {
                let body = format!(r#"{{"statuses":[{{"id":"w{n}","status":"sent","timestamp":"5"}}]}}"#);
                self.runtime.block_on(self.handle.save(callback(&body))).expect("saved");
                after_each(n);
            }
        }

        /// Statuses `0..to`: the first ten, then the rest while a reader holds the state after the
        /// ten (so that the WAL from there on cannot be copied); then the reader lets go.
        fn save_while_a_reader_holds(&self, to: usize) {
            self.save(0, 10, drop);
            let mut reader = Connection::open(&self.path).expect("reader");
            let snapshot = reader.transaction().expect("read transaction");
            let before: i64 = snapshot
                .query_row("SELECT count(*) FROM statuses", [], |row| row.get(0))
                .expect("count");
            assert_eq!(before, 10);
            self.save(10, to, drop);
        }

        fn wal_length(&self) -> u64 {
            std::fs::metadata(&self.wal).map_or(0, |metadata| metadata.len())
        }

        /// The WAL's length when it holds `pages` pages (a frame is a page and its 24-byte header).
        fn wal_of(&self, pages: i32) -> u64 {
            let page_size: u64 = Connection::open(&self.path)
                .expect("reader")
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .expect("page size");
            32 + u64::try_from(pages).expect("pages") * (page_size + 24)
        }

        /// Statuses `from..to`, each its own callback; those acknowledged.
        fn try_save(&self, from: usize, to: usize) -> Vec<usize> {
            (from..to)
                .filter(|n| {
                    let body = format!(r#"{{"statuses":[{{"id":"w{n}","status":"sent","timestamp":"5"}}]}}"#);
                    self.runtime.block_on(self.handle.save(callback(&body))).is_ok()
                })
                .collect()
        }

        /// Cuts the WAL to nothing, as another program would (the writer keeps it open).
        fn truncate_wal(&self) {
            cut_to_nothing(&self.wal);
        }

        /// Stops the writer; how it closed.
        fn stop(self) -> (Result<(), EventsError>, PathBuf, tempfile::TempDir) {
            drop(self.handle);
            (self.writer.finish(), self.path, self.dir)
        }

        /// Stops the writer; the statuses in the store.
        fn finish(self) -> i64 {
            drop(self.handle);
            self.writer.finish().expect("closed");
            Connection::open(&self.path)
                .expect("reopen")
                .query_row("SELECT count(*) FROM statuses", [], |row| row.get(0))
                .expect("count")
        }
    }

    #[test]
    fn the_wal_starts_over_every_few_pages_while_callbacks_keep_coming() {
        let writing = Writing::start();
        // A WAL that never started over would hold every page of these 2,000 commits (several
        // each); this one checkpoints at 8,000 at most.
        let most = writing.wal_of(CHECKPOINT_PAGES_MOST + CHECKPOINT_PAGES);
        writing.save(0, 2_000, |n| {
            let length = writing.wal_length();
            assert!(
                length <= most,
                "after {n} commits the WAL is {length} bytes (at most {most})"
            );
        });
        assert_eq!(writing.finish(), 2_000);
    }

    #[test]
    fn a_reader_holding_an_old_state_keeps_the_wal_only_until_it_lets_go() {
        let writing = Writing::start();
        writing.save_while_a_reader_holds(1_500);
        let held = writing.wal_length();
        let checkpoint = writing.wal_of(CHECKPOINT_PAGES_MOST);
        assert!(held > checkpoint, "the reader kept its part: {held} bytes of WAL");
        writing.save(1_500, 4_000, drop);
        // Once let go, the WAL is copied whole at the next checkpoint due and starts over from
        // its beginning: it grows at most one checkpoint's worth further.
        let after = writing.wal_length();
        assert!(
            after <= held + checkpoint,
            "the WAL grew from {held} to {after} bytes after the reader let go"
        );
        assert_eq!(writing.finish(), 4_000);
    }

    /// The callbacks the main file holds by itself (a copy of it without its WAL); none when
    /// not even the tables were copied into it.
    fn in_main_file(path: &Path) -> i64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("main-only.sqlite");
        std::fs::copy(path, &copy).expect("copy the main file");
        Connection::open(&copy)
            .expect("the copy")
            .query_row("SELECT count(*) FROM statuses", [], |row| row.get(0))
            .unwrap_or(0)
    }

    #[test]
    fn a_wal_a_reader_held_is_copied_soon_after_it_lets_go_though_callbacks_come_slowly() {
        let writing = Writing::start();
        writing.save_while_a_reader_holds(1_500);
        // A quiet time: a callback now and then, far fewer pages than a checkpoint waits for.
        writing.save(1_500, 1_501, drop);
        std::thread::sleep(CHECKPOINT_HELD_RETRY + Duration::from_millis(100));
        // The checkpoint runs after this one is answered; the next is committed after it.
        writing.save(1_501, 1_503, drop);
        assert!(
            in_main_file(&writing.path) >= 1_502,
            "the main file holds {} of 1,503 callbacks",
            in_main_file(&writing.path)
        );
        assert_eq!(writing.finish(), 1_503);
    }

    /// The ids of the statuses in a copy of the store's files (the main file, and its WAL when
    /// `with_wal`), with what SQLite's integrity check says of it.
    fn copied(path: &Path, with_wal: bool) -> (String, Vec<usize>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("copy.sqlite");
        std::fs::copy(path, &copy).expect("copy the main file");
        if with_wal {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            let _ = std::fs::copy(PathBuf::from(wal), dir.path().join("copy.sqlite-wal"));
        }
        let connection = Connection::open(&copy).expect("the copy");
        let check = connection
            .query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
            .unwrap_or_else(|error| error.to_string());
        let ids = connection
            .prepare("SELECT message_id FROM statuses")
            .and_then(|mut select| {
                select
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|id| id.strip_prefix('w')?.parse().ok())
            .collect();
        (check, ids)
    }

    #[test]
    fn a_wal_cut_to_nothing_from_outside_is_never_copied_into_the_main_file() {
        let writing = Writing::start();
        writing.save(0, 1_500, drop);
        let checkpointed = in_main_file(&writing.path);
        writing.truncate_wal();
        let acknowledged = writing.try_save(1_500, 1_505);
        let (closed, path, _dir) = writing.stop();
        let (main_check, in_main) = copied(&path, false);
        assert_eq!(
            main_check,
            "ok",
            "the main file is damaged ({closed:?}, {} acknowledged after the cut)",
            acknowledged.len()
        );
        assert!(
            i64::try_from(in_main.len()).expect("count") >= checkpointed,
            "the main file holds {} callbacks, {checkpointed} before the cut",
            in_main.len()
        );
        let (check, stored) = copied(&path, true);
        assert_eq!(check, "ok", "the store is damaged");
        let lost: Vec<_> = acknowledged.iter().filter(|n| !stored.contains(n)).collect();
        assert!(lost.is_empty(), "acknowledged after the cut, not stored: {lost:?}");
        assert!(
            matches!(closed, Err(EventsError::Damaged { .. })),
            "the writer said nothing of the cut: {closed:?}"
        );
    }

    /// A store just made in a directory of its own (kept as long as the directory is).
    fn new_store() -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.sqlite");
        let store = Store::open(&path).expect("open");
        (dir, path, store)
    }

    /// Callbacks `from..to` as the writer's queue holds them, one status each.
    fn queued(from: usize, to: usize) -> Vec<Op> {
        (from..to)
            .map(|n| Op {
                callback: Box::new(callback(&format!(
                    r#"{{"statuses":[{{"id":"w{n}","status":"sent","timestamp":"5"}}]}}"#
                ))),
                done: tokio::sync::oneshot::channel().0,
            })
            .collect()
    }

    /// Cuts a WAL to nothing, as another program would (SQLite keeps it open).
    fn cut_to_nothing(wal: &Path) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(wal)
            .and_then(|wal| wal.set_len(0))
            .expect("cut the WAL");
    }

    #[test]
    fn a_wal_deleted_or_replaced_at_its_path_is_still_sqlites_and_folded_at_stop() {
        for replaced in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("events.sqlite");
            let mut store = Store::open(&path).expect("open");
            store.commit(&queued(0, 200)).expect("committed");
            if replaced {
                let other = path.with_file_name("other");
                std::fs::write(&other, [7u8; 1_000]).expect("another file");
                std::fs::rename(&other, &store.wal).expect("renamed over the WAL");
            } else {
                std::fs::remove_file(&store.wal).expect("the WAL deleted");
            }
            store
                .commit(&queued(200, 300))
                .expect("committed into the log SQLite holds open");
            store.checkpoint().expect("folded");
            store.close().expect("closed as usual");
            let (check, ids) = copied(&path, false);
            assert_eq!(check, "ok", "replaced: {replaced}");
            assert_eq!(ids.len(), 300, "replaced: {replaced}");
        }
    }

    #[test]
    fn a_wal_whose_header_alone_was_zeroed_is_still_folded() {
        use std::os::unix::fs::FileExt as _;
        let (_dir, path, mut store) = new_store();
        store.commit(&queued(0, 300)).expect("committed");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&store.wal)
            .and_then(|wal| wal.write_all_at(&[0; 32], 0))
            .expect("zero the header");
        store.commit(&queued(300, 400)).expect("committed");
        store.checkpoint().expect("folded");
        store.close().expect("closed as usual");
        let (check, ids) = copied(&path, false);
        assert_eq!(check, "ok");
        assert_eq!(ids.len(), 400);
    }

    #[test]
    fn a_wal_cut_halfway_then_written_past_is_never_copied_into_the_main_file() {
        let (_dir, path, mut store) = new_store();
        store.commit(&queued(0, 100)).expect("committed");
        store.checkpoint().expect("checkpointed");
        for n in 1..10 {
            store.commit(&queued(n * 100, n * 100 + 100)).expect("committed");
        }
        let length = std::fs::metadata(&store.wal).expect("the WAL").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&store.wal)
            .and_then(|wal| wal.set_len(length / 2))
            .expect("cut the WAL");
        // Written past the hole (or refused, if SQLite must read a page that was cut away).
        let _ = store.commit(&queued(1_000, 1_010));
        let _ = store.checkpoint();
        assert!(matches!(store.close(), Err(EventsError::Damaged { .. })));
        let (check, in_main) = copied(&path, false);
        assert_eq!(check, "ok", "the main file is damaged");
        assert!(in_main.len() >= 100, "the main file holds {} callbacks", in_main.len());
    }

    #[test]
    fn a_store_found_damaged_takes_nothing_more_into_its_wal() {
        let (_dir, _, mut store) = new_store();
        store.commit(&queued(0, 100)).expect("committed");
        cut_to_nothing(&store.wal);
        let _ = store.commit(&queued(100, 110));
        assert!(store.is_damaged());
        let length = std::fs::metadata(&store.wal).expect("the WAL").len();
        for n in 0..5 {
            assert!(matches!(
                store.commit(&queued(200 + n * 100, 300 + n * 100)),
                Err(EventsError::Damaged { .. })
            ));
        }
        assert_eq!(std::fs::metadata(&store.wal).expect("the WAL").len(), length);
    }

    #[test]
    fn a_wal_cut_while_a_commit_runs_is_found_though_the_commit_writes_past_the_cut() {
        let (_dir, path, mut store) = new_store();
        store.commit(&queued(0, 100)).expect("committed");
        store.checkpoint().expect("checkpointed");
        for n in 1..10 {
            store.commit(&queued(n * 100, n * 100 + 100)).expect("committed");
        }
        cut_to_nothing(&store.wal);
        // A commit after the cut: its frames go where they would have, past the hole, and the
        // WAL is as long as the frames SQLite counts once more; only its header tells.
        store
            .commit_unchecked(&queued(1_000, 1_010))
            .expect("committed from the pages SQLite holds in memory");
        assert!(matches!(
            store.commit(&queued(1_010, 1_020)),
            Err(EventsError::Damaged { .. })
        ));
        assert!(matches!(store.close(), Err(EventsError::Damaged { .. })));
        let (check, in_main) = copied(&path, false);
        assert_eq!(check, "ok", "the main file is damaged");
        assert!(in_main.len() >= 100, "the main file holds {} callbacks", in_main.len());
        let (check, _) = copied(&path, true);
        assert_eq!(check, "ok", "the store is damaged");
    }

    #[test]
    fn a_page_sqlite_cannot_read_from_a_cut_wal_marks_the_store_damaged() {
        let (_dir, _, mut store) = new_store();
        store.commit(&queued(0, 100)).expect("committed");
        cut_to_nothing(&store.wal);
        // Nothing in memory: the next commit reads its pages from the WAL.
        store
            .connection
            .execute_batch("PRAGMA shrink_memory")
            .expect("cache emptied");
        let error = store
            .commit_unchecked(&queued(100, 110))
            .expect_err("the pages are gone");
        assert!(matches!(store.sqlite(error), EventsError::Damaged { .. }));
        assert!(matches!(store.close(), Err(EventsError::Damaged { .. })));
    }

    #[test]
    fn receive_store_refuses_other_databases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("journal.sqlite");
        Connection::open(&other)
            .expect("create")
            .execute_batch("CREATE TABLE rows (row INTEGER)")
            .expect("table");
        assert!(matches!(Store::open(&other), Err(EventsError::NotAStore { .. })));
        let text = dir.path().join("contacts.csv");
        std::fs::write(&text, "name,phone\nAsha,+919876543210\n".repeat(100)).expect("write");
        assert!(matches!(Store::open(&text), Err(EventsError::NotAStore { .. })));
    }

    #[test]
    fn a_reader_refuses_a_layout_the_receiver_would_upgrade_until_it_has() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.sqlite");
        StoreWriter::spawn(Store::open(&path).expect("open"))
            .finish()
            .expect("closed");
        Connection::open(&path)
            .expect("reopen")
            .execute_batch("PRAGMA user_version = 0")
            .expect("version");
        assert!(matches!(
            EventReader::open(&path),
            Err(EventsError::OtherVersion { found: 0, .. })
        ));
        assert!(matches!(
            OptOutReader::open(&path),
            Err(EventsError::OtherVersion { found: 0, .. })
        ));
        StoreWriter::spawn(Store::open(&path).expect("upgraded"))
            .finish()
            .expect("closed");
        assert!(EventReader::open(&path).is_ok());
        Connection::open(&path)
            .expect("reopen")
            .execute_batch(&format!("PRAGMA user_version = {}", VERSION + 1))
            .expect("version");
        assert!(matches!(
            Store::open(&path),
            Err(EventsError::OtherVersion {
                access: Access::Write,
                ..
            })
        ));
        assert!(matches!(
            StatusFeed::open(&path, None),
            Err(EventsError::OtherVersion {
                access: Access::Read,
                ..
            })
        ));
    }
}
