//! The provider's callbacks matched to a campaign's rows: the event store `flowc receive` fills,
//! read as a campaign reads it, and which callback is about which row. Here, under `send/`,
//! because both the sender (settling rows whose answer was lost) and `report` (what became of
//! each message) need the same matching, and the report already builds on the sender's journal.

pub(crate) mod reconcile;
pub(crate) mod stored_events;

use std::path::Path;

use self::stored_events::{EventReader, EventsError};
use crate::send::journal::{Journal, JournalError, RowStatus};

/// What stops the callbacks from being matched: the journal or the store.
#[derive(Debug, thiserror::Error)]
pub enum CallbacksError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventsError),
}

/// Marks `unknown` rows accepted when a status callback in `store` carries their `--track` key
/// or one of their ids (the report's matching): the provider has their message. A Flow reply
/// never settles a row (its `flow_token` is the template's choice, shared or reused). Returns
/// how many rows were settled.
pub fn settle_unknown(journal: &mut Journal, store: &Path) -> Result<u64, CallbacksError> {
    if journal.unknown_rows()? == 0 {
        return Ok(0);
    }
    let events = EventReader::open(store)?;
    let delivery = reconcile::reconcile::<CallbacksError>(journal, &events, |_| Ok(()))?;
    let proven: Vec<u64> = delivery
        .rows()
        .filter(|(_, state)| state.sending == RowStatus::Unknown && state.provider_has_message())
        .map(|(row, _)| row)
        .collect();
    drop(delivery);
    drop(events);
    Ok(journal.settle_from_callbacks(&proven)?)
}
