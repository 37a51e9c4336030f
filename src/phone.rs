//! Phone numbers as flowc reads them: a recipient's `to`, a line of an exclude list and a number
//! the provider's callbacks carry are one reading, so that they name one person alike. Visual
//! separators are removed; a number that is not E.164 is an error, never a guess, since Meta
//! would prefix the business number's country code and could reach the wrong person. The one
//! correction made is the trunk 0 written in brackets after a country code whose numbers drop it
//! abroad (`+44 (0)20 …`).

/// A `to` that flowc does not send to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("{}", phone_message(number, reason))]
    BadPhone { number: String, reason: PhoneProblem },
    #[error("`to` lists {number} twice: that person would get the message twice")]
    RepeatedRecipient { number: String },
    #[error("`to` lists {count} recipients; one row may list at most {max}", max = MAX_RECIPIENTS)]
    TooManyRecipients { count: usize },
}

impl PhoneError {
    pub(crate) fn help(&self) -> String {
        match self {
            PhoneError::BadPhone { number, reason } => phone_help(number, reason),
            PhoneError::RepeatedRecipient { .. } => "list each number once".to_owned(),
            PhoneError::TooManyRecipients { .. } => "give each contact a row of its own in the data file".to_owned(),
        }
    }

    /// The error without the number: the same words for every row that breaks the rule the
    /// same way, so that repeats can be counted together.
    pub(crate) fn gist(&self) -> String {
        match self {
            PhoneError::BadPhone { reason, .. } => format!("`to` {reason}"),
            PhoneError::RepeatedRecipient { .. } => {
                "`to` lists a number twice: that person would get the message twice".to_owned()
            }
            PhoneError::TooManyRecipients { .. } => format!("`to` lists more than {MAX_RECIPIENTS} recipients"),
        }
    }
}

/// Why a phone number is not one flowc sends to. Its `Display` is the short reason, after the
/// name of the field ("has no country code"); [`PhoneError`] says more for `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneProblem {
    Empty,
    Letters,
    NotDigits,
    /// 11 to 15 digits, not starting with 0: a country code and a number, most likely, without
    /// the `+` (a spreadsheet drops it when it takes the cell for a number).
    NoPlus {
        suggested: String,
    },
    /// `00`, the international prefix of most countries, where E.164 writes `+`.
    InternationalPrefix {
        suggested: String,
    },
    /// At most 10 digits, or a leading 0: a national number.
    NoCountryCode,
    ZeroCountryCode,
    Length,
    /// `9.19877E+11`: a spreadsheet took the cell for a number and shortened it.
    ScientificNotation {
        kept: usize,
        digits: usize,
    },
    /// `'+919876543210`: Excel's marker for text, kept by a program that does not hide it.
    Apostrophe,
    /// A 0 in brackets that flowc cannot drop for certain: after a country code whose numbers
    /// keep their 0 or whose numbering flowc does not know (`+39 (0)6…`), inside the number
    /// (`+91 98765 (0) 43210`), or an area code written with its trunk 0 (`+44 (020) …`).
    /// `suggested` is the number without the 0, when the country is known to drop it.
    BracketedZero {
        suggested: Option<String>,
    },
    /// `+44 020 …`: after a country code whose numbers drop their trunk 0 abroad, the national
    /// number starts with 0: the trunk prefix written by mistake (sent, it reaches nobody or a
    /// stranger). `suggested`: the number without it.
    TrunkZero {
        suggested: String,
    },
}

impl std::fmt::Display for PhoneProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PhoneProblem::Empty => "has an empty recipient",
            PhoneProblem::Letters => "contains letters",
            PhoneProblem::NotDigits => "contains characters that are not digits",
            PhoneProblem::NoPlus { .. } => "has no `+` before its country code",
            PhoneProblem::InternationalPrefix { .. } => "starts with 00 instead of `+`",
            PhoneProblem::NoCountryCode => "has no country code (E.164 numbers start with `+`)",
            PhoneProblem::ZeroCountryCode => "has a country code starting with 0",
            PhoneProblem::Length => "must have 2 to 15 digits after `+`",
            PhoneProblem::ScientificNotation { .. } => "is in scientific notation",
            PhoneProblem::Apostrophe => "starts with an apostrophe",
            PhoneProblem::BracketedZero { .. } => "has a 0 in brackets",
            PhoneProblem::TrunkZero { .. } => "has the trunk prefix 0 after its country code",
        })
    }
}

/// What a bad `to` is told: what to write instead when flowc can tell.
fn phone_message(number: &str, problem: &PhoneProblem) -> String {
    match problem {
        PhoneProblem::NoPlus { suggested } => format!("`to` has no `+`: write {suggested}"),
        PhoneProblem::InternationalPrefix { suggested } => {
            format!("`to` starts with the international prefix 00: write {suggested}")
        }
        PhoneProblem::ScientificNotation { .. } => format!(
            "`to` `{number}`: the spreadsheet turned this number into scientific notation: format the column as text and export again"
        ),
        PhoneProblem::Apostrophe => {
            format!("`to` `{number}`: a leading apostrophe ' is Excel's text marker; remove it")
        }
        PhoneProblem::BracketedZero {
            suggested: Some(suggested),
        } => format!("`to` `{number}` has the trunk prefix 0 in brackets, dialled only inside the country: write {suggested}"),
        PhoneProblem::BracketedZero { suggested: None } => {
            format!("`to` `{number}` has a 0 in brackets that may or may not belong to the number")
        }
        PhoneProblem::TrunkZero { suggested } => format!(
            "`to` `{number}` has the trunk prefix 0 after its country code, dialled only inside the country: write {suggested}"
        ),
        other => format!("`to` {other}: `{number}`"),
    }
}

const E164: &str = "write numbers in E.164: `+`, the country code, then the number, e.g. +919876543210";

fn phone_help(number: &str, problem: &PhoneProblem) -> String {
    match problem {
        PhoneProblem::NoPlus { .. } => format!(
            "flowc does not add the `+` itself: check that `{number}` starts with the country code ({E164})"
        ),
        PhoneProblem::ScientificNotation { kept, digits } if kept < digits => format!(
            "this form shows only {kept} of the number's {digits} digits, and the file may hold no more: export the column again from the original data"
        ),
        PhoneProblem::ScientificNotation { .. } => {
            "or start each number with `+`, which no spreadsheet takes for a number".to_owned()
        }
        PhoneProblem::Apostrophe => {
            "Excel hides a leading ' and does not export it; the program that wrote this file kept it".to_owned()
        }
        PhoneProblem::BracketedZero { .. } => {
            "write the number as it is dialled from abroad, without brackets: flowc never guesses which number was meant".to_owned()
        }
        PhoneProblem::TrunkZero { .. } => {
            "abroad, the country's trunk prefix 0 is left out: flowc never sends to a number it had to guess".to_owned()
        }
        _ => E164.to_owned(),
    }
}

/// The most recipients one row's `to` may list. The provider documents comma-separated
/// recipients without a limit; a data row is a contact, so more than this is a list pasted into
/// one cell, and one bad cell must not fan out into thousands of messages.
pub(crate) const MAX_RECIPIENTS: usize = 100;

/// What every `to` that [`normalise_recipients`] gives matches, by construction: each number is
/// `+`, a first digit that is not 0 and 2 to 15 digits in all ([`normalise_number`]), joined by
/// commas. A check of `to` against exactly this pattern can be left out after normalising.
pub(crate) const RECIPIENTS_PATTERN: &str = r"^\+[1-9][0-9]{1,14}(,\+[1-9][0-9]{1,14})*$";

/// Removes visual separators from each comma-separated recipient and checks it is E.164.
/// The same number twice in one `to` would be two messages to one person: refused.
pub(crate) fn normalise_recipients(field: &str) -> Result<String, PhoneError> {
    // A decimal comma (`9,19877E+11`) is not a list of two recipients.
    let trimmed = field.trim();
    if let Some((kept, digits)) = scientific_notation(trimmed) {
        return Err(PhoneError::BadPhone {
            number: trimmed.to_owned(),
            reason: PhoneProblem::ScientificNotation { kept, digits },
        });
    }
    // One recipient, the usual case: its number is the whole `to`.
    if !field.bytes().any(|byte| byte == b',') {
        return normalise_number(field);
    }
    let mut out = String::with_capacity(field.len());
    for (index, recipient) in field.split(',').enumerate() {
        if index >= MAX_RECIPIENTS {
            return Err(PhoneError::TooManyRecipients {
                count: field.split(',').count(),
            });
        }
        let number = normalise_number(recipient)?;
        // The numbers so far are in `out`, at most 99 of them: looked through there rather
        // than hashed into a set, which every row of one recipient would pay for.
        if index > 0 {
            if out.split(',').any(|earlier| earlier == number) {
                return Err(PhoneError::RepeatedRecipient { number });
            }
            out.push(',');
        }
        out.push_str(&number);
    }
    Ok(out)
}

pub(crate) fn normalise_number(recipient: &str) -> Result<String, PhoneError> {
    let trimmed = recipient.trim();
    let bad = |reason| PhoneError::BadPhone {
        number: trimmed.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(bad(PhoneProblem::Empty));
    }
    if trimmed.starts_with('\'') {
        return Err(bad(PhoneProblem::Apostrophe));
    }
    if let Some((kept, digits)) = scientific_notation(trimmed) {
        return Err(bad(PhoneProblem::ScientificNotation { kept, digits }));
    }
    if let Some(digits) = plain_e164(trimmed) {
        return Ok(digits);
    }
    let without_trunk = drop_trunk_zero(trimmed).map_err(bad)?;
    let mut digits = String::with_capacity(trimmed.len());
    for (index, c) in without_trunk.chars().enumerate() {
        match c {
            '+' if index == 0 => digits.push('+'),
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            c if c.is_alphabetic() => return Err(bad(PhoneProblem::Letters)),
            _ => return Err(bad(PhoneProblem::NotDigits)),
        }
    }
    let Some(national) = digits.strip_prefix('+') else {
        return Err(bad(without_plus(&digits)));
    };
    if national.starts_with('0') {
        return Err(bad(PhoneProblem::ZeroCountryCode));
    }
    if !(2..=15).contains(&national.len()) {
        return Err(bad(PhoneProblem::Length));
    }
    if let Some(suggested) = trunk_zero_suggestion(national) {
        return Err(bad(PhoneProblem::TrunkZero { suggested }));
    }
    Ok(digits)
}

/// The usual number, `+` then digits, spaces, hyphens and dots only, read in one pass: what
/// [`normalise_number`] would give it, or `None` when it needs the full reading (brackets,
/// other characters, or a rule it breaks, which the full reading names).
fn plain_e164(trimmed: &str) -> Option<String> {
    let rest = trimmed.strip_prefix('+')?;
    let mut digits = String::with_capacity(trimmed.len());
    digits.push('+');
    for byte in rest.bytes() {
        match byte {
            b'0'..=b'9' => digits.push(char::from(byte)),
            b' ' | b'-' | b'.' => {}
            _ => return None,
        }
    }
    let national = &digits[1..];
    let fits =
        !national.starts_with('0') && (2..=15).contains(&national.len()) && trunk_zero_suggestion(national).is_none();
    fits.then_some(digits)
}

/// For a national number whose country code drops the trunk 0 abroad, followed by a 0: the
/// number without it.
fn trunk_zero_suggestion(national: &str) -> Option<String> {
    // Every code of the list has 2 or 3 digits: a number with no 0 after either cannot match.
    let bytes = national.as_bytes();
    if bytes.get(2) != Some(&b'0') && bytes.get(3) != Some(&b'0') {
        return None;
    }
    // Country codes are prefix-free: at most one of the list begins the number.
    let code = TRUNK_ZERO.iter().find(|code| national.starts_with(**code))?;
    let rest = &national[code.len()..];
    rest.starts_with('0')
        .then(|| format!("+{code}{}", rest.trim_start_matches('0')))
}

/// Country codes whose national numbers start with the trunk prefix 0, dropped when dialled
/// from abroad: `+44 (0)20 7946 0958` is +44 20 7946 0958. From the ITU-T's national numbering
/// plans (<https://www.itu.int/oth/T0202>); a country not listed (Italy keeps its 0:
/// +39 06…; the US has no trunk 0) has its bracketed 0 refused, never guessed.
const TRUNK_ZERO: &[&str] = &[
    "20", "27", "31", "32", "33", "40", "41", "43", "44", "46", "49", "51", "54", "55", "58", "60", "61", "62", "63",
    "64", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "98", "212", "213", "233", "234", "251", "254",
    "255", "256", "353", "358", "359", "380", "381", "385", "386", "387", "389", "593", "880", "886", "961", "962",
    "963", "964", "966", "971", "972", "977",
];

/// The number without a bracketed trunk prefix (`+44 (0)20…` → `+44 20…`); an error for a 0 in
/// brackets that is not certainly one. Only an international number (`+` or `00`) is looked
/// at: a national one is refused later for its missing country code.
fn drop_trunk_zero(number: &str) -> Result<std::borrow::Cow<'_, str>, PhoneProblem> {
    let prefix = if number.starts_with('+') {
        1
    } else if number.starts_with("00") {
        2
    } else {
        return Ok(std::borrow::Cow::Borrowed(number));
    };
    let digits_of = |text: &str| text.chars().filter(char::is_ascii_digit).collect::<String>();
    let mut result = std::borrow::Cow::Borrowed(number);
    let mut searched = prefix;
    let mut dropped_one = false;
    while let Some(open) = result[searched..].find('(').map(|at| at + searched) {
        let Some(close) = result[open..].find(')').map(|at| at + open) else {
            break;
        };
        // `((0))`: brackets in brackets, read as what they hold, and refused below.
        let inside: String = result[open + 1..close]
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '(')
            .collect();
        let nested = result[open + 1..close].contains('(');
        searched = close + 1;
        if !inside.starts_with('0') {
            continue;
        }
        let before: String = result[prefix..open]
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
            .collect();
        let known = before.bytes().all(|b| b.is_ascii_digit()) && TRUNK_ZERO.contains(&before.as_str());
        // One trunk 0 is dropped; `(0)(0)` or `((0))` is refused, naming the number.
        if known && inside == "0" && !nested && !dropped_one {
            dropped_one = true;
            let mut dropped = result.into_owned();
            dropped.replace_range(open..=close, " ");
            searched = open + 1;
            result = std::borrow::Cow::Owned(dropped);
            continue;
        }
        let suggested = known.then(|| {
            let rest = format!("{}{}", digits_of(&inside[1..]), digits_of(&result[close + 1..]));
            format!("+{before}{}", rest.trim_start_matches('0'))
        });
        return Err(PhoneProblem::BracketedZero { suggested });
    }
    Ok(result)
}

/// How a number written without `+` is read by [`number_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// An exclude list: 11 to 15 digits not starting with 0 are a country code and a number
    /// (reading them so excludes, the safe side); fewer are refused as national numbers.
    Exclude,
    /// The event store: the provider writes every number internationally, without `+`.
    Provider,
}

/// A number as an integer (the digits after `+`), read as [`normalise_number`] reads `to`, so
/// that `to`, an exclude list and an opt-out name one person alike; `true` when it was written
/// without `+` and read as international.
pub(crate) fn number_key(text: &str, reading: Reading) -> Result<(u64, bool), PhoneError> {
    // What flowc and the provider write themselves (`+919876543210`, `919876543210`), read
    // without the full rules: the report reads a number for every row of a journal.
    let (plain, without_plus) = match text.strip_prefix('+') {
        Some(digits) => (digits, false),
        None => (text, true),
    };
    if (2..=15).contains(&plain.len())
        && !plain.starts_with('0')
        && plain.bytes().all(|b| b.is_ascii_digit())
        && (!without_plus || reading == Reading::Provider || plain.len() >= 11)
    {
        if let Ok(value) = plain.parse::<u64>() {
            return Ok((value, without_plus));
        }
    }
    let key = |e164: &str| e164.strip_prefix('+').and_then(|digits| digits.parse::<u64>().ok());
    let bare = |text: &str| {
        let digits = text.trim();
        (!digits.is_empty() && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("+{digits}"))
    };
    let (e164, without_plus) = match normalise_number(text) {
        Ok(e164) => (e164, false),
        Err(PhoneError::BadPhone {
            reason: PhoneProblem::NoPlus { suggested },
            ..
        }) => (suggested, true),
        Err(error) => match bare(text).filter(|_| reading == Reading::Provider) {
            Some(e164) => (normalise_number(&e164).map_err(|_| error)?, true),
            None => return Err(error),
        },
    };
    match key(&e164) {
        Some(value) => Ok((value, without_plus)),
        None => Err(PhoneError::BadPhone {
            number: text.trim().to_owned(),
            reason: PhoneProblem::Length,
        }),
    }
}

/// What digits written without `+` most likely are. E.164 numbers have at most 15 digits,
/// country code included, and national numbers at most 10 in the countries with the most
/// WhatsApp users (India, Brazil, Indonesia, the US, Mexico): 11 to 15 digits not starting with
/// 0 are a country code and a number, fewer are a national number. The rule only chooses the
/// message: a number without `+` is refused either way, never completed.
fn without_plus(digits: &str) -> PhoneProblem {
    let international = |rest: &str| (11..=15).contains(&rest.len()) && !rest.starts_with('0');
    match digits.strip_prefix("00") {
        Some(rest) if international(rest) => PhoneProblem::InternationalPrefix {
            suggested: format!("+{rest}"),
        },
        _ if international(digits) => PhoneProblem::NoPlus {
            suggested: format!("+{digits}"),
        },
        _ => PhoneProblem::NoCountryCode,
    }
}

/// `9.19877E+11` (a decimal point or comma, as the spreadsheet's language writes it): how many
/// digits the form kept, and how many the number has.
fn scientific_notation(text: &str) -> Option<(usize, usize)> {
    // The form starts with a digit: a number written with `+` is not searched for an `E`.
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || exponent.is_empty() || !all_digits(whole) || !all_digits(fraction) || !all_digits(exponent) {
        return None;
    }
    let kept = whole.len() + fraction.len();
    // An exponent past any real number's length is still this form, never an overflow.
    let digits = whole
        .len()
        .saturating_add(exponent.parse::<usize>().unwrap_or(usize::MAX));
    Some((kept, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_normalised_recipient_list_has_the_form_the_schema_asks_for() {
        let schema = serde_json::json!({"type": "string", "pattern": RECIPIENTS_PATTERN});
        let form = jsonschema::validator_for(&schema).expect("compiles");
        let numbers = [
            "+91 98765 43210",
            " +1 (415) 555-0100 ",
            "+44 (0)20 7946 0958",
            "+12",
            "+123456789012345",
            "+1234567890123456",
            "0044 20 7946 0958",
            "+49.30.1234567",
            "+91\u{a0}98765\u{a0}43210",
            "+0 123",
            "+1",
            "98765 43210",
            "+91 98765 43210,+1 415 555 0100",
            "+91 98765 43210,,+1 415 555 0100",
            "+91 98765 43210, +91 98765 43210",
            "+٩١ ٩٨٧٦٥",
            "+９１ ９８７６５ ４３２１０",
            "9,19877E+11",
        ];
        let mut normalised = 0;
        for number in numbers {
            if let Ok(to) = normalise_recipients(number) {
                normalised += 1;
                assert!(
                    form.is_valid(&serde_json::Value::String(to.clone())),
                    "{number:?} gave {to:?}"
                );
            }
        }
        assert!(normalised >= 7, "{normalised}");
    }
    #[test]
    fn a_bracketed_trunk_zero_is_dropped_only_where_the_country_drops_it() {
        assert_eq!(normalise_number("+44 (0)20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(normalise_number("+91 (0) 98765 43210").as_deref(), Ok("+919876543210"));
        assert_eq!(normalise_number("+44(0)2079460958").as_deref(), Ok("+442079460958"));
        let problem = |number: &str| match normalise_number(number) {
            Err(PhoneError::BadPhone { reason, .. }) => reason,
            other => panic!("{number}: {other:?}"),
        };
        // Italy keeps its 0; the US has no trunk 0; a 0 inside the number is not a prefix.
        for number in [
            "+39 (0)6 1234 5678",
            "+1 (0) 415 555 0100",
            "+91 98765 (0) 43210",
            "+44 (0)20 (0)7946",
        ] {
            assert_eq!(
                problem(number),
                PhoneProblem::BracketedZero { suggested: None },
                "{number}"
            );
        }
        assert_eq!(
            problem("+44 (020) 7946 0958"),
            PhoneProblem::BracketedZero {
                suggested: Some("+442079460958".to_owned())
            }
        );
    }

    #[test]
    fn a_trunk_zero_after_a_country_code_that_drops_it_is_refused_naming_the_number() {
        let problem = |number: &str| match normalise_number(number) {
            Err(PhoneError::BadPhone { reason, .. }) => reason,
            other => panic!("{number}: {other:?}"),
        };
        assert_eq!(
            problem("+44 020 7946 0000"),
            PhoneProblem::TrunkZero {
                suggested: "+442079460000".to_owned()
            }
        );
        for number in [
            "+44 ((0))20 7946 0000",
            "+44 (0)(0)20 7946 0000",
            "+44 (0) (0) 20 7946 0000",
        ] {
            assert_eq!(
                problem(number),
                PhoneProblem::BracketedZero {
                    suggested: Some("+442079460000".to_owned())
                },
                "{number}"
            );
        }
        // Italy keeps its 0, and a 0 later in the number is the number's.
        assert_eq!(normalise_number("+39 06 1234 5678").as_deref(), Ok("+390612345678"));
        assert_eq!(normalise_number("+44 20 7946 0000").as_deref(), Ok("+442079460000"));
    }

    #[test]
    fn exclude_lists_and_the_store_read_numbers_as_to_does() {
        assert_eq!(
            number_key("+44 (0)20 7946 0958", Reading::Exclude),
            Ok((442_079_460_958, false))
        );
        assert_eq!(
            number_key("919876543210", Reading::Exclude),
            Ok((919_876_543_210, true))
        );
        assert!(number_key("9876543210", Reading::Exclude).is_err(), "a national number");
        assert_eq!(number_key("4712345678", Reading::Provider), Ok((4_712_345_678, true)));
        assert!(number_key("", Reading::Provider).is_err());
        assert!(number_key("0123", Reading::Provider).is_err());
    }

    /// The one-pass reading of a plain `+` number leaves every rule it does not check itself
    /// (a 0 country code, the length, a trunk 0 after a 2- or 3-digit code, a second `+`)
    /// to the full reading, which names the problem.
    #[test]
    fn scientific_notation_with_a_huge_exponent_is_named_not_an_overflow() {
        match normalise_number("9E18446744073709551615") {
            Err(PhoneError::BadPhone {
                reason: PhoneProblem::ScientificNotation { kept: 1, .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(normalise_recipients("9,1E99999999999999999999999").is_err());
    }

    #[test]
    fn a_plain_number_read_in_one_pass_keeps_every_rule() {
        let problem = |number: &str| match normalise_number(number) {
            Err(PhoneError::BadPhone { reason, .. }) => reason,
            other => panic!("{number}: {other:?}"),
        };
        assert_eq!(normalise_number("+91 98765-43210.").as_deref(), Ok("+919876543210"));
        assert_eq!(normalise_number("+1 415 555 0100").as_deref(), Ok("+14155550100"));
        assert_eq!(normalise_number("+353 1 234 5678").as_deref(), Ok("+35312345678"));
        assert_eq!(
            problem("+353 01 234 5678"),
            PhoneProblem::TrunkZero {
                suggested: "+35312345678".to_owned()
            }
        );
        assert_eq!(problem("+0 91 98765 43210"), PhoneProblem::ZeroCountryCode);
        assert_eq!(problem("+9"), PhoneProblem::Length);
        assert_eq!(problem("+91 98765 43210 12345"), PhoneProblem::Length);
        assert_eq!(problem("+91 +98765 43210"), PhoneProblem::NotDigits);
        assert_eq!(problem("+91 98765 4321O"), PhoneProblem::Letters);
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(normalise_recipients("+1 (415) 555.0100").as_deref(), Ok("+14155550100"));
        assert_eq!(
            normalise_recipients("+911234567890, +14155550100").as_deref(),
            Ok("+911234567890,+14155550100")
        );
        assert!(normalise_recipients("9876543210").is_err());
        assert!(normalise_recipients("+91 98765 ABCDE").is_err());
        assert!(normalise_recipients("+91,").is_err());
        assert!(normalise_recipients("+1234567890123456").is_err());
    }

    fn problem(field: &str) -> PhoneProblem {
        match normalise_recipients(field) {
            Err(PhoneError::BadPhone { reason, .. }) => reason,
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn a_number_without_plus_is_named_by_its_length() {
        let suggested = |number: &str| PhoneProblem::NoPlus {
            suggested: number.to_owned(),
        };
        assert_eq!(problem("919876543210"), suggested("+919876543210"));
        assert_eq!(problem("1 415 555 0100"), suggested("+14155550100"));
        assert_eq!(problem("123456789012345"), suggested("+123456789012345"));
        assert_eq!(
            problem("0091 98765 43210"),
            PhoneProblem::InternationalPrefix {
                suggested: "+919876543210".to_owned()
            }
        );
        for national in ["9876543210", "4155550100", "09876543210", "1234567890123456"] {
            assert_eq!(problem(national), PhoneProblem::NoCountryCode, "{national}");
        }
    }

    #[test]
    fn spreadsheet_forms_are_named() {
        assert_eq!(
            problem("9.19876543210E+11"),
            PhoneProblem::ScientificNotation { kept: 12, digits: 12 }
        );
        assert_eq!(
            problem("9,19877E+11"),
            PhoneProblem::ScientificNotation { kept: 6, digits: 12 }
        );
        assert_eq!(problem("'+919876543210"), PhoneProblem::Apostrophe);
        assert_eq!(problem("+91 ABC"), PhoneProblem::Letters);
    }

    #[test]
    fn a_number_twice_or_a_pasted_list_is_refused() {
        assert_eq!(
            normalise_recipients("+91 98765 43210, +919876543210"),
            Err(PhoneError::RepeatedRecipient {
                number: "+919876543210".to_owned()
            })
        );
        let many: Vec<String> = (0..1_000).map(|n| format!("+1415555{n:04}")).collect();
        assert_eq!(
            normalise_recipients(&many.join(",")),
            Err(PhoneError::TooManyRecipients { count: 1_000 })
        );
        let allowed: Vec<String> = (0..MAX_RECIPIENTS).map(|n| format!("+1415555{n:04}")).collect();
        assert!(normalise_recipients(&allowed.join(",")).is_ok());
    }
}
