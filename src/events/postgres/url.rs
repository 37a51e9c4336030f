//! A PostgreSQL store named by URL (`postgres://user@host:port/database?sslmode=require`), read
//! into what the driver needs, with its password kept a [`Secret`]: the URL as shown (in
//! messages, in `Debug`) never carries it, and every driver error is scrubbed of it before it
//! becomes a message.
//!
//! The password comes from the URL, else a password file, else `PGPASSWORD`, as libpq reads
//! them. TLS is used only where `sslmode` asks for it: `require`, `verify-ca` and `verify-full`
//! all encrypt and check the server's certificate and name (against the web's roots, or the
//! `sslrootcert` file): stricter than libpq's `require`, never weaker. Without `sslmode`, or
//! with `disable`, `allow` or `prefer`, the connection is not encrypted: flowc never falls back
//! from an encrypted connection to a plain one on its own.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secret;

use super::PgError;

/// How long a connection attempt may take before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a sent request may go unacknowledged by the server before the connection counts
/// as lost (a server that vanished without closing it).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL's query parameters flowc understands; any other is refused (a typo would otherwise
/// be ignored, `sslmod=require` leaving the connection unencrypted).
const PARAMETERS: [&str; 4] = ["sslmode", "sslrootcert", "host", "application_name"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tls {
    None,
    /// `require`, `verify-ca`, `verify-full`: encrypted, the certificate checked.
    Verified,
}

/// A store's address and credentials.
#[derive(Clone)]
pub(crate) struct StoreUrl {
    host: String,
    port: u16,
    user: String,
    database: String,
    password: Option<Secret>,
    tls: Tls,
    root_certificate: Option<std::path::PathBuf>,
    application_name: String,
}

/// Where the password comes from when the URL carries none.
#[derive(Debug, Default, Clone)]
pub(crate) struct PasswordSources<'a> {
    /// `--store-password-file`.
    pub(crate) file: Option<&'a Path>,
    /// `PGPASSWORD`, as read by the command layer.
    pub(crate) environment: Option<Secret>,
}

/// Whether a `--store` or `--events` names a PostgreSQL store rather than a SQLite file. A URL
/// mistyped (`postgres:/…`, a space before it) is one too, refused by [`StoreUrl::parse`]: taken
/// for a file it would be shown, password and all, and created.
pub(crate) fn is_postgres_url(text: &str) -> bool {
    let lower = scheme_of(text);
    lower.starts_with("postgres:") || lower.starts_with("postgresql:")
}

/// The text's first letters, lower-cased, spaces before them left out.
fn scheme_of(text: &str) -> String {
    let text = text.trim_start();
    text.get(..13).unwrap_or(text).to_ascii_lowercase()
}

fn decode(text: &str) -> Result<String, PgError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| PgError::Url {
            problem: "has a percent-encoded part that is not UTF-8".to_owned(),
        })
}

impl StoreUrl {
    /// Reads a `postgres://` or `postgresql://` URL. The text is never echoed in the error (it
    /// may hold the password).
    pub(crate) fn parse(text: &str, sources: &PasswordSources<'_>) -> Result<StoreUrl, PgError> {
        let invalid = |problem: String| PgError::Url { problem };
        let scheme = scheme_of(text);
        if !(text.starts_with(['p', 'P']) && (scheme.starts_with("postgres://") || scheme.starts_with("postgresql://")))
        {
            return Err(invalid("does not start with postgres:// or postgresql://".to_owned()));
        }
        let url = url::Url::parse(text).map_err(|error| invalid(format!("is not a valid URL ({error})")))?;
        // An IPv6 address without its brackets, as the driver takes it.
        let mut host = match url.host() {
            Some(::url::Host::Ipv6(address)) => address.to_string(),
            _ => decode(url.host_str().unwrap_or_default())?,
        };
        let port = url.port().unwrap_or(5432);
        let user = match decode(url.username())? {
            user if user.is_empty() => return Err(invalid("names no user (postgres://USER@HOST/DATABASE)".to_owned())),
            user => user,
        };
        let database = match decode(url.path().trim_start_matches('/'))? {
            database if database.is_empty() => {
                return Err(invalid("names no database (postgres://USER@HOST/DATABASE)".to_owned()))
            }
            database => database,
        };
        let mut tls = Tls::None;
        let mut root_certificate = None;
        let mut application_name = "flowc".to_owned();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    tls = match value.as_ref() {
                        "disable" | "allow" | "prefer" => Tls::None,
                        "require" | "verify-ca" | "verify-full" => Tls::Verified,
                        // The value is not repeated: a URL mistyped may carry the password there.
                        _ => {
                            return Err(invalid(
                                "has an sslmode flowc does not know (disable, allow, prefer, require, verify-ca or verify-full)"
                                    .to_owned(),
                            ))
                        }
                    }
                }
                "sslrootcert" => root_certificate = Some(std::path::PathBuf::from(value.as_ref())),
                "host" => host = value.into_owned(),
                "application_name" => application_name = value.into_owned(),
                _ => {
                    return Err(invalid(format!(
                        "has a parameter flowc does not read (it reads {})",
                        PARAMETERS.join(", ")
                    )))
                }
            }
        }
        if host.is_empty() {
            return Err(invalid("names no host (postgres://USER@HOST/DATABASE)".to_owned()));
        }
        let password = match url.password() {
            Some(password) => Some(Secret::new(decode(password)?)),
            None => match sources.file {
                Some(path) => Some(read_password_file(path)?),
                None => sources.environment.clone(),
            },
        };
        Ok(StoreUrl {
            host,
            port,
            user,
            database,
            password,
            tls,
            root_certificate,
            application_name,
        })
    }

    #[cfg(test)]
    pub(crate) fn tls(&self) -> Tls {
        self.tls
    }

    /// Text safe to show: the driver's message with the password removed in every form.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(password) => password.scrub(text),
            None => text.to_owned(),
        }
    }

    /// The driver's settings for this store.
    fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name(&self.application_name)
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_user_timeout(TCP_USER_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        if self.tls == Tls::Verified {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        config
    }

    /// A new connection (blocking: for the readers). Errors are scrubbed of the password.
    pub(crate) fn connect(&self) -> Result<::postgres::Client, Unreached> {
        let config = ::postgres::Config::from(self.config());
        let connected = match self.tls {
            Tls::None => config.connect(::postgres::NoTls),
            Tls::Verified => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?)),
        };
        connected.map_err(|error| self.unreached(&error))
    }

    /// A new connection for the writer, its connection task spawned on the current runtime.
    /// Errors are scrubbed of the password.
    pub(crate) async fn connect_async(&self) -> Result<tokio_postgres::Client, Unreached> {
        let config = self.config();
        let unreached = |error: tokio_postgres::Error| self.unreached(&error);
        match self.tls {
            Tls::None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(unreached)?;
                tokio::spawn(connection);
                Ok(client)
            }
            Tls::Verified => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
                let (client, connection) = config.connect(tls).await.map_err(unreached)?;
                tokio::spawn(connection);
                Ok(client)
            }
        }
    }

    /// The driver's failure to connect, scrubbed, with why TLS failed if it did.
    fn unreached(&self, error: &::postgres::Error) -> Unreached {
        Unreached {
            reason: self.scrub(&error_text(error)),
            tls: tls_failure(error),
        }
    }

    fn tls_config(&self) -> Result<tokio_rustls::rustls::ClientConfig, Unreached> {
        let authorities = |reason: String| Unreached {
            reason,
            tls: Some(TlsFailure::AuthoritiesFile),
        };
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        match &self.root_certificate {
            Some(path) => {
                use rustls_pki_types::pem::PemObject as _;
                let certificates = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|error| {
                        authorities(format!(
                            "the sslrootcert file `{}` cannot be read: {error}",
                            path.display()
                        ))
                    })?;
                for certificate in certificates {
                    roots
                        .add(certificate)
                        .map_err(|error| authorities(format!("the sslrootcert file `{}`: {error}", path.display())))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .map_err(|error| Unreached {
                reason: format!("TLS: {error}"),
                tls: Some(TlsFailure::Other),
            })
    }
}

/// A connection that could not be made: the driver's words (scrubbed of the password) and, when
/// TLS is why, what about it (for the help: each has its own fix).
#[derive(Debug)]
pub(crate) struct Unreached {
    reason: String,
    tls: Option<TlsFailure>,
}

impl Unreached {
    pub(crate) fn of(self, url: &StoreUrl) -> PgError {
        PgError::Connect {
            store: url.to_string(),
            reason: self.reason,
            tls: self.tls,
        }
    }
}

/// Why a connection asking for TLS did not get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The server does not offer TLS at all.
    NotOffered,
    /// Its certificate is signed by no authority this machine (or `sslrootcert`) trusts.
    UnknownAuthority,
    /// Its certificate is for another name than the URL's host.
    OtherName,
    /// The `sslrootcert` file cannot be read as certificates.
    AuthoritiesFile,
    Other,
}

/// What the driver's error says of TLS, read from the errors it carries: rustls's own, inside
/// the handshake's I/O error, or tokio-postgres's words for a server that declined (its error
/// kinds are private).
fn tls_failure(error: &::postgres::Error) -> Option<TlsFailure> {
    use std::error::Error as _;
    use tokio_rustls::rustls::{CertificateError, Error as RustlsError};
    let mut cause = error.source();
    while let Some(current) = cause {
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map_or(current, |inner| inner as &(dyn std::error::Error + 'static));
        if let Some(rustls) = inner.downcast_ref::<RustlsError>() {
            return Some(match rustls {
                RustlsError::InvalidCertificate(CertificateError::UnknownIssuer) => TlsFailure::UnknownAuthority,
                RustlsError::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                ) => TlsFailure::OtherName,
                _ => TlsFailure::Other,
            });
        }
        if current.to_string() == "server does not support TLS" {
            return Some(TlsFailure::NotOffered);
        }
        cause = current.source();
    }
    None
}

/// The driver's error with its cause (`db error: FATAL: …`, `error connecting to server: …`).
pub(crate) fn error_text(error: &::postgres::Error) -> String {
    use std::error::Error as _;
    match (error.as_db_error(), error.source()) {
        (Some(db), _) => format!("{}: {}", db.severity(), db.message()),
        (None, Some(source)) => format!("{error}: {source}"),
        (None, None) => error.to_string(),
    }
}

fn read_password_file(path: &Path) -> Result<Secret, PgError> {
    let unreadable = |reason: String| PgError::PasswordFile {
        path: path.display().to_string(),
        reason,
    };
    let file = crate::input::open(path).map_err(|error| unreadable(error.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 4096), &mut text)
        .map_err(|error| unreadable(crate::input::io_reason(&error)))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(unreadable("is empty".to_owned()));
    }
    Ok(Secret::new(password.to_owned()))
}

impl fmt::Display for StoreUrl {
    /// The URL without its password (and with its TLS mode).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "postgres://{}@[{}]", self.user, self.host)?;
        } else {
            write!(f, "postgres://{}@{}", self.user, self.host)?;
        }
        if self.port != 5432 {
            write!(f, ":{}", self.port)?;
        }
        write!(f, "/{}", self.database)?;
        if self.tls == Tls::Verified {
            f.write_str("?sslmode=verify-full")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreUrl")
            .field("url", &self.to_string())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("root_certificate", &self.root_certificate)
            .field("application_name", &self.application_name)
            .finish_non_exhaustive()
    }
}
