//! The real receiver for the tests that need one: `flowc receive` started on a free loopback
//! port with a token file and a basic-auth file, its stderr collected, its store read with
//! SQLite while it runs, and the process killed when the test drops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::{flowc_process, Scratch};

pub(crate) const TOKEN: &str = "tok-3f9c2a71e5d84b06";
pub(crate) const USER: &str = "kaleyra";
pub(crate) const PASSWORD: &str = "pw-91c4e7d2b8-a5f0";

/// A receiver process on a free loopback port, with a token file and a basic-auth file.
pub(crate) struct Receiver {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) stderr: Arc<Mutex<String>>,
    pub(crate) scratch: Scratch,
    pub(crate) store: PathBuf,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Receiver::start_with(&[])
    }

    pub(crate) fn start_with(extra: &[&str]) -> Receiver {
        let scratch = Scratch::new();
        let token = scratch.write("token", format!("{TOKEN}\n"));
        let basic = scratch.write("basic", format!("{USER}:{PASSWORD}\n"));
        let mut args: Vec<String> = vec![
            "--token-file".into(),
            token.display().to_string(),
            "--basic-auth-file".into(),
            basic.display().to_string(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        Receiver::spawn(scratch, &args).expect("the receiver starts")
    }

    /// Starts `flowc receive --listen 127.0.0.1:0 --store SCRATCH/events.sqlite ARGS` (with
    /// `--read-timeout 1` unless ARGS set it); the error is its stderr when it exits instead of
    /// listening.
    pub(crate) fn spawn(scratch: Scratch, args: &[String]) -> Result<Receiver, (i32, String)> {
        let store = scratch.path().join("events.sqlite");
        Receiver::spawn_at(scratch, store, "127.0.0.1:0", args)
    }

    pub(crate) fn spawn_at(
        scratch: Scratch,
        store: PathBuf,
        listen: &str,
        args: &[String],
    ) -> Result<Receiver, (i32, String)> {
        let mut command = flowc_process();
        command.arg("receive").args(["--listen", listen, "--store"]).arg(&store);
        if !args.iter().any(|arg| arg == "--read-timeout") {
            command.args(["--read-timeout", "1"]);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flowc runs");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let pipe = child.stderr.take().expect("piped");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                {
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = found.send(addr);
                }
            }
        });
        if let Ok(addr) = listening.recv_timeout(Duration::from_secs(20)) {
            Ok(Receiver {
                child,
                addr: addr.parse().expect("an address"),
                stderr,
                scratch,
                store,
            })
        } else {
            let status = child.wait().expect("exited");
            std::thread::sleep(Duration::from_millis(100));
            let text = stderr.lock().expect("log").clone();
            Err((status.code().unwrap_or(-1), text))
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().expect("log").clone()
    }

    /// Sends raw bytes, then reads the answer until the server closes.
    pub(crate) fn raw(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        // The server may answer (413) and close before reading everything: a failed write is
        // not the test's failure, the answer is what counts.
        let _ = stream.write_all(request);
        read_answer(&mut stream)
    }

    pub(crate) fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// A JSON POST with the bearer token.
    /// Where the provider calls back.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn post(&self, body: &str) -> Answer {
        self.request(
            "POST",
            "/",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    pub(crate) fn get(&self, target: &str) -> Answer {
        self.request("GET", target, &[], b"")
    }

    /// The receiver still answers health checks and stores a new callback.
    pub(crate) fn assert_serving(&self) {
        assert_eq!(self.get("/healthz").status, 200, "{}", self.stderr());
        let id = format!("wamid.alive-{}", fastrand::u64(..));
        assert_eq!(self.post(&status_body(&id, "delivered", "R-alive")).status, 200);
        assert_eq!(
            self.count(&format!("SELECT count(*) FROM statuses WHERE message_id = '{id}'")),
            1
        );
    }

    /// A number read from the store while the receiver runs (as `flowc report` will).
    pub(crate) fn count(&self, sql: &str) -> i64 {
        let connection = rusqlite::Connection::open(&self.store).expect("open the store");
        connection.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
        connection.query_row(sql, [], |row| row.get(0)).expect(sql)
    }

    pub(crate) fn text(&self, sql: &str) -> Option<String> {
        let connection = rusqlite::Connection::open(&self.store).expect("open the store");
        connection.query_row(sql, [], |row| row.get(0)).expect(sql)
    }

    /// Every byte of the store on disk (main file and WAL).
    pub(crate) fn store_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(&self.store).unwrap_or_default();
        let wal = PathBuf::from(format!("{}-wal", self.store.display()));
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        bytes
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// SIGTERM, then the exit code and all of stderr.
    pub(crate) fn stop(mut self) -> (i32, String) {
        self.signal("TERM");
        let code = wait_for(&mut self.child, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
        (code, self.stderr())
    }

    /// Neither secret anywhere: stderr, the store's bytes.
    pub(crate) fn assert_no_secret_anywhere(&self) {
        let stderr = self.stderr();
        let store = self.store_bytes();
        for secret in [TOKEN, PASSWORD] {
            assert!(!stderr.contains(secret), "stderr shows a secret: {stderr}");
            assert!(
                !store.windows(secret.len()).any(|window| window == secret.as_bytes()),
                "the store holds a secret"
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn wait_for(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(start.elapsed() < limit, "the receiver did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) text: String,
}

pub(crate) fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Answer { status, text }
}

/// The provider's status envelope (see the delivery facts: `meta_object` + `extra_info`).
pub(crate) fn status_body(id: &str, status: &str, reference: &str) -> String {
    serde_json::json!({
        "meta_object": {"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "911234567890", "phone_number_id": "104"},
            "statuses": [{"id": id, "status": status, "timestamp": "1722834665", "recipient_id": "919407000001"}]
        }},
        "extra_info": {"trace_id": "t-1", "message_id": id, "ref": reference, "ref1": "campaign-7", "ref2": "row-3"},
        "status": status,
        "message_id": id
    })
    .to_string()
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
