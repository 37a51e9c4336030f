//! The event store on PostgreSQL, driven as an operator runs it: real receiver processes on one
//! real database (a throwaway cluster, see `support::postgres`), callbacks over HTTP, `send`
//! and `report` reading the same store. Most tests share one cluster (a database each); those
//! that stop the server have their own.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::postgres::{self, Database};
use crate::support::receiver::{status_body, Answer, Receiver};
use crate::support::{flowc, run, Scratch};

/// A receiver writing `url`, with the receiver helper's token and basic-auth files.
fn receiver_on(url: &str, extra: &[&str]) -> Result<Receiver, (i32, String)> {
    let scratch = Scratch::new();
    let token = scratch.write("token", format!("{}\n", crate::support::receiver::TOKEN));
    let mut args: Vec<String> = vec!["--token-file".into(), token.display().to_string()];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    Receiver::spawn_at(scratch, PathBuf::from(url), "127.0.0.1:0", &args)
}

/// How many statuses of `id` the database holds.
fn stored(database: &Database, id: &str) -> i64 {
    database
        .client()
        .query_one("SELECT count(*) FROM statuses WHERE message_id = $1", &[&id])
        .expect("count")
        .get(0)
}

/// Every message id with its number of statuses.
fn stored_ids(database: &Database) -> HashMap<String, i64> {
    database
        .client()
        .query("SELECT message_id, count(*) FROM statuses GROUP BY message_id", &[])
        .expect("ids")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[test]
fn a_callback_to_a_receiver_on_postgresql_is_answered_once_it_is_in_the_database() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    let answer = receiver.post(&status_body("wamid.pg-1", "delivered", "R1"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(stored(&database, "wamid.pg-1"), 1);
    // The same callback again: stored once, answered 2xx.
    assert_eq!(receiver.post(&status_body("wamid.pg-1", "delivered", "R1")).status, 200);
    assert_eq!(stored(&database, "wamid.pg-1"), 1);
    assert_eq!(receiver.get("/healthz").status, 200);
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
    assert!(stderr.contains("storing in postgres://"), "{stderr}");
}
