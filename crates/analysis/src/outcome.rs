//! Per-recipient outcomes: the answer to "was it delivered, and if not,
//! why?".

use std::fmt;
use std::str::FromStr;

use bstr::{BStr, BString, ByteSlice};
use chrono::{DateTime, Utc};
use mailtrail_parse::{AttemptStatus, Mta, SmtpReply};

use crate::partial::{PartialLog, RejectionRecord};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::record::{
    Failure, Handoff, HopMarker, MessageRecord, RecipientRecord, key_prefix, split_key,
};

/// The final outcome for one recipient of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Delivered with no deferral before.
    Delivered,
    /// Delivered after at least one deferral.
    Delayed,
    /// Failed permanently; a bounce is normally sent.
    Bounced,
    /// Given up after retrying until the retry limit.
    Expired,
    /// Deferred, with no final state by the end of the input.
    Pending,
    /// Frozen (Exim) or held (Postfix) at the end of the input.
    Frozen,
    /// Removed or cancelled by an administrator, never delivered.
    Removed,
    /// Refused at SMTP time by the logging host: never queued.
    Rejected,
    /// Accepted and silently discarded.
    Discarded,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Delivered,
        Outcome::Delayed,
        Outcome::Bounced,
        Outcome::Expired,
        Outcome::Pending,
        Outcome::Frozen,
        Outcome::Removed,
        Outcome::Rejected,
        Outcome::Discarded,
    ];

    /// The outcomes `undelivered` reports unless told otherwise.
    pub const UNDELIVERED: [Outcome; 6] = [
        Outcome::Bounced,
        Outcome::Expired,
        Outcome::Pending,
        Outcome::Frozen,
        Outcome::Removed,
        Outcome::Discarded,
    ];

    /// The lower-case name used in reports and options.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Delayed => "delayed",
            Outcome::Bounced => "bounced",
            Outcome::Expired => "expired",
            Outcome::Pending => "pending",
            Outcome::Frozen => "frozen",
            Outcome::Removed => "removed",
            Outcome::Rejected => "rejected",
            Outcome::Discarded => "discarded",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Outcome`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OutcomeSet(u16);

impl OutcomeSet {
    /// Every outcome.
    pub const ALL: OutcomeSet = OutcomeSet((1 << Outcome::ALL.len()) - 1);

    /// No outcome: a retention for it keeps only the messages in flight.
    pub const NONE: OutcomeSet = OutcomeSet(0);

    /// True when `outcome` is in the set.
    pub fn contains(self, outcome: Outcome) -> bool {
        self.0 & (1 << outcome as u16) != 0
    }
}

impl FromIterator<Outcome> for OutcomeSet {
    fn from_iter<I: IntoIterator<Item = Outcome>>(outcomes: I) -> OutcomeSet {
        OutcomeSet(outcomes.into_iter().fold(0, |mask, o| mask | 1 << o as u16))
    }
}

/// An outcome name that is not one of [`Outcome::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown outcome '{0}' (expected one of: delivered, delayed, bounced, expired, pending, frozen, removed, rejected, discarded, all)"
)]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Outcome, UnknownOutcome> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

/// One row of a report: one recipient of one message (or one rejection).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientOutcome {
    /// Host that wrote the log (empty when unknown).
    pub host: BString,
    /// Queue id (empty for rejections before queueing).
    pub queue_id: BString,
    /// Which MTA.
    pub mta: Mta,
    /// When the message was received (from its reception line, or decoded
    /// from its queue id).
    pub received_at: Option<DateTime<Utc>>,
    /// Message-ID header.
    pub message_id: Option<BString>,
    /// Envelope sender.
    pub sender: Option<BString>,
    /// Subject, when logged.
    pub subject: Option<BString>,
    /// Logged headers other than Subject.
    pub headers: Vec<(BString, BString)>,
    /// The recipient as the sender addressed it (the original address when
    /// the MTA rewrote it).
    pub recipient: BString,
    /// The final outcome.
    pub outcome: Outcome,
    /// The last failure's details (codes, remote host, text).
    pub last_failure: Option<Failure>,
    /// When the first failure happened.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// When the last attempt happened.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Real delivery attempts.
    pub attempts: u32,
    /// The times that count as failures for window queries: failed
    /// attempts, rejection, removal, freezing.
    pub failure_times: Vec<DateTime<Utc>>,
    /// Why, in the log's words (failure text, `removed by root`, frozen
    /// reason).
    pub reason: Option<BString>,
    /// A bounce or DSN about another message, not the sender's own mail.
    pub is_notification: bool,
}

impl RecipientOutcome {
    /// The reply codes of the last failure.
    pub fn reply(&self) -> SmtpReply {
        self.last_failure
            .as_ref()
            .map(|f| f.reply)
            .unwrap_or_default()
    }

    /// The recipient's domain, lower-cased.
    pub fn recipient_domain(&self) -> String {
        let address = self.recipient.as_bstr();
        match address.rfind_byte(b'@') {
            Some(at) => address[at + 1..].to_str_lossy().to_ascii_lowercase(),
            None => String::new(),
        }
    }
}

/// Turns a fully merged log into report rows, ordered by reception time,
/// host, queue id and recipient order.
pub fn outcomes(log: &PartialLog) -> Vec<RecipientOutcome> {
    outcomes_where(log, |_, _| true)
}

/// Like [`outcomes`], but only the rows for which `keep(outcome,
/// is_notification)` holds are built — cheaper when most rows would be
/// thrown away (delivered mail in an `undelivered` report).
///
/// The work runs on the current rayon pool; the order of the rows does not
/// depend on the number of threads.
pub fn outcomes_where(
    log: &PartialLog,
    keep: impl Fn(Outcome, bool) -> bool + Sync,
) -> Vec<RecipientOutcome> {
    let index = OutcomeIndex::new(log, keep);
    (0..index.len())
        .into_par_iter()
        .map(|row| index.row(row))
        .collect()
}

/// The rows of [`outcomes_where`] as places in the log, in report order,
/// each made ([`OutcomeIndex::row`]) only when it is wanted.
///
/// A row holds copies of its message's texts, a few hundred bytes and
/// several allocations; a report that formats its rows one batch at a time
/// need not hold them all at once next to the log they were copied from.
pub struct OutcomeIndex<'a> {
    log: &'a PartialLog,
    entries: Vec<Entry<'a>>,
    links: HopLinks<'a>,
    rows: Vec<RowPlace>,
}

/// Where a row comes from, and its outcome.
#[derive(Clone, Copy, Debug)]
struct RowPlace {
    place: Place,
    outcome: Outcome,
}

/// The part of the log a row is made from. Indexes are `u32` to keep a
/// place small: an input has fewer than 2³² entries and rejections.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// `recipients[index]` of record `segment` of entry `entry`.
    Recipient {
        entry: u32,
        segment: u32,
        index: u32,
    },
    /// `listed_recipients[index]` of a record: a recipient known only from
    /// the reception line.
    Listed {
        entry: u32,
        segment: u32,
        index: u32,
    },
    /// A queued message whose recipients were never logged.
    Unlisted { entry: u32, segment: u32 },
    /// `rejections[index]` of the log.
    Rejection(u32),
}

/// An index as a `u32` (see [`Place`]).
fn small(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than 2^32 entries, records and rejections")
}

impl<'a> OutcomeIndex<'a> {
    /// The places of the rows for which `keep(outcome, is_notification)`
    /// holds, ordered as [`outcomes_where`] orders its rows. Runs on the
    /// current rayon pool.
    pub fn new(
        log: &'a PartialLog,
        keep: impl Fn(Outcome, bool) -> bool + Sync,
    ) -> OutcomeIndex<'a> {
        let mut entries: Vec<Entry<'a>> = log
            .messages
            .iter()
            .map(|(key, records)| (key.as_ref(), records.as_slice()))
            .collect();
        // Keys are unique, so an unstable sort is deterministic; it fixes the
        // order of messages that tie in the final sort (two Postfix instances
        // of one host reusing a short queue id in the same second).
        entries.par_sort_unstable_by_key(|&(key, _)| key);
        let handoffs: Vec<&Handoff> = log.handoffs().collect();
        let markers: Vec<HopMarker<'_>> = log.hop_markers().collect();
        let links = HopLinks::new(&entries, &handoffs, &markers);
        // Each place with the time it is sorted by: the reception, or else
        // the first failure.
        let mut places: Vec<(RowPlace, Option<DateTime<Utc>>)> = entries
            .par_iter()
            .enumerate()
            .flat_map_iter(|(entry, &(key, records))| {
                let mut places = Vec::new();
                for (segment, record) in records.iter().enumerate() {
                    let context = links.context(key, segment, record);
                    let queue_id = split_key(key).1;
                    let received_at = row_received_at(queue_id, record, &context);
                    let mut add =
                        |place: Place, outcome: Outcome, failed: Option<DateTime<Utc>>| {
                            places.push((RowPlace { place, outcome }, received_at.or(failed)));
                        };
                    message_places(entry, segment, record, &context, &keep, &mut add);
                }
                places
            })
            .collect();
        if keep(Outcome::Rejected, false) {
            places.extend(log.rejections.iter().enumerate().map(|(index, rejection)| {
                let place = RowPlace {
                    place: Place::Rejection(small(index)),
                    outcome: Outcome::Rejected,
                };
                (place, Some(rejection.at))
            }));
        }
        let mut index = OutcomeIndex {
            log,
            entries,
            links,
            rows: Vec::new(),
        };
        // Rows that tie keep the order they were made in: the index is
        // part of the key, which makes keys unique and an unstable sort
        // stable.
        let order: Vec<usize> = {
            let mut keys: Vec<_> = places
                .iter()
                .enumerate()
                .map(|(at, &(row, time))| {
                    let (host, queue_id) = index.host_and_queue_id(row.place);
                    (time, host, queue_id, at)
                })
                .collect();
            keys.par_sort_unstable();
            keys.into_iter().map(|(.., at)| at).collect()
        };
        put_in_order(&mut places, order);
        index.rows = places.into_iter().map(|(row, _)| row).collect();
        index
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The outcome of row `row`, without making the row.
    pub fn outcome(&self, row: usize) -> Outcome {
        self.rows[row].outcome
    }

    /// Keeps the rows whose flag is set (one flag per row, in order).
    pub fn retain_flagged(&mut self, flags: &[bool]) {
        assert_eq!(flags.len(), self.rows.len(), "one flag per row");
        let mut flag = flags.iter();
        self.rows.retain(|_| *flag.next().unwrap_or(&false));
    }

    /// Makes row `row`, as [`outcomes_where`] would.
    pub fn row(&self, row: usize) -> RecipientOutcome {
        let RowPlace { place, outcome } = self.rows[row];
        let (entry, segment) = match place {
            Place::Rejection(index) => return rejection_row(&self.log.rejections[index as usize]),
            Place::Recipient { entry, segment, .. }
            | Place::Listed { entry, segment, .. }
            | Place::Unlisted { entry, segment } => (entry as usize, segment as usize),
        };
        let (key, records) = self.entries[entry];
        let record = &records[segment];
        let context = self.links.context(key, segment, record);
        let (host, queue_id) = split_key(key);
        let base = base_row(host, queue_id, record, &context);
        match place {
            Place::Recipient { index, .. } => {
                let recipient = &record.recipients[index as usize];
                let address = (recipient.original.as_ref()).unwrap_or(&recipient.address);
                let mut row = RecipientOutcome {
                    recipient: address.to_bstring(),
                    outcome,
                    ..base
                };
                fill_recipient(&mut row, record, recipient, outcome);
                row
            }
            Place::Listed { index, .. } => {
                let listed = record.listed_recipients[index as usize].clone();
                waiting_row(base, listed, outcome, record)
            }
            Place::Unlisted { .. } => waiting_row(base, BString::default(), outcome, record),
            Place::Rejection(_) => unreachable!("returned above"),
        }
    }

    /// The last failure of row `row` and the outcome it led to, borrowed
    /// from the log, without making the row; `None` when the row has no
    /// failure. A rejection's failure is not in the log as such: its
    /// parts are.
    pub fn last_failure(&self, row: usize) -> Option<(Outcome, FailureRef<'a>)> {
        let RowPlace { place, outcome } = self.rows[row];
        match place {
            Place::Recipient {
                entry,
                segment,
                index,
            } => {
                let record = &self.entries[entry as usize].1[segment as usize];
                let failure = record.recipients[index as usize].last_failure.as_deref()?;
                Some((outcome, FailureRef::Attempt(failure)))
            }
            Place::Listed { .. } | Place::Unlisted { .. } => None,
            Place::Rejection(index) => Some((
                outcome,
                FailureRef::Rejection(&self.log.rejections[index as usize]),
            )),
        }
    }

    /// The host and queue id a row of `place` is sorted by.
    fn host_and_queue_id(&self, place: Place) -> (&'a BStr, &'a BStr) {
        match place {
            Place::Rejection(index) => {
                let rejection = &self.log.rejections[index as usize];
                let text =
                    |t: &'a Option<BString>| t.as_ref().map_or(b"".as_bstr(), |t| t.as_bstr());
                (text(&rejection.host), text(&rejection.queue_id))
            }
            Place::Recipient { entry, .. }
            | Place::Listed { entry, .. }
            | Place::Unlisted { entry, .. } => split_key(self.entries[entry as usize].0),
        }
    }
}

/// A row's last failure as the log holds it (see
/// [`OutcomeIndex::last_failure`]).
#[derive(Clone, Copy, Debug)]
pub enum FailureRef<'a> {
    /// A failed or deferred delivery attempt.
    Attempt(&'a Failure),
    /// A rejection, whose row's failure is made from it.
    Rejection(&'a RejectionRecord),
}

/// The row of a rejection.
fn rejection_row(rejection: &RejectionRecord) -> RecipientOutcome {
    RecipientOutcome {
        host: rejection.host.clone().unwrap_or_default(),
        queue_id: rejection.queue_id.clone().unwrap_or_default(),
        mta: rejection.mta,
        received_at: None,
        message_id: None,
        sender: rejection.sender.clone(),
        subject: None,
        headers: Vec::new(),
        recipient: rejection.recipient.clone().unwrap_or_default(),
        outcome: Outcome::Rejected,
        last_failure: Some(Failure {
            at: rejection.at,
            status: rejection_status(rejection),
            reply: rejection.reply,
            phase: None,
            reason: rejection.reason.clone(),
            remote_host: rejection.client_host.clone(),
            remote_ip: rejection.client_ip.clone(),
            local: true,
            bare_expiry: false,
        }),
        first_failure_at: Some(rejection.at),
        last_attempt_at: Some(rejection.at),
        attempts: 1,
        failure_times: vec![rejection.at],
        reason: rejection.reason.clone(),
        is_notification: false,
    }
}

/// The attempt status a rejection's row reports for its failure.
pub(crate) fn rejection_status(rejection: &RejectionRecord) -> AttemptStatus {
    if rejection.temporary {
        AttemptStatus::Deferred
    } else {
        AttemptStatus::Bounced
    }
}

/// Moves `items[order[i]]` to position `i`, following each cycle of the
/// permutation.
fn put_in_order<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut at = start;
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// What other records say about one record.
struct RowContext<'a> {
    /// A bounce or DSN about another message.
    is_notification: bool,
    /// The previous hop, when this record continues it.
    upstream: Option<Origin<'a>>,
    /// Recipients this record handed to a later hop found in the input.
    handed_over: Option<&'a Vec<usize>>,
}

/// Links between records: notifications, and hops through content
/// filters, relays and aliases (`queued as X`, `id=X`, `forwarded as X`).
struct HopLinks<'a> {
    /// Records that are notifications about another record: of a reused
    /// queue id, only the use that was the notification.
    notifications: HashSet<Segment<'a>>,
    /// (key, segment) → the key of the upstream entry it continues, and
    /// what the rows take from that entry.
    upstream: HashMap<Segment<'a>, (&'a [u8], Origin<'a>)>,
    /// (key, segment) → indexes of recipients handed to a downstream
    /// record present in the input; their rows come from that record.
    handed_over: HashMap<Segment<'a>, Vec<usize>>,
}

/// A queue entry key and the index of one of its records.
type Segment<'a> = (&'a [u8], usize);

/// A queue entry key and its records.
type Entry<'a> = (&'a [u8], &'a [MessageRecord]);

/// An entry a link may lead to: its key, its records, and the spans of its
/// records the retention dropped ([`HopMarker`]), which a link may lead to
/// as well: it then finds no row, as with everything kept it would find
/// one of an entry with no row in the report.
struct Candidate<'a> {
    key: &'a [u8],
    records: &'a [MessageRecord],
    dropped: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl<'a> HopLinks<'a> {
    fn new(
        entries: &[Entry<'a>],
        handoffs: &[&'a Handoff],
        markers: &[HopMarker<'a>],
    ) -> HopLinks<'a> {
        // Only queue ids that some record points to (a next hop, a
        // notification) are looked up: index just those, not every message.
        let mut wanted: HashSet<&'a [u8]> = HashSet::default();
        for &(_, records) in entries {
            for record in records {
                wanted.extend(record.notifications.iter().map(|n| n.queue_id.as_bytes()));
                let next_hops = record
                    .recipients
                    .iter()
                    .filter_map(|r| r.terminal.as_ref()?.next_queue_id.as_ref());
                wanted.extend(next_hops.map(|id| id.as_bytes()));
            }
        }
        for &handoff in handoffs {
            wanted.extend(handoff.notifications().map(|(_, id, _)| id.as_bytes()));
            wanted.extend(handoff.next_hops().map(|(id, ..)| id.as_bytes()));
        }
        let mut by_queue_id: HashMap<&'a [u8], Vec<Candidate<'a>>> = HashMap::default();
        if !wanted.is_empty() {
            for &(key, records) in entries {
                let queue_id = split_key(key).1.as_bytes();
                if wanted.contains(queue_id) {
                    by_queue_id.entry(queue_id).or_default().push(Candidate {
                        key,
                        records,
                        dropped: Vec::new(),
                    });
                }
            }
            for marker in markers {
                let queue_id = split_key(marker.key).1.as_bytes();
                if !wanted.contains(queue_id) {
                    continue;
                }
                let candidates = by_queue_id.entry(queue_id).or_default();
                let span = (marker.first_seen, marker.last_seen);
                match candidates.iter_mut().find(|c| c.key == marker.key) {
                    Some(candidate) => candidate.dropped.push(span),
                    None => candidates.push(Candidate {
                        key: marker.key,
                        records: &[],
                        dropped: vec![span],
                    }),
                }
            }
        }
        let mut links = HopLinks {
            notifications: HashSet::default(),
            upstream: HashMap::default(),
            handed_over: HashMap::default(),
        };
        if by_queue_id.is_empty() {
            // Nothing points to an entry of this input: the usual case for
            // one host whose next hops are elsewhere.
            return links;
        }
        // Found in parallel, as a list of what to record in the order the
        // entries and handoffs come in, then recorded in that order: finding
        // the segment a link lands on is most of the work, and recording
        // in order keeps the result the same on any number of threads.
        let from_entries = entries.par_iter().flat_map_iter(|&(key, records)| {
            let prefix = key_prefix(key);
            let mut events = Vec::new();
            for (segment, record) in records.iter().enumerate() {
                for notification in &record.notifications {
                    let marked = notification_of(
                        &by_queue_id,
                        prefix,
                        notification.queue_id.as_bstr(),
                        notification.at,
                    );
                    events.extend(marked.map(LinkEvent::Notification));
                }
                for (index, recipient) in record.recipients.iter().enumerate() {
                    let Some(terminal) = &recipient.terminal else {
                        continue;
                    };
                    let Some(next) = &terminal.next_queue_id else {
                        continue;
                    };
                    let reach = Reach::of_handoff(terminal.to_same_host());
                    match next_hop_of(&by_queue_id, key, next.as_bstr(), terminal.at, reach) {
                        NextHop::Absent => continue,
                        NextHop::Dropped => {}
                        NextHop::Kept(down) => events.push(LinkEvent::Upstream {
                            down,
                            key,
                            origin: Origin::of_record(record),
                        }),
                    }
                    events.push(LinkEvent::HandedOver((key, segment), index));
                }
            }
            events
        });
        let from_handoffs = handoffs.par_iter().flat_map_iter(|&handoff| {
            let key = handoff.key();
            let mut events: Vec<LinkEvent<'a>> = handoff
                .notifications()
                .filter_map(|(_, notification, at)| {
                    notification_of(&by_queue_id, key_prefix(key), notification, at)
                })
                .map(LinkEvent::Notification)
                .collect();
            for (next, at, same_host) in handoff.next_hops() {
                let reach = Reach::of_handoff(same_host);
                if let NextHop::Kept(down) = next_hop_of(&by_queue_id, key, next, at, reach) {
                    let origin = Origin::of_handoff(handoff);
                    events.push(LinkEvent::Upstream { down, key, origin });
                }
            }
            events
        });
        let events: Vec<LinkEvent<'a>> = from_entries.chain(from_handoffs).collect();
        for event in events {
            match event {
                LinkEvent::Notification(segment) => {
                    links.notifications.insert(segment);
                }
                LinkEvent::Upstream { down, key, origin } => {
                    // When two entries hand over to the same one, the first
                    // key wins, whatever order they are linked in.
                    let upstream = links.upstream.entry(down).or_insert((key, origin));
                    if key < upstream.0 {
                        *upstream = (key, origin);
                    }
                }
                LinkEvent::HandedOver(segment, index) => {
                    links.handed_over.entry(segment).or_default().push(index);
                }
            }
        }
        links
    }

    /// What the links say about record `segment` of entry `key`.
    fn context<'s>(
        &'s self,
        key: &'s [u8],
        segment: usize,
        record: &MessageRecord,
    ) -> RowContext<'s> {
        RowContext {
            is_notification: record.is_notification()
                || self.notifications.contains(&(key, segment)),
            upstream: self
                .upstream
                .get(&(key, segment))
                .map(|&(_, origin)| origin),
            handed_over: self.handed_over.get(&(key, segment)),
        }
    }
}

/// What [`HopLinks::new`] records, found for one link at a time.
enum LinkEvent<'a> {
    /// This segment is a notification.
    Notification(Segment<'a>),
    /// The segment `down` continues the entry `key`, whose rows take
    /// `origin`'s facts.
    Upstream {
        down: Segment<'a>,
        key: &'a [u8],
        origin: Origin<'a>,
    },
    /// This recipient of this segment was handed to an entry of the input.
    HandedOver(Segment<'a>, usize),
}

/// Where a handoff's next hop is in the input.
enum NextHop<'a> {
    /// Not in the input (or the entry itself).
    Absent,
    /// An entry the retention dropped for having no row: the recipient is
    /// that entry's, which reports nothing.
    Dropped,
    /// This segment of an entry of the input.
    Kept(Segment<'a>),
}

/// The entry `next` that `key` handed a recipient to at `at`.
fn next_hop_of<'a>(
    by_queue_id: &HashMap<&'a [u8], Vec<Candidate<'a>>>,
    key: &[u8],
    next: &BStr,
    at: DateTime<Utc>,
    reach: Reach,
) -> NextHop<'a> {
    let Some(candidate) = find_hop(by_queue_id, key_prefix(key), next, reach) else {
        return NextHop::Absent;
    };
    if candidate.key == key {
        return NextHop::Absent;
    }
    // A short Postfix id may have been reused: the downstream entry is
    // the segment alive at the handoff, as the next hop queues the
    // message just before the delivery is logged.
    match candidate.alive_at(key_prefix(key), at) {
        None => NextHop::Absent,
        Some(AliveSegment::Dropped) => NextHop::Dropped,
        Some(AliveSegment::Kept(segment)) => NextHop::Kept((candidate.key, segment)),
    }
}

/// The segment of the entry `notification` that an entry of the host and
/// instance `prefix` logged as its notification at `at`, when it was kept.
fn notification_of<'a>(
    by_queue_id: &HashMap<&'a [u8], Vec<Candidate<'a>>>,
    prefix: &[u8],
    notification: &BStr,
    at: DateTime<Utc>,
) -> Option<Segment<'a>> {
    // Made by the host's own bounce daemon: on the same host.
    let candidate = find_hop(by_queue_id, prefix, notification, Reach::SameHost)?;
    // Postfix queues a notification as it logs it, under a short id that
    // may be reused: only the use alive then is the notification, not
    // every use of the id. A dropped one has no row to mark.
    match candidate.alive_at(prefix, at) {
        Some(AliveSegment::Kept(segment)) => Some((candidate.key, segment)),
        _ => None,
    }
}

/// The use of a reused queue id a link leads to.
enum AliveSegment {
    /// That index of the candidate's records.
    Kept(usize),
    /// One the retention dropped ([`HopMarker`]).
    Dropped,
}

impl Candidate<'_> {
    /// The segment of this entry that a link made at `at` by an entry of
    /// the host and instance `prefix` leads to: the one alive then (its
    /// lines around `at`, give or take the clocks' skew) that was opened
    /// nearest to it, as the linked entry is queued just before the line
    /// that links to it. A segment that ended before (an earlier use of
    /// the id) or began after (a later one) is not it, whatever else the
    /// input holds.
    fn alive_at(&self, prefix: &[u8], at: DateTime<Utc>) -> Option<AliveSegment> {
        let margin = if key_prefix(self.key) == prefix {
            SAME_HOST_HOP_MARGIN
        } else {
            HOST_CLOCK_SKEW
        };
        // A dropped segment (a marker) is a candidate as much as a kept one:
        // with everything kept it would be there. Ties go to the segment
        // that began first, the order of a key's segments.
        let kept = (self.records.iter().enumerate())
            .map(|(segment, d)| (AliveSegment::Kept(segment), d.first_seen, d.last_seen));
        let dropped =
            (self.dropped.iter()).map(|&(first, last)| (AliveSegment::Dropped, first, last));
        kept.chain(dropped)
            .filter(|&(_, first, last)| {
                first <= later_by(at, margin) && last >= earlier_by(at, margin)
            })
            .min_by_key(|&(_, first, _)| ((first - at).abs(), first))
            .map(|(segment, ..)| segment)
    }
}

/// What a later hop's rows take from the entry it continues: the message
/// as the sender sent it.
#[derive(Clone, Copy)]
struct Origin<'a> {
    received_at: Option<DateTime<Utc>>,
    message_id: Option<&'a BStr>,
    sender: Option<&'a BStr>,
    subject: Option<&'a BStr>,
}

impl<'a> Origin<'a> {
    fn of_record(record: &'a MessageRecord) -> Origin<'a> {
        Origin {
            received_at: record.received_at,
            message_id: record.message_id.as_ref().map(|t| t.as_bstr()),
            sender: record.sender.as_ref().map(|t| t.as_bstr()),
            subject: record.subject.as_ref().map(|t| t.as_bstr()),
        }
    }

    fn of_handoff(handoff: &'a Handoff) -> Origin<'a> {
        Origin {
            received_at: handoff.received_at,
            message_id: handoff.message_id(),
            sender: handoff.sender(),
            subject: handoff.subject(),
        }
    }
}

/// Where the entry a link leads to may be, when none with its queue id has
/// the linking entry's host and instance.
#[derive(Clone, Copy)]
enum Reach {
    /// On the same host, in another instance: a notification (made by the
    /// host's own bounce daemon), a handoff through the loopback interface.
    SameHost,
    /// Anywhere: a relay to another host, read with this one.
    AnyHost,
}

impl Reach {
    /// Where a next hop handed over on the same host or not may be
    /// ([`Terminal::to_same_host`](crate::record::Terminal::to_same_host)).
    fn of_handoff(same_host: bool) -> Reach {
        if same_host {
            Reach::SameHost
        } else {
            Reach::AnyHost
        }
    }
}

/// The entry of queue id `queue_id`: on the same host and instance as
/// `prefix` when there is one, else the only one in the input within
/// `reach`.
///
/// Candidates include the entries the retention dropped (their markers):
/// with everything kept they would be there, and a dropped entry on the
/// same host, or a second one elsewhere, must keep the link from falling
/// back to another host's entry.
fn find_hop<'m, 'a>(
    by_queue_id: &'m HashMap<&[u8], Vec<Candidate<'a>>>,
    prefix: &[u8],
    queue_id: &[u8],
    reach: Reach,
) -> Option<&'m Candidate<'a>> {
    let candidates = by_queue_id.get(queue_id)?;
    if let Some(same) = candidates.iter().find(|c| c.key.starts_with(prefix)) {
        return Some(same);
    }
    // A prefix is the host, NUL, the instance, NUL.
    let host = split_key(prefix).0;
    let mut reachable = candidates.iter().filter(|c| match reach {
        Reach::SameHost => split_key(c.key).0 == host,
        Reach::AnyHost => true,
    });
    match (reachable.next(), reachable.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Adds the places of the rows of `record` (record `segment` of entry
/// `entry`) for which `keep(outcome, is_notification)` holds, with the time
/// of each row's first failure.
fn message_places(
    entry: usize,
    segment: usize,
    record: &MessageRecord,
    context: &RowContext<'_>,
    keep: &dyn Fn(Outcome, bool) -> bool,
    add: &mut dyn FnMut(Place, Outcome, Option<DateTime<Utc>>),
) {
    let (entry, segment) = (small(entry), small(segment));
    for (index, recipient) in record.recipients.iter().enumerate() {
        let handed_over = context
            .handed_over
            .is_some_and(|handed| handed.contains(&index));
        let probe = recipient
            .terminal
            .as_ref()
            .is_some_and(|t| t.status == AttemptStatus::Probe);
        if handed_over || probe {
            continue;
        }
        let outcome = recipient_outcome(record, recipient);
        if !keep(outcome, context.is_notification) {
            continue;
        }
        let index = small(index);
        let place = Place::Recipient {
            entry,
            segment,
            index,
        };
        add(place, outcome, recipient.failure_times.first().copied());
    }
    // Recipients known only from the reception line: still waiting, unless
    // the message is finished (Exim merges duplicates and aliases).
    if record.is_finished() {
        return;
    }
    let outcome = queue_outcome(record).unwrap_or(Outcome::Pending);
    if !keep(outcome, context.is_notification) {
        return;
    }
    let mut unseen = 0;
    for (index, listed) in record.listed_recipients.iter().enumerate() {
        let seen = record.recipients.iter().any(|r| {
            [Some(&r.address), r.original.as_ref()]
                .into_iter()
                .flatten()
                .any(|a| a.eq_ignore_ascii_case(listed))
        });
        if !seen {
            unseen += 1;
            let index = small(index);
            let place = Place::Listed {
                entry,
                segment,
                index,
            };
            add(place, outcome, None);
        }
    }
    // A message on the queue whose recipients were never logged gets one
    // row with no recipient (not one whose transaction was rejected or
    // never reached the queue: it has no sender).
    let queued = record.sender.is_some() && record.queue.rejected.is_none();
    if queued && record.recipients.is_empty() && unseen == 0 {
        add(Place::Unlisted { entry, segment }, outcome, None);
    }
}

/// The row of a recipient still waiting on the queue (or removed or
/// frozen with it), or of a queued message with no known recipient.
fn waiting_row(
    base: RecipientOutcome,
    recipient: BString,
    outcome: Outcome,
    record: &MessageRecord,
) -> RecipientOutcome {
    let mut row = RecipientOutcome {
        recipient,
        outcome,
        ..base
    };
    row.reason = queue_reason(record);
    add_queue_times(&mut row, record);
    row
}

/// True when a report that shows only `wanted` outcomes has a row for a
/// recipient of this finished entry.
pub(crate) fn finished_record_matters(record: &MessageRecord, wanted: OutcomeSet) -> bool {
    record.recipients.iter().any(|recipient| {
        let probe = recipient
            .terminal
            .as_ref()
            .is_some_and(|t| t.status == AttemptStatus::Probe);
        !probe && wanted.contains(recipient_outcome(record, recipient))
    })
}

/// What every row of one message shares.
/// When the message of the rows of `record` was received: at the first
/// hop it continues, else by its own reception line, else by its queue id.
fn row_received_at(
    queue_id: &BStr,
    record: &MessageRecord,
    context: &RowContext<'_>,
) -> Option<DateTime<Utc>> {
    let own = Origin::of_record(record);
    let origin = context.upstream.unwrap_or(own);
    origin
        .received_at
        .or(record.received_at)
        .or_else(|| id_time(record.mta, queue_id))
}

fn base_row(
    host: &BStr,
    queue_id: &BStr,
    record: &MessageRecord,
    context: &RowContext<'_>,
) -> RecipientOutcome {
    // A later hop reports the message as the sender sent it: reception
    // time, sender, Message-ID and subject come from the first hop.
    let own = Origin::of_record(record);
    let origin = context.upstream.unwrap_or(own);
    let received_at = row_received_at(queue_id, record, context);
    RecipientOutcome {
        host: host.to_owned(),
        queue_id: queue_id.to_owned(),
        mta: record.mta,
        received_at,
        message_id: origin.message_id.or(own.message_id).map(ToOwned::to_owned),
        sender: origin.sender.or(own.sender).map(ToOwned::to_owned),
        subject: origin.subject.or(own.subject).map(ToOwned::to_owned),
        headers: record.headers.clone(),
        recipient: BString::default(),
        outcome: Outcome::Pending,
        last_failure: None,
        first_failure_at: None,
        last_attempt_at: None,
        attempts: 0,
        failure_times: Vec::new(),
        reason: None,
        is_notification: context.is_notification,
    }
}

/// A recipient's outcome, from its own lines and its message's queue state.
fn recipient_outcome(record: &MessageRecord, recipient: &RecipientRecord) -> Outcome {
    match &recipient.terminal {
        Some(terminal) => match terminal.status {
            AttemptStatus::Delivered if recipient.deferrals > 0 => Outcome::Delayed,
            AttemptStatus::Delivered => Outcome::Delivered,
            // A bounce that cannot be delivered (refused or expired) has
            // nobody to bounce to:
            // Exim freezes it (`Frozen (delivery error message)`) and tries
            // again when it is thawed, so the failure is not final.
            AttemptStatus::Bounced | AttemptStatus::Expired
                if record.sender.as_ref().is_some_and(|s| s.is_empty())
                    && matches!(record.queue.frozen.as_deref(), Some(&(true, at, _)) if at >= terminal.at) =>
            {
                Outcome::Frozen
            }
            AttemptStatus::Bounced => Outcome::Bounced,
            AttemptStatus::Expired => Outcome::Expired,
            AttemptStatus::Discarded => Outcome::Discarded,
            // `*>` under `-N`: nothing was delivered.
            AttemptStatus::Suppressed => Outcome::Removed,
            AttemptStatus::Deferred | AttemptStatus::Probe => Outcome::Pending,
        },
        None if recipient.error_ignored.is_some() => Outcome::Bounced,
        // A Postfix expiry covers the recipients still deferred, also
        // those only ever logged as `delivery temporarily suspended` (not
        // an attempt, so no failure is recorded for them).
        None if record.queue.expired.is_some() => Outcome::Expired,
        None => queue_outcome(record).unwrap_or(Outcome::Pending),
    }
}

fn fill_recipient(
    row: &mut RecipientOutcome,
    record: &MessageRecord,
    recipient: &RecipientRecord,
    outcome: Outcome,
) {
    row.outcome = outcome;
    row.attempts = recipient.attempts;
    row.last_attempt_at = recipient.last_attempt_at;
    row.failure_times = recipient.failure_times.clone();
    row.first_failure_at = recipient.failure_times.first().copied();
    row.last_failure = recipient.last_failure.as_deref().cloned();
    row.reason = recipient
        .last_failure
        .as_ref()
        .and_then(|f| f.reason.clone());
    if recipient.terminal.is_none() && recipient.error_ignored.is_none() {
        if let (Outcome::Expired, Some(at)) = (outcome, record.queue.expired) {
            row.failure_times.push(at);
        } else if matches!(outcome, Outcome::Removed | Outcome::Frozen) {
            add_queue_times(row, record);
            if row.reason.is_none() {
                row.reason = queue_reason(record);
            }
        }
    }
}

/// The outcome the queue state gives a recipient without a final line.
fn queue_outcome(record: &MessageRecord) -> Option<Outcome> {
    if record.queue.removed.is_some() {
        return Some(Outcome::Removed);
    }
    if matches!(record.queue.frozen.as_deref(), Some((true, ..))) {
        return Some(Outcome::Frozen);
    }
    None
}

fn queue_reason(record: &MessageRecord) -> Option<BString> {
    if let Some((_, text)) = record.queue.removed.as_deref() {
        return Some(text.clone());
    }
    match record.queue.frozen.as_deref() {
        Some((true, _, why)) => Some(why.clone().unwrap_or_else(|| BString::from("frozen"))),
        _ => None,
    }
}

fn add_queue_times(row: &mut RecipientOutcome, record: &MessageRecord) {
    if let Some((at, _)) = record.queue.removed.as_deref() {
        row.failure_times.push(*at);
    }
    if let Some((true, at, _)) = record.queue.frozen.as_deref() {
        row.failure_times.push(*at);
    }
    row.failure_times.sort();
}

pub(crate) fn id_time(mta: Mta, queue_id: &[u8]) -> Option<DateTime<Utc>> {
    match mta {
        Mta::Exim => mailtrail_parse::exim_id_time(queue_id),
        Mta::Postfix => mailtrail_parse::postfix_long_id_time(queue_id),
    }
}

/// How far apart the clocks of two hosts whose logs are read together may
/// be, for deciding that a message cannot have been received in a window.
pub(crate) const HOST_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// How far apart the lines of a handoff and of its next hop on the same
/// host (a content filter, an alias) may be.
const SAME_HOST_HOP_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// `t + margin`, or the last representable instant: a window may end there
/// (`--until` in the year 262143), and a margin must not overflow it.
pub(crate) fn later_by(t: DateTime<Utc>, margin: chrono::TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(margin)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - margin`, or the first representable instant.
pub(crate) fn earlier_by(t: DateTime<Utc>, margin: chrono::TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(margin)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Which times a window query looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WindowBy {
    /// A recipient is in the window when one of its failures is.
    #[default]
    Failure,
    /// A recipient is in the window when its message was received in it.
    Received,
}

/// A half-open time window `[since, until)`; either end may be open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    /// Inclusive start.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// True when `at` is inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }

    /// The smallest window that holds both this one and `other` (and the
    /// time between them).
    pub fn hull(&self, other: &Window) -> Window {
        let since = self.since.zip(other.since).map(|(a, b)| a.min(b));
        let until = self.until.zip(other.until).map(|(a, b)| a.max(b));
        Window { since, until }
    }

    /// False when no row of the finished `record` can belong to the window
    /// under `by` ([`Window::selects`]), whatever hop it turns out to
    /// continue.
    pub(crate) fn may_select(&self, record: &MessageRecord, by: WindowBy) -> bool {
        match by {
            // A row's failures are times of its entry's own lines.
            WindowBy::Failure => {
                self.since.is_none_or(|s| record.last_seen >= s)
                    && self.until.is_none_or(|u| record.first_seen < u)
            }
            // A row's reception time is its entry's (from a line of it, or
            // the time in its queue id), or that of an earlier hop, which
            // handed the message over before this entry's first line, give
            // or take the skew between the two hosts' clocks. An earlier hop
            // may have held the message for days, so only an entry wholly
            // before the window is known to be out of it.
            WindowBy::Received => self.since.is_none_or(|s| {
                record.last_seen >= s || later_by(record.first_seen, HOST_CLOCK_SKEW) >= s
            }),
        }
    }

    /// False when dropping the finished `record`, which lends its reception
    /// facts to its next hops' rows (see `HopLinks`), changes no row in the
    /// window under `by`: no such row can be in it, with those facts or
    /// without them.
    pub(crate) fn may_lend(&self, record: &MessageRecord, by: WindowBy) -> bool {
        match by {
            // A next hop fails after it was handed the message, give or
            // take the skew between the two hosts' clocks.
            WindowBy::Failure => self.until.is_none_or(|u| {
                record
                    .next_hops()
                    .any(|(_, at, _)| at < later_by(u, HOST_CLOCK_SKEW))
            }),
            // Such a row's reception time is this record's, when it has one;
            // without it, the next hop's own, which is later (give or take
            // the skew). A record received before the window is still
            // needed: without it, its next hop's row would pass for
            // received in the window. Of one handed over before the
            // window, only its reception time is ([`Window::may_date`]):
            // its next hop's row is out of the window with it.
            WindowBy::Received => {
                let received_in_time = record
                    .received_at
                    .is_none_or(|t| self.until.is_none_or(|u| t < later_by(u, HOST_CLOCK_SKEW)));
                let handed_in_time = self.since.is_none_or(|s| {
                    record
                        .next_hops()
                        .any(|(_, at, _)| later_by(at, HOST_CLOCK_SKEW) >= s)
                });
                received_in_time && handed_in_time
            }
        }
    }

    /// True when the finished `record`, whose next hops' rows are out of the
    /// window by reception with its reception time ([`Window::may_lend`]
    /// is false: it was handed over before the window), must still lend
    /// them that time. Their own may be in the window: the next hop's
    /// first reception line is not its reception when its log begins
    /// after it, but a retry's `from=` line hours later, while its entry
    /// was alive at the handoff (its later lines are in the log) and is
    /// linked to this one with everything kept.
    pub(crate) fn may_date(&self, record: &MessageRecord, by: WindowBy) -> bool {
        by == WindowBy::Received
            && record
                .received_at
                .is_some_and(|t| self.since.is_some_and(|s| t < s))
    }

    /// False when dropping the finished `record`, through which the
    /// notifications it caused are marked as such, changes no row in the
    /// window under `by`. A notification is made by a line of its message
    /// (Exim `**`, Postfix `sender non-delivery notification:`), so it is
    /// received between the message's first and last lines, give or take
    /// the skew if another host logged it, and it fails after that.
    pub(crate) fn may_mark(&self, record: &MessageRecord, by: WindowBy) -> bool {
        let made_from = earlier_by(record.first_seen, HOST_CLOCK_SKEW);
        let made_until = later_by(record.last_seen, HOST_CLOCK_SKEW);
        let before_end = self.until.is_none_or(|u| made_from < u);
        match by {
            WindowBy::Failure => before_end,
            WindowBy::Received => before_end && self.since.is_none_or(|s| made_until >= s),
        }
    }

    /// True when the row belongs to the window under `by`.
    pub fn selects(&self, row: &RecipientOutcome, by: WindowBy) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        match by {
            WindowBy::Failure => row.failure_times.iter().any(|&t| self.contains(t)),
            WindowBy::Received => row.received_at.is_some_and(|t| self.contains(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::put_in_order;

    #[test]
    fn items_are_put_in_the_order_given() {
        // Two cycles (0 3 1) and (2 5), and a fixed point (4).
        let mut items = ['a', 'b', 'c', 'd', 'e', 'f'];
        put_in_order(&mut items, vec![3, 0, 5, 1, 4, 2]);
        assert_eq!(items, ['d', 'a', 'f', 'b', 'e', 'c']);
        // Every rotation of a longer list.
        for shift in 0..7 {
            let mut items: Vec<usize> = (0..7).collect();
            put_in_order(&mut items, (0..7).map(|i| (i + shift) % 7).collect());
            assert_eq!(items, (0..7).map(|i| (i + shift) % 7).collect::<Vec<_>>());
        }
    }
}
