//! A load generator for `flowc receive`: status callbacks (the provider's envelope, a unique
//! message id each) at a fixed rate over keep-alive HTTP/1.1 connections, for a fixed time.
//!
//! Open loop: request `i` is due at `start + i / rate`, and its answer time is counted from
//! then, so a receiver that falls behind shows it in the percentiles instead of slowing the
//! generator down (no coordinated omission).
//!
//! Usage: callbacks --addr 127.0.0.1:PORT --token TOKEN --rate N --seconds S
//!                  [--connections C] [--prefix P] [--acked FILE]
//! Prints one JSON line: sent, ok (2xx), other statuses, errors, answer-time percentiles (ms).
//! With --acked, every message id answered 2xx is written to FILE, one a line, as it is
//! answered (the SIGKILL script checks each is in the store).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    addr: SocketAddr,
    token: String,
    rate: u64,
    seconds: u64,
    connections: u64,
    prefix: String,
    acked: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        addr: "127.0.0.1:8787".parse().expect("address"),
        token: String::new(),
        rate: 5000,
        seconds: 60,
        connections: 64,
        prefix: format!("{}", std::process::id()),
        acked: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--addr" => options.addr = value.parse().expect("--addr HOST:PORT"),
            "--token" => options.token = value,
            "--rate" => options.rate = value.parse().expect("--rate N"),
            "--seconds" => options.seconds = value.parse().expect("--seconds S"),
            "--connections" => options.connections = value.parse().expect("--connections C"),
            "--prefix" => options.prefix = value,
            "--acked" => options.acked = Some(value),
            other => panic!("unknown argument {other}"),
        }
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
    let acked = options.acked.as_ref().map(|path| {
        Arc::new(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(path).expect("create the acked file"),
        )))
    });
    let total = options.rate * options.seconds;
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs(options.seconds) + Duration::from_secs(5);
    let mut workers = Vec::new();
    for worker in 0..options.connections {
        let options = Arc::clone(&options);
        let totals = Arc::clone(&totals);
        let acked = acked.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut stream: Option<TcpStream> = None;
            let mut buffer = Vec::with_capacity(8192);
            let mut i = worker;
            while i < total {
                let due = start + Duration::from_secs_f64(i as f64 / options.rate as f64);
                tokio::time::sleep_until(due.into()).await;
                if Instant::now() > deadline {
                    break;
                }
                let id = format!("wamid.{}-{i}", options.prefix);
                let payload = body(&id);
                let request = format!(
                    "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
                    options.addr,
                    options.token,
                    payload.len()
                );
                totals.sent.fetch_add(1, Ordering::Relaxed);
                if stream.is_none() {
                    match TcpStream::connect(options.addr).await {
                        Ok(connected) => {
                            let _ = connected.set_nodelay(true);
                            stream = Some(connected);
                        }
                        Err(_) => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
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
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                        totals.ok.fetch_add(1, Ordering::Relaxed);
                        if let Some(file) = &acked {
                            let mut file = file.lock().expect("lock");
                            let _ = writeln!(file, "{id}");
                            let _ = file.flush();
                        }
                    }
                    Some(_) => {
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                        totals.other.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        stream = None;
                    }
                }
                i += options.connections;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("a worker"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let percentile = |p: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    let ok = totals.ok.load(Ordering::Relaxed);
    println!(
        "{{\"sent\":{},\"ok\":{ok},\"other\":{},\"errors\":{},\"seconds\":{elapsed:.2},\"ok_per_second\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"p999_ms\":{:.2},\"max_ms\":{:.2}}}",
        totals.sent.load(Ordering::Relaxed),
        totals.other.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
        ok as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(0.999),
        latencies.last().copied().unwrap_or(0.0),
    );
}
