//! [`PartialLog`]: what a stretch of log lines says, in a form that merges.

use bstr::{BStr, BString, ByteSlice};
use chrono::{DateTime, Utc};
use hashbrown::hash_map::EntryRef;
use mailtrail_parse::{
    ClockStats, Event, EventKind, LineCounts, Mta, Parsed, RejectStage, SmtpReply,
};
use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use std::sync::Arc;

use crate::join::{normalise_address, normalise_message_id};
use crate::outcome::{
    HOST_CLOCK_SKEW, Outcome, OutcomeSet, Window, WindowBy, finished_record_matters, id_time,
    later_by,
};
use crate::record::{
    Handoff, HopMarker, HopMarkers, MessageKey, MessageRecord, key_into, key_prefix, split_key,
};

/// How many unrecognised lines are kept as samples per partial log.
pub const UNRECOGNISED_SAMPLES: usize = 20;

/// A refusal at SMTP time by the logging host (no queue entry, or an entry
/// that never got further than the rejection).
#[derive(Clone, Debug, PartialEq)]
pub struct RejectionRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// Which MTA.
    pub mta: Mta,
    /// Host that rejected.
    pub host: Option<BString>,
    /// Queue id when the rejection happened after one was assigned.
    pub queue_id: Option<BString>,
    /// Dialogue stage.
    pub stage: RejectStage,
    /// 4xx rather than 5xx.
    pub temporary: bool,
    /// Envelope sender.
    pub sender: Option<BString>,
    /// Recipient.
    pub recipient: Option<BString>,
    /// Client host name.
    pub client_host: Option<BString>,
    /// Client IP.
    pub client_ip: Option<BString>,
    /// Codes.
    pub reply: SmtpReply,
    /// Reason text, unescaped.
    pub reason: Option<BString>,
}

/// An unrecognised line kept as a sample, with where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineSample {
    /// Byte offset of the line in its input.
    pub offset: u64,
    /// Why it was not recognised.
    pub reason: &'static str,
    /// The line (at most 1 KiB of it).
    pub text: BString,
}

/// Which queue entries a scan keeps once they are finished.
///
/// Most mail is delivered, and a report of what was *not* delivered has no
/// use for it: dropping a delivered message as soon as its last line is
/// read keeps memory in proportion to the messages in flight and the
/// failures, not to the size of the log. A report over a window of a long
/// log has no use for the failures outside it either.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Keep every entry (summaries, ticket joins, traces).
    #[default]
    Everything,
    /// Keep only what a report of these outcomes in this window needs:
    /// finished entries that may have a row with one of the outcomes in the
    /// window ([`Window::selects`]), entries that link to others, and
    /// rejections only when [`Outcome::Rejected`] is wanted.
    Outcomes {
        /// The outcomes reported.
        wanted: OutcomeSet,
        /// The window the rows are selected by.
        window: Window,
        /// Which times of a row the window looks at.
        by: WindowBy,
        /// Entries that may have a row of this mail are kept whole too,
        /// whatever their outcome.
        also: WantedMail,
    },
}

/// Mail a report needs whatever its outcome, which a
/// [`Retention::Outcomes`] keeps besides the outcomes it is asked for:
/// the mail to some recipients received after a time of each (a ticket
/// report's later deliveries, an export's notifications), and the mail
/// with some Message-IDs (an export's). Shared by the scan's threads;
/// empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedMail(Arc<WantedLists>);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct WantedLists {
    /// After when mail to each recipient ([`recipient_key`]) matters.
    recipients: FxHashMap<String, DateTime<Utc>>,
    /// Message-IDs, as [`normalise_message_id`] writes them.
    message_ids: FxHashSet<String>,
}

impl WantedMail {
    /// The mail to `recipients`, as written in the log, each received
    /// after its time; the earliest when a recipient is given twice.
    pub fn to_recipients<'a>(
        recipients: impl IntoIterator<Item = (&'a [u8], DateTime<Utc>)>,
    ) -> WantedMail {
        WantedMail::default().and_recipients(recipients)
    }

    /// This mail and that to `recipients` received after their times.
    pub fn and_recipients<'a>(
        mut self,
        recipients: impl IntoIterator<Item = (&'a [u8], DateTime<Utc>)>,
    ) -> WantedMail {
        let lists = Arc::make_mut(&mut self.0);
        for (recipient, after) in recipients {
            lists
                .recipients
                .entry(recipient_key(recipient))
                .and_modify(|at| *at = (*at).min(after))
                .or_insert(after);
        }
        self
    }

    /// This mail and that with one of `message_ids`, as
    /// [`normalise_message_id`] writes them (it is not idempotent: `< <x>>`
    /// gives `<x`, then `x`).
    pub fn and_message_ids<'a>(
        mut self,
        message_ids: impl IntoIterator<Item = &'a str>,
    ) -> WantedMail {
        let lists = Arc::make_mut(&mut self.0);
        lists
            .message_ids
            .extend(message_ids.into_iter().map(str::to_string));
        self
    }

    /// Both: mail either wants.
    pub fn union(self, other: &WantedMail) -> WantedMail {
        let recipients = other.0.recipients.iter().map(|(r, at)| (r.as_bytes(), *at));
        let message_ids = other.0.message_ids.iter().map(String::as_str);
        self.and_recipients(recipients).and_message_ids(message_ids)
    }

    /// True when this keeps all the mail `other` wants: each of its
    /// recipients from its time or earlier, and each of its Message-IDs.
    pub fn covers(&self, other: &WantedMail) -> bool {
        let recipients = other.0.recipients.iter().all(|(recipient, after)| {
            (self.0.recipients.get(recipient)).is_some_and(|ours| ours <= after)
        });
        recipients && other.0.message_ids.is_subset(&self.0.message_ids)
    }

    /// True when no mail is wanted.
    pub fn is_empty(&self) -> bool {
        self.0.recipients.is_empty() && self.0.message_ids.is_empty()
    }

    /// After when mail to `recipient`, as written in the log, is wanted;
    /// `None` when it is not.
    pub fn after(&self, recipient: &[u8]) -> Option<DateTime<Utc>> {
        let recipients = &self.0.recipients;
        if recipients.is_empty() {
            return None;
        }
        let key = recipient_key(recipient);
        if let Some(at) = recipients.get(&key) {
            return Some(*at);
        }
        // The export join compares addresses without angle brackets and
        // spaces around them.
        let bare = normalise_address(&key);
        (bare != key).then(|| recipients.get(&bare).copied())?
    }

    /// True when a row of `record`, the entry under `key`, may be wanted.
    ///
    /// Every address it names is looked at (a row reports the original
    /// address when there is one), and the empty one of a row without a
    /// recipient. A row's reception is at most its entry's last line, give
    /// or take the clocks of two hosts (a later hop dates its rows by the
    /// first hop's reception), or the time its queue id encodes when that
    /// is later (a log read in the wrong zone). A row's Message-ID is the
    /// first hop's: an entry without one of its own may have it. Keeping
    /// an entry too many costs only memory.
    fn wants(&self, record: &MessageRecord, key: &[u8]) -> bool {
        if self.is_empty() {
            return false;
        }
        if !self.0.message_ids.is_empty() && record.bounce_of.is_none() {
            match &record.message_id {
                Some(id) => {
                    let id = normalise_message_id(&id.as_bytes().to_str_lossy());
                    if self.0.message_ids.contains(&id) {
                        return true;
                    }
                }
                None => return true,
            }
        }
        let named = record.recipients.iter().flat_map(|recipient| {
            std::iter::once(recipient.address.as_bytes())
                .chain(recipient.original.as_ref().map(|a| a.as_bytes()))
        });
        let listed = record.listed_recipients.iter().map(|a| a.as_slice());
        let own_clock = later_by(record.last_seen, HOST_CLOCK_SKEW);
        let id_clock = id_time(record.mta, split_key(key).1.as_bytes());
        let latest_reception = id_clock.map_or(own_clock, |t| t.max(own_clock));
        (named.chain(listed).chain([&b""[..]]))
            .any(|address| self.after(address).is_some_and(|t| latest_reception > t))
    }
}

/// How reports compare recipients: lower-cased, whatever the case the
/// log wrote them in.
pub(crate) fn recipient_key(recipient: &[u8]) -> String {
    recipient.to_str_lossy().to_lowercase()
}

impl Retention {
    /// Keeps the entries a report of `wanted` outcomes needs, over all time.
    pub fn outcomes(wanted: OutcomeSet) -> Retention {
        Retention::outcomes_in(wanted, Window::default(), WindowBy::default())
    }

    /// Keeps the entries a report of `wanted` outcomes in `window`, by
    /// `by`, needs.
    pub fn outcomes_in(wanted: OutcomeSet, window: Window, by: WindowBy) -> Retention {
        Retention::Outcomes {
            wanted,
            window,
            by,
            also: WantedMail::default(),
        }
    }

    /// Also keeps, whatever their outcome, the entries that may have a row
    /// of `mail`; nothing changes for [`Retention::Everything`], which
    /// keeps them already.
    pub fn and_mail(self, mail: &WantedMail) -> Retention {
        match self {
            Retention::Everything => Retention::Everything,
            Retention::Outcomes {
                wanted,
                window,
                by,
                also,
            } => Retention::Outcomes {
                wanted,
                window,
                by,
                also: also.union(mail),
            },
        }
    }

    /// What to do with the finished entry `record` under `key`.
    fn decide(&self, record: &MessageRecord, key: &[u8]) -> Keep {
        match self {
            Retention::Everything => Keep::Whole,
            Retention::Outcomes {
                wanted,
                window,
                by,
                also,
            } => {
                let (wanted, by) = (*wanted, *by);
                let has_row = || {
                    (finished_record_matters(record, wanted) && window.may_select(record, by))
                        || also.wants(record, key)
                };
                // Rows of the wanted mail may be anywhere in time: what an
                // entry lends or marks is kept whatever the window then.
                let any_time = !also.is_empty();
                // Notifications are marked as such through the entry they
                // are about: its handoff keeps that link whatever its own
                // rows, while a notification's row may be in the window.
                if !record.is_finished() || has_row() {
                    Keep::Whole
                } else if (record.has_next_hop() && (any_time || window.may_lend(record, by)))
                    || (!record.notifications.is_empty()
                        && (any_time || window.may_mark(record, by)))
                {
                    Keep::Origin
                } else if record.has_next_hop() && window.may_date(record, by) {
                    Keep::Reception
                } else {
                    Keep::Nothing
                }
            }
        }
    }

    /// Whether the finished `record` under `key` stays whole; what is kept
    /// of it otherwise goes to `dropped`.
    fn keeps(&self, record: &MessageRecord, key: &[u8], dropped: &mut Dropped) -> bool {
        match self.decide(record, key) {
            Keep::Whole => return true,
            Keep::Origin => dropped.handoffs.push(record.handoff(key)),
            Keep::Reception => dropped.handoffs.push(record.reception_handoff(key)),
            Keep::Nothing => {}
        }
        if self.marks_dropped() {
            dropped
                .markers
                .push(key, record.first_seen, record.last_seen);
        }
        if let Some(deliveries) = &mut dropped.deliveries {
            for (host, at) in record.remote_deliveries() {
                match deliveries.get_mut(host) {
                    Some(times) => times.push(at),
                    None => {
                        deliveries.insert(host.to_owned(), vec![at]);
                    }
                }
            }
        }
        false
    }

    /// Whether a dropped entry leaves a [`HopMarker`]: any entry may be the
    /// next hop of another or a notification it caused, whose link must
    /// resolve as with everything kept. A report of no outcome has no row
    /// a link could change.
    fn marks_dropped(&self) -> bool {
        match self {
            Retention::Everything => false,
            Retention::Outcomes { wanted, .. } => *wanted != OutcomeSet::NONE,
        }
    }

    /// Whether a rejection at `at` of `recipient` may be a row of the
    /// report, or one the export join may match.
    fn keeps_rejection(&self, at: DateTime<Utc>, recipient: Option<&[u8]>) -> bool {
        match self {
            Retention::Everything => true,
            Retention::Outcomes {
                wanted,
                window,
                by,
                also,
            } => {
                // A rejection row has no reception time, only a failure.
                let in_window = match by {
                    WindowBy::Failure => window.contains(at),
                    WindowBy::Received => *window == Window::default(),
                };
                // A refusal without a recipient has an empty one in its row.
                let wanted_mail = || {
                    let after = also.after(recipient.unwrap_or_default());
                    after.is_some_and(|after| at > after)
                };
                (wanted.contains(Outcome::Rejected) && in_window) || wanted_mail()
            }
        }
    }
}

/// How much of a finished entry is kept.
enum Keep {
    Whole,
    /// Only what other entries' rows need from it: reception facts for
    /// its next hops, the link that marks its notifications ([`Handoff`]).
    Origin,
    /// Only its reception time, for its next hops: their rows are out of
    /// the window with it, and may not be without it
    /// ([`Window::may_date`]).
    Reception,
    Nothing,
}

/// Handoffs in segments of fixed capacity: a log has one for every message
/// relayed with a queue id, a growing vector of them was copied to fresh
/// memory at every doubling, and merging two logs moves segments rather
/// than handoffs. Their order does not matter (see `HopLinks`).
#[derive(Clone, Debug, Default)]
struct Handoffs(Vec<Vec<Handoff>>);

impl Handoffs {
    const SEGMENT: usize = 1024;

    fn push(&mut self, handoff: Handoff) {
        match self.0.last_mut() {
            Some(segment) if segment.len() < segment.capacity() => segment.push(handoff),
            _ => {
                let mut segment = Vec::with_capacity(Self::SEGMENT);
                segment.push(handoff);
                self.0.push(segment);
            }
        }
    }

    fn append(&mut self, later: Handoffs) {
        self.0.extend(later.0);
    }

    /// Keeps the handoffs for which `keep` holds, the segments in parallel
    /// on the current rayon pool.
    fn retain(&mut self, keep: impl Fn(&Handoff) -> bool + Sync) {
        self.0
            .par_iter_mut()
            .for_each(|segment| segment.retain(|handoff| keep(handoff)));
        self.0.retain(|segment| !segment.is_empty());
    }

    fn iter(&self) -> impl Iterator<Item = &Handoff> {
        self.0.iter().flatten()
    }
}

/// What is left of the finished entries the retention drops.
#[derive(Clone, Debug, Default)]
struct Dropped {
    handoffs: Handoffs,
    /// Where the entries dropped without a handoff or with one were.
    markers: HopMarkers,
    /// Per remote host, when recipients of the dropped entries were
    /// delivered to it; only when asked for
    /// ([`PartialLog::with_delivery_digest`]).
    deliveries: Option<FxHashMap<BString, Vec<DateTime<Utc>>>>,
}

impl Dropped {
    fn append(&mut self, later: Dropped) {
        self.handoffs.append(later.handoffs);
        self.markers.append(later.markers);
        match (&mut self.deliveries, later.deliveries) {
            (Some(deliveries), Some(later)) => {
                for (host, times) in later {
                    deliveries.entry(host).or_default().extend(times);
                }
            }
            (None, later) => self.deliveries = later,
            (Some(_), None) => {}
        }
    }
}

/// How long after a host's first line in a stretch an entry must have been
/// opened ([`Event::opens_entry`]) for the stretch to be sure it holds all
/// of the entry's lines.
///
/// An entry opened later than that started in this stretch: the only lines
/// of an entry logged before its opening line (Exim cutthrough `>>`,
/// DATA-time ACL lines) are written within seconds. An entry opened
/// earlier, or with no opening line here, may have lines in the stretch
/// before, so it is only dropped once the stretches are merged
/// ([`PartialLog::settle`]).
const WHOLE_ENTRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// The merged state of a stretch of lines: per-message records (a queue id
/// may have several when Postfix reuses it), rejections, line counts and
/// clock decisions.
///
/// `a.merge(b)` means "a, then b". Merging is associative, so a file can be
/// cut into chunks, each parsed on its own, and the results merged in order.
#[derive(Clone, Debug, Default)]
pub struct PartialLog {
    /// Records per queue entry key; more than one when a Postfix queue id
    /// was reused after its queue file was removed.
    pub messages: hashbrown::HashMap<MessageKey, Vec<MessageRecord>, FxBuildHasher>,
    /// Rejections in line order.
    pub rejections: Vec<RejectionRecord>,
    /// Lines per class.
    pub counts: LineCounts,
    /// Clock decisions (folds, gaps, invalid dates).
    pub clock: ClockStats,
    /// Earliest and latest event time.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The first unrecognised lines.
    pub unrecognised_samples: Vec<LineSample>,
    /// Finished entries cut down to what other entries' rows need from
    /// them, and the digest of their deliveries; only with
    /// [`Retention::Outcomes`].
    dropped: Dropped,
    /// Per Postfix long queue id first seen here: how many whole years
    /// after the time the id encodes (see
    /// [`year_shift_from_long_ids`](crate::year_shift_from_long_ids)).
    pub long_id_year_offsets: std::collections::BTreeMap<i64, u64>,
    retention: Retention,
    /// Per host (key prefix): the time from which an entry received here is
    /// known to be whole (see [`WHOLE_ENTRY_MARGIN`]). A handful of hosts,
    /// so a list.
    whole_after: Vec<(Box<[u8]>, DateTime<Utc>)>,
    /// Keys of entries that finished in this stretch before they were
    /// known to be whole: the stretch before may hold their first lines.
    /// [`PartialLog::merge_continuation`] looks at them again.
    unsettled: Vec<MessageKey>,
    scratch: Vec<u8>,
}

impl PartialLog {
    /// An empty log that drops finished entries `retention` does not keep.
    pub fn with_retention(retention: Retention) -> PartialLog {
        PartialLog {
            retention,
            ..PartialLog::default()
        }
    }

    /// The finished entries kept only for what other entries' rows need
    /// from them ([`Handoff`]), in no particular order.
    pub fn handoffs(&self) -> impl Iterator<Item = &Handoff> {
        self.dropped.handoffs.iter()
    }

    /// Where the entries the retention dropped were, for the links to them
    /// from the entries and handoffs kept ([`HopMarkers`]), in no
    /// particular order.
    pub(crate) fn hop_markers(&self) -> impl Iterator<Item = HopMarker<'_>> {
        self.dropped.markers.iter()
    }

    /// Also keeps, for every entry the retention drops, when each of its
    /// recipients was delivered and to which remote host: what finding the
    /// end of an incident (`incident`) needs of the delivered mail, in a few
    /// bytes a delivery instead of a whole record.
    pub fn with_delivery_digest(mut self) -> PartialLog {
        self.dropped.deliveries = Some(FxHashMap::default());
        self
    }

    /// Per remote host, when recipients of the entries the retention
    /// dropped were delivered to it (see
    /// [`PartialLog::with_delivery_digest`]; empty without it). The entries
    /// kept in [`PartialLog::messages`] are not in it: the two together
    /// hold every delivery once.
    pub fn dropped_deliveries(&self) -> impl Iterator<Item = (&BStr, &[DateTime<Utc>])> {
        self.dropped
            .deliveries
            .iter()
            .flatten()
            .map(|(host, times)| (host.as_bstr(), times.as_slice()))
    }

    /// Drops the finished entries the retention does not keep. Run once
    /// every stretch has been merged: only then is every entry whole. Runs
    /// on the current rayon pool.
    pub fn settle(&mut self) {
        let retention = self.retention.clone();
        if retention == Retention::Everything {
            return;
        }
        // Judged in parallel first: most entries left are kept whole, and
        // judging them costs more than dropping the others, which is done
        // in order (what is kept of them goes to `dropped`).
        let entries: Vec<(&MessageKey, &Vec<MessageRecord>)> = self.messages.iter().collect();
        let judged: Vec<MessageKey> = entries
            .par_iter()
            .filter(|(key, records)| {
                records
                    .iter()
                    .any(|record| !matches!(retention.decide(record, key), Keep::Whole))
            })
            .map(|(key, _)| (*key).clone())
            .collect();
        let dropped = &mut self.dropped;
        for key in judged {
            let records = self.messages.get_mut(&key).expect("judged from the map");
            records.retain(|record| retention.keeps(record, &key, dropped));
            if records.is_empty() {
                self.messages.remove(&key);
            }
        }
        self.unsettled = Vec::new();
        // Every input is in: a handoff whose next hops are not among the
        // entries kept has no row to lend its facts to.
        let queue_ids: FxHashSet<&[u8]> = self
            .messages
            .keys()
            .map(|key| split_key(key).1.as_bytes())
            .collect();
        self.dropped.handoffs.retain(|handoff: &Handoff| {
            handoff
                .linked_queue_ids()
                .any(|id| queue_ids.contains(id.as_bytes()))
        });
        // A marker matters only to a link from what is kept.
        let mut linked: FxHashSet<&[u8]> = FxHashSet::default();
        for record in self.messages.values().flatten() {
            linked.extend(record.next_hops().map(|(id, ..)| id.as_bytes()));
            linked.extend(record.notifications.iter().map(|n| n.queue_id.as_bytes()));
        }
        for handoff in self.dropped.handoffs.iter() {
            linked.extend(handoff.next_hops().map(|(id, ..)| id.as_bytes()));
            linked.extend(handoff.notifications().map(|(_, id, _)| id.as_bytes()));
        }
        self.dropped
            .markers
            .retain(|marker| linked.contains(split_key(marker.key).1.as_bytes()));
    }

    /// Records one parsed line found at `offset` of its input.
    pub fn record(&mut self, parsed: &Parsed<'_>, line: &[u8], offset: u64) {
        self.counts.count(parsed);
        match parsed {
            Parsed::Event(event) => self.apply(event),
            Parsed::Irrelevant(_) => {}
            Parsed::Unrecognised(reason) => {
                if self.unrecognised_samples.len() < UNRECOGNISED_SAMPLES {
                    let text = BString::from(&line[..line.len().min(1024)]);
                    self.unrecognised_samples.push(LineSample {
                        offset,
                        reason,
                        text,
                    });
                }
            }
        }
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event<'_>) {
        // Lines come mostly in time order: one comparison for the usual case.
        match &mut self.span {
            Some((_, last)) if event.at > *last => *last = event.at,
            Some((first, _)) if event.at < *first => *first = event.at,
            Some(_) => {}
            None => self.span = Some((event.at, event.at)),
        }
        if let EventKind::Rejected(rejection) = &event.kind
            && self
                .retention
                .keeps_rejection(event.at, rejection.recipient.map(|r| r.as_bytes()))
        {
            self.rejections.push(RejectionRecord {
                at: event.at,
                mta: event.mta,
                host: event.host.map(ToOwned::to_owned),
                queue_id: event.queue_id.map(ToOwned::to_owned),
                stage: rejection.stage,
                temporary: rejection.temporary,
                sender: rejection.sender.map(ToOwned::to_owned),
                recipient: rejection.recipient.map(ToOwned::to_owned),
                client_host: rejection.client_host.map(ToOwned::to_owned),
                client_ip: rejection.client_ip.map(ToOwned::to_owned),
                reply: rejection.reply,
                reason: rejection
                    .reason
                    .map(|r| BString::from(mailtrail_parse::unescape(r).into_owned())),
            });
        }
        // A rejection with a queue id also ends that queue entry.
        if matches!(event.kind, EventKind::Rejected(_)) && event.queue_id.is_none() {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        if key_into(event, &mut scratch) {
            // One probe by the borrowed key: most lines belong to an entry
            // already seen, and the key is only copied for new ones. A new
            // entry is inserted, and a finished one judged and removed,
            // through what the probe found rather than by looking its key
            // up again.
            // Borrowed apart from `messages`, which the probe holds.
            let mut retainer = Retainer {
                retention: &self.retention,
                whole_after: &mut self.whole_after,
                unsettled: &mut self.unsettled,
                dropped: &mut self.dropped,
            };
            match self.messages.entry_ref(scratch.as_slice()) {
                EntryRef::Occupied(mut entry) => {
                    let records = entry.get_mut();
                    if begins_new_use(records.last().expect("never empty"), event) {
                        records.push(MessageRecord::new(event.mta, event.at));
                    }
                    let current = records.last_mut().expect("never empty");
                    current.apply(event);
                    if current.is_finished()
                        && !keeps_finished(&mut retainer, current, &scratch, event)
                    {
                        // Dropped where it lies: `pop` would move the
                        // record's ~500 bytes out only to drop them.
                        if records.len() == 1 {
                            entry.remove();
                        } else {
                            records.truncate(records.len() - 1);
                        }
                    }
                }
                EntryRef::Vacant(entry) => {
                    note_long_id(&mut self.long_id_year_offsets, event);
                    // Built in its vector: a record is some 500 bytes, and
                    // moving it in after `apply` copied them all.
                    let mut records = vec![MessageRecord::new(event.mta, event.at)];
                    records[0].apply(event);
                    // An entry finished by its only line here (a rejection
                    // with a queue id) is never inserted when it would be
                    // dropped right away.
                    if !records[0].is_finished()
                        || keeps_finished(&mut retainer, &mut records[0], &scratch, event)
                    {
                        entry.insert_with_key(scratch.as_slice().into(), records);
                    }
                }
            }
        }
        self.scratch = scratch;
    }

    /// From when an entry of the host with key prefix `prefix` is known to
    /// be whole in this stretch (see [`WHOLE_ENTRY_MARGIN`]).
    fn whole_after(&self, prefix: &[u8]) -> Option<DateTime<Utc>> {
        find_whole_after(&self.whole_after, prefix)
    }

    /// Merges `later`, the stretch of the *same input* right after this
    /// one, and drops the entries the retention does not keep that finished
    /// in `later` and are whole now that the two are one: those cut by the
    /// boundary between the stretches. Without this, every boundary of a
    /// long input would leave its entries in flight until
    /// [`PartialLog::settle`], and memory would grow with the input.
    ///
    /// Only for stretches of one input: lines of one host are in time
    /// order there, which the margin of [`WHOLE_ENTRY_MARGIN`] relies on.
    /// Inputs are merged with [`PartialLog::merge`].
    pub(crate) fn merge_continuation(mut self, mut later: PartialLog) -> PartialLog {
        for (prefix, at) in std::mem::take(&mut later.whole_after) {
            if self.whole_after(&prefix).is_none() {
                self.whole_after.push((prefix, at));
            }
        }
        let recheck = std::mem::take(&mut later.unsettled);
        let mut merged = self.merge(later);
        if merged.retention == Retention::Everything {
            return merged;
        }
        let retention = merged.retention.clone();
        for key in recheck {
            let Some(whole_after) = merged.whole_after(key_prefix(&key)) else {
                merged.unsettled.push(key);
                continue;
            };
            let Some(records) = merged.messages.get_mut(&key) else {
                continue;
            };
            let dropped = &mut merged.dropped;
            let mut still_unsettled = false;
            records.retain(|record| {
                if !record.is_finished() {
                    return true;
                }
                if !is_whole(record, whole_after) {
                    still_unsettled = true;
                    return true;
                }
                retention.keeps(record, &key, dropped)
            });
            if records.is_empty() {
                merged.messages.remove(&key);
            } else if still_unsettled {
                merged.unsettled.push(key);
            }
        }
        merged
    }

    /// Merges `later` (the lines after this one's) into this one.
    pub fn merge(mut self, later: PartialLog) -> PartialLog {
        // Merge the smaller map into the larger one, keeping order: which
        // side is "earlier" matters, which side is iterated does not.
        for (key, later_records) in later.messages {
            match self.messages.get_mut(&key) {
                Some(records) => join_segments(records, later_records),
                None => {
                    self.messages.insert(key, later_records);
                }
            }
        }
        self.rejections.extend(later.rejections);
        self.dropped.append(later.dropped);
        self.unsettled.extend(later.unsettled);
        self.counts.add(&later.counts);
        self.clock.add(&later.clock);
        self.span = match (self.span, later.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
        for (years, count) in later.long_id_year_offsets {
            *self.long_id_year_offsets.entry(years).or_insert(0) += count;
        }
        let room = UNRECOGNISED_SAMPLES.saturating_sub(self.unrecognised_samples.len());
        self.unrecognised_samples
            .extend(later.unrecognised_samples.into_iter().take(room));
        self
    }
}

/// The parts of a [`PartialLog`] that judge a finished entry, borrowed
/// apart from its `messages` so that an entry found there is judged
/// without looking its key up again.
struct Retainer<'a> {
    retention: &'a Retention,
    whole_after: &'a mut Vec<(Box<[u8]>, DateTime<Utc>)>,
    unsettled: &'a mut Vec<MessageKey>,
    dropped: &'a mut Dropped,
}

/// Whether `record`, the entry under `key` just finished by `event`, stays:
/// false when the retention does not keep it and all of its lines are in
/// this stretch (what is kept of it then is in the retainer's `dropped`).
fn keeps_finished(
    retainer: &mut Retainer<'_>,
    record: &mut MessageRecord,
    key: &[u8],
    event: &Event<'_>,
) -> bool {
    if *retainer.retention == Retention::Everything {
        return true;
    }
    let prefix = key_prefix(key);
    let whole_after = match find_whole_after(retainer.whole_after, prefix) {
        Some(at) => at,
        None => {
            // Counted from this host's first *finished* entry rather than
            // its first line: later, so on the safe side, and it costs
            // nothing on the lines that finish nothing.
            let at = event.at + WHOLE_ENTRY_MARGIN;
            retainer.whole_after.push((prefix.into(), at));
            at
        }
    };
    if !is_whole(record, whole_after) {
        retainer.unsettled.push(key.into());
        return true;
    }
    let kept = retainer.retention.keeps(record, key, retainer.dropped);
    if kept {
        // Kept for the report, to the end of the read.
        record.compact();
    }
    kept
}

/// From when an entry of the host with key prefix `prefix` is known to be
/// whole, in a stretch's list of them (see [`WHOLE_ENTRY_MARGIN`]).
fn find_whole_after(list: &[(Box<[u8]>, DateTime<Utc>)], prefix: &[u8]) -> Option<DateTime<Utc>> {
    list.iter().find(|(p, _)| **p == *prefix).map(|(_, at)| *at)
}

/// Counts how far the first time a Postfix long queue id is seen lies
/// from the time the id encodes, in whole years.
fn note_long_id(offsets: &mut std::collections::BTreeMap<i64, u64>, event: &Event<'_>) {
    if event.mta != Mta::Postfix {
        return;
    }
    let created = event
        .queue_id
        .and_then(|id| mailtrail_parse::postfix_long_id_time(id));
    if let Some(created) = created {
        // Whole years, rounded: clock skew and time zones are hours.
        let days = (event.at - created).num_days();
        let years = ((days as f64) / 365.25).round() as i64;
        *offsets.entry(years).or_insert(0) += 1;
    }
}

/// True when a stretch in which entries opened from `whole_after` on are
/// whole holds every line of `record`.
fn is_whole(record: &MessageRecord, whole_after: DateTime<Utc>) -> bool {
    record.first_seen >= whole_after && record.opened_at.is_some_and(|at| at >= whole_after)
}

/// True when `event`, a line with the key of the entry whose latest use
/// is `last`, is a line of a new use of the queue id.
///
/// After its queue file was removed the id is free for another message.
/// Postfix also begins every entry with the line that opens it (smtpd
/// `client=`, pickup `uid=`): one for an entry still open means that the
/// earlier use's `removed` line is missing (lost, or cut out of the log)
/// and the id was reused. Taking the new message's lines for the old one's
/// would mix two messages, and make the result depend on where the input
/// is cut into chunks: a chunk that holds the new use only judges it whole
/// ([`WHOLE_ENTRY_MARGIN`]). Exim, which logs lines before `<=` and does
/// not reuse ids, is left to `Completed`.
#[inline]
fn begins_new_use(last: &MessageRecord, event: &Event<'_>) -> bool {
    last.queue.closed || (event.mta == Mta::Postfix && event.opens_entry())
}

/// Appends the later segments of one key to the earlier ones: the last
/// earlier segment continues into the first later one unless the first
/// later one is a new use of the queue id, as [`begins_new_use`] tells it
/// line by line: its queue file had been removed, or it is a Postfix entry
/// opened in the later stretch (a segment there has its opening line
/// first, or none).
fn join_segments(earlier: &mut Vec<MessageRecord>, later: Vec<MessageRecord>) {
    let mut later = later.into_iter();
    if let Some(first) = later.next() {
        let last = earlier.last_mut().expect("never empty");
        let opened_later = first.mta == Mta::Postfix && first.opened_at.is_some();
        if last.queue.closed || opened_later {
            earlier.push(first);
        } else {
            last.absorb(first);
        }
    }
    earlier.extend(later);
}
