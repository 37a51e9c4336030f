//! The PostgreSQL store against a real server: the tests' throwaway cluster (or
//! `FLOWC_TEST_POSTGRES_URL`), one database each.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::*;
use crate::events::Callback;
use crate::receive::parse::{json, OptOutWords};
use crate::secret::Secret;

#[path = "../../../tests/cli/support/postgres.rs"]
mod harness;

fn url(text: &str) -> StoreUrl {
    StoreUrl::parse(text, &PasswordSources::default()).expect("a valid URL")
}

fn callback(body: &str) -> Callback {
    let words = OptOutWords::new(&OptOutWords::DEFAULT);
    Callback {
        received_at: 1_000,
        method: "POST",
        path: "/".to_owned(),
        query: None,
        content_type: Some("application/json".to_owned()),
        body: body.as_bytes().to_vec(),
        outcome: json(body.as_bytes(), &words),
    }
}

fn status(id: usize, status: &str) -> String {
    format!(
        r#"{{"statuses":[{{"id":"wamid.{id}","status":"{status}","timestamp":"{}","recipient_id":"91987654{id:04}"}}]}}"#,
        1_700_000_000 + id
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn count(client: &mut ::postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect(sql).get(0)
}

#[test]
fn the_same_callback_posted_to_two_receivers_at_once_is_stored_once() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    let first = PgWriter::spawn(PgStore::open(&store).expect("first receiver"));
    let second = PgWriter::spawn(PgStore::open(&store).expect("second receiver"));
    let runtime = runtime();
    let (one, two) = (first.handle(), second.handle());
    let outcomes = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..200 {
            // Twice to the first: also twice in one of its batches.
            for handle in [one.clone(), two.clone(), one.clone()] {
                tasks.spawn(async move { (id, handle.save(callback(&status(id, "delivered"))).await) });
            }
        }
        tasks.join_all().await
    });
    let mut stored = HashSet::new();
    for (id, outcome) in outcomes {
        let saved = outcome.expect("stored");
        if !saved.duplicate {
            assert!(stored.insert(id), "callback {id} was stored twice");
            assert_eq!(saved.statuses, 1);
        }
    }
    assert_eq!(stored.len(), 200, "every callback was stored by one of the two");
    drop((one, two));
    first.finish();
    second.finish();
    let mut client = database.client();
    assert_eq!(count(&mut client, "SELECT count(*) FROM callbacks"), 200);
    assert_eq!(count(&mut client, "SELECT count(*) FROM statuses"), 200);
}

/// Send's watch reads "what was stored after the last id seen", many times a second while
/// receivers write. If a transaction could commit ids smaller than some already visible (two
/// writers drawing ids at once, the later committing first), the watch would pass over them for
/// good: a STOP never honoured. Three receivers write statuses and STOPs at once while a reader
/// follows each table by id, as the watch does; every row must be seen.
#[test]
fn a_reader_following_ids_misses_nothing_that_receivers_writing_at_once_commit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    let writers: Vec<PgWriter> = (0..3)
        .map(|_| PgWriter::spawn(PgStore::open(&store).expect("a receiver")))
        .collect();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let finished = std::sync::Arc::clone(&done);
    let followed = store.clone();
    let reader = std::thread::spawn(move || {
        let mut feed = PgFeed::open(&followed).expect("feed");
        let (mut statuses, mut opt_outs, mut incoming) = (HashSet::new(), HashSet::new(), HashSet::new());
        let (mut last_status, mut last_opt_out, mut last_incoming) = (0, 0, 0);
        loop {
            // Read once more after the writers are done: everything is committed by then.
            let last_look = finished.load(Ordering::SeqCst);
            for status in feed.statuses_after(last_status, 1_000_000).expect("statuses") {
                last_status = status.id;
                statuses.insert(status.id);
            }
            for (id, _) in feed.opt_outs_after(last_opt_out).expect("opt-outs") {
                last_opt_out = id;
                opt_outs.insert(id);
            }
            for (id, _, _) in feed.incoming_after(last_incoming, 1_000_000).expect("messages") {
                last_incoming = id;
                incoming.insert(id);
            }
            if last_look {
                return (statuses, opt_outs, incoming);
            }
        }
    });
    let handles: Vec<PgHandle> = writers.iter().map(PgWriter::handle).collect();
    let runtime = runtime();
    runtime.block_on(async {
        for round in 0..6 {
            let mut tasks = tokio::task::JoinSet::new();
            for id in 0..400 {
                let handle = handles[id % handles.len()].clone();
                let body = if id % 4 == 0 {
                    format!(r#"{{"messages":[{{"from":"91987{round}{id:05}","id":"m{round}-{id}","type":"text","text":{{"body":"STOP"}}}}]}}"#)
                } else {
                    status(round * 1_000 + id, "delivered")
                };
                tasks.spawn(async move { handle.save(callback(&body)).await.expect("stored") });
            }
            tasks.join_all().await;
        }
    });
    done.store(true, Ordering::SeqCst);
    let (statuses, opt_outs, incoming) = reader.join().expect("the reader");
    drop(handles);
    for writer in writers {
        writer.finish();
    }
    let mut client = database.client();
    for (table, seen) in [("statuses", statuses), ("opt_outs", opt_outs), ("messages", incoming)] {
        let stored: HashSet<i64> = client
            .query(&format!("SELECT id FROM {table}"), &[])
            .expect(table)
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(stored.len(), if table == "statuses" { 1_800 } else { 600 }, "{table}");
        let missed = stored.difference(&seen).count();
        assert_eq!(
            missed, 0,
            "the reader passed over {missed} {table} committed after larger ids"
        );
    }
}

#[test]
fn each_status_of_one_message_is_kept_and_a_stop_is_an_opt_out() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let writer = PgWriter::spawn(PgStore::open(&url(&database.url)).expect("open"));
    let handle = writer.handle();
    let runtime = runtime();
    let stop = r#"{"messages":[{"from":"+91 98765 43210","id":"m1","type":"text","text":{"body":"STOP"}}]}"#;
    let reply = r#"{"messages":[{"from":"919876500001","id":"m2","timestamp":"1700000100","type":"interactive",
        "context":{"from":"911234567890","id":"wamid.1"},
        "interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent",
        "response_json":"{\"flow_token\":\"T-1\",\"slot\":\"morning\"}"}}}]}"#;
    let saved: Vec<_> = [
        status(1, "sent"),
        status(1, "delivered"),
        status(1, "read"),
        stop.to_owned(),
        "{oops".to_owned(),
        reply.to_owned(),
    ]
    .iter()
    .map(|body| runtime.block_on(handle.save(callback(body))).expect("saved"))
    .collect();
    assert!(saved[..3].iter().all(|saved| saved.statuses == 1 && !saved.duplicate));
    assert_eq!(saved[3].opt_outs, 1);
    drop(handle);
    writer.finish();
    let mut client = database.client();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM statuses WHERE message_id = 'wamid.1'"
        ),
        3
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM callbacks WHERE NOT recognised"),
        1
    );

    let reader = PgReader::open(&url(&database.url)).expect("reader");
    let mut statuses = Vec::new();
    reader
        .for_each_status(|row| statuses.push((row.status.to_owned(), row.time)))
        .expect("statuses");
    assert_eq!(
        statuses,
        [
            ("sent".to_owned(), 1_700_000_001),
            ("delivered".to_owned(), 1_700_000_001),
            ("read".to_owned(), 1_700_000_001)
        ]
    );
    let mut opt_outs = Vec::new();
    reader
        .for_each_opt_out(|number, _| opt_outs.push(number.to_owned()))
        .expect("opt-outs");
    assert_eq!(opt_outs, ["+91 98765 43210"]);
    let mut replies = Vec::new();
    reader
        .for_each_flow_reply(|row| {
            replies.push((
                row.from.map(str::to_owned),
                row.context_id.map(str::to_owned),
                row.flow_token.map(str::to_owned),
                row.response_json.map(str::to_owned),
                row.time,
            ));
            Ok::<(), PgError>(())
        })
        .expect("replies");
    assert_eq!(
        replies,
        [(
            Some("919876500001".to_owned()),
            Some("wamid.1".to_owned()),
            Some("T-1".to_owned()),
            Some(r#"{"flow_token":"T-1","slot":"morning"}"#.to_owned()),
            1_700_000_100
        )]
    );

    let mut feed = PgFeed::open(&url(&database.url)).expect("feed");
    let opt_outs = feed.opt_outs_after(0).expect("opt-outs");
    assert_eq!(opt_outs.len(), 1);
    assert!(feed.opt_outs_after(opt_outs[0].0).expect("none new").is_empty());
    let polled = feed.statuses_after(0, 10).expect("statuses");
    assert_eq!(polled.len(), 3);
    assert_eq!(feed.last_status_id().expect("last"), polled[2].id);
    assert!(feed.statuses_after(polled[1].id, 10).expect("after").len() == 1);
}

#[test]
fn a_store_of_another_version_is_refused() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    drop(PgStore::open(&store).expect("created"));
    database
        .client()
        .batch_execute("UPDATE flowc_store SET version = 99")
        .expect("a newer layout");
    for refused in [
        PgReader::open(&store).err(),
        PgFeed::open(&store).err(),
        PgStore::open(&store).err(),
    ] {
        let error = refused.expect("refused");
        assert!(
            matches!(
                error,
                PgError::OtherVersion {
                    found: 99,
                    known: VERSION,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("newer flowc"), "{error}");
    }
}

#[test]
fn a_database_without_the_store_is_refused_by_readers_and_one_with_lookalike_tables_by_the_receiver() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    let error = PgReader::open(&store).err().expect("no store yet");
    assert!(matches!(error, PgError::NotAStore { .. }), "{error:?}");
    database
        .client()
        .batch_execute("CREATE TABLE callbacks (id integer)")
        .expect("a lookalike");
    let error = PgStore::open(&store).err().expect("not a store");
    assert!(error.to_string().contains("was not made by flowc receive"), "{error}");
}

#[test]
fn receivers_starting_at_once_create_the_store_once() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    let barrier = std::sync::Barrier::new(6);
    std::thread::scope(|scope| {
        let openers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    PgStore::open(&store).map(drop)
                })
            })
            .collect();
        for opener in openers {
            opener.join().expect("no panic").expect("each receiver opens the store");
        }
    });
    assert_eq!(count(&mut database.client(), "SELECT count(*) FROM flowc_store"), 1);
}

/// A new store holding one callback and the statuses `statuses` (SQL) inserts under it.
fn store_of_many_statuses(database: &harness::Database, statuses: &str) -> StoreUrl {
    let store = url(&database.url);
    drop(PgStore::open(&store).expect("created"));
    database
        .client()
        .batch_execute(&format!(
            "INSERT INTO callbacks (received_at, method, path, body, digest, recognised)
               VALUES (5000, 'POST', '/', '\\x', '\\x00', true);
             {statuses};"
        ))
        .expect("many statuses");
    store
}

#[test]
fn a_report_streams_many_events_in_the_order_stored() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = store_of_many_statuses(
        &database,
        "INSERT INTO statuses (event_key, callback_id, received_at, message_id, status, timestamp_unix)
           SELECT int4send(n), 1, 5000, 'wamid.' || n, 'delivered', CASE WHEN n % 2 = 0 THEN n END
           FROM generate_series(1, 12345) AS n",
    );
    let reader = PgReader::open(&store).expect("reader");
    let mut seen = 0_i64;
    reader
        .for_each_status(|row| {
            seen += 1;
            assert_eq!(row.message_id, Some(format!("wamid.{seen}").as_str()));
            assert_eq!(row.time, if seen % 2 == 0 { seen } else { 5 });
        })
        .expect("streamed");
    assert_eq!(seen, 12345);
    // The reader's snapshot: a status stored after it opened is not in this report.
    database
        .client()
        .batch_execute(
            "INSERT INTO statuses (event_key, callback_id, received_at, status) VALUES ('\\x01', 1, 1, 'read')",
        )
        .expect("one more");
    let mut again = 0;
    reader.for_each_status(|_| again += 1).expect("read again");
    assert_eq!(again, 12345);
}

#[test]
fn a_report_stops_a_scan_of_the_statuses_midway_then_reads_the_ids_of_the_rest() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = store_of_many_statuses(
        &database,
        "INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id, status, ref2)
           SELECT int4send(n), 1, 5000, 'wamid.' || n, 'AX' || n, 'sent', 'key-' || n
           FROM generate_series(1, 12345) AS n",
    );
    let reader = PgReader::open(&store).expect("reader");
    // Stopped in its second batch of rows: the cursor is closed, and the next read starts anew.
    let mut read = 0_u64;
    reader
        .for_each_status_until(|_| {
            read += 1;
            if read == 7000 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
        .expect("stopped");
    assert_eq!(read, 7000);
    let mut rest = Vec::new();
    reader
        .for_each_status_ids(read, |row| {
            rest.push((
                row.message_id.map(str::to_owned),
                row.provider_message_id.map(str::to_owned),
                row.refs.map(|reference| reference.map(str::to_owned)),
                row.status.to_owned(),
            ));
        })
        .expect("the rest");
    assert_eq!(rest.len(), 12345 - 7000);
    assert_eq!(
        rest[0],
        (
            Some("wamid.7001".to_owned()),
            Some("AX7001".to_owned()),
            [None, None, Some("key-7001".to_owned())],
            String::new()
        )
    );
    let mut again = 0;
    reader.for_each_status(|_| again += 1).expect("read again");
    assert_eq!(again, 12345);
}

#[test]
fn the_writer_refuses_callbacks_while_the_database_is_down_and_recovers_without_losing_any_it_acknowledged() {
    let Some(cluster) = harness::own_cluster() else { return };
    let database = cluster.database();
    let store = url(&database.url);
    let writer = PgWriter::spawn(PgStore::open(&store).expect("open"));
    let handle = writer.handle();
    let runtime = runtime();
    let mut acknowledged = HashSet::new();
    for id in 0..20 {
        runtime
            .block_on(handle.save(callback(&status(id, "sent"))))
            .expect("stored");
        acknowledged.insert(id);
    }
    assert!(handle.reachable());
    cluster.stop();
    for id in 20..40 {
        let error = runtime
            .block_on(handle.save(callback(&status(id, "sent"))))
            .expect_err("nothing is acknowledged while the database is down");
        assert!(error.is_unavailable(), "{error:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.reachable() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!handle.reachable(), "the health check says the store is gone");
    cluster.restart();
    // The writer reconnects by itself: the provider's retries are stored once it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in 20..40 {
        loop {
            match runtime.block_on(handle.save(callback(&status(id, "sent")))) {
                Ok(_) => break,
                Err(error) => {
                    assert!(Instant::now() < deadline, "the writer did not recover: {error}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        acknowledged.insert(id);
    }
    assert!(handle.reachable());
    drop(handle);
    writer.finish();
    let mut client = database.client();
    let stored: HashSet<usize> = client
        .query("SELECT message_id FROM statuses", &[])
        .expect("statuses")
        .iter()
        .map(|row| row.get::<_, String>(0)["wamid.".len()..].parse().expect("an id"))
        .collect();
    assert_eq!(stored, acknowledged);
    assert_eq!(count(&mut client, "SELECT count(*) FROM statuses"), 40);
}

#[test]
fn the_store_password_never_shows_in_errors_or_debug() {
    let password = "s3cret-Pa55word";
    let sources = PasswordSources::default();
    let parsed =
        StoreUrl::parse(&format!("postgresql://flowc:{password}@127.0.0.1:1/events"), &sources).expect("valid");
    for text in [parsed.to_string(), format!("{parsed:?}")] {
        assert!(!text.contains(password), "{text}");
    }
    assert_eq!(parsed.to_string(), "postgres://flowc@127.0.0.1:1/events");
    // A URL that does not parse is never echoed.
    for bad in [
        format!("postgres://flowc:{password}@[::1/events"),
        format!("postgres://flowc:{password}@host/events?sslmode=maybe-{password}"),
        format!("postgres://flowc:{password}@host/events?passwrd={password}"),
        format!("postgres://flowc:{password}@host/"),
    ] {
        let error = StoreUrl::parse(&bad, &sources).expect_err("refused");
        assert!(!format!("{error} {error:?}").contains(password), "{error}");
    }
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    // The server's own message for a wrong password, and for a database that is not there.
    let mut wrong = ::url::Url::parse(&database.url).expect("the test URL");
    wrong.set_password(Some(password)).expect("a password");
    let mut missing = wrong.clone();
    missing.set_path(&format!("{}_missing", database.name));
    let (wrong, missing) = (wrong.to_string(), missing.to_string());
    for target in [wrong, missing] {
        let store = url(&target);
        for error in [
            PgStore::open(&store).err().expect("refused"),
            PgReader::open(&store).err().expect("refused"),
        ] {
            let text = format!("{error} {error:?}");
            assert!(matches!(error, PgError::Connect { .. }), "{text}");
            assert!(!text.contains(password), "{text}");
        }
    }
}

#[test]
fn the_password_comes_from_the_url_then_the_password_file_then_pgpassword() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    std::fs::write(&file, "from-file\n").expect("write");
    let environment = Some(Secret::new("from-environment".to_owned()));
    let both = PasswordSources {
        file: Some(&file),
        environment: environment.clone(),
    };
    let only_environment = PasswordSources {
        file: None,
        environment,
    };
    let password = |text: &str, sources: &PasswordSources<'_>| {
        let parsed = StoreUrl::parse(text, sources).expect("valid");
        parsed.scrub("from-url from-file from-environment")
    };
    assert_eq!(
        password("postgres://u:from-url@h/d", &both),
        "*** from-file from-environment"
    );
    assert_eq!(password("postgres://u@h/d", &both), "from-url *** from-environment");
    assert_eq!(
        password("postgres://u@h/d", &only_environment),
        "from-url from-file ***"
    );
    let missing = PasswordSources {
        file: Some(&dir.path().join("absent")),
        environment: None,
    };
    assert!(matches!(
        StoreUrl::parse("postgres://u@h/d", &missing),
        Err(PgError::PasswordFile { .. })
    ));
    assert!(is_postgres_url("PostgreSQL://u@h/d") && !is_postgres_url("events.sqlite"));
    assert_eq!(
        StoreUrl::parse("postgres://u@h:6543/d?sslmode=require", &PasswordSources::default())
            .expect("valid")
            .tls(),
        url::Tls::Verified
    );
    assert_eq!(url("postgres://u@h/d?sslmode=prefer").tls(), url::Tls::None);
}

#[test]
fn a_store_url_asking_for_tls_never_talks_to_a_server_without_it() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let password = harness::PASSWORD;
    let separator = if database.url.contains('?') { '&' } else { '?' };
    let store = url(&format!("{}{separator}sslmode=require", database.url));
    let error = PgStore::open(&store)
        .err()
        .expect("refused: the test server has no TLS");
    let text = format!("{error} {error:?}");
    assert!(matches!(error, PgError::Connect { .. }), "{text}");
    assert!(text.contains("TLS"), "{text}");
    assert!(!text.contains(password), "{text}");
}

#[test]
fn the_same_status_delivered_under_either_of_its_ids_is_stored_once() {
    use crate::receive::event::{Event, StatusEvent};
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let writer = PgWriter::spawn(PgStore::open(&url(&database.url)).expect("open"));
    let handle = writer.handle();
    let runtime = runtime();
    let delivery = |body: &str, message_id: Option<&str>, provider_message_id: Option<&str>, status: &str| {
        let mut callback = callback(body);
        callback.outcome = Ok(vec![Event::Status(StatusEvent {
            message_id: message_id.map(str::to_owned),
            provider_message_id: provider_message_id.map(str::to_owned),
            status: status.to_owned(),
            timestamp: Some("1700000000".to_owned()),
            ..StatusEvent::default()
        })]);
        callback
    };
    let deliveries = || {
        [
            delivery("post", Some("wamid.9"), Some("provider-9"), "delivered"),
            delivery("get", None, Some("provider-9"), "delivered"),
            delivery("get again", Some("wamid.9"), None, "delivered"),
            delivery("read", Some("wamid.9"), None, "read"),
            delivery("no ids", None, None, "failed"),
        ]
    };
    let saved: Vec<_> = deliveries()
        .into_iter()
        .map(|callback| runtime.block_on(handle.save(callback)).expect("saved"))
        .collect();
    let stored: Vec<u64> = saved.iter().map(|saved| saved.statuses).collect();
    assert_eq!(stored, [1, 0, 0, 1, 1]);
    assert!(saved[1].duplicate && saved[2].duplicate);
    drop(handle);
    writer.finish();
    assert_eq!(count(&mut database.client(), "SELECT count(*) FROM statuses"), 3);

    // All at once: committed together in one pipelined transaction, still one row each. (Not
    // both one-id deliveries: arriving before the one with both ids, nothing ties them.)
    let database = server.database();
    let writer = PgWriter::spawn(PgStore::open(&url(&database.url)).expect("open"));
    let handle = writer.handle();
    let stored: u64 = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, callback) in deliveries().into_iter().enumerate() {
            if index == 2 {
                continue;
            }
            let handle = handle.clone();
            tasks.spawn(async move { handle.save(callback).await.expect("saved").statuses });
        }
        tasks.join_all().await.into_iter().sum()
    });
    assert_eq!(stored, 3);
    drop(handle);
    writer.finish();
    assert_eq!(count(&mut database.client(), "SELECT count(*) FROM statuses"), 3);
}

/// A store of layout 1 (its tables and rows as that receiver wrote them) is refused by readers,
/// upgraded in place by the receiver with every row kept, and then keeps what Meta charged.
#[test]
fn a_layout_1_store_is_upgraded_by_the_receiver_with_its_rows_kept_and_refused_by_readers_until_then() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    let mut client = database.client();
    client
        .batch_execute(include_str!("../../../tests/data/events-layout-1.postgres.sql"))
        .expect("a layout-1 store");
    let before = |client: &mut ::postgres::Client| -> Vec<String> {
        client
            .query(
                "SELECT concat_ws('|', id, message_id, provider_message_id, status, \"timestamp\", recipient,
                    error_code, error_title, ref, trace_id) FROM statuses ORDER BY id",
                &[],
            )
            .expect("statuses")
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let old_statuses = before(&mut client);
    assert_eq!(old_statuses.len(), 2);
    for refused in [PgReader::open(&store).err(), PgFeed::open(&store).err()] {
        let error = refused.expect("refused");
        assert!(
            matches!(
                error,
                PgError::OtherVersion {
                    found: 1,
                    known: VERSION,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("start this flowc's receiver on it once"),
            "{error}"
        );
        assert!(
            error.help().is_some_and(|help| help.contains("flowc receive")),
            "{error:?}"
        );
    }

    let writer = PgWriter::spawn(PgStore::open(&store).expect("upgraded"));
    let handle = writer.handle();
    let priced = r#"{"statuses":[{"id":"wamid.V2","status":"delivered","timestamp":"1764000100",
        "pricing":{"billable":true,"pricing_model":"PMP","category":"marketing"}}]}"#;
    let saved = runtime().block_on(handle.save(callback(priced))).expect("saved");
    assert_eq!(saved.statuses, 1);
    drop(handle);
    writer.finish();

    assert_eq!(count(&mut client, "SELECT max(version)::bigint FROM flowc_store"), 2);
    assert_eq!(count(&mut client, "SELECT count(*) FROM flowc_store"), 1);
    assert_eq!(before(&mut client)[..2], old_statuses[..]);
    for (table, rows) in [("callbacks", 4), ("messages", 1), ("opt_outs", 1)] {
        assert_eq!(
            count(&mut client, &format!("SELECT count(*) FROM {table}")),
            rows,
            "{table}"
        );
    }
    let reader = PgReader::open(&store).expect("a reader of layout 2");
    let mut statuses = Vec::new();
    reader
        .for_each_status(|row| {
            statuses.push((
                row.message_id.map(str::to_owned),
                row.billable,
                row.pricing_category.map(str::to_owned),
            ));
        })
        .expect("statuses");
    assert_eq!(
        statuses,
        [
            (Some("wamid.V1A".to_owned()), None, None),
            (Some("wamid.V1B".to_owned()), None, None),
            (Some("wamid.V2".to_owned()), Some(true), Some("marketing".to_owned())),
        ]
    );
    // A second receiver finds the store upgraded and leaves it as it is.
    drop(PgStore::open(&store).expect("opened again"));
    assert_eq!(count(&mut client, "SELECT max(version)::bigint FROM flowc_store"), 2);
}

/// How often `statuses` was read whole, once every other session of the database has ended
/// (a session's counts reach the statistics when it ends).
fn whole_reads_of_statuses(client: &mut ::postgres::Client) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        client,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(Instant::now() < deadline, "the other sessions did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    client
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .expect("a fresh look");
    count(
        client,
        "SELECT COALESCE(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'statuses'",
    )
}

#[test]
fn storing_statuses_in_a_new_store_never_scans_every_status_stored() {
    let Some(server) = harness::shared() else { return };
    let database = server.database();
    let store = url(&database.url);
    drop(PgStore::open(&store).expect("created"));
    let mut client = database.client();
    // Building the table's indexes read it whole once each.
    let before = whole_reads_of_statuses(&mut client);
    let writer = PgWriter::spawn(PgStore::open(&store).expect("open"));
    let handle = writer.handle();
    let runtime = runtime();
    // One a commit: past the fifth, PostgreSQL plans the writer's inserts once for all, from
    // the statistics of a store that was empty.
    for id in 0..50 {
        runtime
            .block_on(handle.save(callback(&status(id, "delivered"))))
            .expect("stored");
    }
    drop(handle);
    writer.finish();
    assert_eq!(
        whole_reads_of_statuses(&mut client) - before,
        0,
        "each status was looked up by index, not by reading every status stored"
    );
    assert_eq!(count(&mut client, "SELECT count(*) FROM statuses"), 50);
}

#[test]
fn a_store_at_an_ipv6_address_is_reached_there() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        return; // No IPv6 on this machine.
    };
    let port = listener.local_addr().expect("address").port();
    let store = url(&format!("postgres://flowc@[::1]:{port}/events"));
    // Connected, then left waiting for the server's answer until the connection is closed.
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        let connection = listener.accept();
        seen.store(connection.is_ok(), std::sync::atomic::Ordering::SeqCst);
    });
    let error = PgReader::open(&store).err().expect("no PostgreSQL there");
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        "never connected: {error}"
    );
    assert_eq!(store.to_string(), format!("postgres://flowc@[::1]:{port}/events"));
}

/// A status left out of a batch because an earlier one of the batch carries its id must still
/// be stored when that earlier one is itself left out as stored before under its other id: one
/// at a time (and on SQLite), the later one finds nothing stored under the id it carries.
#[test]
fn a_status_whose_twin_in_its_batch_was_stored_before_under_another_id_is_still_stored() {
    use crate::receive::event::{Event, StatusEvent};
    let Some(server) = harness::shared() else { return };
    let delivery = |body: &str, message_id: Option<&str>, provider_message_id: Option<&str>| {
        let mut callback = callback(body);
        callback.outcome = Ok(vec![Event::Status(StatusEvent {
            message_id: message_id.map(str::to_owned),
            provider_message_id: provider_message_id.map(str::to_owned),
            status: "delivered".to_owned(),
            timestamp: Some("1700000000".to_owned()),
            ..StatusEvent::default()
        })]);
        callback
    };
    let runtime = runtime();
    for together in [false, true] {
        let database = server.database();
        let writer = PgWriter::spawn(PgStore::open(&url(&database.url)).expect("open"));
        let handle = writer.handle();
        runtime
            .block_on(handle.save(delivery("the provider's id", None, Some("provider-9"))))
            .expect("saved");
        let both = delivery("both ids", Some("wamid.9"), Some("provider-9"));
        let meta = delivery("Meta's id", Some("wamid.9"), None);
        let saved = if together {
            runtime.block_on(async {
                let (both, meta) = tokio::join!(handle.save(both), handle.save(meta));
                [both.expect("saved"), meta.expect("saved")]
            })
        } else {
            [
                runtime.block_on(handle.save(both)).expect("saved"),
                runtime.block_on(handle.save(meta)).expect("saved"),
            ]
        };
        drop(handle);
        writer.finish();
        assert_eq!(saved.map(|saved| saved.statuses), [0, 1], "in one batch: {together}");
        assert_eq!(
            count(
                &mut database.client(),
                "SELECT count(*) FROM statuses WHERE message_id = 'wamid.9'"
            ),
            1,
            "in one batch: {together}"
        );
    }
}
