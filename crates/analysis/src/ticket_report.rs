//! Per-ticket views of failed mail: which tickets are affected and which
//! recipients are safe to send to again.
//!
//! Both views take the failures of a report ([`Finding`]s with a ticket)
//! and the [`Delivery`]s of the whole input, so that a recipient who got a
//! *later* message for the same ticket counts as reached: *later* means a
//! message received after the last failed one for that ticket and
//! recipient.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bstr::ByteSlice;
use chrono::{DateTime, Utc};
use mailtrail_parse::Mta;

use crate::classify::Category;
use crate::finding::Finding;
use crate::outcome::{Outcome, RecipientOutcome};
use crate::partial::{WantedMail, recipient_key};

/// A delivered message for a ticket and recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The ticket.
    pub ticket: String,
    /// The recipient, lower-cased.
    pub recipient: String,
    /// When the message was received.
    pub received_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Its queue id.
    pub queue_id: String,
}

impl Delivery {
    /// The delivery a row stands for: a delivered or delayed row with a
    /// ticket that is not a notification.
    pub fn from_row(row: &RecipientOutcome, ticket: Option<&str>) -> Option<Delivery> {
        let delivered = matches!(row.outcome, Outcome::Delivered | Outcome::Delayed);
        if !delivered || row.is_notification {
            return None;
        }
        Some(Delivery {
            ticket: ticket?.to_string(),
            recipient: recipient_key(&row.recipient),
            received_at: row.received_at,
            delivered_at: row.last_attempt_at,
            queue_id: row.queue_id.to_str_lossy().into_owned(),
        })
    }
}

/// The time a failed row is ordered by: reception, else its first failure.
fn sent_time(row: &RecipientOutcome) -> Option<DateTime<Utc>> {
    row.received_at.or(row.first_failure_at)
}

/// Deliveries indexed by (ticket, recipient).
struct DeliveryIndex<'a> {
    by_key: HashMap<(&'a str, &'a str), Vec<&'a Delivery>>,
}

impl<'a> DeliveryIndex<'a> {
    fn new(deliveries: &'a [Delivery]) -> DeliveryIndex<'a> {
        let mut by_key: HashMap<(&str, &str), Vec<&Delivery>> = HashMap::new();
        for d in deliveries {
            by_key
                .entry((d.ticket.as_str(), d.recipient.as_str()))
                .or_default()
                .push(d);
        }
        DeliveryIndex { by_key }
    }

    /// The first delivery for (ticket, recipient) received after `after`.
    fn later(
        &self,
        ticket: &str,
        recipient: &str,
        after: Option<DateTime<Utc>>,
    ) -> Option<&'a Delivery> {
        let after = after?;
        self.by_key
            .get(&(ticket, recipient))?
            .iter()
            .filter(|d| d.received_at.is_some_and(|t| t > after))
            .min_by_key(|d| d.received_at)
            .copied()
    }
}

/// The recipients whose later deliveries [`ticket_summaries`] and
/// [`resend_list`] look for in `findings`, each with the time after which
/// they do (its earliest failed message's): what a scan must keep of the
/// delivered mail for them ([`Retention::and_mail`]).
///
/// [`Retention::and_mail`]: crate::Retention::and_mail
pub fn later_delivery_recipients(findings: &[Finding]) -> WantedMail {
    let failed = findings
        .iter()
        .filter(|f| f.ticket.is_some() && !f.outcome.is_notification);
    WantedMail::to_recipients(
        failed.filter_map(|f| Some((f.outcome.recipient.as_slice(), sent_time(&f.outcome)?))),
    )
}

/// One recipient of an affected ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRecipient {
    /// The address, lower-cased.
    pub recipient: String,
    /// Failed messages to it for this ticket.
    pub failed_messages: usize,
    /// A later message for the ticket that reached it, if any.
    pub later_delivery: Option<Delivery>,
}

/// One affected ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketSummary {
    /// The ticket.
    pub ticket: String,
    /// Recipients with at least one failed message, in order of address.
    pub recipients: Vec<TicketRecipient>,
    /// Distinct failed messages (queue ids).
    pub messages: usize,
    /// Failed rows per outcome.
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Failed rows per category.
    pub categories: BTreeMap<Category, usize>,
    /// First failure.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Queue ids of the failed messages, in time order.
    pub queue_ids: Vec<String>,
}

impl TicketSummary {
    /// Recipients that never got a later message for the ticket.
    pub fn lost(&self) -> impl Iterator<Item = &TicketRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.later_delivery.is_none())
    }

    /// Recipients that got a later message for the ticket.
    pub fn recovered(&self) -> impl Iterator<Item = &TicketRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.later_delivery.is_some())
    }
}

/// Groups failures by ticket. Findings without a ticket and notifications
/// are left out. Tickets are ordered by first failure, then id.
pub fn ticket_summaries(findings: &[Finding], deliveries: &[Delivery]) -> Vec<TicketSummary> {
    let index = DeliveryIndex::new(deliveries);
    let mut by_ticket: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in findings.iter().filter(|f| !f.outcome.is_notification) {
        if let Some(ticket) = finding.ticket.as_deref() {
            by_ticket.entry(ticket).or_default().push(finding);
        }
    }
    let mut summaries: Vec<TicketSummary> = by_ticket
        .into_iter()
        .map(|(ticket, mut failed)| {
            failed.sort_by_key(|f| sent_time(&f.outcome));
            let mut recipients: BTreeMap<String, (usize, Option<DateTime<Utc>>)> = BTreeMap::new();
            let mut outcomes = BTreeMap::new();
            let mut categories = BTreeMap::new();
            let mut queue_ids: Vec<String> = Vec::new();
            let mut first = None::<DateTime<Utc>>;
            let mut last = None::<DateTime<Utc>>;
            for f in &failed {
                let row = &f.outcome;
                let entry = recipients.entry(recipient_key(&row.recipient)).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(sent_time(row));
                *outcomes.entry(row.outcome).or_insert(0) += 1;
                if let Some(category) = f.category() {
                    *categories.entry(category).or_insert(0) += 1;
                }
                let queue_id = row.queue_id.to_str_lossy().into_owned();
                if !queue_id.is_empty() && !queue_ids.contains(&queue_id) {
                    queue_ids.push(queue_id);
                }
                let times = row
                    .failure_times
                    .iter()
                    .copied()
                    .chain(row.first_failure_at);
                for t in times {
                    first = Some(first.map_or(t, |f| f.min(t)));
                    last = Some(last.map_or(t, |l| l.max(t)));
                }
            }
            let messages = failed
                .iter()
                .map(|f| (&f.outcome.host, &f.outcome.queue_id, f.outcome.received_at))
                .collect::<BTreeSet<_>>()
                .len();
            TicketSummary {
                ticket: ticket.to_string(),
                recipients: recipients
                    .into_iter()
                    .map(|(recipient, (count, last_sent))| TicketRecipient {
                        later_delivery: index.later(ticket, &recipient, last_sent).cloned(),
                        recipient,
                        failed_messages: count,
                    })
                    .collect(),
                messages,
                outcomes,
                categories,
                first_failure_at: first,
                last_failure_at: last,
                queue_ids,
            }
        })
        .collect();
    summaries.sort_by(|a, b| (a.first_failure_at, &a.ticket).cmp(&(b.first_failure_at, &b.ticket)));
    summaries
}

/// What to do for a recipient on the resend list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResendAction {
    /// The message is still queued: retry it (see [`retry_command`]).
    Retry,
    /// The message is gone: send it again from the helpdesk.
    Resend,
}

impl ResendAction {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ResendAction::Retry => "retry",
            ResendAction::Resend => "resend",
        }
    }
}

/// Why a failed recipient is not on the resend list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exclusion {
    /// The address does not exist (`recipient_unknown`).
    RecipientUnknown,
    /// The mailbox is disabled or gone (`mailbox_unavailable`).
    MailboxUnavailable,
    /// A permanent failure on the receiver's side (content, size, policy,
    /// relay): sending the same again would fail again.
    PermanentReceiverSide,
    /// No failure was logged (removed or frozen before any attempt).
    NoFailure,
    /// A later message for the ticket reached the recipient.
    LaterDelivered,
}

impl Exclusion {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Exclusion::RecipientUnknown => "recipient_unknown",
            Exclusion::MailboxUnavailable => "mailbox_unavailable",
            Exclusion::PermanentReceiverSide => "permanent_receiver_side",
            Exclusion::NoFailure => "no_failure_logged",
            Exclusion::LaterDelivered => "later_delivered",
        }
    }
}

/// Categories whose cause is on our side: fixed there, a resend works.
pub const SENDER_SIDE: [Category; 7] = [
    Category::Blocklisted,
    Category::Reputation,
    Category::RateLimited,
    Category::AuthFailed,
    Category::SenderConfig,
    Category::TlsFailure,
    Category::LocalFailure,
];

/// Whether a failure is safe to send again: a sender-side category, or a
/// transient (non-permanent) failure, but never `recipient_unknown` or
/// `mailbox_unavailable`.
pub fn resend_exclusion(finding: &Finding) -> Option<Exclusion> {
    let Some(class) = &finding.class else {
        return Some(Exclusion::NoFailure);
    };
    match class.category {
        Category::RecipientUnknown => Some(Exclusion::RecipientUnknown),
        Category::MailboxUnavailable => Some(Exclusion::MailboxUnavailable),
        c if SENDER_SIDE.contains(&c) || !class.permanent => None,
        _ => Some(Exclusion::PermanentReceiverSide),
    }
}

/// The command that retries a queued message now.
pub fn retry_command(row: &RecipientOutcome) -> Option<String> {
    let id = row.queue_id.to_str_lossy();
    if id.is_empty() || !matches!(row.outcome, Outcome::Pending | Outcome::Frozen) {
        return None;
    }
    Some(match (row.mta, row.outcome) {
        // `-M` forces delivery, frozen or not.
        (Mta::Exim, _) => format!("exim -M {id}"),
        (Mta::Postfix, Outcome::Frozen) => format!("postsuper -H {id} && postqueue -i {id}"),
        (Mta::Postfix, _) => format!("postqueue -i {id}"),
    })
}

/// One line of the resend list.
#[derive(Clone, Debug)]
pub struct ResendEntry {
    /// The ticket, when known.
    pub ticket: Option<String>,
    /// The recipient, lower-cased.
    pub recipient: String,
    /// Retry the queued message or send again.
    pub action: ResendAction,
    /// For [`ResendAction::Retry`]: the command.
    pub command: Option<String>,
    /// The message to retry or resend: the queued one, else the latest
    /// failed one.
    pub finding: Finding,
    /// Failed messages for this ticket and recipient.
    pub failed_messages: usize,
}

/// The resend list and what was left off it.
#[derive(Clone, Debug, Default)]
pub struct ResendList {
    /// Entries, ordered by ticket then recipient.
    pub entries: Vec<ResendEntry>,
    /// (ticket, recipient) pairs left off, per reason.
    pub excluded: BTreeMap<Exclusion, usize>,
}

/// Builds the resend list from failures: one entry per (ticket,
/// recipient), or per (message, recipient) when the ticket is unknown.
/// A pair is left off when any of its failures says the address is
/// unknown or unavailable, when none of its failures is sender-side or
/// transient, or when a later message for the ticket reached the
/// recipient. When one of its messages is still queued the action is to
/// retry that one, not to send again.
pub fn resend_list(findings: &[Finding], deliveries: &[Delivery]) -> ResendList {
    let index = DeliveryIndex::new(deliveries);
    let mut groups: BTreeMap<(String, String), Vec<&Finding>> = BTreeMap::new();
    for finding in findings.iter().filter(|f| !f.outcome.is_notification) {
        let row = &finding.outcome;
        let key = match &finding.ticket {
            Some(ticket) => format!("ticket\0{ticket}"),
            None => format!(
                "message\0{}\0{}\0{}",
                row.host.to_str_lossy(),
                row.queue_id.to_str_lossy(),
                row.message_id
                    .as_ref()
                    .map(|m| m.to_str_lossy())
                    .unwrap_or_default()
            ),
        };
        groups
            .entry((key, recipient_key(&row.recipient)))
            .or_default()
            .push(finding);
    }
    let mut list = ResendList::default();
    for ((_, recipient), mut failed) in groups {
        failed.sort_by_key(|f| sent_time(&f.outcome));
        let exclusions: Vec<Option<Exclusion>> =
            failed.iter().map(|f| resend_exclusion(f)).collect();
        let hard = exclusions.iter().flatten().find(|e| {
            matches!(
                e,
                Exclusion::RecipientUnknown | Exclusion::MailboxUnavailable
            )
        });
        if let Some(hard) = hard {
            *list.excluded.entry(*hard).or_insert(0) += 1;
            continue;
        }
        let eligible: Vec<&Finding> = failed
            .iter()
            .zip(&exclusions)
            .filter(|(_, e)| e.is_none())
            .map(|(f, _)| *f)
            .collect();
        let Some(latest) = eligible.last() else {
            let reason = exclusions
                .iter()
                .flatten()
                .min()
                .copied()
                .unwrap_or(Exclusion::NoFailure);
            *list.excluded.entry(reason).or_insert(0) += 1;
            continue;
        };
        let ticket = latest.ticket.clone();
        let last_sent = failed.iter().filter_map(|f| sent_time(&f.outcome)).max();
        if let Some(ticket) = &ticket
            && index.later(ticket, &recipient, last_sent).is_some()
        {
            *list.excluded.entry(Exclusion::LaterDelivered).or_insert(0) += 1;
            continue;
        }
        let queued = eligible
            .iter()
            .rev()
            .find(|f| retry_command(&f.outcome).is_some());
        let (action, chosen) = match queued {
            Some(q) => (ResendAction::Retry, *q),
            None => (ResendAction::Resend, *latest),
        };
        list.entries.push(ResendEntry {
            ticket,
            recipient,
            action,
            command: retry_command(&chosen.outcome),
            finding: chosen.clone(),
            failed_messages: failed.len(),
        });
    }
    list.entries.sort_by(|a, b| {
        (a.ticket.is_none(), &a.ticket, &a.recipient).cmp(&(
            b.ticket.is_none(),
            &b.ticket,
            &b.recipient,
        ))
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classification;
    use bstr::BString;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn finding(
        queue_id: &str,
        recipient: &str,
        received: &str,
        outcome: Outcome,
        category: Option<(Category, bool)>,
        ticket: Option<&str>,
    ) -> Finding {
        let t = at(received);
        Finding {
            outcome: RecipientOutcome {
                host: BString::from(""),
                queue_id: BString::from(queue_id),
                mta: Mta::Exim,
                received_at: Some(t),
                message_id: None,
                sender: Some(BString::from("helpdesk@example.com")),
                subject: None,
                headers: Vec::new(),
                recipient: BString::from(recipient),
                outcome,
                last_failure: None,
                first_failure_at: Some(t),
                last_attempt_at: Some(t),
                attempts: 1,
                failure_times: vec![t],
                reason: None,
                is_notification: false,
            },
            class: category.map(|(category, permanent)| {
                std::sync::Arc::new(Classification {
                    category,
                    rule: "test".to_string(),
                    permanent,
                    blocklist: None,
                    listed_ip: None,
                    delisting_url: None,
                    provider: None,
                    provider_code: None,
                })
            }),
            ticket: ticket.map(str::to_string),
        }
    }

    fn delivery(ticket: &str, recipient: &str, received: &str) -> Delivery {
        Delivery {
            ticket: ticket.to_string(),
            recipient: recipient.to_string(),
            received_at: Some(at(received)),
            delivered_at: Some(at(received)),
            queue_id: "d".to_string(),
        }
    }

    const BL: Option<(Category, bool)> = Some((Category::Blocklisted, true));

    #[test]
    fn tickets_group_failures_and_see_later_deliveries() {
        let findings = [
            finding(
                "a",
                "Bob@example.net",
                "2024-10-19T20:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T1"),
            ),
            finding(
                "b",
                "bob@example.net",
                "2024-10-19T22:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T1"),
            ),
            finding(
                "b",
                "carol@example.net",
                "2024-10-19T22:00:00Z",
                Outcome::Expired,
                BL,
                Some("T1"),
            ),
            finding(
                "c",
                "dave@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Pending,
                BL,
                Some("T2"),
            ),
            finding(
                "d",
                "erin@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Bounced,
                BL,
                None,
            ),
        ];
        let deliveries = [
            // Before the last failure: does not count.
            delivery("T1", "bob@example.net", "2024-10-19T21:00:00Z"),
            delivery("T1", "carol@example.net", "2024-10-20T09:00:00Z"),
            // Another ticket: does not count.
            delivery("T9", "dave@example.net", "2024-10-20T09:00:00Z"),
        ];
        let summaries = ticket_summaries(&findings, &deliveries);
        assert_eq!(summaries.len(), 2);
        let t1 = &summaries[0];
        assert_eq!(t1.ticket, "T1");
        assert_eq!(t1.messages, 2);
        assert_eq!(t1.queue_ids, ["a", "b"]);
        assert_eq!(t1.first_failure_at, Some(at("2024-10-19T20:00:00Z")));
        assert_eq!(t1.last_failure_at, Some(at("2024-10-19T22:00:00Z")));
        assert_eq!(t1.outcomes[&Outcome::Bounced], 2);
        assert_eq!(t1.categories[&Category::Blocklisted], 3);
        let lost: Vec<&str> = t1.lost().map(|r| r.recipient.as_str()).collect();
        let recovered: Vec<&str> = t1.recovered().map(|r| r.recipient.as_str()).collect();
        assert_eq!(lost, ["bob@example.net"]);
        assert_eq!(recovered, ["carol@example.net"]);
        assert_eq!(t1.recipients[0].failed_messages, 2);
        assert_eq!(summaries[1].ticket, "T2");
        assert_eq!(summaries[1].lost().count(), 1);
    }

    #[test]
    fn resend_list_is_safe() {
        let findings = [
            // Twice blocklisted: one entry, the latest message.
            finding(
                "a",
                "bob@example.net",
                "2024-10-19T20:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T1"),
            ),
            finding(
                "b",
                "bob@example.net",
                "2024-10-19T22:00:00Z",
                Outcome::Expired,
                BL,
                Some("T1"),
            ),
            // Unknown address in one of its failures: never resent.
            finding(
                "a",
                "carol@example.net",
                "2024-10-19T20:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T1"),
            ),
            finding(
                "b",
                "carol@example.net",
                "2024-10-19T22:00:00Z",
                Outcome::Bounced,
                Some((Category::RecipientUnknown, true)),
                Some("T1"),
            ),
            // Still queued: retry, not resend.
            finding(
                "c",
                "dave@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Pending,
                BL,
                Some("T2"),
            ),
            finding(
                "q",
                "dave@example.net",
                "2024-10-19T20:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T2"),
            ),
            // Content rejected: permanent and on the receiver's side.
            finding(
                "e",
                "erin@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Bounced,
                Some((Category::ContentRejected, true)),
                Some("T3"),
            ),
            // A transient receiver-side failure is fine.
            finding(
                "f",
                "frank@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Expired,
                Some((Category::ConnectionFailure, false)),
                None,
            ),
            // Reached later.
            finding(
                "g",
                "gina@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Bounced,
                BL,
                Some("T4"),
            ),
            // Removed before any attempt.
            finding(
                "h",
                "hal@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Removed,
                None,
                Some("T5"),
            ),
            finding(
                "m",
                "mia@example.net",
                "2024-10-19T21:00:00Z",
                Outcome::Bounced,
                Some((Category::MailboxUnavailable, true)),
                Some("T6"),
            ),
        ];
        let deliveries = [delivery("T4", "gina@example.net", "2024-10-19T23:00:00Z")];
        let list = resend_list(&findings, &deliveries);
        // (ticket, recipient, action, queue id, command)
        type Entry<'a> = (Option<&'a str>, &'a str, &'a str, &'a str, Option<&'a str>);
        let entries: Vec<Entry> = list
            .entries
            .iter()
            .map(|e| {
                (
                    e.ticket.as_deref(),
                    e.recipient.as_str(),
                    e.action.name(),
                    std::str::from_utf8(&e.finding.outcome.queue_id).unwrap(),
                    e.command.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                (Some("T1"), "bob@example.net", "resend", "b", None),
                (
                    Some("T2"),
                    "dave@example.net",
                    "retry",
                    "c",
                    Some("exim -M c")
                ),
                (None, "frank@example.net", "resend", "f", None),
            ]
        );
        assert_eq!(list.entries[0].failed_messages, 2);
        let excluded: Vec<(&str, usize)> =
            list.excluded.iter().map(|(k, v)| (k.name(), *v)).collect();
        assert_eq!(
            excluded,
            [
                ("recipient_unknown", 1),
                ("mailbox_unavailable", 1),
                ("permanent_receiver_side", 1),
                ("no_failure_logged", 1),
                ("later_delivered", 1),
            ]
        );
    }

    #[test]
    fn retry_commands_per_mta() {
        let mut row = finding(
            "0ABC12DEF",
            "x@example.net",
            "2024-10-19T21:00:00Z",
            Outcome::Pending,
            BL,
            None,
        )
        .outcome;
        assert_eq!(retry_command(&row).as_deref(), Some("exim -M 0ABC12DEF"));
        row.mta = Mta::Postfix;
        assert_eq!(
            retry_command(&row).as_deref(),
            Some("postqueue -i 0ABC12DEF")
        );
        row.outcome = Outcome::Frozen;
        assert_eq!(
            retry_command(&row).as_deref(),
            Some("postsuper -H 0ABC12DEF && postqueue -i 0ABC12DEF")
        );
        row.outcome = Outcome::Bounced;
        assert_eq!(retry_command(&row), None);
    }
}
