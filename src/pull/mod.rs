//! `flowc templates pull`: the account's approved templates, as the provider's template API
//! lists them, written one file per (name, language), so that a template message can be checked
//! against the template it names (`template_json:`) offline.
//!
//! Each file holds the item as the provider returned it, pretty-printed: flowc adds nothing and
//! guesses nothing. Where an item differs from the documented shape (a field the facts do not
//! show, one they show missing), the difference is returned as a [`Warning`] naming the field
//! and the templates. An item whose name or language could not be a file name here (a path
//! separator, a dot, a control character: anything but letters, digits, `_` and `-`) is
//! refused, not escaped: an escaped name would be a file no `template_json:` written from the
//! template's name finds. Files go through [`crate::outputs`]: never through a link, never over a
//! device or a pipe; a file whose content is the same is left alone.

mod fetch;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) use fetch::fetch;

use crate::outputs::{self, Destination};
use crate::secret::Secret;

/// The fields of a listed template the documentation shows (Meta's `message_templates` list,
/// Kaleyra's v2 template list; `quality_score` is Meta's name for the quality rating).
const DOCUMENTED_FIELDS: &[&str] = &[
    "id",
    "name",
    "language",
    "category",
    "status",
    "parameter_format",
    "components",
    "quality_score",
];

/// The documented fields every listed template has; one missing is said.
const EXPECTED_FIELDS: &[&str] = &["id", "category", "status", "components"];

/// The longest name or language written into a file name (Meta: a template name has at most 512
/// characters; a file name at most 255 bytes on the usual file systems).
const MAX_NAME_PART: usize = 120;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    #[error("--waba-id `{0}`: a WhatsApp Business Account id is made of letters, digits, `_` and `-`")]
    BadWabaId(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("the template list (page {page}): {reason}")]
    Transport { page: usize, reason: String },
    #[error("the provider refused the template list (page {page}, HTTP {status}): {message}")]
    Provider { page: usize, status: u16, message: String },
    #[error("the provider answered the template list (page {page}) with a redirect (HTTP {status}); flowc does not follow it: the API key would go with it")]
    Redirect { page: usize, status: u16 },
    #[error("the provider's answer (page {page}) is larger than {}{}; nothing was written", crate::words::size(*limit as u64), if *whole { " over all its pages" } else { "" })]
    TooLarge { page: usize, limit: usize, whole: bool },
    #[error("the provider's answer (page {page}) is not JSON ({reason}); it starts `{start}`; nothing was written")]
    NotJson { page: usize, reason: String, start: String },
    #[error("the provider's answer (page {page}) is not the documented template list (an object with a `data` list): it is {found}; nothing was written")]
    Shape { page: usize, found: String },
    #[error("the provider's next page (after page {page}) is on another host, `{next}`, than the one asked, `{base}`: refused, the API key would go with it; nothing was written")]
    OtherHost { page: usize, next: String, base: String },
    #[error("the provider's next page (after page {page}) is another endpoint, `{next}`, than the one asked, `{base}`: refused, the API key would go with it; nothing was written")]
    OtherEndpoint { page: usize, next: String, base: String },
    #[error("the provider's paging leads back to a page already read (page {page}); nothing was written")]
    PagingLoop { page: usize },
    #[error("the template list has more than {0} pages; nothing was written")]
    TooManyPages(usize),
    #[error("cannot use the folder `{path}`: {reason}")]
    Folder { path: String, reason: String },
}

impl PullError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            PullError::Provider { status: 401 | 403, .. } => {
                Some("check --sid and the API key (--api-key, --api-key-file or KALEYRA_API_KEY)".to_owned())
            }
            PullError::Provider { status: 404, .. } => {
                Some("check --waba-id (the WhatsApp Business Account id) and --sid".to_owned())
            }
            PullError::Provider {
                status: 429 | 500..=599,
                ..
            }
            | PullError::Transport { .. } => Some("nothing was written; run the same command again later".to_owned()),
            PullError::Redirect { .. } => Some("check --base-url / --region: the endpoint may have moved".to_owned()),
            _ => None,
        }
    }
}

/// A WhatsApp Business Account id as it may go into the path.
pub(crate) fn check_waba_id(id: &str) -> Result<&str, PullError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(PullError::BadWabaId(
            crate::words::printable(&crate::words::clip(id, 64)).into_owned(),
        ));
    }
    Ok(id)
}

/// One approved template, ready to be written.
pub(crate) struct Approved {
    pub(crate) file_name: String,
    /// The item as the provider returned it, pretty-printed, with a final line break.
    pub(crate) bytes: Vec<u8>,
    pub(crate) row: Row,
}

/// A template's line in the table, each cell safe to show.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) language: String,
    pub(crate) category: String,
    pub(crate) status: String,
    pub(crate) quality: String,
    /// The Flow a FLOW button opens: `flow_id`/`flow_name`, then the screen.
    pub(crate) flow: String,
}

/// An item not written, and why.
pub(crate) struct Refused {
    /// `name (language)`, or the item's place in the list when it has no name.
    pub(crate) template: String,
    pub(crate) reason: String,
}

/// A difference from the documented shape, with the templates it was seen in.
pub(crate) struct Warning {
    pub(crate) message: String,
    pub(crate) templates: Vec<String>,
}

/// The list read: the files to write, the items refused, the differences from the facts.
pub(crate) struct Sorted {
    pub(crate) approved: Vec<Approved>,
    pub(crate) refused: Vec<Refused>,
    pub(crate) warnings: Vec<Warning>,
}

/// Text from the provider as it may be shown: clipped, control characters and line breaks as
/// `?`, and without the key.
pub(crate) fn shown(key: &Secret, text: &str, width: usize) -> String {
    let clipped = crate::words::clip(text, width);
    let printable = crate::words::printable(&clipped).replace(['\n', '\t'], "?");
    key.scrub(&printable)
}

/// Sorts the listed items into files to write, items refused and warnings.
pub(crate) fn sort(listed: &fetch::Listed, key: &Secret) -> Sorted {
    let mut warnings = Warnings::default();
    for (field, page) in &listed.unknown_fields {
        warnings.0.push(Warning {
            message: format!("the answer's field `{field}` (page {page}) is not in the documented answer (`data`, `paging`); ignored"),
            templates: Vec::new(),
        });
    }
    let mut approved = Vec::new();
    let mut refused = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (index, item) in listed.items.iter().enumerate() {
        let place = format!("item {} of the list", index + 1);
        let Value::Object(fields) = item else {
            refused.push(Refused {
                template: place,
                reason: format!("it is {}, not an object", crate::words::kind(item)),
            });
            continue;
        };
        let (name, language) = match (fields.get("name"), fields.get("language")) {
            (Some(Value::String(name)), Some(Value::String(language))) => (name, language),
            (name, language) => {
                let missing: Vec<&str> = [("name", name), ("language", language)]
                    .into_iter()
                    .filter(|(_, value)| !matches!(value, Some(Value::String(_))))
                    .map(|(field, _)| field)
                    .collect();
                refused.push(Refused {
                    template: place,
                    reason: format!(
                        "its `{}` is missing or not text: the file could not be named",
                        missing.join("` and `")
                    ),
                });
                continue;
            }
        };
        let label = format!("{} ({})", shown(key, name, 60), shown(key, language, 20));
        let text = serde_json::to_string(item).unwrap_or_default();
        if key.appears_in(&text) {
            refused.push(Refused {
                template: label,
                reason: "the provider's entry for it contains the API key; not written".to_owned(),
            });
            continue;
        }
        if let Err(reason) = name_part("name", name).and_then(|()| name_part("language", language)) {
            refused.push(Refused {
                template: label,
                reason,
            });
            continue;
        }
        // Case differs on a file system that ignores it, and a second entry of one template
        // leaves which one is approved unknown.
        let identity = (name.to_lowercase(), language.to_lowercase());
        if seen.contains(&identity) {
            refused.push(Refused {
                template: label,
                reason: "the list holds it more than once; which entry is the template cannot be told, so neither is written".to_owned(),
            });
            approved.retain(|written: &Approved| {
                written.row.name.to_lowercase() != identity.0 || written.row.language.to_lowercase() != identity.1
            });
            continue;
        }
        seen.push(identity);
        for field in fields.keys() {
            if !DOCUMENTED_FIELDS.contains(&field.as_str()) {
                warnings.add(
                    format!(
                        "field `{}` is not in the documented template; kept in the file as the provider sent it",
                        shown(key, field, 40)
                    ),
                    label.clone(),
                );
            }
        }
        for field in EXPECTED_FIELDS {
            if !fields.contains_key(*field) {
                warnings.add(
                    format!("field `{field}` is missing (the documented template has it)"),
                    label.clone(),
                );
            }
        }
        let text_of = |field: &str| match fields.get(field) {
            Some(Value::String(text)) => shown(key, text, 24),
            _ => "-".to_owned(),
        };
        for field in ["category", "status"] {
            if let Some(value) = fields.get(field).filter(|value| !value.is_string()) {
                warnings.add(
                    format!("field `{field}` is {}, not text", crate::words::kind(value)),
                    label.clone(),
                );
            }
        }
        let quality = match fields.get("quality_score") {
            Some(Value::String(score)) => shown(key, score, 12),
            Some(Value::Object(score)) => score
                .get("score")
                .and_then(Value::as_str)
                .map_or_else(|| "-".to_owned(), |score| shown(key, score, 12)),
            _ => "-".to_owned(),
        };
        let flow = flow_button(fields.get("components"), key, &label, &mut warnings);
        let mut bytes = serde_json::to_vec_pretty(item).unwrap_or_default();
        bytes.push(b'\n');
        approved.push(Approved {
            file_name: format!("{name}.{language}.json"),
            bytes,
            row: Row {
                name: name.clone(),
                language: language.clone(),
                category: text_of("category"),
                status: text_of("status"),
                quality,
                flow,
            },
        });
    }
    Sorted {
        approved,
        refused,
        warnings: warnings.0,
    }
}

/// A name or a language as it may go into a file name: letters, digits, `_` and `-` only
/// (Meta's template names are lower-case letters, digits and `_`; languages `en_US`).
fn name_part(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("its {what} is empty"));
    }
    if text.chars().count() > MAX_NAME_PART {
        return Err(format!(
            "its {what} is longer than {MAX_NAME_PART} characters; not written"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        let which = match c {
            '/' | '\\' => "a path separator".to_owned(),
            '.' => "a dot (`..` would leave the folder)".to_owned(),
            c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
            c => format!("`{c}`"),
        };
        return Err(format!(
            "its {what} holds {which}: file names are written only from letters, digits, `_` and `-`; refused, not written"
        ));
    }
    Ok(())
}

/// The Flow the template's FLOW button opens, as the table shows it; a FLOW button without a
/// Flow, or more than one, is said.
fn flow_button(components: Option<&Value>, key: &Secret, label: &str, warnings: &mut Warnings) -> String {
    let buttons = components
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|component| {
            component["type"]
                .as_str()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("BUTTONS"))
        })
        .filter_map(|component| component["buttons"].as_array())
        .flatten()
        .filter(|button| {
            button["type"]
                .as_str()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("FLOW"))
        });
    let mut shown_flows = Vec::new();
    for button in buttons {
        // `flow_id` comes back as a number or as text.
        let flow = match (&button["flow_id"], &button["flow_name"]) {
            (Value::Number(id), _) => id.to_string(),
            (Value::String(id), _) => shown(key, id, 24),
            (_, Value::String(name)) => shown(key, name, 24),
            _ => {
                warnings.add(
                    "a FLOW button has neither `flow_id` nor `flow_name` (the documented button has one)".to_owned(),
                    label.to_owned(),
                );
                "?".to_owned()
            }
        };
        shown_flows.push(
            match (button["navigate_screen"].as_str(), button["flow_action"].as_str()) {
                (Some(screen), _) => format!("{flow} → {}", shown(key, screen, 24)),
                (None, Some(action)) => format!("{flow} ({})", shown(key, action, 16)),
                (None, None) => flow,
            },
        );
    }
    if shown_flows.len() > 1 {
        warnings.add(
            "more than one FLOW button (the documented template has at most one)".to_owned(),
            label.to_owned(),
        );
    }
    if shown_flows.is_empty() {
        "-".to_owned()
    } else {
        shown_flows.join(", ")
    }
}

/// Warnings grouped by message, each with the templates it was seen in, in order.
#[derive(Default)]
struct Warnings(Vec<Warning>);

impl Warnings {
    fn add(&mut self, message: String, template: String) {
        match self.0.iter_mut().find(|warning| warning.message == message) {
            Some(warning) => {
                if !warning.templates.contains(&template) {
                    warning.templates.push(template);
                }
            }
            None => self.0.push(Warning {
                message,
                templates: vec![template],
            }),
        }
    }
}

/// What became of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileState {
    New,
    Updated,
    /// The same content was there: left alone.
    Unchanged,
}

impl FileState {
    pub(crate) fn word(self) -> &'static str {
        match self {
            FileState::New => "new",
            FileState::Updated => "updated",
            FileState::Unchanged => "unchanged",
        }
    }
}

/// The folder the files go in, created if missing.
pub(crate) fn prepare_folder(dir: &Path) -> Result<(), PullError> {
    let refused = |reason: String| PullError::Folder {
        path: dir.display().to_string(),
        reason,
    };
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(metadata) => Err(refused(format!(
            "it is {}, not a folder",
            outputs::Kind::of(metadata.file_type()).name()
        ))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|error| refused(crate::input::io_reason(&error)))
        }
        Err(error) => Err(refused(crate::input::io_reason(&error))),
    }
}

/// Writes one template's file in `dir`: left alone when it holds the same content, replaced
/// whole when it differs. A link, a device or a pipe at its name is left as it is (the error's
/// text says what is there).
pub(crate) fn write(dir: &Path, approved: &Approved) -> Result<(PathBuf, FileState), (PathBuf, String)> {
    let path = dir.join(&approved.file_name);
    let failed = |reason: String| (path.clone(), reason);
    match outputs::destination(&path) {
        Ok(Destination::Replace(_)) => {}
        Ok(Destination::Direct(_) | Destination::Stdout) => {
            let kind = std::fs::metadata(&path)
                .map_or("not a file", |metadata| outputs::Kind::of(metadata.file_type()).name());
            return Err(failed(format!(
                "it is {kind}: left as it is; move it away to pull this template"
            )));
        }
        Err(error) => return Err(failed(crate::input::io_reason(&error))),
    }
    let state = match std::fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => FileState::New,
        Err(error) => return Err(failed(crate::input::io_reason(&error))),
        Ok(metadata) if metadata.len() != approved.bytes.len() as u64 => FileState::Updated,
        Ok(_) => match std::fs::read(&path) {
            Ok(existing) if existing == approved.bytes => return Ok((path, FileState::Unchanged)),
            Ok(_) => FileState::Updated,
            Err(error) => return Err(failed(crate::input::io_reason(&error))),
        },
    };
    outputs::write_file(&path, &approved.bytes).map_err(|error| failed(crate::input::io_reason(&error)))?;
    Ok((path, state))
}

/// Files in `dir` named as a pull names them (`NAME.LANGUAGE.json`) that this pull did not
/// list: templates the provider no longer lists (deleted, or renamed). They are left as they
/// are; a template message that names one checks against a template that may be gone.
pub(crate) fn not_listed(dir: &Path, listed: &[&str]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_suffix(".json")
                .and_then(|stem| stem.split_once('.'))
                .is_some_and(|(name, language)| {
                    name_part("name", name).is_ok() && name_part("language", language).is_ok()
                })
        })
        .filter(|name| !listed.contains(&name.as_str()))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_letters_digits_underscores_and_hyphens_make_a_file_name() {
        for good in ["spring_booking", "en_US", "pt-BR", "a1"] {
            assert!(name_part("name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "a\\b",
            "a.b",
            "bell\u{7}",
            "ünï",
            "a b",
            &"x".repeat(MAX_NAME_PART + 1),
        ] {
            assert!(name_part("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_account_id_that_could_change_the_path_is_refused() {
        assert_eq!(check_waba_id(" 104200 ").expect("digits"), "104200");
        for bad in ["", "../x", "1?a=b", "1#", "1/2", "%2e%2e"] {
            assert!(check_waba_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sid_is_escaped_into_the_lists_path() {
        let access = crate::send::account::Access {
            sid: "HX/../AP?x".to_owned(),
            api_key: Secret::new("k".to_owned()),
            base_url: "https://api.example.com/proxy".to_owned(),
        };
        let url = fetch::list_url(&access, "104").expect("url");
        assert_eq!(
            url.as_str(),
            "https://api.example.com/proxy/v2/HX%2F..%2FAP%3Fx/whatsapp/104/message_templates"
        );
    }
}
