//! Which message reaches each person (`send --outside-window TEMPLATE --events STORE`): an
//! interactive Flow message is delivered only inside the 24-hour customer-service window (the
//! person wrote to the business in the last 24 hours; outside it Meta fails it with 131047),
//! while an approved template reaches anyone. The store `flowc receive` writes holds every
//! incoming message with its time; the campaign reads them once, then only the new ones right
//! before each request, so a person who writes during the run gets the Flow.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::events::{EventsError, IncomingReader, StoreLocation};
use crate::template::MessageKind;

/// How long the window stays open after a person writes (seconds).
pub(crate) const WINDOW_SECONDS: i64 = 24 * 60 * 60;

/// The name of a message kind in the journal, the report and the plan.
pub(crate) fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Flow => "flow",
        MessageKind::Template => "template",
    }
}

/// When each number last wrote, kept up to date from the store.
#[derive(Debug)]
pub(crate) struct Window {
    state: Mutex<(IncomingReader, HashMap<u64, i64>)>,
    /// The window counts as open only while at least this long is left of it (seconds).
    margin: i64,
}

impl Window {
    /// Reads every incoming message of the store once (streamed), keeping each number's latest
    /// that is still inside its 24 hours: memory holds the people who wrote in the last day,
    /// not everyone who ever wrote (a window closed at the start cannot open again without a
    /// new message, which the next look reads).
    pub(crate) fn open(location: &StoreLocation, margin_seconds: i64) -> Result<Window, EventsError> {
        let mut reader = IncomingReader::open(location)?;
        let mut last = HashMap::new();
        let since = jiff::Timestamp::now().as_second().saturating_sub(WINDOW_SECONDS);
        reader.last_incoming(|number, time| keep_latest(&mut last, number, time, since))?;
        Ok(Window {
            state: Mutex::new((reader, last)),
            margin: margin_seconds.max(0),
        })
    }

    /// Whether every recipient's window is open at `now` (Unix seconds) with `margin` seconds
    /// to spare, as of the last look at the store.
    pub(crate) fn is_open(&self, recipients: &[u64], now: i64, margin: i64) -> bool {
        match self.state.lock() {
            Ok(state) => open_for(&state.1, recipients, now, margin),
            Err(_) => false,
        }
    }

    /// The margin the campaign was given (`--window-margin`), in seconds.
    pub(crate) fn margin(&self) -> i64 {
        self.margin
    }

    /// Reads what the store gained since the last look, then says which message reaches the
    /// recipients now: the Flow while each one's window is open for longer than the margin,
    /// else the template.
    pub(crate) fn message_now(&self, recipients: &[u64]) -> Result<MessageKind, EventsError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| EventsError::Failed("the window's lock was poisoned".to_owned()))?;
        let (reader, last) = &mut *state;
        let now = jiff::Timestamp::now().as_second();
        let since = now.saturating_sub(WINDOW_SECONDS);
        reader.last_incoming(|number, time| keep_latest(last, number, time, since))?;
        Ok(if open_for(last, recipients, now, self.margin) {
            MessageKind::Flow
        } else {
            MessageKind::Template
        })
    }
}

/// Keeps `time` as the number's latest unless its window had closed by `since`.
fn keep_latest(last: &mut HashMap<u64, i64>, number: u64, time: i64, since: i64) {
    if time <= since {
        return;
    }
    let entry = last.entry(number).or_insert(time);
    *entry = (*entry).max(time);
}

/// Whether each recipient wrote less than 24 hours minus `margin` before `now`.
fn open_for(last: &HashMap<u64, i64>, recipients: &[u64], now: i64, margin: i64) -> bool {
    !recipients.is_empty()
        && recipients.iter().all(|number| {
            last.get(number)
                .is_some_and(|written| now.saturating_sub(*written) < WINDOW_SECONDS - margin)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_closes_a_margin_before_its_24_hours() {
        let now = 1_000_000;
        let last: HashMap<u64, i64> = [(1, now - 22 * 3600), (2, now - 23 * 3600 - 1800), (3, now - 25 * 3600)]
            .into_iter()
            .collect();
        assert!(open_for(&last, &[1], now, 3600));
        assert!(
            !open_for(&last, &[2], now, 3600),
            "23.5 hours ago, with an hour's margin"
        );
        assert!(open_for(&last, &[2], now, 0));
        assert!(!open_for(&last, &[3], now, 0));
        assert!(!open_for(&last, &[4], now, 0), "never wrote");
        assert!(
            !open_for(&last, &[1, 3], now, 0),
            "every recipient's window must be open"
        );
        assert!(!open_for(&last, &[], now, 0));
    }

    #[test]
    fn only_messages_inside_their_24_hours_are_kept() {
        let now = 1_000_000;
        let since = now - WINDOW_SECONDS;
        let mut last = HashMap::new();
        keep_latest(&mut last, 1, since - 10, since);
        keep_latest(&mut last, 2, since + 10, since);
        keep_latest(&mut last, 2, since - 10, since);
        keep_latest(&mut last, 3, now - 60, since);
        keep_latest(&mut last, 3, now - 120, since);
        assert_eq!(last.get(&1), None, "closed before the run: not held");
        assert_eq!(last.get(&2), Some(&(since + 10)));
        assert_eq!(last.get(&3), Some(&(now - 60)), "the latest wins");
    }
}
