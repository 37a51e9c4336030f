//! The event store on PostgreSQL: several receivers behind a load balancer write one shared,
//! durable store, and `send` and `report` read it from any machine.
//!
//! The guarantees are the SQLite store's. A callback is answered only after the transaction
//! holding it committed (PostgreSQL's `COMMIT` returns once the commit is flushed, with the
//! server's default `synchronous_commit`). One writer thread per receiver ([`writer`]) commits
//! everything queued since its last commit in one transaction (group commit). The same callback
//! delivered twice, also to two receivers at the same moment, is stored once: every table has
//! its unique key (the callback's digest, each event's key) and every insert is `ON CONFLICT DO
//! NOTHING`. While the database is unreachable every waiting callback is told it was not stored
//! (the receiver answers 503 with `Retry-After`, so the provider sends it again), and the writer
//! reconnects by itself.
//!
//! Receivers take turns for the events' inserts and the commit: a transaction-level advisory
//! lock, taken after the batch's callbacks are inserted and held until the commit is visible
//! (see `writer`'s `commit`). That orders the events' ids by commit: a reader that has seen id
//! `n` committed will never later find a smaller id committed (with two writers drawing ids at
//! once, one could commit after the other's larger ids were read, and `send`'s look at the
//! opt-outs "after the last id seen" would miss that STOP forever). It also makes the check
//! "this status was stored before under the message's other id" exact across receivers. A batch
//! is one statement a table, sent with its `BEGIN` and `COMMIT` at once: one round trip.
//!
//! The schema is created (and later migrated) by the receiver under a session advisory lock, so
//! that two receivers starting at once do not race; its version is kept in `flowc_store`.
//! Readers refuse a store of another version.

use std::time::Duration;

pub(crate) mod reader;
pub(crate) mod schema;
pub(crate) mod url;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

pub(crate) use self::url::{is_postgres_url, PasswordSources, StoreUrl};
pub(crate) use reader::{PgFeed, PgReader};
#[cfg(test)]
pub(crate) use schema::VERSION;
pub(crate) use writer::{PgHandle, PgStore, PgWriter};

/// How long a receiver answering 503 asks the provider to wait before sending again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Everything that can go wrong with a PostgreSQL store. Every text that came from the driver
/// or the server was scrubbed of the password before it was put here.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PgError {
    #[error("the event store URL {problem}")]
    Url { problem: String },
    #[error("the event store's password file `{path}` {reason}")]
    PasswordFile { path: String, reason: String },
    #[error("cannot reach the event store {store}: {reason}")]
    Connect {
        store: String,
        reason: String,
        /// What about TLS failed, if that is why.
        tls: Option<url::TlsFailure>,
    },
    /// The store holds other tables, or a store of another layout.
    #[error("the event store {store} {problem}")]
    NotAStore { store: String, problem: String },
    #[error("the event store {store} is of layout {found}; this flowc reads layout {known}{}", if *found > *known { " (it was written by a newer flowc)" } else { " (start this flowc's receiver on it once to upgrade it)" })]
    OtherVersion { store: String, found: i32, known: i32 },
    #[error("event store {store}: {reason}")]
    Query { store: String, reason: String },
    /// The callback was not stored (the database is unreachable, or the commit failed or its
    /// outcome is unknown): answered 503 with `Retry-After`, so the provider sends it again
    /// (stored once however often it comes).
    #[error("the event store {store} did not store the callback: {reason}")]
    Unavailable { store: String, reason: String },
    #[error("the event store {store} is closed")]
    Closed { store: String },
}

impl PgError {
    /// What the user can do about it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            PgError::Url { .. } => Some(
                "name the store as postgres://USER@HOST:PORT/DATABASE (the password in the URL, a password file or PGPASSWORD)"
                    .to_owned(),
            ),
            PgError::Connect { tls, .. } => Some(
                match tls {
                    Some(url::TlsFailure::NotOffered) => "the server does not offer TLS: turn on `ssl` in its postgresql.conf (with its certificate and key), or, on a network you trust, name sslmode=disable in the URL",
                    Some(url::TlsFailure::UnknownAuthority) => "the server's certificate is signed by no authority this machine trusts: give the authority's certificate (PEM) with sslrootcert=FILE in the URL",
                    Some(url::TlsFailure::OtherName) => "the server's certificate is for another name: name the host in the URL as its certificate does",
                    Some(url::TlsFailure::AuthoritiesFile) => "give sslrootcert a PEM file of the authority's certificate",
                    Some(url::TlsFailure::Other) | None => "check that PostgreSQL runs at that address, and the user, password and database",
                }
                .to_owned(),
            ),
            PgError::NotAStore { .. } => Some(
                "name a database of its own for the event store (flowc receive creates its tables)".to_owned(),
            ),
            PgError::OtherVersion { found, known, .. } if found < known => {
                Some("start `flowc receive` on the store once: it brings the layout up to date".to_owned())
            }
            PgError::OtherVersion { .. } => Some("use the flowc that writes this store".to_owned()),
            PgError::PasswordFile { .. }
            | PgError::Query { .. }
            | PgError::Unavailable { .. }
            | PgError::Closed { .. } => None,
        }
    }

    /// Whether a receiver answers the callback 503 with `Retry-After` (it was not stored).
    pub(crate) fn is_unavailable(&self) -> bool {
        matches!(
            self,
            PgError::Unavailable { .. } | PgError::Connect { .. } | PgError::Closed { .. }
        )
    }
}
