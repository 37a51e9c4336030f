//! The campaign journal: what happened to every row, kept so that a crash at any instant
//! loses nothing and sends nothing twice.
//!
//! It is a SQLite database (WAL mode, `synchronous=FULL`): a transaction is either wholly on
//! disk or not at all, whatever instant the process dies, and SQLite is the most tested
//! embedded store there is. Before a request leaves, its row is committed as `sending`; after
//! the answer, as its outcome. A row found `sending` when a run starts was in flight when the
//! previous run died: its message may or may not have been delivered (the API has no
//! idempotency key), so it becomes `unknown` and is not sent again unless asked.
//!
//! Writes go through one thread ([`JournalWriter`]) that commits everything queued since its
//! last commit in one transaction (group commit): one `fsync` covers many rows, so the journal
//! keeps up with 1,000 messages a second while each `sending` record is still durable before
//! its request leaves.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

/// A row's state in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Pending,
    Invalid,
    Sending,
    Accepted,
    /// Refused by the provider (`WA400`, an unexpected answer): not sent again.
    Failed,
    /// Still failing after every attempt (5xx, 429, timeouts): sent again on resume.
    Retryable,
    /// In flight when a run died: delivery unknown.
    Unknown,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::Invalid => "invalid",
            RowStatus::Sending => "sending",
            RowStatus::Accepted => "accepted",
            RowStatus::Failed => "failed",
            RowStatus::Retryable => "retryable",
            RowStatus::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> RowStatus {
        match text {
            "invalid" => RowStatus::Invalid,
            "sending" => RowStatus::Sending,
            "accepted" => RowStatus::Accepted,
            "failed" => RowStatus::Failed,
            "retryable" => RowStatus::Retryable,
            "unknown" => RowStatus::Unknown,
            _ => RowStatus::Pending,
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<RowStatus> {
        use RowStatus::*;
        [Pending, Invalid, Sending, Accepted, Failed, Retryable, Unknown]
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }
}

/// What identifies a campaign: the template (with its `--var` values) and the data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub template: String,
    pub data: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the journal `{path}` belongs to a campaign whose {what} has changed since it was written")]
    Changed { path: String, what: &'static str },
    #[error("the journal `{path}` is in use by another flowc process")]
    Busy { path: String },
    #[error("journal `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the journal writer stopped: {0}")]
    WriterGone(String),
}

/// The outcome of a row, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message_id: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
}

/// One line of the journal, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub row: u64,
    pub recipient: String,
    pub status: RowStatus,
    pub record: Record,
    /// Whether the row's last change was made by an earlier run.
    pub earlier_run: bool,
}

pub struct Journal {
    connection: Connection,
    path: String,
    run: i64,
}

/// The state every row was in when this run started, one byte a row (1 MiB per million rows).
pub struct ResumeIndex {
    statuses: Vec<u8>,
}

impl ResumeIndex {
    pub fn get(&self, row: u64) -> Option<RowStatus> {
        let index = usize::try_from(row).ok()?;
        RowStatus::from_code(*self.statuses.get(index)?)
    }
}

const SCHEMA: &str = "
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
    run INTEGER NOT NULL
);
";

impl Journal {
    /// Opens (or creates) the journal at `path`; `None` gives a temporary one (dry runs).
    /// Refuses a journal written for another template or data file unless `restart`.
    pub fn open(path: Option<&Path>, fingerprint: &Fingerprint, restart: bool) -> Result<Journal, JournalError> {
        let name = path.map_or_else(|| "(temporary journal)".to_owned(), |path| path.display().to_string());
        let sqlite = |source| JournalError::Sqlite {
            path: name.clone(),
            source,
        };
        let connection = match path {
            Some(path) => Connection::open(path),
            // An empty name is SQLite's private temporary database: on disk, so memory stays
            // flat for any number of rows, and deleted when the connection closes.
            None => Connection::open(""),
        }
        .map_err(sqlite)?;
        // An exclusive lock, taken by the first write and held: two flowc processes must never
        // send the same campaign at once.
        connection
            .execute_batch("PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(|error| busy_or(error, &name))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(|error| busy_or(error, &name))?;
        let mut journal = Journal {
            connection,
            path: name,
            run: 0,
        };
        journal.check_fingerprint(fingerprint, restart)?;
        Ok(journal)
    }

    fn sqlite(&self, source: rusqlite::Error) -> JournalError {
        busy_or(source, &self.path)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.connection
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(|error| self.sqlite(error))
    }

    fn check_fingerprint(&mut self, fingerprint: &Fingerprint, restart: bool) -> Result<(), JournalError> {
        let template = self.meta("template")?;
        let data = self.meta("data")?;
        let changed = match (&template, &data) {
            (Some(template), _) if *template != fingerprint.template => Some("template (or a --var value)"),
            (_, Some(data)) if *data != fingerprint.data => Some("data file"),
            _ => None,
        };
        let transaction = self
            .connection
            .transaction()
            .map_err(|error| busy_or(error, &self.path))?;
        if let Some(what) = changed {
            if !restart {
                return Err(JournalError::Changed {
                    path: self.path.clone(),
                    what,
                });
            }
        }
        if restart {
            transaction
                .execute_batch("DELETE FROM rows; DELETE FROM meta;")
                .map_err(|error| busy_or(error, &self.path))?;
        }
        let run: i64 = transaction
            .query_row("SELECT value FROM meta WHERE key = 'run'", [], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(|error| busy_or(error, &self.path))?
            .and_then(|run| run.parse().ok())
            .unwrap_or(0)
            + 1;
        for (key, value) in [
            ("template", fingerprint.template.as_str()),
            ("data", fingerprint.data.as_str()),
            ("run", &run.to_string()),
        ] {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )
                .map_err(|error| busy_or(error, &self.path))?;
        }
        transaction.commit().map_err(|error| busy_or(error, &self.path))?;
        self.run = run;
        Ok(())
    }

    /// Whether this journal held rows from an earlier run.
    pub fn is_resume(&self) -> bool {
        self.run > 1
    }

    /// Marks rows left `sending` by a run that died as `unknown`; returns how many.
    pub fn recover_in_flight(&mut self) -> Result<u64, JournalError> {
        let changed = self
            .connection
            .execute(
                "UPDATE rows SET status = 'unknown', error = 'in flight when an earlier run stopped: delivery unknown' WHERE status = 'sending'",
                [],
            )
            .map_err(|error| self.sqlite(error))?;
        Ok(changed as u64)
    }

    /// Every row's status as this run starts.
    pub fn resume_index(&self) -> Result<ResumeIndex, JournalError> {
        let mut statuses = Vec::new();
        let mut statement = self
            .connection
            .prepare("SELECT row, status FROM rows ORDER BY row")
            .map_err(|error| self.sqlite(error))?;
        let mut rows = statement.query([]).map_err(|error| self.sqlite(error))?;
        while let Some(row) = rows.next().map_err(|error| busy_or(error, &self.path))? {
            let number: i64 = row.get(0).map_err(|error| busy_or(error, &self.path))?;
            let status: String = row.get(1).map_err(|error| busy_or(error, &self.path))?;
            let Ok(index) = usize::try_from(number) else { continue };
            if statuses.len() <= index {
                statuses.resize(index + 1, 0);
            }
            statuses[index] = RowStatus::parse(&status).code();
        }
        Ok(ResumeIndex { statuses })
    }

    /// Records the pre-flight of every row, in batches: valid rows become `pending` (unless an
    /// earlier run already settled them), invalid rows `invalid` with the reason.
    pub fn preflight(&mut self) -> Result<Preflight<'_>, JournalError> {
        self.connection
            .execute_batch("BEGIN")
            .map_err(|error| busy_or(error, &self.path))?;
        Ok(Preflight {
            journal: self,
            in_batch: 0,
        })
    }

    /// Every row in row order, for the report.
    pub fn for_each_row(&self, mut visit: impl FnMut(JournalRow) -> std::io::Result<()>) -> Result<(), JournalError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT row, recipient, status, http_status, code, message_id, attempts, error, run FROM rows ORDER BY row",
            )
            .map_err(|error| self.sqlite(error))?;
        let mut rows = statement.query([]).map_err(|error| self.sqlite(error))?;
        while let Some(row) = rows.next().map_err(|error| busy_or(error, &self.path))? {
            let read = || -> rusqlite::Result<JournalRow> {
                Ok(JournalRow {
                    row: row.get::<_, i64>(0)?.try_into().unwrap_or_default(),
                    recipient: row.get(1)?,
                    status: RowStatus::parse(&row.get::<_, String>(2)?),
                    record: Record {
                        http_status: row.get(3)?,
                        code: row.get(4)?,
                        message_id: row.get(5)?,
                        attempts: row.get(6)?,
                        error: row.get(7)?,
                    },
                    earlier_run: row.get::<_, i64>(8)? < self.run,
                })
            };
            let line = read().map_err(|error| busy_or(error, &self.path))?;
            visit(line).map_err(|error| JournalError::WriterGone(format!("cannot write the report: {error}")))?;
        }
        Ok(())
    }

    fn apply(&self, op: &WriteOp) -> rusqlite::Result<()> {
        match op {
            WriteOp::Sending { row, attempt, .. } => {
                self.connection
                    .prepare_cached("UPDATE rows SET status = 'sending', attempts = ?2, run = ?3 WHERE row = ?1")?
                    .execute(params![*row as i64, attempt, self.run])?;
            }
            WriteOp::Outcome { row, status, record } => {
                self.connection.prepare_cached(
                    "UPDATE rows SET status = ?2, http_status = ?3, code = ?4, message_id = ?5, attempts = ?6, error = ?7, run = ?8 WHERE row = ?1",
                )?
                .execute(params![
                        *row as i64,
                        status.as_str(),
                        record.http_status,
                        record.code,
                        record.message_id,
                        record.attempts,
                        record.error,
                        self.run
                    ],
                )?;
            }
            WriteOp::Flush(_) => {}
        }
        Ok(())
    }
}

fn busy_or(error: rusqlite::Error, path: &str) -> JournalError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            JournalError::Busy { path: path.to_owned() }
        }
        _ => JournalError::Sqlite {
            path: path.to_owned(),
            source: error,
        },
    }
}

/// The pre-flight's batched writes; commit with [`Preflight::finish`].
pub struct Preflight<'a> {
    journal: &'a mut Journal,
    in_batch: usize,
}

impl Preflight<'_> {
    pub fn record(&mut self, row: u64, recipient: &str, error: Option<&str>) -> Result<(), JournalError> {
        let status = if error.is_some() { "invalid" } else { "pending" };
        let connection = &self.journal.connection;
        let mut statement = connection
            .prepare_cached(
                "INSERT INTO rows (row, recipient, status, error, run) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(row) DO UPDATE SET
                   recipient = excluded.recipient,
                   error = CASE WHEN rows.status IN ('pending', 'invalid') THEN excluded.error ELSE rows.error END,
                   status = CASE WHEN rows.status IN ('pending', 'invalid') THEN excluded.status ELSE rows.status END",
            )
            .map_err(|error| busy_or(error, &self.journal.path))?;
        statement
            .execute(params![row as i64, recipient, status, error, self.journal.run])
            .map_err(|error| busy_or(error, &self.journal.path))?;
        self.in_batch += 1;
        if self.in_batch >= 50_000 {
            connection
                .execute_batch("COMMIT; BEGIN")
                .map_err(|error| busy_or(error, &self.journal.path))?;
            self.in_batch = 0;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), JournalError> {
        self.journal
            .connection
            .execute_batch("COMMIT")
            .map_err(|error| busy_or(error, &self.journal.path))
    }
}

enum WriteOp {
    Sending {
        row: u64,
        attempt: u32,
        done: oneshot::Sender<Result<(), String>>,
    },
    Outcome {
        row: u64,
        status: RowStatus,
        record: Record,
    },
    Flush(oneshot::Sender<Result<(), String>>),
}

/// The journal's single writer thread, committing in groups.
pub struct JournalWriter {
    sender: mpsc::Sender<WriteOp>,
    thread: thread::JoinHandle<Journal>,
}

/// A cheap handle for the sending tasks.
#[derive(Clone)]
pub struct JournalHandle {
    sender: mpsc::Sender<WriteOp>,
}

impl JournalWriter {
    pub fn spawn(journal: Journal) -> JournalWriter {
        let (sender, receiver) = mpsc::channel::<WriteOp>();
        let thread = thread::spawn(move || {
            let mut failure: Option<String> = None;
            while let Ok(first) = receiver.recv() {
                let mut batch = vec![first];
                batch.extend(receiver.try_iter().take(10_000));
                let result = match &failure {
                    Some(message) => Err(message.clone()),
                    None => commit(&journal, &batch).map_err(|error| format!("{}: {error}", journal.path)),
                };
                if let Err(message) = &result {
                    failure.get_or_insert_with(|| message.clone());
                }
                for op in batch {
                    match op {
                        WriteOp::Sending { done, .. } | WriteOp::Flush(done) => {
                            let _ = done.send(result.clone());
                        }
                        WriteOp::Outcome { .. } => {}
                    }
                }
            }
            journal
        });
        JournalWriter { sender, thread }
    }

    pub fn handle(&self) -> JournalHandle {
        JournalHandle {
            sender: self.sender.clone(),
        }
    }

    /// Waits for every queued write and gives the journal back.
    pub fn finish(self) -> Result<Journal, JournalError> {
        drop(self.sender);
        self.thread
            .join()
            .map_err(|_| JournalError::WriterGone("the journal thread panicked".to_owned()))
    }
}

fn commit(journal: &Journal, batch: &[WriteOp]) -> rusqlite::Result<()> {
    journal.connection.execute_batch("BEGIN IMMEDIATE")?;
    for op in batch {
        if let Err(error) = journal.apply(op) {
            let _ = journal.connection.execute_batch("ROLLBACK");
            return Err(error);
        }
    }
    journal.connection.execute_batch("COMMIT")
}

impl JournalHandle {
    /// Records that `row` is about to be sent, and waits until that is on disk.
    pub async fn sending(&self, row: u64, attempt: u32) -> Result<(), JournalError> {
        let (done, wait) = oneshot::channel();
        self.sender
            .send(WriteOp::Sending { row, attempt, done })
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?;
        wait.await
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?
            .map_err(JournalError::WriterGone)
    }

    /// Records an outcome; it is committed with the next group.
    pub fn outcome(&self, row: u64, status: RowStatus, record: Record) -> Result<(), JournalError> {
        self.sender
            .send(WriteOp::Outcome { row, status, record })
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))
    }

    /// Waits until everything recorded so far is on disk.
    pub async fn flush(&self) -> Result<(), JournalError> {
        let (done, wait) = oneshot::channel();
        self.sender
            .send(WriteOp::Flush(done))
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?;
        wait.await
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?
            .map_err(JournalError::WriterGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
        Fingerprint {
            template: "t1".to_owned(),
            data: "d1".to_owned(),
        }
    }

    #[test]
    fn refuses_a_changed_campaign_unless_restarted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.sqlite");
        drop(Journal::open(Some(&path), &fingerprint(), false).expect("new"));
        let changed = Fingerprint {
            data: "d2".to_owned(),
            ..fingerprint()
        };
        assert!(matches!(
            Journal::open(Some(&path), &changed, false),
            Err(JournalError::Changed { what: "data file", .. })
        ));
        assert!(Journal::open(Some(&path), &changed, true).is_ok());
    }

    #[test]
    fn in_flight_rows_become_unknown_on_the_next_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.sqlite");
        let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("new");
        let mut preflight = journal.preflight().expect("preflight");
        preflight.record(2, "+1", None).expect("row 2");
        preflight.record(3, "+1", Some("bad")).expect("row 3");
        preflight.finish().expect("commit");
        let writer = JournalWriter::spawn(journal);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(writer.handle().sending(2, 1)).expect("durable");
        drop(writer.finish().expect("journal back"));

        let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("resume");
        assert!(journal.is_resume());
        assert_eq!(journal.recover_in_flight().expect("recover"), 1);
        let index = journal.resume_index().expect("index");
        assert_eq!(index.get(2), Some(RowStatus::Unknown));
        assert_eq!(index.get(3), Some(RowStatus::Invalid));
        assert_eq!(index.get(4), None);
    }
}
