//! Findings about a template's Flow: at the template line that caused them and, beside it, the
//! Flow JSON line they are about.

use super::{Finding, Related};
use crate::flow::{FlowIssue, Place};
use crate::template::Template;

impl Finding {
    pub(crate) fn from_flow_issue(template: &Template, issue: &FlowIssue) -> Finding {
        let finding = if issue.is_error() {
            Finding::error(issue.to_string())
        } else {
            Finding::warning(issue.to_string())
        }
        .with_help(issue.help());
        let mut finding = match issue.place() {
            Place::Template(span) => finding.at(&template.source, span),
            Place::Pointer { pointer, key } => {
                let span = Place::in_template(template, &pointer, key);
                finding.at(&template.source, span).at_pointer(pointer)
            }
            Place::Flow(source, span) => finding.at(&source, span),
        };
        if let Some((Place::Flow(source, span), message)) = issue.related() {
            finding.related.push(Related { message, source, span });
        }
        finding
    }
}
