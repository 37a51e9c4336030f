//! A template message against its approved template: the JSON the provider's template API
//! lists for it (`template_json`, relative to the template's folder), read with the place of
//! every value, then the message's `template` block checked against it once, and each row's
//! hydrated text checked against Meta's lengths.
//!
//! Meta refuses at send time what does not match the approved template (132001 not found in
//! that language, 132000 a wrong parameter count, 132012 named against positional, 132015 and
//! 132016 a paused or disabled template): found here, before any row is sent, every mistake in
//! one pass. The approved template never enters the request body.

mod issue;
mod read;

use std::sync::Arc;

use serde_json::Value;

pub(crate) use issue::ApprovedIssue;
pub(crate) use read::{ApprovedTemplate, Text};

use crate::flow::Place;
use crate::input;
use crate::limits::MAX_FLOW_BYTES;
use crate::suggest::nearest;
use crate::template::{MessageKind, SourceFile, Template};
use crate::validate::Violation;

/// Where the message's components are in the body.
pub(crate) const COMPONENTS: &str = "/messaging_object/template/components";

/// Meta's limits on the text a person reads, once the values are put in (Meta components page).
pub(crate) const HEADER_LIMIT: usize = 60;
pub(crate) const BODY_LIMIT: usize = 1024;

/// A template message's approved template, read and checked.
pub(crate) struct Linked {
    pub issues: Vec<ApprovedIssue>,
    /// What is left to check per row; none when the approved template could not be read.
    pub check: Option<ApprovedCheck>,
}

/// The screen the approved FLOW button opens, for checking `flow_action_data` against the Flow.
pub(crate) struct Opens {
    pub screen: String,
    /// The place of `navigate_screen` in the approved template's file.
    pub at: Place,
    /// The pointer of the button's `flow_action_data` in the body.
    pub data: String,
}

/// The per-row checks: each hydrated text's length.
#[derive(Debug, Clone)]
pub(crate) struct ApprovedCheck {
    pub approved: Arc<ApprovedTemplate>,
    hydrations: Vec<Hydration>,
}

/// How long one component's text is once a row's values are put in.
#[derive(Debug, Clone)]
struct Hydration {
    /// `header` or `body`.
    what: &'static str,
    limit: usize,
    /// The index of the message's component.
    component: usize,
    /// The approved text's characters outside its placeholders.
    fixed: usize,
    /// How many times the approved text shows each of the message's values, by index.
    uses: Vec<usize>,
}

impl ApprovedCheck {
    /// The lengths a rendered body breaks, as violations at the value that adds the most.
    pub(crate) fn check_body(&self, body: &Value) -> Vec<Violation> {
        let mut violations = Vec::new();
        for hydration in &self.hydrations {
            let pointer = format!("{COMPONENTS}/{}/parameters", hydration.component);
            let Some(Value::Array(values)) = body.pointer(&pointer) else {
                continue;
            };
            let mut total = hydration.fixed;
            let mut widest = (0, 0);
            for (index, (value, uses)) in values.iter().zip(&hydration.uses).enumerate() {
                let chars = value
                    .get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |text| text.chars().count())
                    * uses;
                total += chars;
                if chars > widest.1 {
                    widest = (index, chars);
                }
            }
            if total > hydration.limit {
                violations.push(hydrated_too_long(
                    hydration,
                    total,
                    &format!("{pointer}/{}/text", widest.0),
                ));
            }
        }
        violations
    }

    /// The pointers of the values whose length counts in a hydrated text, with how many times
    /// each is shown, by component: for checking a row without building its body.
    pub(crate) fn counted(&self) -> impl Iterator<Item = (usize, String, usize)> + '_ {
        self.hydrations.iter().enumerate().flat_map(|(slot, hydration)| {
            hydration.uses.iter().enumerate().map(move |(index, uses)| {
                (
                    slot,
                    format!("{COMPONENTS}/{}/parameters/{index}/text", hydration.component),
                    *uses,
                )
            })
        })
    }

    /// Each counted text's characters outside the values, and its limit, by slot.
    pub(crate) fn budgets(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.hydrations
            .iter()
            .map(|hydration| (hydration.fixed, hydration.limit))
    }
}

fn hydrated_too_long(hydration: &Hydration, total: usize, pointer: &str) -> Violation {
    let what = hydration.what;
    let limit = hydration.limit;
    Violation {
        pointer: pointer.to_owned(),
        message: format!(
            "the {what} is {total} characters once this row's values are put in the approved text; the limit is {limit}"
        ),
        gist: Some(format!(
            "the {what} is longer than {limit} characters once the row's values are put in the approved text"
        )),
        help: Some(format!(
            "Meta refuses a template message whose {what} is longer than {limit} characters (132005): shorten the value"
        )),
        too_long: true,
        unknown_key: false,
    }
}

/// Reads and checks the approved template a template message names; `None` for a Flow message
/// or a template message that names none.
pub(crate) fn link(template: &Template) -> Option<(Linked, Option<Opens>)> {
    let reference = template.template_json.as_ref()?;
    if template.kind != MessageKind::Template {
        let issue = ApprovedIssue::NotATemplateMessage { at: reference.span };
        return Some((
            Linked {
                issues: vec![issue],
                check: None,
            },
            None,
        ));
    }
    let path = template.folder.join(&reference.path);
    let name = crate::flow::display_name(&path);
    let failed = |issue: ApprovedIssue| {
        Some((
            Linked {
                issues: vec![issue],
                check: None,
            },
            None,
        ))
    };
    let text = match input::read_text(&path, MAX_FLOW_BYTES, "an approved template's JSON") {
        Ok(text) => text,
        Err(error) => {
            return failed(ApprovedIssue::Unreadable {
                path: name,
                reason: error.to_string(),
                at: reference.span,
            })
        }
    };
    let source = SourceFile {
        name,
        text: Arc::from(text),
    };
    let message = template.body.to_json();
    let wanted_name = message
        .pointer("/messaging_object/template/name")
        .and_then(Value::as_str);
    let wanted_language = message
        .pointer("/messaging_object/template/language/code")
        .and_then(Value::as_str);
    // A name or a language a row decides cannot be checked once: the provider answers for it.
    let (Some(wanted_name), Some(wanted_language)) = (
        wanted_name.filter(|name| !name.contains("{{")),
        wanted_language.filter(|language| !language.contains("{{")),
    ) else {
        return Some((
            Linked {
                issues: Vec::new(),
                check: None,
            },
            None,
        ));
    };
    let (approved, mut issues) = read::pick(&source, wanted_name, wanted_language);
    let Some(approved) = approved else {
        return Some((Linked { issues, check: None }, None));
    };
    let approved = Arc::new(approved);
    if approved.status != "APPROVED" {
        issues.push(ApprovedIssue::NotApproved {
            name: approved.name.clone(),
            language: approved.language.clone(),
            status: approved.status.clone(),
            at: pointer_place("/messaging_object/template/name", false),
            approved: Place::Flow(source.clone(), approved.status_at),
        });
    }
    let mut hydrations = Vec::new();
    let components = message.pointer(COMPONENTS).and_then(Value::as_array);
    let given = |kind: &str| {
        components.and_then(|components| {
            components
                .iter()
                .position(|component| component.get("type").and_then(Value::as_str) == Some(kind))
        })
    };
    if let Some(format) = &approved.header_format {
        issues.push(ApprovedIssue::MediaHeader {
            format: format.clone(),
            at: pointer_place(
                &given("header").map_or_else(|| COMPONENTS.to_owned(), |index| format!("{COMPONENTS}/{index}")),
                false,
            ),
        });
    }
    let header = ("header", approved.header.as_ref(), HEADER_LIMIT);
    let body = ("body", approved.body.as_ref(), BODY_LIMIT);
    // A media header's values are not text: its count is not checked (the finding above says why).
    let parts = if approved.header_format.is_some() {
        vec![body]
    } else {
        vec![header, body]
    };
    for (what, text, limit) in parts {
        let expected = text.map_or(0, |text| text.placeholders.len());
        match (given(what), components) {
            (Some(index), Some(components)) => {
                let before = issues.len();
                check_values(&approved, what, text, index, &components[index], &mut issues);
                if issues.len() == before {
                    if let Some(text) = text {
                        hydrations.push(hydration(what, limit, index, text, &components[index], &approved));
                    }
                }
            }
            (None, Some(_)) if expected > 0 => issues.push(ApprovedIssue::WrongCount {
                component: what,
                expected,
                found: 0,
                placeholders: text.map(|text| text.placeholders.clone()).unwrap_or_default(),
                at: pointer_place(COMPONENTS, false),
                approved: text.map(|text| Place::Flow(source.clone(), text.at)),
            }),
            _ => {}
        }
    }
    let opens = check_button(&approved, components, &source, &mut issues);
    Some((
        Linked {
            issues,
            check: Some(ApprovedCheck { approved, hydrations }),
        },
        opens,
    ))
}

fn pointer_place(pointer: &str, key: bool) -> Place {
    Place::Pointer {
        pointer: pointer.to_owned(),
        key,
    }
}

/// The values of one component against its approved text: how many, and their names.
fn check_values(
    approved: &ApprovedTemplate,
    what: &'static str,
    text: Option<&Text>,
    index: usize,
    component: &Value,
    issues: &mut Vec<ApprovedIssue>,
) {
    let Some(values) = component.get("parameters").and_then(Value::as_array) else {
        return;
    };
    let base = format!("{COMPONENTS}/{index}/parameters");
    let placeholders: Vec<String> = text.map(|text| text.placeholders.clone()).unwrap_or_default();
    let approved_at = text.map(|text| Place::Flow(approved.source.clone(), text.at));
    let name_of = |value: &Value| value.get("parameter_name").and_then(Value::as_str).map(str::to_owned);
    if !approved.named {
        if values.len() != placeholders.len() {
            let at = if values.len() > placeholders.len() {
                format!("{base}/{}", placeholders.len())
            } else {
                base.clone()
            };
            issues.push(ApprovedIssue::WrongCount {
                component: what,
                expected: placeholders.len(),
                found: values.len(),
                placeholders: placeholders.clone(),
                at: pointer_place(&at, false),
                approved: approved_at.clone(),
            });
        }
        if let Some(named) = values.iter().position(|value| name_of(value).is_some()) {
            issues.push(ApprovedIssue::NameNotAllowed {
                component: what,
                at: pointer_place(&format!("{base}/{named}/parameter_name"), true),
            });
        }
        return;
    }
    // Named: each value names its placeholder. A name the approved text lacks is a misspelling
    // when a placeholder is left without a value, else a value too many.
    let given: Vec<Option<String>> = values.iter().map(name_of).collect();
    let mut unmatched: Vec<&String> = placeholders
        .iter()
        .filter(|placeholder| !given.iter().any(|name| name.as_deref() == Some(placeholder.as_str())))
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    for (at, name) in given.iter().enumerate() {
        let pointer = format!("{base}/{at}");
        match name {
            None => issues.push(ApprovedIssue::NameMissing {
                component: what,
                placeholders: placeholders.clone(),
                at: pointer_place(&pointer, false),
            }),
            Some(name) if placeholders.contains(name) => {
                if seen.contains(&name.as_str()) {
                    issues.push(ApprovedIssue::DuplicateName {
                        component: what,
                        name: name.clone(),
                        at: pointer_place(&format!("{pointer}/parameter_name"), false),
                    });
                }
                seen.push(name);
            }
            Some(_) if unmatched.is_empty() => issues.push(ApprovedIssue::WrongCount {
                component: what,
                expected: placeholders.len(),
                found: values.len(),
                placeholders: placeholders.clone(),
                at: pointer_place(&pointer, false),
                approved: approved_at.clone(),
            }),
            Some(name) => {
                let suggestion = nearest(name, unmatched.iter().map(|name| name.as_str())).map(str::to_owned);
                if let Some(found) = &suggestion {
                    unmatched.retain(|placeholder| *placeholder != found);
                }
                issues.push(ApprovedIssue::UnknownName {
                    component: what,
                    name: name.clone(),
                    suggestion,
                    placeholders: placeholders.clone(),
                    at: pointer_place(&format!("{pointer}/parameter_name"), false),
                    approved: approved_at.clone(),
                });
            }
        }
    }
    for missing in unmatched {
        if given.iter().any(Option::is_none) {
            // A value without a name was already reported; it may be this one.
            break;
        }
        issues.push(ApprovedIssue::MissingName {
            component: what,
            name: missing.clone(),
            at: pointer_place(&base, false),
            approved: approved_at.clone(),
        });
    }
}

fn hydration(
    what: &'static str,
    limit: usize,
    index: usize,
    text: &Text,
    component: &Value,
    approved: &ApprovedTemplate,
) -> Hydration {
    let values = component
        .get("parameters")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let uses = values
        .iter()
        .enumerate()
        .map(|(at, value)| {
            let placeholder = if approved.named {
                value
                    .get("parameter_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            } else {
                (at + 1).to_string()
            };
            text.uses(&placeholder)
        })
        .collect();
    Hydration {
        what,
        limit,
        component: index,
        fixed: text.fixed_chars(),
        uses,
    }
}

/// The message's Flow button against the approved template's buttons: its component and its
/// index; the screen the FLOW button opens.
fn check_button(
    approved: &ApprovedTemplate,
    components: Option<&Vec<Value>>,
    source: &SourceFile,
    issues: &mut Vec<ApprovedIssue>,
) -> Option<Opens> {
    let flow_button = approved.buttons.iter().position(|button| button.kind == "FLOW");
    let components = components?;
    let position = components
        .iter()
        .position(|component| component.get("type").and_then(Value::as_str) == Some("button"));
    let Some(flow_index) = flow_button else {
        issues.push(ApprovedIssue::NoFlowButton {
            name: approved.name.clone(),
            at: pointer_place(
                &position.map_or_else(
                    || "/messaging_object/template/name".to_owned(),
                    |at| format!("{COMPONENTS}/{at}"),
                ),
                false,
            ),
            approved: Place::Flow(source.clone(), approved.at),
        });
        return None;
    };
    let Some(position) = position else {
        issues.push(ApprovedIssue::NoButtonComponent {
            index: flow_index,
            at: pointer_place(COMPONENTS, false),
        });
        return None;
    };
    let component = &components[position];
    let written = component.get("index").and_then(Value::as_str);
    if let Some(written) = written.filter(|written| !written.contains("{{")) {
        if written.parse::<usize>().ok() != Some(flow_index) {
            let there = written
                .parse::<usize>()
                .ok()
                .and_then(|at| approved.buttons.get(at))
                .map(|button| format!("the {} button `{}`", button.kind, button.text));
            issues.push(ApprovedIssue::WrongIndex {
                index: written.to_owned(),
                flow_index,
                there,
                at: pointer_place(&format!("{COMPONENTS}/{position}/index"), false),
                approved: Place::Flow(source.clone(), approved.buttons[flow_index].at),
            });
        }
    }
    let button = &approved.buttons[flow_index];
    let opens = match (&button.navigate_screen, button.flow_action.as_deref()) {
        (Some(screen), None | Some("navigate")) => Some(Opens {
            screen: screen.clone(),
            at: Place::Flow(source.clone(), button.screen_at.unwrap_or(button.at)),
            data: format!("{COMPONENTS}/{position}/parameters/0/action/flow_action_data"),
        }),
        _ => None,
    };
    opens
}
