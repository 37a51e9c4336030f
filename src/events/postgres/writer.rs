//! The receiver's one writer for a PostgreSQL store: a thread that commits every callback
//! queued since its last commit in one transaction, answers each caller only once `COMMIT`
//! returned, and, while the database is unreachable, tells every caller its callback was not
//! stored and reconnects by itself (with a growing pause between attempts).
//!
//! A batch's statements are pipelined: all are sent before the first answer is read, so a
//! batch costs a few round trips rather than one a row. The server runs them in the order
//! sent, one after the other in the one transaction, so the result is that of running them in
//! turn (a status looked up under its message's other id sees the rows inserted before it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Statement;

use super::schema::{create_or_check, WRITE_LOCK};
use super::url::error_text;
use super::{PgError, StoreUrl};
use crate::events::{Callback, Saved};
use crate::receive::event::{Event, IncomingMessage, StatusEvent};

/// Callbacks committed together at most (as on SQLite).
const MAX_BATCH: usize = 2_000;

/// Callbacks waiting for the writer at most; past that, handlers wait for room.
const QUEUE: usize = 8_192;

/// How often an idle writer checks that the database is still there (for `/healthz`).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The first and the longest pause between two attempts to reconnect.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A PostgreSQL store opened for writing: reached, its tables created or checked.
pub(crate) struct PgStore {
    url: StoreUrl,
}

/// The writer's connection with its inserts prepared.
struct Connection {
    client: tokio_postgres::Client,
    insert_callback: Statement,
    insert_status: Statement,
    insert_message: Statement,
    insert_opt_out: Statement,
}

/// The callback a row belongs to, found by its digest: every statement of a batch is sent
/// before the first answer comes back (pipelined), so none can wait for the id the callback's
/// insert returns. The server runs them in the order sent, so the callback's row is there.
const CALLBACK_ID: &str = "(SELECT id FROM callbacks WHERE digest = $2)";

/// The writer's session: its look-ups go by index whatever the tables' statistics say. Its
/// inserts are prepared once a connection, and PostgreSQL soon plans them once for all (a
/// generic plan) from the statistics of that moment: on a new store those say the tables are
/// empty, and the look-up of a status under its message's other id would scan the whole
/// `statuses` table, every insert slower as the store grows (1.5 ms a status at 12,000 rows),
/// until an `ANALYZE` made the plan again. Every look-up here has its index.
pub(super) const SESSION: &str = "SET enable_seqscan = off";

impl Connection {
    /// Connects, checks the store's layout (creating it where the database is empty) and
    /// prepares the inserts. Runs outside the writer's runtime: the check uses the blocking
    /// client.
    fn open(url: &StoreUrl, runtime: &tokio::runtime::Runtime) -> Result<Connection, PgError> {
        let connect = |reason| PgError::Connect {
            store: url.to_string(),
            reason,
        };
        let mut checking = url.connect().map_err(connect)?;
        create_or_check(&mut checking, url)?;
        drop(checking);
        let query = |error: ::postgres::Error| PgError::Query {
            store: url.to_string(),
            reason: url.scrub(&error_text(&error)),
        };
        runtime.block_on(async {
            let client = url.connect_async().await.map_err(connect)?;
            client.batch_execute(SESSION).await.map_err(query)?;
            let insert_callback = client
                .prepare(
                    "INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (digest) DO NOTHING",
                )
                .await
                .map_err(query)?;
            // The same status of the same message delivered in two envelopes (one carrying
            // both ids, the other one of them) is one event, as on SQLite: looked up by either
            // id in the insert itself (the transactions take turns, so the look is exact).
            let insert_status = client
                .prepare(&format!(
                    "INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id,
                        status, \"timestamp\", timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1,
                        ref2, biz_opaque_callback_data, trace_id, business_number, phone_number_id, billable,
                        pricing_model, pricing_category)
                     SELECT $1::bytea, {CALLBACK_ID}, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::bigint,
                        $9::text, $10::text, $11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::text,
                        $18::text, $19::text, $20::boolean, $21::text, $22::text
                     WHERE ($4::text IS NULL AND $5::text IS NULL) OR NOT EXISTS (
                        SELECT 1 FROM statuses WHERE status = $6 AND \"timestamp\" IS NOT DISTINCT FROM $7
                          AND error_code IS NOT DISTINCT FROM $10
                          AND (message_id = $4 OR message_id = $5 OR provider_message_id = $4 OR provider_message_id = $5))
                     ON CONFLICT (event_key) DO NOTHING"
                ))
                .await
                .map_err(query)?;
            let insert_message = client
                .prepare(&format!(
                    "INSERT INTO messages (event_key, callback_id, received_at, message_id, from_number, context_id,
                        context_from, \"type\", text, flow_name, flow_token, response_json, \"timestamp\", timestamp_unix,
                        trace_id, business_number, phone_number_id)
                     SELECT $1::bytea, {CALLBACK_ID}, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::text,
                        $9::text, $10::text, $11::text, $12::text, $13::text, $14::bigint, $15::text, $16::text, $17::text
                     ON CONFLICT (event_key) DO NOTHING"
                ))
                .await
                .map_err(query)?;
            // Only for a message this callback stored (as on SQLite: a message stored before,
            // by another delivery, brought its opt-out then).
            let insert_opt_out = client
                .prepare(&format!(
                    "INSERT INTO opt_outs (event_key, callback_id, received_at, number, word, message_id, timestamp_unix)
                     SELECT $1::bytea, {CALLBACK_ID}, $3::bigint, $4::text, $5::text, $6::text, $7::bigint
                     WHERE EXISTS (SELECT 1 FROM messages WHERE event_key = $1 AND callback_id = {CALLBACK_ID})
                     ON CONFLICT (event_key) DO NOTHING"
                ))
                .await
                .map_err(query)?;
            Ok(Connection {
                client,
                insert_callback,
                insert_status,
                insert_message,
                insert_opt_out,
            })
        })
    }

    /// One transaction for the whole batch, its statements pipelined; every callback's
    /// outcome, in order.
    async fn commit(&mut self, batch: &[Op]) -> Result<Vec<Saved>, tokio_postgres::Error> {
        use futures_util::future::{join_all, BoxFuture, FutureExt as _};
        type Sql<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
        let rows: Vec<Rows> = batch.iter().map(|op| Rows::of(&op.callback)).collect();
        let transaction = self.client.transaction().await?;
        // Which callback and which table each answer is about.
        let mut parts: Vec<(usize, Part)> = Vec::new();
        let mut pending: Vec<BoxFuture<'_, Result<u64, tokio_postgres::Error>>> = Vec::new();
        pending.push(
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .boxed(),
        );
        parts.push((usize::MAX, Part::Lock));
        for (index, (op, rows)) in batch.iter().zip(&rows).enumerate() {
            let callback = &op.callback;
            let params: Vec<Sql<'_>> = vec![
                &callback.received_at,
                &callback.method,
                &callback.path,
                &callback.query,
                &callback.content_type,
                &callback.body,
                &rows.digest,
                &rows.recognised,
                &rows.problem,
            ];
            pending.push(transaction.execute_raw(&self.insert_callback, params).boxed());
            parts.push((index, Part::Callback));
            for event in &rows.events {
                match event {
                    EventRow::Status { key, unix, status } => {
                        let params: Vec<Sql<'_>> = vec![
                            key,
                            &rows.digest,
                            &callback.received_at,
                            &status.message_id,
                            &status.provider_message_id,
                            &status.status,
                            &status.timestamp,
                            unix,
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
                            &status.pricing.billable,
                            &status.pricing.model,
                            &status.pricing.category,
                        ];
                        pending.push(transaction.execute_raw(&self.insert_status, params).boxed());
                        parts.push((index, Part::Status));
                    }
                    EventRow::Message {
                        key,
                        unix,
                        message,
                        flow,
                    } => {
                        let params: Vec<Sql<'_>> = vec![
                            key,
                            &rows.digest,
                            &callback.received_at,
                            &message.message_id,
                            &message.from,
                            &message.context_id,
                            &message.context_from,
                            &message.kind,
                            &message.text,
                            &flow[0],
                            &flow[1],
                            &flow[2],
                            &message.timestamp,
                            unix,
                            &message.origin.trace_id,
                            &message.origin.business_number,
                            &message.origin.phone_number_id,
                        ];
                        pending.push(transaction.execute_raw(&self.insert_message, params).boxed());
                        parts.push((index, Part::Message));
                        if let (Some(word), Some(number)) = (&message.opt_out, &message.from) {
                            let params: Vec<Sql<'_>> = vec![
                                key,
                                &rows.digest,
                                &callback.received_at,
                                number,
                                word,
                                &message.message_id,
                                unix,
                            ];
                            pending.push(transaction.execute_raw(&self.insert_opt_out, params).boxed());
                            parts.push((index, Part::OptOut));
                        }
                    }
                }
            }
        }
        let answers = join_all(pending).await;
        let mut saved = vec![Saved::default(); batch.len()];
        let mut stored = vec![false; batch.len()];
        for ((index, part), answer) in parts.into_iter().zip(answers) {
            let count = answer?;
            match part {
                Part::Lock => {}
                Part::Callback => stored[index] = count > 0,
                Part::Status => saved[index].statuses += count,
                Part::Message => saved[index].messages += count,
                Part::OptOut => saved[index].opt_outs += count,
            }
        }
        transaction.commit().await?;
        for ((saved, stored), rows) in saved.iter_mut().zip(stored).zip(&rows) {
            saved.duplicate = !stored || (!rows.events.is_empty() && saved.statuses + saved.messages == 0);
        }
        Ok(saved)
    }
}

/// What an answer in a pipelined batch is about.
#[derive(Clone, Copy)]
enum Part {
    Lock,
    Callback,
    Status,
    Message,
    OptOut,
}

/// The values of a callback's rows that are computed, not borrowed: they must outlive the
/// statements sent with them.
struct Rows<'a> {
    digest: Vec<u8>,
    recognised: bool,
    problem: Option<&'a str>,
    events: Vec<EventRow<'a>>,
}

enum EventRow<'a> {
    Status {
        key: Vec<u8>,
        unix: Option<i64>,
        status: &'a StatusEvent,
    },
    Message {
        key: Vec<u8>,
        unix: Option<i64>,
        message: &'a IncomingMessage,
        /// The Flow's name, token and answers.
        flow: [Option<&'a str>; 3],
    },
}

impl<'a> Rows<'a> {
    fn of(callback: &'a Callback) -> Rows<'a> {
        let (recognised, problem) = match &callback.outcome {
            Ok(_) => (true, None),
            Err(problem) => (false, Some(problem.as_str())),
        };
        let events = callback
            .outcome
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|event| match event {
                Event::Status(status) => EventRow::Status {
                    key: event.key().to_vec(),
                    unix: unix(status.timestamp.as_deref()),
                    status,
                },
                Event::Message(message) => {
                    let flow = message.flow.as_ref();
                    EventRow::Message {
                        key: event.key().to_vec(),
                        unix: unix(message.timestamp.as_deref()),
                        message,
                        flow: [
                            flow.and_then(|flow| flow.name.as_deref()),
                            flow.and_then(|flow| flow.flow_token.as_deref()),
                            flow.and_then(|flow| flow.response_json.as_deref()),
                        ],
                    }
                }
            })
            .collect();
        Rows {
            digest: callback.digest().to_vec(),
            recognised,
            problem,
            events,
        }
    }
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
        let mut client = url.connect().map_err(|reason| PgError::Connect {
            store: url.to_string(),
            reason,
        })?;
        create_or_check(&mut client, url)?;
        Ok(PgStore { url: url.clone() })
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
    let PgStore { url } = store;
    let name = url.to_string();
    let mut connection: Option<Connection> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut next_attempt = Instant::now();
    let mut last_error = String::new();
    // The writer's connection runs on this thread's own runtime, driven while it waits.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        reachable.store(false, Ordering::SeqCst);
        return;
    };
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    loop {
        if connection.is_none() && Instant::now() >= next_attempt {
            match Connection::open(&url, &runtime) {
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
                    let alive = runtime
                        .block_on(async { tokio::time::timeout(CONNECT_CHECK, open.client.simple_query("")).await });
                    if !matches!(alive, Ok(Ok(_))) {
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
            Some(open) => runtime.block_on(open.commit(&batch)).map_err(|error| {
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
