//! Which callbacks are about which row of a campaign, and what they add up to for each row.
//!
//! The provider does not document that the `message_id` of its 202 is the id its callbacks
//! carry (its samples show `wamid.…` ids in callbacks), so that id is not relied on alone:
//! - a status matches a row by the `--track` key it echoes in `ref`, `ref1` or `ref2` (the
//!   campaign's id and the row number: no lookup table needed), else by any of its ids equal to
//!   the row's 202 `message_id`, else by an id another status of that row taught: a status that
//!   echoed the key (or carried the 202's id) also carries Meta's `wamid`, which other callbacks
//!   may carry alone, stored before or after it (callbacks arrive out of order, and several
//!   receivers share a store). An id is learned only from a status that carries the row's key
//!   or its 202 id, never from one matched by a learned id, and each status is matched as if
//!   every id had been learned before any status was applied, so that what a row's callbacks
//!   add up to never depends on the order they were stored in. The statuses are read once,
//!   learning and applying as they come, when that gives the same matches (every status that
//!   carries an id alone was stored after the one that taught it: one receiver, in the order
//!   the provider sent them); otherwise a second time, applying each with every id known;
//! - a Flow reply matches by its `flow_token` (several rows sharing one are told apart by the
//!   number that replied), else by `context.id`, the message it answers, equal to an id of the
//!   row (its 202 `message_id` or a `wamid` its statuses carried); a reply dated before its row
//!   was sent answers another campaign's message and never matches. A token that replies from
//!   before the row was sent also carry belongs to another campaign too: the replies matched by
//!   it are counted as ambiguous;
//! - an opt-out (`STOP`) matches the rows sent to its number, numbers compared as `flowc send`'s
//!   opt-out watch compares them ([`number_of`]).
//!
//! A status whose name is not a stage (`deleted`, a name flowc does not know yet) is counted
//! and named, never silently dropped.
//!
//! What matches nothing is counted, never dropped (it stays in the store: another campaign's,
//! or a message sent some other way). Stages only move forward (`sent` < `delivered` < `read`),
//! whatever order the callbacks come in, and `failed` is final.
//!
//! Memory: one fixed-size state per row and an index of each row's ids and token, whatever the
//! number of events, which are streamed from the store in the order they were stored (the
//! statuses once more when they were stored out of order), and a filter of fixed size (1 MiB)
//! that tells whether they were.

use std::collections::HashMap;
use std::ops::ControlFlow;

use foldhash::fast::FixedState;

use crate::events::{number_of, EventReader, EventsError, ReplyRow, StatusRow};
use crate::send::campaign::track_key;
use crate::send::journal::JournalError;
use crate::send::journal::{Journal, RowStatus};

/// How far a message got, as its callbacks say; ordered so that the furthest wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Stage {
    /// No status heard.
    #[default]
    Unheard = 0,
    /// The provider never passed it to Meta.
    NotSent = 1,
    Sent = 2,
    Delivered = 3,
    Read = 4,
    /// Final: no later callback changes it.
    Failed = 5,
}

impl Stage {
    /// The stage a callback's status names; `None` for statuses that are not stages (a
    /// `deleted`, a `warning`, a name flowc does not know yet).
    pub(crate) fn of(status: &str) -> Option<Stage> {
        let status = status.trim();
        let is = |name: &str| status.eq_ignore_ascii_case(name);
        if is("sent") {
            Some(Stage::Sent)
        } else if is("delivered") {
            Some(Stage::Delivered)
        } else if is("read") {
            Some(Stage::Read)
        } else if is("failed") {
            Some(Stage::Failed)
        } else if status
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(7)
            .eq("notsent".chars())
        {
            // `not-sent`, `not sent`, the provider's "Not Sent – Daily Limit Reached".
            Some(Stage::NotSent)
        } else {
            None
        }
    }

    /// The report's `delivery` cell.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Unheard => "",
            Stage::NotSent => "not-sent",
            Stage::Sent => "sent",
            Stage::Delivered => "delivered",
            Stage::Read => "read",
            Stage::Failed => "failed",
        }
    }

    /// The stage after a callback naming `next`: never backwards, and nothing after `failed`.
    fn advance(self, next: Stage) -> Stage {
        if self == Stage::Failed {
            self
        } else {
            self.max(next)
        }
    }
}

/// A moment in Unix seconds; [`NEVER`] when it did not happen (an `Option<i64>` would double
/// the per-row state).
pub(crate) type Moment = i64;
pub(crate) const NEVER: Moment = Moment::MIN;

/// Keeps the earliest of two moments.
fn earliest(slot: &mut Moment, time: Moment) {
    if *slot == NEVER || time < *slot {
        *slot = time;
    }
}

/// Bits of [`RowDelivery::flags`].
const TRACKED: u16 = 1;
const OPTED_OUT: u16 = 2;
/// A completion matched by `flow_token` (not by the message it answers).
const BY_TOKEN: u16 = 4;
/// Its completions came by a `flow_token` another campaign's replies carry too.
const AMBIGUOUS: u16 = 8;

/// How far a reply's time may precede its row's `sent_at` (the machine's clock against Meta's)
/// and still be taken as an answer to it.
const CLOCK_SKEW: Moment = 300;
/// A status came back for the row's message (by its `--track` key or one of its ids): the
/// provider has it. Never set by a Flow reply, whose `flow_token` the template chooses.
const STATUS_HEARD: u16 = 16;
/// A `not sent` callback dated before the row's last request: about an earlier attempt (a
/// daily limit, then a resume), so it says nothing of the attempt in doubt.
const NOT_SENT_BEFORE: u16 = 32;
/// A status of the row carried Meta's `pricing`; with [`BILLABLE`], one said it is billable.
const PRICED: u16 = 64;
const BILLABLE: u16 = 128;
/// Its last request carried the interactive Flow message (the journal says so).
const FLOW_MESSAGE: u16 = 256;
/// Its last request carried the approved template message.
const TEMPLATE_MESSAGE: u16 = 512;

/// What the callbacks say about one row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowDelivery {
    pub(crate) stage: Stage,
    /// The row's status in the journal (what sending it did).
    pub(crate) sending: RowStatus,
    flags: u16,
    /// 1 + the index of its failure in [`Delivery::failures`]; 0: none.
    failure: u32,
    /// Flows completed by this row's recipient.
    pub(crate) completions: u32,
    pub(crate) delivered_at: Moment,
    pub(crate) read_at: Moment,
    /// The first completion.
    pub(crate) replied_at: Moment,
    /// The first opt-out (`STOP`) from its recipient.
    pub(crate) opted_out_at: Moment,
    /// When its last request left, as the journal says.
    pub(crate) sent_at: Moment,
    /// The recipient's digits (no `+`) when the row has one recipient; 0 otherwise.
    recipient: u64,
    /// 1 + the index of its pricing category in [`Delivery::categories`]; 0: none said.
    category: u8,
    /// The stage of the status its pricing was taken from: the furthest one carrying a
    /// `pricing` wins (a message's statuses usually all carry the same).
    priced_by: Stage,
}

impl RowDelivery {
    /// Which message its last request carried, when the journal says.
    pub(crate) fn message(&self) -> Option<crate::template::MessageKind> {
        if self.flags & FLOW_MESSAGE != 0 {
            Some(crate::template::MessageKind::Flow)
        } else if self.flags & TEMPLATE_MESSAGE != 0 {
            Some(crate::template::MessageKind::Template)
        } else {
            None
        }
    }

    fn new(sending: RowStatus, recipient: u64, tracked: bool, sent_at: Option<i64>) -> RowDelivery {
        RowDelivery {
            stage: Stage::Unheard,
            sending,
            flags: if tracked { TRACKED } else { 0 },
            failure: 0,
            completions: 0,
            delivered_at: NEVER,
            read_at: NEVER,
            replied_at: NEVER,
            opted_out_at: NEVER,
            sent_at: sent_at.unwrap_or(NEVER),
            recipient,
            category: 0,
            priced_by: Stage::Unheard,
        }
    }

    /// What Meta charges for the row's message, as its statuses' `pricing` says: whether it is
    /// billable. `None` when no status carried pricing. A failed message is not billable
    /// whatever its `sent` said: Meta charges delivered messages only (per-message pricing).
    pub(crate) fn billable(&self) -> Option<bool> {
        (self.flags & PRICED != 0).then(|| self.flags & BILLABLE != 0 && self.stage != Stage::Failed)
    }

    pub(crate) fn opted_out(&self) -> bool {
        self.flags & OPTED_OUT != 0
    }

    /// The recipient's number as `+digits`, when the row has one recipient.
    pub(crate) fn recipient(&self) -> Option<String> {
        (self.recipient != 0).then(|| format!("+{}", self.recipient))
    }

    /// What the status callbacks for this row's own message (its `--track` key or an id of it)
    /// prove about it, for a row whose send answer was lost. `sent`, `delivered` and `read`
    /// prove the provider has it; so does Meta's `failed`, which Meta can only report on a
    /// message the provider passed on. `not sent` proves it never left the provider. Any other
    /// status name proves nothing.
    pub(crate) fn proof(&self) -> Option<Proof> {
        if self.flags & STATUS_HEARD == 0 {
            return None;
        }
        match self.stage {
            Stage::Sent | Stage::Delivered | Stage::Read | Stage::Failed => Some(Proof::ProviderHasIt),
            Stage::NotSent if self.flags & NOT_SENT_BEFORE != 0 => None,
            Stage::NotSent => Some(Proof::NotSent),
            Stage::Unheard => None,
        }
    }

    /// Whether any callback was about this row.
    pub(crate) fn heard(&self) -> bool {
        self.stage != Stage::Unheard || self.completions > 0
    }
}

/// What a row's callbacks prove about a message whose send answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The provider has it (accepted): sending it again would message the person twice.
    ProviderHasIt,
    /// The provider says it did not send it (`not sent`, e.g. `WAV2101`).
    NotSent,
}

/// Why a message failed, as its callback said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Failure {
    pub(crate) code: Option<String>,
    /// The callback's title and detail.
    pub(crate) text: Option<String>,
}

/// Distinct failures kept at most: beyond, a failure keeps its code only (a store full of
/// distinct texts must not grow memory without bound).
const MAX_FAILURES: usize = 10_000;

/// How many events were read and how many matched a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EventCounts {
    pub(crate) statuses: u64,
    pub(crate) unmatched_statuses: u64,
    pub(crate) replies: u64,
    pub(crate) unmatched_replies: u64,
    pub(crate) opt_outs: u64,
    pub(crate) unmatched_opt_outs: u64,
    /// Replies carrying a row's `flow_token` or answering its message, dated before the row
    /// was sent: another campaign's (counted in `unmatched_replies` too).
    pub(crate) replies_before_send: u64,
    /// Completions matched by a `flow_token` that another campaign's replies carry too.
    pub(crate) ambiguous_replies: u64,
    /// Statuses of this campaign's rows whose name is not a stage (see [`Delivery::other_statuses`]).
    pub(crate) other_statuses: u64,
}

/// A Flow completion matched to its row, for the responses file and the answers table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion<'a> {
    pub(crate) row: u64,
    /// The row's recipient, or the number that replied when the row had several.
    pub(crate) to: u64,
    pub(crate) flow_token: Option<&'a str>,
    pub(crate) replied_at: Moment,
    pub(crate) response_json: Option<&'a str>,
}

/// Every row's delivery, in row order.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    rows: Vec<u64>,
    states: Vec<RowDelivery>,
    failures: Vec<Failure>,
    pub(crate) events: EventCounts,
    /// The names of statuses that are not stages, with how many of each (at most
    /// [`MAX_OTHER_NAMES`] names; beyond, counted in `events.other_statuses` only).
    pub(crate) other_statuses: Vec<(String, u64)>,
    /// The pricing categories the statuses named (`marketing`, `utility`…), at most
    /// [`MAX_CATEGORIES`]; beyond, a row's category is not kept.
    categories: Vec<String>,
    /// How many times the statuses were read: 1, or 2 when some were stored before the status
    /// that taught the id they carry.
    #[cfg(test)]
    status_scans: u8,
}

/// Pricing categories kept: Meta names five; a store full of invented ones must not grow memory.
const MAX_CATEGORIES: usize = 32;

/// Distinct names of unknown statuses kept: a store full of invented names must not grow
/// memory.
const MAX_OTHER_NAMES: usize = 20;

impl Delivery {
    /// The state of `row`, if the journal has it.
    pub(crate) fn of_row(&self, row: u64) -> Option<&RowDelivery> {
        let index = self.rows.binary_search(&row).ok()?;
        self.states.get(index)
    }

    /// Every row's state, in row order.
    pub(crate) fn states(&self) -> impl Iterator<Item = &RowDelivery> {
        self.states.iter()
    }

    /// Every row's number and state, in row order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (u64, &RowDelivery)> {
        self.rows.iter().copied().zip(&self.states)
    }

    /// The pricing category of a row's message (`marketing`, `utility`…), as its statuses said.
    pub(crate) fn category(&self, state: &RowDelivery) -> Option<&str> {
        let index = usize::from(state.category).checked_sub(1)?;
        self.categories.get(index).map(String::as_str)
    }

    /// Back to what the journal said, before any status was applied (the replies and opt-outs
    /// are read after the statuses).
    fn forget_statuses(&mut self) {
        for state in &mut self.states {
            state.stage = Stage::Unheard;
            state.flags &= TRACKED | FLOW_MESSAGE | TEMPLATE_MESSAGE;
            state.failure = 0;
            state.delivered_at = NEVER;
            state.read_at = NEVER;
            state.category = 0;
            state.priced_by = Stage::Unheard;
        }
        self.failures.clear();
        self.other_statuses.clear();
        self.categories.clear();
        self.events.statuses = 0;
        self.events.unmatched_statuses = 0;
        self.events.other_statuses = 0;
    }

    pub(crate) fn failure(&self, state: &RowDelivery) -> Option<&Failure> {
        let index = usize::try_from(state.failure).ok()?.checked_sub(1)?;
        self.failures.get(index)
    }
}

/// A number's key (its digits, see [`number_of`]); 0 if it has none.
pub(crate) fn digits(number: &str) -> u64 {
    number_of(number).unwrap_or(0)
}

/// The indexes the events are matched with, built from the journal.
struct Indexes {
    /// The 202's `message_id` of each row, from the journal.
    ids: HashMap<Box<str>, u32, FixedState>,
    /// The other ids of a row's message (Meta's `wamid`…), learned from its statuses that carry
    /// its key or its 202 id; an id two rows' statuses carry goes to the first in row order.
    learned: HashMap<Box<str>, u32, FixedState>,
    /// `flow_token` → the one row with it.
    tokens: HashMap<Box<str>, u32, FixedState>,
    /// `flow_token`s several rows share → those rows.
    shared_tokens: HashMap<Box<str>, Vec<u32>, FixedState>,
    /// Recipient digits → the rows sent to them.
    recipients: HashMap<u64, Vec<u32>, FixedState>,
    /// `flowc-<campaign>-` (see [`track_key`]).
    track_prefix: String,
}

impl Indexes {
    fn new(campaign: &str) -> Indexes {
        let hasher = || FixedState::with_seed(fastrand::u64(..));
        let key = track_key(campaign, 0);
        Indexes {
            ids: HashMap::with_hasher(hasher()),
            learned: HashMap::with_hasher(hasher()),
            tokens: HashMap::with_hasher(hasher()),
            shared_tokens: HashMap::with_hasher(hasher()),
            recipients: HashMap::with_hasher(hasher()),
            track_prefix: key.strip_suffix('0').unwrap_or(&key).to_owned(),
        }
    }

    fn add_token(&mut self, token: &str, index: u32) {
        if let Some(rows) = self.shared_tokens.get_mut(token) {
            rows.push(index);
        } else if let Some(first) = self.tokens.remove(token) {
            self.shared_tokens.insert(token.into(), vec![first, index]);
        } else {
            self.tokens.insert(token.into(), index);
        }
    }
}

/// Reads the journal, then every status, Flow reply and opt-out of the store, and says what
/// became of each row. Each Flow completion matched to a row is handed to `on_completion` as it
/// is read.
pub(crate) fn reconcile<E: From<JournalError> + From<EventsError>>(
    journal: &Journal,
    events: &EventReader,
    mut on_completion: impl FnMut(&Completion<'_>) -> Result<(), E>,
) -> Result<Delivery, E> {
    let mut delivery = Delivery::default();
    let mut indexes = Indexes::new(journal.campaign_id());
    journal.for_each_identity(|identity| {
        let index = delivery.states.len() as u32;
        // The row's one recipient, or 0 when it has none or several.
        let mut single = 0;
        for (nth, number) in identity
            .recipient
            .split(',')
            .map(digits)
            .filter(|&number| number != 0)
            .enumerate()
        {
            single = if nth == 0 { number } else { 0 };
            indexes.recipients.entry(number).or_default().push(index);
        }
        if let Some(id) = identity.message_id.filter(|id| !id.is_empty()) {
            indexes.ids.entry(id.into()).or_insert(index);
        }
        if let Some(token) = identity.flow_token.filter(|token| !token.is_empty()) {
            indexes.add_token(token, index);
        }
        delivery.rows.push(identity.row);
        delivery.states.push(RowDelivery::new(
            identity.status,
            single,
            identity.track.is_some(),
            identity.sent_at,
        ));
        if let Some(state) = delivery.states.last_mut() {
            state.flags |= match identity.message {
                Some("flow") => FLOW_MESSAGE,
                Some("template") => TEMPLATE_MESSAGE,
                _ => 0,
            };
        }
    })?;

    // About one learned id a row (Meta's `wamid`): room made at once.
    indexes.learned.reserve(delivery.states.len());

    // One scan applies each status as it is read, learning each row's ids from its statuses that
    // carry its key or its 202 id. It stops at the first status that shows the statuses were not
    // stored in an order that gives the same matches (see [`Seen`]): then the ids of the
    // statuses after it are learned (their id columns alone), and every status is applied again
    // from a clean slate, each matched with every id known.
    let mut failures: HashMap<Failure, u32, FixedState> =
        HashMap::with_hasher(FixedState::with_seed(fastrand::u64(..)));
    let mut seen = Seen::new();
    let mut read = 0u64;
    events.for_each_status_until(|status| {
        read += 1;
        let anchored = match_anchored(&delivery, &indexes, status);
        if let Some(index) = anchored {
            for id in [status.message_id, status.provider_message_id].into_iter().flatten() {
                if !indexes.ids.contains_key(id) {
                    seen.learn(&mut indexes.learned, id, index);
                }
            }
        }
        if !seen.exact {
            return ControlFlow::Break(());
        }
        let index = anchored.or_else(|| {
            let mut matched = None;
            for id in [status.message_id, status.provider_message_id].into_iter().flatten() {
                match indexes.learned.get(id) {
                    Some(&index) => {
                        matched = Some(index);
                        break;
                    }
                    None => seen.unlearned(id),
                }
            }
            matched
        });
        apply_status(&mut delivery, &mut failures, index, status);
        ControlFlow::Continue(())
    })?;
    if !seen.exact {
        events.for_each_status_ids(read, |status| {
            if let Some(index) = match_anchored(&delivery, &indexes, status) {
                for id in [status.message_id, status.provider_message_id].into_iter().flatten() {
                    if !indexes.ids.contains_key(id) {
                        learn(&mut indexes.learned, id, index);
                    }
                }
            }
        })?;
        delivery.forget_statuses();
        failures.clear();
        events.for_each_status(|status| {
            let index = match_status(&delivery, &indexes, status);
            apply_status(&mut delivery, &mut failures, index, status);
        })?;
    }
    #[cfg(test)]
    {
        delivery.status_scans = if seen.exact { 1 } else { 2 };
    }

    // Tokens of this campaign that replies from before their row was sent carry too.
    let mut foreign_tokens: std::collections::HashSet<Box<str>, FixedState> =
        std::collections::HashSet::with_hasher(FixedState::with_seed(fastrand::u64(..)));
    events.for_each_flow_reply(|reply| {
        delivery.events.replies += 1;
        let Some((index, by_token)) = match_reply(&delivery, &indexes, reply) else {
            delivery.events.unmatched_replies += 1;
            return Ok(());
        };
        let state = &mut delivery.states[index as usize];
        if state.sent_at != NEVER && reply.time.saturating_add(CLOCK_SKEW) < state.sent_at {
            delivery.events.unmatched_replies += 1;
            delivery.events.replies_before_send += 1;
            if let (true, Some(token)) = (by_token, reply.flow_token) {
                foreign_tokens.insert(token.into());
            }
            return Ok(());
        }
        if by_token {
            state.flags |= BY_TOKEN;
        }
        state.completions += 1;
        earliest(&mut state.replied_at, reply.time);
        let to = match state.recipient {
            0 => reply.from.map_or(0, digits),
            number => number,
        };
        let completion = Completion {
            row: delivery.rows[index as usize],
            to,
            flow_token: reply.flow_token,
            replied_at: reply.time,
            response_json: reply.response_json,
        };
        on_completion(&completion)
    })?;

    for token in &foreign_tokens {
        let rows = match indexes.tokens.get(token) {
            Some(index) => std::slice::from_ref(index),
            None => indexes.shared_tokens.get(token).map_or(&[][..], Vec::as_slice),
        };
        for &index in rows {
            let state = &mut delivery.states[index as usize];
            if state.flags & BY_TOKEN != 0 && state.flags & AMBIGUOUS == 0 {
                state.flags |= AMBIGUOUS;
                delivery.events.ambiguous_replies += u64::from(state.completions);
            }
        }
    }

    events.for_each_opt_out(|number, time| {
        delivery.events.opt_outs += 1;
        match number.and_then(|number| indexes.recipients.get(&number)) {
            Some(rows) => {
                for &index in rows {
                    let state = &mut delivery.states[index as usize];
                    state.flags |= OPTED_OUT;
                    earliest(&mut state.opted_out_at, time);
                }
            }
            None => delivery.events.unmatched_opt_outs += 1,
        }
    })?;
    Ok(delivery)
}

/// Applies one status to the row it matched (`None`: it matched none).
fn apply_status(
    delivery: &mut Delivery,
    failures: &mut HashMap<Failure, u32, FixedState>,
    index: Option<u32>,
    status: &StatusRow<'_>,
) {
    delivery.events.statuses += 1;
    let Some(index) = index else {
        delivery.events.unmatched_statuses += 1;
        return;
    };
    let state = &mut delivery.states[index as usize];
    state.flags |= STATUS_HEARD;
    price(state, &mut delivery.categories, status);
    let Some(stage) = Stage::of(status.status) else {
        delivery.events.other_statuses += 1;
        let name = crate::words::printable(&crate::words::clip(status.status.trim(), 40)).into_owned();
        let names = &mut delivery.other_statuses;
        match names.iter().position(|(known, _)| *known == name) {
            Some(index) => names[index].1 += 1,
            None if names.len() < MAX_OTHER_NAMES => names.push((name, 1)),
            None => {}
        }
        return;
    };
    if stage == Stage::NotSent && state.sent_at != NEVER && status.time < state.sent_at {
        state.flags |= NOT_SENT_BEFORE;
    }
    state.stage = state.stage.advance(stage);
    match stage {
        Stage::Delivered => earliest(&mut state.delivered_at, status.time),
        Stage::Read => earliest(&mut state.read_at, status.time),
        Stage::Failed | Stage::NotSent => {
            let had_code = delivery
                .failures
                .get((state.failure as usize).wrapping_sub(1))
                .is_some_and(|failure| failure.code.is_some());
            if state.failure == 0 || (!had_code && status.error_code.is_some()) {
                state.failure = intern(&mut delivery.failures, failures, status);
            }
        }
        Stage::Sent | Stage::Unheard => {}
    }
}

/// Bits in [`Seen`]'s filter: 1 MiB, whatever the number of events.
const SEEN_BITS: usize = 1 << 23;

/// Whether the statuses applied in one scan, each matched with the ids learned before it, were
/// matched as they would be with every id learned first. They were unless an id was learned
/// after a status carrying it without a key had been read (that status was left unmatched, or
/// matched by its other id), or a row earlier in row order learned an id another row had
/// learned. The ids such statuses carried are kept in a fixed-size filter (a Bloom filter:
/// it may say "seen" of an id never seen, which only costs the second scan, never "not seen"
/// of one seen), so memory stays flat in the number of events.
struct Seen {
    filter: Vec<u64>,
    hasher: FixedState,
    /// No status so far could have been matched otherwise.
    exact: bool,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            filter: vec![0; SEEN_BITS / 64],
            hasher: FixedState::with_seed(fastrand::u64(..)),
            exact: true,
        }
    }

    /// The filter's three bits for `id`.
    fn bits(&self, id: &str) -> [usize; 3] {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(id);
        let (first, step) = (hash as usize, ((hash >> 32) as usize) | 1);
        [
            first,
            first.wrapping_add(step),
            first.wrapping_add(step.wrapping_mul(2)),
        ]
        .map(|bit| bit % SEEN_BITS)
    }

    /// A status without a key carried `id`, not learned yet.
    fn unlearned(&mut self, id: &str) {
        for bit in self.bits(id) {
            self.filter[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// A status with a row's key or 202 id carried `id`: it leads to the first such row in
    /// row order.
    fn learn(&mut self, learned: &mut HashMap<Box<str>, u32, FixedState>, id: &str, index: u32) {
        match learned.get(id) {
            Some(&known) if index < known => self.exact = false,
            Some(_) => return,
            None if self
                .bits(id)
                .iter()
                .all(|&bit| self.filter[bit / 64] & (1 << (bit % 64)) != 0) =>
            {
                self.exact = false;
            }
            None => {}
        }
        learn(learned, id, index);
    }
}

/// `id` leads to the row at `index`, unless it leads to one earlier in row order already.
fn learn(learned: &mut HashMap<Box<str>, u32, FixedState>, id: &str, index: u32) {
    match learned.get_mut(id) {
        Some(known) => *known = (*known).min(index),
        None => {
            learned.insert(id.into(), index);
        }
    }
}

/// Notes a status's pricing on its row, when it carries one and is at least as far as the
/// status the row's pricing came from.
fn price(state: &mut RowDelivery, categories: &mut Vec<String>, status: &StatusRow<'_>) {
    let category = status
        .pricing_category
        .map(|category| crate::words::printable(&crate::words::clip(category.trim(), 40)).to_lowercase())
        .filter(|category| !category.is_empty());
    if status.billable.is_none() && category.is_none() {
        return;
    }
    let stage = Stage::of(status.status).unwrap_or_default();
    if state.flags & PRICED != 0 && stage < state.priced_by {
        return;
    }
    state.priced_by = stage;
    state.flags |= PRICED;
    if status.billable == Some(true) {
        state.flags |= BILLABLE;
    } else {
        state.flags &= !BILLABLE;
    }
    state.category = match category {
        Some(category) => match categories.iter().position(|known| *known == category) {
            Some(index) => u8::try_from(index + 1).unwrap_or(0),
            None if categories.len() < MAX_CATEGORIES => {
                categories.push(category);
                u8::try_from(categories.len()).unwrap_or(0)
            }
            None => 0,
        },
        None => 0,
    };
}

/// The row a status is about, by its `--track` key, else by its 202 id, else by an id the
/// row's other statuses taught.
fn match_status(delivery: &Delivery, indexes: &Indexes, status: &StatusRow<'_>) -> Option<u32> {
    match_anchored(delivery, indexes, status).or_else(|| {
        [status.message_id, status.provider_message_id]
            .into_iter()
            .flatten()
            .find_map(|id| indexes.learned.get(id).copied())
    })
}

/// The row a status names by what the journal knows of it: its `--track` key, else its 202 id.
fn match_anchored(delivery: &Delivery, indexes: &Indexes, status: &StatusRow<'_>) -> Option<u32> {
    for reference in status.refs.into_iter().flatten() {
        let Some(row) = reference
            .trim()
            .strip_prefix(indexes.track_prefix.as_str())
            .and_then(|row| row.parse::<u64>().ok())
        else {
            continue;
        };
        if let Ok(index) = delivery.rows.binary_search(&row) {
            if delivery.states[index].flags & TRACKED != 0 {
                return u32::try_from(index).ok();
            }
        }
    }
    [status.message_id, status.provider_message_id]
        .into_iter()
        .flatten()
        .find_map(|id| indexes.ids.get(id).copied())
}

/// The row a Flow reply answers: by its `flow_token` (`true`), else by the message it answers.
fn match_reply(delivery: &Delivery, indexes: &Indexes, reply: &ReplyRow<'_>) -> Option<(u32, bool)> {
    if let Some(token) = reply.flow_token {
        if let Some(&index) = indexes.tokens.get(token) {
            return Some((index, true));
        }
        if let Some(rows) = indexes.shared_tokens.get(token) {
            let from = reply.from.map_or(0, digits);
            let mut of_sender = rows
                .iter()
                .filter(|&&index| from != 0 && delivery.states[index as usize].recipient == from);
            if let (Some(&index), None) = (of_sender.next(), of_sender.next()) {
                return Some((index, true));
            }
        }
    }
    reply
        .context_id
        .and_then(|id| indexes.ids.get(id).or_else(|| indexes.learned.get(id)).copied())
        .map(|index| (index, false))
}

/// The failure's index (+1) in the table, added if new.
fn intern(table: &mut Vec<Failure>, known: &mut HashMap<Failure, u32, FixedState>, status: &StatusRow<'_>) -> u32 {
    let text = match (status.error_title, status.error_detail) {
        (Some(title), Some(detail)) if title != detail => Some(format!("{title}: {detail}")),
        (Some(text), _) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    };
    let mut failure = Failure {
        code: status.error_code.map(str::to_owned),
        text,
    };
    if let Some(&index) = known.get(&failure) {
        return index;
    }
    if table.len() >= MAX_FAILURES {
        failure.text = None;
        if let Some(&index) = known.get(&failure) {
            return index;
        }
    }
    table.push(failure.clone());
    let index = table.len() as u32;
    known.insert(failure, index);
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::events::{Callback, Store, StoreWriter};
    use crate::receive::parse::{json, OptOutWords};
    use crate::send::journal::{Fingerprint, JournalWriter, Record, RowKeys};

    /// A journal of rows 2 to 7 (sent to +1415555010N, accepted with `M<row>`, tracked; row 7's
    /// answer lost: `unknown`), and its campaign's track key prefix.
    fn journal(path: &std::path::Path) -> String {
        let fingerprint = Fingerprint {
            template: "t".to_owned(),
            data: "d".to_owned(),
        };
        let mut journal = Journal::open(Some(path), &fingerprint, false).expect("journal");
        let campaign = journal.campaign_id().to_owned();
        let mut preflight = journal.preflight().expect("preflight");
        for row in 2..=7u64 {
            let token = match row {
                5 | 6 => "shared".to_owned(),
                _ => format!("tok-{row}"),
            };
            let keys = RowKeys {
                recipient: format!("+1415555010{row}"),
                flow_token: Some(token),
                refs: [Some(format!("R{row}")), None, Some(track_key(&campaign, row))],
                track: Some(track_key(&campaign, row)),
            };
            preflight.record(row, &keys, RowStatus::Pending, None).expect("row");
        }
        preflight.finish().expect("commit");
        let writer = JournalWriter::spawn(journal);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for row in 2..=7u64 {
            runtime
                .block_on(writer.handle().sending(row, 1, "flow"))
                .expect("sending");
            let record = Record {
                http_status: Some(202),
                code: Some("WA202".to_owned()),
                message_id: Some(format!("M{row}")),
                attempts: 1,
                error: None,
            };
            let status = if row == 7 {
                RowStatus::Unknown
            } else {
                RowStatus::Accepted
            };
            writer.handle().outcome(row, status, record).expect("outcome");
        }
        drop(writer.finish().expect("journal back"));
        track_key(&campaign, 0).trim_end_matches('0').to_owned()
    }

    fn store(path: &std::path::Path, bodies: &[String]) {
        let writer = StoreWriter::spawn(Store::open(&path.into()).expect("store"));
        let handle = writer.handle();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let words = OptOutWords::new(&OptOutWords::DEFAULT);
        for body in bodies {
            let callback = Callback {
                received_at: 1_000,
                method: "POST",
                path: "/".to_owned(),
                query: None,
                content_type: Some("application/json".to_owned()),
                body: body.as_bytes().to_vec(),
                outcome: json(body.as_bytes(), &words),
            };
            runtime.block_on(handle.save(callback)).expect("saved");
        }
        drop(handle);
        writer.finish().expect("closed");
    }

    fn status(id: &str, status: &str, time: i64, extra: &str, errors: &str) -> String {
        format!(
            r#"{{"meta_object":{{"value":{{"statuses":[{{"id":"{id}","status":"{status}","timestamp":"{time}"{errors}}}]}}}},"extra_info":{{{extra}}}}}"#
        )
    }

    fn reply(id: &str, from: &str, context: &str, answers: &str, time: i64) -> String {
        let answers = answers.replace('"', "\\\"");
        format!(
            r#"{{"messages":[{{"from":"{from}","id":"{id}","timestamp":"{time}","type":"interactive","context":{{"id":"{context}"}},"interactive":{{"type":"nfm_reply","nfm_reply":{{"name":"flow","response_json":"{answers}"}}}}}}]}}"#
        )
    }

    #[test]
    fn report_callbacks_are_matched_by_key_ids_token_and_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal_path = dir.path().join("j.sqlite");
        let store_path = dir.path().join("events.sqlite");
        let prefix = journal(&journal_path);
        // Callbacks come after the rows were sent (a reply from before is another campaign's).
        let t = crate::send::journal::unix_now();
        let key = |row: u64| format!(r#""ref2":"{prefix}{row}""#);
        let failed = r#","errors":[{"code":131047,"title":"Re-engagement message"}]"#;
        let bodies = vec![
            // Row 2: by its key, `read` before `delivered`.
            status("wamid.2", "sent", t + 10, &key(2), ""),
            status("wamid.2", "read", t + 30, &key(2), ""),
            status("wamid.2", "delivered", t + 20, &key(2), ""),
            // Row 3: no key, the 202's id in the envelope; failed, then a stray `delivered`.
            status("wamid.3", "failed", t + 11, r#""message_id":"M3""#, failed),
            status("wamid.3", "delivered", t + 12, "", ""),
            // Row 4: the key once, then the wamid alone; a reply known only by what it answers.
            status("wamid.4", "sent", t + 13, &key(4), ""),
            status("wamid.4", "delivered", t + 14, "", ""),
            reply("wamid.r4", "14155550104", "wamid.4", r#"{"slot":"10:00"}"#, t + 40),
            // Rows 5 and 6 share a flow_token: told apart by who replied. Row 5 never left the
            // provider.
            status("wamid.5", "not-sent", t + 16, &key(5), ""),
            reply(
                "wamid.r6",
                "14155550106",
                "",
                r#"{"flow_token":"shared","slot":"11:00"}"#,
                t + 41,
            ),
            // Row 7 (`unknown` when sent): by its own token.
            reply(
                "wamid.r7",
                "14155550107",
                "",
                r#"{"flow_token":"tok-7","slot":"10:00"}"#,
                t + 42,
            ),
            // Nobody's.
            status("wamid.x", "delivered", t + 15, r#""ref":"other""#, ""),
            reply(
                "wamid.rx",
                "19999999999",
                "wamid.y",
                r#"{"flow_token":"nobody"}"#,
                t + 43,
            ),
            // Row 2's person asks to stop.
            r#"{"messages":[{"from":"14155550102","id":"wamid.s","type":"text","text":{"body":"STOP"}}]}"#.to_owned(),
        ];
        store(&store_path, &bodies);

        let journal = Journal::open_read_only(&journal_path).expect("read-only");
        let events = EventReader::open(&store_path.as_path().into()).expect("store");
        let mut completions = Vec::new();
        let delivery = reconcile::<super::super::CallbacksError>(&journal, &events, |completion| {
            completions.push((
                completion.row,
                completion.to,
                completion.response_json.map(str::to_owned),
            ));
            Ok(())
        })
        .expect("reconciled");
        let state = |row| *delivery.of_row(row).expect("row");
        assert_eq!(state(2).stage, Stage::Read);
        assert_eq!((state(2).delivered_at, state(2).read_at), (t + 20, t + 30));
        assert!(state(2).opted_out());
        assert_eq!(state(3).stage, Stage::Failed);
        assert_eq!(
            delivery.failure(&state(3)),
            Some(&Failure {
                code: Some("131047".to_owned()),
                text: Some("Re-engagement message".to_owned()),
            })
        );
        assert_eq!(
            state(3).delivered_at,
            t + 12,
            "a fact still, though the stage stays failed"
        );
        assert_eq!(state(4).stage, Stage::Delivered);
        assert_eq!(state(4).replied_at, t + 40);
        assert_eq!(state(5).completions, 0);
        assert_eq!(state(5).stage, Stage::NotSent);
        assert_eq!(state(6).replied_at, t + 41);
        assert_eq!(state(7).completions, 1);
        assert_eq!(
            completions.iter().map(|(row, to, _)| (*row, *to)).collect::<Vec<_>>(),
            [(4, 14_155_550_104), (6, 14_155_550_106), (7, 14_155_550_107)]
        );
        assert_eq!(
            delivery.events,
            EventCounts {
                statuses: 9,
                unmatched_statuses: 1,
                replies: 4,
                unmatched_replies: 1,
                opt_outs: 1,
                unmatched_opt_outs: 0,
                ..EventCounts::default()
            }
        );
        let funnel = crate::report::Funnel::of(&delivery);
        assert_eq!(
            funnel.to_string(),
            "6 accepted → 4 sent → 4 delivered → 4 read → 3 completed the Flow; 1 failed (131047 outside the 24-hour window: 1); 1 not sent by the provider (no code: 1); 1 asked to stop (1 of the accepted had no answer when sent, but their callbacks came)"
        );
    }

    #[test]
    fn report_a_status_carrying_only_the_wamid_counts_whether_stored_before_or_after_the_keyed_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal_path = dir.path().join("j.sqlite");
        let prefix = journal(&journal_path);
        let t = crate::send::journal::unix_now();
        let key = |row: u64| format!(r#""ref2":"{prefix}{row}""#);
        let bodies = vec![
            // Row 2: its key once, on `sent`; `delivered` and `read` carry the wamid alone.
            status("wamid.2", "sent", t + 10, &key(2), ""),
            status("wamid.2", "delivered", t + 20, "", ""),
            status("wamid.2", "read", t + 30, "", ""),
            // Row 3: the 202's id once, on `sent`; then the wamid alone.
            status("wamid.3", "sent", t + 11, r#""message_id":"M3""#, ""),
            status("wamid.3", "read", t + 31, "", ""),
            // Row 7 (its answer lost): its key on `sent`, the wamid alone on `delivered`.
            status("wamid.7", "sent", t + 12, &key(7), ""),
            status("wamid.7", "delivered", t + 22, "", ""),
            // Nobody's: an id no keyed status carried.
            status("wamid.x", "read", t + 33, "", ""),
        ];
        let journal = Journal::open_read_only(&journal_path).expect("read-only");
        let mut seen = Vec::new();
        for (order, bodies) in [
            ("as sent", bodies.clone()),
            ("reversed", bodies.iter().rev().cloned().collect()),
            ("bare first", {
                let mut bare: Vec<String> = bodies
                    .iter()
                    .filter(|body| !body.contains("ref2") && !body.contains("M3"))
                    .cloned()
                    .collect();
                bare.extend(
                    bodies
                        .iter()
                        .filter(|body| body.contains("ref2") || body.contains("M3"))
                        .cloned(),
                );
                bare
            }),
        ] {
            let store_path = dir.path().join(format!("{order}.sqlite"));
            store(&store_path, &bodies);
            let events = EventReader::open(&store_path.as_path().into()).expect("store");
            let delivery =
                reconcile::<super::super::CallbacksError>(&journal, &events, |_| Ok(())).expect("reconciled");
            let state = |row| *delivery.of_row(row).expect("row");
            assert_eq!((state(2).stage, state(2).read_at), (Stage::Read, t + 30), "{order}");
            assert_eq!(state(2).delivered_at, t + 20, "{order}");
            assert_eq!((state(3).stage, state(3).read_at), (Stage::Read, t + 31), "{order}");
            assert_eq!(
                (state(7).stage, state(7).delivered_at),
                (Stage::Delivered, t + 22),
                "{order}"
            );
            assert_eq!(state(7).proof(), Some(Proof::ProviderHasIt), "{order}");
            assert_eq!(delivery.events.unmatched_statuses, 1, "{order}");
            // Stored as sent, each status carrying the wamid alone after the one that taught it:
            // one read of the statuses; otherwise two, to the same result.
            let scans = if order == "as sent" { 1 } else { 2 };
            assert_eq!(delivery.status_scans, scans, "{order}");
            seen.push(format!(
                "{:?} {:?}",
                delivery.rows().collect::<Vec<_>>(),
                delivery.events
            ));
        }
        assert!(seen.windows(2).all(|pair| pair[0] == pair[1]), "{seen:#?}");
    }

    #[test]
    fn report_an_id_the_keyed_statuses_of_two_rows_carry_goes_to_the_first_row_whatever_the_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal_path = dir.path().join("j.sqlite");
        let prefix = journal(&journal_path);
        let t = crate::send::journal::unix_now();
        let key = |row: u64| format!(r#""ref2":"{prefix}{row}""#);
        let row_2 = status("wamid.shared", "sent", t + 10, &key(2), "");
        let row_3 = status("wamid.shared", "delivered", t + 11, &key(3), "");
        let bare = status("wamid.shared", "read", t + 30, "", "");
        let journal = Journal::open_read_only(&journal_path).expect("read-only");
        for (order, bodies) in [
            ("row 2 first", [&row_2, &row_3, &bare]),
            ("row 3 first", [&row_3, &row_2, &bare]),
            ("bare between", [&row_3, &bare, &row_2]),
            ("bare first", [&bare, &row_3, &row_2]),
        ] {
            let store_path = dir.path().join(format!("{order}.sqlite"));
            store(&store_path, &bodies.map(String::clone));
            let events = EventReader::open(&store_path.as_path().into()).expect("store");
            let delivery =
                reconcile::<super::super::CallbacksError>(&journal, &events, |_| Ok(())).expect("reconciled");
            let state = |row| *delivery.of_row(row).expect("row");
            assert_eq!((state(2).stage, state(2).read_at), (Stage::Read, t + 30), "{order}");
            assert_eq!((state(3).stage, state(3).read_at), (Stage::Delivered, NEVER), "{order}");
            assert_eq!(delivery.events.unmatched_statuses, 0, "{order}");
        }
    }

    #[test]
    fn report_stages_only_move_forward_and_failed_is_final() {
        let mut stage = Stage::Unheard;
        for (next, expected) in [
            (Stage::Read, Stage::Read),
            (Stage::Delivered, Stage::Read),
            (Stage::Sent, Stage::Read),
            (Stage::Failed, Stage::Failed),
            (Stage::Read, Stage::Failed),
        ] {
            stage = stage.advance(next);
            assert_eq!(stage, expected);
        }
        assert_eq!(Stage::of(" Delivered"), Some(Stage::Delivered));
        assert_eq!(Stage::of("not-sent"), Some(Stage::NotSent));
        assert_eq!(Stage::of("deleted"), None);
    }

    #[test]
    fn report_numbers_are_read_with_or_without_plus_and_spaces() {
        assert_eq!(digits("+919876543210"), 919_876_543_210);
        assert_eq!(digits("919876543210"), 919_876_543_210);
        assert_eq!(digits("+91 98765 43210"), 919_876_543_210);
        assert_eq!(digits("+91 98765 ABCDE"), 0);
        assert_eq!(digits(""), 0);
    }

    #[test]
    fn report_a_rows_state_stays_64_bytes() {
        // The guide's memory figure (docs/guide.md, the report): one state per row, whatever the number of events.
        assert_eq!(std::mem::size_of::<RowDelivery>(), 64);
    }

    #[test]
    fn report_earliest_keeps_the_first_moment() {
        let mut slot = NEVER;
        earliest(&mut slot, 30);
        earliest(&mut slot, 10);
        earliest(&mut slot, 20);
        assert_eq!(slot, 10);
    }
}
