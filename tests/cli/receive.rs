//! `flowc receive` driven as a user runs it: the built binary on `127.0.0.1:0`, real TCP, the
//! store read with SQLite while the receiver writes it. The bad inputs each have a named test
//! that checks the answer and that the receiver still serves afterwards.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::receiver::{basic, read_answer, status_body, wait_for, Answer, Receiver, PASSWORD, TOKEN, USER};
use crate::support::Scratch;

// ---- what it stores ----

#[test]
fn a_provider_status_callback_is_stored_with_its_ids_refs_and_error() {
    let receiver = Receiver::start();
    let body = serde_json::json!({
        "meta_object": {"field": "messages", "value": {"statuses": [{
            "id": "wamid.F1", "status": "failed", "timestamp": "1722834665", "recipient_id": "919407000001",
            "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}},
        "extra_info": {"message_id": "AX-1", "ref": "R-1", "ref1": "c-1", "ref2": "x"},
        "status": "failed", "message_id": "AX-1"
    });
    let answer = receiver.post(&body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        receiver.text(
            "SELECT message_id || '|' || provider_message_id || '|' || status || '|' || recipient || '|' || error_code
             || '|' || error_title || '|' || ref || '|' || ref1 || '|' || ref2 || '|' || timestamp_unix FROM statuses"
        ),
        Some("wamid.F1|AX-1|failed|919407000001|131047|Re-engagement message|R-1|c-1|x|1722834665".to_owned())
    );
}

#[test]
fn a_meta_webhook_flow_reply_is_stored_with_its_flow_token_and_answers() {
    let receiver = Receiver::start();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "messages": [{
            "from": "16315558151", "id": "wamid.REPLY", "timestamp": "1722834700", "type": "interactive",
            "context": {"from": "911234567890", "id": "wamid.FLOW"},
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                "response_json": "{\"flow_token\":\"tok-R-1\",\"slot\":\"10:00\"}"}}}]}}]}]});
    assert_eq!(receiver.post(&body.to_string()).status, 200);
    assert_eq!(
        receiver.text(
            "SELECT from_number || '|' || context_id || '|' || type || '|' || flow_token || '|'
             || json_extract(response_json, '$.slot') FROM messages"
        ),
        Some("16315558151|wamid.FLOW|interactive|tok-R-1|10:00".to_owned())
    );
}

#[test]
fn a_get_callback_is_stored_from_its_query_parameters() {
    let receiver = Receiver::start();
    let answer = receiver.get(&format!(
        "/callbacks?status=delivered&message_id=wamid.G1&recipient_id=919407000002&timestamp=1722834665\
         &ref=R-9&ref1=a&ref2=b&error_code=&error_title=&token={TOKEN}"
    ));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        receiver.text("SELECT status || '|' || message_id || '|' || recipient || '|' || ref FROM statuses"),
        Some("delivered|wamid.G1|919407000002|R-9".to_owned())
    );
    assert_eq!(
        receiver.count("SELECT count(*) FROM callbacks WHERE path = '/callbacks'"),
        1
    );
}

#[test]
fn a_form_post_is_read_like_a_get() {
    let receiver = Receiver::start();
    let answer = receiver.request(
        "POST",
        "/",
        &[
            ("Authorization", &basic(USER, PASSWORD)),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"status=read&message_id=wamid.F2&ref=R-2",
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        receiver.count("SELECT count(*) FROM statuses WHERE status = 'read' AND ref = 'R-2'"),
        1
    );
}

#[test]
fn a_stop_reply_is_recorded_as_an_opt_out_and_the_words_are_configurable() {
    let receiver = Receiver::start_with(&["--opt-out-word", "stop", "--opt-out-word", "Arrêt"]);
    let reply = |id: &str, from: &str, text: &str| {
        serde_json::json!({"meta_object": {"value": {"messages": [
            {"from": from, "id": id, "timestamp": "1", "type": "text", "text": {"body": text}}]}}})
        .to_string()
    };
    assert_eq!(receiver.post(&reply("m1", "919400000001", " Stop. ")).status, 200);
    assert_eq!(receiver.post(&reply("m2", "919400000002", "arrêt")).status, 200);
    assert_eq!(
        receiver.post(&reply("m3", "919400000003", "please don't stop")).status,
        200
    );
    // Not among the configured words any more.
    assert_eq!(receiver.post(&reply("m4", "919400000004", "UNSUBSCRIBE")).status, 200);
    assert_eq!(receiver.count("SELECT count(*) FROM messages"), 4);
    assert_eq!(
        receiver.text("SELECT group_concat(number || ':' || word, ',') FROM (SELECT * FROM opt_outs ORDER BY number)"),
        Some("919400000001:STOP,919400000002:ARRÊT".to_owned())
    );
}

#[test]
fn the_same_callback_delivered_twice_is_stored_once() {
    let receiver = Receiver::start();
    let body = status_body("wamid.D1", "delivered", "R-1");
    assert_eq!(receiver.post(&body).status, 200);
    let again = receiver.post(&body);
    assert_eq!(again.status, 200);
    assert!(again.text.contains("stored before"), "{}", again.text);
    // The same event through another profile (GET): one status still.
    assert_eq!(
        receiver
            .get(&format!(
                "/?status=delivered&message_id=wamid.D1&timestamp=1722834665&recipient_id=919407000001\
                 &ref=R-1&ref1=campaign-7&ref2=row-3&token={TOKEN}"
            ))
            .status,
        200
    );
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 1);
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 2);
}

#[test]
fn healthz_answers_without_authentication_and_stores_nothing() {
    let receiver = Receiver::start();
    let answer = receiver.get("/healthz");
    assert_eq!(answer.status, 200);
    assert!(answer.text.ends_with("ok\n"));
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 0);
}

#[test]
fn basic_bearer_and_query_token_are_each_accepted() {
    let receiver = Receiver::start();
    let body = |id: &str| status_body(id, "sent", "R");
    let json = ("Content-Type", "application/json");
    let ok = |answer: Answer| assert_eq!(answer.status, 200, "{}", answer.text);
    ok(receiver.request(
        "POST",
        "/",
        &[("Authorization", &basic(USER, PASSWORD)), json],
        body("a").as_bytes(),
    ));
    ok(receiver.request(
        "POST",
        "/",
        &[("Authorization", &format!("bearer {TOKEN}")), json],
        body("b").as_bytes(),
    ));
    ok(receiver.request("POST", &format!("/?token={TOKEN}"), &[json], body("c").as_bytes()));
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 3);
    receiver.assert_no_secret_anywhere();
}

#[test]
fn sigterm_answers_the_request_in_flight_and_closes_the_store() {
    let receiver = Receiver::start_with(&["--read-timeout", "5"]);
    let body = status_body("wamid.T1", "read", "R-T");
    let (first, rest) = body.as_bytes().split_at(20);
    let mut stream = TcpStream::connect(receiver.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(first).expect("part of the body");
    std::thread::sleep(Duration::from_millis(300));
    receiver.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest).expect("the rest of the body");
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let store = receiver.store.clone();
    let (code, stderr, _scratch) = receiver.wait_stopped();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("SIGTERM") && stderr.contains("closed"), "{stderr}");
    // Closed: the WAL was folded into the main file.
    let wal = PathBuf::from(format!("{}-wal", store.display()));
    assert!(std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0);
    let count = count_in(&store, "SELECT count(*) FROM statuses WHERE message_id = 'wamid.T1'");
    assert_eq!(count, 1);
}

#[test]
fn sigterm_while_a_reader_holds_the_store_says_what_closing_waits_for() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.H1", "read", "R-H")).status, 200);
    // A report reading the store: a read transaction open on it.
    let reader = rusqlite::Connection::open(&receiver.store).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let held: i64 = reader
        .query_row("SELECT count(*) FROM statuses", [], |row| row.get(0))
        .expect("read");
    assert_eq!(held, 1);
    let store = receiver.store.clone();
    receiver.signal("TERM");
    let (code, stderr, _scratch) = receiver.wait_stopped();
    drop(reader);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("still closing") && stderr.contains("closed"),
        "{stderr}"
    );
    let count = count_in(&store, "SELECT count(*) FROM statuses WHERE message_id = 'wamid.H1'");
    assert_eq!(count, 1);
}

/// What `sql` counts in a store no receiver writes any more.
fn count_in(store: &std::path::Path, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(store).expect("open");
    connection.query_row(sql, [], |row| row.get(0)).expect("count")
}

impl Receiver {
    /// SIGKILL; the scratch directory and the store stay for a restart.
    fn sigkill(mut self) -> (Scratch, PathBuf) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
        (std::mem::replace(&mut self.scratch, Scratch::new()), self.store.clone())
    }

    /// Waits for a receiver already signalled; its scratch directory (and store) is kept.
    fn wait_stopped(mut self) -> (i32, String, Scratch) {
        let code = wait_for(&mut self.child, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr();
        (code, stderr, std::mem::replace(&mut self.scratch, Scratch::new()))
    }
}

#[test]
fn ctrl_c_stops_it_too() {
    let receiver = Receiver::start();
    receiver.signal("INT");
    let (code, stderr, _) = receiver.wait_stopped();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Ctrl-C"), "{stderr}");
}

#[test]
fn starting_without_authentication_off_loopback_is_refused() {
    let scratch = Scratch::new();
    let store = scratch.path().join("events.sqlite");
    let Err((code, stderr)) = Receiver::spawn_at(scratch, store, "0.0.0.0:0", &[]) else {
        panic!("it listened without authentication")
    };
    assert_eq!(code, 2);
    assert!(
        stderr.contains("without authentication") && stderr.contains("--token-file"),
        "{stderr}"
    );
}

#[test]
fn on_loopback_without_authentication_it_serves_and_says_so() {
    let receiver = Receiver::spawn(Scratch::new(), &[]).expect("starts");
    assert!(receiver.stderr().contains("no authentication"), "{}", receiver.stderr());
    assert_eq!(
        receiver
            .request("POST", "/", &[], status_body("wamid.N", "sent", "R").as_bytes())
            .status,
        200
    );
}

#[test]
fn a_short_or_empty_token_file_or_a_basic_file_without_a_password_is_refused() {
    for (flag, contents, says) in [
        ("--token-file", "short\n", "shorter than 16"),
        ("--token-file", "\n", "is empty"),
        ("--basic-auth-file", "kaleyra\n", "user:password"),
        ("--basic-auth-file", "kaleyra:\n", "needs both"),
        // Scrubbed from every body: as long as a token must be.
        ("--basic-auth-file", "kaleyra:whatsapp\n", "shorter than 16"),
    ] {
        let scratch = Scratch::new();
        let file = scratch.write("secret", contents);
        let Err((code, stderr)) = Receiver::spawn(scratch, &[flag.to_owned(), file.display().to_string()]) else {
            panic!("{flag} {contents:?} was accepted")
        };
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn a_store_that_is_another_database_is_refused() {
    let scratch = Scratch::new();
    let store = scratch.path().join("contacts.journal.sqlite");
    rusqlite::Connection::open(&store)
        .expect("create")
        .execute_batch("CREATE TABLE rows (row INTEGER)")
        .expect("table");
    let Err((code, stderr)) = Receiver::spawn_at(scratch, store, "127.0.0.1:0", &[]) else {
        panic!("another database was used as the store")
    };
    assert_eq!(code, 2);
    assert!(stderr.contains("not a flowc event store"), "{stderr}");
}

#[test]
fn a_port_in_use_is_refused_and_a_killed_receivers_port_is_rebound_at_once() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.K1", "sent", "R")).status, 200);
    let addr = receiver.addr.to_string();
    let busy = Receiver::spawn_at(Scratch::new(), Scratch::new().path().join("x.sqlite"), &addr, &[]);
    let Err((code, stderr)) = busy else {
        panic!("two receivers on one port")
    };
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    // SIGKILL with a connection open, then a new receiver on the same port and store.
    let _open = TcpStream::connect(receiver.addr).expect("connect");
    let (scratch, store) = receiver.sigkill();
    let args = vec![
        "--token-file".to_owned(),
        scratch.write("token2", TOKEN).display().to_string(),
    ];
    let again = Receiver::spawn_at(scratch, store, &addr, &args).expect("rebinds at once");
    assert_eq!(
        again.count("SELECT count(*) FROM statuses WHERE message_id = 'wamid.K1'"),
        1
    );
    again.assert_serving();
}

#[test]
fn a_second_receiver_on_the_same_sqlite_store_is_refused_and_the_first_loses_nothing() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.S0", "sent", "R")).status, 200);
    let second = Receiver::spawn_at(Scratch::new(), receiver.store.clone(), "127.0.0.1:0", &[]);
    let Err((code, stderr)) = second else {
        panic!("two receivers on one SQLite store")
    };
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is held by another program") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
    // Under another name of the same file: refused too, and nothing left beside that name.
    let other_name = receiver.store.with_file_name("other-name.sqlite");
    std::fs::hard_link(&receiver.store, &other_name).expect("a hard link");
    let second = Receiver::spawn_at(Scratch::new(), other_name.clone(), "127.0.0.1:0", &[]);
    let Err((code, stderr)) = second else {
        panic!("two receivers on one SQLite store under two names")
    };
    assert_eq!(code, 2, "{stderr}");
    for side in ["-wal", "-shm"] {
        let beside = PathBuf::from(format!("{}{side}", other_name.display()));
        assert!(!beside.exists(), "{} left beside the refused name", beside.display());
    }
    // The first goes on, checkpointing as it goes: all it acknowledged stays in its store.
    for n in 1..=1_500 {
        let answer = receiver.post(&status_body(&format!("wamid.S{n}"), "sent", "R"));
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let store = receiver.store.clone();
    receiver.signal("TERM");
    let (code, stderr, scratch) = receiver.wait_stopped();
    assert_eq!(code, 0, "{stderr}");
    let count = count_in(&store, "SELECT count(*) FROM statuses");
    assert_eq!(count, 1_501);
    assert!(!PathBuf::from(format!("{}-wal.overwritten", store.display())).exists());
    // Once the first has stopped, the store takes a receiver again.
    let again = Receiver::spawn_at(scratch, store, "127.0.0.1:0", &[]).expect("starts once the first stopped");
    again.assert_serving();
}

#[test]
fn the_counts_are_printed_every_interval() {
    let receiver = Receiver::start_with(&["--stats-interval", "1"]);
    assert_eq!(receiver.post(&status_body("wamid.S1", "sent", "R")).status, 200);
    assert_eq!(receiver.get("/").status, 401);
    std::thread::sleep(Duration::from_millis(1500));
    let stderr = receiver.stderr();
    assert!(
        stderr.contains("1 callback stored (1 status, 0 messages, 0 opt-outs)") && stderr.contains("1 unauthenticated"),
        "{stderr}"
    );
}

#[test]
fn tls_serves_https_with_the_given_certificate() {
    let data = crate::support::repo().join("tests/data/tls");
    let receiver = Receiver::start_with(&[
        "--tls-cert",
        &data.join("cert.pem").display().to_string(),
        "--tls-key",
        &data.join("key.pem").display().to_string(),
    ]);
    assert!(receiver.stderr().contains("(https)"));
    let certificate = std::fs::read(data.join("cert.pem")).expect("read the certificate");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&certificate).expect("pem"))
            .resolve("localhost", receiver.addr)
            .build()
            .expect("client");
        client
            .post(format!("https://localhost:{}/", receiver.addr.port()))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(status_body("wamid.TLS", "sent", "R"))
            .send()
            .await
            .expect("an HTTPS answer")
            .status()
    });
    assert_eq!(status, 200);
    assert_eq!(
        receiver.count("SELECT count(*) FROM statuses WHERE message_id = 'wamid.TLS'"),
        1
    );
    // Plain HTTP on the TLS port is no callback.
    assert_ne!(receiver.get("/healthz").status, 200);
}

// ---- bad input: each answered with its status, the receiver still serving ----

#[test]
fn bad_no_credentials_get_401_and_nothing_is_stored() {
    let receiver = Receiver::start();
    let answer = receiver.request("POST", "/", &[], status_body("wamid.X", "sent", "R").as_bytes());
    assert_eq!(answer.status, 401);
    assert!(answer.text.to_ascii_lowercase().contains("www-authenticate: basic"));
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 0);
    receiver.assert_serving();
}

#[test]
fn bad_a_wrong_bearer_token_gets_401() {
    let receiver = Receiver::start();
    let wrong = format!("Bearer {}X", &TOKEN[..TOKEN.len() - 1]);
    assert_eq!(
        receiver
            .request("POST", "/", &[("Authorization", &wrong)], b"{}")
            .status,
        401
    );
    receiver.assert_serving();
}

#[test]
fn bad_a_wrong_basic_password_gets_401() {
    let receiver = Receiver::start();
    for header in [basic(USER, "pw-wrong"), basic("someone", PASSWORD), basic(USER, "")] {
        assert_eq!(
            receiver
                .request("POST", "/", &[("Authorization", &header)], b"{}")
                .status,
            401
        );
    }
    receiver.assert_serving();
}

#[test]
fn bad_the_token_as_basic_credentials_or_a_password_as_a_bearer_token_gets_401() {
    let receiver = Receiver::start();
    let token_as_basic = format!("Basic {TOKEN}");
    let password_as_bearer = format!("Bearer {PASSWORD}");
    for header in [
        token_as_basic.as_str(),
        password_as_bearer.as_str(),
        TOKEN,
        "Bearer",
        "",
    ] {
        assert_eq!(
            receiver
                .request("GET", "/?status=sent", &[("Authorization", header)], b"")
                .status,
            401
        );
    }
    receiver.assert_serving();
}

#[test]
fn bad_a_wrong_query_token_gets_401() {
    let receiver = Receiver::start();
    for target in [
        "/?status=sent&token=nope",
        "/?status=sent&token=",
        "/?status=sent&TOKEN=x",
    ] {
        assert_eq!(receiver.get(target).status, 401, "{target}");
    }
    receiver.assert_serving();
}

#[test]
fn bad_an_authorization_header_that_is_not_utf8_or_not_base64_gets_401() {
    let receiver = Receiver::start();
    let mut request =
        b"GET /?status=sent HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic \xff\xfe\x80\r\n\r\n"
            .to_vec();
    assert_eq!(receiver.raw(&request).status, 401);
    request =
        b"GET /?status=sent HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic !!!===\r\n\r\n".to_vec();
    assert_eq!(receiver.raw(&request).status, 401);
    receiver.assert_serving();
}

#[test]
fn bad_a_declared_body_over_1_mib_gets_413() {
    let receiver = Receiver::start();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    assert_eq!(receiver.raw(head.as_bytes()).status, 413);
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 0);
    receiver.assert_serving();
}

#[test]
fn bad_a_chunked_body_over_1_mib_gets_413() {
    let receiver = Receiver::start();
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..17 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(receiver.raw(&request).status, 413);
    receiver.assert_serving();
}

#[test]
fn bad_malformed_json_gets_400_and_is_kept_raw() {
    let receiver = Receiver::start();
    let answer = receiver.post("{\"statuses\": [");
    assert_eq!(answer.status, 400);
    assert_eq!(
        receiver.text("SELECT CAST(body AS TEXT) || '|' || problem FROM callbacks WHERE recognised = 0"),
        Some("{\"statuses\": [|not JSON: cut short at line 1 column 14".to_owned())
    );
    receiver.assert_serving();
}

#[test]
fn bad_json_of_an_unknown_shape_gets_400_and_is_kept_raw() {
    let receiver = Receiver::start();
    for body in [
        r#"{"hello":"world"}"#,
        r#"{"statuses":[{"id":"x"}]}"#,
        "[1,2,3]",
        "\"text\"",
        "null",
    ] {
        assert_eq!(receiver.post(body).status, 400, "{body}");
    }
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks WHERE recognised = 0"), 5);
    receiver.assert_serving();
}

#[test]
fn bad_a_body_that_is_not_utf8_gets_400_and_is_kept_byte_for_byte() {
    let receiver = Receiver::start();
    let body = b"{\"statuses\":\"\xff\xfe\x00\x80\"}";
    let answer = receiver.request(
        "POST",
        "/",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!(answer.status, 400);
    let connection = rusqlite::Connection::open(&receiver.store).expect("open");
    let stored: Vec<u8> = connection
        .query_row("SELECT body FROM callbacks", [], |row| row.get(0))
        .expect("the raw body");
    assert_eq!(stored, body);
    receiver.assert_serving();
}

#[test]
fn bad_deeply_nested_json_gets_400() {
    let receiver = Receiver::start();
    let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    assert_eq!(receiver.post(&deep).status, 400);
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert_eq!(receiver.post(&deep_objects).status, 400);
    receiver.assert_serving();
}

#[test]
fn bad_a_huge_json_string_gets_400_and_a_huge_field_is_stored() {
    let receiver = Receiver::start();
    let huge = "x".repeat(1_000_000);
    assert_eq!(receiver.post(&format!("\"{huge}\"")).status, 400);
    let big_ref = "r".repeat(900_000);
    assert_eq!(receiver.post(&status_body("wamid.BIG", "sent", &big_ref)).status, 200);
    assert_eq!(
        receiver.count("SELECT length(ref) FROM statuses WHERE message_id = 'wamid.BIG'"),
        900_000
    );
    receiver.assert_serving();
}

#[test]
fn bad_a_wrong_content_type_gets_415_and_is_kept_raw() {
    let receiver = Receiver::start();
    for content_type in [
        "text/xml",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "image/png",
    ] {
        let answer = receiver.request(
            "POST",
            "/",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Content-Type", content_type),
            ],
            format!("<callback type=\"{content_type}\"/>").as_bytes(),
        );
        assert_eq!(answer.status, 415, "{content_type}");
    }
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks WHERE recognised = 0"), 4);
    receiver.assert_serving();
}

#[test]
fn bad_an_empty_post_or_a_get_without_parameters_gets_400() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post("").status, 400);
    assert_eq!(receiver.post("   \n").status, 400);
    assert_eq!(receiver.get(&format!("/?token={TOKEN}")).status, 400);
    assert_eq!(receiver.get(&format!("/?token={TOKEN}&colour=blue")).status, 400);
    receiver.assert_serving();
}

#[test]
fn bad_other_methods_get_405() {
    let receiver = Receiver::start();
    let auth = format!("Bearer {TOKEN}");
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        let answer = receiver.request(method, "/", &[("Authorization", &auth)], b"");
        assert_eq!(answer.status, 405, "{method}");
    }
    assert_eq!(receiver.request("POST", "/healthz", &[], b"").status, 405);
    receiver.assert_serving();
}

#[test]
fn bad_a_header_flood_gets_431() {
    let receiver = Receiver::start();
    let mut request = format!("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n");
    for n in 0..500 {
        request.push_str(&format!("X-Flood-{n}: {n}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    assert_eq!(receiver.raw(request.as_bytes()).status, 431);
    receiver.assert_serving();
}

#[test]
fn bad_a_huge_header_or_url_gets_431() {
    let receiver = Receiver::start();
    let big = "a".repeat(200 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    assert_eq!(receiver.raw(request.as_bytes()).status, 431);
    let request = format!("GET /?status={big} HTTP/1.1\r\nHost: x\r\n\r\n");
    let status = receiver.raw(request.as_bytes()).status;
    assert!(status == 431 || status == 414, "{status}");
    receiver.assert_serving();
}

#[test]
fn bad_slow_headers_are_cut_off_at_the_read_timeout() {
    let receiver = Receiver::start();
    let started = Instant::now();
    let mut slow = TcpStream::connect(receiver.addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("part of the head");
    // Another caller is served meanwhile.
    receiver.assert_serving();
    let mut rest = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        // Drip a header byte by byte, as slowloris does.
        if slow.write_all(b"X").is_err() {
            break;
        }
    }
    let _ = slow.read_to_end(&mut rest);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "held for {elapsed:?}");
    let text = String::from_utf8_lossy(&rest);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    receiver.assert_serving();
}

#[test]
fn bad_a_slow_body_gets_408() {
    let receiver = Receiver::start();
    let mut slow = TcpStream::connect(receiver.addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head =
        format!("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n{{\"st");
    slow.write_all(head.as_bytes()).expect("head");
    let started = Instant::now();
    let answer = read_answer(&mut slow);
    assert_eq!(answer.status, 408, "{}", answer.text);
    assert!(started.elapsed() < Duration::from_secs(5));
    receiver.assert_serving();
}

#[test]
fn bad_idle_connections_up_to_the_cap_do_not_stop_it_for_long() {
    let receiver = Receiver::start_with(&["--max-connections", "4"]);
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(receiver.addr).expect("connect"))
        .collect();
    let started = Instant::now();
    receiver.assert_serving();
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
}

#[test]
fn bad_a_secret_echoed_in_a_body_is_never_stored() {
    let receiver = Receiver::start();
    // Plainly: replaced, the event kept.
    let answer = receiver.post(&status_body("wamid.E1", "sent", TOKEN));
    assert_eq!(answer.status, 200);
    assert_eq!(
        receiver.text("SELECT ref FROM statuses WHERE message_id = 'wamid.E1'"),
        Some("***".to_owned())
    );
    // Encoded: the body is withheld whole, and it is no callback any more.
    let encoded = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    assert_eq!(receiver.post(&status_body("wamid.E2", "sent", &encoded)).status, 400);
    let escaped: String = TOKEN.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    assert_eq!(receiver.post(&status_body("wamid.E3", "sent", &escaped)).status, 400);
    // In the path, a header that is stored (content type) and other parameters.
    let answer = receiver.request(
        "POST",
        &format!("/{TOKEN}?status=sent&ref={PASSWORD}&token={TOKEN}"),
        &[("Content-Type", &format!("application/json; x={PASSWORD}"))],
        b"",
    );
    assert_eq!(answer.status, 200);
    receiver.assert_serving();
    receiver.assert_no_secret_anywhere();
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0);
    assert!(!stderr.contains(TOKEN) && !stderr.contains(PASSWORD));
}

#[test]
fn bad_the_query_token_is_never_stored() {
    let receiver = Receiver::start();
    assert_eq!(
        receiver
            .get(&format!("/?token={TOKEN}&status=sent&message_id=wamid.Q"))
            .status,
        200
    );
    assert_eq!(
        receiver.text("SELECT query FROM callbacks"),
        Some("status=sent&message_id=wamid.Q".to_owned())
    );
    receiver.assert_no_secret_anywhere();
}

#[test]
fn bad_garbage_instead_of_http_gets_400() {
    let receiver = Receiver::start();
    assert_eq!(receiver.raw(b"HELLO THERE\r\n\r\n").status, 400);
    assert_eq!(
        receiver.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").status,
        400
    );
    assert_eq!(receiver.raw(b"GET / HTTP/1.1\r\nHost x\r\n\r\n").status, 400);
    receiver.assert_serving();
}

#[test]
fn bad_a_body_shorter_than_its_content_length_does_not_stall_it() {
    let receiver = Receiver::start();
    let mut stream = TcpStream::connect(receiver.addr).expect("connect");
    stream
        .write_all(
            format!("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 500\r\n\r\n{{}}")
                .as_bytes(),
        )
        .expect("write");
    stream.shutdown(std::net::Shutdown::Write).expect("half close");
    let answer = read_answer(&mut stream);
    assert!(answer.status == 400 || answer.status == 0, "{}", answer.text);
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 0);
    receiver.assert_serving();
}

#[test]
fn bad_invalid_percent_encoding_and_control_characters_are_stored_as_sent() {
    let receiver = Receiver::start();
    let answer = receiver.get(&format!(
        "/?status=sent%ZZ&message_id=%00%01%ff&ref=%E2%82&token={TOKEN}"
    ));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 1);
    let bytes = serde_json::json!({"statuses": [{"id": "\u{0}\u{1}\u{7f}", "status": "sent\r\n"}]}).to_string();
    assert_eq!(receiver.post(&bytes).status, 200);
    receiver.assert_serving();
}

/// A connection that pipelines `requests` GETs and never reads an answer (a small receive
/// buffer, so the receiver's answers back up quickly); kept open by the returned stream.
fn pipelining_non_reader(addr: SocketAddr, requests: usize) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("a small receive buffer");
        socket.connect(addr).await.expect("connect")
    });
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("blocking");
    let mut writer = stream.try_clone().expect("clone");
    std::thread::spawn(move || {
        let _ = writer.write_all(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(requests));
    });
    stream
}

#[test]
fn pipelining_callers_that_never_read_cannot_keep_a_real_callback_waiting() {
    let receiver = Receiver::start_with(&["--max-connections", "8"]);
    let hogs: Vec<TcpStream> = (0..8).map(|_| pipelining_non_reader(receiver.addr, 30_000)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    // Answered once the stalled connections are cut off (the read timeout is 1 s).
    let answer = receiver.post(&status_body("wamid.PIPE", "delivered", "R-P"));
    assert_eq!(answer.status, 200, "{}", receiver.stderr());
    drop(hogs);
    receiver.assert_serving();
}

#[test]
fn a_store_moved_away_while_it_runs_acknowledges_nothing_more() {
    let mut receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.MV0", "sent", "R")).status, 200);
    let moved = receiver.store.with_extension("moved");
    std::fs::rename(&receiver.store, &moved).expect("move the store away");
    // Nothing is at the path: nothing may be acknowledged; the provider is asked to retry.
    let answer = receiver.post(&status_body("wamid.MV1", "sent", "R"));
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(
        answer.text.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        answer.text
    );
    let code = wait_for(&mut receiver.child, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(100));
    let stderr = receiver.stderr();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no longer at its path"), "{stderr}");
    assert!(stderr.contains("start flowc receive again"), "{stderr}");
    assert_eq!(ids_in(&moved).into_iter().collect::<Vec<_>>(), ["wamid.MV0"]);
}

#[test]
fn a_store_replaced_by_a_copy_while_it_runs_acknowledges_nothing_into_the_old_file() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.CP0", "sent", "R")).status, 200);
    // A backup swapped in: another file (inode) at the same path.
    let backup = receiver.store.with_extension("backup");
    std::fs::copy(&receiver.store, &backup).expect("copy");
    std::fs::rename(&backup, &receiver.store).expect("swap the backup in");
    let answer = receiver.post(&status_body("wamid.CP1", "sent", "R"));
    assert_eq!(answer.status, 503, "{}", answer.text);
}

/// Posts callbacks of ids `{prefix}-{n}` one after another until the receiver stops answering:
/// each id with the status it was answered (`0`: not answered, the receiver was gone).
fn post_until_gone(addr: SocketAddr, prefix: &str, stop: &std::sync::atomic::AtomicBool) -> Vec<(String, u16)> {
    let mut answers = Vec::new();
    for n in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) || n >= 5_000 {
            break;
        }
        let id = format!("{prefix}-{n}");
        let body = status_body(&id, "sent", "R");
        let Ok(mut stream) = TcpStream::connect(addr) else {
            answers.push((id, 0));
            break;
        };
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(request.as_bytes());
        let status = read_answer(&mut stream).status;
        answers.push((id, status));
        if status == 0 {
            break;
        }
    }
    answers
}

/// The message ids of the statuses in the SQLite file at `path` (with its WAL, if any).
fn ids_in(path: &std::path::Path) -> std::collections::HashSet<String> {
    let connection = rusqlite::Connection::open(path).expect("open the moved store");
    let mut query = connection.prepare("SELECT message_id FROM statuses").expect("query");
    let ids = query
        .query_map([], |row| row.get::<_, String>(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("ids");
    ids
}

#[test]
fn a_store_moved_away_mid_load_acknowledges_only_what_the_moved_file_holds_then_the_receiver_exits() {
    let mut receiver = Receiver::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|caller| {
            let (addr, stop) = (receiver.addr, std::sync::Arc::clone(&stop));
            std::thread::spawn(move || post_until_gone(addr, &format!("wamid.MOVE{caller}"), &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let moved = receiver.store.with_extension("moved");
    std::fs::rename(&receiver.store, &moved).expect("move the store away");
    // The receiver stops by itself once it notices: a supervisor starts it again cleanly.
    let code = wait_for(&mut receiver.child, Duration::from_secs(30));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<Vec<(String, u16)>> = callers
        .into_iter()
        .map(|caller| caller.join().expect("caller"))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let stderr = receiver.stderr();
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("no longer at its path").count(),
        1,
        "said once: {stderr}"
    );
    let kept = ids_in(&moved);
    let mut acknowledged = 0;
    for answers in &answers {
        // No 2xx once a caller was told 503: the move was noticed.
        if let Some(first_refusal) = answers.iter().position(|(_, status)| *status == 503) {
            assert!(
                answers[first_refusal..].iter().all(|(_, status)| *status != 200),
                "{answers:?}"
            );
        }
        for (id, status) in answers {
            if *status == 200 {
                acknowledged += 1;
                assert!(kept.contains(id), "{id} was acknowledged but is not in the moved store");
            }
        }
    }
    assert!(acknowledged > 0, "{answers:?}");
    // Nothing was started at the path: the next receiver creates the store there.
    assert!(!receiver.store.exists());
}

#[test]
fn healthz_says_the_store_is_no_longer_at_its_path_then_the_receiver_exits() {
    let mut receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.HM0", "sent", "R")).status, 200);
    assert_eq!(receiver.get("/healthz").status, 200);
    std::fs::rename(&receiver.store, receiver.store.with_extension("moved")).expect("move the store away");
    let health = receiver.get("/healthz");
    assert_eq!(health.status, 503, "{}", health.text);
    assert!(health.text.contains("no longer at its path"), "{}", health.text);
    assert!(
        health.text.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        health.text
    );
    let code = wait_for(&mut receiver.child, Duration::from_secs(30));
    assert_ne!(code, 0, "{}", receiver.stderr());
}

#[test]
fn a_store_replaced_by_a_link_to_itself_acknowledges_nothing_more() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.LN0", "sent", "R")).status, 200);
    // The path now leads to the same file through a link: a reader opening the path looks for
    // the write-ahead log beside the link's target, where it is not.
    let moved = receiver.store.with_extension("moved");
    std::fs::rename(&receiver.store, &moved).expect("move");
    std::os::unix::fs::symlink(&moved, &receiver.store).expect("link");
    let answer = receiver.post(&status_body("wamid.LN1", "sent", "R"));
    assert_eq!(answer.status, 503, "{}", answer.text);
}

#[test]
fn a_callback_with_more_events_than_the_limit_is_kept_raw_and_answered_400() {
    let receiver = Receiver::start();
    let statuses = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("{{\"id\":\"w{i}\",\"status\":\"sent\"}}"))
            .collect();
        format!("{{\"statuses\":[{}]}}", list.join(","))
    };
    assert_eq!(receiver.post(&statuses(1_000)).status, 200);
    assert_eq!(receiver.post(&statuses(1_001)).status, 400);
    // About 1 MiB of tiny values: refused before it is parsed.
    assert_eq!(receiver.post(&statuses(30_000)).status, 400);
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 1_000);
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks WHERE recognised = 0"), 2);
    receiver.assert_serving();
}

#[test]
fn bad_a_request_head_over_64_kib_gets_431_even_below_100_kib() {
    let receiver = Receiver::start();
    let big = "a".repeat(80 * 1024);
    let answer = receiver.request(
        "POST",
        "/",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
            ("X-Big", &big),
        ],
        status_body("wamid.H80", "sent", "R").as_bytes(),
    );
    assert_eq!(answer.status, 431, "{}", answer.text);
    assert_eq!(receiver.count("SELECT count(*) FROM callbacks"), 0);
    receiver.assert_serving();
}

#[test]
fn bad_a_request_head_that_stops_arriving_gets_408() {
    let receiver = Receiver::start();
    let mut slow = TcpStream::connect(receiver.addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("part of the head");
    let answer = read_answer(&mut slow);
    assert_eq!(answer.status, 408, "{}", answer.text);
    receiver.assert_serving();
}

#[test]
fn a_401_advertises_the_scheme_the_receiver_takes() {
    let scratch = Scratch::new();
    let token = scratch.write("token", format!("{TOKEN}\n"));
    let receiver = Receiver::spawn(scratch, &["--token-file".to_owned(), token.display().to_string()]).expect("starts");
    let answer = receiver.request("POST", "/", &[], b"{}");
    assert_eq!(answer.status, 401);
    let text = answer.text.to_ascii_lowercase();
    assert!(text.contains("www-authenticate: bearer"), "{}", answer.text);
    assert!(!text.contains("basic"), "{}", answer.text);
}

#[test]
fn the_counts_line_names_what_to_check_for_unauthenticated_callers() {
    let receiver = Receiver::start_with(&["--stats-interval", "1"]);
    assert_eq!(receiver.get("/?status=sent&token=wrong-token-0000").status, 401);
    std::thread::sleep(Duration::from_millis(1500));
    let stderr = receiver.stderr();
    assert!(
        stderr.contains("1 unauthenticated") && stderr.contains("--token-file") && stderr.contains("callback URL"),
        "{stderr}"
    );
}

#[test]
fn the_final_line_counts_everything_since_start_including_the_last_minute() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&status_body("wamid.FL1", "sent", "R")).status, 200);
    for _ in 0..3 {
        assert_eq!(receiver.get("/?status=sent").status, 401);
    }
    assert_eq!(receiver.post("{oops").status, 400);
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0, "{stderr}");
    let last = stderr.lines().find(|line| line.contains("stopped")).unwrap_or_default();
    assert!(
        last.contains("2 callbacks stored") && last.contains("1 unrecognised") && last.contains("3 unauthenticated"),
        "{stderr}"
    );
}

#[test]
fn a_flow_reply_holding_part_of_the_password_is_stored_whole() {
    let scratch = Scratch::new();
    let basic = scratch.write("basic", "kaleyra:booking-confirmed\n");
    let receiver =
        Receiver::spawn(scratch, &["--basic-auth-file".to_owned(), basic.display().to_string()]).expect("starts");
    let body = serde_json::json!({"entry": [{"changes": [{"field": "messages", "value": {"messages": [{
        "from": "16315558151", "id": "wamid.BOOK", "timestamp": "1722834700", "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
            "response_json": "{\"flow_token\":\"booking-R-17\",\"slot\":\"10:00\"}"}}}]}}]}]});
    let answer = receiver.request(
        "POST",
        "/",
        &[
            ("Authorization", &basic_header("kaleyra", "booking-confirmed")),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        receiver.text("SELECT flow_token || '|' || json_extract(response_json, '$.slot') FROM messages"),
        Some("booking-R-17|10:00".to_owned())
    );
}

fn basic_header(user: &str, password: &str) -> String {
    basic(user, password)
}

#[test]
fn bad_a_token_echoed_with_invisible_or_fullwidth_characters_between_its_letters_is_never_stored() {
    let receiver = Receiver::start();
    let zero_width: String = TOKEN.chars().flat_map(|c| [c, '\u{200B}']).collect();
    let fullwidth: String = TOKEN
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
        .collect();
    for (n, disguised) in [&zero_width, &fullwidth].iter().enumerate() {
        let answer = receiver.post(&status_body(&format!("wamid.ZW{n}"), "sent", disguised));
        assert_eq!(answer.status, 400, "{}", answer.text);
    }
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 0);
    receiver.assert_serving();
    let store = receiver.store_bytes();
    for disguised in [&zero_width, &fullwidth] {
        let piece = &disguised.as_bytes()[..12];
        assert!(
            !store.windows(piece.len()).any(|window| window == piece),
            "the store holds the token"
        );
    }
}

#[test]
fn a_store_with_the_right_tables_but_other_columns_is_refused_at_start() {
    let scratch = Scratch::new();
    let store = scratch.path().join("events.sqlite");
    rusqlite::Connection::open(&store)
        .expect("create")
        .execute_batch(
            "CREATE TABLE callbacks (id INTEGER PRIMARY KEY, payload TEXT);
             CREATE TABLE statuses (id INTEGER PRIMARY KEY, wamid TEXT, state TEXT);
             CREATE TABLE messages (id INTEGER PRIMARY KEY);
             CREATE TABLE opt_outs (id INTEGER PRIMARY KEY, phone TEXT);",
        )
        .expect("tables");
    let Err((code, stderr)) = Receiver::spawn_at(scratch, store, "127.0.0.1:0", &[]) else {
        panic!("a store of another layout was used")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`callbacks` table with other columns"), "{stderr}");
}

#[test]
fn a_foreign_database_given_as_the_store_is_refused_untouched() {
    let scratch = Scratch::new();
    let store = scratch.path().join("app.sqlite");
    rusqlite::Connection::open(&store)
        .expect("create")
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('a');")
        .expect("table");
    let before = std::fs::read(&store).expect("read");
    let path = store.clone();
    // The store's folder outlives the receiver's scratch directory.
    let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), store, "127.0.0.1:0", &[]) else {
        panic!("another database was used as the store")
    };
    assert_eq!(code, 2, "{stderr}");
    // Byte for byte as it was: not switched to WAL (the header's bytes 18 and 19 say so).
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn a_stop_in_fullwidth_letters_or_with_a_zero_width_space_is_an_opt_out() {
    let receiver = Receiver::start();
    let reply = |id: &str, from: &str, text: &str| {
        serde_json::json!({"meta_object": {"value": {"messages": [
            {"from": from, "id": id, "timestamp": "1", "type": "text", "text": {"body": text}}]}}})
        .to_string()
    };
    assert_eq!(receiver.post(&reply("f1", "919400000011", "ＳＴＯＰ")).status, 200);
    assert_eq!(receiver.post(&reply("f2", "919400000012", "STOP\u{200B}")).status, 200);
    assert_eq!(
        receiver
            .post(&reply("f3", "919400000013", "\u{FEFF}unsub\u{200D}scribe！"))
            .status,
        200
    );
    assert_eq!(
        receiver.text("SELECT group_concat(number || ':' || word, ',') FROM (SELECT * FROM opt_outs ORDER BY number)"),
        Some("919400000011:STOP,919400000012:STOP,919400000013:UNSUBSCRIBE".to_owned())
    );
}

#[test]
fn the_providers_not_sent_daily_limit_callback_keeps_its_code_reason_refs_and_both_ids() {
    let receiver = Receiver::start();
    // The provider's "Not Sent - Daily Limit Reached" body: no `meta_object`.
    let body = serde_json::json!({
        "code": "WAV2101", "status": "not sent", "reason": "Account daily limit reached",
        "message_id": "wamid.TOP-1",
        "extra_info": {"enable_url_tracking_body": false, "message_id": "wamid.EXTRA-1", "waba_id": "1234",
            "ref": "R-77", "ref1": "campaign-7", "ref2": "row-9"}
    });
    let answer = receiver.post(&body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        receiver.text(
            "SELECT status || '|' || message_id || '|' || provider_message_id || '|' || error_code || '|'
             || error_title || '|' || ref || '|' || ref1 || '|' || ref2 FROM statuses"
        ),
        Some("not sent|wamid.TOP-1|wamid.EXTRA-1|WAV2101|Account daily limit reached|R-77|campaign-7|row-9".to_owned())
    );
}

#[test]
fn a_status_delivered_by_post_in_the_envelope_and_again_by_get_is_one_row() {
    let receiver = Receiver::start();
    let body = serde_json::json!({
        "meta_object": {"field": "messages", "value": {"statuses": [{
            "id": "wamid.PG1", "status": "delivered", "timestamp": "1722834665", "recipient_id": "919407000001"}]}},
        "extra_info": {"message_id": "AX-PG1", "ref": "R-1", "ref1": "c", "ref2": "d"},
        "status": "delivered", "message_id": "AX-PG1"
    });
    assert_eq!(receiver.post(&body.to_string()).status, 200);
    // A GET profile carries one of the two ids, and whichever variables it was given.
    for id in ["wamid.PG1", "AX-PG1"] {
        let answer = receiver.get(&format!(
            "/?status=delivered&message_id={id}&timestamp=1722834665&ref=R-1&token={TOKEN}"
        ));
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 1);
    // A later stage of the same message is a new event.
    assert_eq!(
        receiver
            .get(&format!(
                "/?status=read&message_id=wamid.PG1&timestamp=1722834700&token={TOKEN}"
            ))
            .status,
        200
    );
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 2);
}

#[test]
fn a_calls_webhook_is_kept_raw_and_answered_400() {
    let receiver = Receiver::start();
    let call_statuses = serde_json::json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "911234567890", "phone_number_id": "104"},
        "statuses": [{"id": "wacid.C1", "type": "call", "status": "RINGING", "timestamp": "1722834665",
            "recipient_id": "919407000001"}]});
    let meta = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "calls", "value": call_statuses}]}]});
    let provider = serde_json::json!({"meta_object": {"field": "calls", "value": call_statuses}});
    for body in [meta, provider] {
        let answer = receiver.post(&body.to_string());
        assert_eq!(answer.status, 400, "{}", answer.text);
    }
    assert_eq!(receiver.count("SELECT count(*) FROM statuses"), 0);
    assert_eq!(
        receiver.count("SELECT count(*) FROM callbacks WHERE recognised = 0 AND problem LIKE '%`calls` event%'"),
        2
    );
    receiver.assert_serving();
}

#[test]
fn more_large_callbacks_at_once_than_the_memory_budget_get_503_with_retry_after() {
    let receiver = Receiver::start_with(&["--read-timeout", "5"]);
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        1024 * 1024
    );
    // Seven callbacks of 1 MiB on their way take most of the budget (64 MiB counted).
    let holders: Vec<TcpStream> = (0..7)
        .map(|_| {
            let mut stream = TcpStream::connect(receiver.addr).expect("connect");
            stream.write_all(head.as_bytes()).expect("head");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut eighth = TcpStream::connect(receiver.addr).expect("connect");
    eighth.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    eighth.write_all(head.as_bytes()).expect("head");
    let answer = read_answer(&mut eighth);
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(
        answer.text.to_ascii_lowercase().contains("retry-after: 5"),
        "{}",
        answer.text
    );
    drop(holders);
    receiver.assert_serving();
}

/// The names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_store_on_a_named_pipe_is_refused_as_such_and_nothing_is_left_beside_it() {
    let scratch = Scratch::new();
    let store = scratch.path().join("store.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&store)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let dir = scratch.path().to_path_buf();
    let before = names_in(&dir);
    let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), store, "127.0.0.1:0", &[]) else {
        panic!("a named pipe was used as the store")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is a named pipe"), "{stderr}");
    assert_eq!(names_in(&dir), before);
}

#[test]
fn a_store_on_a_character_device_is_refused_as_such() {
    let scratch = Scratch::new();
    let store = scratch.path().join("null");
    // A character device node like `/dev/null`, made in the scratch folder (needs root).
    let made = std::process::Command::new("mknod")
        .arg(&store)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !made {
        eprintln!("skipped: making a device node needs root");
        return;
    }
    let dir = scratch.path().to_path_buf();
    let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), store, "127.0.0.1:0", &[]) else {
        panic!("a character device was used as the store")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is a character device"), "{stderr}");
    assert_eq!(names_in(&dir), vec!["null".to_owned()]);
}

#[test]
fn refusing_another_database_as_the_store_leaves_no_files_beside_it() {
    let scratch = Scratch::new();
    let store = scratch.path().join("other.sqlite");
    let connection = rusqlite::Connection::open(&store).expect("create");
    connection
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE rows (row INTEGER)")
        .expect("table");
    drop(connection);
    let dir = scratch.path().to_path_buf();
    let before = names_in(&dir);
    let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), store, "127.0.0.1:0", &[]) else {
        panic!("another database was used as the store")
    };
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(names_in(&dir), before, "{stderr}");
}

#[test]
fn links_planted_at_the_stores_wal_and_shm_are_refused_as_links() {
    for suffix in ["-wal", "-shm"] {
        let scratch = Scratch::new();
        let victim = scratch.write("victim.txt", "VICTIM");
        let store = scratch.path().join("events.sqlite");
        std::os::unix::fs::symlink(&victim, scratch.path().join(format!("events.sqlite{suffix}"))).expect("link");
        let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), store, "127.0.0.1:0", &[]) else {
            panic!("a link at {suffix} was written through")
        };
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "VICTIM");
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("is a symbolic link to"), "{suffix}: {stderr}");
        assert!(!stderr.contains("not writable"), "{stderr}");
    }
}

#[test]
fn a_token_encoded_then_escaped_or_written_as_separated_hex_is_never_stored() {
    // A token whose base64 holds `/`: JSON may write it `\/`, a query `%2F`.
    const SLASHED: &str = "tok-a??b??c??d-0123";
    let scratch = Scratch::new();
    let token = scratch.write("slashed-token", format!("{SLASHED}\n"));
    let receiver = Receiver::spawn(scratch, &["--token-file".to_owned(), token.display().to_string()])
        .expect("the receiver starts");
    let base64 = base64::engine::general_purpose::STANDARD.encode(SLASHED);
    assert!(base64.contains('/'), "{base64}");
    let hex: Vec<String> = SLASHED.bytes().map(|byte| format!("{byte:02x}")).collect();
    let bearer = format!("Bearer {SLASHED}");
    let auth = [("Authorization", bearer.as_str())];
    let json = [("Content-Type", "application/json")];
    let bodies = [
        status_body("wamid.S1", "sent", &base64.replace('/', "\\/")),
        status_body("wamid.S2", "sent", &hex.join(":")),
        status_body("wamid.S3", "sent", &hex.concat().replacen('1', "\\u0031", 1)),
    ];
    for body in &bodies {
        let answer = receiver.request("POST", "/", &[auth[0], json[0]], body.as_bytes());
        assert!(answer.status == 200 || answer.status == 400, "{}", answer.text);
    }
    let query = format!("/?status=sent&message_id=wamid.S4&ref={}", base64.replace('/', "%2F"));
    let answer = receiver.request("GET", &query, &auth, b"");
    assert!(answer.status == 200 || answer.status == 400, "{}", answer.text);
    let store = receiver.store_bytes();
    let forms = [
        base64.clone(),
        base64.replace('/', "\\/"),
        base64.replace('/', "%2F"),
        hex.join(":"),
        hex.concat(),
    ];
    for form in forms.iter().chain(bodies.iter().map(|_| &base64)) {
        let core = form.trim_end_matches('=');
        assert!(
            !store.windows(core.len()).any(|window| window == core.as_bytes()),
            "the store holds the token as `{form}`"
        );
    }
    assert!(
        !store.windows(24).any(|window| window == &hex.concat().as_bytes()[..24])
            && !store
                .windows(23)
                .any(|window| window == &hex.join(":").as_bytes()[..23]),
        "the store holds the token in hex"
    );
}

/// A kept-alive connection without credentials that asks `/healthz` every `every`, reading each
/// answer, until `stop` (or the receiver closes it: then it connects again, as a client would).
fn busy_health_checker(
    addr: SocketAddr,
    every: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(mut stream) = TcpStream::connect(addr) else {
                return;
            };
            stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            loop {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
                    break;
                }
                let mut answer = Vec::new();
                let mut buffer = [0u8; 512];
                while !answer.ends_with(b"ok\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&buffer[..n]),
                    }
                }
                if !answer.ends_with(b"ok\n") {
                    break;
                }
                std::thread::sleep(every);
            }
        }
    })
}

#[test]
fn busy_kept_alive_callers_without_credentials_cannot_keep_a_real_callback_waiting() {
    let receiver = Receiver::start_with(&["--max-connections", "8"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each asks more often than the read timeout (1 s): never idle long enough to be cut off.
    let checkers: Vec<_> = (0..8)
        .map(|_| busy_health_checker(receiver.addr, Duration::from_millis(300), std::sync::Arc::clone(&stop)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let answer = receiver.post(&status_body("wamid.BUSY", "delivered", "R-B"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answer.status, 200, "{}", receiver.stderr());
    for checker in checkers {
        checker.join().expect("checker");
    }
    receiver.assert_serving();
}

#[test]
fn a_backup_copied_over_the_store_in_place_acknowledges_nothing_more() {
    let receiver = Receiver::start();
    let backup = receiver.scratch.path().join("backup.sqlite");
    // A backup taken while it runs (SQLite's own copy), then another callback.
    let reader = rusqlite::Connection::open(&receiver.store).expect("store");
    reader
        .execute("VACUUM INTO ?1", [backup.to_str().expect("utf-8")])
        .expect("backup");
    drop(reader);
    assert_eq!(receiver.post(&status_body("wamid.BK0", "sent", "R")).status, 200);
    // The backup copied over the store: the same file (inode), other bytes.
    std::fs::copy(&backup, &receiver.store).expect("copy over the store");
    let answers: Vec<u16> = (0..10)
        .map(|n| {
            receiver
                .post(&status_body(&format!("wamid.BK{}", n + 1), "sent", "R"))
                .status
        })
        .collect();
    assert!(answers.iter().all(|status| *status == 503), "{answers:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let stderr = receiver.stderr();
    assert!(stderr.contains("overwritten"), "{stderr}");
}

#[test]
fn a_backup_copied_over_the_store_in_place_is_left_as_copied_when_the_receiver_stops() {
    let mut receiver = Receiver::start();
    for n in 0..3 {
        assert_eq!(
            receiver.post(&status_body(&format!("wamid.KP{n}"), "sent", "R")).status,
            200
        );
    }
    let backup = receiver.scratch.path().join("backup.sqlite");
    let reader = rusqlite::Connection::open(&receiver.store).expect("store");
    reader
        .execute("VACUUM INTO ?1", [backup.to_str().expect("utf-8")])
        .expect("backup");
    drop(reader);
    // Callbacks after the backup: in the receiver's write-ahead log, which fits only its own file.
    for n in 3..6 {
        assert_eq!(
            receiver.post(&status_body(&format!("wamid.KP{n}"), "sent", "R")).status,
            200
        );
    }
    std::fs::copy(&backup, &receiver.store).expect("copy over the store");
    assert_eq!(receiver.post(&status_body("wamid.KP6", "sent", "R")).status, 503);
    let store = receiver.store.clone();
    receiver.signal("TERM");
    let code = wait_for(&mut receiver.child, Duration::from_secs(20));
    let stderr = receiver.stderr();
    assert_ne!(code, 0, "{stderr}");
    assert!(
        std::fs::read(&store).expect("store") == std::fs::read(&backup).expect("backup"),
        "the receiver wrote into the copy: {stderr}"
    );
    // And nothing beside it that the next opener would read into it.
    let connection = rusqlite::Connection::open(&store).expect("open the copy");
    let check: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    let ids = ids_in(&store);
    assert_eq!(ids.len(), 3, "{ids:?}");
}

/// Status callbacks `PREFIX-0`, `PREFIX-1`… posted one after the other until `stop`: each id,
/// its answer, and whether it was sent once `later` was set.
fn post_noting(
    addr: SocketAddr,
    prefix: &str,
    stop: &std::sync::atomic::AtomicBool,
    later: &std::sync::atomic::AtomicBool,
) -> Vec<(String, u16, bool)> {
    let mut answers = Vec::new();
    for n in 0..20_000 {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let sent_later = later.load(std::sync::atomic::Ordering::SeqCst);
        let id = format!("{prefix}-{n}");
        let body = status_body(&id, "sent", "R");
        let Ok(mut stream) = TcpStream::connect(addr) else {
            break;
        };
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(request.as_bytes());
        answers.push((id, read_answer(&mut stream).status, sent_later));
    }
    answers
}

/// What SQLite's integrity check says of a copy of the main file alone.
fn main_file_check(store: &std::path::Path, scratch: &Scratch) -> String {
    let copy = scratch.path().join("main-file-only.sqlite");
    std::fs::copy(store, &copy).expect("copy the main file");
    let connection = rusqlite::Connection::open(&copy).expect("open the copy");
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
        .unwrap_or_else(|error| error.to_string())
}

#[test]
fn a_wal_cut_to_nothing_under_load_never_reaches_the_main_file() {
    let mut receiver = Receiver::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..24)
        .map(|caller| {
            let (addr, stop, cut) = (receiver.addr, std::sync::Arc::clone(&stop), std::sync::Arc::clone(&cut));
            std::thread::spawn(move || post_noting(addr, &format!("wamid.CUT{caller}"), &stop, &cut))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    let wal = PathBuf::from(format!("{}-wal", receiver.store.display()));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .and_then(|wal| wal.set_len(0))
        .expect("cut the WAL");
    cut.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answers: Vec<(String, u16, bool)> = callers
        .into_iter()
        .flat_map(|caller| caller.join().expect("caller"))
        .collect();
    receiver.signal("TERM");
    let code = wait_for(&mut receiver.child, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(100));
    let stderr = receiver.stderr();
    assert_eq!(
        main_file_check(&receiver.store, &receiver.scratch),
        "ok",
        "the main file was damaged (exit {code}): {stderr}"
    );
    // The next start takes the store, as the WAL left beside it makes it.
    let next = match Receiver::spawn_at(Scratch::new(), receiver.store.clone(), "127.0.0.1:0", &[]) {
        Ok(next) => next,
        Err((next_code, text)) => panic!("the next start refused the store ({next_code}): {text}\nthen: {stderr}"),
    };
    let (next_code, next_stderr) = next.stop();
    assert_eq!(next_code, 0, "{next_stderr}");
    let kept = ids_in(&receiver.store);
    let acknowledged_lost: Vec<&(String, u16, bool)> = answers
        .iter()
        .filter(|(id, status, _)| *status == 200 && !kept.contains(id))
        .collect();
    // A callback acknowledged before the cut may have been in the WAL the cut took; none sent
    // after it was acknowledged unless stored.
    let after_cut: Vec<_> = acknowledged_lost.iter().filter(|(_, _, later)| *later).collect();
    assert!(
        after_cut.is_empty(),
        "acknowledged after the cut, not stored: {after_cut:?}"
    );
    assert!(
        acknowledged_lost.is_empty() || (code == 2 && stderr.contains("damaged")),
        "{} acknowledged callbacks lost without a word (exit {code}): {stderr}",
        acknowledged_lost.len()
    );
}

#[test]
fn a_damaged_store_is_refused_at_start_with_what_is_wrong() {
    let receiver = Receiver::start();
    for n in 0..50 {
        assert_eq!(
            receiver.post(&status_body(&format!("wamid.DM{n}"), "sent", "R")).status,
            200
        );
    }
    let scratch = Scratch::new();
    let store = scratch.path().join("events.sqlite");
    let reader = rusqlite::Connection::open(&receiver.store).expect("store");
    reader
        .execute("VACUUM INTO ?1", [store.to_str().expect("utf-8")])
        .expect("copy");
    drop(reader);
    // Garbage over the pages after the first (the tables' and indexes' b-trees).
    let mut bytes = std::fs::read(&store).expect("read");
    assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
    for byte in &mut bytes[4096..3 * 4096] {
        *byte = 0x5a;
    }
    std::fs::write(&store, &bytes).expect("damage");
    let Err((code, stderr)) = Receiver::spawn_at(scratch, store, "127.0.0.1:0", &[]) else {
        panic!("a damaged store was used")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is damaged"), "{stderr}");
}

#[test]
fn healthz_says_the_store_cannot_take_callbacks_once_it_was_overwritten_in_place() {
    let receiver = Receiver::start();
    let backup = receiver.scratch.path().join("backup.sqlite");
    let reader = rusqlite::Connection::open(&receiver.store).expect("store");
    reader
        .execute("VACUUM INTO ?1", [backup.to_str().expect("utf-8")])
        .expect("backup");
    drop(reader);
    assert_eq!(receiver.get("/healthz").status, 200);
    std::fs::copy(&backup, &receiver.store).expect("copy over the store");
    assert_eq!(receiver.post(&status_body("wamid.HZ1", "sent", "R")).status, 503);
    let health = receiver.get("/healthz");
    assert_eq!(health.status, 503, "{}", health.text);
    assert!(health.text.contains("unreachable"), "{}", health.text);
}
