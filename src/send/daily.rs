//! `--daily-limit`: how many more people a run may reach, counted over a rolling day from the
//! journal, as Meta's messaging limits count unique people per 24 hours.

use crate::send::journal::{unix_now, Journal, JournalError};

/// A rolling day, in seconds.
const DAY: i64 = 24 * 60 * 60;

/// What the journal says of the last 24 hours against the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DailyAllowance {
    pub limit: u64,
    /// People reached in the last 24 hours.
    pub reached: u64,
    /// At most this many more in this run.
    pub left: u64,
    /// Seconds until the oldest of them leaves the window (a slot opens), if any was reached.
    pub next_slot_in: Option<u64>,
}

pub(crate) fn allowance(journal: &Journal, limit: u64) -> Result<DailyAllowance, JournalError> {
    let now = unix_now();
    let (reached, oldest) = journal.reached_since(now - DAY)?;
    Ok(DailyAllowance {
        limit,
        reached,
        left: limit.saturating_sub(reached),
        next_slot_in: oldest.map(|oldest| u64::try_from(oldest + DAY - now).unwrap_or(0)),
    })
}
