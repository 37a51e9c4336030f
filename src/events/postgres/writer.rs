//! The receiver's one writer for a PostgreSQL store: a thread that commits every callback
//! queued since its last commit in one transaction, answers each caller only once `COMMIT`
//! returned, and, while the database is unreachable, tells every caller its callback was not
//! stored and reconnects by itself (with a growing pause between attempts).
//!
//! A batch is one insert a table (its rows as arrays, `unnest`ed; the statuses one a level, see
//! [`Plan`], almost always one), sent with its `BEGIN`, the writers' lock and its `COMMIT`
//! before the first answer is read: one round trip a batch, and none while the lock is held.
//! What one row at a time used to settle between rows of the same batch (the same callback
//! twice, the same event twice, one status under its message's other id) is settled before
//! sending ([`Plan`]); what was committed before, by the inserts.

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

/// How long a group keeps gathering callbacks while they keep coming (one at most this far
/// apart, the whole group at most that long). Each commit costs the store a turn of the writers'
/// lock and a flush of its log, whatever the group's size: the callbacks answered by the last
/// commit are sent again by their connections within a moment, and a group that waits for them
/// commits twice as many in one turn.
const GATHER_QUIET: Duration = Duration::from_millis(1);
const GATHER_AT_MOST: Duration = Duration::from_millis(5);

/// How often an idle writer checks that the database is still there (for `/healthz`).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The first and the longest pause between two attempts to reconnect.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A PostgreSQL store opened for writing: reached, its tables created or checked.
pub(crate) struct PgStore {
    url: StoreUrl,
    /// The older layout this open brought up to date, if it did.
    upgraded_from: Option<i32>,
}

/// The writer's connection with its statements prepared.
struct Connection {
    client: tokio_postgres::Client,
    begin: Statement,
    lock: Statement,
    commit: Statement,
    insert_callbacks: Statement,
    insert_statuses: Statement,
    insert_messages: Statement,
    insert_opt_outs: Statement,
}

/// The writer's session: its look-ups go by index whatever the tables' statistics say. Its
/// inserts are prepared once a connection, and PostgreSQL soon plans them once for all (a
/// generic plan) from the statistics of that moment: on a new store those say the tables are
/// empty, and the look-up of a status under its message's other id would scan the whole
/// `statuses` table, every insert slower as the store grows (1.5 ms a status at 12,000 rows),
/// until an `ANALYZE` made the plan again. Every look-up here has its index.
pub(super) const SESSION: &str = "SET enable_seqscan = off";

/// A batch's callbacks, one row each, in the order given (sorted by digest: see
/// [`Connection::commit`]); those stored before are left as they are. Returns the digests it
/// stored.
const INSERT_CALLBACKS: &str = "
INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem)
SELECT u.received_at, u.method, u.path, u.query, u.content_type, u.body, u.digest, u.recognised, u.problem
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::boolean[],
            $9::text[])
     WITH ORDINALITY AS u(received_at, method, path, query, content_type, body, digest, recognised, problem, n)
ORDER BY u.n
ON CONFLICT (digest) DO NOTHING
RETURNING digest";

/// A batch's statuses of one level (one per event key, and no two the same status of the same
/// message: see [`Plan`]), each tied to its own callback by the callback's digest. The same status of
/// the same message delivered in two envelopes (one carrying both ids, the other one of them)
/// is one event, as on SQLite: a status already stored under either id is left out (exact: the
/// writers' lock is held, so every status committed by any receiver is visible to this
/// statement, which started after the lock was granted). Returns the event keys it stored.
const INSERT_STATUSES: &str = "
INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id, status, \"timestamp\",
    timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1, ref2, biz_opaque_callback_data,
    trace_id, business_number, phone_number_id, billable, pricing_model, pricing_category)
SELECT u.event_key, c.id, u.received_at, u.message_id, u.provider_message_id, u.status, u.stamp, u.timestamp_unix,
    u.recipient, u.error_code, u.error_title, u.error_detail, u.ref0, u.ref1, u.ref2, u.opaque, u.trace_id,
    u.business_number, u.phone_number_id, u.billable, u.pricing_model, u.pricing_category
FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
            $17::text[], $18::text[], $19::text[], $20::boolean[], $21::text[], $22::text[])
     WITH ORDINALITY AS u(event_key, digest, received_at, message_id, provider_message_id, status, stamp,
        timestamp_unix, recipient, error_code, error_title, error_detail, ref0, ref1, ref2, opaque, trace_id,
        business_number, phone_number_id, billable, pricing_model, pricing_category, n)
JOIN callbacks c ON c.digest = u.digest
WHERE (u.message_id IS NULL AND u.provider_message_id IS NULL) OR NOT EXISTS (
    SELECT 1 FROM statuses s
    WHERE s.status = u.status AND s.\"timestamp\" IS NOT DISTINCT FROM u.stamp
      AND s.error_code IS NOT DISTINCT FROM u.error_code
      AND (s.message_id = u.message_id OR s.message_id = u.provider_message_id
           OR s.provider_message_id = u.message_id OR s.provider_message_id = u.provider_message_id))
ORDER BY u.n
ON CONFLICT (event_key) DO NOTHING
RETURNING event_key";

/// A batch's incoming messages (one per event key), each tied to its own callback. Returns the
/// event keys it stored.
const INSERT_MESSAGES: &str = "
INSERT INTO messages (event_key, callback_id, received_at, message_id, from_number, context_id, context_from,
    \"type\", text, flow_name, flow_token, response_json, \"timestamp\", timestamp_unix, trace_id, business_number,
    phone_number_id)
SELECT u.event_key, c.id, u.received_at, u.message_id, u.from_number, u.context_id, u.context_from, u.kind, u.text,
    u.flow_name, u.flow_token, u.response_json, u.stamp, u.timestamp_unix, u.trace_id, u.business_number,
    u.phone_number_id
FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[], $16::text[],
            $17::text[])
     WITH ORDINALITY AS u(event_key, digest, received_at, message_id, from_number, context_id, context_from, kind,
        text, flow_name, flow_token, response_json, stamp, timestamp_unix, trace_id, business_number,
        phone_number_id, n)
JOIN callbacks c ON c.digest = u.digest
ORDER BY u.n
ON CONFLICT (event_key) DO NOTHING
RETURNING event_key";

/// A batch's opt-outs, each only for a message its own callback stored (as on SQLite: a message
/// stored before, by another delivery, brought its opt-out then). Runs after the messages'
/// insert in the same transaction, so it sees the rows that insert made. Returns the event keys
/// it stored.
const INSERT_OPT_OUTS: &str = "
INSERT INTO opt_outs (event_key, callback_id, received_at, number, word, message_id, timestamp_unix)
SELECT u.event_key, c.id, u.received_at, u.number, u.word, u.message_id, u.timestamp_unix
FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[])
     WITH ORDINALITY AS u(event_key, digest, received_at, number, word, message_id, timestamp_unix, n)
JOIN callbacks c ON c.digest = u.digest
JOIN messages m ON m.event_key = u.event_key AND m.callback_id = c.id
ORDER BY u.n
ON CONFLICT (event_key) DO NOTHING
RETURNING event_key";

impl Connection {
    /// Connects, checks the store's layout (creating it where the database is empty) and
    /// prepares the statements. Runs outside the writer's runtime: the check uses the blocking
    /// client.
    fn open(url: &StoreUrl, runtime: &tokio::runtime::Runtime) -> Result<Connection, PgError> {
        let connect = |unreached: super::url::Unreached| unreached.of(url);
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
            let prepare = |sql: &'static str| client.prepare(sql);
            let begin = prepare("BEGIN").await.map_err(query)?;
            let lock = prepare("SELECT pg_advisory_xact_lock($1)").await.map_err(query)?;
            let commit = prepare("COMMIT").await.map_err(query)?;
            let insert_callbacks = prepare(INSERT_CALLBACKS).await.map_err(query)?;
            let insert_statuses = prepare(INSERT_STATUSES).await.map_err(query)?;
            let insert_messages = prepare(INSERT_MESSAGES).await.map_err(query)?;
            let insert_opt_outs = prepare(INSERT_OPT_OUTS).await.map_err(query)?;
            Ok(Connection {
                client,
                begin,
                lock,
                commit,
                insert_callbacks,
                insert_statuses,
                insert_messages,
                insert_opt_outs,
            })
        })
    }

    /// One transaction for the whole batch, one statement a table, all sent at once (one round
    /// trip): every callback's outcome, in order.
    ///
    /// Why the ids of `statuses`, `messages` and `opt_outs` follow the commit order (what send's
    /// watch and the readers "after the last id seen" rely on), exactly: those ids are drawn only
    /// by the three inserts below, which run after this transaction was granted the writers'
    /// lock, and a transaction-level advisory lock is released only once its commit is flushed
    /// and visible to every new snapshot. So of two writers' transactions, the second to get the
    /// lock draws all its ids after the first's are committed and visible: when a reader sees id
    /// `n`, every smaller id was either visible already or never will be (a transaction that
    /// rolled back). The callbacks' own rows are inserted before the lock (no reader follows
    /// their ids): the serialised part is the events' inserts and the commit, nothing else,
    /// with no round trip to this process inside it.
    ///
    /// Two writers inserting the same callbacks at once wait for each other's row of the same
    /// digest (the unique key); the callbacks go in sorted by digest, so such waits never form a
    /// cycle. Nothing waits on another writer once it holds the lock.
    async fn commit(&mut self, batch: &[Op]) -> Result<Vec<Saved>, tokio_postgres::Error> {
        use futures_util::future::{join_all, BoxFuture, FutureExt as _};
        use std::collections::HashMap;
        type Answer<'a> = BoxFuture<'a, Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>>;

        let rows: Vec<Rows> = batch.iter().map(|op| Rows::of(&op.callback)).collect();
        let plan = Plan::of(&rows);

        // The callbacks, each digest once (its first delivery in the batch), sorted by digest.
        let callbacks: Vec<&Callback> = plan.callbacks.iter().map(|&index| &*batch[index].callback).collect();
        let received_at: Vec<i64> = callbacks.iter().map(|callback| callback.received_at).collect();
        let method: Vec<&str> = callbacks.iter().map(|callback| callback.method).collect();
        let path: Vec<&str> = callbacks.iter().map(|callback| callback.path.as_str()).collect();
        let query: Vec<Option<&str>> = callbacks.iter().map(|callback| callback.query.as_deref()).collect();
        let content_type: Vec<Option<&str>> = callbacks
            .iter()
            .map(|callback| callback.content_type.as_deref())
            .collect();
        let body: Vec<&[u8]> = callbacks.iter().map(|callback| callback.body.as_slice()).collect();
        let digest: Vec<&[u8]> = plan
            .callbacks
            .iter()
            .map(|&index| rows[index].digest.as_slice())
            .collect();
        let recognised: Vec<bool> = plan.callbacks.iter().map(|&index| rows[index].recognised).collect();
        let problem: Vec<Option<&str>> = plan.callbacks.iter().map(|&index| rows[index].problem).collect();

        // One insert a level (see [`Plan`]): each sees the rows the ones before it made.
        let levels: Vec<StatusColumns<'_>> = (0..=plan.statuses.iter().map(|s| s.level).max().unwrap_or(0))
            .map(|level| {
                let statuses: Vec<&PlannedStatus<'_>> = plan.statuses.iter().filter(|s| s.level == level).collect();
                StatusColumns::of(&statuses, batch, &rows)
            })
            .filter(|columns| !columns.key.is_empty())
            .collect();

        let messages = &plan.messages;
        let message_received: Vec<i64> = messages.iter().map(|m| batch[m.index].callback.received_at).collect();
        let message_key: Vec<&[u8]> = messages.iter().map(|m| m.key).collect();
        let message_digest: Vec<&[u8]> = messages.iter().map(|m| rows[m.index].digest.as_slice()).collect();
        let field = |pick: for<'m> fn(&'m PlannedMessage<'m>) -> Option<&'m str>| -> Vec<Option<&str>> {
            messages.iter().map(pick).collect()
        };
        let message_id = field(|m| m.message.message_id.as_deref());
        let message_from = field(|m| m.message.from.as_deref());
        let message_context_id = field(|m| m.message.context_id.as_deref());
        let message_context_from = field(|m| m.message.context_from.as_deref());
        let message_kind = field(|m| m.message.kind.as_deref());
        let message_text = field(|m| m.message.text.as_deref());
        let message_flow_name = field(|m| m.flow[0]);
        let message_flow_token = field(|m| m.flow[1]);
        let message_response = field(|m| m.flow[2]);
        let message_timestamp = field(|m| m.message.timestamp.as_deref());
        let message_unix: Vec<Option<i64>> = messages.iter().map(|m| m.unix).collect();
        let message_trace = field(|m| m.message.origin.trace_id.as_deref());
        let message_business = field(|m| m.message.origin.business_number.as_deref());
        let message_phone_id = field(|m| m.message.origin.phone_number_id.as_deref());

        // An opt-out for each message of the batch that is one (its word matched, its sender
        // known).
        let opting: Vec<(&PlannedMessage<'_>, &str, &str)> = messages
            .iter()
            .filter_map(|m| match (&m.message.opt_out, &m.message.from) {
                (Some(word), Some(number)) => Some((m, word.as_str(), number.as_str())),
                _ => None,
            })
            .collect();
        let opt_out_key: Vec<&[u8]> = opting.iter().map(|(m, _, _)| m.key).collect();
        let opt_out_digest: Vec<&[u8]> = opting.iter().map(|(m, _, _)| rows[m.index].digest.as_slice()).collect();
        let opt_out_received: Vec<i64> = opting
            .iter()
            .map(|(m, _, _)| batch[m.index].callback.received_at)
            .collect();
        let opt_out_number: Vec<&str> = opting.iter().map(|(_, _, number)| *number).collect();
        let opt_out_word: Vec<&str> = opting.iter().map(|(_, word, _)| *word).collect();
        let opt_out_message_id: Vec<Option<&str>> =
            opting.iter().map(|(m, _, _)| m.message.message_id.as_deref()).collect();
        let opt_out_unix: Vec<Option<i64>> = opting.iter().map(|(m, _, _)| m.unix).collect();

        // Sent when first polled (all of them at once, in this order, by `join_all`).
        fn send<'q>(client: &'q tokio_postgres::Client, statement: &Statement, params: Vec<Sql<'q>>) -> Answer<'q> {
            let statement = statement.clone();
            async move { client.query(&statement, &params).await }.boxed()
        }
        let client = &self.client;
        // Which table each answer is about, in the order sent.
        let mut parts: Vec<Part> = Vec::new();
        let mut pending: Vec<Answer<'_>> = Vec::new();
        pending.push(send(client, &self.begin, Vec::new()));
        parts.push(Part::Control);
        pending.push(send(
            client,
            &self.insert_callbacks,
            vec![
                &received_at,
                &method,
                &path,
                &query,
                &content_type,
                &body,
                &digest,
                &recognised,
                &problem,
            ],
        ));
        parts.push(Part::Callbacks);
        pending.push(send(client, &self.lock, vec![&WRITE_LOCK]));
        parts.push(Part::Control);
        for columns in &levels {
            pending.push(send(client, &self.insert_statuses, columns.params()));
            parts.push(Part::Statuses);
        }
        if !messages.is_empty() {
            pending.push(send(
                client,
                &self.insert_messages,
                vec![
                    &message_key,
                    &message_digest,
                    &message_received,
                    &message_id,
                    &message_from,
                    &message_context_id,
                    &message_context_from,
                    &message_kind,
                    &message_text,
                    &message_flow_name,
                    &message_flow_token,
                    &message_response,
                    &message_timestamp,
                    &message_unix,
                    &message_trace,
                    &message_business,
                    &message_phone_id,
                ],
            ));
            parts.push(Part::Messages);
        }
        if !opting.is_empty() {
            pending.push(send(
                client,
                &self.insert_opt_outs,
                vec![
                    &opt_out_key,
                    &opt_out_digest,
                    &opt_out_received,
                    &opt_out_number,
                    &opt_out_word,
                    &opt_out_message_id,
                    &opt_out_unix,
                ],
            ));
            parts.push(Part::OptOuts);
        }
        // Sent with the rest: should a statement before it fail, the transaction is aborted and
        // this ends it without storing anything (and that failure is the answer read below).
        pending.push(send(client, &self.commit, Vec::new()));
        parts.push(Part::Control);

        let answers = join_all(pending).await;
        let mut saved = vec![Saved::default(); batch.len()];
        let mut stored = vec![false; batch.len()];
        let first_of_digest: HashMap<&[u8], usize> = plan
            .callbacks
            .iter()
            .map(|&index| (rows[index].digest.as_slice(), index))
            .collect();
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer?);
        }
        for (part, returned) in parts.into_iter().zip(&results) {
            for row in returned {
                let returned: &[u8] = match part {
                    Part::Control => break,
                    _ => row.try_get(0)?,
                };
                let owner = match part {
                    Part::Control => None,
                    Part::Callbacks => first_of_digest.get(returned),
                    Part::Statuses => plan.status_owner.get(returned),
                    Part::Messages | Part::OptOuts => plan.message_owner.get(returned),
                };
                let Some(&index) = owner else { continue };
                match part {
                    Part::Control => {}
                    Part::Callbacks => stored[index] = true,
                    Part::Statuses => saved[index].statuses += 1,
                    Part::Messages => saved[index].messages += 1,
                    Part::OptOuts => saved[index].opt_outs += 1,
                }
            }
        }
        for ((saved, stored), rows) in saved.iter_mut().zip(stored).zip(&rows) {
            saved.duplicate = !stored || (!rows.events.is_empty() && saved.statuses + saved.messages == 0);
        }
        Ok(saved)
    }
}

/// A value sent with a statement.
type Sql<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// The columns of the statuses one insert sends, as arrays.
struct StatusColumns<'a> {
    key: Vec<&'a [u8]>,
    digest: Vec<&'a [u8]>,
    received: Vec<i64>,
    unix: Vec<Option<i64>>,
    billable: Vec<Option<bool>>,
    /// message_id, provider_message_id, status, timestamp, recipient, error_code, error_title,
    /// error_detail, ref, ref1, ref2, opaque, trace_id, business_number, phone_number_id,
    /// pricing_model, pricing_category.
    text: [Vec<Option<&'a str>>; 17],
}

impl<'a> StatusColumns<'a> {
    fn of(statuses: &[&PlannedStatus<'a>], batch: &[Op], rows: &'a [Rows<'a>]) -> StatusColumns<'a> {
        let picks: [fn(&StatusEvent) -> Option<&str>; 17] = [
            |s| s.message_id.as_deref(),
            |s| s.provider_message_id.as_deref(),
            |s| Some(s.status.as_str()),
            |s| s.timestamp.as_deref(),
            |s| s.recipient.as_deref(),
            |s| s.error_code.as_deref(),
            |s| s.error_title.as_deref(),
            |s| s.error_detail.as_deref(),
            |s| s.refs.ref0.as_deref(),
            |s| s.refs.ref1.as_deref(),
            |s| s.refs.ref2.as_deref(),
            |s| s.opaque.as_deref(),
            |s| s.origin.trace_id.as_deref(),
            |s| s.origin.business_number.as_deref(),
            |s| s.origin.phone_number_id.as_deref(),
            |s| s.pricing.model.as_deref(),
            |s| s.pricing.category.as_deref(),
        ];
        StatusColumns {
            key: statuses.iter().map(|s| s.key).collect(),
            digest: statuses.iter().map(|s| rows[s.index].digest.as_slice()).collect(),
            received: statuses.iter().map(|s| batch[s.index].callback.received_at).collect(),
            unix: statuses.iter().map(|s| s.unix).collect(),
            billable: statuses.iter().map(|s| s.status.pricing.billable).collect(),
            text: picks.map(|pick| statuses.iter().map(|s| pick(s.status)).collect()),
        }
    }

    /// The parameters of [`INSERT_STATUSES`], in its order.
    fn params(&self) -> Vec<Sql<'_>> {
        let [message_id, provider_id, status, timestamp, recipient, error_code, error_title, error_detail, ref0, ref1, ref2, opaque, trace, business, phone_id, model, category] =
            &self.text;
        vec![
            &self.key,
            &self.digest,
            &self.received,
            message_id,
            provider_id,
            status,
            timestamp,
            &self.unix,
            recipient,
            error_code,
            error_title,
            error_detail,
            ref0,
            ref1,
            ref2,
            opaque,
            trace,
            business,
            phone_id,
            &self.billable,
            model,
            category,
        ]
    }
}

/// What an answer in a pipelined batch is about.
#[derive(Clone, Copy)]
enum Part {
    /// `BEGIN`, the lock, `COMMIT`: no rows.
    Control,
    Callbacks,
    Statuses,
    Messages,
    OptOuts,
}

/// What a batch inserts, decided before it is sent: each callback's digest once, each event key
/// once, and the statuses in levels: a status that is one event with an earlier one of the
/// batch (the same status, timestamp and error code of the same message, under either of its
/// ids) goes one level above it, inserted by a later statement that sees whether that one was
/// stored. So the batch behaves as its callbacks stored one after the other: a later one is
/// left out when an earlier one was stored, and stored when that one was itself left out as
/// stored before under its other id (the later one carries only an id nothing stored has).
struct Plan<'a> {
    /// Indexes into the batch of the callbacks to insert, sorted by digest.
    callbacks: Vec<usize>,
    statuses: Vec<PlannedStatus<'a>>,
    messages: Vec<PlannedMessage<'a>>,
    /// The callback each status and message of the batch is counted for, by event key.
    status_owner: std::collections::HashMap<&'a [u8], usize>,
    message_owner: std::collections::HashMap<&'a [u8], usize>,
}

/// A status, its timestamp and error code, and one of its message's ids: what two statuses
/// share when they are one event.
type SameStatus<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str);

struct PlannedStatus<'a> {
    index: usize,
    /// Above every earlier status of the batch that is the same event: inserted by a later
    /// statement, which sees whether that one was stored.
    level: usize,
    key: &'a [u8],
    unix: Option<i64>,
    status: &'a StatusEvent,
}

struct PlannedMessage<'a> {
    index: usize,
    key: &'a [u8],
    unix: Option<i64>,
    message: &'a IncomingMessage,
    /// The Flow's name, token and answers.
    flow: [Option<&'a str>; 3],
}

impl<'a> Plan<'a> {
    fn of(rows: &'a [Rows<'a>]) -> Plan<'a> {
        use std::collections::HashMap;
        let mut first_of_digest: HashMap<&[u8], usize> = HashMap::new();
        for (index, rows) in rows.iter().enumerate() {
            first_of_digest.entry(rows.digest.as_slice()).or_insert(index);
        }
        let mut callbacks: Vec<usize> = first_of_digest.into_values().collect();
        callbacks.sort_unstable_by(|&one, &other| rows[one].digest.cmp(&rows[other].digest));

        let mut statuses = Vec::new();
        let mut messages = Vec::new();
        let mut status_owner = HashMap::new();
        let mut message_owner = HashMap::new();
        // (status, timestamp, error code, one of the message's ids) of every status planned →
        // the highest level planned for it.
        let mut seen: HashMap<SameStatus<'_>, usize> = HashMap::new();
        for (index, rows) in rows.iter().enumerate() {
            for event in &rows.events {
                match event {
                    EventRow::Status { key, unix, status } => {
                        if status_owner.contains_key(key.as_slice()) {
                            continue;
                        }
                        let ids = [status.message_id.as_deref(), status.provider_message_id.as_deref()];
                        let same = |id: &'a str| {
                            (
                                status.status.as_str(),
                                status.timestamp.as_deref(),
                                status.error_code.as_deref(),
                                id,
                            )
                        };
                        let level = ids
                            .into_iter()
                            .flatten()
                            .filter_map(|id| seen.get(&same(id)).map(|level| level + 1))
                            .max()
                            .unwrap_or(0);
                        for id in ids.into_iter().flatten() {
                            let highest = seen.entry(same(id)).or_insert(level);
                            *highest = (*highest).max(level);
                        }
                        status_owner.insert(key.as_slice(), index);
                        statuses.push(PlannedStatus {
                            index,
                            level,
                            key,
                            unix: *unix,
                            status,
                        });
                    }
                    EventRow::Message {
                        key,
                        unix,
                        message,
                        flow,
                    } => {
                        if message_owner.contains_key(key.as_slice()) {
                            continue;
                        }
                        message_owner.insert(key.as_slice(), index);
                        messages.push(PlannedMessage {
                            index,
                            key,
                            unix: *unix,
                            message,
                            flow: *flow,
                        });
                    }
                }
            }
        }
        Plan {
            callbacks,
            statuses,
            messages,
            status_owner,
            message_owner,
        }
    }
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
        let mut client = url.connect().map_err(|unreached| unreached.of(url))?;
        let upgraded_from = create_or_check(&mut client, url)?;
        Ok(PgStore {
            url: url.clone(),
            upgraded_from,
        })
    }

    /// The older layout this open brought up to date, if it did.
    pub(crate) fn upgraded_from(&self) -> Option<i64> {
        self.upgraded_from.map(i64::from)
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
    let PgStore { url, .. } = store;
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
        let gathering = Instant::now();
        loop {
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if batch.len() >= MAX_BATCH || gathering.elapsed() >= GATHER_AT_MOST {
                break;
            }
            match runtime.block_on(async { tokio::time::timeout(GATHER_QUIET, receiver.recv()).await }) {
                Ok(Some(op)) => batch.push(op),
                // Quiet, or every handle dropped (the next wait says so).
                _ => break,
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

#[cfg(test)]
mod tests {
    use super::{Plan, Rows};
    use crate::events::Callback;
    use crate::receive::event::{Event, StatusEvent};

    fn delivery(body: &str, ids: [Option<&str>; 2], status: &str) -> Callback {
        Callback {
            received_at: 1_000,
            method: "POST",
            path: "/".to_owned(),
            query: None,
            content_type: None,
            body: body.as_bytes().to_vec(),
            outcome: Ok(vec![Event::Status(StatusEvent {
                message_id: ids[0].map(str::to_owned),
                provider_message_id: ids[1].map(str::to_owned),
                status: status.to_owned(),
                timestamp: Some("1700000000".to_owned()),
                ..StatusEvent::default()
            })]),
        }
    }

    /// Rows of one batch are inserted by one statement, which does not see its own rows: what
    /// one insert a row settled between them is settled in the plan, as if stored in turn.
    #[test]
    fn a_batch_plans_each_callback_each_event_and_each_status_of_a_message_once() {
        let batch = [
            delivery("both ids", [Some("wamid.9"), Some("provider-9")], "delivered"),
            delivery("the provider's id", [None, Some("provider-9")], "delivered"),
            delivery("Meta's id", [Some("wamid.9"), None], "delivered"),
            delivery("read", [Some("wamid.9"), None], "read"),
            delivery("no ids", [None, None], "failed"),
            delivery("no ids either", [None, None], "failed"),
            delivery("both ids", [Some("wamid.9"), Some("provider-9")], "delivered"),
            delivery("another message", [Some("wamid.10"), None], "delivered"),
        ];
        let rows: Vec<Rows<'_>> = batch.iter().map(Rows::of).collect();
        let plan = Plan::of(&rows);
        let planned: Vec<(usize, usize)> = plan
            .statuses
            .iter()
            .map(|status| (status.index, status.level))
            .collect();
        // The second "no ids" is another callback with the same event (key), planned once. The
        // deliveries under one of the first's ids are inserted after it (level 1): stored only
        // when neither it nor a status stored before carries their id.
        assert_eq!(planned, [(0, 0), (1, 1), (2, 1), (3, 0), (4, 0), (7, 0)]);
        let mut callbacks = plan.callbacks.clone();
        callbacks.sort_unstable();
        assert_eq!(callbacks, [0, 1, 2, 3, 4, 5, 7], "the same body twice is one callback");
        assert!(
            plan.callbacks
                .windows(2)
                .all(|pair| rows[pair[0]].digest < rows[pair[1]].digest),
            "inserted in the order of their digests"
        );
    }
}
