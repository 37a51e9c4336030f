//! Who may call the receiver, and keeping their secrets out of everything it writes.
//!
//! The provider documents no payload signature (no HMAC), only what a callback profile can add
//! to each request: HTTP Basic credentials or a header. So a callback is accepted with the
//! Basic `user:password` of `--basic-auth-file`, or with the shared token of `--token-file`
//! (as `Authorization: Bearer TOKEN`, or `?token=TOKEN` for a profile that can only change the
//! URL). Comparisons hash both sides and compare the digests in constant time (`subtle`), so
//! neither the content nor the length of a guess shows in the answer's timing.
//!
//! The secrets are [`Secret`]s from the moment they are read, and [`Credentials::scrub`]
//! removes them (plain or encoded) from whatever a caller sent before it is parsed or stored:
//! a body that echoes the token must not put the token in the store.

use std::borrow::Cow;
use std::path::Path;

use base64::Engine as _;
use memchr::memmem::Finder;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::ReceiveError;
use crate::secret::{HexFinder, Secret};

/// Shorter tokens are guessable, and too common a string to scrub from bodies without
/// withholding innocent ones.
const MIN_TOKEN_LENGTH: usize = 16;

/// What replaces a caller's text that still carried a secret after plain occurrences were
/// replaced (an encoded echo).
pub(crate) const WITHHELD: &[u8] = b"(withheld by flowc: the request carried the receiver's secret)";

#[derive(Default)]
pub(crate) struct Credentials {
    /// The digest of `user:password`, and the password to scrub.
    basic: Option<([u8; 32], Secret)>,
    token: Option<([u8; 32], Secret)>,
    /// What is searched for each secret, built once: a callback is scrubbed four times (path,
    /// query, header, body), hundreds of times a second.
    sought: Vec<Sought>,
    /// The fewest bytes that hold any secret in any of the forms the quick search looks for: a
    /// path or a content type is usually shorter.
    shortest: usize,
}

/// One secret and its searchers, compiled when the credentials are read.
struct Sought {
    /// The secret's plain bytes.
    plain: Finder<'static>,
    /// Its first byte in both cases: where a case-blind match can start.
    first: (u8, u8),
    /// Its base64 and hex forms (see [`crate::secret::encoded_forms`]).
    encoded: Vec<Finder<'static>>,
    /// Its hex, sought among a text's hex digits (`74:6f:…`).
    hex: HexFinder,
}

impl Sought {
    fn new(secret: &Secret) -> Sought {
        let bytes = secret.expose().as_bytes();
        let first = bytes.first().copied().unwrap_or_default();
        Sought {
            plain: Finder::new(bytes).into_owned(),
            first: (first.to_ascii_lowercase(), first.to_ascii_uppercase()),
            encoded: crate::secret::encoded_forms(bytes)
                .iter()
                .map(|form| Finder::new(form.as_bytes()).into_owned())
                .collect(),
            hex: HexFinder::new(bytes),
        }
    }

    /// Whether the text holds the secret in any letter case (the secret being ASCII), control
    /// characters between its letters left out (as [`crate::secret::fold`] does), without
    /// copying the text.
    fn in_any_case(&self, text: &[u8]) -> bool {
        let secret = self.plain.needle();
        memchr::memchr2_iter(self.first.0, self.first.1, text).any(|at| {
            let mut visible = text[at..].iter().filter(|byte| !byte.is_ascii_control());
            secret
                .iter()
                .all(|byte| visible.next().is_some_and(|seen| seen.eq_ignore_ascii_case(byte)))
        })
    }
}

impl Credentials {
    /// Reads the credential files; neither given means no authentication (allowed on loopback
    /// only, which the server checks).
    pub(crate) fn load(basic_file: Option<&Path>, token_file: Option<&Path>) -> Result<Credentials, ReceiveError> {
        let mut credentials = Credentials::default();
        if let Some(path) = basic_file {
            let line = read_secret_file(path, "basic auth file")?;
            let problem = |problem: &str| ReceiveError::Credentials {
                what: "basic auth file",
                path: path.display().to_string(),
                problem: problem.to_owned(),
            };
            let Some((user, password)) = line.expose().split_once(':') else {
                return Err(problem("holds no `user:password` line"));
            };
            if user.is_empty() || password.is_empty() {
                return Err(problem("needs both a user and a password (`user:password`)"));
            }
            // The password is scrubbed from every body, as the token is: a short one (`whatsapp`)
            // would rewrite innocent text.
            if password.chars().count() < MIN_TOKEN_LENGTH {
                return Err(problem(&format!(
                    "holds a password shorter than {MIN_TOKEN_LENGTH} characters"
                )));
            }
            if line.expose().contains(['\n', '\r']) {
                return Err(problem("must hold one line"));
            }
            credentials.basic = Some((digest(line.expose().as_bytes()), Secret::new(password.to_owned())));
        }
        if let Some(path) = token_file {
            let token = read_secret_file(path, "token file")?;
            let problem = |problem: String| ReceiveError::Credentials {
                what: "token file",
                path: path.display().to_string(),
                problem,
            };
            if token.expose().chars().count() < MIN_TOKEN_LENGTH {
                return Err(problem(format!(
                    "holds a token shorter than {MIN_TOKEN_LENGTH} characters"
                )));
            }
            if token.expose().chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(problem(
                    "holds a token with spaces, line breaks or control characters".to_owned(),
                ));
            }
            credentials.token = Some((digest(token.expose().as_bytes()), token));
        }
        credentials.sought = credentials.secrets().map(Sought::new).collect();
        credentials.shortest = credentials
            .sought
            .iter()
            .flat_map(|sought| {
                let encoded = sought.encoded.iter().map(|form| form.needle().len());
                encoded.chain([sought.plain.needle().len(), sought.hex.len()])
            })
            .min()
            .unwrap_or(0);
        Ok(credentials)
    }

    /// The `WWW-Authenticate` challenges of a 401: the schemes this receiver takes.
    pub(crate) fn challenges(&self) -> Vec<&'static str> {
        let mut challenges = Vec::new();
        if self.token.is_some() {
            challenges.push("Bearer realm=\"flowc receive\"");
        }
        if self.basic.is_some() {
            challenges.push("Basic realm=\"flowc receive\", charset=\"UTF-8\"");
        }
        challenges
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.basic.is_none() && self.token.is_none()
    }

    /// Whether a request carries an accepted credential: the `Authorization` header (Basic or
    /// Bearer) or the `token` query parameter.
    pub(crate) fn allows(&self, authorization: Option<&[u8]>, query_token: Option<&str>) -> bool {
        if self.is_empty() {
            return true;
        }
        let mut allowed = false;
        if let (Some((expected, _)), Some(token)) = (&self.token, query_token) {
            allowed |= bool::from(digest(token.as_bytes()).ct_eq(expected));
        }
        let Some(header) = authorization else { return allowed };
        let Some((scheme, value)) = split_scheme(header) else {
            return allowed;
        };
        if scheme.eq_ignore_ascii_case(b"basic") {
            if let Some((expected, _)) = &self.basic {
                // A value that does not decode is compared as an empty line: the same work.
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .unwrap_or_default();
                allowed |= bool::from(digest(&decoded).ct_eq(expected));
            }
        } else if scheme.eq_ignore_ascii_case(b"bearer") {
            if let Some((expected, _)) = &self.token {
                allowed |= bool::from(digest(value).ct_eq(expected));
            }
        }
        allowed
    }

    /// The bytes with every plain occurrence of a secret replaced by `***`, or [`WITHHELD`]
    /// whole when a secret still shows in another form (escaped, percent-encoded, base64…).
    pub(crate) fn scrub<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut text = Cow::Borrowed(bytes);
        for sought in &self.sought {
            if sought.plain.find(&text).is_some() {
                text = Cow::Owned(replace_all(&text, &sought.plain, b"***"));
            }
        }
        if self.may_carry_encoded(&text) {
            let lossy = String::from_utf8_lossy(&text);
            if self.secrets().any(|secret| secret.appears_whole_in(&lossy)) {
                return Cow::Owned(WITHHELD.to_vec());
            }
        }
        text
    }

    /// Whether [`Secret::appears_whole_in`]'s full search is needed. It decodes escapes round
    /// after round, folds look-alike and invisible characters and lower-cases every form: tens
    /// of microseconds a callback. Most callbacks have nothing to decode or fold (no `\`, `%`,
    /// `&`, control character or non-ASCII byte), and then a case-blind byte search and the
    /// encoded forms computed once give the same answer.
    fn may_carry_encoded(&self, text: &[u8]) -> bool {
        if self.sought.is_empty() {
            return false;
        }
        // A zero-width space or a fullwidth letter between the secret's characters is non-ASCII.
        if !text.is_ascii() || memchr::memchr3(b'\\', b'%', b'&', text).is_some() {
            return true;
        }
        // What is left is ASCII without escapes: no form of a secret fits in fewer bytes.
        if text.len() < self.shortest {
            return false;
        }
        if self.sought.iter().any(|sought| sought.in_any_case(text)) {
            return true;
        }
        // Base64 broken into lines (or spaced) is searched without its white space; a copy is
        // made only when there is some.
        let compact = without(text, has_white_space(text), u8::is_ascii_whitespace);
        self.sought
            .iter()
            .any(|sought| sought.encoded.iter().any(|form| form.find(&compact).is_some()) || sought.hex.found_in(text))
    }

    fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.basic
            .iter()
            .map(|(_, secret)| secret)
            .chain(self.token.iter().map(|(_, secret)| secret))
    }
}

/// Says which credentials are set, never their digests (a digest of a weak secret can be
/// reversed by guessing).
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("basic", &self.basic.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The value of the `token` query parameter, decoded.
pub(crate) fn query_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// The query string without its `token` parameter (which must never be stored).
pub(crate) fn without_token(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                .map(|(key, _)| key.into_owned())
                .collect();
            decoded != "token" && !pair.is_empty()
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn read_secret_file(path: &Path, what: &'static str) -> Result<Secret, ReceiveError> {
    let text = std::fs::read_to_string(path).map_err(|error| ReceiveError::Unreadable {
        what,
        path: path.display().to_string(),
        reason: crate::input::io_reason(&error),
    })?;
    // An editor's (or `echo`'s) final line break is not part of the secret.
    let text = Secret::new(text.trim_end_matches(['\n', '\r']).to_owned());
    if text.expose().is_empty() {
        return Err(ReceiveError::Credentials {
            what,
            path: path.display().to_string(),
            problem: "is empty".to_owned(),
        });
    }
    Ok(text)
}

fn split_scheme(header: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = header.iter().position(|byte| *byte == b' ')?;
    let (scheme, rest) = header.split_at(space);
    Some((scheme, rest.trim_ascii()))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether the text holds ASCII white space (a SIMD search for each kind: most bodies hold none).
fn has_white_space(text: &[u8]) -> bool {
    memchr::memchr3(b' ', b'\n', b'\r', text).is_some() || memchr::memchr2(b'\t', 0x0c, text).is_some()
}

/// The text without the bytes `drop` picks, copied only when `any` says there are some.
fn without(text: &[u8], any: bool, drop: fn(&u8) -> bool) -> Cow<'_, [u8]> {
    if !any {
        return Cow::Borrowed(text);
    }
    let mut kept = Vec::with_capacity(text.len());
    for piece in text.split(drop) {
        kept.extend_from_slice(piece);
    }
    Cow::Owned(kept)
}

fn replace_all(haystack: &[u8], needle: &Finder<'_>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = 0;
    for at in needle.find_iter(haystack) {
        out.extend_from_slice(&haystack[rest..at]);
        out.extend_from_slice(with);
        rest = at + needle.needle().len();
    }
    out.extend_from_slice(&haystack[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok-0123456789abcdef";

    fn credentials(dir: &Path) -> Credentials {
        let basic = dir.join("basic");
        let token = dir.join("token");
        std::fs::write(&basic, "kaleyra:pass-word-1-5c9e8a\n").expect("write");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("write");
        Credentials::load(Some(&basic), Some(&token)).expect("load")
    }

    #[test]
    fn receive_accepts_basic_bearer_and_query_token_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = credentials(dir.path());
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("kaleyra:pass-word-1-5c9e8a")
        );
        assert!(credentials.allows(Some(basic.as_bytes()), None));
        assert!(credentials.allows(Some(format!("bearer {TOKEN}").as_bytes()), None));
        assert!(credentials.allows(None, Some(TOKEN)));
        assert!(!credentials.allows(None, None));
        assert!(!credentials.allows(Some(format!("Basic {TOKEN}").as_bytes()), None));
        assert!(!credentials.allows(Some(b"Bearer tok-0123456789abcdeF"), None));
        assert!(!credentials.allows(Some(b"Basic !!!"), Some("nope")));
        assert!(!format!("{credentials:?}").contains("pass-word-1-5c9e8a"));
        assert!(!format!("{credentials:?}").contains(TOKEN));
    }

    #[test]
    fn receive_scrubs_secrets_plain_and_encoded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = credentials(dir.path());
        let plain = format!("{{\"ref\":\"{TOKEN}\",\"x\":\"pass-word-1-5c9e8a\"}}");
        assert_eq!(
            &*credentials.scrub(plain.as_bytes()),
            b"{\"ref\":\"***\",\"x\":\"***\"}".as_slice()
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(TOKEN);
        assert_eq!(&*credentials.scrub(encoded.as_bytes()), WITHHELD);
        let wrapped = format!("{{\"ref\": \"{}\"}}", &encoded);
        assert_eq!(&*credentials.scrub(wrapped.as_bytes()), WITHHELD);
        assert_eq!(&*credentials.scrub(TOKEN.to_uppercase().as_bytes()), WITHHELD);
        let hex: String = TOKEN.bytes().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(&*credentials.scrub(hex.as_bytes()), WITHHELD);
        assert_eq!(&*credentials.scrub(b"a=%74ok-0123456789abcdef"), WITHHELD);
        assert_eq!(&*credentials.scrub(b"nothing secret"), b"nothing secret".as_slice());
    }

    #[test]
    fn receive_withholds_the_secret_across_control_characters_and_in_hex_of_any_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = credentials(dir.path());
        let hex: String = TOKEN.bytes().map(|byte| format!("{byte:02x}")).collect();
        let spaced: Vec<String> = TOKEN.bytes().map(|byte| format!("{byte:02X}")).collect();
        for body in [
            "{\"ref\":\"tok-0123\n456789ABCDEF\"}".to_owned(),
            "{\"ref\":\"TOK-0123456789\u{1b}abcdef\"}".to_owned(),
            hex.to_uppercase(),
            format!("{{\"id\":\"{}\",\"n\":\"{}\"}}", &hex[..30], &hex[30..]),
            spaced.join(":"),
            spaced.join(" "),
            format!("{}{}", &hex[..17], hex),
        ] {
            assert_eq!(&*credentials.scrub(body.as_bytes()), WITHHELD, "{body}");
        }
        for body in [
            format!("{{\"ref\":\"{}\"}}", &hex[2..]),
            "{\"ref\":\"tok-0123\n45678\"}".to_owned(),
            "74:6f:6b ordinary text 2d:30".to_owned(),
        ] {
            assert_eq!(&*credentials.scrub(body.as_bytes()), body.as_bytes(), "{body}");
        }
    }

    #[test]
    fn receive_the_quick_search_for_secrets_agrees_with_the_full_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = credentials(dir.path());
        let token = Secret::new(TOKEN.to_owned());
        let hex: String = TOKEN.bytes().map(|byte| format!("{byte:02x}")).collect();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("x{TOKEN}"));
        let mut random = fastrand::Rng::with_seed(7);
        let pieces = [
            "{\"statuses\":[{\"id\":\"wamid.",
            "\"}]}",
            " ",
            "\n",
            "\t",
            "0",
            "6f",
            "tok-",
            "0123456789",
            "ABCDEF",
            "abcdef",
            hex.as_str(),
            &hex[..40],
            &hex[40..],
            encoded.as_str(),
            &encoded[..12],
            &encoded[12..],
        ];
        for _ in 0..3_000 {
            let body: String = (0..random.usize(1..10))
                .map(|_| pieces[random.usize(0..pieces.len())])
                .collect();
            let withheld = &*credentials.scrub(body.as_bytes()) == WITHHELD;
            // Plain occurrences are replaced first; what is left is searched.
            assert_eq!(withheld, token.appears_whole_in(&token.redact(&body)), "{body:?}");
        }
    }

    #[test]
    fn receive_the_token_parameter_is_dropped_from_stored_queries() {
        assert_eq!(without_token("status=sent&token=abc&ref=1"), "status=sent&ref=1");
        assert_eq!(without_token("%74oken=abc&ref=1"), "ref=1");
        assert_eq!(query_token("a=1&token=x%2By").as_deref(), Some("x+y"));
    }
}
