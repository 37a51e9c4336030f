//! The HTTP client: one pooled keep-alive HTTPS client, the request a row makes, and what a
//! transport failure means for its row.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::send::dispatch::Context;
use crate::send::response::{classify, Outcome};
use crate::send::scrub::scrub;
use crate::send::SendSettings;

/// The most of a response body that is read; Kaleyra's answers are a few hundred bytes.
pub(super) const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("the API key contains characters that cannot go in an HTTP header")]
    BadKey,
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// The pooled keep-alive HTTPS client (rustls).
pub(crate) fn http_client(settings: &SendSettings) -> Result<reqwest::Client, ClientError> {
    client_builder(settings.timeout)
        .pool_max_idle_per_host(settings.concurrency)
        .build()
        .map_err(|error| ClientError::Client(error.to_string()))
}

/// What every client flowc talks to the provider with shares: its name, its timeouts, and no
/// redirects.
pub(crate) fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("flowc/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        // The connect timeout is strictly shorter than the whole request's: a connection that
        // never completes is then reported as one (retryable), not as a request without answer
        // (unknown).
        .connect_timeout((timeout / 2).min(Duration::from_secs(10)))
        // A redirect would replay the request, with the `api-key` header, to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
}

pub(super) async fn post(context: &Context, body: &[u8]) -> Outcome {
    let request = context
        .client
        .post(&context.url)
        .header(CONTENT_TYPE, "application/json")
        .header("api-key", context.api_key.clone())
        .body(body.to_vec());
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return transport_failure(context, &error),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut text = Vec::new();
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY.saturating_sub(text.len());
                text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            // The answer's status arrived; a body cut short still tells what happened.
            Err(_) => break,
        }
    }
    let text = context.account.api_key.redact(&String::from_utf8_lossy(&text));
    scrub(
        classify(status, retry_after.as_deref(), &text),
        &context.account.api_key,
    )
}

/// A request that got no answer. Only a failure to connect (refused, DNS, TLS handshake, a
/// connect timeout) proves that nothing reached the server; a timeout or a dropped connection
/// after the request was written leaves its fate unknown.
pub(super) fn transport_failure(context: &Context, error: &reqwest::Error) -> Outcome {
    let (kind, safe) = if error.is_connect() {
        ("could not connect", true)
    } else if error.is_timeout() {
        ("no answer in time", false)
    } else {
        ("the connection failed after the request was sent", false)
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let message = if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    };
    let message = context.account.api_key.scrub(&message);
    if safe {
        Outcome::Retry {
            http_status: None,
            code: None,
            message,
            retry_after: None,
        }
    } else {
        Outcome::Ambiguous {
            http_status: None,
            code: None,
            message,
        }
    }
}
