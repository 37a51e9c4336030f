//! Reading the approved template: a file kept from the provider's template API holds one item,
//! a list of items, or a page of its answer (`{"data": [...], "paging": ...}`). The item is
//! picked by name *and* language: the same name exists once per language, and matching by name
//! alone sends the wrong language.

use crate::flow::Place;
use crate::template::SourceFile;
use crate::yaml::{Node, NodeKind, Span};

use super::issue::ApprovedIssue;

/// What flowc needs of an approved template, with the place of each part in its file.
#[derive(Debug, Clone)]
pub(crate) struct ApprovedTemplate {
    pub source: SourceFile,
    pub name: String,
    pub language: String,
    pub status: String,
    pub status_at: Span,
    /// `parameter_format: NAMED` (or placeholders that are names): values carry `parameter_name`.
    pub named: bool,
    pub header: Option<Text>,
    /// The header's format when it is not text (IMAGE, VIDEO, DOCUMENT, LOCATION).
    pub header_format: Option<String>,
    pub body: Option<Text>,
    pub footer: Option<String>,
    pub buttons: Vec<Button>,
    /// The item itself.
    pub at: Span,
}

/// An approved text and its placeholders (`1`, `2` or names), in order of first use.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub written: String,
    pub placeholders: Vec<String>,
    pub at: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct Button {
    /// FLOW, QUICK_REPLY, URL, ...
    pub kind: String,
    pub text: String,
    pub flow_action: Option<String>,
    pub navigate_screen: Option<String>,
    pub screen_at: Option<Span>,
    pub at: Span,
}

impl Text {
    fn new(text: &str, at: Span) -> Text {
        let mut placeholders: Vec<String> = Vec::new();
        for (name, _) in placeholders_in(text) {
            if !placeholders.contains(&name) {
                placeholders.push(name);
            }
        }
        Text {
            written: text.to_owned(),
            placeholders,
            at,
        }
    }

    /// How many times the text shows `placeholder`.
    pub(crate) fn uses(&self, placeholder: &str) -> usize {
        placeholders_in(&self.written)
            .filter(|(name, _)| name == placeholder)
            .count()
    }

    /// The text's characters outside its placeholders.
    pub(crate) fn fixed_chars(&self) -> usize {
        let inside: usize = placeholders_in(&self.written).map(|(_, chars)| chars).sum();
        self.written.chars().count() - inside
    }

    /// The text with each placeholder replaced by `value(name)`.
    pub(crate) fn hydrate(&self, value: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.written.len());
        let mut rest = self.written.as_str();
        while let Some(start) = rest.find("{{") {
            let Some(end) = rest[start..].find("}}") else {
                break;
            };
            out.push_str(&rest[..start]);
            let name = rest[start + 2..start + end].trim();
            match value(name) {
                Some(found) => out.push_str(&found),
                None => out.push_str(&rest[start..start + end + 2]),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// The placeholders of a text, `{{1}}` or `{{first_name}}`, with how many characters each takes.
fn placeholders_in(text: &str) -> impl Iterator<Item = (String, usize)> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        let start = rest.find("{{")?;
        let end = rest[start..].find("}}")?;
        let inner = &rest[start + 2..start + end];
        let whole = &rest[start..start + end + 2];
        rest = &rest[start + end + 2..];
        let name = inner.trim();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some((name.to_owned(), whole.chars().count()));
        }
    })
}

/// The item named `name` in `language`, read from the file's text.
pub(crate) fn pick(source: &SourceFile, name: &str, language: &str) -> (Option<ApprovedTemplate>, Vec<ApprovedIssue>) {
    let root = match crate::flow::parse_json(&source.text) {
        Ok(root) => root,
        Err(error) => {
            let issue = ApprovedIssue::Json {
                file: source.name.clone(),
                at: Place::Flow(source.clone(), error.span()),
                error: error.to_string(),
            };
            return (None, vec![issue]);
        }
    };
    let shape = |message: String, span: Span| {
        Box::new(ApprovedIssue::Shape {
            file: source.name.clone(),
            message,
            at: Place::Flow(source.clone(), span),
        })
    };
    let items: Vec<&Node> = match &root.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Map(_) => match root.get("data") {
            Some(entry) => {
                let NodeKind::Seq(items) = &entry.value.kind else {
                    let issue = shape(
                        format!("`data` must be a list of templates, found {}", entry.value.type_name()),
                        entry.value.span,
                    );
                    return (None, vec![*issue]);
                };
                items.iter().collect()
            }
            None => vec![&root],
        },
        _ => {
            let issue = shape(
                format!(
                    "an approved template must be a JSON object (or a list of them), found {}",
                    root.type_name()
                ),
                root.span,
            );
            return (None, vec![*issue]);
        }
    };
    let text_of = |node: &Node, key: &str| node.get(key).and_then(|entry| entry.value.as_str()).map(str::to_owned);
    let mut issues = Vec::new();
    let mut same_name: Vec<&&Node> = items
        .iter()
        .filter(|item| text_of(item, "name").as_deref() == Some(name))
        .collect();
    if same_name.is_empty() {
        let names: Vec<String> = items.iter().filter_map(|item| text_of(item, "name")).collect();
        let suggestion = crate::suggest::nearest(name, names.iter().map(String::as_str)).map(str::to_owned);
        issues.push(ApprovedIssue::NoSuchName {
            name: name.to_owned(),
            file: source.name.clone(),
            suggestion: suggestion.clone(),
            known: names,
            at: Place::Pointer {
                pointer: "/messaging_object/template/name".to_owned(),
                key: false,
            },
        });
        // The rest is checked against the template meant, when the name is near one.
        let Some(suggestion) = suggestion else {
            return (None, issues);
        };
        same_name = items
            .iter()
            .filter(|item| text_of(item, "name").as_deref() == Some(suggestion.as_str()))
            .collect();
    }
    let found = same_name
        .iter()
        .find(|item| text_of(item, "language").as_deref() == Some(language));
    let item = if let Some(item) = found {
        item
    } else {
        let languages: Vec<String> = same_name.iter().filter_map(|item| text_of(item, "language")).collect();
        let suggestion = crate::suggest::nearest(language, languages.iter().map(String::as_str)).map(str::to_owned);
        let first = same_name[0];
        let shown = first.get("language").map_or(first.span, |entry| entry.value.span);
        if issues.is_empty() {
            issues.push(ApprovedIssue::NoSuchLanguage {
                name: name.to_owned(),
                language: language.to_owned(),
                file: source.name.clone(),
                suggestion: suggestion.clone(),
                known: languages,
                at: Place::Pointer {
                    pointer: "/messaging_object/template/language/code".to_owned(),
                    key: false,
                },
                approved: Place::Flow(source.clone(), shown),
            });
        }
        // The rest is checked against the nearest language's, or the only one's.
        let meant = suggestion.or_else(|| (same_name.len() == 1).then(|| text_of(first, "language")).flatten());
        match same_name.iter().find(|item| text_of(item, "language") == meant) {
            Some(item) if meant.is_some() => item,
            _ => return (None, issues),
        }
    };
    match read_item(source, item) {
        Ok(approved) => (Some(approved), issues),
        Err((message, span)) => {
            issues.push(*shape(message, span));
            (None, issues)
        }
    }
}

fn read_item(source: &SourceFile, item: &Node) -> Result<ApprovedTemplate, (String, Span)> {
    let text_at = |node: &Node, key: &str| -> Option<(String, Span)> {
        let entry = node.get(key)?;
        Some((entry.value.as_str()?.to_owned(), entry.value.span))
    };
    let (name, _) = text_at(item, "name").ok_or(("the template has no `name`".to_owned(), item.span))?;
    let (language, _) = text_at(item, "language").ok_or(("the template has no `language`".to_owned(), item.span))?;
    let (status, status_at) = text_at(item, "status").ok_or((format!("`{name}` has no `status`"), item.span))?;
    let mut approved = ApprovedTemplate {
        source: source.clone(),
        name,
        language,
        status: status.to_ascii_uppercase(),
        status_at,
        named: text_at(item, "parameter_format").is_some_and(|(format, _)| format.eq_ignore_ascii_case("NAMED")),
        header: None,
        header_format: None,
        body: None,
        footer: None,
        buttons: Vec::new(),
        at: item.span,
    };
    let components = match item.get("components").map(|entry| &entry.value.kind) {
        Some(NodeKind::Seq(components)) => components.as_slice(),
        _ => &[],
    };
    for component in components {
        let kind = text_at(component, "type").map(|(kind, _)| kind.to_ascii_uppercase());
        match kind.as_deref() {
            Some("HEADER") => {
                let format = text_at(component, "format")
                    .map_or_else(|| "TEXT".to_owned(), |(format, _)| format.to_ascii_uppercase());
                if format == "TEXT" {
                    approved.header = text_at(component, "text").map(|(text, at)| Text::new(&text, at));
                } else {
                    approved.header_format = Some(format);
                }
            }
            Some("BODY") => approved.body = text_at(component, "text").map(|(text, at)| Text::new(&text, at)),
            Some("FOOTER") => approved.footer = text_at(component, "text").map(|(text, _)| text),
            Some("BUTTONS") => {
                if let Some(NodeKind::Seq(buttons)) = component.get("buttons").map(|entry| &entry.value.kind) {
                    for button in buttons {
                        let screen = text_at(button, "navigate_screen");
                        approved.buttons.push(Button {
                            kind: text_at(button, "type")
                                .map_or_else(String::new, |(kind, _)| kind.to_ascii_uppercase()),
                            text: text_at(button, "text").map_or_else(String::new, |(text, _)| text),
                            flow_action: text_at(button, "flow_action").map(|(action, _)| action),
                            screen_at: screen.as_ref().map(|(_, at)| *at),
                            navigate_screen: screen.map(|(screen, _)| screen),
                            at: button.get("type").map_or(button.span, |entry| entry.value.span),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // Placeholders that are names make a named template, whatever the item says.
    let names = |text: &Option<Text>| {
        text.as_ref()
            .is_some_and(|text| text.placeholders.iter().any(|name| name.parse::<usize>().is_err()))
    };
    approved.named |= names(&approved.header) || names(&approved.body);
    Ok(approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted_once_and_their_characters_left_out() {
        let text = Text::new("Hi {{1}}, see {{2}} and {{1}} again", Span::default());
        assert_eq!(text.placeholders, ["1", "2"]);
        assert_eq!(text.uses("1"), 2);
        assert_eq!(text.fixed_chars(), "Hi , see  and  again".chars().count());
        assert_eq!(
            text.hydrate(|name| Some(format!("<{name}>"))),
            "Hi <1>, see <2> and <1> again"
        );
    }
}
