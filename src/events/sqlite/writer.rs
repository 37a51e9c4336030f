//! The store's one writer thread: each callback inserted, the callbacks queued since the last
//! commit committed together (group commit), and the WAL checkpointed between batches.

use std::sync::Arc;
use std::thread;

use rusqlite::params;
use tokio::sync::{mpsc, oneshot};

use super::{Callback, EventsError, Place, Saved, Store, MAX_BATCH, QUEUE};
use crate::receive::event::{Event, IncomingMessage, StatusEvent};

pub(super) fn insert(transaction: &rusqlite::Transaction<'_>, callback: &Callback) -> rusqlite::Result<Saved> {
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
    // Equalities joined by OR rather than `IN (?4, ?5)`: the same rows, found through the same
    // two indexes, without the temporary b-tree SQLite builds for each `IN` list on every call.
    if status.message_id.is_some() || status.provider_message_id.is_some() {
        let seen = transaction
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM statuses WHERE status = ?1 AND timestamp IS ?2 AND error_code IS ?3
                   AND (message_id = ?4 OR message_id = ?5 OR provider_message_id = ?4 OR provider_message_id = ?5))",
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
                biz_opaque_callback_data, trace_id, business_number, phone_number_id, billable, pricing_model,
                pricing_category)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                ?22)",
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
            status.pricing.billable,
            status.pricing.model,
            status.pricing.category,
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

pub(super) struct Op {
    pub(super) callback: Box<Callback>,
    pub(super) done: oneshot::Sender<Result<Saved, std::sync::Arc<EventsError>>>,
}

/// The store's single writer thread, committing in groups.
pub(crate) struct StoreWriter {
    sender: mpsc::Sender<Op>,
    overwritten: Arc<std::sync::atomic::AtomicBool>,
    damaged: Arc<std::sync::OnceLock<String>>,
    place: Arc<Place>,
    thread: thread::JoinHandle<Result<(), EventsError>>,
}

/// A cheap handle for the request handlers.
#[derive(Clone)]
pub(crate) struct StoreHandle {
    sender: mpsc::Sender<Op>,
    /// The store's: set once it was found overwritten (nothing more is committed).
    overwritten: Arc<std::sync::atomic::AtomicBool>,
    /// The store's: set once it was found damaged (nothing more is written into it).
    damaged: Arc<std::sync::OnceLock<String>>,
    place: Arc<Place>,
}

impl StoreWriter {
    pub(crate) fn spawn(store: Store) -> StoreWriter {
        let (sender, mut receiver) = mpsc::channel::<Op>(QUEUE);
        let handle_overwritten = Arc::clone(&store.overwritten);
        let handle_damaged = Arc::clone(&store.damaged);
        let handle_place = Arc::clone(&store.place);
        let thread = thread::spawn(move || {
            let mut store = store;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = receiver.blocking_recv() {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                // A failed commit is not latched: a full disk may clear, and every callback
                // it held is answered 503, so the provider sends it again. (A store found
                // damaged stays so: see `Store::not_damaged`.)
                match store.commit(&batch) {
                    Ok(saved) => {
                        for (op, saved) in batch.drain(..).zip(saved) {
                            let _ = op.done.send(Ok(saved));
                        }
                    }
                    Err(error) => {
                        let error = std::sync::Arc::new(error);
                        for op in batch.drain(..) {
                            let _ = op.done.send(Err(std::sync::Arc::clone(&error)));
                        }
                    }
                }
                // After the answers, so that no callback of this batch waits for it. A failure
                // (a reader in the way) leaves the WAL longer, never anything lost.
                let _ = store.checkpoint_when_due();
            }
            // A store moved away while running is said at the end too (a non-zero exit), with
            // what was acknowledged into it folded into the file where it now is.
            if let Err(lost) = store.still_at_its_path() {
                store.fold_into_moved_file();
                return store.close().and(Err(lost));
            }
            let closed = store.checkpoint().and_then(|()| store.still_at_its_path());
            if store.is_overwritten() {
                return Err(store.close_overwritten());
            }
            store.close().and(closed)
        });
        StoreWriter {
            sender,
            overwritten: handle_overwritten,
            damaged: handle_damaged,
            place: handle_place,
            thread,
        }
    }

    pub(crate) fn handle(&self) -> StoreHandle {
        StoreHandle {
            sender: self.sender.clone(),
            overwritten: Arc::clone(&self.overwritten),
            damaged: Arc::clone(&self.damaged),
            place: Arc::clone(&self.place),
        }
    }

    /// Waits for every queued callback to be committed (once every handle is dropped), then
    /// checkpoints and closes the store.
    pub(crate) fn finish(self) -> Result<(), EventsError> {
        drop(self.sender);
        self.thread
            .join()
            .map_err(|_| EventsError::Failed("the store's writer thread panicked".to_owned()))?
    }
}

impl StoreHandle {
    /// Why the writer takes no callbacks now, if it does not: it stopped, the file is no
    /// longer at its path (looked at now, so that a probe finds it while no callback comes),
    /// or it was overwritten or found damaged.
    pub(crate) fn unavailable(&self) -> Option<&'static str> {
        if self.sender.is_closed() {
            Some("the event store is closed")
        } else if !self.place.holds() {
            Some("the event store is unreachable: it is no longer at its path (moved, deleted or replaced)")
        } else if self.overwritten.load(std::sync::atomic::Ordering::SeqCst) {
            Some("the event store is unreachable: it was overwritten in place")
        } else if self.damaged.get().is_some() {
            Some("the event store is unreachable: it was found damaged while the receiver ran")
        } else {
            None
        }
    }

    /// Resolves once the store is found no longer at its path.
    pub(crate) fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.place.lost()
    }

    /// Stores a callback and waits until it is on disk.
    pub(crate) async fn save(&self, callback: Callback) -> Result<Saved, EventsError> {
        let (done, wait) = oneshot::channel();
        let closed = || EventsError::Failed("the store is closed".to_owned());
        self.sender
            .send(Op {
                callback: Box::new(callback),
                done,
            })
            .await
            .map_err(|_| closed())?;
        wait.await.map_err(|_| closed())?.map_err(EventsError::Commit)
    }
}
