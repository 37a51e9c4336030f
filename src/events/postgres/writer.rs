//! The receiver's one writer for a PostgreSQL store: a thread that commits every callback
//! queued since its last commit in one transaction, answers each caller only once `COMMIT`
//! returned, and, while the database is unreachable, tells every caller its callback was not
//! stored and reconnects by itself (with a growing pause between attempts).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ::postgres::{Client, Statement};
use tokio::sync::{mpsc, oneshot};

use super::schema::{create_or_check, WRITE_LOCK};
use super::url::error_text;
use super::{PgError, StoreUrl};
use crate::receive::event::{Event, IncomingMessage, StatusEvent};
use crate::receive::store::{Callback, Saved};

/// Callbacks committed together at most (as on SQLite).
const MAX_BATCH: usize = 2_000;

/// Callbacks waiting for the writer at most; past that, handlers wait for room.
const QUEUE: usize = 8_192;

/// How often an idle writer checks that the database is still there (for `/healthz`).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The first and the longest pause between two attempts to reconnect.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A PostgreSQL store opened for writing: connected, its tables created or checked.
pub(crate) struct PgStore {
    url: StoreUrl,
    connection: Connection,
}

/// A connection with the writer's statements prepared on it.
struct Connection {
    client: Client,
    insert_callback: Statement,
    insert_status: Statement,
    insert_message: Statement,
    insert_opt_out: Statement,
}

impl Connection {
    fn open(url: &StoreUrl) -> Result<Connection, PgError> {
        let mut client = url.connect().map_err(|reason| PgError::Connect {
            store: url.to_string(),
            reason,
        })?;
        create_or_check(&mut client, url)?;
        let query = |error: ::postgres::Error| PgError::Query {
            store: url.to_string(),
            reason: url.scrub(&error_text(&error)),
        };
        let mut prepare = |sql: &str| client.prepare(sql).map_err(query);
        let insert_callback = prepare(
            "INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (digest) DO NOTHING RETURNING id",
        )?;
        // The same status of the same message delivered in two envelopes (one carrying both
        // ids, the other one of them) is one event, as on SQLite: looked up by either id in the
        // insert itself (one round trip; the transactions take turns, so the look is exact).
        let insert_status = prepare(
            "INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id,
                status, \"timestamp\", timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1, ref2,
                biz_opaque_callback_data, trace_id, business_number, phone_number_id)
             SELECT $1::bytea, $2::bigint, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::bigint, $9::text,
                $10::text, $11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::text, $18::text, $19::text
             WHERE ($4::text IS NULL AND $5::text IS NULL) OR NOT EXISTS (
                SELECT 1 FROM statuses WHERE status = $6 AND \"timestamp\" IS NOT DISTINCT FROM $7
                  AND error_code IS NOT DISTINCT FROM $10
                  AND (message_id = $4 OR message_id = $5 OR provider_message_id = $4 OR provider_message_id = $5))
             ON CONFLICT (event_key) DO NOTHING",
        )?;
        let insert_message = prepare(
            "INSERT INTO messages (event_key, callback_id, received_at, message_id, from_number, context_id,
                context_from, \"type\", text, flow_name, flow_token, response_json, \"timestamp\", timestamp_unix, trace_id,
                business_number, phone_number_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (event_key) DO NOTHING",
        )?;
        let insert_opt_out = prepare(
            "INSERT INTO opt_outs (event_key, callback_id, received_at, number, word, message_id, timestamp_unix)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_key) DO NOTHING",
        )?;
        Ok(Connection {
            client,
            insert_callback,
            insert_status,
            insert_message,
            insert_opt_out,
        })
    }

    /// One transaction for the whole batch; every callback's outcome, in order.
    fn commit(&mut self, batch: &[Op]) -> Result<Vec<Saved>, ::postgres::Error> {
        let mut transaction = self.client.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        let mut saved = Vec::with_capacity(batch.len());
        for op in batch {
            saved.push(insert(
                &mut transaction,
                &Prepared {
                    callback: &self.insert_callback,
                    status: &self.insert_status,
                    message: &self.insert_message,
                    opt_out: &self.insert_opt_out,
                },
                &op.callback,
            )?);
        }
        transaction.commit()?;
        Ok(saved)
    }
}

/// The inserts, prepared on the connection the transaction runs on.
struct Prepared<'a> {
    callback: &'a Statement,
    status: &'a Statement,
    message: &'a Statement,
    opt_out: &'a Statement,
}

fn insert(
    transaction: &mut ::postgres::Transaction<'_>,
    prepared: &Prepared<'_>,
    callback: &Callback,
) -> Result<Saved, ::postgres::Error> {
    let (recognised, problem) = match &callback.outcome {
        Ok(_) => (true, None),
        Err(problem) => (false, Some(problem.as_str())),
    };
    let digest = callback.digest();
    let inserted = transaction.query_opt(
        prepared.callback,
        &[
            &callback.received_at,
            &callback.method,
            &callback.path,
            &callback.query,
            &callback.content_type,
            &callback.body,
            &digest.as_slice(),
            &recognised,
            &problem,
        ],
    )?;
    let Some(row) = inserted else {
        return Ok(Saved {
            duplicate: true,
            ..Saved::default()
        });
    };
    let callback_id: i64 = row.try_get(0)?;
    let mut saved = Saved::default();
    let events = callback.outcome.as_deref().unwrap_or_default();
    for event in events {
        let key = event.key();
        match event {
            Event::Status(status) => {
                saved.statuses +=
                    insert_status(transaction, prepared, &key, callback_id, callback.received_at, status)?;
            }
            Event::Message(message) => {
                let new = insert_message(transaction, prepared, &key, callback_id, callback.received_at, message)?;
                saved.messages += new;
                if let (true, Some(word), Some(number)) = (new > 0, &message.opt_out, &message.from) {
                    saved.opt_outs += transaction.execute(
                        prepared.opt_out,
                        &[
                            &key.as_slice(),
                            &callback_id,
                            &callback.received_at,
                            number,
                            word,
                            &message.message_id,
                            &unix(message.timestamp.as_deref()),
                        ],
                    )?;
                }
            }
        }
    }
    saved.duplicate = !events.is_empty() && saved.statuses + saved.messages == 0;
    Ok(saved)
}

fn insert_status(
    transaction: &mut ::postgres::Transaction<'_>,
    prepared: &Prepared<'_>,
    key: &[u8; 32],
    callback_id: i64,
    received_at: i64,
    status: &StatusEvent,
) -> Result<u64, ::postgres::Error> {
    transaction.execute(
        prepared.status,
        &[
            &key.as_slice(),
            &callback_id,
            &received_at,
            &status.message_id,
            &status.provider_message_id,
            &status.status,
            &status.timestamp,
            &unix(status.timestamp.as_deref()),
            &status.recipient,
            &status.error_code,
            &status.error_title,
            &status.error_detail,
            &status.refs.ref0,
            &status.refs.ref1,
            &status.refs.ref2,
            &status.opaque,
            &status.origin.trace_id,
            &status.origin.business_number,
            &status.origin.phone_number_id,
        ],
    )
}

fn insert_message(
    transaction: &mut ::postgres::Transaction<'_>,
    prepared: &Prepared<'_>,
    key: &[u8; 32],
    callback_id: i64,
    received_at: i64,
    message: &IncomingMessage,
) -> Result<u64, ::postgres::Error> {
    let flow = message.flow.as_ref();
    transaction.execute(
        prepared.message,
        &[
            &key.as_slice(),
            &callback_id,
            &received_at,
            &message.message_id,
            &message.from,
            &message.context_id,
            &message.context_from,
            &message.kind,
            &message.text,
            &flow.and_then(|flow| flow.name.as_deref()),
            &flow.and_then(|flow| flow.flow_token.as_deref()),
            &flow.and_then(|flow| flow.response_json.as_deref()),
            &message.timestamp,
            &unix(message.timestamp.as_deref()),
            &message.origin.trace_id,
            &message.origin.business_number,
            &message.origin.phone_number_id,
        ],
    )
}

/// Meta's timestamps are Unix seconds as text; anything else stays text only.
fn unix(timestamp: Option<&str>) -> Option<i64> {
    timestamp?.trim().parse().ok()
}

impl PgStore {
    /// Connects, and creates the store's tables in an empty database (or checks those there).
    /// A database that cannot be reached now is an error: a receiver starts only on a store it
    /// could write.
    pub(crate) fn open(url: &StoreUrl) -> Result<PgStore, PgError> {
        Ok(PgStore {
            url: url.clone(),
            connection: Connection::open(url)?,
        })
    }
}

struct Op {
    callback: Box<Callback>,
    done: oneshot::Sender<Result<Saved, PgError>>,
}

/// The writer thread of a PostgreSQL store.
pub(crate) struct PgWriter {
    sender: mpsc::Sender<Op>,
    reachable: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
    store: String,
}

/// A cheap handle for the request handlers.
#[derive(Clone)]
pub(crate) struct PgHandle {
    sender: mpsc::Sender<Op>,
    reachable: Arc<AtomicBool>,
    store: String,
}

impl PgWriter {
    pub(crate) fn spawn(store: PgStore) -> PgWriter {
        let (sender, receiver) = mpsc::channel::<Op>(QUEUE);
        let reachable = Arc::new(AtomicBool::new(true));
        let state = Arc::clone(&reachable);
        let name = store.url.to_string();
        let thread = thread::spawn(move || run(store, receiver, &state));
        PgWriter {
            sender,
            reachable,
            thread,
            store: name,
        }
    }

    pub(crate) fn handle(&self) -> PgHandle {
        PgHandle {
            sender: self.sender.clone(),
            reachable: Arc::clone(&self.reachable),
            store: self.store.clone(),
        }
    }

    /// Waits for every queued callback to be answered (once every handle is dropped).
    pub(crate) fn finish(self) {
        drop(self.sender);
        let _ = self.thread.join();
    }
}

fn run(store: PgStore, mut receiver: mpsc::Receiver<Op>, reachable: &AtomicBool) {
    let PgStore { url, connection } = store;
    let name = url.to_string();
    let mut connection = Some(connection);
    let mut backoff = FIRST_BACKOFF;
    let mut next_attempt = Instant::now();
    let mut last_error = String::new();
    // Only to wait for the queue with a timeout: the driver runs its own.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_time().build() else {
        reachable.store(false, Ordering::SeqCst);
        return;
    };
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    loop {
        if connection.is_none() && Instant::now() >= next_attempt {
            match Connection::open(&url) {
                Ok(opened) => {
                    connection = Some(opened);
                    backoff = FIRST_BACKOFF;
                    reachable.store(true, Ordering::SeqCst);
                }
                Err(error) => {
                    last_error = error.to_string();
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    reachable.store(false, Ordering::SeqCst);
                }
            }
        }
        let wait = if connection.is_some() {
            IDLE_CHECK
        } else {
            next_attempt
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10))
        };
        let first = match runtime.block_on(async { tokio::time::timeout(wait, receiver.recv()).await }) {
            Ok(Some(op)) => op,
            Ok(None) => return,
            Err(_) => {
                // Idle: is the database still there?
                if let Some(open) = connection.as_mut() {
                    if open.client.is_valid(CONNECT_CHECK).is_err() {
                        connection = None;
                        reachable.store(false, Ordering::SeqCst);
                        next_attempt = Instant::now();
                    }
                }
                continue;
            }
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let outcome = match connection.as_mut() {
            None => Err((format!("it is unreachable ({last_error})"), false)),
            Some(open) => open.commit(&batch).map_err(|error| {
                // A lost connection (not an error the server reported) is reopened; so is one
                // whose commit failed in a way that leaves its state unknown.
                let lost = error.as_db_error().is_none() || open.client.is_closed();
                (url.scrub(&error_text(&error)), lost)
            }),
        };
        let outcome = outcome.map_err(|(reason, lost)| {
            if lost {
                last_error.clone_from(&reason);
                connection = None;
                reachable.store(false, Ordering::SeqCst);
                next_attempt = Instant::now();
            }
            PgError::Unavailable {
                store: name.clone(),
                reason,
            }
        });
        match outcome {
            Ok(saved) => {
                for (op, saved) in batch.drain(..).zip(saved) {
                    let _ = op.done.send(Ok(saved));
                }
            }
            Err(error) => {
                for op in batch.drain(..) {
                    let _ = op.done.send(Err(error.clone()));
                }
            }
        }
    }
}

/// How long the idle check may wait for the database's answer.
const CONNECT_CHECK: Duration = Duration::from_secs(3);

impl PgHandle {
    /// Stores a callback and waits until its transaction committed. An error means it was not
    /// stored (answer 503 with `Retry-After`).
    pub(crate) async fn save(&self, callback: Callback) -> Result<Saved, PgError> {
        let (done, wait) = oneshot::channel();
        let closed = || PgError::Closed {
            store: self.store.clone(),
        };
        self.sender
            .send(Op {
                callback: Box::new(callback),
                done,
            })
            .await
            .map_err(|_| closed())?;
        wait.await.map_err(|_| closed())?
    }

    /// Whether the writer can reach the database now (for `/healthz`).
    pub(crate) fn reachable(&self) -> bool {
        self.reachable.load(Ordering::SeqCst)
    }
}
