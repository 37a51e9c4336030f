//! The account's template list, fetched page by page from the provider's v2 template API
//! (`GET /v2/<sid>/whatsapp/<waba-id>/message_templates`, header `api-key`), as Meta's Graph API
//! pages it: `{"data": [...], "paging": {"cursors": {"after": ...}, "next": URL}}`, where a page
//! without `next` is the last (developers.facebook.com/docs/graph-api/results).
//!
//! The key goes with every request, so nothing is followed that could take it elsewhere: no
//! redirect, and no `next` link to another host or endpoint than the one the list was asked
//! of. Every answer is bounded (its size, the number of pages, JSON nesting through
//! serde_json's own limit), and every text of the provider's is scrubbed of the key before it
//! is shown.

use std::time::Duration;

use serde_json::Value;

use crate::limits::{MAX_TEMPLATE_LIST_BYTES, MAX_TEMPLATE_PAGES, MAX_TEMPLATE_PAGE_BYTES};
use crate::send::account::Access;

use super::{shown, PullError};

/// What the provider listed: every item of every page, in order, with the answer's fields the
/// documented answer does not have.
pub(crate) struct Listed {
    pub(crate) items: Vec<Value>,
    pub(crate) pages: usize,
    /// Fields of the answer other than `data` and `paging`, each with the first page it was in.
    pub(crate) unknown_fields: Vec<(String, usize)>,
}

/// The list's URL: the base, then the path segments (each escaped, so that a SID or an account
/// id cannot change the path).
pub(crate) fn list_url(access: &Access, waba_id: &str) -> Result<reqwest::Url, PullError> {
    let mut url = reqwest::Url::parse(&access.base_url)
        .map_err(|_| PullError::Client("the base URL does not parse".to_owned()))?;
    url.path_segments_mut()
        .map_err(|()| PullError::Client("the base URL cannot take a path".to_owned()))?
        .pop_if_empty()
        .extend(["v2", access.sid.as_str(), "whatsapp", waba_id, "message_templates"]);
    Ok(url)
}

/// Fetches every page of the list.
pub(crate) fn fetch(access: &Access, waba_id: &str, timeout: Duration) -> Result<Listed, PullError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| PullError::Client(error.to_string()))?;
    let client = crate::send::client_builder(timeout)
        .build()
        .map_err(|error| PullError::Client(error.to_string()))?;
    runtime.block_on(fetch_pages(&client, access, waba_id, timeout))
}

async fn fetch_pages(
    client: &reqwest::Client,
    access: &Access,
    waba_id: &str,
    timeout: Duration,
) -> Result<Listed, PullError> {
    let first = list_url(access, waba_id)?;
    let mut listed = Listed {
        items: Vec::new(),
        pages: 0,
        unknown_fields: Vec::new(),
    };
    let mut visited: Vec<reqwest::Url> = Vec::new();
    let mut total = 0usize;
    let mut next = Some(first.clone());
    while let Some(url) = next.take() {
        if listed.pages == MAX_TEMPLATE_PAGES {
            return Err(PullError::TooManyPages(MAX_TEMPLATE_PAGES));
        }
        if visited.contains(&url) {
            return Err(PullError::PagingLoop { page: listed.pages + 1 });
        }
        visited.push(url.clone());
        listed.pages += 1;
        let page = listed.pages;
        let bytes = get(client, access, &url, page, timeout).await?;
        total += bytes.len();
        if total > MAX_TEMPLATE_LIST_BYTES {
            return Err(PullError::TooLarge {
                page,
                limit: MAX_TEMPLATE_LIST_BYTES,
                whole: true,
            });
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|error| PullError::NotJson {
            page,
            reason: shown(&access.api_key, &error.to_string(), 120),
            start: shown(
                &access.api_key,
                &String::from_utf8_lossy(&bytes[..bytes.len().min(60)]),
                60,
            ),
        })?;
        let Value::Object(mut answer) = answer else {
            return Err(PullError::Shape {
                page,
                found: describe(&answer, &access.api_key),
            });
        };
        let Some(Value::Array(items)) = answer.remove("data") else {
            return Err(PullError::Shape {
                page,
                found: describe(&Value::Object(answer), &access.api_key),
            });
        };
        listed.items.extend(items);
        let paging = answer.remove("paging");
        for field in answer.keys() {
            if !listed.unknown_fields.iter().any(|(known, _)| known == field) {
                listed.unknown_fields.push((shown(&access.api_key, field, 40), page));
            }
        }
        next = match paging {
            None | Some(Value::Null) => None,
            Some(Value::Object(paging)) => match paging.get("next") {
                None | Some(Value::Null) => None,
                Some(Value::String(link)) => Some(same_endpoint(&first, link, page, &access.api_key)?),
                Some(other) => {
                    return Err(PullError::Shape {
                        page,
                        found: format!("`paging.next` is {}, not a link", crate::words::kind(other)),
                    })
                }
            },
            Some(other) => {
                return Err(PullError::Shape {
                    page,
                    found: format!("`paging` is {}, not an object", crate::words::kind(&other)),
                })
            }
        };
    }
    Ok(listed)
}

/// The `next` link, if it asks the same endpoint as the first page (same scheme, host, port
/// and path; its query carries the cursor): the key goes with the request.
fn same_endpoint(
    first: &reqwest::Url,
    link: &str,
    page: usize,
    key: &crate::secret::Secret,
) -> Result<reqwest::Url, PullError> {
    // Only where the link points is shown: its query may carry a token.
    let where_to = |url: &reqwest::Url| {
        let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
        shown(
            key,
            &format!(
                "{}://{}{port}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            ),
            120,
        )
    };
    let Ok(next) = first.join(link) else {
        return Err(PullError::Shape {
            page,
            found: "`paging.next` is not a link".to_owned(),
        });
    };
    let same_host = next.scheme() == first.scheme()
        && next.host_str() == first.host_str()
        && next.port_or_known_default() == first.port_or_known_default();
    if !same_host {
        return Err(PullError::OtherHost {
            page,
            next: where_to(&next),
            base: where_to(first),
        });
    }
    if next.path() != first.path() || !next.username().is_empty() || next.password().is_some() {
        return Err(PullError::OtherEndpoint {
            page,
            next: where_to(&next),
            base: where_to(first),
        });
    }
    Ok(next)
}

/// One page's body, read up to its bound.
async fn get(
    client: &reqwest::Client,
    access: &Access,
    url: &reqwest::Url,
    page: usize,
    timeout: Duration,
) -> Result<Vec<u8>, PullError> {
    let request = client
        .get(url.clone())
        .header("api-key", access.api_key.expose())
        .header(reqwest::header::ACCEPT, "application/json");
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Err(transport(&error, &access.api_key, page, timeout)),
    };
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|length| length > MAX_TEMPLATE_PAGE_BYTES as u64)
    {
        return Err(PullError::TooLarge {
            page,
            limit: MAX_TEMPLATE_PAGE_BYTES,
            whole: false,
        });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_TEMPLATE_PAGE_BYTES {
                    return Err(PullError::TooLarge {
                        page,
                        limit: MAX_TEMPLATE_PAGE_BYTES,
                        whole: false,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) if (200..300).contains(&status) => {
                return Err(transport(&error, &access.api_key, page, timeout))
            }
            // The status arrived; a body cut short still tells what happened.
            Err(_) => break,
        }
    }
    if (300..400).contains(&status) {
        return Err(PullError::Redirect { page, status });
    }
    if !(200..300).contains(&status) {
        return Err(PullError::Provider {
            page,
            status,
            message: provider_message(&body, &access.api_key),
        });
    }
    Ok(body)
}

/// What the provider said in an error answer: its `message` (Kaleyra's `{"code", "message"}`,
/// Meta's `{"error": {"message"}}`), with its code, or the start of its text.
fn provider_message(body: &[u8], key: &crate::secret::Secret) -> String {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let said = serde_json::from_slice::<Value>(body).ok().and_then(|answer| {
        let message = text(&answer["message"])
            .or_else(|| text(&answer["error"]["message"]))
            .or_else(|| text(&answer["error"]["error"]))
            .or_else(|| text(&answer["error"]))?;
        let code = text(&answer["code"]).or_else(|| answer["error"]["code"].as_i64().map(|code| code.to_string()));
        Some(match code {
            Some(code) => format!("{code}: {message}"),
            None => message,
        })
    });
    let said = said.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned());
    if said.is_empty() {
        "(no text)".to_owned()
    } else {
        shown(key, &said, 300)
    }
}

fn transport(error: &reqwest::Error, key: &crate::secret::Secret, page: usize, timeout: Duration) -> PullError {
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let kind = if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_timeout() {
        format!("no answer within {} seconds", timeout.as_secs())
    } else {
        "the connection failed".to_owned()
    };
    let reason = if detail.is_empty() || error.is_timeout() {
        kind
    } else {
        format!("{kind}: {}", shown(key, &detail, 200))
    };
    PullError::Transport { page, reason }
}

/// A value's shape in a few words, naming an object's fields.
fn describe(value: &Value, key: &crate::secret::Secret) -> String {
    match value {
        Value::Object(fields) if fields.is_empty() => "an empty object".to_owned(),
        Value::Object(fields) => {
            let names: Vec<String> = fields
                .iter()
                .take(8)
                .map(|(name, value)| format!("`{}` ({})", shown(key, name, 40), crate::words::kind(value)))
                .collect();
            let more = if fields.len() > 8 { ", ..." } else { "" };
            format!(
                "an object without a `data` list: its fields are {}{more}",
                names.join(", ")
            )
        }
        other => crate::words::kind(other).to_owned(),
    }
}
