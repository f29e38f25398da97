//! Per-message records built from events, and how two partial records of
//! the same queue entry merge.
//!
//! A record is a *partial* view: the events of one chunk of one file. Two
//! partial records of the same entry combine with [`MessageRecord::absorb`]
//! (earlier record absorbs the later one), and the combination is
//! associative, so chunks parsed in parallel and merged in chunk order give
//! the same result as one sequential pass.

use crate::text::Text;
use bstr::{BStr, BString, ByteSlice};
use chrono::{DateTime, Utc};
use mailtrail_parse::{
    Attempt, AttemptStatus, Event, EventKind, Lifecycle, Mta, NotificationKind, Reception,
    SmtpReply,
};
use rayon::prelude::*;

/// Identifies a queue entry: the host (and Postfix instance) that wrote it
/// and its queue id. Queue ids are only unique per host.
pub type MessageKey = Box<[u8]>;

/// What is kept of a finished queue entry that no report row comes from,
/// but whose recipients were handed to a next hop that gave them a queue id
/// (a content filter, a relay): when that hop's entry is in the input, its
/// rows report the message as this entry received it. Also kept for an
/// entry that caused notifications (bounces, delay warnings), which are
/// marked as such through it.
///
/// A log has one for every message relayed this way, and most of them are
/// dropped unread once every input is in, so the facts are packed into one
/// heap block (about 150 bytes for a relayed message instead of 400 as
/// separate strings) and read through accessors.
#[derive(Clone, PartialEq)]
pub struct Handoff {
    /// When the entry was received.
    pub received_at: Option<DateTime<Utc>>,
    /// The key, sender, Message-ID, subject, next hops and notifications,
    /// in that order (see [`Handoff::new`] and [`PackedReader`]).
    packed: Box<[u8]>,
}

/// The bytes of a next hop in a [`Handoff`] before its queue id: the
/// handoff time's seconds (8) and nanoseconds (4), and the same-host flag.
const HOP_FIXED_LEN: usize = 13;

/// The bytes of a notification in a [`Handoff`] before its queue id: its
/// kind, and the time's seconds (8) and nanoseconds (4).
const NOTIFICATION_FIXED_LEN: usize = 13;

impl Handoff {
    /// Packs the facts of the entry under `key`.
    pub(crate) fn new<'a>(
        key: &[u8],
        received_at: Option<DateTime<Utc>>,
        texts: [Option<&BStr>; 3],
        next_hops: impl Iterator<Item = (&'a BStr, DateTime<Utc>, bool)> + Clone,
        notifications: impl Iterator<Item = (NotificationKind, &'a BStr, DateTime<Utc>)> + Clone,
    ) -> Handoff {
        // Sized exactly first: the block is boxed as it is, and growing it
        // meant a reallocation and a copy for nearly every handoff.
        let hop_count = next_hops.clone().count();
        let notification_count = notifications.clone().count();
        let size = packed_len(key.len())
            + texts
                .iter()
                .map(|t| 1 + t.map_or(0, |t| packed_len(t.len())))
                .sum::<usize>()
            + len_of_len(hop_count)
            + next_hops
                .clone()
                .map(|(id, ..)| HOP_FIXED_LEN + packed_len(id.len()))
                .sum::<usize>()
            + len_of_len(notification_count)
            + notifications
                .clone()
                .map(|(_, id, _)| NOTIFICATION_FIXED_LEN + packed_len(id.len()))
                .sum::<usize>();
        let mut packed = Vec::with_capacity(size);
        put_bytes(&mut packed, key);
        for text in texts {
            match text {
                Some(text) => {
                    packed.push(1);
                    put_bytes(&mut packed, text);
                }
                None => packed.push(0),
            }
        }
        put_len(&mut packed, hop_count);
        for (queue_id, at, same_host) in next_hops {
            packed.extend_from_slice(&at.timestamp().to_le_bytes());
            packed.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
            packed.push(u8::from(same_host));
            put_bytes(&mut packed, queue_id);
        }
        put_len(&mut packed, notification_count);
        for (kind, queue_id, at) in notifications {
            packed.push(match kind {
                NotificationKind::NonDelivery => 0,
                NotificationKind::Delay => 1,
                NotificationKind::Success => 2,
            });
            packed.extend_from_slice(&at.timestamp().to_le_bytes());
            packed.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
            put_bytes(&mut packed, queue_id);
        }
        debug_assert_eq!(packed.len(), size);
        Handoff {
            received_at,
            packed: packed.into_boxed_slice(),
        }
    }

    /// The entry's key.
    pub fn key(&self) -> &[u8] {
        PackedReader(&self.packed).bytes()
    }

    /// Envelope sender.
    pub fn sender(&self) -> Option<&BStr> {
        self.texts()[0]
    }

    /// Message-ID header.
    pub fn message_id(&self) -> Option<&BStr> {
        self.texts()[1]
    }

    /// Subject header.
    pub fn subject(&self) -> Option<&BStr> {
        self.texts()[2]
    }

    /// Each next hop's queue id, when the entry was handed to it, and
    /// whether it was on the same host ([`Terminal::to_same_host`]).
    pub fn next_hops(&self) -> impl Iterator<Item = (&BStr, DateTime<Utc>, bool)> {
        let mut reader = self.after_texts();
        let count = reader.len();
        (0..count).map(move |_| {
            let secs = i64::from_le_bytes(reader.array());
            let nanos = u32::from_le_bytes(reader.array());
            let at = DateTime::from_timestamp(secs, nanos).expect("packed from a DateTime");
            let same_host = reader.array::<1>()[0] == 1;
            (reader.bytes().as_bstr(), at, same_host)
        })
    }

    /// Notifications the entry caused, as in [`MessageRecord::notifications`]:
    /// each one's kind, queue id, and when the entry logged it.
    pub fn notifications(&self) -> impl Iterator<Item = (NotificationKind, &BStr, DateTime<Utc>)> {
        let mut reader = self.after_texts();
        for _ in 0..reader.len() {
            reader.array::<HOP_FIXED_LEN>();
            reader.bytes();
        }
        let count = reader.len();
        (0..count).map(move |_| {
            let kind = match reader.array::<1>()[0] {
                0 => NotificationKind::NonDelivery,
                1 => NotificationKind::Delay,
                _ => NotificationKind::Success,
            };
            let secs = i64::from_le_bytes(reader.array());
            let nanos = u32::from_le_bytes(reader.array());
            let at = DateTime::from_timestamp(secs, nanos).expect("packed from a DateTime");
            (kind, reader.bytes().as_bstr(), at)
        })
    }

    /// The queue ids of the next hops and then of the notifications, read
    /// in one pass without decoding the times: all that deciding whether
    /// any entry kept links to this one needs.
    pub(crate) fn linked_queue_ids(&self) -> impl Iterator<Item = &BStr> {
        let mut reader = self.after_texts();
        let mut hops = reader.len();
        let mut notifications = None;
        std::iter::from_fn(move || {
            if hops > 0 {
                hops -= 1;
                reader.array::<HOP_FIXED_LEN>();
                return Some(reader.bytes().as_bstr());
            }
            let left = notifications.get_or_insert_with(|| reader.len());
            if *left == 0 {
                return None;
            }
            *left -= 1;
            reader.array::<NOTIFICATION_FIXED_LEN>();
            Some(reader.bytes().as_bstr())
        })
    }

    fn texts(&self) -> [Option<&BStr>; 3] {
        let mut reader = PackedReader(&self.packed);
        reader.bytes();
        [(); 3].map(|_| reader.optional())
    }

    fn after_texts(&self) -> PackedReader<'_> {
        let mut reader = PackedReader(&self.packed);
        reader.bytes();
        for _ in 0..3 {
            reader.optional();
        }
        reader
    }
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("key", &self.key().as_bstr())
            .field("received_at", &self.received_at)
            .field("sender", &self.sender())
            .field("message_id", &self.message_id())
            .field("subject", &self.subject())
            .field("next_hops", &self.next_hops().collect::<Vec<_>>())
            .field("notifications", &self.notifications().collect::<Vec<_>>())
            .finish()
    }
}

/// Where the queue entries a retention dropped without a trace were: their
/// keys and the times of their first and last lines, and nothing else.
///
/// Another entry may have handed recipients to one of them (`queued as`),
/// or caused it as a notification. With everything kept, such a recipient
/// is reported by the entry it was handed to, and a queue id shared by
/// several entries is looked up among all of them (see `HopLinks`). Without
/// a trace of the dropped entry, the link would fail (the recipient would
/// get a row of its own back) or find another entry with the same id (on
/// another host, or an earlier or later use of a reused Postfix id). A
/// marker keeps the link resolving as it did, in some 25 bytes plus the key
/// and with no allocation of its own: markers are packed one after the
/// other into shared blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct HopMarkers(Vec<Vec<u8>>);

/// One entry of [`HopMarkers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HopMarker<'a> {
    /// The entry's key.
    pub(crate) key: &'a [u8],
    /// Its first line.
    pub(crate) first_seen: DateTime<Utc>,
    /// Its last line.
    pub(crate) last_seen: DateTime<Utc>,
}

impl HopMarkers {
    /// The largest block: big enough that blocks are few, small enough that
    /// the room left in the last block of each chunk's log is not missed.
    const BLOCK: usize = 16 << 10;

    /// Marks the entry under `key`, seen from `first_seen` to `last_seen`.
    pub(crate) fn push(&mut self, key: &[u8], first_seen: DateTime<Utc>, last_seen: DateTime<Utc>) {
        // At most: the key's length, the key, the first time, the other
        // three numbers as varints.
        let needed = key.len() + 3 + 8 + 5 + 10 + 5;
        let block = match self.0.last_mut() {
            Some(block) if block.capacity() - block.len() >= needed => block,
            last => {
                // Blocks double up to `BLOCK`: a chunk that drops a handful
                // of entries does not take a whole block for them.
                let size = last
                    .map_or(256, |b| b.capacity() * 2)
                    .clamp(needed, Self::BLOCK.max(needed));
                self.0.push(Vec::with_capacity(size));
                self.0.last_mut().expect("just pushed")
            }
        };
        // Log times are mostly whole seconds, and an entry lasts seconds to
        // days: the nanoseconds and the last line's distance from the first
        // take a byte or three as varints, not twelve bytes a time.
        put_bytes(block, key);
        block.extend_from_slice(&first_seen.timestamp().to_le_bytes());
        put_len(block, first_seen.timestamp_subsec_nanos() as usize);
        let lasted = last_seen.timestamp().saturating_sub(first_seen.timestamp());
        put_len(block, usize::try_from(lasted).unwrap_or(0));
        put_len(block, last_seen.timestamp_subsec_nanos() as usize);
    }

    /// Appends the markers of a later log.
    pub(crate) fn append(&mut self, later: HopMarkers) {
        self.0.extend(later.0);
    }

    /// Every marker, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = HopMarker<'_>> {
        self.0.iter().flat_map(|block| markers_in(block))
    }

    /// Keeps only the markers for which `keep` holds, packed anew. The
    /// blocks are read in parallel on the current rayon pool: a log's
    /// markers are hundreds of thousands, and few of them are kept.
    pub(crate) fn retain(&mut self, keep: impl Fn(&HopMarker<'_>) -> bool + Sync) {
        let kept: Vec<HopMarkers> = self
            .0
            .par_iter()
            .map(|block| {
                let mut kept = HopMarkers::default();
                for marker in markers_in(block).filter(|m| keep(m)) {
                    kept.push(marker.key, marker.first_seen, marker.last_seen);
                }
                kept
            })
            .collect();
        *self = HopMarkers::default();
        for part in kept {
            self.append(part);
        }
    }
}

/// The markers packed in one block of [`HopMarkers`].
fn markers_in(block: &[u8]) -> impl Iterator<Item = HopMarker<'_>> {
    let mut reader = PackedReader(block);
    std::iter::from_fn(move || {
        if reader.0.is_empty() {
            return None;
        }
        let key = reader.bytes();
        let secs = i64::from_le_bytes(reader.array());
        let nanos = reader.len() as u32;
        let first_seen = DateTime::from_timestamp(secs, nanos).expect("packed from a DateTime");
        let secs = secs + reader.len() as i64;
        let nanos = reader.len() as u32;
        let last_seen = DateTime::from_timestamp(secs, nanos).expect("packed from a DateTime");
        Some(HopMarker {
            key,
            first_seen,
            last_seen,
        })
    })
}

/// Appends a length as a base-128 varint: one byte for the short strings
/// that are nearly all of a handoff.
fn put_len(packed: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        packed.push((len as u8) | 0x80);
        len >>= 7;
    }
    packed.push(len as u8);
}

/// How many bytes [`put_len`] writes for `len`.
fn len_of_len(len: usize) -> usize {
    (usize::BITS - (len | 1).leading_zeros()).div_ceil(7) as usize
}

/// How many bytes [`put_bytes`] writes for `len` bytes.
fn packed_len(len: usize) -> usize {
    len_of_len(len) + len
}

fn put_bytes(packed: &mut Vec<u8>, bytes: &[u8]) {
    put_len(packed, bytes.len());
    packed.extend_from_slice(bytes);
}

/// Reads back what [`Handoff::new`] packed, in the same order. The bytes
/// were written by this module, so a short read is a bug.
struct PackedReader<'a>(&'a [u8]);

impl<'a> PackedReader<'a> {
    fn len(&mut self) -> usize {
        let mut len = 0;
        let mut shift = 0;
        loop {
            let byte = self.0[0];
            self.0 = &self.0[1..];
            len |= usize::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return len;
            }
            shift += 7;
        }
    }

    fn bytes(&mut self) -> &'a [u8] {
        let len = self.len();
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        bytes
    }

    fn optional(&mut self) -> Option<&'a BStr> {
        let present = self.array::<1>()[0] == 1;
        present.then(|| self.bytes().as_bstr())
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let (bytes, rest) = self.0.split_at(N);
        self.0 = rest;
        bytes.try_into().expect("split at N")
    }
}

/// Builds the key of an event into `scratch` (reused to avoid allocating
/// per line). Returns false when the event has no queue id.
pub(crate) fn key_into(event: &Event<'_>, scratch: &mut Vec<u8>) -> bool {
    let Some(queue_id) = event.queue_id else {
        return false;
    };
    scratch.clear();
    if let Some(host) = event.host {
        scratch.extend_from_slice(host);
    }
    scratch.push(0);
    if let Some(instance) = event.instance {
        scratch.extend_from_slice(instance);
    }
    scratch.push(0);
    scratch.extend_from_slice(queue_id);
    true
}

/// Splits a key back into (host, queue id).
pub(crate) fn split_key(key: &[u8]) -> (&BStr, &BStr) {
    let mut parts = key.splitn(3, |&b| b == 0);
    let host = parts.next().unwrap_or_default();
    let _instance = parts.next();
    let queue_id = parts.next().unwrap_or_default();
    (host.as_bstr(), queue_id.as_bstr())
}

/// The part of a key that names the host and instance.
pub(crate) fn key_prefix(key: &[u8]) -> &[u8] {
    &key[..key.len() - split_key(key).1.len()]
}

/// A notification (bounce, delay warning, delivery status) that an entry
/// caused, as the entry logged it (Postfix `sender non-delivery
/// notification: QID`).
#[derive(Clone, Debug, PartialEq)]
pub struct CausedNotification {
    /// Which kind.
    pub kind: NotificationKind,
    /// The notification's own queue id.
    pub queue_id: BString,
    /// When the entry logged it. The notification's entry is the use of
    /// its queue id alive then: Postfix reuses short ids.
    pub at: DateTime<Utc>,
}

/// One failed or deferred attempt's details.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Deferred, bounced or expired.
    pub status: AttemptStatus,
    /// Reply and enhanced codes.
    pub reply: SmtpReply,
    /// SMTP phase.
    pub phase: Option<BString>,
    /// The text, unescaped.
    pub reason: Option<BString>,
    /// Remote host the answer came from.
    pub remote_host: Option<BString>,
    /// Remote IP the answer came from.
    pub remote_ip: Option<BString>,
    /// True when no remote host was involved (local router or transport).
    pub local: bool,
    /// True for an expiry line that carried no details of its own (Exim
    /// `** addr: retry timeout exceeded`): when an earlier failure is
    /// known, its details are the ones to report.
    pub bare_expiry: bool,
}

impl Failure {
    fn new(at: DateTime<Utc>, attempt: &Attempt<'_>, bare_expiry: bool) -> Failure {
        let mut failure = Failure {
            at,
            status: attempt.status,
            reply: attempt.reply,
            phase: None,
            reason: None,
            remote_host: None,
            remote_ip: None,
            local: false,
            bare_expiry,
        };
        failure.update(at, attempt, bare_expiry);
        failure
    }

    fn update(&mut self, at: DateTime<Utc>, attempt: &Attempt<'_>, bare_expiry: bool) {
        self.at = at;
        self.status = attempt.status;
        self.reply = attempt.reply;
        assign(&mut self.phase, attempt.phase.map(|p| p.as_bytes()));
        let reason = attempt.reason.map(|r| mailtrail_parse::unescape(r));
        assign(&mut self.reason, reason.as_deref());
        assign(
            &mut self.remote_host,
            attempt.remote_host.map(|h| h.as_bytes()),
        );
        assign(&mut self.remote_ip, attempt.remote_ip.map(|i| i.as_bytes()));
        self.local =
            attempt.remote_ip.is_none() && attempt.remote_host.is_none() && attempt.phase.is_none();
        self.bare_expiry = bare_expiry;
    }
}

/// Sets `slot` to `value`, reusing the existing buffer when there is one.
fn assign(slot: &mut Option<BString>, value: Option<&[u8]>) {
    match (slot.as_mut(), value) {
        (Some(buffer), Some(value)) => {
            if buffer.as_slice() != value {
                buffer.clear();
                buffer.extend_from_slice(value);
            }
        }
        (None, Some(value)) => *slot = Some(BString::from(value)),
        (_, None) => *slot = None,
    }
}

/// The final state a recipient reached (delivered, bounced, expired …).
#[derive(Clone, Debug, PartialEq)]
pub struct Terminal {
    /// When.
    pub at: DateTime<Utc>,
    /// How.
    pub status: AttemptStatus,
    /// Remote host that accepted or refused.
    pub remote_host: Option<Text>,
    /// Remote IP.
    pub remote_ip: Option<Text>,
    /// Queue id the next hop gave the message.
    pub next_queue_id: Option<Text>,
}

impl Terminal {
    /// True when the recipient was handed over through the loopback
    /// interface: to a content filter or another MTA instance on the host
    /// that logged the handoff, whose entry is on that host too.
    pub fn to_same_host(&self) -> bool {
        match &self.remote_ip {
            Some(ip) => {
                let ip = ip.as_bytes();
                ip.starts_with(b"127.") || ip == b"::1" || ip.starts_with(b"::ffff:127.")
            }
            None => self
                .remote_host
                .as_ref()
                .is_some_and(|host| host.eq_ignore_ascii_case(b"localhost")),
        }
    }
}

/// Everything known about one recipient of one queue entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientRecord {
    /// The address as finally delivered to.
    pub address: Text,
    /// The original address when it differs.
    pub original: Option<Text>,
    /// Times of failed attempts (deferrals, bounces, expiries), in order.
    pub failure_times: Vec<DateTime<Utc>>,
    /// Real attempts (not counting `retry time not reached`).
    pub attempts: u32,
    /// Real deferrals.
    pub deferrals: u32,
    /// Last real attempt or skipped retry.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The most recent failure's details (boxed: most recipients never
    /// fail, and the record is kept small for them).
    pub last_failure: Option<Box<Failure>>,
    /// The final state, if reached.
    pub terminal: Option<Terminal>,
    /// Exim `error ignored`: failed, nobody told.
    pub error_ignored: Option<DateTime<Utc>>,
}

impl RecipientRecord {
    fn new(address: &BStr, original: Option<&BStr>) -> RecipientRecord {
        RecipientRecord {
            address: Text::new(address),
            original: original.map(Text::from),
            failure_times: Vec::new(),
            attempts: 0,
            deferrals: 0,
            last_attempt_at: None,
            last_failure: None,
            terminal: None,
            error_ignored: None,
        }
    }

    /// The address recipients are keyed by: the original when known,
    /// compared case-insensitively in the domain.
    fn matches(&self, address: &BStr, original: Option<&BStr>) -> bool {
        let mine = self.original.as_deref().unwrap_or(&self.address);
        let theirs = original.unwrap_or(address);
        same_address(mine, theirs)
    }

    fn apply(&mut self, at: DateTime<Utc>, attempt: &Attempt<'_>) {
        if self.original.is_none() {
            self.original = attempt.original_recipient.map(Text::from);
        }
        // A skipped retry (`retry time not reached`) is not an attempt.
        if attempt.skipped {
            return;
        }
        self.last_attempt_at = Some(at);
        self.attempts += 1;
        match attempt.status {
            AttemptStatus::Deferred | AttemptStatus::Bounced | AttemptStatus::Expired => {
                if attempt.status == AttemptStatus::Deferred {
                    self.deferrals += 1;
                }
                self.failure_times.push(at);
                let bare_expiry = attempt.status == AttemptStatus::Expired
                    && attempt.reply == SmtpReply::default()
                    && attempt.remote_host.is_none()
                    && attempt.remote_ip.is_none()
                    && attempt.phase.is_none();
                match &mut self.last_failure {
                    // An expiry line carries no SMTP details: keep the
                    // underlying last deferral's, so the recipient is
                    // reported with the real reason.
                    Some(previous) if bare_expiry => {
                        previous.status = AttemptStatus::Expired;
                        previous.at = at;
                    }
                    // A recipient is often deferred many times with the
                    // same text: overwrite the previous failure in place,
                    // reusing its buffers, instead of allocating anew.
                    Some(previous) => previous.update(at, attempt, bare_expiry),
                    None => {
                        self.last_failure = Some(Box::new(Failure::new(at, attempt, bare_expiry)));
                    }
                }
                if attempt.status != AttemptStatus::Deferred {
                    self.terminal = Some(terminal(at, attempt));
                }
            }
            _ => self.terminal = Some(terminal(at, attempt)),
        }
    }

    /// Absorbs the later partial record of the same recipient.
    fn absorb(&mut self, later: RecipientRecord) {
        if self.original.is_none() {
            self.original = later.original;
        }
        self.failure_times.extend(later.failure_times);
        self.attempts += later.attempts;
        self.deferrals += later.deferrals;
        self.last_attempt_at = later.last_attempt_at.or(self.last_attempt_at);
        match (later.last_failure, &mut self.last_failure) {
            // An expiry without details in the later part keeps the earlier
            // part's details (see `apply`).
            (Some(failure), Some(previous)) if failure.bare_expiry => {
                previous.status = AttemptStatus::Expired;
                previous.at = failure.at;
            }
            (Some(failure), _) => self.last_failure = Some(failure),
            (None, _) => {}
        }
        self.terminal = later.terminal.or(self.terminal.take());
        self.error_ignored = later.error_ignored.or(self.error_ignored);
    }
}

fn terminal(at: DateTime<Utc>, attempt: &Attempt<'_>) -> Terminal {
    Terminal {
        at,
        status: attempt.status,
        remote_host: attempt.remote_host.map(Text::from),
        remote_ip: attempt.remote_ip.map(Text::from),
        next_queue_id: attempt.next_queue_id.map(Text::from),
    }
}

/// The first sender seen wins, except that a qualified address replaces an
/// unqualified one: Postfix pickup logs the sender as submitted (`root`),
/// qmgr the rewritten envelope sender (`root@host.example`), which is the
/// real one.
fn merge_sender(slot: &mut Option<Text>, candidate: Option<&[u8]>) {
    if let Some(candidate) = candidate
        && sender_replaces(slot, candidate)
    {
        *slot = Some(Text::new(candidate));
    }
}

/// Whether `candidate` replaces the sender in `slot` (see [`merge_sender`]).
fn sender_replaces(slot: &Option<Text>, candidate: &[u8]) -> bool {
    let unqualified = slot
        .as_ref()
        .is_some_and(|s| !s.is_empty() && !s.contains(&b'@'));
    slot.is_none() || (unqualified && candidate.contains(&b'@'))
}

/// Local parts are case-sensitive in principle, domains never are; in
/// practice both are compared case-insensitively by every MTA's lookup, so
/// the whole address is.
pub(crate) fn same_address(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether a message is frozen (`true`) or thawed, since when, and why
/// ([`QueueState::frozen`]).
pub type Frozen = (bool, DateTime<Utc>, Option<BString>);

/// Queue-level states of a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueState {
    /// Exim `Completed` seen.
    pub completed: bool,
    /// Frozen or held at the last word on it (`Some(true)`), thawed
    /// (`Some(false)`), never frozen (`None`); with the time and reason.
    /// Boxed, as [`QueueState::removed`]: few messages are, and every
    /// record kept for a report would carry the room for it.
    pub frozen: Option<Box<Frozen>>,
    /// Removed or cancelled by an administrator or a timeout: when, and the
    /// text (`removed by root`).
    pub removed: Option<Box<(DateTime<Utc>, BString)>>,
    /// Postfix whole-message expiry.
    pub expired: Option<DateTime<Utc>>,
    /// Queue file removed (Postfix `removed`, Exim `Completed`): later
    /// lines with this id are a new message.
    pub closed: bool,
    /// Refused at SMTP time after the queue id was assigned (Postfix
    /// `QID: reject:`, `milter-reject`; Exim `rejected after DATA`).
    pub rejected: Option<DateTime<Utc>>,
}

/// Everything known about one queue entry.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRecord {
    /// Which MTA.
    pub mta: Mta,
    /// Earliest line seen.
    pub first_seen: DateTime<Utc>,
    /// Latest line seen.
    pub last_seen: DateTime<Utc>,
    /// When reception was logged.
    pub received_at: Option<DateTime<Utc>>,
    /// When the line that opens the entry was logged (see
    /// [`Event::opens_entry`]).
    pub opened_at: Option<DateTime<Utc>>,
    /// Envelope sender (`""` for the null sender).
    pub sender: Option<Text>,
    /// Size.
    pub size: Option<u64>,
    /// Message-ID header.
    pub message_id: Option<Text>,
    /// Subject, unescaped.
    pub subject: Option<Text>,
    /// Client host.
    pub client_host: Option<Text>,
    /// Client IP.
    pub client_ip: Option<Text>,
    /// Protocol.
    pub protocol: Option<Text>,
    /// Authenticated or local user.
    pub user: Option<Text>,
    /// For a notification: the queue id it reports on.
    pub bounce_of: Option<Text>,
    /// Recipients listed at reception (`for a b`), not yet seen on lines.
    pub listed_recipients: Vec<BString>,
    /// Upstream hop's queue id.
    pub upstream_queue_id: Option<Text>,
    /// Logged headers other than Subject: (name, value).
    pub headers: Vec<(BString, BString)>,
    /// Recipients, in order of first appearance.
    pub recipients: Vec<RecipientRecord>,
    /// Notifications generated about this message.
    pub notifications: Vec<CausedNotification>,
    /// Queue-level state.
    pub queue: QueueState,
}

impl MessageRecord {
    /// An empty record for an entry first seen at `at`.
    pub fn new(mta: Mta, at: DateTime<Utc>) -> MessageRecord {
        MessageRecord {
            mta,
            first_seen: at,
            last_seen: at,
            received_at: None,
            opened_at: None,
            sender: None,
            size: None,
            message_id: None,
            subject: None,
            client_host: None,
            client_ip: None,
            protocol: None,
            user: None,
            bounce_of: None,
            listed_recipients: Vec::new(),
            upstream_queue_id: None,
            headers: Vec::new(),
            recipients: Vec::new(),
            notifications: Vec::new(),
            queue: QueueState::default(),
        }
    }

    /// Applies one event of this entry.
    pub fn apply(&mut self, event: &Event<'_>) {
        // Lines come mostly in time order: one comparison for the usual case.
        if event.at > self.last_seen {
            self.last_seen = event.at;
        } else if event.at < self.first_seen {
            self.first_seen = event.at;
        }
        if event.opens_entry() {
            self.opened_at = Some(self.opened_at.map_or(event.at, |at| at.min(event.at)));
        }
        match &event.kind {
            EventKind::Received(reception) => self.apply_reception(event.at, reception),
            EventKind::Attempt(attempt) => self
                .recipient_mut(attempt.recipient, attempt.original_recipient)
                .apply(event.at, attempt),
            EventKind::Lifecycle(lifecycle) => self.apply_lifecycle(event.at, lifecycle),
            EventKind::Notification(notification) => self.notifications.push(CausedNotification {
                kind: notification.kind,
                queue_id: notification.notification_queue_id.to_owned(),
                at: event.at,
            }),
            EventKind::Rejected(_) => {
                self.queue.rejected = self.queue.rejected.or(Some(event.at));
            }
        }
    }

    fn apply_reception(&mut self, at: DateTime<Utc>, r: &Reception<'_>) {
        fn set(slot: &mut Option<Text>, value: Option<&BStr>) {
            if slot.is_none() {
                *slot = value.map(Text::from);
            }
        }
        if self.received_at.is_none()
            && (r.sender.is_some() || r.client_ip.is_some() || r.client_host.is_some())
        {
            self.received_at = Some(at);
        }
        merge_sender(&mut self.sender, r.sender.map(|s| s.as_bytes()));
        set(&mut self.message_id, r.message_id);
        if self.subject.is_none() {
            self.subject = r
                .subject
                .map(|s| Text::from(mailtrail_parse::unescape(s).into_owned()));
        }
        set(&mut self.client_host, r.client_host);
        set(&mut self.client_ip, r.client_ip);
        set(&mut self.protocol, r.protocol);
        set(&mut self.user, r.user);
        set(&mut self.bounce_of, r.bounce_of);
        set(&mut self.upstream_queue_id, r.upstream_queue_id);
        self.size = self.size.or(r.size);
        if let Some((name, value)) = r.header {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        if let Some(list) = r.recipients {
            for address in list.split_str(" ").filter(|a| !a.is_empty()) {
                self.listed_recipients.push(BString::from(address));
            }
        }
    }

    fn apply_lifecycle(&mut self, at: DateTime<Utc>, lifecycle: &Lifecycle<'_>) {
        let text = |t: &Option<&BStr>| t.map(ToOwned::to_owned);
        match lifecycle {
            // Exim removes the spool files before it logs `Completed`: a
            // later line with this id is a new message, as after Postfix's
            // `removed`.
            Lifecycle::Completed => {
                self.queue.completed = true;
                self.queue.closed = true;
            }
            Lifecycle::Frozen(why) => self.freeze(at, text(why)),
            Lifecycle::Held {
                reason,
                sender,
                recipient,
            } => {
                self.freeze(at, text(reason));
                if self.sender.is_none() {
                    self.sender = sender.map(Text::from);
                }
                if let Some(recipient) = recipient {
                    self.listed_recipients.push((*recipient).to_owned());
                }
            }
            Lifecycle::StillFrozen => {
                if !matches!(self.queue.frozen.as_deref(), Some((true, ..))) {
                    self.queue.frozen = Some(Box::new((true, at, None)));
                }
            }
            // Recorded even when no freeze is known here: the freeze may be
            // in an earlier chunk, and the thaw must override it on merge.
            Lifecycle::Unfrozen | Lifecycle::Released | Lifecycle::Requeued => {
                self.queue.frozen = Some(Box::new((false, at, None)));
            }
            Lifecycle::RemovedByAdmin(who) => {
                let description = match who {
                    Some(who) if who.starts_with(b"Message removed") => BString::from(who.to_vec()),
                    Some(who) => BString::from(format!("removed by {who}")),
                    None => BString::from("removed by administrator"),
                };
                self.queue.removed = Some(Box::new((at, description)));
            }
            Lifecycle::Cancelled(who) => {
                let description = match who {
                    Some(who) => BString::from(format!("cancelled by {who}")),
                    None => BString::from("cancelled"),
                };
                self.queue.removed = Some(Box::new((at, description)));
            }
            Lifecycle::ErrorIgnored(address) => {
                self.recipient_mut(address, None).error_ignored = Some(at);
            }
            Lifecycle::Expired { .. } => self.queue.expired = Some(at),
            Lifecycle::QueueFileRemoved => self.queue.closed = true,
        }
    }

    /// Frozen or held; a second freeze keeps the first one's time and
    /// reason.
    fn freeze(&mut self, at: DateTime<Utc>, why: Option<BString>) {
        if !matches!(self.queue.frozen.as_deref(), Some((true, ..))) {
            self.queue.frozen = Some(Box::new((true, at, why)));
        }
    }

    fn recipient_mut(&mut self, address: &BStr, original: Option<&BStr>) -> &mut RecipientRecord {
        match self
            .recipients
            .iter()
            .position(|r| r.matches(address, original))
        {
            Some(i) => &mut self.recipients[i],
            None => {
                // Most messages have one recipient: no room for four, and
                // the first is allocated directly rather than through the
                // growth path of `push`.
                if self.recipients.is_empty() {
                    self.recipients = vec![RecipientRecord::new(address, original)];
                } else {
                    self.recipients
                        .push(RecipientRecord::new(address, original));
                }
                self.recipients.last_mut().expect("just pushed")
            }
        }
    }

    /// Gives the vectors of a finished record that is kept the room they
    /// use and no more. Kept records are most of what a report of a whole
    /// log holds while the rest of it is read: vectors grown a push at a
    /// time held room for 70 000 more recipients (200 bytes each) and
    /// 390 000 more failure times than a 1 GB log's 108 000 kept records
    /// had.
    pub(crate) fn compact(&mut self) {
        exact(&mut self.recipients);
        for recipient in &mut self.recipients {
            exact(&mut recipient.failure_times);
        }
        // The recipients a finished record's reception line listed are in
        // no row: its rows are those of the recipients its other lines
        // name (see `message_places`).
        if self.is_finished() {
            self.listed_recipients = Vec::new();
        } else {
            exact(&mut self.listed_recipients);
        }
    }

    /// Absorbs the later partial record of the same queue entry.
    pub fn absorb(&mut self, later: MessageRecord) {
        fn keep(slot: &mut Option<Text>, value: Option<Text>) {
            if slot.is_none() {
                *slot = value;
            }
        }
        self.first_seen = self.first_seen.min(later.first_seen);
        self.last_seen = self.last_seen.max(later.last_seen);
        self.received_at = self.received_at.or(later.received_at);
        self.opened_at = match (self.opened_at, later.opened_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(sender) = later.sender
            && sender_replaces(&self.sender, &sender)
        {
            self.sender = Some(sender);
        }
        self.size = self.size.or(later.size);
        keep(&mut self.message_id, later.message_id);
        keep(&mut self.subject, later.subject);
        keep(&mut self.client_host, later.client_host);
        keep(&mut self.client_ip, later.client_ip);
        keep(&mut self.protocol, later.protocol);
        keep(&mut self.user, later.user);
        keep(&mut self.bounce_of, later.bounce_of);
        keep(&mut self.upstream_queue_id, later.upstream_queue_id);
        self.listed_recipients.extend(later.listed_recipients);
        self.headers.extend(later.headers);
        for recipient in later.recipients {
            let original = recipient.original.as_ref().map(|o| o.as_bstr());
            match self
                .recipients
                .iter()
                .position(|r| r.matches(recipient.address.as_bstr(), original))
            {
                Some(i) => self.recipients[i].absorb(recipient),
                None => self.recipients.push(recipient),
            }
        }
        self.notifications.extend(later.notifications);
        let q = later.queue;
        self.queue.completed |= q.completed;
        // Frozen twice in a row: the earlier freeze says since when and why.
        if !(matches!(self.queue.frozen.as_deref(), Some((true, ..)))
            && matches!(q.frozen.as_deref(), Some((true, ..))))
        {
            self.queue.frozen = q.frozen.or(self.queue.frozen.take());
        }
        self.queue.removed = q.removed.or(self.queue.removed.take());
        self.queue.expired = q.expired.or(self.queue.expired);
        self.queue.closed |= q.closed;
        self.queue.rejected = self.queue.rejected.or(q.rejected);
    }

    /// True once nothing more can happen to the entry (Exim `Completed`,
    /// Postfix `removed`).
    pub fn is_finished(&self) -> bool {
        self.queue.completed || self.queue.closed
    }

    /// True when a recipient was handed to a next hop that gave it a queue
    /// id: that hop's entry, when it is in the input, borrows this one's
    /// reception facts (see `HopLinks`).
    pub(crate) fn has_next_hop(&self) -> bool {
        self.next_hops().next().is_some()
    }

    /// Each next hop's queue id, with when a recipient was handed to it
    /// and whether it was on the same host ([`Terminal::to_same_host`]).
    pub(crate) fn next_hops(&self) -> impl Iterator<Item = (&BStr, DateTime<Utc>, bool)> + Clone {
        self.recipients.iter().filter_map(|r| {
            let terminal = r.terminal.as_ref()?;
            let queue_id = terminal.next_queue_id.as_ref()?.as_bstr();
            Some((queue_id, terminal.at, terminal.to_same_host()))
        })
    }

    /// Each recipient delivered to a remote host: the host, and when.
    pub(crate) fn remote_deliveries(&self) -> impl Iterator<Item = (&BStr, DateTime<Utc>)> {
        self.recipients.iter().filter_map(|r| {
            let terminal = r.terminal.as_ref()?;
            let delivered = terminal.status == AttemptStatus::Delivered;
            Some((terminal.remote_host.as_ref()?.as_bstr(), terminal.at)).filter(|_| delivered)
        })
    }

    /// What a next hop's rows borrow from this finished entry, which no
    /// report row comes from itself (see [`Handoff`]).
    pub(crate) fn handoff(&self, key: &[u8]) -> Handoff {
        Handoff::new(
            key,
            self.received_at,
            [&self.sender, &self.message_id, &self.subject]
                .map(|t| t.as_ref().map(|t| t.as_bstr())),
            self.next_hops(),
            self.notifications
                .iter()
                .map(|n| (n.kind, n.queue_id.as_bstr(), n.at)),
        )
    }

    /// Only the reception time and next hops of this finished entry, for
    /// the rows of next hops out of a window by reception (see
    /// `Window::may_date`): their sender, Message-ID and subject do not
    /// matter there.
    pub(crate) fn reception_handoff(&self, key: &[u8]) -> Handoff {
        Handoff::new(
            key,
            self.received_at,
            [None; 3],
            self.next_hops(),
            std::iter::empty(),
        )
    }

    /// True for a bounce, delay warning or DSN generated about another
    /// message (not the customer's own mail).
    pub fn is_notification(&self) -> bool {
        self.bounce_of.is_some()
    }
}

/// Moves the items of `items` to a vector of their number's capacity:
/// shrinking in place would not do, as an allocator may keep a block shrunk
/// by less than half whole (mimalloc does).
fn exact<T>(items: &mut Vec<T>) {
    if items.capacity() > items.len() {
        let mut exact = Vec::with_capacity(items.len());
        exact.append(items);
        *items = exact;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).unwrap()
    }

    #[test]
    fn a_handoff_gives_back_what_was_packed() {
        // Longer than 127 and 16383 bytes: lengths of two and three bytes.
        let subject = "S".repeat(200);
        let message_id = format!("<{}@example.com>", "m".repeat(20_000));
        let handoff = Handoff::new(
            b"mx1\0\0 1A2B3C4D5E",
            Some(at(1_729_421_000, 250_000_000)),
            [
                Some(b"alice@example.com".as_bstr()),
                Some(message_id.as_bytes().as_bstr()),
                Some(subject.as_bytes().as_bstr()),
            ],
            [
                (b"9F8E7D".as_bstr(), at(1_729_421_060, 0), true),
                (b"".as_bstr(), at(-1, 999_999_999), false),
            ]
            .into_iter(),
            [
                (
                    NotificationKind::Delay,
                    b"AAA".as_bstr(),
                    at(1_729_421_030, 0),
                ),
                (
                    NotificationKind::NonDelivery,
                    b"BBB".as_bstr(),
                    at(-1, 999_999_999),
                ),
                (
                    NotificationKind::Success,
                    b"CCC".as_bstr(),
                    at(1_729_421_090, 5),
                ),
            ]
            .into_iter(),
        );
        assert_eq!(handoff.key(), b"mx1\0\0 1A2B3C4D5E");
        assert_eq!(handoff.received_at, Some(at(1_729_421_000, 250_000_000)));
        assert_eq!(handoff.sender(), Some(b"alice@example.com".as_bstr()));
        assert_eq!(handoff.message_id(), Some(message_id.as_bytes().as_bstr()));
        assert_eq!(handoff.subject(), Some(subject.as_bytes().as_bstr()));
        assert_eq!(
            handoff.next_hops().collect::<Vec<_>>(),
            [
                (b"9F8E7D".as_bstr(), at(1_729_421_060, 0), true),
                (b"".as_bstr(), at(-1, 999_999_999), false),
            ]
        );
        assert_eq!(
            handoff.notifications().collect::<Vec<_>>(),
            [
                (
                    NotificationKind::Delay,
                    b"AAA".as_bstr(),
                    at(1_729_421_030, 0)
                ),
                (
                    NotificationKind::NonDelivery,
                    b"BBB".as_bstr(),
                    at(-1, 999_999_999)
                ),
                (
                    NotificationKind::Success,
                    b"CCC".as_bstr(),
                    at(1_729_421_090, 5)
                ),
            ]
        );
        assert_eq!(
            handoff.linked_queue_ids().collect::<Vec<_>>(),
            ["9F8E7D", "", "AAA", "BBB", "CCC"].map(|id| id.as_bytes().as_bstr())
        );
    }

    #[test]
    fn a_handoff_without_facts_has_none() {
        let handoff = Handoff::new(
            b"\0\0ABC",
            None,
            [None, None, None],
            std::iter::empty(),
            std::iter::empty(),
        );
        assert_eq!(handoff.key(), b"\0\0ABC");
        assert_eq!(
            [handoff.sender(), handoff.message_id(), handoff.subject()],
            [None; 3]
        );
        assert_eq!(handoff.next_hops().count(), 0);
        assert_eq!(handoff.notifications().count(), 0);
        assert_eq!(handoff.linked_queue_ids().count(), 0);
    }

    #[test]
    fn markers_give_back_what_was_packed_across_blocks() {
        let mut markers = HopMarkers::default();
        let long_key = vec![b'k'; 300];
        let expected: Vec<(Vec<u8>, DateTime<Utc>, DateTime<Utc>)> = (0..2000)
            .map(|i: i64| {
                let key = if i % 7 == 0 {
                    long_key.clone()
                } else {
                    format!("mx{}\0\0ID{i}", i % 3).into_bytes()
                };
                let first = at(1_700_000_000 + i, [0, 5, 999_999_999][i as usize % 3]);
                let last = at(
                    1_700_000_000 + i + (i % 4) * 40_000,
                    [0, 999_999_999][i as usize % 2],
                );
                (key, first, last.max(first))
            })
            .collect();
        for (key, first, last) in &expected {
            markers.push(key, *first, *last);
        }
        assert!(markers.0.len() > 1, "several blocks");
        let read = |markers: &HopMarkers| -> Vec<(Vec<u8>, DateTime<Utc>, DateTime<Utc>)> {
            markers
                .iter()
                .map(|m| (m.key.to_vec(), m.first_seen, m.last_seen))
                .collect()
        };
        assert_eq!(read(&markers), expected);
        markers.retain(|m| m.key.len() == 300);
        let long: Vec<_> = expected.into_iter().filter(|m| m.0.len() == 300).collect();
        assert_eq!(read(&markers), long);
    }
}
