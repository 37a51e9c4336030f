//! A load generator for `flowc receive`: status callbacks (the provider's envelope, a unique
//! message id each) at a fixed rate over keep-alive HTTP/1.1 connections, for a fixed time.
//!
//! Open loop: request `i` is due at `start + i / rate`, and its answer time is counted from
//! then, so a receiver that falls behind shows it in the percentiles instead of slowing the
//! generator down (no coordinated omission).
//!
//! Several receivers can be loaded at once (behind no load balancer, or to compare two): each
//! target is given `--addr HOST:PORT` or `--target http://HOST:PORT/PATH`, either repeated or
//! comma-separated, and the connections are spread over them round-robin (connection `c` to
//! target `c mod targets`), so each target gets its share of the rate.
//!
//! Usage: callbacks --addr 127.0.0.1:PORT [--addr …] --token TOKEN --rate N --seconds S
//!                  [--target http://HOST:PORT/PATH …] [--connections C] [--prefix P] [--acked FILE]
//! Prints one JSON line: sent, ok (2xx), other statuses, errors, answer-time percentiles (ms),
//! for all targets together, and the same for each target under `targets`.
//! With --acked, every message id answered 2xx is written to FILE, one a line (the SIGKILL
//! scripts check each is in the store; written out when the generator ends).
//! With --bodies FILE (one JSON body a line), those bodies are posted, each once, in order,
//! at --rate, instead of generated status callbacks (--seconds is then how long they take);
//! --acked then writes the line numbers (from 1) answered 2xx.
//! With --unanswered FILE, every id sent but not answered 2xx (another status, or no answer) is
//! written there, one a line (what the provider would send again).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One receiver: where to connect, and the path posted to.
struct Target {
    addr: SocketAddr,
    path: String,
}

impl Target {
    fn parse(text: &str) -> Target {
        match text.strip_prefix("http://") {
            Some(rest) => {
                let (host, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
                Target {
                    addr: host.parse().expect("--target http://IP:PORT/PATH"),
                    path: path.to_owned(),
                }
            }
            None => Target {
                addr: text.parse().expect("--addr HOST:PORT"),
                path: "/".to_owned(),
            },
        }
    }

    fn name(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }
}

struct Options {
    targets: Vec<Target>,
    token: String,
    rate: u64,
    seconds: u64,
    connections: u64,
    prefix: String,
    acked: Option<String>,
    unanswered: Option<String>,
    bodies: Option<Vec<String>>,
}

fn options() -> Options {
    let mut options = Options {
        targets: Vec::new(),
        token: String::new(),
        rate: 5000,
        seconds: 60,
        connections: 64,
        prefix: format!("{}", std::process::id()),
        acked: None,
        unanswered: None,
        bodies: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--addr" | "--target" => options
                .targets
                .extend(value.split(',').filter(|text| !text.is_empty()).map(Target::parse)),
            "--token" => options.token = value,
            "--rate" => options.rate = value.parse().expect("--rate N"),
            "--seconds" => options.seconds = value.parse().expect("--seconds S"),
            "--connections" => options.connections = value.parse().expect("--connections C"),
            "--prefix" => options.prefix = value,
            "--acked" => options.acked = Some(value),
            "--unanswered" => options.unanswered = Some(value),
            "--bodies" => {
                let text = std::fs::read_to_string(&value).expect("read the --bodies file");
                options.bodies = Some(text.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect());
            }
            other => panic!("unknown argument {other}"),
        }
    }
    if options.targets.is_empty() {
        options.targets.push(Target::parse("127.0.0.1:8787"));
    }
    if let Some(bodies) = &options.bodies {
        options.seconds = (bodies.len() as u64).div_ceil(options.rate.max(1));
    }
    options
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    ok: AtomicU64,
    other: AtomicU64,
    errors: AtomicU64,
}

fn body(id: &str) -> String {
    format!(
        r#"{{"meta_object":{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"911234567890","phone_number_id":"104000000000001"}},"statuses":[{{"id":"{id}","status":"delivered","timestamp":"1722834665","recipient_id":"919407000001","conversation":{{"id":"c0ffee","origin":{{"type":"marketing"}}}},"pricing":{{"billable":true,"pricing_model":"CBP","category":"marketing"}}}}]}}}},"extra_info":{{"trace_id":"trace-{id}","message_id":"{id}","waba_id":"100000000000001","ref":"R-{id}","ref1":"bench","ref2":"row"}},"status":"delivered","message_id":"{id}"}}"#
    )
}

/// Reads one response on a keep-alive connection: the status, or `None` if the connection
/// broke.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<u16> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let status: u16 = head.get(9..12)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Some(status);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let options = Arc::new(options());
    let totals = Arc::new(Totals::default());
    let per_target: Arc<Vec<Totals>> = Arc::new(options.targets.iter().map(|_| Totals::default()).collect());
    let list = |path: &String| {
        Arc::new(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(path).expect("create a list of ids"),
        )))
    };
    let acked = options.acked.as_ref().map(list);
    let unanswered = options.unanswered.as_ref().map(list);
    let total = match &options.bodies {
        Some(bodies) => bodies.len() as u64,
        None => options.rate * options.seconds,
    };
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs(options.seconds) + Duration::from_secs(5);
    let mut workers = Vec::new();
    for worker in 0..options.connections {
        let options = Arc::clone(&options);
        let totals = Arc::clone(&totals);
        let per_target = Arc::clone(&per_target);
        let acked = acked.clone();
        let unanswered = unanswered.clone();
        let index = (worker % options.targets.len() as u64) as usize;
        workers.push(tokio::spawn(async move {
            let target = &options.targets[index];
            let mine = &per_target[index];
            let mut latencies = Vec::new();
            // Answers slower than 50 ms, by the second of the run they were due in: a tail
            // from the start (connections opening) reads differently from one spread over it.
            let mut slow: Vec<u64> = Vec::new();
            let mut stream: Option<TcpStream> = None;
            let mut buffer = Vec::with_capacity(8192);
            let mut i = worker;
            while i < total {
                let due = start + Duration::from_secs_f64(i as f64 / options.rate as f64);
                tokio::time::sleep_until(due.into()).await;
                if Instant::now() > deadline {
                    break;
                }
                let (id, payload) = match &options.bodies {
                    Some(bodies) => ((i + 1).to_string(), bodies[i as usize].clone()),
                    None => {
                        let id = format!("wamid.{}-{i}", options.prefix);
                        let payload = body(&id);
                        (id, payload)
                    }
                };
                let request = format!(
                    "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
                    target.path,
                    target.addr,
                    options.token,
                    payload.len()
                );
                totals.sent.fetch_add(1, Ordering::Relaxed);
                mine.sent.fetch_add(1, Ordering::Relaxed);
                if stream.is_none() {
                    match TcpStream::connect(target.addr).await {
                        Ok(connected) => {
                            let _ = connected.set_nodelay(true);
                            stream = Some(connected);
                        }
                        Err(_) => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                            mine.errors.fetch_add(1, Ordering::Relaxed);
                            if let Some(file) = &unanswered {
                                let _ = writeln!(file.lock().expect("lock"), "{id}");
                            }
                            i += options.connections;
                            continue;
                        }
                    }
                }
                let Some(connection) = stream.as_mut() else { continue };
                let status = match connection.write_all(request.as_bytes()).await {
                    Ok(()) => read_response(connection, &mut buffer).await,
                    Err(_) => None,
                };
                match status {
                    Some(status) if (200..300).contains(&status) => {
                        let took = due.elapsed().as_secs_f64() * 1000.0;
                        latencies.push(took);
                        if took > 50.0 {
                            let second = (due - start).as_secs() as usize;
                            if slow.len() <= second {
                                slow.resize(second + 1, 0);
                            }
                            slow[second] += 1;
                        }
                        totals.ok.fetch_add(1, Ordering::Relaxed);
                        mine.ok.fetch_add(1, Ordering::Relaxed);
                        if let Some(file) = &acked {
                            let _ = writeln!(file.lock().expect("lock"), "{id}");
                        }
                    }
                    Some(_) => {
                        if let Some(file) = &unanswered {
                            let _ = writeln!(file.lock().expect("lock"), "{id}");
                        }
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                        totals.other.fetch_add(1, Ordering::Relaxed);
                        mine.other.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        if let Some(file) = &unanswered {
                            let _ = writeln!(file.lock().expect("lock"), "{id}");
                        }
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        mine.errors.fetch_add(1, Ordering::Relaxed);
                        stream = None;
                    }
                }
                i += options.connections;
            }
            (index, latencies, slow)
        }));
    }
    let mut latencies = Vec::new();
    let mut slow: Vec<u64> = Vec::new();
    let mut target_latencies: Vec<Vec<f64>> = options.targets.iter().map(|_| Vec::new()).collect();
    for worker in workers {
        let (index, measured, late) = worker.await.expect("a worker");
        if slow.len() < late.len() {
            slow.resize(late.len(), 0);
        }
        for (total, count) in slow.iter_mut().zip(late) {
            *total += count;
        }
        target_latencies[index].extend_from_slice(&measured);
        latencies.extend(measured);
    }
    let elapsed = start.elapsed().as_secs_f64();
    for file in [&acked, &unanswered].into_iter().flatten() {
        file.lock().expect("lock").flush().expect("write a list of ids");
    }
    let targets: Vec<String> = options
        .targets
        .iter()
        .zip(per_target.iter())
        .zip(target_latencies)
        .map(|((target, counts), latencies)| {
            format!(
                "{{\"target\":\"{}\",{}}}",
                target.name(),
                summary(counts, latencies, elapsed)
            )
        })
        .collect();
    let slow: Vec<String> = slow.iter().map(u64::to_string).collect();
    println!(
        "{{{},\"over_50ms_by_second\":[{}],\"targets\":[{}]}}",
        summary(&totals, latencies, elapsed),
        slow.join(","),
        targets.join(",")
    );
}

/// The counts and answer-time percentiles (ms) as JSON members.
fn summary(totals: &Totals, mut latencies: Vec<f64>, elapsed: f64) -> String {
    latencies.sort_by(|a, b| a.total_cmp(b));
    let percentile = |p: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    let ok = totals.ok.load(Ordering::Relaxed);
    format!(
        "\"sent\":{},\"ok\":{ok},\"other\":{},\"errors\":{},\"seconds\":{elapsed:.2},\"ok_per_second\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"p999_ms\":{:.2},\"max_ms\":{:.2}",
        totals.sent.load(Ordering::Relaxed),
        totals.other.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
        ok as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(0.999),
        latencies.last().copied().unwrap_or(0.0),
    )
}
