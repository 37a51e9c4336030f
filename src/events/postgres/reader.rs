//! A PostgreSQL store as `report` and `send` read it.
//!
//! [`PgReader`] (the report) reads in one read-only, repeatable-read transaction (one snapshot
//! for every table, however many callbacks arrive meanwhile), each table through a server-side
//! cursor fetched in batches: memory stays flat in the number of events. [`PgFeed`] (send's
//! watch) reads what is new since its last look, by id: the writers' lock makes ids follow the
//! commit order, so nothing committed later can have a smaller id than one already seen.

use std::cell::RefCell;
use std::ops::ControlFlow;

use ::postgres::Client;

use super::schema::check;
use super::url::error_text;
use super::{PgError, StoreUrl};
use crate::events::{ReplyRow, StatusRow};

/// Rows fetched from a cursor at a time: few enough to keep memory small, many enough that
/// the round trips do not count.
const FETCH: usize = 5_000;

/// The callback's timestamp, else the moment the receiver stored it (milliseconds).
const TIME: &str = "COALESCE(timestamp_unix, received_at / 1000)";

fn connect_and_check(url: &StoreUrl) -> Result<Client, PgError> {
    let mut client = url.connect().map_err(|unreached| unreached.of(url))?;
    check(&mut client, url)?;
    Ok(client)
}

fn query_error(url: &StoreUrl, error: &::postgres::Error) -> PgError {
    PgError::Query {
        store: url.to_string(),
        reason: url.scrub(&error_text(error)),
    }
}

/// The store read by a report: one snapshot, streamed.
pub(crate) struct PgReader {
    client: RefCell<Client>,
    url: StoreUrl,
}

impl PgReader {
    /// Connects, checks the store's version, and opens the snapshot every read shares.
    pub(crate) fn open(url: &StoreUrl) -> Result<PgReader, PgError> {
        let mut client = connect_and_check(url)?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|error| query_error(url, &error))?;
        Ok(PgReader {
            client: RefCell::new(client),
            url: url.clone(),
        })
    }

    /// Runs `sql` through a cursor, visiting its rows in batches of [`FETCH`].
    fn stream<E>(&self, sql: &str, mut visit: impl FnMut(&::postgres::Row) -> Result<(), E>) -> Result<(), E>
    where
        E: From<PgError>,
    {
        self.stream_until(sql, |row| visit(row).map(|()| ControlFlow::Continue(())))
    }

    /// Runs `sql` through a cursor, visiting its rows in batches of [`FETCH`] until `visit`
    /// says to stop.
    fn stream_until<E>(
        &self,
        sql: &str,
        mut visit: impl FnMut(&::postgres::Row) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E>
    where
        E: From<PgError>,
    {
        let error = |error: ::postgres::Error| E::from(query_error(&self.url, &error));
        let mut client = self.client.borrow_mut();
        client
            .batch_execute(&format!("DECLARE flowc_rows NO SCROLL CURSOR FOR {sql}"))
            .map_err(error)?;
        let fetch = client
            .prepare(&format!("FETCH FORWARD {FETCH} FROM flowc_rows"))
            .map_err(error)?;
        'rows: loop {
            let rows = client.query(&fetch, &[]).map_err(error)?;
            for row in &rows {
                if visit(row)?.is_break() {
                    break 'rows;
                }
            }
            if rows.len() < FETCH {
                break;
            }
        }
        client.batch_execute("CLOSE flowc_rows").map_err(error)
    }

    /// Every status, in the order stored.
    #[cfg(test)]
    pub(crate) fn for_each_status(&self, mut visit: impl FnMut(&StatusRow<'_>)) -> Result<(), PgError> {
        self.for_each_status_until(|status| {
            visit(status);
            ControlFlow::Continue(())
        })
    }

    /// The ids and refs of every status after the first `skip`, in the order stored (the other
    /// fields of the [`StatusRow`] are empty).
    pub(crate) fn for_each_status_ids(&self, skip: u64, mut visit: impl FnMut(&StatusRow<'_>)) -> Result<(), PgError> {
        let url = &self.url;
        let sql =
            format!("SELECT message_id, provider_message_id, ref, ref1, ref2 FROM statuses ORDER BY id OFFSET {skip}");
        self.stream(&sql, |row| {
            let text = |index: usize| -> Result<Option<&str>, PgError> {
                row.try_get(index).map_err(|error| query_error(url, &error))
            };
            visit(&StatusRow {
                message_id: text(0)?,
                provider_message_id: text(1)?,
                refs: [text(2)?, text(3)?, text(4)?],
                ..StatusRow::default()
            });
            Ok(())
        })
    }

    /// Every status, in the order stored, until `visit` says to stop.
    pub(crate) fn for_each_status_until(
        &self,
        mut visit: impl FnMut(&StatusRow<'_>) -> ControlFlow<()>,
    ) -> Result<(), PgError> {
        let url = &self.url;
        let sql = format!(
            "SELECT status, message_id, provider_message_id, ref, ref1, ref2, {TIME},
                    error_code, error_title, error_detail, billable, pricing_category
             FROM statuses ORDER BY id"
        );
        self.stream_until(&sql, |row| {
            let text = |index: usize| -> Result<Option<&str>, PgError> {
                row.try_get(index).map_err(|error| query_error(url, &error))
            };
            Ok(visit(&StatusRow {
                status: text(0)?.unwrap_or_default(),
                message_id: text(1)?,
                provider_message_id: text(2)?,
                refs: [text(3)?, text(4)?, text(5)?],
                time: row
                    .try_get::<_, Option<i64>>(6)
                    .map_err(|error| query_error(url, &error))?
                    .unwrap_or_default(),
                error_code: text(7)?,
                error_title: text(8)?,
                error_detail: text(9)?,
                billable: row
                    .try_get::<_, Option<bool>>(10)
                    .map_err(|error| query_error(url, &error))?,
                pricing_category: text(11)?,
            }))
        })
    }

    /// Every completed Flow, in the order stored.
    pub(crate) fn for_each_flow_reply<E>(&self, mut visit: impl FnMut(&ReplyRow<'_>) -> Result<(), E>) -> Result<(), E>
    where
        E: From<PgError>,
    {
        let url = &self.url;
        let sql = format!(
            "SELECT from_number, context_id, flow_token, response_json, {TIME}
             FROM messages WHERE response_json IS NOT NULL OR flow_token IS NOT NULL ORDER BY id"
        );
        self.stream(&sql, |row| {
            let text = |index: usize| -> Result<Option<&str>, PgError> {
                row.try_get(index).map_err(|error| query_error(url, &error))
            };
            visit(&ReplyRow {
                from: text(0)?,
                context_id: text(1)?,
                flow_token: text(2)?,
                response_json: text(3)?,
                time: row
                    .try_get::<_, Option<i64>>(4)
                    .map_err(|error| query_error(url, &error))?
                    .unwrap_or_default(),
            })
        })
    }

    /// The number of every opt-out and its time, in the order stored.
    pub(crate) fn for_each_opt_out(&self, mut visit: impl FnMut(&str, i64)) -> Result<(), PgError> {
        let url = &self.url;
        self.stream(&format!("SELECT number, {TIME} FROM opt_outs ORDER BY id"), |row| {
            let number: &str = row.try_get(0).map_err(|error| query_error(url, &error))?;
            let time: Option<i64> = row.try_get(1).map_err(|error| query_error(url, &error))?;
            visit(number, time.unwrap_or_default());
            Ok(())
        })
    }
}

/// A status as send's watch reads it: its id (the next look starts after it), what happened,
/// and the refs that tie it to a campaign (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolledStatus {
    pub(crate) id: i64,
    pub(crate) status: String,
    pub(crate) error_code: Option<String>,
    pub(crate) refs: [String; 3],
}

/// The store as send's watch reads it: what is new since the last look. A lost connection is
/// reopened at the next look.
pub(crate) struct PgFeed {
    client: Option<Client>,
    url: StoreUrl,
}

impl PgFeed {
    pub(crate) fn open(url: &StoreUrl) -> Result<PgFeed, PgError> {
        Ok(PgFeed {
            client: Some(connect_and_check(url)?),
            url: url.clone(),
        })
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> Result<Vec<::postgres::Row>, PgError> {
        let client = match &mut self.client {
            Some(client) if !client.is_closed() => client,
            _ => self.client.insert(connect_and_check(&self.url)?),
        };
        client.query(sql, params).map_err(|error| {
            let failed = query_error(&self.url, &error);
            if error.as_db_error().is_none() {
                self.client = None;
            }
            failed
        })
    }

    /// The id of the latest status (0 for none): a run's throttles react to what comes after.
    pub(crate) fn last_status_id(&mut self) -> Result<i64, PgError> {
        let rows = self.query("SELECT COALESCE(max(id), 0) FROM statuses", &[])?;
        Ok(rows.first().map_or(0, |row| row.get(0)))
    }

    /// The statuses stored after `after`, in order, at most `limit`.
    pub(crate) fn statuses_after(&mut self, after: i64, limit: i64) -> Result<Vec<PolledStatus>, PgError> {
        let rows = self.query(
            "SELECT id, status, error_code, COALESCE(ref, ''), COALESCE(ref1, ''), COALESCE(ref2, '')
             FROM statuses WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| PolledStatus {
                id: row.get(0),
                status: row.get(1),
                error_code: row.get(2),
                refs: [row.get(3), row.get(4), row.get(5)],
            })
            .collect())
    }

    /// The incoming messages stored after `after` (id, sender as stored, time in Unix
    /// seconds), in order, at most `limit`: when each number last wrote to the business, read
    /// a page at a time.
    pub(crate) fn incoming_after(&mut self, after: i64, limit: i64) -> Result<Vec<(i64, String, i64)>, PgError> {
        let rows = self.query(
            &format!(
                "SELECT id, from_number, {TIME} FROM messages
                 WHERE id > $1 AND from_number IS NOT NULL ORDER BY id LIMIT $2"
            ),
            &[&after, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get::<_, Option<i64>>(2).unwrap_or_default()))
            .collect())
    }

    /// The opt-outs stored after `after` (id and number, as stored), in order.
    pub(crate) fn opt_outs_after(&mut self, after: i64) -> Result<Vec<(i64, String)>, PgError> {
        let rows = self.query("SELECT id, number FROM opt_outs WHERE id > $1 ORDER BY id", &[&after])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}
