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

/// An estimate of a duration in whole seconds: "under a second", "about 45s", "about 3m 19s",
/// "about 2h 05m".
pub fn about_duration(seconds: u64) -> String {
    match seconds {
        0 => "under a second".to_owned(),
        1..=59 => format!("about {seconds}s"),
        60..=3599 => format!("about {}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("about {}h {:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(about_duration(0), "under a second");
        assert_eq!(about_duration(45), "about 45s");
        assert_eq!(about_duration(199), "about 3m 19s");
        assert_eq!(about_duration(7500), "about 2h 05m");
    }
}
