//! What a person sees while a send runs: the progress bar or line, and the signals that stop it
//! (the first gracefully, the second at once).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::send::{Progress, StopCause, StopSignal};
use crate::signal::Signal;
use crate::words;

/// The first Ctrl-C or SIGTERM stops taking rows and lets requests in flight finish; a second
/// signal quits at once (the journal stays consistent: rows in flight become `unknown`).
pub(super) async fn watch_signals(stop: StopSignal, progress: Arc<Progress>, bar: Option<indicatif::ProgressBar>) {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return;
    };
    let Some(signal) = next_signal(&mut terminate).await else {
        return;
    };
    stop.request(StopCause::Interrupted(signal));
    // The bar is not drawn again below the message.
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "\nstopping ({}): no new requests; waiting for those in flight ({} done). A second Ctrl-C or SIGTERM quits at once (the journal stays consistent).",
        words::signal_name(signal),
        words::count(progress.done.load(Ordering::Relaxed), "row", "rows")
    );
    if let Some(second) = next_signal(&mut terminate).await {
        eprintln!("quitting at once; rows in flight will be reported as unknown on the next run");
        stop.quit(second);
    }
}

pub(super) async fn next_signal(terminate: &mut tokio::signal::unix::Signal) -> Option<Signal> {
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.ok().map(|()| Signal::Interrupt),
        received = terminate.recv() => received.map(|()| Signal::Terminate),
    }
}

pub(super) fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} rows  {rate}  ETA {eta}  {msg}")
            .map_or_else(
                |_| indicatif::ProgressStyle::default_bar(),
                |style| {
                    // indicatif's own `{per_sec}` prints four decimals (`155.1974/s`).
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                            let _ = write!(out, "{:.0}/s", state.per_sec());
                        },
                    )
                },
            );
    bar.set_style(style);
    Some(bar)
}

/// Draws progress: the bar on a terminal, otherwise a plain line every few seconds.
pub(super) async fn report_progress(
    bar: Option<indicatif::ProgressBar>,
    progress: Arc<Progress>,
    total: u64,
    stop: StopSignal,
) {
    let started = std::time::Instant::now();
    let tick = if bar.is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    loop {
        tokio::time::sleep(tick).await;
        if stop.is_set() && bar.is_some() {
            return;
        }
        let done = progress.done.load(Ordering::Relaxed);
        let accepted = progress.accepted.load(Ordering::Relaxed);
        let failed = progress.failed.load(Ordering::Relaxed);
        let retries = progress.retries.load(Ordering::Relaxed);
        let paused = progress
            .paused_until
            .lock()
            .ok()
            .and_then(|paused| paused.clone())
            .map(|until| format!(", paused outside the window until {until}"))
            .unwrap_or_default();
        if let Some(bar) = &bar {
            bar.set_position(done);
            bar.set_message(format!(
                "{} accepted, {} failed, {}{paused}",
                words::thousands(accepted),
                words::thousands(failed),
                words::count(retries, "retry", "retries")
            ));
        } else {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            let of = if total > 0 {
                format!("/{}", words::thousands(total))
            } else {
                String::new()
            };
            eprintln!(
                "progress: {}{of} rows done, {} accepted, {} failed, {}, {rate:.1} rows/s{paused}",
                words::thousands(done),
                words::thousands(accepted),
                words::thousands(failed),
                words::count(retries, "retry", "retries")
            );
        }
    }
}
