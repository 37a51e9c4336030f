//! A fake Kaleyra on 127.0.0.1: a real HTTP/1.1 server (hyper) that records every request and
//! answers as a test tells it to, including never answering (a dropped connection).
//!
//! With [`Provider::with_callbacks`] it also does what the provider does after a 202: it calls
//! the business's callback URL (a real `flowc receive`) with the statuses and replies a test
//! scripts for that message (POST or GET profiles, in any order, twice if told), retrying an
//! answer that is not 2xx as the provider does, and records what it sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
    pub at: Instant,
}

impl Received {
    /// The test templates put the row's id in `extra_info.ref`.
    pub(crate) fn reference(&self) -> String {
        self.body["extra_info"]["ref"].as_str().unwrap_or_default().to_owned()
    }
}

pub(crate) enum Reply {
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
    pub(crate) fn accepted(id: usize) -> Reply {
        Reply::Json {
            status: 202,
            body: format!(
                r#"{{"code":"WA202","message":"Request Accepted","data":{{"message_id":"M{id}"}},"error":{{}}}}"#
            ),
            retry_after: None,
        }
    }

    /// Meta's error object passed on inside the provider's envelope (where the provider puts
    /// Meta's code is not documented: [`Reply::error`] with Meta's code is the other reading).
    pub(crate) fn meta_error(status: u16, code: u32, title: &str, details: &str) -> Reply {
        let body = serde_json::json!({
            "code": "WA400", "message": "Bad request", "data": {},
            "error": {"message": format!("(#{code}) {title}"), "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details},
                      "fbtrace_id": "AbCdEf123"},
        });
        Reply::Json {
            status,
            body: body.to_string(),
            retry_after: None,
        }
    }

    pub(crate) fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::Json {
            status,
            body: format!(r#"{{"code":"{code}","message":"{message}","data":{{}},"error":{{"error":"{message}"}}}}"#),
            retry_after: None,
        }
    }
}

/// The provider's template list (`GET /v2/<sid>/whatsapp/<waba-id>/message_templates`) as Meta
/// pages it: page `n` (0-based) holds `pages[n]`'s items, with `paging.cursors.after` and a
/// `paging.next` link to the next page on this server (`?after=page-N`), none on the last.
/// `next_host` replaces the next link's `http://HOST:PORT` (a hostile provider); `extra` is
/// merged into every page's answer. A request for anything else is answered 404.
pub(crate) struct TemplatePages {
    pub pages: Vec<Vec<serde_json::Value>>,
    pub next_host: Option<String>,
    pub extra: serde_json::Value,
}

impl TemplatePages {
    pub(crate) fn new(pages: Vec<Vec<serde_json::Value>>) -> TemplatePages {
        TemplatePages {
            pages,
            next_host: None,
            extra: serde_json::json!({}),
        }
    }

    /// The answer to one request; `own` is the server's `http://127.0.0.1:PORT`.
    pub(crate) fn answer(&self, request: &Received, own: &str) -> Reply {
        if request.method != "GET" || !request.path.ends_with("/message_templates") {
            return Reply::error(404, "E404", "no such endpoint");
        }
        let page = request
            .query
            .split('&')
            .find_map(|pair| pair.strip_prefix("after=page-"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let Some(items) = self.pages.get(page) else {
            return Reply::error(400, "E400", "no such page");
        };
        let mut answer = serde_json::json!({"data": items});
        if page + 1 < self.pages.len() {
            let cursor = format!("page-{}", page + 1);
            let host = self.next_host.as_deref().unwrap_or(own);
            answer["paging"] = serde_json::json!({
                "cursors": {"before": format!("page-{page}"), "after": cursor},
                "next": format!("{host}{}?limit=2&after={cursor}", request.path),
            });
        } else {
            answer["paging"] = serde_json::json!({"cursors": {"before": format!("page-{page}")}});
        }
        if let serde_json::Value::Object(extra) = &self.extra {
            for (key, value) in extra {
                answer[key] = value.clone();
            }
        }
        Reply::Json {
            status: 200,
            body: answer.to_string(),
            retry_after: None,
        }
    }
}

impl Provider {
    /// A provider that serves the template list `pages`.
    pub(crate) fn with_templates(pages: TemplatePages) -> Provider {
        let own = Arc::new(Mutex::new(String::new()));
        let seen = Arc::clone(&own);
        let provider = Provider::start(Duration::ZERO, move |request, _, _| {
            let own = seen.lock().expect("lock").clone();
            pages.answer(request, &own)
        });
        *own.lock().expect("lock") = provider.url();
        provider
    }
}

/// Decides the answer: given the request, its index among all requests, and how many requests
/// with the same `ref` came before it (0 for the first attempt).
pub(crate) type Behaviour = dyn Fn(&Received, usize, usize) -> Reply + Send + Sync;

/// One callback to the receiver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Callback {
    /// A POST profile: this JSON body.
    Post(serde_json::Value),
    /// A GET profile: these query parameters.
    Get(Vec<(String, String)>),
}

/// The callbacks of an accepted message, in the order they are sent: given the request and the
/// `message_id` of its 202.
pub(crate) type Script = dyn Fn(&Received, &str) -> Vec<Callback> + Send + Sync;

/// Where and how the fake calls back.
pub(crate) struct Callbacks {
    /// The receiver's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Sent as `Authorization: Bearer` on a POST and as `?token=` on a GET.
    pub token: String,
    pub script: Box<Script>,
}

/// A callback as sent, with the receiver's last answer.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The `ref` of the message it is about.
    pub reference: String,
    pub callback: Callback,
    pub status: u16,
}

struct CallbackState {
    settings: Callbacks,
    client: reqwest::Client,
    /// Scheduled and not yet answered.
    pending: AtomicUsize,
    sent: Mutex<Vec<Sent>>,
}

struct State {
    received: Mutex<Vec<Received>>,
    /// Requests so far per `ref` (a scan of `received` would make a long campaign quadratic).
    per_reference: Mutex<HashMap<String, usize>>,
    behaviour: Box<Behaviour>,
    latency: Duration,
    callbacks: Option<Arc<CallbackState>>,
}

pub(crate) struct Provider {
    address: SocketAddr,
    state: Arc<State>,
    /// What the test expects to have come by the time it drops the provider.
    expected: Mutex<Expected>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Provider {
    /// A provider that accepts everything.
    pub(crate) fn accepting() -> Provider {
        Provider::start(Duration::ZERO, |_, index, _| Reply::accepted(index))
    }

    pub(crate) fn start(
        latency: Duration,
        behaviour: impl Fn(&Received, usize, usize) -> Reply + Send + Sync + 'static,
    ) -> Provider {
        Provider::serve(latency, Box::new(behaviour), None)
    }

    /// A provider that accepts everything and, after each 202, sends the receiver the
    /// callbacks `callbacks.script` gives for that message.
    pub(crate) fn with_callbacks(latency: Duration, callbacks: Callbacks) -> Provider {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        let state = CallbackState {
            settings: callbacks,
            client,
            pending: AtomicUsize::new(0),
            sent: Mutex::new(Vec::new()),
        };
        Provider::serve(
            latency,
            Box::new(|_, index, _| Reply::accepted(index)),
            Some(Arc::new(state)),
        )
    }

    fn serve(latency: Duration, behaviour: Box<Behaviour>, callbacks: Option<Arc<CallbackState>>) -> Provider {
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            per_reference: Mutex::new(HashMap::new()),
            behaviour,
            latency,
            callbacks,
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
            expected: Mutex::new(Expected::default()),
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.state.received.lock().expect("lock").len()
    }

    /// Waits until every scheduled callback has been answered; false on timeout.
    pub(crate) fn wait_for_callbacks(&self, limit: Duration) -> bool {
        let Some(callbacks) = &self.state.callbacks else {
            return true;
        };
        let start = Instant::now();
        while callbacks.pending.load(Ordering::SeqCst) > 0 {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Every callback sent, with the receiver's answer.
    pub(crate) fn callbacks_sent(&self) -> Vec<Sent> {
        self.state
            .callbacks
            .as_ref()
            .map(|callbacks| callbacks.sent.lock().expect("lock").clone())
            .unwrap_or_default()
    }

    /// How many requests each `ref` got.
    pub(crate) fn per_reference(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for request in self.received() {
            *counts.entry(request.reference()).or_default() += 1;
        }
        counts
    }
}

/// The requests a test expects, checked when the provider is dropped (as xh's test server does),
/// so a test that sends more or fewer than it meant fails even if it never counts them itself.
#[derive(Default)]
struct Expected {
    requests: Option<usize>,
    each_reference: Option<usize>,
}

impl Provider {
    /// Expects exactly `count` requests in all by the end of the test.
    pub(crate) fn expect_requests(&self, count: usize) -> &Provider {
        self.expected.lock().expect("lock").requests = Some(count);
        self
    }

    /// Expects every `ref` that came to have come exactly `count` times (1: nothing sent twice).
    pub(crate) fn expect_each_reference(&self, count: usize) -> &Provider {
        self.expected.lock().expect("lock").each_reference = Some(count);
        self
    }

    /// What differs from the expectations, if anything.
    fn unmet_expectations(&self) -> Vec<String> {
        let expected = self.expected.lock().expect("lock");
        let mut unmet = Vec::new();
        if let Some(count) = expected.requests {
            let came = self.count();
            if came != count {
                unmet.push(format!("expected {count} requests, {came} came"));
            }
        }
        if let Some(count) = expected.each_reference {
            let mut other: Vec<_> = self
                .per_reference()
                .into_iter()
                .filter(|(_, came)| *came != count)
                .collect();
            other.sort();
            if !other.is_empty() {
                unmet.push(format!(
                    "expected {count} requests for each ref; these differ: {other:?}"
                ));
            }
        }
        unmet
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let unmet = self.unmet_expectations();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // A test already failing has said why; a second panic while unwinding would abort.
        assert!(
            unmet.is_empty() || std::thread::panicking(),
            "the fake provider: {}",
            unmet.join("; ")
        );
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
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
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
        method,
        path,
        query,
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
    if let (Some(callbacks), Reply::Json { status: 202, body, .. }) = (&state.callbacks, &reply) {
        let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let message_id = answer["data"]["message_id"].as_str().unwrap_or_default().to_owned();
        let script = (callbacks.settings.script)(&received, &message_id);
        if !script.is_empty() {
            callbacks.pending.fetch_add(script.len(), Ordering::SeqCst);
            tokio::spawn(call_back(Arc::clone(callbacks), received.reference(), script));
        }
    }
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

/// Sends one message's callbacks in order, each retried (as the provider does) until the
/// receiver answers 2xx, five attempts at most.
async fn call_back(state: Arc<CallbackState>, reference: String, script: Vec<Callback>) {
    let settings = &state.settings;
    for callback in script {
        let mut status = 0;
        for attempt in 0..5u64 {
            let request = match &callback {
                Callback::Post(body) => state
                    .client
                    .post(format!("{}/", settings.url))
                    .bearer_auth(&settings.token)
                    .header("content-type", "application/json")
                    .body(body.to_string()),
                Callback::Get(pairs) => {
                    let mut pairs = pairs.clone();
                    pairs.push(("token".to_owned(), settings.token.clone()));
                    let url = reqwest::Url::parse_with_params(&format!("{}/", settings.url), &pairs).expect("a URL");
                    state.client.get(url)
                }
            };
            status = match request.send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            if (200..300).contains(&status) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
        }
        state.sent.lock().expect("lock").push(Sent {
            reference: reference.clone(),
            callback,
            status,
        });
        state.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn a_provider_that_did_not_get_the_requests_expected_fails_the_test_when_dropped() {
    let provider = Provider::accepting();
    provider.expect_requests(1);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(provider)));
    let message = dropped.expect_err("the drop check fires");
    let message = message.downcast_ref::<String>().expect("a formatted message");
    assert_eq!(message, "the fake provider: expected 1 requests, 0 came");
}

/// The row number `n` of a request (its `ref` is `R<n>`; its data row is `n + 2`).
pub(crate) fn row_number(request: &Received) -> i64 {
    request.reference().trim_start_matches('R').parse().expect("ref R<n>")
}

/// A status callback as the provider posts it (Meta's status in the provider's envelope).
pub(crate) fn status_body(
    wamid: &str,
    status: &str,
    time: i64,
    recipient: &str,
    extra: &serde_json::Value,
    error: Option<(u32, &str)>,
) -> Callback {
    let mut entry =
        serde_json::json!({"id": wamid, "status": status, "timestamp": time.to_string(), "recipient_id": recipient});
    if let Some((code, title)) = error {
        entry["errors"] = serde_json::json!([{"code": code, "title": title}]);
    }
    Callback::Post(serde_json::json!({
        "meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "911234567890", "phone_number_id": "104"},
            "statuses": [entry]}},
        "extra_info": extra,
        "status": status,
    }))
}

/// A Flow completion as the provider posts it, answering the message `context`.
pub(crate) fn reply_body(n: i64, from: &str, context: &str, answers: &serde_json::Value, time: i64) -> Callback {
    Callback::Post(serde_json::json!({
        "meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp",
            "messages": [{"from": from, "id": format!("wamid.reply.{n}"), "timestamp": time.to_string(),
                "type": "interactive", "context": {"from": "911234567890", "id": context},
                "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                    "response_json": answers.to_string()}}}]}},
        "extra_info": {"trace_id": format!("t-{n}")},
    }))
}
