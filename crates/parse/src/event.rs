//! The typed delivery events the grammars produce.
//!
//! One model serves Exim and Postfix. Exim writes a whole reception on one
//! `<=` line; Postfix spreads it over `smtpd`, `pickup`, `cleanup` and `qmgr`
//! lines. Both become [`Reception`] values in which only the fields a line
//! carries are set; the analysis merges them per queue entry.
//!
//! Every field borrows from the input line: parsing allocates nothing.

use bstr::BStr;
use chrono::{DateTime, Utc};

use crate::smtp::SmtpReply;

/// Which mail transfer agent wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mta {
    /// Exim main log (file or syslog).
    Exim,
    /// Postfix through syslog, journald or `maillog_file`.
    Postfix,
}

/// One parsed log record that matters for delivery forensics.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// When the line was written, as a UTC instant.
    pub at: DateTime<Utc>,
    /// Which MTA wrote it.
    pub mta: Mta,
    /// The host that wrote it, when the line says (syslog host field).
    pub host: Option<&'a BStr>,
    /// Postfix instance (`postfix-out`, `postfix`); `None` for Exim.
    pub instance: Option<&'a BStr>,
    /// The queue id the event belongs to (Exim message id or Postfix queue
    /// id); `None` for rejections before a queue entry existed.
    pub queue_id: Option<&'a BStr>,
    /// What happened.
    pub kind: EventKind<'a>,
}

impl Event<'_> {
    /// True for the line that opens a queue entry: Exim `<=`, Postfix
    /// smtpd `client=` (with a known client) and pickup `uid=`. Nothing of
    /// an entry is logged long before this line, so a stretch of log that
    /// holds it well after its own start holds the whole entry. Postfix
    /// entries made internally (bounces, local forwards) have no such
    /// line.
    pub fn opens_entry(&self) -> bool {
        let EventKind::Received(reception) = &self.kind else {
            return false;
        };
        match self.mta {
            // `<=` is the only Exim line that gives a reception.
            Mta::Exim => true,
            // Only smtpd gives a client, only pickup a protocol.
            Mta::Postfix => {
                reception.client_ip.is_some()
                    || reception.client_host.is_some()
                    || reception.protocol.is_some()
            }
        }
    }
}

/// What an [`Event`] reports.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind<'a> {
    /// All or part of what is known about a message's reception.
    Received(Reception<'a>),
    /// One delivery attempt for one recipient and how it ended.
    Attempt(Attempt<'a>),
    /// A change of state of the whole queue entry.
    Lifecycle(Lifecycle<'a>),
    /// A refusal at SMTP time by the host that wrote the log.
    Rejected(Rejection<'a>),
    /// The queue entry `notification` is a bounce, delay or success
    /// notification about the entry this event belongs to (Postfix
    /// `sender non-delivery notification: QID`).
    Notification(Notification<'a>),
}

/// Reception facts. Fields a line does not carry are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reception<'a> {
    /// Envelope sender without angle brackets; empty for the null sender.
    pub sender: Option<&'a BStr>,
    /// Size in bytes as logged.
    pub size: Option<u64>,
    /// Message-ID header value, angle brackets removed.
    pub message_id: Option<&'a BStr>,
    /// Subject as logged, still escaped (see [`unescape`](crate::unescape)).
    pub subject: Option<&'a BStr>,
    /// Client host name (verified or HELO) the message came from.
    pub client_host: Option<&'a BStr>,
    /// Client IP address the message came from.
    pub client_ip: Option<&'a BStr>,
    /// Protocol (`esmtps`, `local`, `ESMTP`).
    pub protocol: Option<&'a BStr>,
    /// Authenticated or local user (Exim `U=`/`A=`, Postfix
    /// `sasl_username=`/`uid=`).
    pub user: Option<&'a BStr>,
    /// For a locally generated bounce or DSN: the queue id of the message it
    /// reports on (Exim `<= <> R=id`).
    pub bounce_of: Option<&'a BStr>,
    /// Number of recipients (Postfix `nrcpt=`).
    pub recipient_count: Option<u32>,
    /// Recipients as listed at reception, space separated (Exim
    /// `for a b c` with `+received_recipients`).
    pub recipients: Option<&'a BStr>,
    /// The queue id this entry continues on an upstream hop (Postfix
    /// `orig_queue_id=`, pickup `orig_id=`).
    pub upstream_queue_id: Option<&'a BStr>,
    /// A logged header other than the subject (Postfix header_checks
    /// `warning: header Name: value`): `(name, value)`.
    pub header: Option<(&'a BStr, &'a BStr)>,
}

/// How one delivery attempt for one recipient ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    /// Accepted by the next hop or delivered locally.
    Delivered,
    /// Temporary failure; the MTA will retry.
    Deferred,
    /// Permanent failure; a bounce is normally generated.
    Bounced,
    /// Given up after retrying (Exim `retry timeout exceeded`).
    Expired,
    /// Accepted and silently thrown away (Postfix `discard` agent).
    Discarded,
    /// Delivery suppressed on purpose (Exim `*>` with `-N`).
    Suppressed,
    /// An address-verification probe, not a real delivery (Postfix
    /// `status=deliverable|undeliverable`).
    Probe,
}

/// One delivery attempt (Exim `=>` `->` `>>` `*>` `**` `==`, Postfix
/// `to=<…>, status=…`).
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt<'a> {
    /// The recipient as finally delivered to.
    pub recipient: &'a BStr,
    /// The original (top-level) recipient when it differs.
    pub original_recipient: Option<&'a BStr>,
    /// How the attempt ended.
    pub status: AttemptStatus,
    /// True when no delivery was actually tried (Exim `retry time not
    /// reached`): the line only confirms the recipient is still waiting.
    pub skipped: bool,
    /// Exim router.
    pub router: Option<&'a BStr>,
    /// Exim transport or Postfix delivery agent.
    pub transport: Option<&'a BStr>,
    /// Remote host name the answer came from (or local relay such as
    /// `local`, `none`).
    pub remote_host: Option<&'a BStr>,
    /// Remote IP address the answer came from.
    pub remote_ip: Option<&'a BStr>,
    /// SMTP reply and enhanced code found in the reason or `dsn=`.
    pub reply: SmtpReply,
    /// The SMTP phase the error came after (`RCPT TO`, `end of data`).
    pub phase: Option<&'a BStr>,
    /// The failure or deferral text, still escaped as logged.
    pub reason: Option<&'a BStr>,
    /// The next hop's confirmation (Exim `C="…"`, Postfix `(250 … queued as
    /// X)` on success).
    pub confirmation: Option<&'a BStr>,
    /// The queue id the next hop gave the message, taken from the
    /// confirmation (`queued as X`, `id=X`).
    pub next_queue_id: Option<&'a BStr>,
    /// The envelope sender, when the line repeats it (Exim `F=`).
    pub sender: Option<&'a BStr>,
}

/// A change of state of a whole queue entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Lifecycle<'a> {
    /// Exim `Completed`: nothing more will happen to this id.
    Completed,
    /// Frozen after an attempt or at reception; the text says why or who.
    Frozen(Option<&'a BStr>),
    /// Exim `Message is frozen`: a queue runner skipped it.
    StillFrozen,
    /// Thawed (`Unfrozen by …`).
    Unfrozen,
    /// Deleted by an administrator without notification (Exim
    /// `removed by`, Postfix `postsuper` removal).
    RemovedByAdmin(Option<&'a BStr>),
    /// Given up by an administrator or timeout, recipients failed (Exim
    /// `cancelled by …`).
    Cancelled(Option<&'a BStr>),
    /// Placed on hold (Postfix `hold`, postsuper `placed on hold`).
    Held {
        /// Why (the action's text), when logged.
        reason: Option<&'a BStr>,
        /// Envelope sender, when the line names it (cleanup `from=`).
        sender: Option<&'a BStr>,
        /// Recipient, when the line names it (cleanup `to=`): a held
        /// message never reaches the queue manager, so this may be the only
        /// place its recipient is logged.
        recipient: Option<&'a BStr>,
    },
    /// Released from hold.
    Released,
    /// Requeued by an administrator.
    Requeued,
    /// A recipient's failure was ignored: failed, nobody told (Exim
    /// `addr: error ignored`).
    ErrorIgnored(&'a BStr),
    /// Postfix `qmgr … status=expired, returned to sender` (or
    /// `force-expired`): every still-deferred recipient has expired.
    Expired {
        /// True for `postsuper -e` / `force-expired`.
        forced: bool,
    },
    /// Postfix `QID: removed`: the queue file is gone; a later line with
    /// the same short id is a different message.
    QueueFileRemoved,
}

/// What stage of the SMTP dialogue a rejection happened at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectStage {
    /// Connection refused or rejected in a connect ACL.
    Connect,
    /// HELO/EHLO.
    Helo,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA command or message content (after DATA, header/body checks,
    /// milters, local_scan).
    Data,
    /// Anything else (VRFY, ETRN, AUTH …).
    Other,
}

/// A refusal by the logging host at SMTP time.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection<'a> {
    /// Dialogue stage.
    pub stage: RejectStage,
    /// True for a 4xx (`temporarily rejected`, `451`): the client may retry.
    pub temporary: bool,
    /// Envelope sender, when known at that stage.
    pub sender: Option<&'a BStr>,
    /// Recipient, for RCPT rejections.
    pub recipient: Option<&'a BStr>,
    /// Client host name.
    pub client_host: Option<&'a BStr>,
    /// Client IP address.
    pub client_ip: Option<&'a BStr>,
    /// Reply and enhanced code from the text.
    pub reply: SmtpReply,
    /// The reason text, still escaped as logged.
    pub reason: Option<&'a BStr>,
}

/// A link from a message to a notification about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification<'a> {
    /// Which notification.
    pub kind: NotificationKind,
    /// Queue id of the notification message.
    pub notification_queue_id: &'a BStr,
}

/// What sort of notification a [`Notification`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// Non-delivery report.
    NonDelivery,
    /// Delay warning.
    Delay,
    /// Success DSN.
    Success,
}

/// What the text of one line is, as a grammar sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Body<'a> {
    /// A delivery event.
    Event(EventKind<'a>),
    /// A known line that does not matter for delivery outcomes; the label
    /// says which kind (`queue run`, `connection`).
    Irrelevant(&'static str),
    /// A line the grammar does not know; the label says what was expected.
    Unrecognised(&'static str),
}
