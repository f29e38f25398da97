//! [`PartialLog`]: what a stretch of log lines says, in a form that merges.

use bstr::BString;
use chrono::{DateTime, Utc};
use mailtrail_parse::{
    ClockStats, Event, EventKind, LineCounts, Mta, Parsed, RejectStage, SmtpReply,
};
use rustc_hash::FxHashMap;

use crate::record::{MessageKey, MessageRecord, key_into};

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
    pub messages: FxHashMap<MessageKey, Vec<MessageRecord>>,
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
    scratch: Vec<u8>,
}

impl PartialLog {
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
        self.span = Some(match self.span {
            Some((first, last)) => (first.min(event.at), last.max(event.at)),
            None => (event.at, event.at),
        });
        if let EventKind::Rejected(rejection) = &event.kind {
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
            // A rejection with a queue id also ends that queue entry.
            if event.queue_id.is_none() {
                return;
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        if key_into(event, &mut scratch) {
            // Look up by the borrowed key first: most lines belong to an
            // entry already seen, and the key is only copied for new ones.
            match self.messages.get_mut(scratch.as_slice()) {
                Some(records) => {
                    let current = records.last_mut().expect("never empty");
                    if current.queue.closed {
                        let mut record = MessageRecord::new(event.mta, event.at);
                        record.apply(event);
                        records.push(record);
                    } else {
                        current.apply(event);
                    }
                }
                None => {
                    let mut record = MessageRecord::new(event.mta, event.at);
                    record.apply(event);
                    self.messages
                        .insert(scratch.as_slice().into(), vec![record]);
                }
            }
        }
        self.scratch = scratch;
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
        self.counts.add(&later.counts);
        self.clock.add(&later.clock);
        self.span = match (self.span, later.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
        let room = UNRECOGNISED_SAMPLES.saturating_sub(self.unrecognised_samples.len());
        self.unrecognised_samples
            .extend(later.unrecognised_samples.into_iter().take(room));
        self
    }
}

/// Appends the later segments of one key to the earlier ones: the last
/// earlier segment continues into the first later one unless its queue file
/// had been removed (then the id was reused for a new message).
fn join_segments(earlier: &mut Vec<MessageRecord>, later: Vec<MessageRecord>) {
    let mut later = later.into_iter();
    if let Some(first) = later.next() {
        let last = earlier.last_mut().expect("never empty");
        if last.queue.closed {
            earlier.push(first);
        } else {
            last.absorb(first);
        }
    }
    earlier.extend(later);
}
