//! The store's tables on PostgreSQL, the SQLite store's layout in PostgreSQL's types, and their
//! creation and version check.
//!
//! The tables, keys and columns are the SQLite store's (`callbacks`, `statuses`, `messages`,
//! `opt_outs`), so that a report reads the same rows from either. One message id carries
//! several statuses (`sent`, `delivered`, `read`): a status's unique key is its event key (every
//! field it was delivered with), never the message id.

use super::{PgError, StoreUrl};

/// The layout this flowc writes and reads (`flowc_store.version`); 2 keeps what Meta charged for
/// each message (a status's `pricing`).
pub(crate) const VERSION: i32 = 2;

/// The session lock the receiver holds while it creates or migrates the tables.
const SCHEMA_LOCK: i64 = 0x666c_6f77_635f_7331; // "flowc_s1"

/// The transaction lock every write takes first (see the module notes of `postgres`).
pub(super) const WRITE_LOCK: i64 = 0x666c_6f77_635f_7731; // "flowc_w1"

const SCHEMA: &str = r#"
CREATE TABLE flowc_store (
    version integer NOT NULL
);
CREATE TABLE callbacks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at bigint NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    query text,
    content_type text,
    body bytea NOT NULL,
    digest bytea NOT NULL UNIQUE,
    recognised boolean NOT NULL,
    problem text
);
CREATE TABLE statuses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    message_id text,
    provider_message_id text,
    status text NOT NULL,
    "timestamp" text,
    timestamp_unix bigint,
    recipient text,
    error_code text,
    error_title text,
    error_detail text,
    ref text,
    ref1 text,
    ref2 text,
    biz_opaque_callback_data text,
    trace_id text,
    business_number text,
    phone_number_id text,
    billable boolean,
    pricing_model text,
    pricing_category text
);
CREATE INDEX statuses_message_id ON statuses(message_id);
CREATE INDEX statuses_provider_message_id ON statuses(provider_message_id);
CREATE INDEX statuses_ref ON statuses(ref);
CREATE INDEX statuses_recipient ON statuses(recipient);
CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    message_id text,
    from_number text,
    context_id text,
    context_from text,
    "type" text,
    text text,
    flow_name text,
    flow_token text,
    response_json text,
    "timestamp" text,
    timestamp_unix bigint,
    trace_id text,
    business_number text,
    phone_number_id text
);
CREATE INDEX messages_context_id ON messages(context_id);
CREATE INDEX messages_flow_token ON messages(flow_token);
CREATE INDEX messages_from ON messages(from_number);
CREATE TABLE opt_outs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    number text NOT NULL,
    word text NOT NULL,
    message_id text,
    timestamp_unix bigint
);
CREATE INDEX opt_outs_number ON opt_outs(number);
"#;

/// What layout 2 added to a layout-1 store (the columns at the end of `statuses`, as a new
/// store has them), and the version it then has; one transaction.
const UPGRADE_1_TO_2: &str = "
ALTER TABLE statuses ADD COLUMN billable boolean, ADD COLUMN pricing_model text, ADD COLUMN pricing_category text;
UPDATE flowc_store SET version = 2;
";

/// The store's tables, to tell an empty database from one that holds something else.
const TABLES: [&str; 4] = ["callbacks", "statuses", "messages", "opt_outs"];

fn query_error(url: &StoreUrl, error: &::postgres::Error) -> PgError {
    PgError::Query {
        store: url.to_string(),
        reason: url.scrub(&super::url::error_text(error)),
    }
}

/// The version of the store in this database: `None` when it has no `flowc_store` table.
fn version(client: &mut ::postgres::Client, url: &StoreUrl) -> Result<Option<i32>, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('flowc_store') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(|error| query_error(url, &error))?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> = client
        .query_opt("SELECT max(version) FROM flowc_store", &[])
        .map_err(|error| query_error(url, &error))?
        .and_then(|row| row.get(0));
    version.map(Some).ok_or_else(|| PgError::NotAStore {
        store: url.to_string(),
        problem: "has an empty `flowc_store` table: it was not made by flowc receive".to_owned(),
    })
}

/// Creates the tables in an empty database, or checks those there are of this layout (bringing
/// an older one up to date: then its layout is returned); as the receiver does before it
/// writes. Two receivers starting at once take turns (a session advisory lock): the second
/// finds the first's tables.
pub(crate) fn create_or_check(client: &mut ::postgres::Client, url: &StoreUrl) -> Result<Option<i32>, PgError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
        .map_err(|error| query_error(url, &error))?;
    let result = create_or_check_locked(client, url);
    // Released with the session too, should this fail.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK]);
    result
}

fn create_or_check_locked(client: &mut ::postgres::Client, url: &StoreUrl) -> Result<Option<i32>, PgError> {
    match version(client, url)? {
        Some(VERSION) => Ok(None),
        // Upgraded in place, under the lock: a second receiver starting meanwhile waits, then
        // finds layout 2. Readers of layout 1 refuse the store from then on, as they should.
        Some(1) => {
            let mut transaction = client.transaction().map_err(|error| query_error(url, &error))?;
            transaction
                .batch_execute(UPGRADE_1_TO_2)
                .map_err(|error| query_error(url, &error))?;
            transaction.commit().map_err(|error| query_error(url, &error))?;
            Ok(Some(1))
        }
        Some(found) => Err(PgError::OtherVersion {
            store: url.to_string(),
            found,
            known: VERSION,
        }),
        None => {
            let present: Vec<String> = client
                .query(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY 1",
                    &[&TABLES.as_slice()],
                )
                .map_err(|error| query_error(url, &error))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if !present.is_empty() {
                return Err(PgError::NotAStore {
                    store: url.to_string(),
                    problem: format!(
                        "has tables named like the store's ({}) but no `flowc_store` version: it was not made by flowc receive (left as it is)",
                        present.join(", ")
                    ),
                });
            }
            let mut transaction = client.transaction().map_err(|error| query_error(url, &error))?;
            transaction
                .batch_execute(SCHEMA)
                .and_then(|()| transaction.execute("INSERT INTO flowc_store (version) VALUES ($1)", &[&VERSION]))
                .map_err(|error| query_error(url, &error))?;
            transaction.commit().map_err(|error| query_error(url, &error))?;
            Ok(None)
        }
    }
}

/// Checks, as `send` and `report` do before they read, that the database holds a store of this
/// layout.
pub(crate) fn check(client: &mut ::postgres::Client, url: &StoreUrl) -> Result<(), PgError> {
    match version(client, url)? {
        Some(VERSION) => Ok(()),
        Some(found) => Err(PgError::OtherVersion {
            store: url.to_string(),
            found,
            known: VERSION,
        }),
        None => Err(PgError::NotAStore {
            store: url.to_string(),
            problem: "holds no flowc event store (no `flowc_store` table): start flowc receive on it first".to_owned(),
        }),
    }
}
