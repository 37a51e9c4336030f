//! flowc's behaviour, driven through the built binary as a user runs it.

mod cases;
mod check;
mod data;
mod events;
mod flow;
mod guardrails;
mod hostile;
mod meta_codes;
mod one_pass;
mod outputs;
mod postgres_store;
mod preview;
mod receive;
mod render;
mod report;
mod send;
mod send_resume;
mod send_safety;
mod snapshots;
mod spreadsheet;
mod support;
mod team;
mod trial;
