//! `flowc receive`: the provider's callbacks (delivery statuses, replies, completed Flows)
//! taken over HTTP and kept in a SQLite store, for `report` and `send` to read.
//!
//! A `202` from the API means only "accepted for sending"; what became of each message arrives
//! later, as callbacks to one URL for every message of the number, in any order, possibly more
//! than once, and again whenever an answer is not 2xx. So the receiver answers 2xx only once
//! an event is durably committed, stores the same event once however often it comes, and
//! keeps anything an authenticated caller sent, even what it cannot read (answered 400, stored
//! raw), so that nothing the provider sent is lost.
//!
//! The stages, one module each: [`auth`] (who may call; their secrets kept out of everything
//! written) → [`parse`] (the body or query into [`event`]s) → the event store
//! ([`crate::events`]: group commit on a writer thread); [`server`] wires them to HTTP (axum on hyper, optional TLS).

pub(crate) mod auth;
pub(crate) mod deadline;
pub(crate) mod event;
pub(crate) mod parse;
pub(crate) mod server;

use std::net::SocketAddr;

pub(crate) use server::{Counts, ReceiveSettings, Receiver};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiveError {
    #[error("cannot read the {what} `{path}`: {reason}")]
    Unreadable {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("the {what} `{path}` {problem}")]
    Credentials {
        what: &'static str,
        path: String,
        problem: String,
    },
    #[error("refusing to receive callbacks on {addr} without authentication")]
    NoAuthentication { addr: SocketAddr },
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("TLS: the {what} `{path}` {problem}")]
    Tls {
        what: &'static str,
        path: String,
        problem: String,
    },
    #[error(transparent)]
    Store(#[from] crate::events::EventsError),
}

impl ReceiveError {
    /// What the user can do about it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            ReceiveError::NoAuthentication { .. } => Some(
                "anyone who can reach the address could write events: pass --basic-auth-file or --token-file (and set the same credentials in the provider's callback profile), or listen on a loopback address (127.0.0.1) behind a reverse proxy".to_owned(),
            ),
            ReceiveError::Credentials { what: "token file", .. } => Some(
                "write one random token of 16 or more characters, e.g. `openssl rand -hex 32 > token`".to_owned(),
            ),
            ReceiveError::Credentials { .. } => Some("write one line `user:password`".to_owned()),
            ReceiveError::Bind { .. } => Some(
                "another program (another flowc receive?) may be listening there: choose another --listen port".to_owned(),
            ),
            ReceiveError::Tls { .. } => {
                Some("--tls-cert takes a PEM certificate chain, --tls-key its PEM private key".to_owned())
            }
            ReceiveError::Store(error) => error.help(),
            ReceiveError::Unreadable { .. } => None,
        }
    }
}
