//! flowc: WhatsApp Flow messages for Kaleyra's WhatsApp API v2, from YAML templates.
//!
//! The pipeline, one module a stage: [`template`] (load YAML with spans) → [`render`]
//! (handlebars over string values) → [`compile`] (constants, normalisation) → [`validate`]
//! (the embedded JSON Schema), wired together in [`pipeline`]. [`data`] reads contact rows;
//! [`input`] opens what a user names, within the [`limits`]; [`diagnostic`] turns errors into
//! what a person reads; [`commands`] is the only layer that
//! prints.

pub mod cli;
pub mod commands;
pub mod compile;
pub mod data;
pub mod diagnostic;
pub mod input;
pub mod limits;
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
