//! Findings about a template message against its approved template: at the template line
//! that caused them and, beside it, the approved template's line they are about.

use super::{Finding, Related};
use crate::approved::ApprovedIssue;
use crate::flow::Place;
use crate::template::Template;

impl Finding {
    pub(crate) fn from_approved_issue(template: &Template, issue: &ApprovedIssue) -> Finding {
        let finding = Finding::error(issue.to_string()).with_help(issue.help());
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
