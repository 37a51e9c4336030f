//! The provider's callbacks matched to a campaign's rows: the event store `flowc receive` fills,
//! read as a campaign reads it, and which callback is about which row. Here, under `send/`,
//! because both the sender (settling rows whose answer was lost) and `report` (what became of
//! each message) need the same matching, and the report already builds on the sender's journal.

pub(crate) mod reconcile;
pub(crate) mod stored_events;
