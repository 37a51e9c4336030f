//! The plan `flowc send` shows before it asks: what will be sent, held, skipped, and where the
//! journal and the report go.

use std::path::Path;

use super::SendOptions;
use crate::commands::grouping::Grouping;
use crate::diagnostic::{Emit, Finding};
use crate::send::account::Account;
use crate::send::campaign::Plan;
use crate::send::hours::SendingHours;
use crate::send::journal::TemplateChange;
use crate::words;

/// The plan's line on a template changed since rows went out (`--changed-template`).
fn describe_template_change(change: &TemplateChange) -> String {
    let sent: u64 = change.earlier.iter().map(|(_, count)| count).sum();
    let earlier = match change.earlier.as_slice() {
        [(version, _)] => format!("the earlier version {version}"),
        versions => format!(
            "earlier versions ({})",
            versions
                .iter()
                .map(|(version, count)| format!("{} with {version}", words::thousands(*count)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "          changed since rows went out (--changed-template): {} went out with {earlier}; the rows not yet sent go out with {} (the journal records each row's version)",
        words::count(sent, "row", "rows"),
        change.now
    )
}

/// `--window-margin` as it is written: `1h`, `30m`, `1h30m`, `0s`.
fn margin_text(seconds: u64) -> String {
    let parts = [(seconds / 3600, "h"), (seconds % 3600 / 60, "m"), (seconds % 60, "s")];
    let text: String = parts
        .iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text
    }
}

pub(super) fn print_plan(
    options: &SendOptions,
    account: Option<&Account>,
    plan: &Plan,
    hours: Option<&SendingHours>,
    (journal, report): (&Path, &Path),
    grouping: &Grouping<'_>,
) {
    let printer = grouping.printer();
    // The pre-flight's repeated findings, summed up before the plan they led to.
    grouping.summarize();
    if let Some((row, first)) = plan.first_shared_flow_token {
        // Once for the whole file, never folded into the counted findings.
        printer.emit(
            Finding::warning(format!(
                "{} {} a flow_token with an earlier row (row {row} has the flow_token of row {first})",
                words::count(plan.shared_flow_token, "row", "rows"),
                words::plural(plan.shared_flow_token, "shares", "share")
            ))
            .with_help(Some(
                "a completed Flow is matched to its row by its flow_token: give each row its own (e.g. `flow_token: \"booking-{{customer_id}}\"`); replies to rows that share one are matched by the number that replied, or by the message they answer when the callbacks carry it",
            )),
        );
    }
    let endpoint = account.map_or_else(
        || "(no account configured)".to_owned(),
        |account| format!("POST {}", account.messages_url()),
    );
    let rate = match options.rate {
        0 => "no rate limit".to_owned(),
        rate => {
            let seconds = plan.to_send.count().div_ceil(u64::from(rate));
            format!("{rate} messages/s ({})", words::about_duration(seconds))
        }
    };
    let mut lines = vec![format!("template: {}", options.template.display())];
    if let Some(change) = &plan.template_change {
        lines.push(describe_template_change(change));
    }
    lines.extend([
        format!(
            "data:     {} ({} valid, {} invalid)",
            options.data.display(),
            words::thousands(plan.valid),
            words::thousands(plan.invalid)
        ),
        format!("endpoint: {endpoint}"),
    ]);
    if let Some((field, key)) = plan.track_example() {
        lines.push(format!(
            "track:    extra_info.{field} carries each row's key (row 2: `{key}`); callbacks are matched to rows by it"
        ));
    }
    if plan.settled > 0 {
        lines.push(format!(
            "settled:  {} unknown settled as accepted from callbacks (--events): the provider has {}",
            words::thousands(plan.settled),
            words::plural(plan.settled, "its message", "their messages")
        ));
    }
    if plan.settled_not_sent > 0 {
        lines.push(format!(
            "settled:  {} unknown settled as not sent from callbacks (--events): failed, not sent again",
            plan.settled_not_sent,
        ));
    }
    if plan.accepted_before > 0 || plan.unknown > 0 {
        lines.push(format!(
            "resume:   {} accepted earlier (skipped), {} unknown ({})",
            words::thousands(plan.accepted_before),
            words::thousands(plan.unknown),
            if options.resend_unknown {
                "sent again"
            } else {
                "not sent"
            }
        ));
    }
    if plan.duplicate > 0 || plan.excluded > 0 || plan.opted_out > 0 {
        lines.push(format!(
            "not sent: {} duplicate (the number of an earlier row), {} excluded (--exclude), {} opted-out (--events)",
            words::thousands(plan.duplicate),
            words::thousands(plan.excluded),
            words::thousands(plan.opted_out)
        ));
    }
    if plan.held_daily > 0 {
        lines.push(format!(
            "daily:    {} {} pending (--daily-limit {}): run again when slots open",
            words::count(plan.held_daily, "row", "rows"),
            words::plural(plan.held_daily, "stays", "stay"),
            options.daily_limit.unwrap_or_default()
        ));
    }
    if plan.held > 0 {
        lines.push(format!(
            "limit:    {} {} pending (--limit {}): run again to send them",
            words::count(plan.held, "more row", "more rows"),
            words::plural(plan.held, "stays", "stay"),
            options.limit.unwrap_or_default()
        ));
    }
    if let Some(hours) = hours {
        lines.push(format!("window:   {}", hours.describe(jiff::Timestamp::now())));
    }
    lines.push(format!(
        "to send:  {} at {rate}, {} in flight at most",
        words::thousands(plan.to_send.count()),
        options.concurrency
    ));
    if let (Some(in_window), Some(template)) = (plan.in_window, &options.outside_window) {
        let outside = plan.to_send.count().saturating_sub(in_window);
        lines.push(format!(
            "message:  {} the Flow message (wrote in the last 24 hours, less --window-margin {}), {} the template {} (as of now: decided again for each row right before it is sent)",
            words::thousands(in_window),
            margin_text(options.window_margin),
            words::thousands(outside),
            template.display()
        ));
    }
    if let (Some(in_window), None) = (plan.in_window, &options.outside_window) {
        let to_send = plan.to_send.count();
        let outside = to_send.saturating_sub(in_window);
        if outside > 0 {
            printer.emit(
                Finding::warning(format!(
                    "{} of {} {} not written in 24 hours: the Flow message will fail for them with 131047",
                    words::thousands(outside),
                    words::thousands(to_send),
                    words::plural(outside, "has", "have")
                ))
                .with_help(Some(
                    "add --outside-window TEMPLATE (an approved template message with a Flow button): each person whose 24-hour window is closed gets it instead",
                )),
            );
        }
    }
    if options.dry_run {
        lines.push(format!("dry run:  nothing is sent; report {}", report.display()));
    } else {
        lines.push(format!("journal:  {}; report {}", journal.display(), report.display()));
    }
    for line in lines {
        printer.note(&line);
    }
}
