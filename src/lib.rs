//! flowc: WhatsApp Flow messages for Kaleyra's WhatsApp API v2, from YAML templates.
//!
//! The pipeline, one module a stage: [`template`] (load YAML with spans) → [`render`]
//! (handlebars over string values) → [`compile`] (constants, normalisation) → [`validate`]
//! (the embedded JSON Schema), wired together in [`pipeline`]. [`data`] reads contact rows;
//! [`diagnostic`] turns errors into what a person reads, and `findings` counts those that
//! repeat; [`commands`] is the only layer that prints.

pub mod cli;
pub mod commands;
pub mod compile;
pub mod data;
pub mod diagnostic;
pub(crate) mod findings;
pub mod pipeline;
pub mod preview;
pub mod render;
pub mod send;
pub mod snapshot;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod words;
pub mod yaml;
