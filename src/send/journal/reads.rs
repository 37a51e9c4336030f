//! Queries on a journal for the report and for resuming: the rows, their identities, the
//! resume index and the counts the plan shows.

use rusqlite::OptionalExtension;

use crate::send::journal::error::{busy_or, read_error, JournalError};
use crate::send::journal::{Journal, Record, RowStatus, TemplateChange, RESTORE_OR_RESTART};

/// One line of the journal, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JournalRow {
    pub row: u64,
    pub recipient: String,
    pub status: RowStatus,
    pub record: Record,
    /// Whether the row's last change was made by an earlier run.
    pub earlier_run: bool,
    /// The run that made the row's last change (1 for the first).
    pub run: i64,
    /// When its last request left (Unix seconds); `None` if it never did (or the journal is
    /// older than this record).
    pub sent_at: Option<i64>,
    /// Which message its last request carried (`flow`, `template`); `None` if it never left
    /// (or the journal is older than this record).
    pub message: Option<String>,
}

/// What callbacks can be matched to a row by (`flowc report`), borrowed from the row being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowIdentity<'a> {
    pub(crate) row: u64,
    pub(crate) status: RowStatus,
    pub(crate) recipient: &'a str,
    /// The `message_id` of the provider's 202.
    pub(crate) message_id: Option<&'a str>,
    pub(crate) flow_token: Option<&'a str>,
    /// The `--track` key the row's message carried.
    pub(crate) track: Option<&'a str>,
    /// When its last request left (Unix seconds), if the journal says.
    pub(crate) sent_at: Option<i64>,
    /// Which message its last request carried (`flow`, `template`), if the journal says.
    pub(crate) message: Option<&'a str>,
}

/// The state every row was in when this run started, one byte a row (1 MiB per million rows).
#[derive(Debug)]
pub(crate) struct ResumeIndex {
    statuses: Vec<u8>,
}

impl ResumeIndex {
    pub(crate) fn get(&self, row: u64) -> Option<RowStatus> {
        let index = usize::try_from(row).ok()?;
        RowStatus::from_code(*self.statuses.get(index)?)
    }
}

impl Journal {
    /// How many rows are `unknown` (a request that may or may not have reached the provider).
    pub(crate) fn unknown_rows(&self) -> Result<u64, JournalError> {
        self.connection
            .query_row("SELECT count(*) FROM rows WHERE status = 'unknown'", [], |row| {
                row.get(0)
            })
            .map_err(|error| self.sqlite(error))
    }

    /// The people this campaign may have reached since `since` (Unix seconds): the recipients
    /// of rows accepted, unknown or in flight with a request sent since then; and the earliest
    /// such request (when the oldest of them leaves a rolling window).
    pub(crate) fn reached_since(&self, since: i64) -> Result<(u64, Option<i64>), JournalError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT recipient, sent_at FROM rows WHERE status IN ('accepted', 'unknown', 'sending') AND sent_at >= ?1",
            )
            .map_err(|error| self.sqlite(error))?;
        let mut rows = statement.query([since]).map_err(|error| self.sqlite(error))?;
        let (mut people, mut oldest) = (0u64, None::<i64>);
        while let Some(row) = rows.next().map_err(|error| self.sqlite(error))? {
            let recipient: String = row.get(0).map_err(|error| self.sqlite(error))?;
            let sent_at: i64 = row.get(1).map_err(|error| self.sqlite(error))?;
            people += recipient.split(',').filter(|number| !number.is_empty()).count().max(1) as u64;
            oldest = Some(oldest.map_or(sent_at, |oldest| oldest.min(sent_at)));
        }
        Ok((people, oldest))
    }

    /// The template's and the data file's names as `send` recorded them (`None` in a journal
    /// written before they were).
    pub(crate) fn names(&self) -> Result<(Option<String>, Option<String>), JournalError> {
        let get = |key: &str| -> Result<Option<String>, JournalError> {
            self.connection
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
                .optional()
                .map_err(|error| read_error(error, &self.path))
        };
        Ok((get("template_file")?, get("data_file")?))
    }

    /// Set when this run resumed with a changed template (`--changed-template`).
    pub(crate) fn template_change(&self) -> Option<&TemplateChange> {
        self.template_change.as_ref()
    }

    /// The campaign's random identity (what `--track` keys start with).
    pub(crate) fn campaign_id(&self) -> &str {
        &self.campaign
    }

    /// The SHA-256 of the data file the campaign was sent from (hex), as recorded.
    pub(crate) fn data_fingerprint(&self) -> Result<Option<String>, JournalError> {
        Ok(self.stored_meta()?.data)
    }

    /// The template's fingerprint as recorded (hex): the SHA-256 of its text, with any
    /// `--var` and `--column` given.
    pub(crate) fn template_fingerprint(&self) -> Result<Option<String>, JournalError> {
        Ok(self.stored_meta()?.template)
    }

    /// The inputs [`Journal::record_inputs`] recorded, as (role, path).
    pub(crate) fn recorded_inputs(&self) -> Result<Vec<(String, std::path::PathBuf)>, JournalError> {
        let mut statement = self
            .connection
            .prepare("SELECT key, value FROM meta WHERE key LIKE 'input %' ORDER BY key")
            .map_err(|error| self.sqlite(error))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(|error| self.sqlite(error))?;
        let mut inputs = Vec::new();
        for row in rows {
            let (key, path) = row.map_err(|error| self.sqlite(error))?;
            inputs.push((key.trim_start_matches("input ").to_owned(), path.into()));
        }
        Ok(inputs)
    }

    /// Every row's status as this run starts. `max_row` bounds the row numbers a journal of
    /// this data file can hold (a damaged one must not make this allocate without bound).
    pub(crate) fn resume_index(&self, max_row: u64) -> Result<ResumeIndex, JournalError> {
        let mut statuses = Vec::new();
        let mut statement = self
            .connection
            .prepare("SELECT row, status FROM rows ORDER BY row")
            .map_err(|error| self.sqlite(error))?;
        let mut rows = statement.query([]).map_err(|error| self.sqlite(error))?;
        while let Some(row) = rows.next().map_err(|error| busy_or(error, &self.path))? {
            let number: i64 = row.get(0).map_err(|error| busy_or(error, &self.path))?;
            let text: String = row.get(1).map_err(|error| busy_or(error, &self.path))?;
            let status = self.status(number, &text)?;
            let index = u64::try_from(number)
                .ok()
                .filter(|&number| number <= max_row)
                .and_then(|number| usize::try_from(number).ok())
                .ok_or_else(|| {
                    self.damaged(
                        format!("records row {number}, which the data file cannot have"),
                        RESTORE_OR_RESTART,
                    )
                })?;
            if statuses.len() <= index {
                statuses.resize(index + 1, 0);
            }
            statuses[index] = status.code();
        }
        Ok(ResumeIndex { statuses })
    }

    fn status(&self, row: i64, text: &str) -> Result<RowStatus, JournalError> {
        RowStatus::parse(text).ok_or_else(|| {
            self.damaged(
                format!("records an unknown status `{}` for row {row}", text.escape_debug()),
                RESTORE_OR_RESTART,
            )
        })
    }

    /// Every row in row order, for the report.
    pub(crate) fn for_each_row(
        &self,
        mut visit: impl FnMut(JournalRow) -> std::io::Result<()>,
    ) -> Result<(), JournalError> {
        let mut statement = self
            .connection
            .prepare(if self.has_sent_at {
                if self.has_message {
                    "SELECT row, recipient, status, http_status, code, message_id, attempts, error, run, sent_at, message FROM rows ORDER BY row"
                } else {
                    "SELECT row, recipient, status, http_status, code, message_id, attempts, error, run, sent_at, NULL FROM rows ORDER BY row"
                }
            } else {
                "SELECT row, recipient, status, http_status, code, message_id, attempts, error, run, NULL, NULL FROM rows ORDER BY row"
            })
            .map_err(|error| self.sqlite(error))?;
        let mut rows = statement.query([]).map_err(|error| self.sqlite(error))?;
        while let Some(row) = rows.next().map_err(|error| busy_or(error, &self.path))? {
            let read = || -> rusqlite::Result<JournalRow> {
                Ok(JournalRow {
                    row: row.get::<_, i64>(0)?.try_into().unwrap_or_default(),
                    recipient: row.get(1)?,
                    status: RowStatus::Pending,
                    record: Record {
                        http_status: row.get(3)?,
                        code: row.get(4)?,
                        message_id: row.get(5)?,
                        attempts: row.get(6)?,
                        error: row.get(7)?,
                    },
                    earlier_run: row.get::<_, i64>(8)? < self.run,
                    run: row.get(8)?,
                    sent_at: row.get(9)?,
                    message: row.get(10)?,
                })
            };
            let mut line = read().map_err(|error| busy_or(error, &self.path))?;
            let text: String = row.get(2).map_err(|error| busy_or(error, &self.path))?;
            line.status = self.status(line.row as i64, &text)?;
            visit(line).map_err(|error| JournalError::WriterGone(format!("cannot write the report: {error}")))?;
        }
        Ok(())
    }

    /// Every row in row order with what its callbacks can be matched by (`flowc report`).
    pub(crate) fn for_each_identity(&self, mut visit: impl FnMut(RowIdentity<'_>)) -> Result<(), JournalError> {
        let read = |error| read_error(error, &self.path);
        let mut statement = self
            .connection
            .prepare(if self.has_message {
                "SELECT row, status, recipient, message_id, flow_token, track, sent_at, message FROM rows ORDER BY row"
            } else if self.has_sent_at {
                "SELECT row, status, recipient, message_id, flow_token, track, sent_at, NULL FROM rows ORDER BY row"
            } else {
                "SELECT row, status, recipient, message_id, flow_token, track, NULL, NULL FROM rows ORDER BY row"
            })
            .map_err(read)?;
        let mut rows = statement.query([]).map_err(read)?;
        while let Some(row) = rows.next().map_err(read)? {
            let text = |index: usize| -> Result<Option<&str>, JournalError> {
                row.get_ref(index)
                    .and_then(|value| Ok(value.as_str_or_null()?))
                    .map_err(read)
            };
            let number: i64 = row.get(0).map_err(read)?;
            let status = self.status(number, text(1)?.unwrap_or_default())?;
            visit(RowIdentity {
                row: u64::try_from(number).unwrap_or_default(),
                status,
                recipient: text(2)?.unwrap_or_default(),
                message_id: text(3)?,
                flow_token: text(4)?,
                track: text(5)?,
                sent_at: row.get(6).map_err(read)?,
                message: text(7)?,
            });
        }
        Ok(())
    }
}
