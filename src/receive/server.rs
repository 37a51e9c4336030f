//! The HTTP side of `flowc receive`: axum's routing on hyper connections that this module
//! accepts itself, so that every connection gets the limits a server open to the internet
//! needs, with or without TLS:
//! - a deadline for each request's headers (also while a kept-alive connection is idle) and for
//!   its body, so a slow caller (slowloris) holds a connection for seconds, not forever;
//! - at most 64 KiB of request head and hyper's 100 headers (431 past that), 1 MiB of body
//!   (413), and a cap on open connections;
//! - when every connection slot is taken and another caller waits, kept-alive connections close
//!   after the request in flight (at once when idle): callers without credentials asking
//!   `/healthz` over and over cannot keep a real callback out;
//! - authentication before anything is read or stored (401);
//! - a 2xx only after the store's commit; a 503 when the store cannot commit, so the provider
//!   sends the callback again.
//!
//! A stop (SIGTERM, Ctrl-C, or a SQLite store found no longer at its path) closes the
//! listener, lets requests in flight finish (their events committed and answered, or 503), then
//! closes the store.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use super::auth::{self, Credentials};
use super::deadline::{Activity, Deadlined};
use super::parse::{self, OptOutWords};
use super::ReceiveError;
use crate::events::{Callback, EventsError, Store, StoreHandle, StoreWriter};

/// The largest body accepted: a callback is a few KiB; a Flow's answers are small too.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// The largest request head (request line and headers): far above any callback's.
const HEAD_LIMIT: usize = 64 * 1024;

/// What callbacks may hold in memory at once, from their body's arrival to their commit (read
/// buffers, the parsed JSON, the events waiting for the writer). Past it a callback is answered
/// `503` with `Retry-After` before its body is read: 128 callbacks of 1 MiB at once otherwise
/// took gigabytes.
const MEMORY_BUDGET_KIB: usize = 64 * 1024;

/// What one callback is counted for against [`MEMORY_BUDGET_KIB`]: eight times its body's
/// bound (the body, its copy while collected, and the parsed JSON, which [`parse`] bounds to
/// [`parse::MAX_VALUES`] values), plus the request's own.
fn reservation_kib(body_bound: usize) -> u32 {
    let kib = (8 * body_bound).div_ceil(1024) + 16;
    u32::try_from(kib.min(MEMORY_BUDGET_KIB)).unwrap_or(u32::MAX)
}

/// How long in-flight requests may take to finish after a stop, beyond the read timeout.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct ReceiveSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) store: crate::events::StoreLocation,
    pub(crate) basic_auth_file: Option<PathBuf>,
    pub(crate) token_file: Option<PathBuf>,
    /// The certificate chain and the private key (PEM).
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) opt_out_words: Vec<String>,
    /// The deadline for a request's headers, for its body, and for a TLS handshake.
    pub(crate) read_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// What the receiver has done since it started; read by the command for its per-minute line.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    stored: AtomicU64,
    statuses: AtomicU64,
    messages: AtomicU64,
    opt_outs: AtomicU64,
    unrecognised: AtomicU64,
    duplicates: AtomicU64,
    unauthorised: AtomicU64,
    rejected: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
    /// Why the last callback could not be stored, for the command to print.
    failure: std::sync::Mutex<Option<String>>,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Callbacks newly stored (understood or not).
    pub(crate) stored: u64,
    pub(crate) statuses: u64,
    pub(crate) messages: u64,
    pub(crate) opt_outs: u64,
    /// Stored raw, answered 400 or 415.
    pub(crate) unrecognised: u64,
    /// Callbacks (or events) stored before.
    pub(crate) duplicates: u64,
    /// Answered 401.
    pub(crate) unauthorised: u64,
    /// Refused unread: too large, too slow, a wrong method.
    pub(crate) rejected: u64,
    /// Answered 503 unread: the memory budget was spent.
    pub(crate) busy: u64,
    /// Not stored (the store failed): answered 503.
    pub(crate) failed: u64,
}

impl Stats {
    pub(crate) fn counts(&self) -> Counts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            stored: read(&self.stored),
            statuses: read(&self.statuses),
            messages: read(&self.messages),
            opt_outs: read(&self.opt_outs),
            unrecognised: read(&self.unrecognised),
            duplicates: read(&self.duplicates),
            unauthorised: read(&self.unauthorised),
            rejected: read(&self.rejected),
            busy: read(&self.busy),
            failed: read(&self.failed),
        }
    }

    /// Why the last callback was not stored (the store's own words), if one was not.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|failure| failure.clone())
    }

    fn failed(&self, why: Option<String>) {
        Stats::add(&self.failed, 1);
        if let (Some(why), Ok(mut failure)) = (why, self.failure.lock()) {
            *failure = Some(why);
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counts {
    /// What happened between `earlier` and this snapshot.
    pub(crate) fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            stored: self.stored - earlier.stored,
            statuses: self.statuses - earlier.statuses,
            messages: self.messages - earlier.messages,
            opt_outs: self.opt_outs - earlier.opt_outs,
            unrecognised: self.unrecognised - earlier.unrecognised,
            duplicates: self.duplicates - earlier.duplicates,
            unauthorised: self.unauthorised - earlier.unauthorised,
            rejected: self.rejected - earlier.rejected,
            busy: self.busy - earlier.busy,
            failed: self.failed - earlier.failed,
        }
    }
}

/// What every request handler shares.
struct App {
    credentials: Credentials,
    store: StoreHandle,
    stats: Arc<Stats>,
    words: OptOutWords,
    read_timeout: Duration,
    /// [`MEMORY_BUDGET_KIB`], in KiB.
    budget: Arc<Semaphore>,
}

/// A bound, ready receiver: the address is known (for `--listen 127.0.0.1:0`) and the store
/// open before anything is accepted.
pub(crate) struct Receiver {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    writer: StoreWriter,
    app: Arc<App>,
    max_connections: usize,
    /// The older layout of the store this receiver brought up to date on opening it, if it did.
    upgraded_from: Option<i64>,
}

impl Receiver {
    /// Reads the credentials and the TLS files, opens the store and binds the address. Refuses
    /// to go without authentication unless the address is loopback.
    pub(crate) async fn bind(settings: &ReceiveSettings) -> Result<Receiver, ReceiveError> {
        let credentials = Credentials::load(settings.basic_auth_file.as_deref(), settings.token_file.as_deref())?;
        if credentials.is_empty() && !settings.listen.ip().is_loopback() {
            return Err(ReceiveError::NoAuthentication { addr: settings.listen });
        }
        let tls = match &settings.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let store = Store::open(&settings.store)?;
        // tokio sets SO_REUSEADDR on Unix: a receiver restarted after a crash rebinds at once,
        // without waiting for the old connections' TIME_WAIT.
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|error| ReceiveError::Bind {
                addr: settings.listen,
                reason: error.to_string(),
            })?;
        let local_addr = listener.local_addr().map_err(|error| ReceiveError::Bind {
            addr: settings.listen,
            reason: error.to_string(),
        })?;
        let upgraded_from = store.upgraded_from();
        let writer = StoreWriter::spawn(store);
        let app = Arc::new(App {
            credentials,
            store: writer.handle(),
            stats: Arc::default(),
            words: OptOutWords::new(&settings.opt_out_words),
            read_timeout: settings.read_timeout,
            budget: Arc::new(Semaphore::new(MEMORY_BUDGET_KIB)),
        });
        Ok(Receiver {
            listener,
            local_addr,
            tls,
            writer,
            app,
            max_connections: settings.max_connections.max(1),
            upgraded_from,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The older layout of the store this receiver brought up to date on opening it, if it did.
    pub(crate) fn upgraded_from(&self) -> Option<i64> {
        self.upgraded_from
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        !self.app.credentials.is_empty()
    }

    pub(crate) fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.app.stats)
    }

    /// Serves until `stop` completes, then finishes the requests in flight and closes the
    /// store.
    // The accept arm of `select!` matches its result in place: `if let` cannot `continue` there as clearly.
    #[allow(clippy::single_match_else)]
    pub(crate) async fn run(self, stop: impl Future<Output = ()>) -> Result<(), ReceiveError> {
        let Receiver {
            listener,
            tls,
            writer,
            app,
            max_connections,
            ..
        } = self;
        let read_timeout = app.read_timeout;
        // A store no longer at its path stops the receiver as a stop would (requests in flight
        // answered, 503): a supervisor starts it again on the file at the path.
        let mut lost = app.store.lost();
        let router = Router::new()
            .route("/healthz", get(healthz))
            .fallback(callback)
            .with_state(Arc::clone(&app));
        drop(app);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            // A backstop only: [`Deadlined`] cuts a late head off first, with its 408.
            .header_read_timeout(read_timeout * 2 + GRACE)
            .max_buf_size(HEAD_LIMIT)
            .keep_alive(true);
        // `true` once stopping: every connection closes after its request in flight.
        let (closing, closing_seen) = watch::channel(false);
        let crowded = Arc::new(Notify::new());
        let permits = Arc::new(Semaphore::new(max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(stop);
        loop {
            // Finished connections are reaped as we go: the set stays as large as what is open.
            while connections.try_join_next().is_some() {}
            let stream = tokio::select! {
                () = &mut stop => break,
                () = &mut lost => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors, a connection reset before accept: keep serving.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let permit = if let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
                permit
            } else {
                // Every slot is taken and a caller waits: the kept-alive connections close
                // after their request in flight (the callers reconnect behind this one), so
                // it has a slot within a read timeout however busy they keep themselves.
                crowded.notify_waiters();
                tokio::select! {
                    () = &mut stop => break,
                    () = &mut lost => break,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            };
            let _ = stream.set_nodelay(true);
            let activity = Activity::new();
            let service = {
                let router = TowerToHyperService::new(router.clone());
                let activity = Arc::clone(&activity);
                hyper::service::service_fn(move |request| {
                    activity.start();
                    let answering = router.call(request);
                    let activity = Arc::clone(&activity);
                    async move {
                        let response = answering.await;
                        activity.end();
                        response
                    }
                })
            };
            let closing = closing_seen.clone();
            let crowded = Arc::clone(&crowded);
            let http = http.clone();
            let tls = tls.clone();
            connections.spawn(async move {
                let _permit = permit;
                match tls {
                    None => {
                        let stream = Deadlined::new(stream, activity, read_timeout);
                        serve(http.serve_connection(TokioIo::new(stream), service), closing, crowded).await;
                    }
                    Some(acceptor) => {
                        let Ok(Ok(stream)) = tokio::time::timeout(read_timeout, acceptor.accept(stream)).await else {
                            return;
                        };
                        let stream = Deadlined::new(stream, activity, read_timeout);
                        serve(http.serve_connection(TokioIo::new(stream), service), closing, crowded).await;
                    }
                }
            });
        }
        drop(listener);
        // Idle connections close now; a request in flight is answered first.
        let _ = closing.send(true);
        let _ = tokio::time::timeout(read_timeout + GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        // The last handles to the store went with the router and the connections.
        drop(router);
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|_| EventsError::Failed("the store's writer thread panicked".to_owned()))??;
        Ok(())
    }
}

/// Serves one connection until it ends; once the receiver stops, or every slot is taken while
/// another caller waits, it closes after the request in flight (an idle one at once).
async fn serve<I, S, B>(
    connection: hyper::server::conn::http1::Connection<I, S>,
    mut closing: watch::Receiver<bool>,
    crowded: Arc<Notify>,
) where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(connection);
    let crowding = crowded.notified();
    tokio::pin!(crowding);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = &mut crowding => {}
        _ = closing.wait_for(|closing| *closing) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ReceiveError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls_error = |what: &'static str, path: &Path, problem: String| ReceiveError::Tls {
        what,
        path: path.display().to_string(),
        problem,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(std::iter::Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| tls_error("certificate", cert, format!("cannot be read: {error}")))?;
    if certs.is_empty() {
        return Err(tls_error("certificate", cert, "holds no PEM certificate".to_owned()));
    }
    let private_key =
        PrivateKeyDer::from_pem_file(key).map_err(|error| tls_error("key", key, format!("cannot be read: {error}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, private_key))
        .map_err(|error| tls_error("key", key, format!("does not fit the certificate: {error}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// For load balancers and monitors: no authentication, nothing stored.
async fn healthz(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Some(response) = head_too_large(&request) {
        Stats::add(&app.stats.rejected, 1);
        return response;
    }
    match app.store.unavailable() {
        None => answer(StatusCode::OK, "ok\n"),
        Some(why) => try_again(format!("{why}\n")),
    }
}

/// A request head over [`HEAD_LIMIT`] (hyper's buffer limit lets somewhat more through), as the
/// operator's page (docs/operator.md) promises: 431.
fn head_too_large(request: &Request) -> Option<Response> {
    let line = request.method().as_str().len() + request.uri().to_string().len() + " HTTP/1.1\r\n".len() + 1;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    (line + headers + 2 > HEAD_LIMIT).then(|| {
        answer(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request's head is larger than 64 KiB\n",
        )
    })
}

/// `503` with `Retry-After`: the provider sends the callback again.
fn try_again(text: impl Into<Cow<'static, str>>) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, text.into()).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::events::postgres::RETRY_AFTER.as_secs()),
    );
    response
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

/// Every path but `/healthz`: a callback.
async fn callback(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Some(response) = head_too_large(&request) {
        Stats::add(&app.stats.rejected, 1);
        return response;
    }
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    // Authentication first: nothing a stranger sends is read, parsed or stored.
    let token = auth::query_token(query);
    let authorization = parts.headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    if !app.credentials.allows(authorization, token.as_deref()) {
        Stats::add(&app.stats.unauthorised, 1);
        let mut response = answer(StatusCode::UNAUTHORIZED, "authentication required\n");
        for challenge in app.credentials.challenges() {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        return response;
    }
    let method = match parts.method {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => {
            Stats::add(&app.stats.rejected, 1);
            let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, "callbacks are GET or POST\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
    };
    // Held until the callback is committed (or refused): what it may cost in memory.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let bound = if method == "POST" {
        declared.unwrap_or(BODY_LIMIT).min(BODY_LIMIT)
    } else {
        0
    };
    let Ok(_reserved) = Arc::clone(&app.budget).try_acquire_many_owned(reservation_kib(bound)) else {
        Stats::add(&app.stats.busy, 1);
        return try_again("busy: too many callbacks waiting to be stored; try again\n");
    };
    let body = if method == "POST" {
        match read_body(&parts.headers, body, app.read_timeout).await {
            Ok(bytes) => bytes,
            Err(response) => {
                Stats::add(&app.stats.rejected, 1);
                return response;
            }
        }
    } else {
        Vec::new()
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(&app.credentials.scrub(value.as_bytes())).into_owned());
    let query = String::from_utf8_lossy(&app.credentials.scrub(auth::without_token(query).as_bytes())).into_owned();
    // The body itself when nothing was scrubbed: no copy of up to 1 MiB.
    let body = match app.credentials.scrub(&body) {
        Cow::Owned(scrubbed) => scrubbed,
        Cow::Borrowed(_) => body,
    };
    let path = String::from_utf8_lossy(&app.credentials.scrub(parts.uri.path().as_bytes())).into_owned();
    let kind = BodyKind::of(content_type.as_deref());
    let outcome = if method == "GET" || (body.is_empty() && !query.is_empty()) {
        parse::flat(&pairs(query.as_bytes()), &app.words)
    } else {
        match kind {
            BodyKind::Json => parse::json(&body, &app.words),
            // `curl -d` and some gateways label a JSON body as a form.
            BodyKind::Form if body.trim_ascii_start().starts_with(b"{") => parse::json(&body, &app.words),
            BodyKind::Form => parse::flat(&pairs(&body), &app.words),
            BodyKind::Other => Err("an unsupported content type".to_owned()),
        }
    };
    let recognised = outcome.is_ok();
    let callback = Callback {
        received_at: now_millis(),
        method,
        path,
        query: (!query.is_empty()).then_some(query),
        content_type,
        body,
        outcome,
    };
    match app.store.save(callback).await {
        Ok(saved) => {
            let stats = &app.stats;
            if saved.duplicate {
                Stats::add(&stats.duplicates, 1);
            } else {
                Stats::add(&stats.stored, 1);
            }
            Stats::add(&stats.statuses, saved.statuses);
            Stats::add(&stats.messages, saved.messages);
            Stats::add(&stats.opt_outs, saved.opt_outs);
            match (recognised, kind) {
                (true, _) if saved.duplicate => answer(StatusCode::OK, "stored before\n"),
                (true, _) => answer(StatusCode::OK, "stored\n"),
                (false, kind) => {
                    if !saved.duplicate {
                        Stats::add(&stats.unrecognised, 1);
                    }
                    if kind == BodyKind::Other && method == "POST" {
                        answer(
                            StatusCode::UNSUPPORTED_MEDIA_TYPE,
                            "unsupported content type: send application/json or a form (kept as received)\n",
                        )
                    } else {
                        answer(
                            StatusCode::BAD_REQUEST,
                            "not a callback flowc understands (kept as received)\n",
                        )
                    }
                }
            }
        }
        Err(error) => {
            // A store no longer at its path is said once, as the receiver stops.
            app.stats.failed((!error.is_lost()).then(|| error.to_string()));
            if error.is_unavailable() {
                try_again("not stored: the event store is unreachable; try again\n")
            } else {
                try_again("not stored: try again\n")
            }
        }
    }
}

/// The body, whole, within the size limit and the read deadline.
async fn read_body(headers: &axum::http::HeaderMap, body: Body, read_timeout: Duration) -> Result<Vec<u8>, Response> {
    let too_large = || answer(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 1 MiB\n");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(read_timeout, Limited::new(body, BODY_LIMIT).collect()).await {
        Err(_) => Err(answer(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long to arrive\n",
        )),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(answer(StatusCode::BAD_REQUEST, "the body could not be read\n")),
        Ok(Ok(collected)) => Ok(Vec::from(collected.to_bytes())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Other,
}

impl BodyKind {
    /// JSON when said so, when nothing is said, or as `text/plain` (some gateways label JSON
    /// so); a form when said so; anything else is kept raw and answered 415.
    fn of(content_type: Option<&str>) -> BodyKind {
        let Some(content_type) = content_type else {
            return BodyKind::Json;
        };
        // Compared without a lower-cased copy: this runs on every callback.
        let essence = content_type.split(';').next().unwrap_or_default().trim().as_bytes();
        let is = |name: &str| essence.eq_ignore_ascii_case(name.as_bytes());
        let starts = |prefix: &str| {
            essence
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
        };
        let ends = |suffix: &str| {
            essence
                .len()
                .checked_sub(suffix.len())
                .is_some_and(|at| essence[at..].eq_ignore_ascii_case(suffix.as_bytes()))
        };
        if ["application/json", "text/json", "text/plain", ""].into_iter().any(is) {
            BodyKind::Json
        } else if is("application/x-www-form-urlencoded") {
            BodyKind::Form
        } else if starts("application/") && ends("+json") {
            BodyKind::Json
        } else {
            BodyKind::Other
        }
    }
}

/// The pairs of a query or a form, one past [`parse::MAX_VALUES`] at most (which `flat` refuses).
fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded)
        .take(parse::MAX_VALUES + 1)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_content_types_are_told_apart_in_any_letter_case() {
        for (content_type, kind) in [
            (None, BodyKind::Json),
            (Some(""), BodyKind::Json),
            (Some("Application/JSON; charset=utf-8"), BodyKind::Json),
            (Some(" text/plain "), BodyKind::Json),
            (Some("TEXT/JSON"), BodyKind::Json),
            (Some("application/vnd.provider+JSON"), BodyKind::Json),
            (Some("application/x-www-form-urlencoded;charset=UTF-8"), BodyKind::Form),
            (Some("APPLICATION/X-WWW-FORM-URLENCODED"), BodyKind::Form),
            (Some("application/xml"), BodyKind::Other),
            (Some("+json"), BodyKind::Other),
            (Some("text/html+json"), BodyKind::Other),
            (Some("application/jsonx"), BodyKind::Other),
            (Some("applicatioñ/+json"), BodyKind::Other),
        ] {
            assert_eq!(BodyKind::of(content_type), kind, "{content_type:?}");
        }
    }
}
