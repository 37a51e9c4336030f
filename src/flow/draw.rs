//! The screen a message's button opens, drawn as HTML for `flowc preview`: its title and its
//! components as the Flow JSON components reference describes them (text, inputs, dropdowns,
//! radio and check groups, date pickers, opt-ins, links, images, the footer button), with each
//! `${data.KEY}` filled from the message's payload, so that a reviewer sees what the person will
//! see after tapping. What the person has not typed yet (`${form.…}`) is drawn empty.
//!
//! This is a sketch of the screen, not WhatsApp's renderer: sizes and fonts are approximate.

use serde_json::{Map, Value};

use crate::html::escape;
use crate::yaml::{Node, NodeKind};

use super::payload::Opened;

/// How many components are drawn at most: Meta allows 50 a screen; the cap keeps a hostile
/// Flow's page small.
const MAX_DRAWN: usize = 200;

const CALENDAR_ICON: &str = r#"<svg class="f-mark" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><path fill="currentColor" d="M4 1h2v2h4V1h2v2h2v12H2V3h2zm-1 5v8h10V6z"/></svg>"#;

/// The HTML of the screen a body opens, with a line saying which screen it is, of which Flow
/// (`flow_label`: the template's `flow_json` as written, the same on every machine).
pub(crate) fn screen_html(opened: &Opened<'_>, flow_label: &str) -> String {
    let flow = opened.flow;
    let screen = &flow.screens[opened.screen];
    let node = flow.screen_node(screen);
    let title = node
        .and_then(|node| node.get("title"))
        .and_then(|title| title.value.as_str())
        .map(|title| fill(title, &opened.data))
        .unwrap_or_default();
    let how = if opened.endpoint {
        " (the endpoint chooses the first screen and its data: shown is the entry screen with its <code>__example__</code> data)"
    } else if opened.entry {
        " (the entry screen: <code>flow_action_payload.screen</code> is left out)"
    } else {
        ""
    };
    let mut drawing = Drawing {
        data: &opened.data,
        body: String::new(),
        footer: String::new(),
        drawn: 0,
    };
    if let Some(children) = node
        .and_then(|node| node.get("layout"))
        .and_then(|layout| layout.value.get("children"))
    {
        drawing.children(&children.value);
    }
    if drawing.footer.is_empty() {
        "<div class=\"f-nofooter\">(no footer)</div>".clone_into(&mut drawing.footer);
    }
    format!(
        "<div class=\"sheet-note\">Tapping the button opens <b>{id}</b> of <code>{file}</code>{how}</div>\
<div class=\"sheet\" aria-label=\"The screen the button opens\">\
<div class=\"sheet-bar\"><span class=\"sheet-close\">&#x2715;</span><span class=\"sheet-title\">{title}</span></div>\
<div class=\"sheet-body\">{body}</div><div class=\"sheet-footer\">{footer}</div></div>",
        id = escape(&screen.id),
        file = escape(flow_label),
        title = escape(&title),
        body = drawing.body,
        footer = drawing.footer,
    )
}

struct Drawing<'a> {
    data: &'a Map<String, Value>,
    body: String,
    footer: String,
    drawn: usize,
}

impl Drawing<'_> {
    fn children(&mut self, node: &Node) {
        if let NodeKind::Seq(items) = &node.kind {
            for item in items {
                self.component(item);
            }
        }
    }

    /// A property as display text, dynamic references filled.
    fn text(&self, component: &Node, key: &str) -> Option<String> {
        let value = &component.get(key)?.value;
        Some(match &value.kind {
            NodeKind::Str { value, .. } => fill(value, self.data),
            // Markdown text (`TextBody` with `markdown`, `RichText`) may be a list of lines.
            NodeKind::Seq(lines) => lines
                .iter()
                .filter_map(Node::as_str)
                .map(|line| fill(line, self.data))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => display(&value.to_json()),
        })
    }

    /// Whether a component is shown: `visible` false, as written or from the data, hides it.
    fn visible(&self, component: &Node) -> bool {
        match component.get("visible").map(|entry| &entry.value.kind) {
            Some(NodeKind::Bool(visible)) => *visible,
            Some(NodeKind::Str { value, .. }) => resolve(value, self.data) != Some(Value::Bool(false)),
            _ => true,
        }
    }

    fn component(&mut self, component: &Node) {
        if self.drawn >= MAX_DRAWN || !self.visible(component) {
            return;
        }
        self.drawn += 1;
        let kind = component.get("type").and_then(|kind| kind.value.as_str()).unwrap_or("");
        let text = |key: &str| self.text(component, key).unwrap_or_default();
        let html = match kind {
            "Form" => {
                if let Some(children) = component.get("children") {
                    self.children(&children.value);
                }
                return;
            }
            "If" => {
                // The condition needs what the person types: the `then` branch is drawn.
                if let Some(then) = component.get("then") {
                    self.children(&then.value);
                }
                return;
            }
            "Switch" => {
                let value = component
                    .get("value")
                    .and_then(|value| value.value.as_str())
                    .map(|value| fill(value, self.data));
                if let Some(NodeKind::Map(cases)) = component.get("cases").map(|cases| &cases.value.kind) {
                    let case = cases
                        .iter()
                        .find(|case| Some(&case.key) == value.as_ref())
                        .or_else(|| cases.first());
                    if let Some(case) = case {
                        self.children(&case.value);
                    }
                }
                return;
            }
            "Footer" => {
                let captions: String = ["left-caption", "center-caption", "right-caption"]
                    .iter()
                    .filter_map(|key| self.text(component, key))
                    .map(|caption| format!("<span>{}</span>", escape(&caption)))
                    .collect();
                self.footer = format!(
                    "{}<div class=\"f-footer\">{}</div>",
                    if captions.is_empty() {
                        String::new()
                    } else {
                        format!("<div class=\"f-captions\">{captions}</div>")
                    },
                    escape(&text("label"))
                );
                return;
            }
            "TextHeading" => format!("<div class=\"f-heading\">{}</div>", lines(&text("text"))),
            "TextSubheading" => format!("<div class=\"f-subheading\">{}</div>", lines(&text("text"))),
            "TextBody" | "TextCaption" | "RichText" => {
                let class = match kind {
                    "TextCaption" => "f-caption",
                    _ => "f-body",
                };
                let weight = self.text(component, "font-weight").unwrap_or_default();
                let mut style = String::new();
                if weight.contains("bold") {
                    style.push_str("font-weight:700;");
                }
                if weight.contains("italic") {
                    style.push_str("font-style:italic;");
                }
                if self.text(component, "strikethrough").as_deref() == Some("true") {
                    style.push_str("text-decoration:line-through;");
                }
                let style = if style.is_empty() {
                    String::new()
                } else {
                    format!(" style=\"{style}\"")
                };
                format!("<div class=\"{class}\"{style}>{}</div>", lines(&text("text")))
            }
            "TextInput" | "TextArea" | "DatePicker" | "CalendarPicker" | "Dropdown" | "PhotoPicker"
            | "DocumentPicker" => {
                let (class, mark) = match kind {
                    "TextArea" => ("f-input f-area", ""),
                    "Dropdown" => ("f-input", "<span class=\"f-mark\">&#x25BE;</span>"),
                    "DatePicker" | "CalendarPicker" => ("f-input", CALENDAR_ICON),
                    _ => ("f-input", ""),
                };
                let mut label = text("label");
                if label.is_empty() {
                    // A CalendarPicker in range mode labels each end.
                    label = component
                        .get("label")
                        .map(|label| display(&label.value.to_json()))
                        .unwrap_or_default();
                }
                let helper = self
                    .text(component, "helper-text")
                    .or_else(|| self.text(component, "description"))
                    .map(|helper| format!("<div class=\"f-helper\">{}</div>", escape(&helper)))
                    .unwrap_or_default();
                let required = if component
                    .get("required")
                    .is_some_and(|r| r.value.kind == NodeKind::Bool(true))
                {
                    ""
                } else {
                    " <span class=\"f-optional\">(optional)</span>"
                };
                format!(
                    "<div class=\"f-field\"><div class=\"{class}\"><span>{}{required}</span>{mark}</div>{helper}</div>",
                    escape(&label)
                )
            }
            "RadioButtonsGroup" | "CheckboxGroup" | "ChipsSelector" => {
                let marker = match kind {
                    "RadioButtonsGroup" => "f-radio",
                    "CheckboxGroup" => "f-check",
                    _ => "f-chip",
                };
                let options: String = self
                    .options(component, "data-source")
                    .iter()
                    .map(|(title, description)| {
                        let description = if description.is_empty() {
                            String::new()
                        } else {
                            format!("<div class=\"f-helper\">{}</div>", escape(description))
                        };
                        format!(
                            "<div class=\"f-option\"><span class=\"{marker}\"></span><div><div>{}</div>{description}</div></div>",
                            escape(title)
                        )
                    })
                    .collect();
                let description = self
                    .text(component, "description")
                    .map(|text| format!("<div class=\"f-helper\">{}</div>", escape(&text)))
                    .unwrap_or_default();
                format!(
                    "<div class=\"f-group\"><div class=\"f-label\">{}</div>{description}{options}</div>",
                    escape(&text("label"))
                )
            }
            "NavigationList" => {
                let items: String = self
                    .options(component, "list-items")
                    .iter()
                    .map(|(title, _)| {
                        format!(
                            "<div class=\"f-option\">{} <span class=\"f-mark\">&#x203A;</span></div>",
                            escape(title)
                        )
                    })
                    .collect();
                format!(
                    "<div class=\"f-group\"><div class=\"f-label\">{}</div>{items}</div>",
                    escape(&text("label"))
                )
            }
            "OptIn" => {
                let more = if component.get("on-click-action").is_some() {
                    " <span class=\"f-link\">Read more</span>"
                } else {
                    ""
                };
                format!(
                    "<div class=\"f-option\"><span class=\"f-check\"></span><div>{}{more}</div></div>",
                    escape(&text("label"))
                )
            }
            "EmbeddedLink" => format!("<div class=\"f-link\">{}</div>", escape(&text("text"))),
            "Image" | "ImageCarousel" => {
                let height = component
                    .get("height")
                    .and_then(|height| match height.value.kind {
                        NodeKind::Int(height) => Some(height.clamp(24, 200)),
                        _ => None,
                    })
                    .unwrap_or(120);
                format!(
                    "<div class=\"f-image\" style=\"height:{height}px\">{}</div>",
                    escape(&self.text(component, "alt-text").unwrap_or_else(|| "image".to_owned()))
                )
            }
            other => format!("<div class=\"f-unknown\">({})</div>", escape(other)),
        };
        self.body.push_str(&html);
    }

    /// The title and description of each option of a `data-source` (written out, or
    /// `${data.KEY}` from the payload).
    fn options(&self, component: &Node, key: &str) -> Vec<(String, String)> {
        let Some(source) = component.get(key) else {
            return Vec::new();
        };
        let items = match &source.value.kind {
            NodeKind::Str { value, .. } => resolve(value, self.data).unwrap_or(Value::Null),
            _ => source.value.to_json(),
        };
        let Value::Array(items) = items else {
            return Vec::new();
        };
        items
            .iter()
            .take(MAX_DRAWN)
            .map(|item| {
                let field = |name: &str| {
                    item.get(name)
                        .or_else(|| item.pointer(&format!("/main-content/{name}")))
                        .map(|value| match value {
                            Value::String(text) => fill(text, self.data),
                            other => display(other),
                        })
                        .unwrap_or_default()
                };
                (field("title"), field("description"))
            })
            .collect()
    }
}

/// Escaped text with its line breaks kept.
fn lines(text: &str) -> String {
    escape(text).replace('\n', "<br>")
}

/// A value as display text: text as it is, anything else as compact JSON.
fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The value a property is bound to when it is exactly one `${data.KEY}`.
fn resolve(text: &str, data: &Map<String, Value>) -> Option<Value> {
    let key = text.strip_prefix("${data.")?.strip_suffix('}')?;
    let mut value = data;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let found = value.get(segment)?;
        if segments.peek().is_none() {
            return Some(found.clone());
        }
        value = found.as_object()?;
    }
    None
}

/// A property's text with its references filled: `${data.KEY}` from the payload, anything
/// else (`${form.…}`, `${screen.…}`) empty. A nested expression (Flow JSON 6.0+, in backticks)
/// made of quoted literals and references is concatenated; another one is shown as written,
/// its references filled.
fn fill(text: &str, data: &Map<String, Value>) -> String {
    if let Some(value) = resolve(text, data) {
        return display(&value);
    }
    if let Some(expression) = text.strip_prefix('`').and_then(|rest| rest.strip_suffix('`')) {
        if let Some(joined) = concatenation(expression, data) {
            return joined;
        }
        return substitute(expression, data);
    }
    substitute(text, data)
}

fn substitute(text: &str, data: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let reference = &rest[start..=(start + end)];
        if let Some(value) = resolve(reference, data) {
            out.push_str(&display(&value));
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `'Hello ' ${data.name} '!'` as `Hello Asha!`; `None` for other expressions.
fn concatenation(expression: &str, data: &Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = expression.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('\'') {
            let end = after.find('\'')?;
            out.push_str(&after[..end].replace("\\\\`", "`"));
            rest = &after[end + 1..];
        } else if rest.starts_with("${") {
            let end = rest.find('}')?;
            if let Some(value) = resolve(&rest[..=end], data) {
                out.push_str(&display(&value));
            }
            rest = &rest[end + 1..];
        } else {
            return None;
        }
        rest = rest.trim_start();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_filled_from_the_payload() {
        let data = serde_json::json!({"name": "Asha", "weeks": 2, "who": {"city": "Pune"}});
        let data = data.as_object().expect("an object");
        assert_eq!(fill("${data.name}", data), "Asha");
        assert_eq!(fill("${data.weeks}", data), "2");
        assert_eq!(fill("${data.who.city}", data), "Pune");
        assert_eq!(
            fill("`'In ' ${data.weeks} ' weeks, ' ${data.name}`", data),
            "In 2 weeks, Asha"
        );
        assert_eq!(fill("`${data.weeks} > 1`", data), "2 > 1");
        assert_eq!(fill("Typed: ${form.x}.", data), "Typed: .");
        assert_eq!(fill("${data.missing}", data), "");
    }
}
