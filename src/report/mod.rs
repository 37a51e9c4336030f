//! What became of a campaign after its 202s: the journal (what was sent) reconciled with the
//! event store `flowc receive` fills (what the provider's callbacks said), for `flowc report`
//! and for `flowc send --events` at the end of its run.
//!
//! The stages, one module each: [`crate::events`] (the store, read-only, streamed) → [`reconcile`]
//! (each event matched to its row; one small state per row) → [`funnel`] (the counts and the
//! failures by Meta code, explained by [`codes`]); beside them the writers: the report's
//! delivery columns (here, added to `send::csv_report`'s CSV), [`responses`] (one line per Flow
//! completion) and [`html`] (the page).

pub(crate) mod codes;
pub(crate) mod funnel;
pub(crate) mod html;
pub(crate) mod responses;

// The matching of callbacks to rows lives with the sender, which settles rows by it too.
pub(crate) use crate::send::callbacks::reconcile;

use std::path::Path;

pub(crate) use crate::events::EventsError;
pub(crate) use funnel::Funnel;
pub(crate) use reconcile::Delivery;
use reconcile::{Moment, RowDelivery, Stage, NEVER};
use responses::{AnswerTally, ResponsesFormat, ResponsesWriter};

use crate::csv_out::text_cell;
use crate::send::csv_report::ExtraColumns;
use crate::send::journal::{Journal, JournalError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliveryError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventsError),
    #[error("cannot write the {what} `{path}`: {reason}")]
    Write {
        what: &'static str,
        path: String,
        reason: String,
    },
}

impl DeliveryError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            DeliveryError::Journal(error) => error.help(),
            DeliveryError::Events(error) => error.help(),
            DeliveryError::Write { .. } => None,
        }
    }

    fn write(what: &'static str, path: &Path, error: &std::io::Error) -> DeliveryError {
        DeliveryError::Write {
            what,
            path: path.display().to_string(),
            reason: crate::input::io_reason(error),
        }
    }
}

/// The columns the report gains from the callbacks.
pub(crate) const COLUMNS: [&str; 7] = [
    "delivery",
    "delivery_code",
    "delivery_error",
    "delivered_at",
    "read_at",
    "replied_at",
    "opted_out_at",
];

impl ExtraColumns for Delivery {
    fn names(&self) -> &[&'static str] {
        &COLUMNS
    }

    fn cells(&self, row: u64, cells: &mut Vec<String>) {
        let Some(state) = self.of_row(row) else {
            cells.extend(COLUMNS.iter().map(|_| String::new()));
            return;
        };
        let (code, error) = self.failure_cells(state);
        cells.extend([
            state.stage.as_str().to_owned(),
            text_cell(code.to_owned()),
            text_cell(error),
            rfc3339(state.delivered_at),
            rfc3339(state.read_at),
            rfc3339(state.replied_at),
            rfc3339(state.opted_out_at),
        ]);
    }
}

impl Delivery {
    /// A failed or not-sent row's code and what it means, as the report's `delivery_code` and
    /// `delivery_error` say them; empty when it has none.
    fn failure_cells(&self, state: &RowDelivery) -> (&str, String) {
        let failure = match state.stage {
            Stage::Failed | Stage::NotSent => self.failure(state),
            _ => None,
        };
        let code = failure.and_then(|failure| failure.code.as_deref());
        let known = code.and_then(codes::explain);
        let text = failure.and_then(|failure| failure.text.as_deref());
        let error = match (known, text) {
            (Some(known), Some(text)) => format!("{} ({text})", known.short),
            (Some(known), None) => known.short.to_owned(),
            (None, Some(text)) => text.to_owned(),
            (None, None) => String::new(),
        };
        (code.unwrap_or_default(), error)
    }
}

/// A moment as RFC 3339 in UTC (`2026-01-01T09:30:00Z`); empty when it did not happen, and
/// said to be out of range when it is past the calendar (see [`crate::words::utc_time`]).
pub(crate) fn rfc3339(moment: Moment) -> String {
    if moment == NEVER {
        return String::new();
    }
    crate::words::utc_time(moment)
}

/// What a reconciliation found.
pub(crate) struct Reconciled {
    pub(crate) delivery: Delivery,
    pub(crate) funnel: Funnel,
    pub(crate) answers: AnswerTally,
    /// Lines written to the responses file, when one was asked for.
    pub(crate) responses: Option<u64>,
}

/// Reconciles the journal with the event store at `store`, writing each Flow completion to
/// the responses file if one is given.
pub(crate) fn reconcile(
    journal: &Journal,
    store: &crate::events::StoreLocation,
    responses: Option<(&Path, ResponsesFormat)>,
) -> Result<Reconciled, DeliveryError> {
    let events = crate::events::EventReader::open(store)?;
    let mut writer = match responses {
        Some((path, format)) => Some((
            path,
            ResponsesWriter::create(path, format)
                .map_err(|error| DeliveryError::write("responses file", path, &error))?,
        )),
        None => None,
    };
    let mut answers = AnswerTally::default();
    let delivery = reconcile::reconcile::<DeliveryError>(journal, &events, |completion| {
        let parsed = completion
            .response_json
            .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok());
        answers.add(parsed.as_ref());
        if let Some((path, writer)) = writer.as_mut() {
            writer
                .add(completion, parsed.as_ref())
                .map_err(|error| DeliveryError::write("responses file", path, &error))?;
        }
        Ok(())
    })?;
    let responses = match writer {
        Some((path, writer)) => Some(
            writer
                .finish()
                .map_err(|error| DeliveryError::write("responses file", path, &error))?,
        ),
        None => None,
    };
    let funnel = Funnel::of(&delivery);
    Ok(Reconciled {
        delivery,
        funnel,
        answers,
        responses,
    })
}

/// Writes the page (see [`crate::outputs`]: whole or not at all; `-` is standard output).
pub(crate) fn write_page(path: &Path, page: &str) -> Result<(), DeliveryError> {
    crate::outputs::write_file(path, page.as_bytes()).map_err(|error| DeliveryError::write("page", path, &error))
}
