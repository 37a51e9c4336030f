//! A value that must never be shown, and the scrubbing that keeps it out of text.
//!
//! The provider's API key (sending) and the receiver's credential (receiving) are both a
//! [`Secret`]: its `Debug` and `Display` never show it, and [`Secret::scrub`] removes it from any
//! text (a server's error body, say) before that text is shown or stored. A server may echo the
//! key encoded (`\u0053ECRET` in JSON, `%53ECRET`, `&#83;ECRET`, base64, hex): replacing the
//! plain bytes is not enough, so text that still carries the key after decoding is withheld
//! whole. Sender and receiver both import it from here, so neither depends on the other.

use std::fmt;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The text with every plain occurrence of the secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }

    /// The text safe to show or store: plain occurrences replaced by `***`, and the whole text
    /// replaced by [`WITHHELD`] when it still carries the secret in another form.
    pub fn scrub(&self, text: &str) -> String {
        let redacted = self.redact(text);
        if self.appears_in(&redacted) {
            WITHHELD.to_owned()
        } else {
            redacted
        }
    }

    /// Whether the text carries the secret: plainly, in another letter case, after decoding
    /// JSON, URL, HTML or backslash escapes (nested up to three times), or base64- or
    /// hex-encoded.
    pub fn appears_in(&self, text: &str) -> bool {
        self.carried_by(text, true)
    }

    /// As [`Secret::appears_in`], but for the whole secret only, never a long piece of it: a
    /// receiver's credential is compared with what strangers' messages hold, where a fragment
    /// (`booking-` of `booking-confirmed`) is ordinary text.
    pub fn appears_whole_in(&self, text: &str) -> bool {
        self.carried_by(text, false)
    }

    fn carried_by(&self, text: &str, fragments: bool) -> bool {
        let secret = self.0.as_str();
        if secret.is_empty() {
            return false;
        }
        let lower = secret.to_lowercase();
        let mut forms = vec![text.to_owned()];
        // Nested encodings (URL-encoded four times, say) are peeled up to five layers deep.
        for _ in 0..5 {
            let Some(last) = forms.last() else { break };
            let decoded = decode_escapes(last);
            if decoded == *last {
                break;
            }
            forms.push(decoded);
        }
        if forms
            .iter()
            .any(|form| form.contains(secret) || form.to_lowercase().contains(&lower))
        {
            return true;
        }
        // A long piece of the key is as good as the key, and invisible or look-alike characters
        // (a zero-width space, fullwidth letters) must not hide it from a reader's eye or a grep.
        let folded_secret: Vec<char> = fold(secret).chars().collect();
        let window = if fragments {
            (folded_secret.len() / 2).max(8)
        } else {
            folded_secret.len().max(1)
        };
        if folded_secret.len() >= window {
            let pieces: Vec<String> = folded_secret
                .windows(window)
                .map(|piece| piece.iter().collect())
                .collect();
            if forms
                .iter()
                .map(|form| fold(form))
                .any(|form| pieces.iter().any(|piece| form.contains(piece.as_str())))
            {
                return true;
            }
        }
        // Encoded, then escaped (`\/` in JSON, `%2F` in a query): each decoded form is searched.
        let encoded = encoded_forms(secret.as_bytes());
        let hex = HexFinder::new(secret.as_bytes());
        forms.iter().any(|form| {
            let compact: String = form.chars().filter(|c| !c.is_whitespace()).collect();
            encoded.iter().any(|encoded| compact.contains(encoded.as_str())) || hex.found_in(form.as_bytes())
        })
    }
}

/// Text as a reader sees it: invisible characters (format and control characters, soft
/// hyphens) removed, fullwidth forms as ASCII, lower case.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !(c.is_control()
                || matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'))
        })
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// What replaces a server-provided text that carried the API key.
pub(crate) const WITHHELD: &str = "(withheld: the server's text contained the API key)";

/// One round of decoding: JSON and C-style backslash escapes, URL percent-escapes, HTML
/// character references.
fn decode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let hex = |digits: &[char]| -> Option<u32> {
        if !digits.iter().all(char::is_ascii_hexdigit) {
            return None;
        }
        let text: String = digits.iter().collect();
        u32::from_str_radix(&text, 16).ok()
    };
    let mut pending_bytes: Vec<u8> = Vec::new();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        if !bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // `%XX` (URL) and `\xXX` are bytes, gathered so that a UTF-8 sequence decodes whole.
        if c == '%' && i + 2 < chars.len() {
            if let Some(byte) = hex(&chars[i + 1..i + 3]) {
                pending_bytes.push(byte as u8);
                i += 3;
                continue;
            }
        }
        if c == '\\' && i + 3 < chars.len() && chars[i + 1] == 'x' {
            if let Some(byte) = hex(&chars[i + 2..i + 4]) {
                pending_bytes.push(byte as u8);
                i += 4;
                continue;
            }
        }
        flush(&mut pending_bytes, &mut out);
        if c == '\\' && i + 5 < chars.len() && chars[i + 1] == 'u' {
            if let Some(decoded) = hex(&chars[i + 2..i + 6]).and_then(char::from_u32) {
                out.push(decoded);
                i += 6;
                continue;
            }
        }
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            let simple = match next {
                'n' => Some('\n'),
                't' => Some('\t'),
                'r' => Some('\r'),
                '/' | '\\' | '"' | '\'' => Some(next),
                _ => None,
            };
            if let Some(simple) = simple {
                out.push(simple);
                i += 2;
                continue;
            }
        }
        if c == '&' {
            if let Some(end) = chars[i..].iter().take(12).position(|&c| c == ';') {
                let entity: String = chars[i + 1..i + end].iter().collect();
                let decoded = match entity.as_str() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => entity
                        .strip_prefix("#x")
                        .or_else(|| entity.strip_prefix("#X"))
                        .filter(|digits| digits.chars().all(|c| c.is_ascii_hexdigit()))
                        .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                        .or_else(|| {
                            entity
                                .strip_prefix('#')
                                .filter(|digits| digits.chars().all(|c| c.is_ascii_digit()))
                                .and_then(|digits| digits.parse().ok())
                        })
                        .and_then(char::from_u32),
                };
                if let Some(decoded) = decoded {
                    out.push(decoded);
                    i += end + 1;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    flush(&mut pending_bytes, &mut out);
    out
}

/// The secret's bytes in lower-case hex.
pub(crate) fn hex_lower(secret: &[u8]) -> String {
    hex(secret, b"0123456789abcdef")
}

/// The bytes in hex with the given digits (no `format!` a byte: the full search runs it on
/// every call).
fn hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    bytes
        .iter()
        .flat_map(|byte| [digits[usize::from(byte >> 4)], digits[usize::from(byte & 0x0f)]])
        .map(char::from)
        .collect()
}

/// The secret's hex sought among a text's hex digits in either case, with everything between
/// them left out: hex written with separators (`74:6f:6b`, `74 6F 6B`) reads as the plain digits.
/// The secret's hex is at least 32 digits long, so ordinary text does not spell it by chance.
///
/// The text is not copied: Knuth-Morris-Pratt over its hex digits, one pass, jumping with
/// `memchr` to the next place the first digit is while nothing is matched (a callback's body is
/// searched on every request, and holds many hex digits: ids, numbers, timestamps).
#[derive(Debug, Clone)]
pub(crate) struct HexFinder {
    /// The secret's hex, lower case.
    digits: Vec<u8>,
    /// For each prefix of `digits`, the length of its longest proper prefix that is also its
    /// suffix: where a match that failed carries on.
    fallback: Vec<usize>,
    /// The first digit, in both cases.
    first: (u8, u8),
}

impl HexFinder {
    pub(crate) fn new(secret: &[u8]) -> HexFinder {
        let digits = hex_lower(secret).into_bytes();
        let mut fallback = vec![0; digits.len()];
        let mut length = 0;
        for at in 1..digits.len() {
            while length > 0 && digits[at] != digits[length] {
                length = fallback[length - 1];
            }
            if digits[at] == digits[length] {
                length += 1;
            }
            fallback[at] = length;
        }
        let first = digits.first().copied().unwrap_or_default();
        HexFinder {
            digits,
            fallback,
            first: (first, first.to_ascii_uppercase()),
        }
    }

    /// The number of hex digits sought.
    pub(crate) fn len(&self) -> usize {
        self.digits.len()
    }

    pub(crate) fn found_in(&self, text: &[u8]) -> bool {
        let digits = self.digits.as_slice();
        if digits.is_empty() {
            return false;
        }
        let (mut at, mut matched) = (0, 0);
        while at < text.len() {
            if matched == 0 {
                let Some(offset) = memchr::memchr2(self.first.0, self.first.1, &text[at..]) else {
                    return false;
                };
                at += offset + 1;
                matched = 1;
            } else {
                let byte = text[at];
                at += 1;
                if !byte.is_ascii_hexdigit() {
                    continue;
                }
                let digit = byte.to_ascii_lowercase();
                while matched > 0 && digits[matched] != digit {
                    matched = self.fallback[matched - 1];
                }
                if digits[matched] == digit {
                    matched += 1;
                }
            }
            if matched == digits.len() {
                return true;
            }
        }
        false
    }
}

/// The secret as base64 (standard and URL-safe, at each of the three byte alignments it can
/// take inside a longer encoded text, without the characters that depend on its neighbours)
/// and as hex.
pub(crate) fn encoded_forms(secret: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![hex_lower(secret), hex(secret, b"0123456789ABCDEF")];
    // Short secrets would leave fragments that match ordinary text.
    if secret.len() >= 6 {
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            for offset in 0..3usize {
                let mut padded = vec![0u8; offset];
                padded.extend_from_slice(secret);
                let encoded = engine.encode(&padded);
                // Characters touching the padding or the end mix in neighbouring bytes.
                let start = if offset == 0 { 0 } else { (offset * 8).div_ceil(6) };
                let end = (padded.len() * 8) / 6;
                if start < end && end <= encoded.len() {
                    forms.push(encoded[start..end].to_owned());
                }
            }
        }
    }
    forms
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_found_in_every_common_encoding() {
        use base64::Engine as _;
        let key = Secret::new("SECRET-key-6789".to_owned());
        let base64 = base64::engine::general_purpose::STANDARD.encode("Basic user:SECRET-key-6789");
        let echoes = [
            "plain SECRET-key-6789".to_owned(),
            r"json \u0053ECRET-key-6789".to_owned(),
            r"json \u0053\u0045\u0043\u0052\u0045\u0054\u002d\u006b\u0065\u0079\u002d6789".to_owned(),
            "url %53ECRET%2Dkey-6789".to_owned(),
            "url twice %2553ECRET-key-6789".to_owned(),
            "html &#83;ECRET&#x2d;key-6789".to_owned(),
            r"c \x53ECRET-key-6789".to_owned(),
            "upper SECRET-KEY-6789".to_owned(),
            format!("base64 {base64}"),
            "hex 5345435245542d6b65792d36373839".to_owned(),
        ];
        for echo in &echoes {
            assert!(key.appears_in(echo), "{echo}");
            let scrubbed = key.scrub(echo);
            assert!(!key.appears_in(&scrubbed), "{echo} -> {scrubbed}");
        }
        assert_eq!(key.scrub(&echoes[1]), WITHHELD);
        assert_eq!(key.scrub("Please try again later"), "Please try again later");
        for hidden in [
            "SECRET\u{200b}-key-6789",
            "ＳＥＣＲＥＴ-key-6789",
            "SECRET-k\u{1b}[0mey-6789",
            "half: SECRET-ke",
        ] {
            assert!(key.appears_in(hidden), "{hidden}");
        }
        assert!(!key.appears_in("SECRET"), "a short common word is not the key");
        assert_eq!(key.scrub("bad SECRET-key-6789 here"), "bad *** here");
    }

    #[test]
    fn the_key_encoded_then_escaped_or_spaced_is_still_found() {
        // Its base64 holds `/`, which JSON may write `\/` and a query `%2F`.
        let key = Secret::new("tok-a??b??c??d-0123".to_owned());
        for echo in [
            r"dG9rLWE\/P2I\/P2M\/P2QtMDEyMw==",
            "dG9rLWE%2FP2I%2FP2M%2FP2QtMDEyMw%3D%3D",
            r"746f6b2d6\u00313f3f623f3f633f3f642d30313233",
            "74:6f:6b:2d:61:3f:3f:62:3f:3f:63:3f:3f:64:2d:30:31:32:33",
            "74 6F 6B 2D 61 3F 3F 62 3F 3F 63 3F 3F 64 2D 30 31 32 33",
        ] {
            assert!(key.appears_whole_in(echo), "{echo}");
            assert_eq!(key.scrub(echo), WITHHELD, "{echo}");
        }
        assert!(!key.appears_whole_in("74:6f:6b ordinary text 2d:61"));
    }

    /// The hex digits of a text, lower case, searched the plain way: what [`HexFinder`] must
    /// agree with.
    fn hex_by_copy(secret: &[u8], text: &[u8]) -> bool {
        let needle = hex_lower(secret).into_bytes();
        let digits: Vec<u8> = text
            .iter()
            .filter(|byte| byte.is_ascii_hexdigit())
            .map(u8::to_ascii_lowercase)
            .collect();
        digits.windows(needle.len()).any(|window| window == needle)
    }

    #[test]
    fn the_keys_hex_is_found_after_a_false_start_in_either_case_and_across_separators() {
        // A key whose hex repeats itself: a match that fails late must resume where it can.
        let secret = b"aaaaaaab";
        let finder = HexFinder::new(secret);
        for text in [
            "61616161616161616162",
            "6161616161616161616161616162",
            "61:61:61:61:61 61 61-61-61 62",
            "616161616161616161616161616G2-61616161616161-62",
        ] {
            assert_eq!(
                finder.found_in(text.as_bytes()),
                hex_by_copy(secret, text.as_bytes()),
                "{text}"
            );
        }
        assert!(finder.found_in(b"x 61 61 61 61 61 61 61 6161616162"));
        assert!(!finder.found_in(b"616161616161616161616161"));
        let key = b"tok-0123456789abcdef";
        let hex = hex_lower(key);
        let finder = HexFinder::new(key);
        for text in [
            hex.clone(),
            hex.to_uppercase(),
            format!("{}{}", &hex[..11], hex),
            format!("x {} :: {}", &hex[..20], &hex[20..].to_uppercase()),
        ] {
            assert!(finder.found_in(text.as_bytes()), "{text}");
        }
        assert!(!finder.found_in(&hex.as_bytes()[1..]));
        // Random texts made of pieces of the hex: the one-pass search and the copy agree.
        let mut random = fastrand::Rng::with_seed(21);
        for _ in 0..2_000 {
            let mut text = Vec::new();
            for _ in 0..random.usize(1..8) {
                let start = random.usize(0..hex.len());
                let end = random.usize(start..=hex.len());
                text.extend_from_slice(&hex.as_bytes()[start..end]);
                text.extend_from_slice([&b""[..], b":", b" x ", b"6"][random.usize(0..4)]);
            }
            assert_eq!(
                finder.found_in(&text),
                hex_by_copy(key, &text),
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}
