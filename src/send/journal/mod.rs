//! The campaign journal: what happened to every row, kept so that a crash at any instant
//! loses nothing and sends nothing twice.
//!
//! It is a SQLite database (WAL mode, `synchronous=FULL`): a transaction is either wholly on
//! disk or not at all, whatever instant the process dies, and SQLite is the most tested
//! embedded store there is. Before a request leaves, its row is committed as `sending`; after
//! the answer, as its outcome. A row found `sending` when a run starts was in flight when the
//! previous run died: its message may or may not have been delivered (the API has no
//! idempotency key), so it becomes `unknown` and is not sent again unless asked.
//!
//! Writes go through one thread ([`JournalWriter`]) that commits everything queued since its
//! last commit in one transaction (group commit): one `fsync` covers many rows, so the journal
//! keeps up with 1,000 messages a second while each `sending` record is still durable before
//! its request leaves.
//!
//! A journal can be damaged behind SQLite's back: its `-wal` file deleted or zeroed after a
//! crash (SQLite then silently forgets every commit since the last checkpoint), the file
//! truncated, replaced by a copy, or deleted. Each of these would make rows already sent look
//! pending. So the journal is checkpointed every few seconds and at every stop (a lost WAL then
//! costs little), and every group commit bumps a counter that is also written, after the commit
//! and before any request it covers leaves, to a small *mirror* file beside the journal
//! (`JOURNAL.mirror`). A journal behind its mirror, a mirror of another campaign, a journal
//! without its mirror or a mirror without its journal, an empty journal or one without a
//! campaign record: each is refused with an explanation, never resumed.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

mod error;
mod mirror;
mod reads;
mod schema;
mod status;
mod writer;

pub(crate) use self::error::JournalError;
use self::error::{busy_or, open_error, read_error};
use self::mirror::{Mirror, MirrorState};
pub(crate) use self::reads::JournalRow;
use self::schema::{ADDED_COLUMNS, SCHEMA};
pub(crate) use self::status::RowStatus;
pub(crate) use self::writer::{JournalHandle, JournalWriter, Preflight};

/// What identifies a campaign: the template (with its `--var` values) and the data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub template: String,
    pub data: String,
}

/// What may differ from the journal's record when a campaign resumes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Resume {
    /// Start a new campaign, forgetting the earlier one (`--restart`).
    pub restart: bool,
    /// Go on after the template (or a `--var` value) changed (`--changed-template`): the rows
    /// not yet sent get the changed template; the data file must be the same.
    pub changed_template: bool,
}

/// A campaign resumed with a changed template: which versions went out, and the one now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateChange {
    /// Each earlier version (the template fingerprint's first 12 hex digits) and how many rows
    /// went out with it (accepted, unknown, failed), most rows first.
    pub earlier: Vec<(String, u64)>,
    /// The version the rows not yet sent go out with.
    pub now: String,
}

/// What a row's message can be recognised by: its recipient, and what callbacks carry back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RowKeys {
    pub recipient: String,
    pub flow_token: Option<String>,
    /// `extra_info.ref`, `ref1`, `ref2` as sent.
    pub refs: [Option<String>; 3],
    /// The key `--track` adds (already in `refs` where it goes).
    pub track: Option<String>,
}

impl From<crate::pipeline::BodyKeys> for RowKeys {
    fn from(keys: crate::pipeline::BodyKeys) -> RowKeys {
        RowKeys {
            recipient: keys.recipient,
            flow_token: keys.flow_token,
            refs: keys.refs,
            track: None,
        }
    }
}

impl RowKeys {
    /// Only a recipient.
    #[cfg(test)]
    pub(crate) fn recipient(recipient: &str) -> RowKeys {
        RowKeys {
            recipient: recipient.to_owned(),
            ..RowKeys::default()
        }
    }
}

/// The outcome of a row, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message_id: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
}

pub(crate) struct Journal {
    connection: Connection,
    path: String,
    run: i64,
    /// The campaign's random identity, shared with its mirror.
    campaign: String,
    /// Group commits so far (see the module notes).
    commit: i64,
    /// The mirror file, for a journal on disk.
    mirror: Option<Mirror>,
    /// The highest row number ever marked `sending` (kept in the mirror, so that a journal that
    /// lost commits can say which rows may have gone out).
    max_sent_row: u64,
    /// Whether this run created the journal file (so that a run that sends nothing can leave
    /// no journal behind).
    created: bool,
    /// When the WAL was last folded into the main file.
    last_checkpoint: std::time::Instant,
    /// Whether `rows` has `sent_at` (a journal older than it, only read, lacks it).
    has_sent_at: bool,
    /// Whether its rows record which message each got (a journal opened read-only keeps
    /// the layout it was written with).
    has_message: bool,
    /// The template version of this run ([`template_version`]): recorded with each row as its
    /// request leaves.
    template: String,
    /// Set when this run resumed with a changed template (`--changed-template`).
    template_change: Option<TemplateChange>,
}

/// How often the WAL is folded into the main file while sending: what a lost `-wal` can take.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Journal {
    /// Opens (or creates) the journal at `path`; `None` gives a temporary one (dry runs).
    /// Refuses a journal written for another template or data file unless `restart` (or
    /// unless nothing was ever sent from it), and a journal that looks damaged (see the
    /// module notes) unless `restart`.
    #[cfg(test)]
    pub(crate) fn open(path: Option<&Path>, fingerprint: &Fingerprint, restart: bool) -> Result<Journal, JournalError> {
        Journal::open_with(
            path,
            fingerprint,
            Resume {
                restart,
                changed_template: false,
            },
        )
    }

    /// [`Journal::open`], also allowing a changed template when `resume` says so.
    pub(crate) fn open_with(
        path: Option<&Path>,
        fingerprint: &Fingerprint,
        resume: Resume,
    ) -> Result<Journal, JournalError> {
        let restart = resume.restart;
        let name = path.map_or_else(|| "(temporary journal)".to_owned(), |path| path.display().to_string());
        let damaged = |problem: String, help: &str| JournalError::Damaged {
            path: name.clone(),
            problem,
            help: help.to_owned(),
        };
        // A temporary journal is always new.
        let mut created = path.is_none();
        let mut mirror = None;
        if let Some(path) = path {
            let mirror_path = Mirror::path_for(path);
            let existing = match std::fs::metadata(path) {
                Ok(metadata) => Some(metadata),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(JournalError::ReadOnly {
                        path: name.clone(),
                        reason: crate::input::io_reason(&error),
                    })
                }
            };
            let mirror_state = Mirror::read(&mirror_path).map_err(|problem| {
                damaged(
                    format!("has a damaged mirror `{}`: {problem}", mirror_path.display()),
                    RESTORE_OR_RESTART,
                )
            })?;
            match &existing {
                Some(metadata) if !metadata.is_file() => {
                    return Err(damaged(
                        "is not a regular file".to_owned(),
                        "name a journal file with --journal",
                    ))
                }
                Some(metadata) if metadata.len() == 0 && !restart => {
                    return Err(damaged(
                        "is empty: it was truncated or replaced, and its record of what was sent is gone".to_owned(),
                        RESTORE_OR_RESTART,
                    ))
                }
                None if mirror_state.as_ref().is_some_and(MirrorState::anything_sent) && !restart => {
                    return Err(damaged(
                        format!(
                            "is missing, but its mirror `{}` shows that messages were sent from it: it was deleted or moved",
                            mirror_path.display()
                        ),
                        RESTORE_OR_RESTART,
                    ))
                }
                None => {
                    create_file(path, fingerprint, &name)?;
                    created = true;
                }
                Some(_) => {}
            }
            if let Some(metadata) = &existing {
                if metadata.permissions().readonly() {
                    return Err(JournalError::ReadOnly {
                        path: name.clone(),
                        reason: "the file is read-only (flowc records every row in it while sending)".to_owned(),
                    });
                }
            }
            mirror = Some(Mirror {
                path: mirror_path,
                state: mirror_state,
            });
        }
        let connection = match path {
            Some(path) => Connection::open(path),
            // An empty name is SQLite's private temporary database: on disk, so memory stays
            // flat for any number of rows, and deleted when the connection closes.
            None => Connection::open(""),
        }
        .map_err(|error| open_error(error, &name))?;
        // An exclusive lock, taken by the first write and held: two flowc processes must never
        // send the same campaign at once.
        connection
            .execute_batch("PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(|error| open_error(error, &name))?;
        let mut journal = Journal {
            connection,
            path: name,
            run: 0,
            campaign: String::new(),
            commit: 0,
            mirror,
            max_sent_row: 0,
            created,
            last_checkpoint: std::time::Instant::now(),
            has_sent_at: true,
            has_message: true,
            template: template_version(&fingerprint.template),
            template_change: None,
        };
        journal.start_run(fingerprint, resume)?;
        Ok(journal)
    }

    /// Opens a journal only to read it (`flowc report`): nothing is written to it, its mirror is
    /// left alone, and no campaign is started. A `flowc send` running on it holds it locked
    /// (see [`Journal::open`]), which is said as such rather than waited for: the lock lasts
    /// as long as the run.
    pub(crate) fn open_read_only(path: &Path) -> Result<Journal, JournalError> {
        let name = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => {
                return Err(JournalError::Damaged {
                    path: name,
                    problem: "is not a regular file".to_owned(),
                    help: "name the journal file `flowc send` wrote".to_owned(),
                })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::Missing { path: name })
            }
            Err(error) => {
                return Err(JournalError::ReadOnly {
                    path: name,
                    reason: crate::input::io_reason(&error),
                })
            }
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags).map_err(|error| read_error(error, &name))?;
        // A checkpoint or a run starting holds the lock for moments; a run sending holds it
        // for its whole length, which no wait would outlast.
        connection
            .busy_timeout(std::time::Duration::from_millis(500))
            .map_err(|error| read_error(error, &name))?;
        let mut journal = Journal::reader(connection, name);
        let has_tables = journal.has_tables().map_err(|error| read_error(error, &journal.path))?;
        if has_tables {
            journal.has_sent_at = journal
                .connection
                .query_row(
                    "SELECT count(*) = 1 FROM pragma_table_info('rows') WHERE name = 'sent_at'",
                    [],
                    |row| row.get(0),
                )
                .map_err(|error| read_error(error, &journal.path))?;
            journal.has_message = journal
                .connection
                .query_row(
                    "SELECT count(*) = 1 FROM pragma_table_info('rows') WHERE name = 'message'",
                    [],
                    |row| row.get(0),
                )
                .map_err(|error| read_error(error, &journal.path))?;
        }
        let stored = if has_tables {
            journal.stored_meta().map_err(|error| match error {
                JournalError::Busy { path } => JournalError::BusyReading { path },
                other => other,
            })?
        } else {
            StoredMeta::default()
        };
        journal.of_campaign(stored)
    }

    /// Opens, only to read it, a journal that a running `flowc send` holds locked: the main file
    /// as its last checkpoint left it (the run folds its WAL in every few seconds), read without
    /// taking any lock (SQLite's `immutable`), so the run is neither blocked nor disturbed, and
    /// nothing is ever written. A read that meets a checkpoint midway fails as damaged rather
    /// than guessing; the next look succeeds.
    pub(crate) fn open_while_sending(path: &Path) -> Result<Journal, JournalError> {
        let name = path.display().to_string();
        let mut uri = String::from("file:");
        for byte in path.as_os_str().as_encoded_bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    uri.push(char::from(*byte));
                }
                other => uri.push_str(&format!("%{other:02X}")),
            }
        }
        uri.push_str("?immutable=1");
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&uri, flags).map_err(|error| read_error(error, &name))?;
        let journal = Journal::reader(connection, name);
        let stored = journal.stored_meta()?;
        journal.of_campaign(stored)
    }

    /// A journal opened only to be read: no run, no mirror, nothing to write.
    fn reader(connection: Connection, path: String) -> Journal {
        Journal {
            connection,
            path,
            run: 0,
            campaign: String::new(),
            commit: 0,
            mirror: None,
            max_sent_row: 0,
            created: false,
            last_checkpoint: std::time::Instant::now(),
            has_sent_at: true,
            has_message: true,
            template: String::new(),
            template_change: None,
        }
    }

    /// The journal of the campaign its record names; a journal without one is refused.
    fn of_campaign(mut self, stored: StoredMeta) -> Result<Journal, JournalError> {
        let Some(campaign) = stored.campaign else {
            return Err(self.damaged(
                "holds no campaign record: it is not a flowc journal, or it was damaged".to_owned(),
                "name the journal file `flowc send` wrote",
            ));
        };
        self.campaign = campaign;
        self.run = stored.run;
        Ok(self)
    }

    fn sqlite(&self, source: rusqlite::Error) -> JournalError {
        busy_or(source, &self.path)
    }

    fn damaged(&self, problem: String, help: &str) -> JournalError {
        JournalError::Damaged {
            path: self.path.clone(),
            problem,
            help: help.to_owned(),
        }
    }

    /// Reads the campaign record, checks it against the mirror and the fingerprint, and
    /// records the start of a new run.
    fn start_run(&mut self, fingerprint: &Fingerprint, resume: Resume) -> Result<(), JournalError> {
        let restart = resume.restart;
        let has_tables = self.has_tables().map_err(|error| open_error(error, &self.path))?;
        let stored = if has_tables {
            self.stored_meta()?
        } else {
            StoredMeta::default()
        };
        let is_new = !has_tables && self.created;
        if !is_new && !restart {
            if !has_tables || stored.campaign.is_none() || stored.template.is_none() || stored.data.is_none() {
                return Err(self.damaged(
                    "holds no campaign record: it is not a flowc journal, or it was damaged".to_owned(),
                    RESTORE_OR_RESTART,
                ));
            }
            self.check_mirror(&stored)?;
        }
        if let Some(Mirror { path, state: None }) = &self.mirror {
            // A journal from which nothing was sent has nothing for a mirror to protect (a
            // run killed between creating the journal and writing its mirror leaves one).
            if !is_new && !restart && stored.mirrored && (stored.max_sent_row > 0 || self.anything_sent()?) {
                return Err(self.damaged(
                    format!(
                        "has lost its mirror `{}`: the journal was copied or moved without it, or the mirror was deleted",
                        path.display()
                    ),
                    "copy the mirror file along with the journal, or restore it; --restart starts a new campaign (rows accepted earlier would be sent again)",
                ));
            }
        }
        let template_changed = stored
            .template
            .as_ref()
            .is_some_and(|template| *template != fingerprint.template);
        let data_changed = stored.data.as_ref().is_some_and(|data| *data != fingerprint.data);
        let changed = if template_changed && !resume.changed_template {
            Some("template (or a --var value)")
        } else if data_changed {
            Some("data file")
        } else {
            None
        };
        let mut fresh = restart || is_new || !has_tables;
        // With --changed-template, a changed template alone goes on where the campaign was.
        let mut earlier_template = None;
        if template_changed && changed.is_none() && !fresh {
            if self.anything_sent()? {
                earlier_template = stored.template.as_deref().map(template_version);
            } else {
                fresh = true;
            }
        }
        if let Some(what) = changed {
            // A journal from which nothing was ever sent (a refused --strict run, a declined
            // prompt) protects nothing: the fixed file starts over without --restart.
            if self.anything_sent()? {
                if !restart {
                    return Err(JournalError::Changed {
                        path: self.path.clone(),
                        what,
                    });
                }
            } else {
                fresh = true;
            }
        }
        let transaction = self
            .connection
            .transaction()
            .map_err(|error| busy_or(error, &self.path))?;
        let sqlite = |error| busy_or(error, &self.path);
        if fresh {
            transaction
                .execute_batch("DROP TABLE IF EXISTS rows; DROP TABLE IF EXISTS meta;")
                .map_err(sqlite)?;
        }
        transaction.execute_batch(SCHEMA).map_err(sqlite)?;
        for (column, kind) in ADDED_COLUMNS {
            let present: bool = transaction
                .query_row(
                    "SELECT count(*) = 1 FROM pragma_table_info('rows') WHERE name = ?1",
                    [column],
                    |row| row.get(0),
                )
                .map_err(sqlite)?;
            if !present {
                transaction
                    .execute_batch(&format!("ALTER TABLE rows ADD COLUMN {column} {kind}"))
                    .map_err(sqlite)?;
            }
        }
        let campaign = match (&stored.campaign, fresh) {
            (Some(campaign), false) => campaign.clone(),
            _ => new_campaign_id(),
        };
        let run = if fresh { 1 } else { stored.run + 1 };
        let commit = if fresh { 1 } else { stored.commit + 1 };
        for (key, value) in [
            ("template", fingerprint.template.clone()),
            ("data", fingerprint.data.clone()),
            ("run", run.to_string()),
            ("campaign", campaign.clone()),
            ("commit", commit.to_string()),
            ("mirrored", if self.mirror.is_some() { "1" } else { "0" }.to_owned()),
            ("max_sent_row", if fresh { 0 } else { stored.max_sent_row }.to_string()),
        ] {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )
                .map_err(sqlite)?;
        }
        if let Some(earlier) = &earlier_template {
            // Rows that went out before versions were recorded went out with the earlier one.
            transaction
                .execute(
                    "UPDATE rows SET template = ?1 WHERE template IS NULL AND status IN ('accepted', 'unknown', 'sending', 'failed', 'retryable')",
                    [earlier],
                )
                .map_err(sqlite)?;
            let mut statement = transaction
                .prepare(
                    "SELECT template, count(*) FROM rows WHERE status IN ('accepted', 'unknown', 'sending', 'failed') AND template IS NOT NULL AND template != ?1 GROUP BY template ORDER BY count(*) DESC, template",
                )
                .map_err(sqlite)?;
            let versions = statement
                .query_map([&self.template], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sqlite)?;
            drop(statement);
            self.template_change = Some(TemplateChange {
                earlier: versions
                    .into_iter()
                    .map(|(version, count)| (version, u64::try_from(count).unwrap_or_default()))
                    .collect(),
                now: self.template.clone(),
            });
        }
        transaction.commit().map_err(|error| busy_or(error, &self.path))?;
        self.run = run;
        self.campaign = campaign;
        self.commit = commit;
        self.max_sent_row = if fresh { 0 } else { stored.max_sent_row };
        // The campaign record goes into the main file at once: a journal file is then never
        // legitimately empty, and its mirror can be trusted from the first commit.
        self.checkpoint()?;
        self.write_mirror()
    }

    fn stored_meta(&self) -> Result<StoredMeta, JournalError> {
        let get = |key: &str| -> Result<Option<String>, JournalError> {
            self.connection
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
                .optional()
                .map_err(|error| self.sqlite(error))
        };
        let number = |key: &str| -> Result<i64, JournalError> {
            match get(key)? {
                None => Ok(0),
                Some(text) => text.parse().map_err(|_| {
                    self.damaged(
                        format!("has an unreadable `{key}` record: `{text}`"),
                        RESTORE_OR_RESTART,
                    )
                }),
            }
        };
        Ok(StoredMeta {
            template: get("template")?,
            data: get("data")?,
            campaign: get("campaign")?,
            run: number("run")?,
            commit: number("commit")?,
            mirrored: get("mirrored")?.as_deref() == Some("1"),
            max_sent_row: u64::try_from(number("max_sent_row")?).unwrap_or(0),
        })
    }

    fn anything_sent(&self) -> Result<bool, JournalError> {
        let has_rows: bool = self
            .connection
            .query_row(
                "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'rows'",
                [],
                |row| row.get(0),
            )
            .map_err(|error| self.sqlite(error))?;
        if !has_rows {
            return Ok(false);
        }
        self.connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM rows WHERE status NOT IN ('pending', 'invalid', 'duplicate', 'excluded', 'opted-out'))",
                [],
                |row| row.get(0),
            )
            .map_err(|error| self.sqlite(error))
    }

    /// Folds the WAL into the main file.
    fn checkpoint(&mut self) -> Result<(), JournalError> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|error| self.sqlite(error))?;
        self.last_checkpoint = std::time::Instant::now();
        Ok(())
    }

    /// Deletes the journal and its mirror if this run created them and nothing was sent (a
    /// declined prompt): a campaign that never started leaves nothing behind.
    pub(crate) fn discard_if_unused(self) -> Result<(), JournalError> {
        if !self.created || self.anything_sent()? {
            return Ok(());
        }
        let path = self.connection.path().map(std::path::PathBuf::from);
        let mirror = self.mirror.as_ref().map(|mirror| mirror.path.clone());
        drop(self.connection);
        for file in path.into_iter().chain(mirror) {
            let _ = std::fs::remove_file(file);
        }
        Ok(())
    }

    /// Whether this journal held rows from an earlier run.
    #[cfg(test)]
    fn is_resume(&self) -> bool {
        self.run > 1
    }

    /// Marks rows left `sending` by a run that died as `unknown`; returns how many.
    pub(crate) fn recover_in_flight(&mut self) -> Result<u64, JournalError> {
        let changed = self
            .connection
            .execute(
                "UPDATE rows SET status = 'unknown', error = 'in flight when an earlier run stopped: delivery unknown' WHERE status = 'sending'",
                [],
            )
            .map_err(|error| self.sqlite(error))?;
        Ok(changed as u64)
    }

    /// Records `unknown` rows as accepted because the provider's callbacks showed that it has
    /// their message (see [`crate::send::callbacks::settle_unknown`]), and `not_sent` rows (with why, as the
    /// callback said) as failed: the provider says it never sent them. Only rows still
    /// `unknown` change, in one transaction; returns how many became accepted and how many
    /// failed.
    pub(crate) fn settle_from_callbacks(
        &mut self,
        accepted: &[u64],
        not_sent: &[(u64, String)],
    ) -> Result<(u64, u64), JournalError> {
        let path = self.path.clone();
        let sqlite = |error| busy_or(error, &path);
        let transaction = self.connection.transaction().map_err(sqlite)?;
        let mut changed = (0, 0);
        {
            let mut statement = transaction
                .prepare(
                    "UPDATE rows SET status = ?3, settled = 'callback', error = ?2 WHERE row = ?1 AND status = 'unknown'",
                )
                .map_err(sqlite)?;
            for row in accepted {
                changed.0 += statement
                    .execute(params![
                        *row as i64,
                        SETTLED_FROM_CALLBACKS,
                        RowStatus::Accepted.as_str()
                    ])
                    .map_err(sqlite)? as u64;
            }
            for (row, why) in not_sent {
                let error = format!("{SETTLED_NOT_SENT} ({why})");
                changed.1 += statement
                    .execute(params![*row as i64, error, RowStatus::Failed.as_str()])
                    .map_err(sqlite)? as u64;
            }
        }
        transaction.commit().map_err(sqlite)?;
        Ok(changed)
    }

    /// Records the names of the template and the data file the campaign is sent from, for the
    /// report's page (the fingerprint keeps only their digests).
    pub(crate) fn record_names(&self, template: &str, data: &str) -> Result<(), JournalError> {
        for (key, value) in [("template_file", template), ("data_file", data)] {
            self.connection
                .execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )
                .map_err(|error| self.sqlite(error))?;
        }
        Ok(())
    }

    /// Records where the campaign's inputs are (template, data file, ...), so that `flowc
    /// report`, whose outputs are named by hand, can refuse to write over one of them.
    pub(crate) fn record_inputs(&self, inputs: &[(&'static str, &Path)]) -> Result<(), JournalError> {
        for (role, path) in inputs {
            let Ok(path) = std::fs::canonicalize(path) else {
                continue;
            };
            self.connection
                .execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                    params![format!("input {role}"), path.to_string_lossy()],
                )
                .map_err(|error| self.sqlite(error))?;
        }
        Ok(())
    }
}

/// The note a settled row keeps in its `error` column.
const SETTLED_FROM_CALLBACKS: &str = "delivery was unknown when sent; settled as accepted: the provider's callbacks carried this row's --track key or message id";

/// The note a row settled as not sent keeps in its `error` column, before the callback's reason.
const SETTLED_NOT_SENT: &str =
    "delivery was unknown when sent; settled as failed: the provider's callback says it never sent it; not sent again";

const RESTORE_OR_RESTART: &str = "resuming from it could send rows again: restore the journal (with its `-wal` and `.mirror` files) from where it was, or run with --restart to start a new campaign (rows accepted earlier would be sent again)";

/// The campaign record as stored in `meta`.
#[derive(Debug, Default)]
struct StoredMeta {
    template: Option<String>,
    data: Option<String>,
    campaign: Option<String>,
    run: i64,
    commit: i64,
    mirrored: bool,
    max_sent_row: u64,
}

/// How a row records the template its request went out with: the fingerprint's first 12 hex
/// digits (what the plan shows), 12 bytes a row rather than 64.
fn template_version(fingerprint: &str) -> String {
    fingerprint.get(..12).unwrap_or(fingerprint).to_owned()
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn new_campaign_id() -> String {
    let mut hasher = sha2::Sha256::new();
    use sha2::Digest as _;
    hasher.update(fastrand::u128(..).to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    hasher.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Creates a new journal file whole or not at all: built under a temporary name, then linked
/// into place (which fails if another run created it meanwhile), so that a run killed while
/// creating it never leaves a half-made journal that every later run would refuse.
fn create_file(path: &Path, fingerprint: &Fingerprint, name: &str) -> Result<(), JournalError> {
    let temporary = crate::outputs::with_suffix(path, &format!(".creating-{}", std::process::id()));
    let sqlite = |error| open_error(error, name);
    for leftover in ["", "-wal", "-journal"] {
        let _ = std::fs::remove_file(crate::outputs::with_suffix(&temporary, leftover));
    }
    {
        let connection = Connection::open(&temporary).map_err(sqlite)?;
        connection
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(sqlite)?;
        connection.execute_batch(SCHEMA).map_err(sqlite)?;
        for (key, value) in [
            ("template", fingerprint.template.clone()),
            ("data", fingerprint.data.clone()),
            ("run", "0".to_owned()),
            ("campaign", new_campaign_id()),
            ("commit", "0".to_owned()),
            ("mirrored", "1".to_owned()),
            ("max_sent_row", "0".to_owned()),
        ] {
            connection
                .execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![key, value])
                .map_err(sqlite)?;
        }
        // Closing folds the WAL into the file and removes it: the file alone is the journal.
        connection.close().map_err(|(_, error)| sqlite(error))?;
    }
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(JournalError::Busy { path: name.to_owned() })
        }
        Err(error) => {
            return Err(JournalError::ReadOnly {
                path: name.to_owned(),
                reason: crate::input::io_reason(&error),
            })
        }
    }
    // The new name is durable before anything is sent under it.
    if let Some(directory) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        if let Ok(directory) = std::fs::File::open(directory) {
            let _ = directory.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
