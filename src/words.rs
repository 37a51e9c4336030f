//! How values are named in messages, so every stage says the same thing.

use serde_json::Value;

/// The kinds of value a template, a data file, the schema and a Flow hold, named one way
/// everywhere: a person writing YAML, CSV or JSON reads "text" and "a mapping" in every message,
/// never "a string" in one and "an object" in the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Number,
    /// A number without a fraction (JSON Schema's `integer`).
    WholeNumber,
    TrueFalse,
    List,
    Mapping,
    /// JSON's `null`, YAML's empty value or `~`.
    Nothing,
}

impl ValueKind {
    /// The kind of a JSON value.
    pub fn of(value: &Value) -> ValueKind {
        match value {
            Value::Null => ValueKind::Nothing,
            Value::Bool(_) => ValueKind::TrueFalse,
            Value::Number(_) => ValueKind::Number,
            Value::String(_) => ValueKind::Text,
            Value::Array(_) => ValueKind::List,
            Value::Object(_) => ValueKind::Mapping,
        }
    }

    /// The kind a JSON Schema type name stands for (as the schema and a Flow declare data).
    pub(crate) fn of_schema_type(name: &str) -> ValueKind {
        match name {
            "string" => ValueKind::Text,
            "number" => ValueKind::Number,
            "integer" => ValueKind::WholeNumber,
            "boolean" => ValueKind::TrueFalse,
            "array" => ValueKind::List,
            "object" => ValueKind::Mapping,
            _ => ValueKind::Nothing,
        }
    }

    /// How messages name it, expected or found: "must be text, found a list".
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Number => "a number",
            ValueKind::WholeNumber => "a whole number",
            ValueKind::TrueFalse => "true or false",
            ValueKind::List => "a list",
            ValueKind::Mapping => "a mapping",
            ValueKind::Nothing => "nothing",
        }
    }
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A JSON value's kind as messages name it ([`ValueKind::name`]).
pub(crate) fn kind(value: &Value) -> &'static str {
    ValueKind::of(value).name()
}

/// A stop signal as a person knows it.
pub(crate) fn signal_name(signal: crate::signal::Signal) -> &'static str {
    match signal {
        crate::signal::Signal::Interrupt => "Ctrl-C",
        crate::signal::Signal::Terminate => "SIGTERM",
    }
}

/// An estimate of a duration in whole seconds: "under a second", "about 45s", "about 3m 19s",
/// "about 2h 05m".
pub(crate) fn about_duration(seconds: u64) -> String {
    match seconds {
        0 => "under a second".to_owned(),
        1..=59 => format!("about {seconds}s"),
        60..=3599 => format!("about {}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("about {}h {:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// A size in bytes as a person reads it: "10 MiB", "64 KiB", "1.5 MiB", "300 bytes".
pub(crate) fn size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let scaled = |unit: u64, name: &str| {
        if bytes % unit == 0 {
            format!("{} {name}", bytes / unit)
        } else {
            format!("{:.1} {name}", bytes as f64 / unit as f64)
        }
    };
    if bytes >= GIB {
        scaled(GIB, "GiB")
    } else if bytes >= MIB {
        scaled(MIB, "MiB")
    } else if bytes >= KIB {
        scaled(KIB, "KiB")
    } else {
        format!("{bytes} bytes")
    }
}

/// `text` whole if it has at most `max` characters, else its start and its end around `...`:
/// a message that quotes a value stays readable (and small) however long the value.
pub(crate) fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max || text.chars().count() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let tail = max / 4;
    let head = max.saturating_sub(tail + 3);
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(byte, _)| byte);
    let tail_start = text
        .char_indices()
        .rev()
        .nth(tail.saturating_sub(1))
        .map_or(0, |(byte, _)| byte);
    let tail_start = if tail == 0 { text.len() } else { tail_start };
    std::borrow::Cow::Owned(format!("{}...{}", &text[..head_end], &text[tail_start..]))
}

/// `text` with control characters (a NUL, an escape sequence that would clear the screen) shown
/// as `?`, so that a value quoted in a message cannot act on the terminal, and invisible ones (a
/// zero-width space, a bidirectional mark, a byte-order mark) as their code (`\u{200b}`), so that
/// a reader sees why a value that looks right is refused; line breaks and tabs stay.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let is_control = |c: char| c.is_control() && c != '\n' && c != '\t';
    let is_invisible = |c: char| matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}');
    if !text.contains(|c| is_control(c) || is_invisible(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            shown.push('?');
        } else if is_invisible(c) {
            shown.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// A moment (Unix seconds) as RFC 3339 in UTC (`2026-01-01T09:30:00Z`); a moment outside the
/// calendar's years 1 to 9999 (a callback's garbled timestamp) says so with its number, never
/// an empty cell that would read as "did not happen".
pub(crate) fn utc_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(
        |_| format!("out of range (Unix time {seconds})"),
        |time| time.to_string(),
    )
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

/// Which of two forms goes with `n`: the one place that tells one from many, for a noun or for
/// the word that agrees with it ("is"/"are", "it"/"they"). Both forms are given, so irregular
/// plurals ("person"/"people", "reply"/"replies") read right.
pub(crate) fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A count and its noun, as a person writes it: "1 row", "1,000 rows", "1 person", "3 people".
/// Every count in a message goes through here, so each has its thousands separated.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), plural(n, one, many))
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

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(10 << 20), "10 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(300), "300 bytes");
        assert_eq!(size(3 << 19), "1.5 MiB");
    }

    #[test]
    fn clip_keeps_short_text_and_both_ends_of_long_text() {
        assert_eq!(clip("short", 10), "short");
        let long = format!("start{}end", "é".repeat(1000));
        let clipped = clip(&long, 20);
        assert!(clipped.starts_with("startéé") && clipped.ends_with("éend") && clipped.contains("..."));
        assert_eq!(clipped.chars().count(), 20);
    }

    #[test]
    fn printable_hides_control_characters_but_not_line_breaks() {
        assert_eq!(printable("a\0b\x1b[2J\u{9b}c\n\td"), "a?b?[2J?c\n\td");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(25_000_000), "25,000,000");
        assert_eq!(count(1, "row", "rows"), "1 row");
        assert_eq!(count(1_000, "row", "rows"), "1,000 rows");
        assert_eq!(count(0, "row", "rows"), "0 rows");
    }

    #[test]
    fn counts_take_the_plural_they_are_given() {
        assert_eq!(count(1, "person", "people"), "1 person");
        assert_eq!(count(2, "person", "people"), "2 people");
        assert_eq!(count(9_998, "number", "numbers"), "9,998 numbers");
        assert_eq!(plural(1, "is", "are"), "is");
        assert_eq!(plural(3, "is", "are"), "are");
    }
}
