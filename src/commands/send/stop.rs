//! Why a send stopped before its end, told to the person with what to do next (the exit status
//! it calls for is [`StopCause::exit_status`], in `exit.rs`).

use crate::diagnostic::{Emit, Finding, Printer};
use crate::exit::ExitStatus;
use crate::send::response::StopReason;
use crate::send::{csv_report, StopCause};
use crate::words;

/// Tells the user why sending stopped and what to do; the exit status it calls for.
pub(super) fn explain_stop(
    cause: Option<&StopCause>,
    summary: &csv_report::Summary,
    printer: &Printer,
) -> Option<ExitStatus> {
    let cause = cause?;
    tell(cause, summary, printer);
    Some(cause.exit_status())
}

fn tell(cause: &StopCause, summary: &csv_report::Summary, printer: &Printer) {
    let pending = summary.pending + summary.retryable;
    let rows = words::count(pending, "row", "rows");
    let pending_rows = words::count(pending, "pending row", "pending rows");
    let stay = words::plural(pending, "stays pending", "stay pending");
    let staying = format!("{rows} {stay}");
    match cause {
        StopCause::Interrupted(signal) => {
            printer.note(&format!(
                "stopped by {}: {} not sent yet. Run the same command again to resume.",
                words::signal_name(*signal),
                rows
            ));
        }
        // Said when the second signal came, before the run ended.
        StopCause::Quit(_) => {}
        StopCause::OutsideWindow(opening) => {
            printer.note(&format!(
                "outside the sending window (--window): {rows} not sent yet; the window opens {opening}. Run the same command again then."
            ));
        }
        StopCause::DataChanged { row } => {
            printer.emit(
                Finding::error(format!(
                    "the data file changed during the run: row {row} is not the row the pre-flight checked; sending stopped"
                ))
                .with_help(Some(format!(
                    "row {row} was not sent (`invalid` in the report). Put the file back as it was and run the same command again to send the {pending_rows}; a changed file is a new campaign (--restart sends every row again)"
                ))),
            );
        }
        StopCause::SpamLimit => {
            printer.emit(Finding::error("Meta's spam rate limit (131048) came back in the event store: sending stopped").with_help(Some(format!(
                "the business number's quality rating is low: people block or report its messages. A person must look (WhatsApp Manager, the number's quality) before sending more; {staying}: run the same command again once fixed"
            ))));
        }
        StopCause::FailureBurst { percent } => {
            printer.emit(Finding::error(format!(
                "{percent}% of the latest deliveries failed as undeliverable (131026) or outside the 24-hour window (131047): sending stopped"
            )).with_help(Some(format!(
                "a Flow message reaches only people who wrote to the business in the last 24 hours; check the list (a wrong or stale one) before sending the {pending_rows} (--max-failure-rate sets the threshold)"
            ))));
        }
        StopCause::Internal(message) => {
            printer.emit(
                Finding::error(format!("internal error, sending stopped: {message}"))
                    .with_help(Some("this is a bug in flowc: please report it. The journal is consistent: a row that was in flight is `unknown`; run the same command again to send the rest")),
            );
        }
        StopCause::Refused {
            reason: StopReason::Meta(known),
            code,
            message,
            template,
            resume_after,
        } => {
            // The words are the report's for the same code: one text a code.
            let what = match template {
                Some(template) => format!(
                    "{}: the template `{}` in `{}`",
                    known.short,
                    words::printable(&template.name),
                    words::printable(&template.language)
                ),
                None => known.short.to_owned(),
            };
            let unsent = words::count(pending, "unsent row", "unsent rows");
            let them = words::plural(pending, "it", "them");
            let help = match resume_after {
                Some(when) => format!(
                    "{} The {unsent} {stay}: run the same command again after {when}",
                    known.meaning
                ),
                None => format!(
                    "{} The {unsent} {stay}: run the same command again to send {them}",
                    known.meaning
                ),
            };
            printer.emit(Finding::error(format!("{what} ({code}: {message}); sending stopped")).with_help(Some(help)));
        }
        StopCause::Refused {
            reason, code, message, ..
        } => {
            let unsent = format!(
                "{} {stay}: run the same command again once fixed",
                words::count(pending, "unsent row", "unsent rows")
            );
            let (what, help) = match reason {
                StopReason::Credentials => (
                    "the provider refused the SID or the API key",
                    format!("check the SID (--sid / KALEYRA_SID), the API key (--api-key / KALEYRA_API_KEY) and the region (--region / KALEYRA_REGION): the key belongs to one region's API domain; {unsent}"),
                ),
                StopReason::Number => (
                    "the provider does not know the business number on this account",
                    format!("check the business number (--from / KALEYRA_WHATSAPP_NUMBER): it must be a WhatsApp number of this account, in E.164 with `+`; {unsent}"),
                ),
                StopReason::Account => (
                    "the provider does not allow this account or number on WhatsApp API v2",
                    format!("the account type or the number's API version does not fit this endpoint: ask Kaleyra support to enable WhatsApp API v2 for the account and number; {unsent}"),
                ),
                StopReason::Endpoint => (
                    "the endpoint is not the provider's messages API",
                    format!("check the region (--region / KALEYRA_REGION), --base-url, the SID and the business number, which make up the URL; {unsent}"),
                ),
                StopReason::Balance => (
                    "low balance",
                    format!("top up the account, then run the same command again to send the {pending_rows}"),
                ),
                // Told above, in the words of the report.
                StopReason::Meta(_) => return,
            };
            printer.emit(Finding::error(format!("{what} ({code}: {message}); sending stopped")).with_help(Some(help)));
        }
        StopCause::Events(message) => {
            printer.emit(
                Finding::error(format!("the event store could not be read to check for a STOP: {message}"))
                    .with_help(Some(format!(
                        "sending stopped rather than message someone who may have opted out; {staying}: run the same command again once the store can be read"
                    ))),
            );
        }
        StopCause::Data(message) => {
            printer.emit(Finding::error(format!(
                "the data file could not be read again: {message}"
            )));
        }
        StopCause::Journal(message) => {
            printer.emit(
                Finding::error(format!("the journal failed: {message}"))
                    .with_help(Some("sending stopped so that nothing goes unrecorded; free disk space or fix the journal's directory, then run the same command again")),
            );
        }
    }
}
