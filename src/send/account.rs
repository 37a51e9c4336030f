//! Who sends: the Kaleyra account, the business number and the API endpoint.
//!
//! The API key is a [`Secret`]: its `Debug` and `Display` never show it, and [`Secret::scrub`]
//! removes it from any text (a server's error body, say) before that text is shown or stored.
//! A server may echo the key encoded (`\u0053ECRET` in JSON, `%53ECRET`, `&#83;ECRET`, base64,
//! hex): replacing the plain bytes is not enough, so text that still carries the key after
//! decoding is withheld whole.

use std::fmt;
use std::net::IpAddr;

/// The documented API domains, by region (provider page).
pub const REGIONS: &[(&str, &str)] = &[
    ("in", "https://api.in.kaleyra.io"),
    ("sg", "https://api.kaleyra.io"),
    ("eu", "https://api.eu.kaleyra.io"),
    ("na", "https://api.na.kaleyra.ai"),
];

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
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        encoded_forms(secret.as_bytes())
            .iter()
            .any(|encoded| compact.contains(encoded.as_str()))
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
pub const WITHHELD: &str = "(withheld: the server's text contained the API key)";

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

/// The secret as base64 (standard and URL-safe, at each of the three byte alignments it can
/// take inside a longer encoded text, without the characters that depend on its neighbours)
/// and as hex.
pub(crate) fn encoded_forms(secret: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![
        secret.iter().map(|byte| format!("{byte:02x}")).collect::<String>(),
        secret.iter().map(|byte| format!("{byte:02X}")).collect::<String>(),
    ];
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

#[derive(Debug, Clone)]
pub struct Account {
    pub sid: String,
    pub api_key: Secret,
    /// The business number the messages are sent from (it goes into the path).
    pub from: String,
    /// `https://<api_domain>`, or a replacement for tests and proxies.
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("missing {what}: pass {flag} or set {variable}")]
    Missing {
        what: &'static str,
        flag: &'static str,
        variable: &'static str,
    },
    #[error("unknown region `{0}`: use in, sg, eu or na (or --base-url)")]
    UnknownRegion(String),
    #[error("invalid base URL `{0}`: {1}")]
    BadBaseUrl(String, &'static str),
    #[error("plain http:// is refused for `{0}`: the API key would cross the network unencrypted (allowed only for loopback addresses)")]
    InsecureBaseUrl(String),
    #[error("cannot read the API key file `{0}`: {1}")]
    KeyFile(String, String),
    #[error("the business number (--from / KALEYRA_WHATSAPP_NUMBER) {0}")]
    BadFrom(String),
}

impl AccountError {
    /// Whether only a setting is missing: a dry run, which sends nothing, can go on without it.
    /// A setting that is present but wrong is refused in a dry run too.
    pub fn is_missing(&self) -> bool {
        matches!(self, AccountError::Missing { .. })
    }
}

/// The settings as given (flags or environment), before they are checked.
#[derive(Debug, Default, Clone)]
pub struct AccountSettings {
    pub sid: Option<String>,
    pub api_key: Option<Secret>,
    pub api_key_file: Option<std::path::PathBuf>,
    pub from: Option<String>,
    pub region: Option<String>,
    pub base_url: Option<String>,
}

impl AccountSettings {
    pub fn resolve(self) -> Result<Account, AccountError> {
        let sid = non_empty(self.sid).ok_or(AccountError::Missing {
            what: "the Kaleyra SID",
            flag: "--sid",
            variable: "KALEYRA_SID",
        })?;
        let api_key = match (self.api_key, self.api_key_file) {
            (Some(key), _) if !key.expose().trim().is_empty() => key,
            (_, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|error| {
                    AccountError::KeyFile(path.display().to_string(), crate::input::io_reason(&error))
                })?;
                let key = text.trim().to_owned();
                if key.is_empty() {
                    return Err(AccountError::KeyFile(
                        path.display().to_string(),
                        "it is empty".to_owned(),
                    ));
                }
                Secret::new(key)
            }
            _ => {
                return Err(AccountError::Missing {
                    what: "the API key",
                    flag: "--api-key (or --api-key-file)",
                    variable: "KALEYRA_API_KEY",
                })
            }
        };
        let from = non_empty(self.from).ok_or(AccountError::Missing {
            what: "the WhatsApp business number",
            flag: "--from",
            variable: "KALEYRA_WHATSAPP_NUMBER",
        })?;
        // It goes into the request path; without `+` the provider cannot know the country.
        let from = crate::compile::normalise_number(&from).map_err(|error| {
            AccountError::BadFrom(match error {
                crate::compile::CompileError::BadPhone { number, reason } => format!("{reason}: `{number}`"),
                other => other.to_string(),
            })
        })?;
        let base_url = match (non_empty(self.base_url), non_empty(self.region)) {
            (Some(url), _) => check_base_url(url.trim_end_matches('/'))?,
            (None, Some(region)) => REGIONS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(region.trim()))
                .map(|(_, url)| (*url).to_owned())
                .ok_or(AccountError::UnknownRegion(region))?,
            (None, None) => {
                return Err(AccountError::Missing {
                    what: "the API region",
                    flag: "--region in|sg|eu|na (or --base-url)",
                    variable: "KALEYRA_REGION (or KALEYRA_BASE_URL)",
                })
            }
        };
        Ok(Account {
            sid: sid.trim().to_owned(),
            api_key,
            from: from.trim().to_owned(),
            base_url,
        })
    }
}

impl Account {
    /// `POST {base}/v2/{sid}/whatsapp/{from}/messages` (provider page).
    pub fn messages_url(&self) -> String {
        format!("{}/v2/{}/whatsapp/{}/messages", self.base_url, self.sid, self.from)
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// The URL as it may be shown: any `user:password@` part replaced by `***@`.
fn masked(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(index) => (&url[..index + 3], &url[index + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn check_base_url(url: &str) -> Result<String, AccountError> {
    let shown = masked(url);
    if shown != url {
        // Credentials in the URL would go to the server in a header of their own, and into
        // every message that names the endpoint.
        return Err(AccountError::BadBaseUrl(
            shown,
            "it must not hold a user name or password: the API key is the only credential",
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| AccountError::BadBaseUrl(url.to_owned(), "not a URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AccountError::BadBaseUrl(
            masked(parsed.as_str()),
            "it must not hold a user name or password: the API key is the only credential",
        ));
    }
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback {
                return Err(AccountError::InsecureBaseUrl(url.to_owned()));
            }
        }
        _ => return Err(AccountError::BadBaseUrl(url.to_owned(), "use https://")),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(AccountError::BadBaseUrl(
            url.to_owned(),
            "it must not have a query or fragment",
        ));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AccountSettings {
        AccountSettings {
            sid: Some("HXAP1".to_owned()),
            api_key: Some(Secret::new("k-123".to_owned())),
            from: Some("+911234567890".to_owned()),
            region: Some("in".to_owned()),
            ..AccountSettings::default()
        }
    }

    #[test]
    fn builds_the_documented_endpoint() {
        let account = settings().resolve().expect("valid");
        assert_eq!(
            account.messages_url(),
            "https://api.in.kaleyra.io/v2/HXAP1/whatsapp/+911234567890/messages"
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let account = settings().resolve().expect("valid");
        assert!(!format!("{account:?}").contains("k-123"));
        assert_eq!(account.api_key.redact("bad key k-123!"), "bad key ***!");
    }

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
    fn plain_http_only_for_loopback() {
        let mut remote = settings();
        remote.base_url = Some("http://example.com".to_owned());
        assert!(matches!(remote.resolve(), Err(AccountError::InsecureBaseUrl(_))));
        for url in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"] {
            let mut local = settings();
            local.base_url = Some(url.to_owned());
            assert!(local.resolve().is_ok(), "{url}");
        }
    }

    #[test]
    fn credentials_in_the_base_url_are_refused_and_never_shown() {
        for url in [
            "https://user:pw-9876@api.example.com",
            "https://pw-9876@api.example.com/x",
            "http://u:pw-9876@127.0.0.1:9",
            "https://u:pw-9876@@host",
            "https://u:pw-9876@[::1",
        ] {
            let mut with_credentials = settings();
            with_credentials.base_url = Some(url.to_owned());
            let error = with_credentials.resolve().expect_err(url).to_string();
            assert!(!error.contains("pw-9876"), "{error}");
        }
    }

    #[test]
    fn the_business_number_must_be_e164() {
        let mut spaced = settings();
        spaced.from = Some("+91 12345 67890".to_owned());
        assert_eq!(spaced.resolve().expect("valid").from, "+911234567890");
        let mut bare = settings();
        bare.from = Some("911234567890".to_owned());
        let error = bare.resolve().expect_err("no +");
        assert!(
            matches!(error, AccountError::BadFrom(_)) && !error.is_missing(),
            "{error}"
        );
    }

    #[test]
    fn missing_settings_name_flag_and_variable() {
        let mut missing = settings();
        missing.sid = None;
        let message = missing.resolve().expect_err("missing").to_string();
        assert!(
            message.contains("--sid") && message.contains("KALEYRA_SID"),
            "{message}"
        );
    }
}
