//! What can be wrong with a template message against its approved template: one variant a
//! rule, each with what is needed to explain it and where, drawn by `diagnostic`.

use crate::flow::Place;
use crate::yaml::Span;

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ApprovedIssue {
    #[error("cannot read the approved template `{path}` named by `template_json`: {reason}")]
    Unreadable { path: String, reason: String, at: Span },
    #[error("`template_json` names an approved template, but this template is a Flow message")]
    NotATemplateMessage { at: Span },
    #[error("{file} is not valid JSON: {error}")]
    Json { file: String, error: String, at: Place },
    #[error("{file}: {message}")]
    Shape { file: String, message: String, at: Place },
    #[error("{file} holds no template named `{name}`")]
    NoSuchName {
        name: String,
        file: String,
        suggestion: Option<String>,
        known: Vec<String>,
        at: Place,
    },
    #[error("the template `{name}` is not approved in the language `{language}` ({file})")]
    NoSuchLanguage {
        name: String,
        language: String,
        file: String,
        suggestion: Option<String>,
        known: Vec<String>,
        at: Place,
        approved: Place,
    },
    #[error("the template `{name}` ({language}) is {status}, not APPROVED: every row would fail")]
    NotApproved {
        name: String,
        language: String,
        status: String,
        at: Place,
        approved: Place,
    },
    #[error("the {component} takes {expected} {} in the approved template, but the message gives {found}", values(*.expected))]
    WrongCount {
        component: &'static str,
        expected: usize,
        found: usize,
        placeholders: Vec<String>,
        at: Place,
        approved: Option<Place>,
    },
    #[error("the approved {component} has no placeholder `{name}`")]
    UnknownName {
        component: &'static str,
        name: String,
        suggestion: Option<String>,
        placeholders: Vec<String>,
        at: Place,
        approved: Option<Place>,
    },
    #[error("the approved {component} has the placeholder `{name}`, but no value names it")]
    MissingName {
        component: &'static str,
        name: String,
        at: Place,
        approved: Option<Place>,
    },
    #[error("the approved template's placeholders are named: this {component} value needs its `parameter_name`")]
    NameMissing {
        component: &'static str,
        placeholders: Vec<String>,
        at: Place,
    },
    #[error("two {component} values name the placeholder `{name}`")]
    DuplicateName {
        component: &'static str,
        name: String,
        at: Place,
    },
    #[error(
        "the approved template's placeholders are numbered ({{{{1}}}}): {component} values take no `parameter_name`"
    )]
    NameNotAllowed { component: &'static str, at: Place },
    #[error("the approved template's header is {format}, not TEXT: flowc checks and sends text headers only")]
    MediaHeader { format: String, at: Place },
    #[error("the approved template `{name}` has no FLOW button")]
    NoFlowButton { name: String, at: Place, approved: Place },
    #[error("the message has no `button` component for the approved FLOW button (index {index})")]
    NoButtonComponent { index: usize, at: Place },
    #[error("`index: \"{index}\"` is {}, not the FLOW button (index {flow_index})", .there.as_deref().unwrap_or("no button of the approved template"))]
    WrongIndex {
        index: String,
        flow_index: usize,
        there: Option<String>,
        at: Place,
        approved: Place,
    },
}

fn values(count: usize) -> &'static str {
    if count == 1 {
        "value"
    } else {
        "values"
    }
}

impl ApprovedIssue {
    pub(crate) fn place(&self) -> Place {
        match self {
            ApprovedIssue::Unreadable { at, .. } | ApprovedIssue::NotATemplateMessage { at } => Place::Template(*at),
            ApprovedIssue::Json { at, .. }
            | ApprovedIssue::Shape { at, .. }
            | ApprovedIssue::NoSuchName { at, .. }
            | ApprovedIssue::NoSuchLanguage { at, .. }
            | ApprovedIssue::NotApproved { at, .. }
            | ApprovedIssue::WrongCount { at, .. }
            | ApprovedIssue::UnknownName { at, .. }
            | ApprovedIssue::MissingName { at, .. }
            | ApprovedIssue::NameMissing { at, .. }
            | ApprovedIssue::DuplicateName { at, .. }
            | ApprovedIssue::NameNotAllowed { at, .. }
            | ApprovedIssue::MediaHeader { at, .. }
            | ApprovedIssue::NoFlowButton { at, .. }
            | ApprovedIssue::NoButtonComponent { at, .. }
            | ApprovedIssue::WrongIndex { at, .. } => at.clone(),
        }
    }

    /// The approved template's line shown beside the message's.
    pub(crate) fn related(&self) -> Option<(Place, String)> {
        match self {
            ApprovedIssue::NoSuchLanguage { approved, name, .. } => {
                Some((approved.clone(), format!("`{name}` as approved")))
            }
            ApprovedIssue::NotApproved { approved, .. } => Some((approved.clone(), "its status".to_owned())),
            ApprovedIssue::WrongCount { approved, .. }
            | ApprovedIssue::UnknownName { approved, .. }
            | ApprovedIssue::MissingName { approved, .. } => Some((approved.clone()?, "the approved text".to_owned())),
            ApprovedIssue::NoFlowButton { approved, .. } => {
                Some((approved.clone(), "the approved template".to_owned()))
            }
            ApprovedIssue::WrongIndex { approved, .. } => Some((approved.clone(), "the FLOW button".to_owned())),
            _ => None,
        }
    }

    pub(crate) fn help(&self) -> Option<String> {
        let suggested = |suggestion: &Option<String>| suggestion.as_ref().map(|name| format!("did you mean `{name}`?"));
        let listed = |placeholders: &[String]| {
            if placeholders.is_empty() {
                "it has no placeholders".to_owned()
            } else {
                format!(
                    "its placeholders are {}",
                    placeholders
                        .iter()
                        .map(|name| format!("{{{{{name}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        match self {
            ApprovedIssue::Unreadable { .. } => Some(
                "`template_json` is a path relative to the template's own folder: the approved template as the provider's template API lists it".to_owned(),
            ),
            ApprovedIssue::NotATemplateMessage { .. } => Some(
                "a template message has `type: template` and a `template:` block under `messaging_object`; remove `template_json` from a Flow message".to_owned(),
            ),
            ApprovedIssue::Json { .. } | ApprovedIssue::Shape { .. } => Some(
                "the file holds one template as the provider's template API lists it, a list of them, or the API's answer with its `data` list".to_owned(),
            ),
            ApprovedIssue::NoSuchName { suggestion, known, .. } => suggested(suggestion).or_else(|| {
                Some(if known.is_empty() {
                    "the file lists no templates".to_owned()
                } else {
                    format!("it lists {}", known.join(", "))
                })
            }),
            ApprovedIssue::NoSuchLanguage { suggestion, known, .. } => suggested(suggestion)
                .or_else(|| Some(format!("it is approved in {}", known.join(", "))))
                .map(|help| format!("{help} (Meta answers 132001 for a template that does not exist in the language sent)")),
            ApprovedIssue::NotApproved { status, .. } => Some(match status.as_str() {
                "PAUSED" => "Meta paused it for low quality (132015): wait for it to resume (3 hours, then 6) or use another template".to_owned(),
                "DISABLED" => "Meta disabled it (132016): it cannot be sent again; create and approve a new one".to_owned(),
                "PENDING" | "IN_APPEAL" => "wait for Meta's review to approve it, then pull it again".to_owned(),
                "REJECTED" => "edit it in WhatsApp Manager and submit it again for review".to_owned(),
                _ => "only an approved template can be sent".to_owned(),
            }),
            ApprovedIssue::WrongCount { placeholders, found, expected, .. } => Some(format!(
                "{}; Meta refuses a different count (132000){}",
                listed(placeholders),
                if found > expected { ": remove the extra value" } else { "" }
            )),
            ApprovedIssue::UnknownName { suggestion, placeholders, .. } => {
                suggested(suggestion).or_else(|| Some(listed(placeholders)))
            }
            ApprovedIssue::MissingName { name, .. } => Some(format!(
                "add a value with `parameter_name: {name}` (Meta refuses a missing value, 132000)"
            )),
            ApprovedIssue::NameMissing { placeholders, .. } => Some(format!(
                "{}; Meta refuses named values sent without their name (#100 Invalid parameter)",
                listed(placeholders)
            )),
            ApprovedIssue::DuplicateName { .. } => Some("give each placeholder one value".to_owned()),
            ApprovedIssue::NameNotAllowed { .. } => Some(
                "remove `parameter_name`: positional values go in the order of {{1}}, {{2}} (132012 otherwise)".to_owned(),
            ),
            ApprovedIssue::MediaHeader { .. } => Some(
                "an image, video or document header takes a media value (a link or an id), which template messages here do not carry yet: use a template with a text header".to_owned(),
            ),
            ApprovedIssue::NoFlowButton { .. } => Some(
                "a template message opens a Flow through an approved FLOW button: name a template that has one".to_owned(),
            ),
            ApprovedIssue::NoButtonComponent { index, .. } => Some(format!(
                "add `{{ type: button, sub_type: flow, index: \"{index}\", parameters: [{{ type: action, action: {{ flow_token: \"...\" }} }}] }}`: sends without it were refused with 131009"
            )),
            ApprovedIssue::WrongIndex { flow_index, .. } => Some(format!("did you mean `index: \"{flow_index}\"`?")),
        }
    }
}
