//! `flowc receive`: start the callback server, say where it listens, print a line of counts
//! every minute, and stop gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::{fail, ExitStatus};
use crate::diagnostic::Printer;
use crate::exit::CannotRun;
use crate::receive::{Counts, ReceiveError, ReceiveSettings, Receiver};
use crate::signal::Signal;
use crate::words;

pub struct ReceiveOptions {
    pub listen: SocketAddr,
    pub store: PathBuf,
    pub store_password_file: Option<PathBuf>,
    pub basic_auth_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub opt_out_words: Vec<String>,
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub stats_interval: Duration,
}

pub(super) fn run(options: ReceiveOptions, printer: &Printer) -> ExitStatus {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return super::fail(printer, &CannotRun(format!("cannot start the receiver: {error}")));
        }
    };
    let fail = |error: ReceiveError| fail(printer, &error);
    let store = match super::store_location(&options.store, options.store_password_file.as_deref()) {
        Ok(store) => store,
        Err(error) => return super::fail(printer, &error),
    };
    runtime.block_on(async {
        // Installed before the address is printed: a SIGTERM sent as soon as it shows is a
        // graceful stop, never the default (immediate) death.
        let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return super::fail(printer, &CannotRun("cannot install the signal handlers".to_owned()));
        };
        let settings = ReceiveSettings {
            listen: options.listen,
            store: store.clone(),
            basic_auth_file: options.basic_auth_file.clone(),
            token_file: options.token_file.clone(),
            tls: options.tls.clone(),
            opt_out_words: options.opt_out_words.clone(),
            read_timeout: options.read_timeout,
            max_connections: options.max_connections,
        };
        let receiver = match Receiver::bind(&settings).await {
            Ok(receiver) => receiver,
            Err(error) => return fail(error),
        };
        // The address last: a script that waits for it has every earlier line.
        if let Some(found) = receiver.upgraded_from() {
            printer.note(&format!(
                "flowc receive: upgraded the event store {store} in place from layout {found} to layout {}: send and report of an older flowc no longer read it",
                crate::events::VERSION
            ));
        }
        if !receiver.is_authenticated() {
            printer.note(
                "note: no authentication (allowed on a loopback address only): any local program can write events",
            );
        }
        let scheme = if receiver.is_tls() { "https" } else { "http" };
        printer.note(&format!(
            "flowc receive: listening on {} ({scheme}), storing in {}",
            receiver.local_addr(),
            store
        ));
        let stats = receiver.stats();
        let interval = options.stats_interval;
        let ticker = tokio::spawn(async move {
            let mut last = Counts::default();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                let now = stats.counts();
                let label = format!("last {}s", interval.as_secs());
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr().lock(),
                    format!(
                        "{}; {} since start\n",
                        counts_line(&label, &now.since(&last)),
                        now.stored
                    )
                    .as_bytes(),
                );
                last = now;
            }
        });
        // A commit that fails is said at once (why, in the store's words), then at most every
        // ten seconds while it goes on: the provider is being told 503 meanwhile.
        let failures = {
            let stats = receiver.stats();
            tokio::spawn(async move {
                let mut reported = 0;
                let mut last: Option<(tokio::time::Instant, String)> = None;
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    let failed = stats.counts().failed;
                    let Some(why) = stats.failure() else { continue };
                    let due = match &last {
                        None => true,
                        Some((at, said)) => *said != why || at.elapsed() >= FAILURE_EVERY,
                    };
                    if failed > reported && due {
                        let _ = std::io::Write::write_all(
                            &mut std::io::stderr().lock(),
                            format!(
                                "error: {} not stored (answered 503; the provider sends them again): {why}\n",
                                words::count(failed - reported, "callback", "callbacks")
                            )
                            .as_bytes(),
                        );
                        reported = failed;
                        last = Some((tokio::time::Instant::now(), why));
                    }
                }
            })
        };
        let stats = receiver.stats();
        let (stop_sender, stop_receiver) = tokio::sync::oneshot::channel();
        let stopper = async move {
            let _ = stop_receiver.await;
        };
        let mut serving = tokio::spawn(receiver.run(stopper));
        // A signal, or the receiver stopping by itself (its store no longer at its path).
        let finished = tokio::select! {
            _ = interrupt.recv() => Err(Signal::Interrupt),
            _ = terminate.recv() => Err(Signal::Terminate),
            finished = &mut serving => Ok(finished),
        };
        ticker.abort();
        failures.abort();
        let finished = match finished {
            Ok(finished) => finished,
            Err(signal) => {
                printer.note(&format!(
                    "{}: finishing the requests in flight, then closing the store",
                    words::signal_name(signal)
                ));
                let _ = stop_sender.send(());
                // Closing waits for the requests in flight (each at most a read timeout) and,
                // to fold its log, for whatever reads the store (a report): said, rather than
                // a receiver that seems to hang.
                tokio::select! {
                    finished = &mut serving => finished,
                    () = tokio::time::sleep(STILL_CLOSING) => {
                        printer.note(
                            "still closing: waiting for the requests in flight (each up to the read timeout) and, with a SQLite store, for what reads it (flowc report, send --events) to let go (up to 5 s), so that its log is folded into the file",
                        );
                        serving.await
                    }
                }
            }
        };
        let Ok(result) = finished else {
            return super::fail(printer, &CannotRun("the receiver stopped unexpectedly".to_owned()));
        };
        // Everything since start, including what came after the last interval's line.
        let total = stats.counts();
        printer.note(&format!("stopped: {}", counts_line("since start", &total)));
        match result {
            Ok(()) => {
                printer.note(&format!("{store} closed"));
                ExitStatus::Ok
            }
            Err(error) => fail(error),
        }
    })
}

/// How long closing goes on before the receiver says what it waits for.
const STILL_CLOSING: Duration = Duration::from_secs(1);

/// How often a commit failure that goes on is said again.
const FAILURE_EVERY: Duration = Duration::from_secs(10);

/// A line of counts (for an interval, or since start): what arrived, what was refused, and for
/// each refusal what to check.
fn counts_line(label: &str, counts: &Counts) -> String {
    let mut line = format!(
        "{label}: {} stored ({}, {}, {}), {}, {} unrecognised (kept raw), {} unauthenticated, {} refused",
        words::count(counts.stored, "callback", "callbacks"),
        words::count(counts.statuses, "status", "statuses"),
        words::count(counts.messages, "message", "messages"),
        words::count(counts.opt_outs, "opt-out", "opt-outs"),
        words::count(counts.duplicates, "duplicate", "duplicates"),
        words::thousands(counts.unrecognised),
        words::thousands(counts.unauthorised),
        words::thousands(counts.rejected),
    );
    if counts.unauthorised > 0 {
        line.push_str(
            " (answered 401: the callback profile's credentials differ from this receiver's; check that the \
             profile's token or user:password, or the `token` in its callback URL, is the one in \
             --token-file or --basic-auth-file)",
        );
    }
    if counts.busy > 0 {
        line.push_str(&format!(
            ", {} busy (answered 503: more callbacks at once than its memory budget; the provider sends them again)",
            counts.busy
        ));
    }
    if counts.failed > 0 {
        line.push_str(&format!(
            ", {} NOT STORED (the store is failing; answered 503)",
            counts.failed
        ));
    }
    line
}
