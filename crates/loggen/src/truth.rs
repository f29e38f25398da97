//! Ground truth: one row per (message, recipient) and an incident summary.
//!
//! The truth is derived from the generator's own semantic events as they are
//! written, never from the log text, so it is independent of any parser.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde::Serialize;

use crate::clock::rfc3339;

/// Final state of one recipient of one message (or of one refused RCPT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Delivered without any real deferral.
    Delivered,
    /// Delivered after at least one real deferral.
    Delayed,
    /// Permanent failure (`**`), not an expiry.
    Bounced,
    /// Failed because the retry cutoff passed.
    Expired,
    /// Last state deferred, nothing final by the end of the input.
    Pending,
    /// Message frozen at the end of the input.
    Frozen,
    /// Message removed or cancelled by an administrator, never delivered.
    Removed,
    /// Refused at SMTP time, never queued.
    Rejected,
}

impl Outcome {
    /// All outcomes, in report order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Delivered,
        Outcome::Delayed,
        Outcome::Bounced,
        Outcome::Expired,
        Outcome::Pending,
        Outcome::Frozen,
        Outcome::Removed,
        Outcome::Rejected,
    ];

    /// Name used in the truth CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Delayed => "delayed",
            Outcome::Bounced => "bounced",
            Outcome::Expired => "expired",
            Outcome::Pending => "pending",
            Outcome::Frozen => "frozen",
            Outcome::Removed => "removed",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Expected classification of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Category {
    Blocklisted,
    Reputation,
    RateLimited,
    Greylisted,
    RecipientUnknown,
    MailboxFull,
    MailboxUnavailable,
    ConnectionFailure,
    DnsFailure,
    PolicyRejected,
    ContentRejected,
    LocalFailure,
    Unknown,
}

impl Category {
    /// Name used in the truth CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Blocklisted => "blocklisted",
            Category::Reputation => "reputation",
            Category::RateLimited => "rate_limited",
            Category::Greylisted => "greylisted",
            Category::RecipientUnknown => "recipient_unknown",
            Category::MailboxFull => "mailbox_full",
            Category::MailboxUnavailable => "mailbox_unavailable",
            Category::ConnectionFailure => "connection_failure",
            Category::DnsFailure => "dns_failure",
            Category::PolicyRejected => "policy_rejected",
            Category::ContentRejected => "content_rejected",
            Category::LocalFailure => "local_failure",
            Category::Unknown => "unknown",
        }
    }
}

/// What is known about one failure (deferral or permanent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// SMTP reply code, empty when the failure had none (timeouts, routing…).
    pub code: &'static str,
    /// Enhanced status code, empty when none.
    pub enhanced: &'static str,
    /// Expected category.
    pub category: Category,
    /// Caused by the simulated blocklisting incident.
    pub incident: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum St {
    #[default]
    Nothing,
    Deferred,
    Delivered,
    Bounced,
    Expired,
    Removed,
}

/// Running truth of one (message, recipient).
#[derive(Clone, Debug, Default)]
pub(crate) struct RcptTruth {
    pub st: St,
    pub deferred_once: bool,
    pub first_failure: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_failure: Option<Failure>,
    pub incident: bool,
}

impl RcptTruth {
    fn note_failure(&mut self, t: i64, f: Failure) {
        self.first_failure.get_or_insert(t);
        self.last_attempt = Some(t);
        self.last_failure = Some(f);
        self.incident |= f.incident;
    }
    pub fn deferred(&mut self, t: i64, f: Failure) {
        self.note_failure(t, f);
        self.st = St::Deferred;
        self.deferred_once = true;
    }
    pub fn failed(&mut self, t: i64, f: Failure) {
        self.note_failure(t, f);
        self.st = St::Bounced;
    }
    pub fn expired(&mut self, t: i64) {
        self.first_failure.get_or_insert(t);
        self.last_attempt = Some(t);
        self.st = St::Expired;
    }
    /// Expired by the queue manager without a line of its own for the
    /// recipient (Postfix `status=expired`): not a delivery attempt.
    pub fn expired_in_queue(&mut self, t: i64) {
        self.first_failure.get_or_insert(t);
        self.st = St::Expired;
    }
    pub fn delivered(&mut self, t: i64) {
        self.last_attempt = Some(t);
        self.st = St::Delivered;
    }
    pub fn removed(&mut self) {
        if matches!(self.st, St::Nothing | St::Deferred) {
            self.st = St::Removed;
        }
    }
    /// Final outcome. `frozen`: the message is frozen (Exim) or on hold
    /// (Postfix) at the end of the input; `notification`: a `<= <>` message, whose `**` before `Frozen (delivery
    /// error message)` is not final (Exim retries it after a thaw).
    pub fn outcome(&self, completed: bool, frozen: bool, notification: bool) -> Outcome {
        let frozen = frozen && !completed;
        match self.st {
            St::Delivered if self.deferred_once => Outcome::Delayed,
            St::Delivered => Outcome::Delivered,
            St::Bounced | St::Expired if frozen && notification => Outcome::Frozen,
            St::Bounced => Outcome::Bounced,
            St::Expired => Outcome::Expired,
            St::Removed => Outcome::Removed,
            St::Deferred | St::Nothing if frozen => Outcome::Frozen,
            St::Deferred | St::Nothing => Outcome::Pending,
        }
    }
}

/// One row of the truth CSV (header order is the contract).
#[derive(Serialize)]
struct Row<'a> {
    queue_id: &'a str,
    recipient: &'a str,
    outcome: &'static str,
    smtp_code: &'a str,
    enhanced_code: &'a str,
    category: &'a str,
    is_notification: bool,
    received_at: String,
    first_failure_at: String,
    last_attempt_at: String,
    subject: &'a str,
    message_id: &'a str,
}

fn opt_time(t: Option<i64>) -> String {
    t.map(rfc3339).unwrap_or_default()
}

/// Everything needed to write the rows of one finished (or unfinished) message.
pub(crate) struct MessageRows<'a> {
    pub queue_id: &'a str,
    pub notification: bool,
    pub received_at: Option<i64>,
    pub subject: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub completed: bool,
    pub frozen: bool,
}

/// Incident and outcome statistics, filled while the log is written.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Generator name and arguments.
    pub generator: String,
    /// First second of the log.
    pub start: i64,
    /// End of the input (exclusive).
    pub end: i64,
    /// Configured incident onset.
    pub onset: Option<i64>,
    /// Configured incident end.
    pub recovery: Option<i64>,
    /// First delivery failure classified `blocklisted`.
    pub first_blocklisted: Option<i64>,
    /// Last delivery failure classified `blocklisted`.
    pub last_blocklisted: Option<i64>,
    /// Last failure caused by the incident (any category).
    pub last_incident_failure: Option<i64>,
    /// First successful delivery to an incident provider after the last incident failure.
    pub recovery_observed: Option<i64>,
    /// Rows per outcome, indexed like [`Outcome::ALL`].
    pub outcomes: [u64; 8],
    /// Affected rows per outcome.
    pub affected_outcomes: [u64; 8],
    /// Queued messages (with an id and a reception line).
    pub messages: u64,
    /// Of which notifications generated by the MTA (bounces, delay warnings).
    pub notifications: u64,
    /// Messages with at least one recipient hit by the incident.
    pub affected_messages: u64,
    /// Recipients hit by the incident.
    pub affected_recipients: u64,
    /// Recipient domains hit by the incident.
    pub affected_domains: BTreeSet<String>,
    /// Log lines written.
    pub lines: u64,
    /// Log bytes written.
    pub bytes: u64,
}

impl Summary {
    pub(crate) fn incident_failure(&mut self, t: i64, f: Failure) {
        if f.category == Category::Blocklisted {
            self.first_blocklisted.get_or_insert(t);
            self.last_blocklisted = Some(t);
        }
        if f.incident {
            self.last_incident_failure = Some(t);
            self.recovery_observed = None;
        }
    }

    pub(crate) fn incident_provider_delivery(&mut self, t: i64) {
        if self.last_incident_failure.is_some() && self.recovery_observed.is_none() {
            self.recovery_observed = Some(t);
        }
    }

    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        fn t(v: Option<i64>) -> String {
            v.map(|x| format!("\"{}\"", rfc3339(x)))
                .unwrap_or_else(|| "null".into())
        }
        fn counts(c: &[u64; 8]) -> String {
            let parts: Vec<String> = Outcome::ALL
                .iter()
                .zip(c)
                .map(|(o, n)| format!("\"{}\": {n}", o.as_str()))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        let domains: Vec<String> = self
            .affected_domains
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect();
        let rows: u64 = self.outcomes.iter().sum();
        format!(
            "{{\n  \"generator\": \"{}\",\n  \"start\": {},\n  \"end\": {},\n  \"onset\": {},\n  \
             \"first_blocklisted_failure_at\": {},\n  \"last_blocklisted_failure_at\": {},\n  \
             \"last_incident_failure_at\": {},\n  \"recovery_configured\": {},\n  \"recovery\": {},\n  \
             \"messages\": {},\n  \"notifications\": {},\n  \"rows\": {rows},\n  \"outcomes\": {},\n  \
             \"affected\": {{\n    \"messages\": {},\n    \"recipients\": {},\n    \"domains\": [{}],\n    \
             \"outcomes\": {}\n  }},\n  \"log_lines\": {},\n  \"log_bytes\": {}\n}}\n",
            self.generator.replace('\\', "\\\\").replace('"', "\\\""),
            t(Some(self.start)),
            t(Some(self.end)),
            t(self.onset),
            t(self.first_blocklisted),
            t(self.last_blocklisted),
            t(self.last_incident_failure),
            t(self.recovery),
            t(self.recovery_observed),
            self.messages,
            self.notifications,
            counts(&self.outcomes),
            self.affected_messages,
            self.affected_recipients,
            domains.join(", "),
            counts(&self.affected_outcomes),
            self.lines,
            self.bytes,
        )
    }
}

/// Writes truth rows (when a writer is given) and keeps the statistics.
pub(crate) struct TruthSink<W: Write> {
    csv: Option<csv::Writer<W>>,
    pub summary: Summary,
}

impl<W: Write> TruthSink<W> {
    pub fn new(w: Option<W>) -> Self {
        TruthSink {
            csv: w.map(|w| csv::WriterBuilder::new().has_headers(true).from_writer(w)),
            summary: Summary::default(),
        }
    }

    fn row(&mut self, row: &Row<'_>) -> io::Result<()> {
        if let Some(c) = &mut self.csv {
            c.serialize(row).map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Writes the rows of one message; `rcpts` yields (recipient, truth).
    pub fn message<'r>(
        &mut self,
        m: &MessageRows<'_>,
        rcpts: impl Iterator<Item = (&'r str, &'r RcptTruth)>,
    ) -> io::Result<()> {
        self.summary.messages += 1;
        if m.notification {
            self.summary.notifications += 1;
        }
        let mut affected = false;
        for (rcpt, rt) in rcpts {
            let out = rt.outcome(m.completed, m.frozen, m.notification);
            let idx = Outcome::ALL.iter().position(|&o| o == out).unwrap_or(0);
            self.summary.outcomes[idx] += 1;
            if rt.incident {
                affected = true;
                self.summary.affected_recipients += 1;
                self.summary.affected_outcomes[idx] += 1;
                let dom = rcpt.rsplit_once('@').map_or(rcpt, |(_, d)| d);
                if !self.summary.affected_domains.contains(dom) {
                    self.summary
                        .affected_domains
                        .insert(dom.to_ascii_lowercase());
                }
            }
            let show_failure = out != Outcome::Delivered;
            let f = rt.last_failure.filter(|_| show_failure);
            self.row(&Row {
                queue_id: m.queue_id,
                recipient: rcpt,
                outcome: out.as_str(),
                smtp_code: f.map_or("", |f| f.code),
                enhanced_code: f.map_or("", |f| f.enhanced),
                category: f.map_or("", |f| f.category.as_str()),
                is_notification: m.notification,
                received_at: opt_time(m.received_at),
                first_failure_at: opt_time(rt.first_failure),
                last_attempt_at: opt_time(rt.last_attempt),
                subject: m.subject.unwrap_or(""),
                message_id: m.message_id.unwrap_or(""),
            })?;
        }
        if affected {
            self.summary.affected_messages += 1;
        }
        Ok(())
    }

    /// Writes one SMTP-time refusal; `queue_id` is empty unless the refusal
    /// happened inside a transaction that already had a queue file.
    pub fn rejected(&mut self, t: i64, queue_id: &str, rcpt: &str, f: Failure) -> io::Result<()> {
        self.summary.outcomes[7] += 1;
        self.row(&Row {
            queue_id,
            recipient: rcpt,
            outcome: Outcome::Rejected.as_str(),
            smtp_code: f.code,
            enhanced_code: f.enhanced,
            category: f.category.as_str(),
            is_notification: false,
            received_at: String::new(),
            first_failure_at: rfc3339(t),
            last_attempt_at: rfc3339(t),
            subject: "",
            message_id: "",
        })
    }

    pub fn finish(self) -> io::Result<Summary> {
        if let Some(mut c) = self.csv {
            c.flush()?;
        }
        Ok(self.summary)
    }
}
