//! The receiver floor: the least work an honest callback receiver does, so that `flowc receive`'s
//! cost per callback is reported as a multiple of this program's (as `render` is measured against
//! `floor.rs`). Each part is the smallest that still keeps flowc's promises:
//!
//! - **HTTP**: axum 0.8 with its default features off and only `http1` and `tokio` on, as in
//!   flowc's Cargo.toml, served by `axum::serve` (no per-connection deadlines, no connection
//!   cap, no memory budget: those are flowc's defences against hostile callers, not the floor's
//!   work). The body is bounded to 1 MiB, as flowc bounds it, by axum's own `DefaultBodyLimit`.
//! - **Authentication**: flowc's token check, `Authorization: Bearer TOKEN`, both sides hashed
//!   with SHA-256 and the digests compared in constant time with `subtle` (src/receive/auth.rs):
//!   a receiver open to the internet cannot skip it, and a cheaper comparison would leak the
//!   token's length or content through timing. No scrubbing of secrets from the stored body
//!   (flowc's extra promise).
//! - **Parsing**: only what the store's rows need, read with serde's derive into borrowed
//!   strings (no `serde_json::Value` tree): the provider's envelope (`meta_object.value.statuses`),
//!   each status's id, status, timestamp, recipient and first error code, the envelope's other
//!   message id and its `extra_info` refs (what a report joins a campaign on). Any other body is
//!   kept raw, marked not recognised and answered 400. No other envelope shapes, no incoming
//!   messages, no opt-out words.
//! - **Store**: `rusqlite` with SQLite bundled, flowc's schema (the DDL copied from
//!   src/events/sqlite/schema.rs), WAL and `synchronous=FULL` (an answered callback survives a
//!   power cut, as in flowc); the raw body in `callbacks` with the digest its `UNIQUE` column
//!   needs, one `statuses` row a status with the event key its `UNIQUE` column needs, both
//!   inserted with `ON CONFLICT DO NOTHING` (a callback delivered twice is stored once), from
//!   cached prepared statements. SQLite's own automatic checkpoints (flowc runs its own on a
//!   second thread, to keep them out of the commits).
//! - **Group commit**: one writer thread takes everything waiting, commits it in one
//!   transaction (one `fsync` for the lot), then answers each request: 200 only after its
//!   commit, 503 when the commit failed.
//!
//! Usage: receiver_floor --listen 127.0.0.1:0 --token-file FILE --store FILE.sqlite
//! Prints `listening on ADDR` on stderr once ready; SIGTERM or Ctrl-C stops it after the
//! requests in flight are committed and answered.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Router;
use rusqlite::{params, Connection};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::{mpsc, oneshot};

/// flowc's store layout (src/events/sqlite/schema.rs), copied as it is.
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

/// flowc's body bound.
const BODY_LIMIT: usize = 1024 * 1024;

/// The provider's envelope, only as far as the rows need.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    meta_object: MetaObject<'a>,
    #[serde(borrow, default)]
    extra_info: Option<ExtraInfo<'a>>,
    #[serde(borrow, default)]
    message_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MetaObject<'a> {
    #[serde(borrow)]
    value: Value<'a>,
}

#[derive(Deserialize)]
struct Value<'a> {
    #[serde(borrow, default)]
    statuses: Vec<Status<'a>>,
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recipient_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    errors: Vec<Error<'a>>,
}

#[derive(Deserialize)]
struct Error<'a> {
    /// Meta sends a number; some providers a string.
    #[serde(borrow, default)]
    code: Option<Code<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Code<'a> {
    Number(i64),
    Text(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Deserialize, Default)]
struct ExtraInfo<'a> {
    #[serde(borrow, default, rename = "ref")]
    ref0: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ref1: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ref2: Option<Cow<'a, str>>,
}

/// One status row, owned (it crosses to the writer thread).
struct Row {
    key: [u8; 32],
    message_id: Option<String>,
    provider_message_id: Option<String>,
    status: String,
    timestamp: Option<String>,
    recipient: Option<String>,
    error_code: Option<String>,
    refs: [Option<String>; 3],
}

/// A request to commit: the raw callback and its rows.
struct Op {
    received_at: i64,
    body: Bytes,
    content_type: Option<String>,
    recognised: bool,
    rows: Vec<Row>,
    done: oneshot::Sender<bool>,
}

struct App {
    token: [u8; 32],
    writer: mpsc::UnboundedSender<Op>,
}

/// SHA-256 over length-prefixed parts: the callback's digest and each status's event key.
fn digest<'a>(parts: impl IntoIterator<Item = Option<&'a [u8]>>) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        match part {
            Some(bytes) => {
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(bytes);
            }
            None => hash.update(u64::MAX.to_le_bytes()),
        }
    }
    hash.finalize().into()
}

fn rows(body: &[u8]) -> Option<Vec<Row>> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    let extra = envelope.extra_info.unwrap_or_default();
    let owned = |text: &Option<Cow<'_, str>>| text.as_deref().map(str::to_owned);
    let rows = envelope
        .meta_object
        .value
        .statuses
        .iter()
        .map(|status| {
            let provider_message_id = envelope
                .message_id
                .as_deref()
                .filter(|other| Some(*other) != status.id.as_deref())
                .map(str::to_owned);
            let error_code = status.errors.first().and_then(|error| match &error.code {
                Some(Code::Number(number)) => Some(number.to_string()),
                Some(Code::Text(text)) => Some(text.to_string()),
                None => None,
            });
            let row = Row {
                key: [0; 32],
                message_id: owned(&status.id),
                provider_message_id,
                status: status.status.to_string(),
                timestamp: owned(&status.timestamp),
                recipient: owned(&status.recipient_id),
                error_code,
                refs: [owned(&extra.ref0), owned(&extra.ref1), owned(&extra.ref2)],
            };
            Row {
                key: digest(
                    [
                        Some("status"),
                        row.message_id.as_deref(),
                        row.provider_message_id.as_deref(),
                        Some(row.status.as_str()),
                        row.timestamp.as_deref(),
                        row.recipient.as_deref(),
                        row.error_code.as_deref(),
                        row.refs[0].as_deref(),
                        row.refs[1].as_deref(),
                        row.refs[2].as_deref(),
                    ]
                    .map(|field| field.map(str::as_bytes)),
                ),
                ..row
            }
        })
        .collect();
    Some(rows)
}

async fn callback(State(app): State<std::sync::Arc<App>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    let presented: [u8; 32] = Sha256::digest(presented).into();
    if !bool::from(presented.ct_eq(&app.token)) {
        return StatusCode::UNAUTHORIZED;
    }
    let rows = rows(&body);
    let recognised = rows.is_some();
    let (done, answered) = oneshot::channel();
    let op = Op {
        received_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        body,
        recognised,
        rows: rows.unwrap_or_default(),
        done,
    };
    if app.writer.send(op).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match answered.await {
        Ok(true) if recognised => StatusCode::OK,
        Ok(true) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn open(path: &PathBuf) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    connection.execute_batch("PRAGMA synchronous=FULL;")?;
    connection.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = 1; COMMIT;"))?;
    Ok(connection)
}

fn insert(transaction: &rusqlite::Transaction<'_>, op: &Op) -> rusqlite::Result<()> {
    let key = digest([Some(&b"POST"[..]), Some(&b""[..]), Some(&op.body[..])]);
    let inserted = transaction
        .prepare_cached(
            "INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem)
             VALUES (?1, 'POST', '/', NULL, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(digest) DO NOTHING",
        )?
        .execute(params![
            op.received_at,
            op.content_type,
            &op.body[..],
            key.as_slice(),
            op.recognised,
            (!op.recognised).then_some("not the provider's status envelope"),
        ])?;
    if inserted == 0 {
        return Ok(());
    }
    let callback_id = transaction.last_insert_rowid();
    let mut statement = transaction.prepare_cached(
        "INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id, status,
            timestamp, timestamp_unix, recipient, error_code, ref, ref1, ref2)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT(event_key) DO NOTHING",
    )?;
    for row in &op.rows {
        statement.execute(params![
            row.key.as_slice(),
            callback_id,
            op.received_at,
            row.message_id,
            row.provider_message_id,
            row.status,
            row.timestamp,
            row.timestamp
                .as_deref()
                .and_then(|text| text.trim().parse::<i64>().ok()),
            row.recipient,
            row.error_code,
            row.refs[0],
            row.refs[1],
            row.refs[2],
        ])?;
    }
    Ok(())
}

/// The one writer: everything waiting is committed in one transaction, then answered.
fn write(mut connection: Connection, mut queue: mpsc::UnboundedReceiver<Op>) {
    let mut batch = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while let Ok(op) = queue.try_recv() {
            batch.push(op);
        }
        let committed = connection.transaction().and_then(|transaction| {
            for op in &batch {
                insert(&transaction, op)?;
            }
            transaction.commit()
        });
        if let Err(error) = &committed {
            eprintln!("receiver_floor: commit failed: {error}");
        }
        for op in batch.drain(..) {
            let _ = op.done.send(committed.is_ok());
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut token_file = None;
    let mut store = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--listen" => listen = value.parse().expect("--listen HOST:PORT"),
            "--token-file" => token_file = Some(PathBuf::from(value)),
            "--store" => store = Some(PathBuf::from(value)),
            other => panic!("unknown argument {other}"),
        }
    }
    let token = std::fs::read_to_string(token_file.expect("--token-file FILE")).expect("read the token file");
    let token: [u8; 32] = Sha256::digest(token.trim_end_matches(['\n', '\r']).as_bytes()).into();
    let connection = open(&store.expect("--store FILE")).expect("open the store");
    let (sender, queue) = mpsc::unbounded_channel();
    let writer = std::thread::spawn(move || write(connection, queue));
    let app = std::sync::Arc::new(App { token, writer: sender });
    let router = Router::new()
        .fallback(axum::routing::post(callback))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    eprintln!(
        "receiver_floor: listening on {}",
        listener.local_addr().expect("address")
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await
        .expect("serve");
    // The router (and the last sender) went with `serve`: the writer finishes what is queued.
    writer.join().expect("the writer thread");
}
