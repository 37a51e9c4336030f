//! Who sends: the Kaleyra account, the business number and the API endpoint.
//!
//! The API key is a [`Secret`] (see `crate::secret`): it never shows in `Debug` or `Display`.

use std::net::IpAddr;

use crate::secret::Secret;

/// The documented API domains, by region (provider page).
pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("in", "https://api.in.kaleyra.io"),
    ("sg", "https://api.kaleyra.io"),
    ("eu", "https://api.eu.kaleyra.io"),
    ("na", "https://api.na.kaleyra.ai"),
];

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
        let sid = self.sid()?;
        let api_key = self.api_key()?;
        let from = non_empty(self.from.clone()).ok_or(AccountError::Missing {
            what: "the WhatsApp business number",
            flag: "--from",
            variable: "KALEYRA_WHATSAPP_NUMBER",
        })?;
        // It goes into the request path; without `+` the provider cannot know the country.
        let from = crate::phone::normalise_number(&from).map_err(|error| {
            AccountError::BadFrom(match error {
                crate::phone::PhoneError::BadPhone { number, reason } => format!("{reason}: `{number}`"),
                other => other.to_string(),
            })
        })?;
        let base_url = self.base_url()?;
        Ok(Account {
            sid,
            api_key,
            from: from.trim().to_owned(),
            base_url,
        })
    }

    /// The account without a business number: what the template API needs (it is addressed by
    /// the WhatsApp Business Account, not by a number).
    pub(crate) fn resolve_access(self) -> Result<Access, AccountError> {
        Ok(Access {
            sid: self.sid()?,
            api_key: self.api_key()?,
            base_url: self.base_url()?,
        })
    }

    fn sid(&self) -> Result<String, AccountError> {
        non_empty(self.sid.clone())
            .map(|sid| sid.trim().to_owned())
            .ok_or(AccountError::Missing {
                what: "the Kaleyra SID",
                flag: "--sid",
                variable: "KALEYRA_SID",
            })
    }

    fn api_key(&self) -> Result<Secret, AccountError> {
        match (&self.api_key, &self.api_key_file) {
            (Some(key), _) if !key.expose().trim().is_empty() => Ok(key.clone()),
            (_, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    AccountError::KeyFile(path.display().to_string(), crate::input::io_reason(&error))
                })?;
                let key = text.trim().to_owned();
                if key.is_empty() {
                    return Err(AccountError::KeyFile(
                        path.display().to_string(),
                        "it is empty".to_owned(),
                    ));
                }
                Ok(Secret::new(key))
            }
            _ => Err(AccountError::Missing {
                what: "the API key",
                flag: "--api-key (or --api-key-file)",
                variable: "KALEYRA_API_KEY",
            }),
        }
    }

    fn base_url(&self) -> Result<String, AccountError> {
        match (non_empty(self.base_url.clone()), non_empty(self.region.clone())) {
            (Some(url), _) => check_base_url(url.trim_end_matches('/')),
            (None, Some(region)) => REGIONS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(region.trim()))
                .map(|(_, url)| (*url).to_owned())
                .ok_or(AccountError::UnknownRegion(region)),
            (None, None) => Err(AccountError::Missing {
                what: "the API region",
                flag: "--region in|sg|eu|na (or --base-url)",
                variable: "KALEYRA_REGION (or KALEYRA_BASE_URL)",
            }),
        }
    }
}

/// The account as the template API sees it: the SID, the key and the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) sid: String,
    pub(crate) api_key: Secret,
    /// `https://<api_domain>`, or a replacement for tests and proxies.
    pub(crate) base_url: String,
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
