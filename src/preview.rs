//! `flowc preview`: the message as WhatsApp draws it, as one self-contained HTML page (no
//! network assets): header, body and footer with WhatsApp's formatting, the flow button, and a
//! panel with the exact JSON body, the warnings and the errors.
//!
//! A finding about a part that is drawn (the header over its limit, an emoji in the button)
//! also marks that part on the phone, with the finding under it: the panel says what is
//! wrong, the phone shows where. A draft Flow gets a badge, since only its testers can open it.
//! A template message is drawn from its approved template (`template_json`): the approved
//! header and body with the row's values put in, the footer, the FLOW button's label.

use serde_json::Value;

use crate::approved::{ApprovedTemplate, Text, COMPONENTS};
use crate::html::{self, escape, FOOT};

/// A line for the panel beside the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub error: bool,
    /// Where, as `file:line:column` (or a data row), when known.
    pub location: Option<String>,
    pub message: String,
    pub help: Option<String>,
    /// The field of the body it is about, when it has one.
    pub pointer: Option<String>,
}

/// The parts of the message drawn on the phone, by the field each shows.
const HEADER: &str = "/messaging_object/interactive/header";
const BODY: &str = "/messaging_object/interactive/body";
const FOOTER: &str = "/messaging_object/interactive/footer";
const BUTTON: &str = "/messaging_object/interactive/action/parameters/flow_cta";
const MODE: &str = "/messaging_object/interactive/action/parameters/mode";

/// The class of a drawn part with findings (`marked-error`, errors first), and the findings to
/// write under it.
fn marks<'a>(notes: &'a [Note], part: &str) -> (&'static str, String) {
    let about: Vec<&'a Note> = notes
        .iter()
        .filter(|note| {
            note.pointer
                .as_deref()
                .and_then(|pointer| pointer.strip_prefix(part))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .collect();
    let class = if about.iter().any(|note| note.error) {
        " marked-error"
    } else if about.is_empty() {
        ""
    } else {
        " marked-warning"
    };
    let lines: String = about
        .iter()
        .map(|note| {
            let level = if note.error { "error" } else { "warning" };
            format!("<div class=\"mark {level}\">{}</div>", escape(&note.message))
        })
        .collect();
    (class, lines)
}

/// The page for a body (absent when rendering failed), the HTML of the Flow screen its button
/// opens (when the template names its Flow), and its notes.
pub(crate) fn page(
    title: &str,
    body: Option<&Value>,
    approved: Option<&ApprovedTemplate>,
    screen: Option<&str>,
    notes: &[Note],
) -> String {
    let is_template = body
        .and_then(|body| body.pointer("/messaging_object/type"))
        .and_then(Value::as_str)
        == Some("template");
    let drawn = if is_template {
        body.map(|body| template_parts(body, approved))
    } else {
        body.map(interactive_parts)
    };
    let mut bubble = String::new();
    if let Some(drawn) = &drawn {
        for (pointer, class, html) in &drawn.parts {
            let (marked, marks) = marks(notes, pointer);
            if let Some(html) = html {
                bubble.push_str(&format!("<div class=\"{class}{marked}\">{html}</div>"));
            }
            bubble.push_str(&marks);
        }
    }
    bubble.push_str("<div class=\"time\">12:00</div>");
    let (cta, button_pointer) = drawn
        .as_ref()
        .map_or((String::new(), BUTTON.to_owned()), |drawn| drawn.button.clone());
    let (button_marked, button_marks) = marks(notes, &button_pointer);
    let draft = match body.and_then(|body| body.pointer(MODE)).and_then(Value::as_str) {
        Some("draft") => "<div class=\"badge\"><b>mode: draft</b> · only the Flow's testers can open it</div>",
        _ => "",
    };
    let message = if body.is_some() {
        format!(
            "<div class=\"bubble\">{bubble}</div><div class=\"button{button_marked}\">{FLOW_ICON}<span>{}</span></div>{button_marks}{draft}",
            escape(&cta)
        )
    } else {
        "<div class=\"bubble missing\">The message could not be rendered: see the errors.</div>".to_owned()
    };
    let json = body
        .and_then(|body| serde_json::to_string_pretty(body).ok())
        .unwrap_or_else(|| "(no body)".to_owned());
    let notes_html: String = if notes.is_empty() {
        "<li class=\"ok\">Valid: no errors, no warnings.</li>".to_owned()
    } else {
        notes
            .iter()
            .map(|note| {
                let class = if note.error { "error" } else { "warning" };
                let label = if note.error { "error" } else { "warning" };
                let location = note
                    .location
                    .as_ref()
                    .map(|l| format!("<span class=\"where\">{}</span> ", escape(l)))
                    .unwrap_or_default();
                let help = note
                    .help
                    .as_ref()
                    .map(|h| format!("<div class=\"help\">{}</div>", escape(h)))
                    .unwrap_or_default();
                let message = match &note.pointer {
                    Some(pointer) if !pointer.is_empty() => format!("{} (at {pointer})", note.message),
                    _ => note.message.clone(),
                };
                format!(
                    "<li class=\"{class}\"><b>{label}</b> {location}{}{help}</li>",
                    escape(&message)
                )
            })
            .collect()
    };
    format!(
        r#"{head}<section class="phone" aria-label="WhatsApp message preview">
<div class="bar">WhatsApp · {title}</div>
<div class="chat">{message}</div>{screen}
</section>
<section class="panel">
<h2>Findings</h2>
<ul class="notes">{notes_html}</ul>
<h2>Request body</h2>
<pre>{json}</pre>
</section>
{FOOT}"#,
        head = html::head(&escape(title), "preview", CSS),
        title = escape(title),
        json = escape(&json),
        screen = screen.map_or_else(String::new, |screen| format!("\n<div class=\"opens\">{screen}</div>")),
    )
}

/// What the bubble draws: each part with the field it shows, and the button's label and field.
struct Drawn {
    parts: Vec<(String, &'static str, Option<String>)>,
    button: (String, String),
}

fn interactive_parts(body: &Value) -> Drawn {
    let interactive = body.pointer("/messaging_object/interactive");
    let text = |pointer: &str| interactive.and_then(|i| i.pointer(pointer)).and_then(Value::as_str);
    Drawn {
        parts: vec![
            (HEADER.to_owned(), "header", text("/header/text").map(whatsapp_html)),
            (BODY.to_owned(), "body", text("/body/text").map(whatsapp_html)),
            (FOOTER.to_owned(), "footer", text("/footer/text").map(escape)),
        ],
        button: (
            text("/action/parameters/flow_cta").unwrap_or("").to_owned(),
            BUTTON.to_owned(),
        ),
    }
}

/// A template message as WhatsApp draws it: the approved texts with the row's values put in
/// (when the template names its approved template), else the values themselves, each part
/// marked by the component that gives its values.
fn template_parts(body: &Value, approved: Option<&ApprovedTemplate>) -> Drawn {
    let components = body
        .pointer(COMPONENTS)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let find = |kind: &str| {
        components
            .iter()
            .position(|component| component.get("type").and_then(Value::as_str) == Some(kind))
    };
    let values = |index: Option<usize>| -> Vec<(Option<String>, String)> {
        index
            .and_then(|index| components[index].get("parameters"))
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .map(|value| {
                        (
                            value.get("parameter_name").and_then(Value::as_str).map(str::to_owned),
                            value.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let named = approved.is_some_and(|approved| approved.named);
    let part = |kind: &'static str, text: Option<&Text>| {
        let index = find(kind);
        let pointer = index.map_or_else(
            || format!("{COMPONENTS}/{kind}"),
            |index| format!("{COMPONENTS}/{index}"),
        );
        let given = values(index);
        let html = match text {
            Some(text) => Some(whatsapp_html(&text.hydrate(|placeholder| {
                let found = if named {
                    given.iter().find(|(name, _)| name.as_deref() == Some(placeholder))
                } else {
                    placeholder
                        .parse::<usize>()
                        .ok()
                        .and_then(|at| given.get(at.checked_sub(1)?))
                };
                found.map(|(_, value)| value.clone())
            }))),
            // Without the approved template, the values the component gives.
            None if approved.is_none() && !given.is_empty() => Some(format!(
                "<span class=\"values\">{kind} values: {}</span>",
                given
                    .iter()
                    .map(|(name, value)| match name {
                        Some(name) => format!("{}: {}", escape(name), escape(value)),
                        None => escape(value),
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            )),
            None => None,
        };
        (pointer, kind, html)
    };
    let mut parts = vec![
        part("header", approved.and_then(|approved| approved.header.as_ref())),
        part("body", approved.and_then(|approved| approved.body.as_ref())),
    ];
    parts.push((
        format!("{COMPONENTS}/footer"),
        "footer",
        approved.and_then(|approved| approved.footer.as_deref()).map(escape),
    ));
    let label = approved
        .and_then(|approved| approved.buttons.iter().find(|button| button.kind == "FLOW"))
        .map_or_else(|| "FLOW button".to_owned(), |button| button.text.clone());
    let button = find("button").map_or_else(
        || format!("{COMPONENTS}/button"),
        |index| format!("{COMPONENTS}/{index}"),
    );
    Drawn {
        parts,
        button: (label, button),
    }
}

const FLOW_ICON: &str = r#"<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><path fill="currentColor" d="M2 3h12v2H2zm0 4h12v2H2zm0 4h8v2H2z"/></svg>"#;

const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;background:#f0f2f5;color:#111b21}
main{display:flex;flex-wrap:wrap;gap:24px;padding:16px;align-items:flex-start}
.phone{width:360px;max-width:100%;flex:none;border-radius:18px;overflow:hidden;box-shadow:0 2px 8px rgba(0,0,0,.2);background:#efeae2}
.bar{background:#008069;color:#fff;padding:14px 16px;font-weight:600;font-size:15px;overflow-wrap:anywhere}
.chat{padding:16px 12px 20px}
.bubble{background:#fff;border-radius:0 8px 8px 8px;padding:8px 9px 6px;box-shadow:0 1px .5px rgba(11,20,26,.13);max-width:100%;overflow-wrap:anywhere;word-break:break-word;font-size:14.2px;line-height:19px}
.bubble.missing{color:#8696a0;font-style:italic}
.header{font-weight:700;margin-bottom:4px}
.body{white-space:normal}
.footer{color:#667781;font-size:13px;margin-top:4px}
.values{color:#54656f;font-style:italic}
.time{color:#667781;font-size:11px;text-align:right;margin-top:2px}
.button{background:#fff;margin-top:2px;border-radius:8px;padding:10px;display:flex;gap:6px;align-items:center;justify-content:center;color:#027eb5;font-weight:500;font-size:14px;box-shadow:0 1px .5px rgba(11,20,26,.13);overflow-wrap:anywhere}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.panel{flex:1 1 360px;min-width:0}
h2{font-size:15px;margin:8px 0}
pre{background:#fff;border:1px solid #d1d7db;border-radius:8px;padding:12px;overflow:auto;font-size:12px}
.notes{list-style:none;padding:0;margin:0 0 16px}
.notes li{background:#fff;border-left:4px solid #8696a0;border-radius:6px;padding:8px 10px;margin-bottom:6px;font-size:13px;overflow-wrap:anywhere}
.notes li.error{border-color:#d93025}
.notes li.warning{border-color:#f29900}
.notes li.ok{border-color:#1e8e3e}
.marked-error{outline:2px solid #d93025;outline-offset:1px;border-radius:4px;background:#fce8e6}
.marked-warning{outline:2px solid #f29900;outline-offset:1px;border-radius:4px;background:#fef7e0}
.mark{font-size:11.5px;line-height:15px;font-weight:400;margin:3px 0 5px;overflow-wrap:anywhere}
.mark.error{color:#c5221f}
.mark.warning{color:#b06000}
.mark::before{content:'\\25B2  '}
.badge{margin-top:8px;background:#fff3cd;color:#5c4400;border:1px solid #f2d479;border-radius:12px;padding:4px 10px;font-size:12px;text-align:center}
.where{font-family:ui-monospace,Menlo,Consolas,monospace;color:#54656f}
.help{color:#54656f;margin-top:4px;white-space:pre-wrap}
.opens{padding:0 12px 16px}
.sheet-note{color:#54656f;font-size:12px;margin:0 0 6px;overflow-wrap:anywhere}
.sheet{background:#fff;border-radius:14px 14px 8px 8px;box-shadow:0 1px 3px rgba(11,20,26,.2);overflow:hidden;font-size:14px;line-height:19px;overflow-wrap:anywhere}
.sheet-bar{display:flex;align-items:center;gap:12px;padding:12px 14px;border-bottom:1px solid #e9edef}
.sheet-close{color:#54656f}
.sheet-title{font-weight:600;font-size:16px}
.sheet-body{padding:10px 14px;display:flex;flex-direction:column;gap:12px}
.f-heading{font-size:20px;line-height:26px;font-weight:700}
.f-subheading{font-size:16px;font-weight:700}
.f-caption{color:#667781;font-size:12px}
.f-field{display:flex;flex-direction:column;gap:3px}
.f-input{display:flex;justify-content:space-between;align-items:center;border:1px solid #8696a0;border-radius:6px;padding:10px 12px;color:#54656f}
.f-area{min-height:64px;align-items:flex-start}
.f-mark{color:#54656f}
.f-optional{color:#8696a0;font-size:12px}
.f-helper{color:#667781;font-size:12px}
.f-group{display:flex;flex-direction:column;gap:8px}
.f-label{font-weight:600}
.f-option{display:flex;gap:10px;align-items:flex-start}
.f-radio,.f-check,.f-chip{flex:none;width:18px;height:18px;border:2px solid #8696a0;margin-top:1px}
.f-radio{border-radius:50%}
.f-check{border-radius:3px}
.f-chip{border-radius:9px;width:28px}
.f-link{color:#027eb5}
.f-image{background:#e9edef;color:#667781;display:flex;align-items:center;justify-content:center;border-radius:6px;font-size:12px}
.f-unknown{color:#8696a0;font-size:12px}
.sheet-footer{padding:10px 14px 14px}
.f-captions{display:flex;justify-content:space-between;color:#667781;font-size:12px;margin-bottom:6px}
.f-footer{background:#00a884;color:#fff;border-radius:20px;padding:10px;text-align:center;font-weight:600}
.f-nofooter{color:#8696a0;text-align:center;font-size:12px}
";

/// HTML for a WhatsApp text: `*bold*`, `_italic_`, `~strike~`, ```` ```monospace``` ````,
/// line breaks kept; everything else escaped.
pub(crate) fn whatsapp_html(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("```") else { break };
        out.push_str(&inline_html(&rest[..start]));
        out.push_str(&format!("<code>{}</code>", escape(&after[..end]).replace('\n', "<br>")));
        rest = &after[end + 3..];
    }
    out.push_str(&inline_html(rest));
    out
}

/// `*bold*`, `_italic_` and `~strike~` within one line: the markers must enclose text that
/// neither starts nor ends with a space, as WhatsApp requires.
fn inline_html(text: &str) -> String {
    text.split('\n').map(inline_line).collect::<Vec<_>>().join("<br>")
}

fn inline_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let tag = match c {
            '*' => Some("strong"),
            '_' => Some("em"),
            '~' => Some("del"),
            _ => None,
        };
        let opens = index == 0 || !chars[index - 1].is_alphanumeric();
        if let (Some(tag), true) = (tag, opens) {
            let close = chars[index + 1..]
                .iter()
                .position(|&other| other == c)
                .map(|p| p + index + 1);
            if let Some(close) = close {
                let inner: String = chars[index + 1..close].iter().collect();
                let closes = close + 1 == chars.len() || !chars[close + 1].is_alphanumeric();
                if !inner.is_empty() && !inner.starts_with(' ') && !inner.ends_with(' ') && closes {
                    out.push_str(&format!("<{tag}>{}</{tag}>", inline_line(&inner)));
                    index = close + 1;
                    continue;
                }
            }
        }
        out.push_str(&escape(&c.to_string()));
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_formatting() {
        assert_eq!(
            whatsapp_html("*Hi* _there_ ~old~ ```a*b*c```"),
            "<strong>Hi</strong> <em>there</em> <del>old</del> <code>a*b*c</code>"
        );
        assert_eq!(whatsapp_html("2*3*4 and * not bold *"), "2*3*4 and * not bold *");
        assert_eq!(whatsapp_html("snake_case_name"), "snake_case_name");
        assert_eq!(
            whatsapp_html("Tom & <b>Jerry</b>\nline"),
            "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;<br>line"
        );
        assert_eq!(whatsapp_html("*bold _both_*"), "<strong>bold <em>both</em></strong>");
    }
}
