//! A fast fake Kaleyra for the send benchmark: answers every POST with 202 WA202 after a
//! configurable latency, and counts arrivals per second. `GET /stats` returns the counts.
//!
//! Usage: provider --latency-ms N   (prints `listening http://127.0.0.1:PORT` on stdout)

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

struct Stats {
    first: Mutex<Option<Instant>>,
    per_second: Mutex<Vec<u64>>,
    total: AtomicU64,
}

async fn handle(stats: Arc<Stats>, latency: Duration, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() == Method::GET && request.uri().path() == "/stats" {
        let per_second = stats.per_second.lock().expect("lock").clone();
        let body = serde_json::json!({"total": stats.total.load(Ordering::Relaxed), "per_second": per_second});
        return Ok(Response::new(Full::new(Bytes::from(body.to_string()))));
    }
    let now = Instant::now();
    let _ = request.into_body().collect().await;
    let second = {
        let mut first = stats.first.lock().expect("lock");
        let start = *first.get_or_insert(now);
        now.duration_since(start).as_secs() as usize
    };
    {
        let mut per_second = stats.per_second.lock().expect("lock");
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
    }
    let n = stats.total.fetch_add(1, Ordering::Relaxed);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let body = format!(r#"{{"code":"WA202","message":"Request Accepted","data":{{"message_id":"B{n}"}},"error":{{}}}}"#);
    Ok(Response::builder()
        .status(202)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let latency_ms: u64 = args
        .iter()
        .position(|arg| arg == "--latency-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let latency = Duration::from_millis(latency_ms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("listening http://{}", listener.local_addr().expect("address"));
    let stats = Arc::new(Stats {
        first: Mutex::new(None),
        per_second: Mutex::new(Vec::new()),
        total: AtomicU64::new(0),
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(Arc::clone(&stats), latency, request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
