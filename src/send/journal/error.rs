//! What can go wrong with a journal, explained: SQLite's errors turned into a file that is not a
//! journal, one that cannot be written, one another run holds, or one that looks damaged.

#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("the journal `{path}` belongs to a campaign whose {what} has changed since it was written")]
    Changed { path: String, what: &'static str },
    #[error("the journal `{path}` is in use by another flowc process")]
    Busy { path: String },
    /// Read (`flowc report`) while a run sends: a sending run locks its journal whole.
    #[error("the journal `{path}` is locked by a `flowc send` that is running now")]
    BusyReading { path: String },
    #[error("there is no journal `{path}`")]
    Missing { path: String },
    /// The journal (or its mirror) cannot be trusted: resuming could send rows again.
    #[error("the journal `{path}` {problem}")]
    Damaged {
        path: String,
        problem: String,
        help: String,
    },
    #[error("the journal `{path}` cannot be written: {reason}")]
    ReadOnly { path: String, reason: String },
    #[error("journal `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the journal writer stopped: {0}")]
    WriterGone(String),
    /// A group commit failed: every write waiting on it, and every later one, gets this error.
    #[error("the journal writer stopped: {0}")]
    Failed(std::sync::Arc<JournalError>),
}

impl JournalError {
    /// What the user can do about it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            JournalError::Changed { what, .. } if what.starts_with("template") => Some(
                "if only a mistake in the template was fixed, --changed-template sends the rows not yet sent with the changed template (rows already sent are never sent again); --restart starts a new campaign (rows accepted earlier would be sent again)".to_owned(),
            ),
            JournalError::Changed { .. } => Some(
                "resuming would send a different campaign: run with --restart to start a new one (rows accepted earlier would be sent again), or use another --journal".to_owned(),
            ),
            // Never "use another --journal" here: a new journal would send every row again.
            JournalError::Busy { .. } => Some(
                "another run is sending this campaign: wait for it to finish (or stop it), then run the same command again".to_owned(),
            ),
            JournalError::BusyReading { .. } => Some(
                "a sending run holds its journal until it ends: run `flowc report` again once it has finished, or give the send `--events STORE` so that it writes this report itself at its end".to_owned(),
            ),
            JournalError::Missing { .. } => Some(
                "name the journal `flowc send` wrote: its --journal, by default DATA_STEM.journal.sqlite beside the data file".to_owned(),
            ),
            JournalError::Damaged { help, .. } => Some(help.clone()),
            JournalError::ReadOnly { .. } => Some(
                "make the journal and its directory writable, then run the same command again".to_owned(),
            ),
            JournalError::Sqlite { .. } | JournalError::WriterGone(_) | JournalError::Failed(_) => None,
        }
    }
}

/// Errors while opening: a file that is not a database, or cannot be written, explained.
pub(super) fn open_error(error: rusqlite::Error, path: &str) -> JournalError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => JournalError::Damaged {
            path: path.to_owned(),
            problem: "is not a SQLite database: it is another file, or it was damaged".to_owned(),
            help: "name a journal file with --journal; flowc never overwrites a file it did not write".to_owned(),
        },
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied) => {
            JournalError::ReadOnly {
                path: path.to_owned(),
                reason: "the file or its directory is not writable (SQLite also creates `-wal` beside it)".to_owned(),
            }
        }
        Some(rusqlite::ErrorCode::SystemIoFailure) => JournalError::ReadOnly {
            path: path.to_owned(),
            reason: "input/output error: the directory may not be writable (SQLite creates `-wal` beside the journal), or the disk is full or failing".to_owned(),
        },
        _ => busy_or(error, path),
    }
}

/// An error while reading a journal for a report: a lock is a sending run's.
pub(super) fn read_error(error: rusqlite::Error, path: &str) -> JournalError {
    match busy_or(error, path) {
        JournalError::Busy { path } => JournalError::BusyReading { path },
        other => match other {
            JournalError::Sqlite { path, source }
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) =>
            {
                JournalError::Damaged {
                    path,
                    problem: "is not a SQLite database: it is another file, or it was damaged".to_owned(),
                    help: "name the journal file `flowc send` wrote".to_owned(),
                }
            }
            other => other,
        },
    }
}

pub(super) fn busy_or(error: rusqlite::Error, path: &str) -> JournalError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            JournalError::Busy { path: path.to_owned() }
        }
        _ => JournalError::Sqlite {
            path: path.to_owned(),
            source: error,
        },
    }
}
