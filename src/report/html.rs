//! `flowc report --html`: the campaign on one self-contained page (no network assets, no
//! script: inline CSS and SVG, as `flowc preview`), for people who would rather look than read
//! a CSV, and to hand on: its top names the template, the data file and when the campaign was
//! sent, and accounts for every row of the file; then the funnel as bars, failures by Meta
//! code with their meaning, delivery and reads over time, who asked to stop, and the Flow
//! answers, the most common answer to each question on top (dates in date order).
//!
//! Bar widths are whole pixels of a fixed track, so that the screenshot test can measure them.

use std::fmt::Write as _;

use super::codes;
use super::reconcile::{Delivery, Moment, NEVER};
use super::responses::AnswerTally;
use super::Funnel;
use crate::html::escape;
use crate::send::csv_report::Summary;
use crate::words::{count, thousands};

/// What the top of the page says about the campaign.
pub(crate) struct Campaign<'a> {
    /// The template's and the data file's names, as `flowc send` recorded them.
    pub(crate) template: Option<&'a str>,
    pub(crate) data: Option<&'a str>,
    /// The journal's name, for a journal that does not record the others.
    pub(crate) journal: &'a str,
    /// What was read, and when the page was made.
    pub(crate) sources: &'a str,
    /// Every row of the data file, as the journal has it.
    pub(crate) rows: &'a Summary,
}

/// Opt-outs listed on the page; the report's `opted_out_at` column has every one.
const LISTED_OPT_OUTS: usize = 100;

/// The width of a full bar, in CSS pixels.
pub(crate) const BAR_WIDTH: u64 = 320;
/// Points along the time axis.
const BUCKETS: usize = 60;
/// Answers shown per question.
const TOP_ANSWERS: usize = 10;

/// A bar's width for `count` of `total`.
pub(crate) fn bar_width(count: u64, total: u64) -> u64 {
    (count.min(total) * BAR_WIDTH + total / 2)
        .checked_div(total)
        .unwrap_or(0)
}

fn percent(count: u64, total: u64) -> String {
    if total == 0 {
        return "–".to_owned();
    }
    let share = count as f64 * 100.0 / total as f64;
    if share >= 10.0 || share == 0.0 {
        format!("{share:.0}%")
    } else {
        format!("{share:.1}%")
    }
}

/// A moment on the page: `2026-01-01 09:30:05 UTC`, or out of range (see [`crate::words::utc_time`]).
fn moment(seconds: Moment, format: &str) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(
        |_| crate::words::utc_time(seconds),
        |time| time.strftime(format).to_string(),
    )
}

/// When the campaign was sent: one moment, or the first and the last send.
fn sent_line(span: Option<(i64, i64)>) -> String {
    match span {
        None => "when it was sent: not recorded (a journal from an older flowc), or nothing sent".to_owned(),
        Some((first, last)) if first == last => format!("sent {}", moment(first, "%Y-%m-%d %H:%M:%S UTC")),
        Some((first, last)) => {
            let same_day = jiff::Timestamp::from_second(first)
                .ok()
                .zip(jiff::Timestamp::from_second(last).ok())
                .is_some_and(|(a, b)| a.strftime("%Y-%m-%d").to_string() == b.strftime("%Y-%m-%d").to_string());
            format!(
                "sent {} to {}",
                moment(first, "%Y-%m-%d %H:%M:%S UTC"),
                moment(
                    last,
                    if same_day {
                        "%H:%M:%S UTC"
                    } else {
                        "%Y-%m-%d %H:%M:%S UTC"
                    }
                )
            )
        }
    }
}

/// Every row of the data file accounted for, in one line.
fn rows_line(rows: &Summary) -> String {
    let total = rows.accepted
        + rows.skipped
        + rows.failed
        + rows.invalid
        + rows.pending
        + rows.unknown
        + rows.duplicate
        + rows.excluded
        + rows.opted_out;
    let mut parts = vec![format!(
        "{} accepted by the provider",
        thousands(rows.accepted + rows.skipped)
    )];
    for (count, what) in [
        (rows.failed, "refused by the provider"),
        (rows.unknown, "unknown (no answer when sent)"),
        (rows.invalid, "invalid"),
        (rows.duplicate, "duplicate"),
        (rows.opted_out, "opted out before sending"),
        (rows.excluded, "excluded"),
        (rows.pending, "not sent yet"),
    ] {
        parts.push(format!("{} {what}", thousands(count)));
    }
    format!("{}: {}", count(total, "row", "rows"), parts.join(" · "))
}

/// The page: the campaign (`campaign`), then what its callbacks said.
pub(crate) fn page(campaign: &Campaign<'_>, funnel: &Funnel, delivery: &Delivery, answers: &AnswerTally) -> String {
    let file_name = |path: &str| {
        std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.to_owned(), |name| name.to_string_lossy().into_owned())
    };
    let title = if let (Some(template), Some(data)) = (campaign.template, campaign.data) {
        format!("{} to {}", file_name(template), file_name(data))
    } else {
        let name = file_name(campaign.journal);
        name.strip_suffix(".journal.sqlite").unwrap_or(&name).to_owned()
    };
    let unrecorded = "not recorded (a journal from an older flowc)";
    let about = format!(
        "template {} · data file {} · {}",
        campaign.template.unwrap_or(unrecorded),
        campaign.data.unwrap_or(unrecorded),
        sent_line(funnel.sent_span)
    );
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        r#"{head}<h1>{title}</h1>
<p class="campaign">{about}</p>
<p class="rows">{rows}</p>
<p class="sources">{sources}</p>
<p class="summary">{summary}</p>
"#,
        head = crate::html::head(&escape(&title), "report", CSS),
        title = escape(&title),
        about = escape(&about),
        rows = escape(&rows_line(campaign.rows)),
        sources = escape(campaign.sources),
        summary = escape(&funnel.to_string()),
    );
    funnel_section(&mut html, funnel);
    per_message_section(&mut html, &Funnel::per_message(delivery));
    failures_section(&mut html, funnel);
    pricing_section(&mut html, funnel);
    timeline_section(&mut html, delivery);
    opt_outs_section(&mut html, delivery);
    answers_section(&mut html, answers);
    let _ = write!(
        html,
        "<section><h2>Events</h2><p class=\"note\">{}</p></section>\n{}",
        escape(&funnel.events_line()),
        crate::html::FOOT
    );
    html
}

fn funnel_section(html: &mut String, funnel: &Funnel) {
    html.push_str("<section><h2>Funnel</h2><div class=\"funnel\">");
    let total = funnel.accepted;
    for (label, count) in [
        ("accepted", funnel.accepted),
        ("sent", funnel.sent),
        ("delivered", funnel.delivered),
        ("read", funnel.read),
        ("completed the Flow", funnel.completed),
    ] {
        let _ = write!(
            html,
            "<div class=\"stage\"><span class=\"label\">{label}</span><span class=\"track\"><span class=\"bar\" style=\"width:{}px\"></span></span><span class=\"count\">{} <small>{}</small></span></div>",
            bar_width(count, total),
            thousands(count),
            percent(count, total)
        );
    }
    html.push_str("</div>");
    let mut others = Vec::new();
    for (what, count) in [
        ("failed", funnel.failed),
        ("not sent by the provider", funnel.not_sent),
        ("no status yet", funnel.unheard),
        ("asked to stop", funnel.opted_out),
    ] {
        if count > 0 {
            others.push(format!("{what}: {} ({})", thousands(count), percent(count, total)));
        }
    }
    if !others.is_empty() {
        let _ = write!(html, "<p class=\"note\">{}</p>", escape(&others.join(" · ")));
    }
    html.push_str("</section>\n");
}

/// The funnel of each message, when the campaign sent more than one (`--outside-window`: the
/// Flow message inside the 24-hour window, the template outside it).
fn per_message_section(html: &mut String, funnels: &[(crate::template::MessageKind, Funnel)]) {
    if funnels.is_empty() {
        return;
    }
    html.push_str("<section><h2>By message</h2><table><thead><tr><th>message</th><th>accepted</th><th>sent</th><th>delivered</th><th>read</th><th>completed the Flow</th><th>failed</th></tr></thead><tbody>");
    for (kind, funnel) in funnels {
        let _ = write!(html, "<tr><td>{}</td>", crate::send::window::kind_name(*kind));
        for count in [
            funnel.accepted,
            funnel.sent,
            funnel.delivered,
            funnel.read,
            funnel.completed,
            funnel.failed,
        ] {
            let _ = write!(html, "<td>{}</td>", thousands(count));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></section>\n");
}

fn failures_section(html: &mut String, funnel: &Funnel) {
    html.push_str("<section><h2>Failures by code</h2>");
    if funnel.failures.is_empty() && funnel.not_sent_failures.is_empty() {
        html.push_str("<p class=\"note\">No message failed.</p></section>\n");
        return;
    }
    html.push_str("<table><thead><tr><th>code</th><th>what it means</th><th class=\"n\">rows</th><th class=\"n\">share</th></tr></thead><tbody>");
    let failed = funnel.failures.iter().map(|failure| (failure, ""));
    let not_sent = funnel
        .not_sent_failures
        .iter()
        .map(|failure| (failure, "not sent by the provider: "));
    for (failure, prefix) in failed.chain(not_sent) {
        let meaning = match failure.code.as_deref().and_then(codes::explain) {
            Some(known) => format!("{prefix}<b>{}</b>: {}", escape(known.short), escape(known.meaning)),
            None => format!(
                "{prefix}{}",
                escape(
                    failure
                        .words
                        .as_deref()
                        .unwrap_or("not a code flowc knows; the callback gave no title"),
                )
            ),
        };
        let _ = write!(
            html,
            "<tr><td class=\"code\">{}</td><td>{meaning}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(failure.code.as_deref().unwrap_or("(none)")),
            thousands(failure.rows),
            percent(failure.rows, funnel.failed + funnel.not_sent)
        );
    }
    html.push_str("</tbody></table></section>\n");
}

/// What Meta charges, by pricing category, one count a message; left out when no status
/// carried pricing. The column of messages that are not billable shows only when there are any.
fn pricing_section(html: &mut String, funnel: &Funnel) {
    if funnel.pricing.is_empty() {
        return;
    }
    let free = funnel.pricing.iter().any(|counted| counted.not_billable > 0);
    html.push_str("<section><h2>What it cost</h2><p class=\"note\">Messages by Meta's pricing category, as their status callbacks said (each message once; a failed message is not billable).</p><table class=\"pricing\"><thead><tr><th>category</th><th class=\"n\">billable messages</th>");
    if free {
        html.push_str("<th class=\"n\">not billable</th>");
    }
    html.push_str("</tr></thead><tbody>");
    for counted in &funnel.pricing {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td>",
            escape(counted.name()),
            thousands(counted.billable)
        );
        if free {
            let _ = write!(html, "<td class=\"n\">{}</td>", thousands(counted.not_billable));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></section>\n");
}

/// Cumulative deliveries and reads over the span of the callbacks. A read message was
/// delivered even when its `delivered` never came: it counts as delivered when it was read.
/// Failed messages are left out, as in the funnel.
fn timeline_section(html: &mut String, delivery: &Delivery) {
    html.push_str("<section><h2>Delivery and reads over time</h2>");
    let (mut first, mut last) = (Moment::MAX, Moment::MIN);
    let delivered_at = |state: &super::reconcile::RowDelivery| {
        if state.delivered_at == NEVER {
            state.read_at
        } else {
            state.delivered_at
        }
    };
    let shown = || {
        delivery
            .states()
            .filter(|state| state.stage != super::reconcile::Stage::Failed)
    };
    for state in shown() {
        for moment in [delivered_at(state), state.read_at] {
            if moment != NEVER {
                first = first.min(moment);
                last = last.max(moment);
            }
        }
    }
    if first > last {
        html.push_str("<p class=\"note\">No delivery or read callback yet.</p></section>\n");
        return;
    }
    // In i128: callbacks may carry any timestamp, ±9e18 included.
    let span = (i128::from(last) - i128::from(first)).max(1);
    let bucket_of = |moment: Moment| {
        let bucket = (i128::from(moment) - i128::from(first)) * (BUCKETS as i128 - 1) / span;
        usize::try_from(bucket).unwrap_or(0).min(BUCKETS - 1)
    };
    let mut delivered = [0u64; BUCKETS];
    let mut read = [0u64; BUCKETS];
    for state in shown() {
        let moment = delivered_at(state);
        if moment != NEVER {
            delivered[bucket_of(moment)] += 1;
        }
        if state.read_at != NEVER {
            read[bucket_of(state.read_at)] += 1;
        }
    }
    let cumulative = |counts: &[u64; BUCKETS]| {
        let mut total = 0;
        counts
            .iter()
            .map(|count| {
                total += count;
                total
            })
            .collect::<Vec<u64>>()
    };
    let (delivered, read) = (cumulative(&delivered), cumulative(&read));
    let top = delivered.last().copied().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (600.0, 200.0, 48.0, 24.0);
    let points = |series: &[u64]| {
        series
            .iter()
            .enumerate()
            .map(|(index, &count)| {
                let x = left + (width - left - 8.0) * index as f64 / (BUCKETS - 1) as f64;
                let y = (height - bottom) - (height - bottom - 8.0) * count as f64 / top as f64;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // A short campaign reads in seconds and minutes, a long one in days.
    let (start_format, end_format) = if span < 3_600 {
        ("%Y-%m-%d %H:%M:%S UTC", "%H:%M:%S UTC")
    } else if span < 86_400 {
        ("%Y-%m-%d %H:%M UTC", "%H:%M UTC")
    } else {
        ("%Y-%m-%d %H:%M UTC", "%Y-%m-%d %H:%M UTC")
    };
    let length = u64::try_from(span)
        .ok()
        .filter(|_| first != last)
        .map_or_else(String::new, |seconds| {
            format!(
                " over {}",
                crate::words::about_duration(seconds).trim_start_matches("about ")
            )
        });
    let _ = write!(
        html,
        r##"<svg class="timeline" viewBox="0 0 600 200" width="600" height="200" role="img" aria-label="Messages delivered and read over time">
<line x1="{left}" y1="{base}" x2="592" y2="{base}" stroke="#8696a0"/>
<line x1="{left}" y1="8" x2="{left}" y2="{base}" stroke="#8696a0"/>
<text x="{label_x}" y="14" class="axis" text-anchor="end">{top}</text>
<text x="{label_x}" y="{base}" class="axis" text-anchor="end">0</text>
<text x="{left}" y="196" class="axis">{start}</text>
<text x="592" y="196" class="axis" text-anchor="end">{end}{length}</text>
<polyline fill="none" stroke="#027eb5" stroke-width="2.5" points="{delivered}"/>
<polyline fill="none" stroke="#7b61ff" stroke-width="2.5" points="{read}"/>
</svg>
<p class="legend"><span class="key delivered"></span>delivered: {delivered_total} <span class="key read"></span>read: {read_total} <small>(read statuses; the funnel also counts a completed Flow as read)</small></p>
</section>
"##,
        base = height - bottom,
        label_x = left - 4.0,
        top = thousands(top),
        start = escape(&moment(first, start_format)),
        end = escape(&moment(last, end_format)),
        length = escape(&length),
        delivered = points(&delivered),
        read = points(&read),
        delivered_total = thousands(delivered.last().copied().unwrap_or(0)),
        read_total = thousands(read.last().copied().unwrap_or(0)),
    );
}

/// Who asked to stop, and when: the rows whose recipient sent an opt-out.
fn opt_outs_section(html: &mut String, delivery: &Delivery) {
    let asked: Vec<(u64, &super::reconcile::RowDelivery)> =
        delivery.rows().filter(|(_, state)| state.opted_out()).collect();
    if asked.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<section><h2>Asked to stop</h2><p class=\"note\">{} asked not to be messaged again; flowc send never messages them again when it reads this store (--events).</p><table><thead><tr><th class=\"n\">row</th><th>number</th><th>asked at</th></tr></thead><tbody>",
        count(asked.len() as u64, "person", "people")
    );
    for (row, state) in asked.iter().take(LISTED_OPT_OUTS) {
        let _ = write!(
            html,
            "<tr><td class=\"n\">{row}</td><td>{}</td><td>{}</td></tr>",
            escape(&state.recipient().unwrap_or_else(|| "(several recipients)".to_owned())),
            escape(&moment(state.opted_out_at, "%Y-%m-%d %H:%M:%S UTC"))
        );
    }
    html.push_str("</tbody></table>");
    if asked.len() > LISTED_OPT_OUTS {
        let _ = write!(
            html,
            "<p class=\"note\">and {} more: the report's opted_out_at column has every one.</p>",
            thousands((asked.len() - LISTED_OPT_OUTS) as u64)
        );
    }
    html.push_str("</section>\n");
}

fn answers_section(html: &mut String, answers: &AnswerTally) {
    html.push_str("<section><h2>Flow answers</h2>");
    if answers.questions().is_empty() {
        html.push_str("<p class=\"note\">No Flow was completed yet.</p></section>\n");
        return;
    }
    let _ = write!(
        html,
        "<p class=\"note\">{} completions; each question's answers, the most common first.</p>",
        thousands(answers.completions)
    );
    for question in answers.questions() {
        let _ = write!(
            html,
            "<h3>{} <small>{} answers</small></h3><table class=\"answers\"><tbody>",
            escape(&question.key),
            thousands(question.answered)
        );
        let mut top = question.top(TOP_ANSWERS);
        // Dates (a DatePicker's `2026-01-15`) read in date order: the busiest days stay shown.
        let date = |answer: &str| answer.trim().parse::<jiff::civil::Date>().ok();
        if top.iter().all(|(answer, _)| date(answer).is_some()) {
            top.sort_by_key(|(answer, _)| date(answer));
        }
        let shown: u64 = top.iter().map(|(_, count)| count).sum();
        for (answer, count) in &top {
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"share\"><span class=\"answer-bar\" style=\"width:{}px\"></span></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(answer),
                bar_width(*count, question.answered) / 2,
                thousands(*count),
                percent(*count, question.answered)
            );
        }
        let rest = question.answered.saturating_sub(shown);
        if rest > 0 {
            let _ = write!(
                html,
                "<tr class=\"rest\"><td colspan=\"2\">other answers{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                if question.other > 0 {
                    " (free text: too many distinct answers to count each)"
                } else {
                    ""
                },
                thousands(rest),
                percent(rest, question.answered)
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</section>\n");
}

const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;background:#f0f2f5;color:#111b21}
main{max-width:880px;margin:0 auto;padding:16px 20px 32px}
h1{font-size:20px;margin:4px 0 2px;overflow-wrap:anywhere}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px;overflow-wrap:anywhere}
h3 small,.count small{color:#667781;font-weight:400}
section{background:#fff;border-radius:10px;box-shadow:0 1px 2px rgba(11,20,26,.13);padding:14px 16px;margin:14px 0}
.campaign,.rows{font-size:13px;margin:0 0 4px;color:#3b4a54;overflow-wrap:anywhere}
.sources{color:#667781;font-size:12px;margin:0 0 8px;overflow-wrap:anywhere}
.summary{font-size:14px;line-height:20px;margin:0;overflow-wrap:anywhere}
.note{color:#54656f;font-size:13px;margin:8px 0 0;overflow-wrap:anywhere}
.funnel .stage{display:flex;align-items:center;gap:10px;margin:6px 0;font-size:13px}
.funnel .label{width:140px;flex:none;text-align:right;color:#3b4a54}
.track{width:320px;flex:none;height:22px;background:#e9edef;border-radius:3px;overflow:hidden;display:block}
.bar{display:block;height:22px;background:#25d366}
.count{font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e9edef;vertical-align:top;overflow-wrap:anywhere}
th{color:#54656f;font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.code{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:nowrap}
table.answers,table.pricing{width:auto;min-width:50%}
table.answers td:first-child{min-width:140px;max-width:420px}
td.share{width:170px;min-width:170px}
.answer-bar{display:block;height:12px;background:#00a884;border-radius:2px}
tr.rest td{color:#667781}
.timeline{max-width:100%;height:auto;display:block}
.axis{font-size:11px;fill:#667781}
.legend{font-size:13px;color:#3b4a54;margin:6px 0 0}
.legend small{color:#667781}
.key{display:inline-block;width:14px;height:4px;margin:0 6px 3px 12px;vertical-align:middle}
.key.delivered{background:#027eb5}
.key.read{background:#7b61ff}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_bars_are_whole_pixels_of_the_track() {
        assert_eq!(bar_width(10, 10), BAR_WIDTH);
        assert_eq!(bar_width(5, 10), BAR_WIDTH / 2);
        assert_eq!(bar_width(0, 10), 0);
        assert_eq!(bar_width(1, 0), 0);
        assert_eq!(bar_width(20, 10), BAR_WIDTH);
    }

    #[test]
    fn report_the_page_escapes_what_the_callbacks_wrote_and_needs_no_network() {
        let mut answers = AnswerTally::default();
        answers.add(Some(&serde_json::json!({"comment": "<script>alert(1)</script>"})));
        let funnel = Funnel {
            accepted: 2,
            sent: 1,
            failed: 1,
            failures: vec![super::super::funnel::FailureCount {
                code: Some("131000".to_owned()),
                words: Some("<b>bad</b>".to_owned()),
                rows: 1,
            }],
            ..Funnel::default()
        };
        let rows = Summary::default();
        let campaign = Campaign {
            template: Some("c<1>.yaml"),
            data: Some("d.csv"),
            journal: "j",
            sources: "journal & store",
            rows: &rows,
        };
        let page = page(&campaign, &funnel, &Delivery::default(), &answers);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<b>bad</b>"), "{page}");
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src="));
        assert!(page.contains("<title>c&lt;1&gt;.yaml to d.csv · flowc report</title>"));
    }
}
