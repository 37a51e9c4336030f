//! A row's state in the journal: the names it stores and the one-byte codes of the resume index.

/// A row's state in the journal. The codes are part of the in-memory resume index; the
/// journal stores the names ([`RowStatus::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RowStatus {
    Pending = 1,
    Invalid = 2,
    Sending = 3,
    Accepted = 4,
    /// Refused by the provider (`WA400`, an unexpected answer): not sent again.
    Failed = 5,
    /// Still failing after every attempt, though nothing reached the provider (no connection)
    /// or it said it did not act (429, 503, `WA500`): sent again on resume.
    Retryable = 6,
    /// In flight when a run died, or an answer that leaves delivery open (a dropped
    /// connection, a timeout, a gateway error): not sent again without `--resend-unknown`.
    Unknown = 7,
    /// Its recipient is an earlier row's (after normalisation): not sent.
    Duplicate = 8,
    /// Its recipient is in the `--exclude` list: not sent.
    Excluded = 9,
    /// Its recipient opted out (STOP) in the event store: not sent.
    OptedOut = 10,
}

impl RowStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::Invalid => "invalid",
            RowStatus::Sending => "sending",
            RowStatus::Accepted => "accepted",
            RowStatus::Failed => "failed",
            RowStatus::Retryable => "retryable",
            RowStatus::Unknown => "unknown",
            RowStatus::Duplicate => "duplicate",
            RowStatus::Excluded => "excluded",
            RowStatus::OptedOut => "opted-out",
        }
    }

    const ALL: [RowStatus; 10] = [
        RowStatus::Pending,
        RowStatus::Invalid,
        RowStatus::Sending,
        RowStatus::Accepted,
        RowStatus::Failed,
        RowStatus::Retryable,
        RowStatus::Unknown,
        RowStatus::Duplicate,
        RowStatus::Excluded,
        RowStatus::OptedOut,
    ];

    /// The stored name; anything else in a journal is damage, never a default.
    pub(super) fn parse(text: &str) -> Option<RowStatus> {
        RowStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub(super) fn code(self) -> u8 {
        self as u8
    }

    pub(super) fn from_code(code: u8) -> Option<RowStatus> {
        RowStatus::ALL.into_iter().find(|status| status.code() == code)
    }
}
