//! The event store's one owner: its backends, the callbacks the receiver stores and the events
//! `send` and `report` read back.

pub(crate) mod postgres;
