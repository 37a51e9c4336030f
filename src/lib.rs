//! flowc: WhatsApp Flow messages for Kaleyra's WhatsApp API v2, from YAML templates.
//!
//! The pipeline, one module a stage: [`template`] (load YAML with spans) → [`render`]
//! (handlebars over string values) → [`compile`] (constants, normalisation) → [`validate`]
//! (the embedded JSON Schema), wired together in [`pipeline`]. [`data`] reads contact rows;
//! [`input`] opens what a user names, within the [`limits`]; [`diagnostic`] turns errors into
//! what a person reads, and `findings` counts those that repeat; [`commands`] is the only layer
//! that prints. After sending, `receive` stores the provider's callbacks in the event store (`events`,
//! its one owner) and `report` reconciles them with a campaign's journal.

pub(crate) mod approved;
pub mod cli;
pub mod commands;
pub(crate) mod compile;
pub(crate) mod csv_out;
pub mod data;
pub(crate) mod diagnostic;
pub(crate) mod events;
pub(crate) mod exit;
pub(crate) mod findings;
pub(crate) mod flow;
pub(crate) mod html;
pub(crate) mod input;
pub(crate) mod limits;
pub(crate) mod outputs;
pub(crate) mod phone;
pub mod pipeline;
pub(crate) mod preview;
pub(crate) mod pull;
pub(crate) mod receive;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod scaffold;
pub(crate) mod secret;
pub(crate) mod send;
pub(crate) mod signal;
pub(crate) mod snapshot;
pub(crate) mod suggest;
pub mod template;
pub(crate) mod validate;
pub(crate) mod words;
pub mod yaml;
