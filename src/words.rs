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

/// A number with its thousands separated, as a person writes it: "1,000", "25,000,000".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A large count and its noun: "1 row", "1,000 rows".
pub(crate) fn tally(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(25_000_000), "25,000,000");
        assert_eq!(tally(1, "row", "rows"), "1 row");
        assert_eq!(tally(1_000, "row", "rows"), "1,000 rows");
    }
}
