//! `flowc receive`: start the callback server, say where it listens, print a line of counts
//! every minute, and stop gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::ExitStatus;
use crate::diagnostic::{Finding, Printer};
use crate::receive::{Counts, ReceiveError, ReceiveSettings, Receiver};
use crate::send::Signal;
use crate::words;

pub struct ReceiveOptions {
    pub listen: SocketAddr,
    pub store: PathBuf,
    pub basic_auth_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub opt_out_words: Vec<String>,
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub stats_interval: Duration,
}

pub fn run(options: ReceiveOptions, printer: &Printer) -> ExitStatus {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            printer.print(&Finding::error(format!("cannot start the receiver: {error}")));
            return ExitStatus::Usage;
        }
    };
    let fail = |error: ReceiveError| {
        printer.print(&Finding::error(error.to_string()).with_help(error.help()));
        error.exit_status()
    };
    runtime.block_on(async {
        // Installed before the address is printed: a SIGTERM sent as soon as it shows is a
        // graceful stop, never the default (immediate) death.
        let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            printer.print(&Finding::error("cannot install the signal handlers"));
            return ExitStatus::Usage;
        };
        let settings = ReceiveSettings {
            listen: options.listen,
            store: options.store.clone(),
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
        if !receiver.is_authenticated() {
            printer.note(
                "note: no authentication (allowed on a loopback address only): any local program can write events",
            );
        }
        let scheme = if receiver.is_tls() { "https" } else { "http" };
        printer.note(&format!(
            "flowc receive: listening on {} ({scheme}), storing in {}",
            receiver.local_addr(),
            options.store.display()
        ));
        let stats = receiver.stats();
        let interval = options.stats_interval;
        let ticker = tokio::spawn(async move {
            let mut last = Counts::default();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                let now = stats.counts();
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr().lock(),
                    format!("{}\n", counts_line(&now.since(&last), &now, interval)).as_bytes(),
                );
                last = now;
            }
        });
        let stats = receiver.stats();
        let (stop_sender, stop_receiver) = tokio::sync::oneshot::channel();
        let stopper = async move {
            let _ = stop_receiver.await;
        };
        let serving = tokio::spawn(receiver.run(stopper));
        let signal = tokio::select! {
            _ = interrupt.recv() => Signal::Interrupt,
            _ = terminate.recv() => Signal::Terminate,
        };
        printer.note(&format!(
            "{}: finishing the requests in flight, then closing the store",
            words::signal_name(signal)
        ));
        let _ = stop_sender.send(());
        ticker.abort();
        let result = match serving.await {
            Ok(result) => result,
            Err(_) => {
                printer.print(&Finding::error("the receiver stopped unexpectedly"));
                return ExitStatus::Usage;
            }
        };
        let total = stats.counts();
        match result {
            Ok(()) => {
                printer.note(&format!(
                    "stopped: {} stored since start; {} closed",
                    words::count(total.stored as usize, "callback", "callbacks"),
                    options.store.display()
                ));
                ExitStatus::Ok
            }
            Err(error) => fail(error),
        }
    })
}

/// The per-interval line: what arrived and what was refused.
fn counts_line(counts: &Counts, total: &Counts, interval: Duration) -> String {
    let n = |value: u64| value as usize;
    let mut line = format!(
        "last {}s: {} stored ({}, {}, {}), {}, {} unrecognised (kept raw), {} unauthenticated, {} refused",
        interval.as_secs(),
        words::count(n(counts.stored), "callback", "callbacks"),
        words::count(n(counts.statuses), "status", "statuses"),
        words::count(n(counts.messages), "message", "messages"),
        words::count(n(counts.opt_outs), "opt-out", "opt-outs"),
        words::count(n(counts.duplicates), "duplicate", "duplicates"),
        counts.unrecognised,
        counts.unauthorised,
        counts.rejected,
    );
    if counts.failed > 0 {
        line.push_str(&format!(
            ", {} NOT STORED (the store is failing; answered 503)",
            counts.failed
        ));
    }
    line.push_str(&format!("; {} since start", total.stored));
    line
}
