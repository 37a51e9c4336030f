//! Why and how a campaign stops before its end: the first cause wins, and every task sees it.

use std::sync::Arc;

use tokio::sync::watch;

use crate::data::DataError;
use crate::send::journal::JournalError;
use crate::send::response::StopReason;
use crate::send::watch::EventsError;
use crate::signal::Signal;

/// Why a campaign stopped before its end.
#[derive(Debug, Clone)]
pub(crate) enum StopCause {
    Interrupted(Signal),
    /// The provider refused the account or the balance: every further row would fail alike.
    Refused {
        reason: StopReason,
        code: String,
        message: String,
    },
    /// A bug: a sending task or the row producer panicked. Its row, if it was in flight, is
    /// `unknown`; the others are as recorded.
    Internal(String),
    /// The journal could not record a row: nothing more is sent unrecorded.
    Journal(Arc<JournalError>),
    /// Outside the `--window` with `--exit-outside-window`: when it opens.
    OutsideWindow(String),
    /// Meta's spam rate limit (131048) came back in the event store.
    SpamLimit,
    /// Undeliverable (131026) or outside-the-window (131047) failures above `--max-failure-rate`.
    FailureBurst {
        percent: u32,
    },
    /// A row read for sending is not the one the pre-flight checked: the data file changed.
    DataChanged {
        row: u64,
    },
    /// The data file could not be read for sending after its pre-flight.
    Data(DataError),
    /// The event store (`--events`) could not be read right before a request.
    Events(Arc<EventsError>),
    /// A second signal ended the run at once, without waiting for the requests in flight.
    Quit(Signal),
}

/// Shared by every task: set once, seen by all.
#[derive(Clone)]
pub(crate) struct StopSignal {
    sender: Arc<watch::Sender<Option<StopCause>>>,
    /// A second signal: the run ends at once, without waiting for the requests in flight.
    quit: Arc<watch::Sender<Option<Signal>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            sender: Arc::new(watch::channel(None).0),
            quit: Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    /// Asks every task to stop; the first cause given is kept.
    pub(crate) fn request(&self, cause: StopCause) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(cause);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn cause(&self) -> Option<StopCause> {
        self.sender.borrow().clone()
    }

    pub(crate) fn is_set(&self) -> bool {
        self.sender.borrow().is_some()
    }

    /// Ends the run at once (a second Ctrl-C or SIGTERM): the requests in flight are dropped, and
    /// their rows, recorded as on their way, are `unknown` on the next run.
    pub(crate) fn quit(&self, signal: Signal) {
        self.quit.send_if_modified(|current| {
            let first = current.is_none();
            current.get_or_insert(signal);
            first
        });
    }

    /// The signal that ended the run at once, if one did.
    pub(crate) fn quit_by(&self) -> Option<Signal> {
        *self.quit.borrow()
    }

    /// Waits for [`StopSignal::quit`].
    pub(crate) async fn quitting(&self) {
        let mut receiver = self.quit.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }

    pub(crate) async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so this only ends when a cause is set.
        let _ = receiver.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn stop_keeps_the_first_cause() {
        let stop = StopSignal::default();
        assert!(!stop.is_set());
        stop.request(StopCause::Interrupted(Signal::Terminate));
        stop.request(StopCause::SpamLimit);
        assert!(matches!(stop.cause(), Some(StopCause::Interrupted(Signal::Terminate))));
    }
}
