//! The provider's callbacks matched to a campaign's rows: the event store `flowc receive` fills,
//! read as a campaign reads it, and which callback is about which row. Here, under `send/`,
//! because both the sender (settling rows whose answer was lost) and `report` (what became of
//! each message) need the same matching, and the report already builds on the sender's journal.

pub(crate) mod reconcile;

use self::reconcile::Proof;
use crate::events::{EventReader, EventsError, StoreLocation};
use crate::send::journal::{Journal, JournalError, RowStatus};

/// What stops the callbacks from being matched: the journal or the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallbacksError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventsError),
}

/// Settles `unknown` rows by the status callbacks in `store` that carry their `--track` key or
/// one of their ids (the report's matching): accepted when they prove the provider has the
/// message, failed when the provider says it did not send it (see
/// [`reconcile::RowDelivery::proof`]). A Flow reply never settles a row (its `flow_token` is
/// the template's choice, shared or reused). Returns how many became accepted and how many
/// failed.
pub(crate) fn settle_unknown(journal: &mut Journal, store: &StoreLocation) -> Result<(u64, u64), CallbacksError> {
    if journal.unknown_rows()? == 0 {
        return Ok((0, 0));
    }
    let events = EventReader::open(store)?;
    let delivery = reconcile::reconcile::<CallbacksError>(journal, &events, |_| Ok(()))?;
    let mut accepted = Vec::new();
    let mut not_sent = Vec::new();
    for (row, state) in delivery.rows().filter(|(_, state)| state.sending == RowStatus::Unknown) {
        match state.proof() {
            Some(Proof::ProviderHasIt) => accepted.push(row),
            Some(Proof::NotSent) => not_sent.push((row, not_sent_note(delivery.failure(state)))),
            None => {}
        }
    }
    drop(delivery);
    drop(events);
    Ok(journal.settle_from_callbacks(&accepted, &not_sent)?)
}

/// Why the provider did not send a message, as its callback said (`WAV2101: daily limit
/// reached`), for the journal's `error` column; the report explains the code in words.
fn not_sent_note(failure: Option<&reconcile::Failure>) -> String {
    let code = failure.and_then(|failure| failure.code.as_deref()).unwrap_or_default();
    let text = failure.and_then(|failure| failure.text.as_deref()).unwrap_or_default();
    match (code, text) {
        ("", "") => "the provider did not send it (no reason given)".to_owned(),
        ("", text) => text.to_owned(),
        (code, "") => code.to_owned(),
        (code, text) => format!("{code}: {text}"),
    }
}
