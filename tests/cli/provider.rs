//! A fake Kaleyra on 127.0.0.1: a real HTTP/1.1 server (hyper) that records every request and
//! answers as a test tells it to, including never answering (a dropped connection).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
    pub at: Instant,
}

impl Received {
    /// The test templates put the row's id in `extra_info.ref`.
    pub fn reference(&self) -> String {
        self.body["extra_info"]["ref"].as_str().unwrap_or_default().to_owned()
    }
}

pub enum Reply {
    Json {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// Close the connection without answering.
    Drop,
    /// `307 Temporary Redirect` to this location.
    Redirect(String),
}

impl Reply {
    pub fn accepted(id: usize) -> Reply {
        Reply::Json {
            status: 202,
            body: format!(
                r#"{{"code":"WA202","message":"Request Accepted","data":{{"message_id":"M{id}"}},"error":{{}}}}"#
            ),
            retry_after: None,
        }
    }

    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::Json {
            status,
            body: format!(r#"{{"code":"{code}","message":"{message}","data":{{}},"error":{{"error":"{message}"}}}}"#),
            retry_after: None,
        }
    }
}

/// Decides the answer: given the request, its index among all requests, and how many requests
/// with the same `ref` came before it (0 for the first attempt).
pub type Behaviour = dyn Fn(&Received, usize, usize) -> Reply + Send + Sync;

struct State {
    received: Mutex<Vec<Received>>,
    /// Requests so far per `ref` (a scan of `received` would make a long campaign quadratic).
    per_reference: Mutex<HashMap<String, usize>>,
    behaviour: Box<Behaviour>,
    latency: Duration,
}

pub struct Provider {
    address: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Provider {
    /// A provider that accepts everything.
    pub fn accepting() -> Provider {
        Provider::start(Duration::ZERO, |_, index, _| Reply::accepted(index))
    }

    pub fn start(
        latency: Duration,
        behaviour: impl Fn(&Received, usize, usize) -> Reply + Send + Sync + 'static,
    ) -> Provider {
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            per_reference: Mutex::new(HashMap::new()),
            behaviour: Box::new(behaviour),
            latency,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("address");
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let server_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let (stream, _) = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok(accepted) => accepted,
                            Err(_) => continue,
                        },
                    };
                    let state = Arc::clone(&server_state);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| handle(Arc::clone(&state), request));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Provider {
            address,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.state.received.lock().expect("lock").len()
    }

    /// How many requests each `ref` got.
    pub fn per_reference(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for request in self.received() {
            *counts.entry(request.reference()).or_default() += 1;
        }
        counts
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let at = Instant::now();
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    let bytes = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let received = Received {
        path,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        at,
    };
    let (index, earlier) = {
        let mut all = state.received.lock().expect("lock");
        let mut counts = state.per_reference.lock().expect("lock");
        let count = counts.entry(received.reference()).or_default();
        let earlier = *count;
        *count += 1;
        all.push(received.clone());
        (all.len() - 1, earlier)
    };
    let reply = (state.behaviour)(&received, index, earlier);
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    match reply {
        Reply::Drop => Err(Dropped),
        Reply::Redirect(location) => Ok(Response::builder()
            .status(307)
            .header("location", location)
            .body(Full::new(Bytes::new()))
            .expect("response")),
        Reply::Json {
            status,
            body,
            retry_after,
        } => {
            let mut response = Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if let Some(retry_after) = retry_after {
                response = response.header("retry-after", retry_after);
            }
            Ok(response.body(Full::new(Bytes::from(body))).expect("response"))
        }
    }
}
