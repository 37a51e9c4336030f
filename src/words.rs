//! How values are named in messages, so every stage says the same thing.

use serde_json::Value;

/// A JSON value's kind in a template's terms: "text", "a mapping", "a list"...
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A stop signal as a person knows it.
pub fn signal_name(signal: crate::send::Signal) -> &'static str {
    match signal {
        crate::send::Signal::Interrupt => "Ctrl-C",
        crate::send::Signal::Terminate => "SIGTERM",
    }
}

/// A count and its noun: "1 failure", "3 failures".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
