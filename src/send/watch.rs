//! What a campaign learns from the provider's callbacks while it runs (`send --events STORE`,
//! the store `flowc receive` writes): who opted out (never messaged again, even when the STOP
//! arrives during the run), and Meta's throttles: 130429 (the number's throughput) halves the
//! rate for a minute, 131048 (the spam rate limit) stops the campaign, and a burst of 131026
//! (undeliverable) or 131047 (outside the 24-hour window) above `--max-failure-rate` stops it
//! rather than burn the rest of the list.
//!
//! The store is opened read-only: the receiver keeps writing it (WAL, normal locking). A store
//! rotated during the run (moved away, a new one started at its path) is followed: each look
//! checks that the path still leads to the file opened (a `stat`), and opens the new file
//! otherwise, reading its opt-outs from the start; with no store at the path, the run stops.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::input::Unreadable;

#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    #[error(transparent)]
    Unreadable(Unreadable),
    #[error("`{path}` is not an event store written by flowc receive (no `{table}` table)")]
    NotAStore { path: String, table: &'static str },
    #[error("the event store `{path}` was moved away during the run and no store is at its path now ({reason}): a STOP stored elsewhere could not be honoured")]
    Gone { path: String, reason: String },
}

/// How many of the latest status events the failure rate is taken over.
pub(crate) const FAILURE_WINDOW: usize = 200;
/// Fewer statuses than this say nothing about a rate yet.
const FAILURE_MINIMUM: usize = 50;

/// The store's opt-outs, read since the last look on a connection of their own: a range read
/// of the table's rowid, cheap enough to run right before every request.
#[derive(Debug)]
pub(crate) struct OptOutReader {
    connection: Connection,
    path: String,
    file: PathBuf,
    identity: Identity,
    last: i64,
}

impl OptOutReader {
    /// The numbers that opted out since the last call (every one ever, the first time, and
    /// every one of a new store found at the path).
    fn fresh(&mut self) -> Result<Vec<u64>, EventsError> {
        if let Some((connection, identity)) = follow(&self.file, self.identity)? {
            self.connection = connection;
            self.identity = identity;
            self.last = 0;
        }
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, number FROM opt_outs WHERE id > ?1 ORDER BY id")
            .map_err(|error| unreadable(&self.path, &error))?;
        let opt_outs: Vec<(i64, String)> = statement
            .query_map([self.last], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|error| unreadable(&self.path, &error))?;
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

fn unreadable(path: &str, error: &rusqlite::Error) -> EventsError {
    EventsError::Unreadable(Unreadable {
        what: "the event store",
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// A file's device and inode: what the store's path must still lead to.
type Identity = (u64, u64);

fn identity_of(metadata: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.dev(), metadata.ino())
}

/// The store now at `path` when it is no longer the file `opened` (moved away, a new one in its
/// place): its connection and identity. An error when no store is there: nobody can say who
/// opted out.
fn follow(path: &Path, opened: Identity) -> Result<Option<(Connection, Identity)>, EventsError> {
    match std::fs::metadata(path) {
        Ok(metadata) if identity_of(&metadata) == opened => Ok(None),
        Ok(_) => open_store(path).map(Some),
        Err(error) => Err(EventsError::Gone {
            path: path.display().to_string(),
            reason: error.to_string(),
        }),
    }
}

/// Opens the store read-only and checks it holds the receiver's tables; its identity.
fn open_store(path: &Path) -> Result<(Connection, Identity), EventsError> {
    let name = path.display().to_string();
    let unreadable = |reason: String| {
        EventsError::Unreadable(Unreadable {
            what: "the event store",
            path: name.clone(),
            reason,
        })
    };
    // Refuse what is not a regular file before SQLite opens it (a FIFO would block).
    let file = crate::input::open(path).map_err(|error| unreadable(error.to_string()))?;
    let identity = identity_of(&file.metadata().map_err(|error| unreadable(error.to_string()))?);
    drop(file);
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|error| unreadable(error.to_string()))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(2))
        .map_err(|error| unreadable(error.to_string()))?;
    for table in ["statuses", "opt_outs"] {
        let present: bool = connection
            .query_row(
                "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .map_err(|error| unreadable(error.to_string()))?;
        if !present {
            return Err(EventsError::NotAStore { path: name, table });
        }
    }
    Ok((connection, identity))
}

/// A read-only view of the event store, remembering what it has already read.
pub(crate) struct EventFeed {
    connection: Connection,
    path: String,
    file: PathBuf,
    identity: Identity,
    last_status: i64,
    /// Until handed to the sending tasks ([`EventFeed::take_opt_outs`]).
    opt_outs: Option<OptOutReader>,
    /// Only statuses whose `ref`, `ref1` or `ref2` starts with this (the `--track` prefix of
    /// this campaign); all statuses when the campaign is not tracked.
    track_prefix: Option<String>,
    /// Whether each of the latest statuses was a failure that points at the list (131026,
    /// 131047), oldest first.
    recent: VecDeque<bool>,
}

/// A number as the store keeps it (`919876543210`, without `+`; written with spaces or dashes
/// by whoever typed it) as the key a row's recipients are compared with: its digits. The one
/// normalisation of stored numbers: `flowc report` matches opt-outs and replies with it too.
pub(crate) fn number_of(number: &str) -> Option<u64> {
    crate::phone::number_key(number, crate::phone::Reading::Provider)
        .ok()
        .map(|(key, _)| key)
}

/// What is new since the last look.
#[derive(Debug, Default)]
pub(crate) struct Fresh {
    pub opt_outs: Vec<u64>,
    /// The error codes of the new failed statuses.
    pub codes: Vec<String>,
}

impl EventFeed {
    pub(crate) fn open(path: &Path, track_prefix: Option<String>) -> Result<EventFeed, EventsError> {
        let name = path.display().to_string();
        let (connection, identity) = open_store(path)?;
        // Statuses from before this run are history: the throttles react to what happens now.
        let last_status = connection
            .query_row("SELECT max(id) FROM statuses", [], |row| row.get::<_, Option<i64>>(0))
            .optional()
            .map_err(|error| unreadable(&name, &error))?
            .flatten()
            .unwrap_or(0);
        let (opt_out_connection, opt_out_identity) = open_store(path)?;
        let opt_outs = OptOutReader {
            connection: opt_out_connection,
            path: name.clone(),
            file: path.to_owned(),
            identity: opt_out_identity,
            last: 0,
        };
        Ok(EventFeed {
            connection,
            path: name,
            file: path.to_owned(),
            identity,
            last_status,
            opt_outs: Some(opt_outs),
            track_prefix,
            recent: VecDeque::with_capacity(FAILURE_WINDOW),
        })
    }

    /// Hands the opt-out reader (past every opt-out read so far) to the sending tasks, which
    /// look right before each request; the feed then reads statuses only.
    pub(crate) fn take_opt_outs(&mut self) -> Option<OptOutReader> {
        self.opt_outs.take()
    }

    fn unreadable(&self, error: rusqlite::Error) -> EventsError {
        EventsError::Unreadable(Unreadable {
            what: "the event store",
            path: self.path.clone(),
            reason: error.to_string(),
        })
    }

    /// Opt-outs (while the feed still reads them) and failed statuses recorded since the last
    /// call (every opt-out ever, the first time).
    pub(crate) fn poll(&mut self) -> Result<Fresh, EventsError> {
        let mut fresh = Fresh::default();
        if let Some(opt_outs) = self.opt_outs.as_mut() {
            fresh.opt_outs = opt_outs.fresh()?;
        }
        // A new store's statuses all come from after the rotation, during this run.
        if let Some((connection, identity)) = follow(&self.file, self.identity)? {
            self.connection = connection;
            self.identity = identity;
            self.last_status = 0;
        }
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT id, status, error_code, coalesce(ref, ''), coalesce(ref1, ''), coalesce(ref2, '')
                 FROM statuses WHERE id > ?1 ORDER BY id LIMIT 10000",
            )
            .map_err(|error| self.unreadable(error))?;
        type Status = (i64, String, Option<String>, String, String, String);
        let statuses: Vec<Status> = statement
            .query_map([self.last_status], |row| {
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
            .map_err(|error| self.unreadable(error))?;
        drop(statement);
        for (id, status, code, reference, ref1, ref2) in statuses {
            self.last_status = id;
            if let Some(prefix) = &self.track_prefix {
                if ![&reference, &ref1, &ref2]
                    .iter()
                    .any(|value| value.starts_with(prefix.as_str()))
                {
                    continue;
                }
            }
            let failed = status.eq_ignore_ascii_case("failed");
            let code = code.unwrap_or_default();
            if self.recent.len() == FAILURE_WINDOW {
                self.recent.pop_front();
            }
            self.recent
                .push_back(failed && matches!(code.as_str(), "131026" | "131047"));
            if failed || matches!(code.as_str(), "130429" | "131048") {
                fresh.codes.push(code);
            }
        }
        Ok(fresh)
    }

    /// The share of list failures (131026, 131047) among the latest statuses, once there are
    /// enough of them to say anything.
    pub(crate) fn failure_rate(&self) -> Option<f64> {
        (self.recent.len() >= FAILURE_MINIMUM)
            .then(|| self.recent.iter().filter(|failed| **failed).count() as f64 / self.recent.len() as f64)
    }
}

/// The numbers that opted out, as the pre-flight needs them.
pub(crate) fn opted_out(feed: &mut EventFeed) -> Result<(HashSet<u64>, Fresh), EventsError> {
    let fresh = feed.poll()?;
    Ok((fresh.opt_outs.iter().copied().collect(), fresh))
}

/// What the sending tasks learn from the store while they run.
#[derive(Debug)]
pub(crate) struct Watch {
    /// Opt-outs are read right before each request, not on the feed's schedule: a STOP
    /// committed before a request leaves is always honoured.
    opt_outs: std::sync::Mutex<(OptOutReader, HashSet<u64>)>,
    slow_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a 130429 (throughput limit) halves the rate.
const SLOW_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the store's statuses are read.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Watch {
    pub(crate) fn new(opt_outs: OptOutReader) -> Watch {
        Watch {
            opt_outs: std::sync::Mutex::new((opt_outs, HashSet::new())),
            slow_until: std::sync::Mutex::new(None),
        }
    }

    /// Whether one of these numbers has opted out, as the store says now: what arrived since
    /// the last look is read first. An error means the store could not be read (the receiver
    /// holds its lock longer than the wait), so nobody can say.
    pub(crate) fn opted_out_now(&self, numbers: &[u64]) -> Result<bool, EventsError> {
        let mut guard = self.opt_outs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (reader, blocked) = &mut *guard;
        blocked.extend(reader.fresh()?);
        Ok(numbers.iter().any(|number| blocked.contains(number)))
    }

    /// Whether a 130429 asked for a slower pace within the last minute.
    pub(crate) fn is_slowed(&self) -> bool {
        self.slow_until
            .lock()
            .is_ok_and(|until| until.is_some_and(|until| std::time::Instant::now() < until))
    }
}

/// Reads the feed's statuses every few seconds until `done` or a stop, and acts on what it
/// finds: 130429 slows the campaign for a minute, 131048 and a burst of list failures stop it.
/// (Opt-outs are read by the sending tasks themselves: see [`Watch::opted_out_now`].)
pub(crate) fn watch(
    mut feed: EventFeed,
    watch: &Watch,
    stop: &super::StopSignal,
    max_failure_rate: f64,
    done: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    while !done.load(Ordering::Relaxed) && !stop.is_set() {
        // An error is the receiver holding a write lock for a moment: the next look will do.
        if let Ok(fresh) = feed.poll() {
            {
                if fresh.codes.iter().any(|code| code == "131048") {
                    stop.request(super::StopCause::SpamLimit);
                }
                if fresh.codes.iter().any(|code| code == "130429") {
                    if let Ok(mut until) = watch.slow_until.lock() {
                        *until = Some(std::time::Instant::now() + SLOW_FOR);
                    }
                }
                if let Some(rate) = feed.failure_rate().filter(|rate| *rate > max_failure_rate) {
                    stop.request(super::StopCause::FailureBurst {
                        percent: (rate * 100.0).round() as u32,
                    });
                }
            }
        }
        let mut slept = std::time::Duration::ZERO;
        while slept < POLL_EVERY && !done.load(Ordering::Relaxed) && !stop.is_set() {
            std::thread::sleep(std::time::Duration::from_millis(100));
            slept += std::time::Duration::from_millis(100);
        }
    }
}
