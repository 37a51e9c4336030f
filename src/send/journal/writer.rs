//! The journal's writes while sending: one thread commits everything queued since its last
//! commit in one transaction (group commit), and the pre-flight's batched records.

use std::sync::{mpsc, Arc};
use std::thread;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::unix_now;
use crate::send::journal::error::{busy_or, JournalError};
use crate::send::journal::{Journal, Record, RowKeys, RowStatus, CHECKPOINT_EVERY};

/// The pre-flight's batched writes; commit with [`Preflight::finish`].
pub(crate) struct Preflight<'a> {
    connection: &'a Connection,
    path: &'a str,
    run: i64,
    statement: rusqlite::Statement<'a>,
    in_batch: usize,
}

impl Preflight<'_> {
    /// Records a row as the pre-flight found it: `Pending`, `Invalid`, `Duplicate` or
    /// `Excluded` (a row an earlier run settled keeps its status).
    pub(crate) fn record(
        &mut self,
        row: u64,
        keys: &RowKeys,
        status: RowStatus,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let [reference, ref1, ref2] = &keys.refs;
        self.statement
            .execute(params![
                row as i64,
                keys.recipient,
                status.as_str(),
                error,
                self.run,
                keys.flow_token,
                reference,
                ref1,
                ref2,
                keys.track
            ])
            .map_err(|error| busy_or(error, self.path))?;
        self.in_batch += 1;
        if self.in_batch >= 50_000 {
            self.connection
                .execute_batch("COMMIT; BEGIN")
                .map_err(|error| busy_or(error, self.path))?;
            self.in_batch = 0;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), JournalError> {
        let Preflight {
            connection,
            path,
            statement,
            ..
        } = self;
        drop(statement);
        connection.execute_batch("COMMIT").map_err(|error| busy_or(error, path))
    }
}

pub(super) enum WriteOp {
    Sending {
        row: u64,
        attempt: u32,
        /// Which message the request carries (`flow`, `template`).
        message: &'static str,
        done: oneshot::Sender<Result<(), Arc<JournalError>>>,
    },
    Outcome {
        row: u64,
        status: RowStatus,
        record: Record,
    },
    Flush(oneshot::Sender<Result<(), Arc<JournalError>>>),
}

/// The journal's single writer thread, committing in groups.
pub(crate) struct JournalWriter {
    sender: mpsc::Sender<WriteOp>,
    thread: thread::JoinHandle<(Journal, Option<JournalError>)>,
}

/// A cheap handle for the sending tasks.
#[derive(Clone)]
pub(crate) struct JournalHandle {
    sender: mpsc::Sender<WriteOp>,
}

impl JournalWriter {
    pub(crate) fn spawn(journal: Journal) -> JournalWriter {
        let (sender, receiver) = mpsc::channel::<WriteOp>();
        let thread = thread::spawn(move || {
            let mut journal = journal;
            let mut failure: Option<Arc<JournalError>> = None;
            while let Ok(first) = receiver.recv() {
                let mut batch = vec![first];
                batch.extend(receiver.try_iter().take(10_000));
                let result = match &failure {
                    Some(error) => Err(Arc::clone(error)),
                    None => commit(&mut journal, &batch).map_err(Arc::new),
                };
                if let Err(error) = &result {
                    failure.get_or_insert_with(|| Arc::clone(error));
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
            // Every stop folds the WAL in: what is on disk no longer depends on `-wal`.
            let checkpointed = if failure.is_none() {
                journal.checkpoint().err()
            } else {
                None
            };
            (journal, checkpointed)
        });
        JournalWriter { sender, thread }
    }

    pub(crate) fn handle(&self) -> JournalHandle {
        JournalHandle {
            sender: self.sender.clone(),
        }
    }

    /// Waits for every queued write and gives the journal back.
    pub(crate) fn finish(self) -> Result<Journal, JournalError> {
        drop(self.sender);
        let (journal, checkpoint) = self
            .thread
            .join()
            .map_err(|_| JournalError::WriterGone("the journal thread panicked".to_owned()))?;
        match checkpoint {
            Some(error) => Err(error),
            None => Ok(journal),
        }
    }
}

/// One group commit: the batch, the commit counter, then the mirror (and, every few seconds,
/// a checkpoint), all before any waiter is told its record is durable.
fn commit(journal: &mut Journal, batch: &[WriteOp]) -> Result<(), JournalError> {
    let max_before = journal.max_sent_row;
    let result = (|| -> rusqlite::Result<()> {
        journal.connection.execute_batch("BEGIN IMMEDIATE")?;
        for op in batch {
            journal.apply(op)?;
        }
        journal
            .connection
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'commit'")?
            .execute([(journal.commit + 1).to_string()])?;
        journal
            .connection
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'max_sent_row'")?
            .execute([journal.max_sent_row.to_string()])?;
        journal.connection.execute_batch("COMMIT")
    })();
    if let Err(error) = result {
        let _ = journal.connection.execute_batch("ROLLBACK");
        journal.max_sent_row = max_before;
        return Err(busy_or(error, &journal.path));
    }
    journal.commit += 1;
    journal.write_mirror()?;
    // The first `sending` of a campaign is folded into the main file at once: until then the
    // main file says nothing was sent, and a lost `-wal` and mirror together would let that
    // pass for the truth.
    let first_send = max_before == 0 && journal.max_sent_row > 0;
    if first_send || journal.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
        journal.checkpoint()?;
    }
    Ok(())
}

impl JournalHandle {
    /// Records that `row` is about to be sent, and waits until that is on disk.
    pub(crate) async fn sending(&self, row: u64, attempt: u32, message: &'static str) -> Result<(), JournalError> {
        let (done, wait) = oneshot::channel();
        self.sender
            .send(WriteOp::Sending {
                row,
                attempt,
                message,
                done,
            })
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?;
        wait.await
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?
            .map_err(JournalError::Failed)
    }

    /// Records an outcome; it is committed with the next group.
    pub(crate) fn outcome(&self, row: u64, status: RowStatus, record: Record) -> Result<(), JournalError> {
        self.sender
            .send(WriteOp::Outcome { row, status, record })
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))
    }

    /// Waits until everything recorded so far is on disk.
    pub(crate) async fn flush(&self) -> Result<(), JournalError> {
        let (done, wait) = oneshot::channel();
        self.sender
            .send(WriteOp::Flush(done))
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?;
        wait.await
            .map_err(|_| JournalError::WriterGone("the journal is closed".to_owned()))?
            .map_err(JournalError::Failed)
    }
}

impl Journal {
    /// Records the pre-flight of every row, in batches: valid rows become `pending` (unless an
    /// earlier run already settled them), invalid rows `invalid` with the reason.
    pub(crate) fn preflight(&mut self) -> Result<Preflight<'_>, JournalError> {
        self.connection
            .execute_batch("BEGIN")
            .map_err(|error| busy_or(error, &self.path))?;
        // Prepared once for the whole file: a cache lookup per row hashes the SQL text. A row
        // whose message may have gone out keeps the keys it was sent with (a template changed
        // since, `--changed-template`, renders others); rows still to send take the new ones.
        let statement = self
            .connection
            .prepare(
                "INSERT INTO rows (row, recipient, status, error, run, flow_token, ref, ref1, ref2, track)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(row) DO UPDATE SET
                   recipient = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out', 'retryable') OR rows.recipient = '' THEN excluded.recipient ELSE rows.recipient END,
                   flow_token = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out', 'retryable') THEN excluded.flow_token ELSE coalesce(rows.flow_token, excluded.flow_token) END,
                   ref = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out', 'retryable') THEN excluded.ref ELSE coalesce(rows.ref, excluded.ref) END,
                   ref1 = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out', 'retryable') THEN excluded.ref1 ELSE coalesce(rows.ref1, excluded.ref1) END,
                   ref2 = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out', 'retryable') THEN excluded.ref2 ELSE coalesce(rows.ref2, excluded.ref2) END,
                   track = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out') THEN excluded.track ELSE rows.track END,
                   error = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out') THEN excluded.error ELSE rows.error END,
                   status = CASE WHEN rows.status IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out') THEN excluded.status ELSE rows.status END",
            )
            .map_err(|error| busy_or(error, &self.path))?;
        Ok(Preflight {
            connection: &self.connection,
            path: &self.path,
            run: self.run,
            statement,
            in_batch: 0,
        })
    }

    pub(super) fn apply(&mut self, op: &WriteOp) -> rusqlite::Result<()> {
        match op {
            WriteOp::Sending {
                row, attempt, message, ..
            } => {
                self.max_sent_row = self.max_sent_row.max(*row);
                self.connection
                    .prepare_cached(
                        "UPDATE rows SET status = 'sending', attempts = ?2, run = ?3, sent_at = ?4, template = ?5, message = ?6 WHERE row = ?1",
                    )?
                    .execute(params![*row as i64, attempt, self.run, unix_now(), self.template, message])?;
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
