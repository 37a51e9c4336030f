//! flowc's behaviour, driven through the built binary as a user runs it.

mod bad_input;
mod check;
mod data;
mod flow;
mod guardrails;
mod hostile;
mod preview;
mod provider;
mod render;
mod send;
mod send_safety;
mod snapshots;
mod support;
mod team;
