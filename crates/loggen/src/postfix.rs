//! Postfix log generator: classic syslog lines of Postfix 3.7.
//!
//! Same model as the Exim generator: each message gets its complete *plan*
//! (a time-ordered list of events) when it arrives; plans, refused SMTP
//! sessions, connection noise and periodic daemon lines are merged through
//! a min-heap keyed by (time, sequence). Every event is rendered to one log
//! line (two for `postsuper`) and, independently, folded into the ground
//! truth of the recipient it concerns.
//!
//! Simulated setup, on each of `--hosts` servers (`smtp1` [203.0.113.25],
//! `smtp2` [203.0.113.26], …) writing to one log as central syslog does,
//! time stamps in UTC without a year:
//!
//! * postscreen in front of smtpd on port 25 (DNSBL `zen.spamhaus.org`,
//!   pregreet test), submission on port 587 (`postfix/submission/smtpd`,
//!   SASL), `smtpd_delay_open_until_valid_rcpt = yes` (refusals before the
//!   first accepted RCPT are `NOQUEUE`, later ones carry the queue id),
//!   postgrey greylisting, `reject_rbl_client bl.spamcop.net`;
//! * `example.com` is a virtual mailbox domain delivered to Dovecot over
//!   LMTP (`quota_full_tempfail = yes`), with virtual aliases (`orig_to=`)
//!   and `support@` piped to a ticket importer; unknown local recipients of
//!   locally submitted mail go to the `error` agent;
//! * header_checks log every Subject (`WARN`) and hold invoices for review
//!   (`HOLD`); an administrator releases or deletes some held messages, and
//!   removes, holds or force-expires mail stuck towards a dead host;
//! * qmgr: `queue_run_delay` = `minimal_backoff_time` = 300 s,
//!   `maximal_backoff_time` = 4000 s, `maximal_queue_lifetime` =
//!   `bounce_queue_lifetime` = 1 d, `delay_warning_time` = 4 h; destinations
//!   that failed to connect are marked dead, so some retries are deferred by
//!   the `error` agent (`delivery temporarily suspended`);
//! * no content filter: one hop. Notifications to a null sender are
//!   dropped (default `notify_classes`), so bounces never bounce twice.
//!
//! With `enable_long_queue_ids` the ids encode their creation time; short
//! ids are `%05X` microseconds + `%lX` inode, each host with its own inode
//! range. With several hosts and short ids, a share of messages reuse the
//! short id of a message still queued on the first host (short ids repeat
//! across hosts in real life), with disjoint recipients, so only a
//! per-host queue-id key keeps them apart.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::clock::{HOUR, MIN, SEC, SyslogStamp, rfc3339};
use crate::line::Out;
use crate::msgid::QueueId;
use crate::rng::Rng;
use crate::sched::{self, Driver, Feeds, Queue, Queued};
use crate::truth::{Category, Failure, MessageRows, St, Summary, TruthSink};
use crate::world::{
    self, DKind, DOMAINS, Domain, Fate, LocalKind, OUR_DOMAIN, Pids, QUOTA_USER, REMOTE_LOCAL,
    Rcpt, SPAM_SENDERS, Target, Ticket, Tls, USERS, Why, remote_weights,
};

/// Parameters of one generated Postfix log.
#[derive(Clone, Debug)]
pub struct PostfixConfig {
    /// PRNG seed; equal configs give byte-identical output.
    pub seed: u64,
    /// Number of messages arriving over the window (plus notifications).
    pub messages: u64,
    /// First instant of the log (µs since epoch, UTC).
    pub start: i64,
    /// End of the log, exclusive (µs).
    pub end: i64,
    /// Start of the blocklisting incident (µs), if any.
    pub onset: Option<i64>,
    /// End of the incident (µs); `None` = until the end of the log.
    pub recovery: Option<i64>,
    /// `enable_long_queue_ids = yes`.
    pub long_ids: bool,
    /// Number of servers writing to the log (1 to [`MAX_HOSTS`]).
    pub hosts: u8,
    /// Text recorded as `generator` in the summary.
    pub command: String,
}

/// Most servers one log can have.
pub const MAX_HOSTS: u8 = 16;

// ---------------------------------------------------------------------------
// The simulated servers.

const VERSION: &str = "3.7.11";
/// `queue_run_delay`: the deferred queue is scanned this often.
const SCAN_INTERVAL: i64 = 300 * SEC;
const MIN_BACKOFF: i64 = 300 * SEC;
const MAX_BACKOFF: i64 = 4000 * SEC;
/// `maximal_queue_lifetime` and `bounce_queue_lifetime`.
const LIFETIME: i64 = 24 * HOUR;
const DELAY_WARNING: i64 = 4 * HOUR;
const CONNECT_TIMEOUT: i64 = 30 * SEC;
const LMTP_SOCKET: &str = "private/dovecot-lmtp";
const PIPE_SERVICE: &str = "ticket-import";
const HELPDESK_UID: u64 = 33;
/// Share of messages on the other hosts that reuse a short id of the first.
const COLLISION_SHARE: f64 = 0.02;
const TLS13: &str = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256";
const TLS12: &str = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)";

/// Name and address of one simulated server.
#[derive(Clone, Debug)]
struct HostName {
    name: String,
    fqdn: String,
    ip: String,
}

impl HostName {
    fn new(i: u8) -> Self {
        let name = format!("smtp{}", u32::from(i) + 1);
        HostName {
            fqdn: format!("{name}.{OUR_DOMAIN}"),
            ip: format!("203.0.113.{}", 25 + u32::from(i)),
            name,
        }
    }
}

/// Clients that are refused or only make noise: (HELO name, reverse DNS).
static BOT_CLIENTS: &[(&str, &str)] = &[
    ("ylmf-pc", "unknown"),
    ("User", "unknown"),
    ("example-bulk.test", "unknown"),
    ("mail.example-bulkmail.test", "mail.example-bulkmail.test"),
    ("localhost", "unknown"),
    ("host-77.example-isp.test", "host-77.example-isp.test"),
];

// ---------------------------------------------------------------------------
// Failures.

/// What the truth expects for a delivery failure: the remote reply's codes,
/// or the `dsn=` Postfix derives when there is no reply.
fn failure(why: Why) -> Failure {
    let local = |enhanced, category| Failure {
        code: "",
        enhanced,
        category,
        incident: false,
    };
    match why {
        Why::ConnTimeout | Why::ConnRefused => local("4.4.1", Category::ConnectionFailure),
        Why::DnsTemp => local("4.4.3", Category::DnsFailure),
        Why::Unrouteable => local("5.4.4", Category::DnsFailure),
        Why::NoSuchUser => local("5.1.1", Category::RecipientUnknown),
        Why::PipeFail => local("5.3.0", Category::LocalFailure),
        Why::LocalQuota => Failure {
            code: "452",
            enhanced: "4.2.2",
            category: Category::MailboxFull,
            incident: false,
        },
        _ => why.failure(),
    }
}

/// Why smtpd or postscreen refused a recipient.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refusal {
    UnknownUser,
    SenderDomain,
    /// postscreen's DNSBL verdict, enforced at RCPT time.
    Postscreen,
    /// smtpd `reject_rbl_client`.
    Spamcop,
    Greylist,
}

impl Refusal {
    fn failure(self) -> Failure {
        let (code, enhanced, category) = match self {
            Refusal::UnknownUser => ("550", "5.1.1", Category::RecipientUnknown),
            Refusal::SenderDomain => ("450", "4.1.8", Category::PolicyRejected),
            Refusal::Postscreen => ("550", "5.7.1", Category::Blocklisted),
            Refusal::Spamcop => ("554", "5.7.1", Category::Blocklisted),
            Refusal::Greylist => ("450", "4.2.0", Category::Greylisted),
        };
        Failure {
            code,
            enhanced,
            category,
            incident: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Refused {
    addr: String,
    why: Refusal,
    /// After the first accepted RCPT: the line carries the queue id.
    queued: bool,
}

// ---------------------------------------------------------------------------
// Messages and plans.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// From the Internet through postscreen (sender domain index).
    Inbound(u8),
    /// Authenticated submission on port 587 by a local user.
    Submission(u8),
    /// The helpdesk web application (`sendmail`, uid 33).
    Helpdesk,
    /// A cron job (`sendmail`, uid 0).
    Cron,
    /// A bounce or delay notification.
    Notification { delay: bool },
    /// An SMTP session whose recipients were all refused: from a remote
    /// domain (greylisting) or a bot (index into [`BOT_CLIENTS`]).
    Refused { domain: Option<u8>, bot: u8 },
}

/// Result of one delivery attempt for one recipient.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Res {
    Sent,
    Deferred(Why),
    Bounced(Why),
    /// Deferred by the `error` agent because the destination is marked dead.
    Suspended(Why),
}

/// One delivery status line. Times in µs; `active` is the qmgr line of the
/// pass, `b`/`c`/`d` the `delays=` parts after it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Dlv {
    r: u8,
    g: u8,
    /// First line of this agent's session: a new process may serve it.
    first: bool,
    res: Res,
    active: i64,
    b: i64,
    c: i64,
    d: i64,
    conn_use: u8,
}

#[derive(Debug)]
enum Spawn {
    /// A bounce (`delay == false`) or delay notification to the sender.
    Notify {
        delay: bool,
        rcpt: Rcpt,
        active_at: i64,
    },
    /// A greylisted client coming back.
    Inbound {
        from_domain: u8,
        sender: String,
        rcpt: Rcpt,
    },
}

#[derive(Debug)]
enum K {
    PsConnect,
    PsPass,
    PsDnsbl,
    PsDisconnect,
    Connect,
    SmtpdTls,
    Client,
    Pickup,
    Refuse(u8),
    Cleanup,
    Subject,
    Hold,
    Active,
    Disconnect,
    /// smtp client TLS line opening group `g`'s session to domain `d`.
    SmtpTls(u8, u8),
    /// `connect to …` line of group `g` (domain `d`).
    ConnFail(u8, u8, Why),
    Dlv(Dlv),
    Expired {
        forced: bool,
    },
    Notify {
        delay: bool,
    },
    Removed,
    AdminRemove,
    AdminHold,
    AdminExpire,
    Released,
    Spawn(Box<Spawn>),
    Done,
}

#[derive(Debug)]
struct Ev {
    t: i64,
    k: K,
}

/// Most delivery groups of one message (one per agent and destination).
const MAX_GROUPS: usize = 8;

struct Msg {
    host: u8,
    id: Option<QueueId>,
    /// Reuse this id (a short id of another host) instead of a new one.
    forced_id: Option<QueueId>,
    origin: Origin,
    sender: String,
    sender_target: Option<(Target, Fate)>,
    size: u32,
    /// The Subject header as logged (RFC 2047 encoded when not ASCII).
    subject: Option<String>,
    /// Message-ID without angle brackets; empty until cleanup makes one up.
    message_id: String,
    tls: bool,
    hold: bool,
    created: i64,
    received: i64,
    client_ip: u8,
    port: u16,
    rcpts: Vec<Rcpt>,
    refused: Vec<Refused>,
    events: Vec<Ev>,
    cursor: usize,
    // Filled while rendering.
    smtpd_pid: u32,
    cleanup_pid: u32,
    gpid: [u32; MAX_GROUPS],
    child: Option<QueueId>,
    frozen: bool,
    completed: bool,
    seen: bool,
}

impl Msg {
    fn blank(host: u8, origin: Origin) -> Self {
        Msg {
            host,
            id: None,
            forced_id: None,
            origin,
            sender: String::new(),
            sender_target: None,
            size: 0,
            subject: None,
            message_id: String::new(),
            tls: false,
            hold: false,
            created: 0,
            received: 0,
            client_ip: 0,
            port: 0,
            rcpts: Vec::new(),
            refused: Vec::new(),
            events: Vec::new(),
            cursor: 0,
            smtpd_pid: 0,
            cleanup_pid: 0,
            gpid: [0; MAX_GROUPS],
            child: None,
            frozen: false,
            completed: false,
            seen: false,
        }
    }

    fn notification(&self) -> bool {
        matches!(self.origin, Origin::Notification { .. })
    }
}

/// The delivery agent (and destination) that serves a group of recipients.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Agent {
    Smtp(u8),
    Lmtp,
    Local,
    Pipe,
    Error,
}

fn agent_of(r: &Rcpt) -> Agent {
    match r.target {
        Target::Remote(d) => Agent::Smtp(d),
        Target::Local(LocalKind::Pipe) => Agent::Pipe,
        Target::Local(LocalKind::Unknown) => Agent::Error,
        // A mailbox of the host itself (`root@smtp1.example.com`): local(8).
        Target::Local(_) if r.domain() != OUR_DOMAIN => Agent::Local,
        Target::Local(_) => Agent::Lmtp,
    }
}

struct Group {
    agent: Agent,
    rcpts: Vec<u8>,
    done: Vec<bool>,
    /// Real attempts so far (suspended retries do not count).
    real: u32,
}

impl Group {
    fn finished(&self) -> bool {
        self.done.iter().all(|&d| d)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Admin {
    Remove,
    Hold,
    Expire,
}

/// A message of the first host whose short id another host may reuse.
struct Recent {
    id: QueueId,
    done: i64,
    addrs: Vec<String>,
}

// ---------------------------------------------------------------------------
// Planning.

struct PlanHost {
    inodes: u32,
    /// First deferred-queue scan.
    qfirst: i64,
}

struct Planner {
    rng: Rng,
    start: i64,
    end: i64,
    onset: i64,
    recovery: i64,
    quota: (i64, i64),
    long_ids: bool,
    names: Vec<HostName>,
    hosts: Vec<PlanHost>,
    tickets: Vec<Ticket>,
    yymm: String,
    recent: VecDeque<Recent>,
}

/// The header as a mail client writes it: RFC 2047 `Q` encoding when it is
/// not plain ASCII.
fn encode_header(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for &b in s.as_bytes() {
        match b {
            b' ' => out.push('_'),
            b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

impl Planner {
    fn incident(&self, t: i64) -> bool {
        t >= self.onset && t < self.recovery
    }

    fn next_scan(&self, host: u8, t: i64) -> i64 {
        let first = self.hosts[usize::from(host)].qfirst;
        if t <= first {
            return first;
        }
        first + (t - first + SCAN_INTERVAL - 1) / SCAN_INTERVAL * SCAN_INTERVAL
    }

    /// The id of a queue file created at `t` on `host`. Inodes are a
    /// permutation of a per-host range, so ids never repeat within a log.
    fn new_id(&mut self, host: u8, t: i64) -> QueueId {
        let h = &mut self.hosts[usize::from(host)];
        h.inodes += 1;
        let inode = ((u64::from(host) + 1) << 24)
            | (u64::from(h.inodes).wrapping_mul(0x9E37_79B1) & 0xFF_FFFF);
        let usec = t.rem_euclid(SEC) as u32;
        if self.long_ids {
            QueueId::long(t.div_euclid(SEC), usec, inode)
        } else {
            QueueId::short(usec, inode)
        }
    }

    /// The queue file of `m` is created at `t`.
    fn create(&mut self, m: &mut Msg, t: i64) {
        m.created = t;
        let id = match m.forced_id {
            Some(id) => id,
            None => self.new_id(m.host, t),
        };
        m.id = Some(id);
        if m.message_id.is_empty() {
            // cleanup adds one: `<YYYYMMDDHHMMSS.QUEUEID@myhostname>` in UTC,
            // or `<QUEUEID@myhostname>` with long queue ids.
            let fqdn = &self.names[usize::from(m.host)].fqdn;
            m.message_id = if self.long_ids {
                format!("{}@{fqdn}", id.as_str())
            } else {
                let s = rfc3339(t);
                let digits: String = s[..19].chars().filter(char::is_ascii_digit).collect();
                format!("{digits}.{}@{fqdn}", id.as_str())
            };
        }
    }

    /// A new message arriving at `t`.
    fn new_message(&mut self, t: i64) -> Msg {
        let host = self.rng.below(self.names.len() as u64) as u8;
        let kind = self.rng.weighted(&[38, 34, 16, 4, 8]);
        let origin = match kind {
            0 => Origin::Inbound(self.rng.weighted(&remote_weights(false)) as u8),
            1 | 4 => Origin::Submission(self.rng.below(USERS.len() as u64) as u8),
            2 => Origin::Helpdesk,
            _ => Origin::Cron,
        };
        let mut m = Msg::blank(host, origin);
        m.size = self.rng.range(900, 60_000) as u32;
        m.port = self.rng.range(32_768, 61_000) as u16;
        let epoch = t.div_euclid(SEC);
        match origin {
            Origin::Inbound(d) => {
                let dd = &DOMAINS[usize::from(d)];
                let lp = *self.rng.pick(REMOTE_LOCAL);
                m.sender = format!("{lp}@{}", dd.name);
                let bogus = self.rng.chance(0.08);
                m.sender_target = Some((
                    Target::Remote(d),
                    if bogus { Fate::Unknown } else { Fate::Ok },
                ));
                m.tls = dd.tls != Tls::None;
                if self.rng.chance(0.3) && !self.tickets.is_empty() {
                    // A customer replying to a ticket, to the support pipe.
                    let ti = self.rng.below(self.tickets.len() as u64) as usize;
                    let tk = &self.tickets[ti];
                    m.subject = Some(format!(
                        "Re: [#{}-{:04}] {}",
                        self.yymm, tk.number, tk.subject
                    ));
                    m.sender = tk.customer.clone();
                    let cd = tk.domain;
                    m.origin = Origin::Inbound(cd);
                    m.tls = DOMAINS[usize::from(cd)].tls != Tls::None;
                    m.sender_target = Some((Target::Remote(cd), Fate::Ok));
                    let fail = self.rng.chance(0.12);
                    m.rcpts.push(Rcpt::new(
                        format!("support@{OUR_DOMAIN}"),
                        Target::Local(LocalKind::Pipe),
                        Fate::Ok,
                        fail,
                    ));
                    m.message_id = world::uuid_mid(&mut self.rng, DOMAINS[usize::from(cd)].name);
                } else {
                    m.subject = Some(world::subject(&mut self.rng));
                    let n = 1 + usize::from(self.rng.chance(0.25));
                    for _ in 0..n {
                        let r = world::local_rcpt(&mut self.rng, false);
                        if !m.rcpts.iter().any(|x| x.addr == r.addr) {
                            m.rcpts.push(r);
                        }
                    }
                    m.message_id =
                        format!("{:016X}.{}@{}", self.rng.next_u64(), epoch, dd.out_host);
                    if self.rng.chance(0.05) {
                        // A recipient that does not exist, after a valid one.
                        let lp = *self.rng.pick(world::UNKNOWN_LOCAL);
                        m.refused.push(Refused {
                            addr: format!("{lp}@{OUR_DOMAIN}"),
                            why: Refusal::UnknownUser,
                            queued: true,
                        });
                    }
                }
                // header_checks: `/^Subject:.*Invoice/ HOLD quarantined for review`.
                m.hold = m.rcpts.len() == 1
                    && m.subject.as_deref().is_some_and(|s| s.contains("Invoice"));
            }
            Origin::Submission(u) => {
                m.sender = format!("{}@{OUR_DOMAIN}", USERS[usize::from(u)]);
                m.sender_target = Some((Target::Local(LocalKind::User(u)), Fate::Ok));
                m.client_ip = self.rng.range(101, 141) as u8;
                m.tls = true;
                m.subject = Some(world::subject(&mut self.rng));
                m.message_id = world::uuid_mid(&mut self.rng, OUR_DOMAIN);
                let n = *self.rng.pick(&[1usize, 1, 1, 2, 2, 3, 4]);
                let w = remote_weights(false);
                let mut first_dom = None;
                let mut content_reject = false;
                for _ in 0..n {
                    let r = if self.rng.chance(0.2) {
                        world::local_rcpt(&mut self.rng, true)
                    } else {
                        let same = first_dom.filter(|_| self.rng.chance(0.45));
                        let r = world::remote_rcpt(&mut self.rng, &w, same);
                        if let Target::Remote(d) = r.target {
                            first_dom.get_or_insert(d);
                        }
                        r
                    };
                    if m.rcpts.iter().any(|x| x.addr == r.addr)
                        || m.refused.iter().any(|x| x.addr == r.addr)
                    {
                        continue;
                    }
                    if r.target == Target::Local(LocalKind::Unknown) {
                        // smtpd knows the virtual mailboxes: refused at RCPT.
                        m.refused.push(Refused {
                            addr: r.addr,
                            why: Refusal::UnknownUser,
                            queued: !m.rcpts.is_empty(),
                        });
                        continue;
                    }
                    if matches!(r.target, Target::Remote(d) if DOMAINS[usize::from(d)].kind == DKind::Strict)
                    {
                        content_reject = true;
                    }
                    m.rcpts.push(r);
                }
                if content_reject && self.rng.chance(0.3) {
                    let why = if self.rng.chance(0.5) {
                        Why::Spam
                    } else {
                        Why::Dmarc
                    };
                    for r in &mut m.rcpts {
                        if matches!(r.target, Target::Remote(d) if DOMAINS[usize::from(d)].kind == DKind::Strict)
                            && r.fate == Fate::Ok
                        {
                            r.content = Some(why);
                        }
                    }
                }
            }
            Origin::Helpdesk => {
                m.sender = format!("helpdesk@{OUR_DOMAIN}");
                m.sender_target = Some((
                    Target::Local(LocalKind::User(USERS.len() as u8 - 1)),
                    Fate::Ok,
                ));
                let ti = self.rng.below(self.tickets.len() as u64) as usize;
                let tk = &self.tickets[ti];
                let tid = format!("{}-{:04}", self.yymm, tk.number);
                m.subject = Some(if self.rng.chance(0.2) {
                    format!("[#{tid}] Ticket received: {}", tk.subject)
                } else {
                    format!("Re: [#{tid}] {}", tk.subject)
                });
                m.message_id = format!("ticket-{tid}.{epoch}@helpdesk.{OUR_DOMAIN}");
                let mut r = Rcpt::new(
                    tk.customer.clone(),
                    Target::Remote(tk.domain),
                    Fate::Ok,
                    false,
                );
                if self.rng.chance(0.04) {
                    r.fate = Fate::Unknown;
                }
                m.rcpts.push(r);
            }
            _ => {
                let root = world::ALIASES
                    .iter()
                    .position(|&(a, _)| a == "root")
                    .unwrap_or(0) as u8;
                m.sender = format!("root@{OUR_DOMAIN}");
                m.sender_target = Some((Target::Local(LocalKind::Alias(root, 0)), Fate::Ok));
                let host = &self.names[usize::from(host)].name;
                m.subject = Some(match self.rng.below(3) {
                    0 => format!("Cron <root@{host}> /usr/local/sbin/check-backups"),
                    1 => format!(
                        "Cron <root@{host}> test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily"
                    ),
                    _ => format!("*** SECURITY information for {host}.{OUR_DOMAIN} ***"),
                });
                let r = if self.rng.chance(0.5) {
                    // root's own mailbox on the host: local(8).
                    Rcpt::new(
                        format!("root@{host}.{OUR_DOMAIN}"),
                        Target::Local(LocalKind::User(0)),
                        Fate::Ok,
                        false,
                    )
                } else {
                    world::local_rcpt(&mut self.rng, true)
                };
                m.rcpts.push(r);
            }
        }
        if m.rcpts.is_empty() && m.refused.is_empty() {
            m.rcpts.push(world::user_rcpt(1));
        }
        // A share of messages without a Subject header (no header_checks line).
        if self.rng.chance(0.08) && !m.hold && !matches!(m.origin, Origin::Helpdesk) {
            m.subject = None;
        }
        m.subject = m.subject.as_deref().map(encode_header);
        if self.names.len() > 1 && !self.long_ids && host > 0 && !m.rcpts.is_empty() {
            self.maybe_collide(&mut m, t);
        }
        self.plan(&mut m, t, None);
        if host == 0 && !self.long_ids && self.names.len() > 1 && m.id.is_some() {
            self.remember(&m);
        }
        m
    }

    /// Reuses the short id of a message still queued on the first host.
    fn maybe_collide(&mut self, m: &mut Msg, t: i64) {
        if !self.rng.chance(COLLISION_SHARE) {
            return;
        }
        while self.recent.front().is_some_and(|r| r.done < t + MIN) {
            self.recent.pop_front();
        }
        let mine: Vec<String> = m
            .rcpts
            .iter()
            .map(|r| lower(&r.addr))
            .chain(m.refused.iter().map(|r| lower(&r.addr)))
            .collect();
        let found = self
            .recent
            .iter()
            .position(|r| r.done > t + MIN && !r.addrs.iter().any(|a| mine.contains(a)));
        if let Some(i) = found
            && let Some(r) = self.recent.remove(i)
        {
            m.forced_id = Some(r.id);
        }
    }

    fn remember(&mut self, m: &Msg) {
        let (Some(id), Some(last)) = (m.id, m.events.last()) else {
            return;
        };
        if self.recent.len() >= 256 {
            self.recent.pop_front();
        }
        let addrs = m
            .rcpts
            .iter()
            .map(|r| lower(&r.addr))
            .chain(m.refused.iter().map(|r| lower(&r.addr)))
            .collect();
        // Kept in order of creation; `done` only filters.
        self.recent.push_back(Recent {
            id,
            done: last.t,
            addrs,
        });
    }

    /// A notification or a returning greylisted client, created at `t`.
    fn child(&mut self, host: u8, spawn: Spawn, t: i64) -> Msg {
        match spawn {
            Spawn::Notify {
                delay,
                rcpt,
                active_at,
            } => {
                let mut m = Msg::blank(host, Origin::Notification { delay });
                m.size = self.rng.range(1_800, 40_000) as u32;
                m.rcpts.push(rcpt);
                self.plan(&mut m, t, Some(active_at));
                m
            }
            Spawn::Inbound {
                from_domain,
                sender,
                rcpt,
            } => {
                let mut m = Msg::blank(host, Origin::Inbound(from_domain));
                let dd = &DOMAINS[usize::from(from_domain)];
                m.sender = sender;
                m.sender_target = Some((Target::Remote(from_domain), Fate::Ok));
                m.tls = dd.tls != Tls::None;
                m.size = self.rng.range(900, 30_000) as u32;
                m.port = self.rng.range(32_768, 61_000) as u16;
                m.subject = Some(encode_header(&world::subject(&mut self.rng)));
                m.message_id = world::uuid_mid(&mut self.rng, dd.name);
                m.rcpts.push(rcpt);
                self.plan(&mut m, t, None);
                m
            }
        }
    }

    /// An SMTP session whose only recipient is refused.
    fn refusal(&mut self, t: i64) -> Msg {
        let host = self.rng.below(self.names.len() as u64) as u8;
        let why = match self.rng.weighted(&[40, 12, 18, 10, 15]) {
            0 => Refusal::UnknownUser,
            1 => Refusal::SenderDomain,
            2 => Refusal::Postscreen,
            3 => Refusal::Spamcop,
            _ => Refusal::Greylist,
        };
        let bot = self.rng.below(BOT_CLIENTS.len() as u64) as u8;
        let domain =
            (why == Refusal::Greylist).then(|| self.rng.weighted(&remote_weights(false)) as u8);
        let mut m = Msg::blank(host, Origin::Refused { domain, bot });
        m.port = self.rng.range(32_768, 61_000) as u16;
        m.client_ip = self.rng.range(150, 250) as u8;
        m.sender = match domain {
            Some(d) => format!(
                "{}@{}",
                self.rng.pick(REMOTE_LOCAL),
                DOMAINS[usize::from(d)].name
            ),
            None => (*self.rng.pick(SPAM_SENDERS)).to_owned(),
        };
        m.tls = domain.is_some_and(|d| DOMAINS[usize::from(d)].tls != Tls::None);
        let user = self.rng.below(USERS.len() as u64) as u8;
        let addr = if why == Refusal::UnknownUser {
            format!("{}@{OUR_DOMAIN}", self.rng.pick(world::UNKNOWN_LOCAL))
        } else {
            format!("{}@{OUR_DOMAIN}", USERS[usize::from(user)])
        };
        m.refused.push(Refused {
            addr,
            why,
            queued: false,
        });
        let mut ev = Vec::with_capacity(8);
        let mut t1 = t;
        ev.push(Ev { t, k: K::PsConnect });
        if why == Refusal::Postscreen {
            t1 += self.rng.range(20_000, 400_000);
            ev.push(Ev {
                t: t1,
                k: K::PsDnsbl,
            });
            t1 += self.rng.range(SEC, 6 * SEC);
            ev.push(Ev {
                t: t1,
                k: K::Refuse(0),
            });
            ev.push(Ev {
                t: t1 + self.rng.range(10_000, 900_000),
                k: K::PsDisconnect,
            });
        } else {
            t1 += self.rng.range(300, 3_000);
            ev.push(Ev {
                t: t1,
                k: K::PsPass,
            });
            t1 += self.rng.range(2_000, 20_000);
            ev.push(Ev {
                t: t1,
                k: K::Connect,
            });
            if m.tls {
                t1 += self.rng.range(30_000, 250_000);
                ev.push(Ev {
                    t: t1,
                    k: K::SmtpdTls,
                });
            }
            t1 += self.rng.range(SEC / 2, 3 * SEC);
            ev.push(Ev {
                t: t1,
                k: K::Refuse(0),
            });
            ev.push(Ev {
                t: t1 + self.rng.range(10_000, 900_000),
                k: K::Disconnect,
            });
        }
        if let (Refusal::Greylist, Some(d)) = (why, domain) {
            // The greylisted client comes back and is accepted.
            let back = t1 + self.rng.range(6 * MIN, 25 * MIN);
            let r = world::user_rcpt(user);
            ev.push(Ev {
                t: back,
                k: K::Spawn(Box::new(Spawn::Inbound {
                    from_domain: d,
                    sender: m.sender.clone(),
                    rcpt: r,
                })),
            });
        }
        m.events = ev;
        m
    }

    /// Builds the complete event plan of `m`; `t0` is its first instant.
    /// Notifications pass the time of their first qmgr line.
    fn plan(&mut self, m: &mut Msg, t0: i64, active_at: Option<i64>) {
        let mut ev: Vec<Ev> = Vec::with_capacity(16);
        let active = match m.origin {
            Origin::Inbound(_) | Origin::Submission(_) => self.smtp_reception(m, t0, &mut ev),
            Origin::Helpdesk | Origin::Cron => Some(self.pickup_reception(m, t0, &mut ev)),
            Origin::Notification { .. } => {
                self.create(m, t0);
                ev.push(Ev {
                    t: t0 + self.rng.range(200, 1_000),
                    k: K::Cleanup,
                });
                let at = active_at.unwrap_or(t0 + 3_000);
                ev.push(Ev {
                    t: at,
                    k: K::Active,
                });
                m.received = at;
                Some(at)
            }
            Origin::Refused { .. } => None,
        };
        if let Some(t) = active {
            self.deliveries(m, t, &mut ev);
        }
        ev.sort_by_key(|e| e.t);
        m.events = ev;
    }

    /// postscreen, smtpd, cleanup and the first qmgr line of a message
    /// received over SMTP; returns the time of that qmgr line (or of the
    /// hold), `None` when every recipient was refused.
    fn smtp_reception(&mut self, m: &mut Msg, t0: i64, ev: &mut Vec<Ev>) -> Option<i64> {
        let mut t = t0;
        if matches!(m.origin, Origin::Inbound(_)) {
            ev.push(Ev { t, k: K::PsConnect });
            t += self.rng.range(300, 3_000);
            ev.push(Ev { t, k: K::PsPass });
            t += self.rng.range(2_000, 20_000);
        }
        ev.push(Ev { t, k: K::Connect });
        if m.tls {
            t += self.rng.range(30_000, 250_000);
            ev.push(Ev { t, k: K::SmtpdTls });
        }
        t += self.rng.range(100_000, 800_000);
        for i in 0..m.refused.len() {
            if !m.refused[i].queued {
                ev.push(Ev {
                    t,
                    k: K::Refuse(i as u8),
                });
                t += self.rng.range(20_000, 300_000);
            }
        }
        if m.rcpts.is_empty() {
            ev.push(Ev {
                t: t + self.rng.range(10_000, 300_000),
                k: K::Disconnect,
            });
            return None;
        }
        self.create(m, t);
        t += self.rng.range(20, 300);
        ev.push(Ev { t, k: K::Client });
        m.received = t;
        for i in 0..m.refused.len() {
            if m.refused[i].queued {
                t += self.rng.range(5_000, 200_000);
                ev.push(Ev {
                    t,
                    k: K::Refuse(i as u8),
                });
            }
        }
        t += self.rng.range(200_000, 2_500_000);
        ev.push(Ev { t, k: K::Cleanup });
        t += self.rng.range(300, 3_000);
        if m.hold {
            ev.push(Ev { t, k: K::Hold });
        } else if m.subject.is_some() {
            ev.push(Ev { t, k: K::Subject });
        }
        t += self.rng.range(1_000, 6_000);
        let active = t;
        if !m.hold {
            ev.push(Ev { t, k: K::Active });
        }
        ev.push(Ev {
            t: t + self.rng.range(20_000, 400_000),
            k: K::Disconnect,
        });
        Some(active)
    }

    /// pickup, cleanup and the first qmgr line of locally submitted mail.
    fn pickup_reception(&mut self, m: &mut Msg, t0: i64, ev: &mut Vec<Ev>) -> i64 {
        self.create(m, t0);
        let mut t = t0 + self.rng.range(200, 3_000);
        ev.push(Ev { t, k: K::Pickup });
        m.received = t;
        t += self.rng.range(1_000, 15_000);
        ev.push(Ev { t, k: K::Cleanup });
        if m.subject.is_some() {
            t += self.rng.range(300, 2_000);
            ev.push(Ev { t, k: K::Subject });
        }
        t += self.rng.range(1_000, 6_000);
        ev.push(Ev { t, k: K::Active });
        t
    }

    /// Delivery passes from the first qmgr line at `active` until the
    /// message leaves the queue or the log ends.
    fn deliveries(&mut self, m: &mut Msg, mut active: i64, ev: &mut Vec<Ev>) {
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in m.rcpts.iter().enumerate() {
            let agent = agent_of(r);
            match groups.iter_mut().find(|g| g.agent == agent) {
                Some(g) => {
                    g.rcpts.push(i as u8);
                    g.done.push(false);
                }
                None => groups.push(Group {
                    agent,
                    rcpts: vec![i as u8],
                    done: vec![false],
                    real: 0,
                }),
            }
        }
        debug_assert!(groups.len() <= MAX_GROUPS);
        if m.hold {
            // On hold until the administrator looks at it, if ever.
            let x = self.rng.unit();
            let at = active + self.rng.range(10 * MIN, 3 * HOUR);
            if x < 0.3 || at >= self.end {
                return;
            }
            if x < 0.5 {
                ev.push(Ev {
                    t: at,
                    k: K::AdminRemove,
                });
                return;
            }
            ev.push(Ev {
                t: at,
                k: K::Released,
            });
            active = at + self.rng.range(200_000, 5 * SEC);
            ev.push(Ev {
                t: active,
                k: K::Active,
            });
        }
        // Administrator intervention on messages stuck towards a dead host.
        let stuck = m.rcpts.iter().any(|r| {
            matches!(r.target, Target::Remote(d) if DOMAINS[usize::from(d)].outage.is_some_and(|o| o.1 > 1.0e6))
        });
        let admin = (stuck && !m.notification() && self.rng.chance(0.5)).then(|| {
            let action = match self.rng.weighted(&[40, 30, 30]) {
                0 => Admin::Remove,
                1 => Admin::Hold,
                _ => Admin::Expire,
            };
            (m.created + self.rng.range(2 * HOUR, 9 * HOUR), action)
        });
        let mut warned = false;
        loop {
            let mut t = active;
            let mut bounced = false;
            for (gi, g) in groups.iter_mut().enumerate() {
                if g.finished() {
                    continue;
                }
                let at = active + self.rng.range(1_000, 40_000);
                let (end, b) = self.attempt(m, gi as u8, g, active, at, ev);
                t = t.max(end);
                bounced |= b;
            }
            let deferred = groups.iter().any(|g| !g.finished());
            if bounced {
                self.notify(m, false, &mut t, ev);
            }
            if deferred && t - m.created >= LIFETIME {
                t += self.rng.range(1_000, 30_000);
                ev.push(Ev {
                    t,
                    k: K::Expired { forced: false },
                });
                self.notify(m, false, &mut t, ev);
                self.removed(&mut t, ev);
                return;
            }
            if deferred && !warned && t - m.created >= DELAY_WARNING {
                warned = true;
                self.notify(m, true, &mut t, ev);
            }
            if !deferred {
                self.removed(&mut t, ev);
                return;
            }
            let due = t + (t - m.created).clamp(MIN_BACKOFF, MAX_BACKOFF);
            let q = self.next_scan(m.host, due);
            if let Some((at, action)) = admin
                && at <= q
            {
                let at = at.max(t + SEC);
                if at >= self.end {
                    return;
                }
                match action {
                    Admin::Remove => ev.push(Ev {
                        t: at,
                        k: K::AdminRemove,
                    }),
                    Admin::Hold => ev.push(Ev {
                        t: at,
                        k: K::AdminHold,
                    }),
                    Admin::Expire => {
                        ev.push(Ev {
                            t: at,
                            k: K::AdminExpire,
                        });
                        let mut t = at + self.rng.range(5 * SEC, 60 * SEC);
                        ev.push(Ev {
                            t,
                            k: K::Expired { forced: true },
                        });
                        self.notify(m, false, &mut t, ev);
                        self.removed(&mut t, ev);
                    }
                }
                return;
            }
            if q >= self.end {
                return;
            }
            active = q + self.rng.range(50_000, 3 * SEC);
            ev.push(Ev {
                t: active,
                k: K::Active,
            });
        }
    }

    fn removed(&mut self, t: &mut i64, ev: &mut Vec<Ev>) {
        *t += self.rng.range(1_000, 8_000);
        ev.push(Ev {
            t: *t,
            k: K::Removed,
        });
    }

    /// A notification to the sender: the bounce daemon's new message (its
    /// cleanup line first), then this message's `notification:` line, then
    /// the new message's qmgr line.
    fn notify(&mut self, m: &Msg, delay: bool, t: &mut i64, ev: &mut Vec<Ev>) {
        let Some((target, fate)) = m.sender_target else {
            return;
        };
        if m.sender.is_empty() {
            return;
        }
        *t += self.rng.range(1_000, 20_000);
        let active_at = *t + self.rng.range(3_000, 6_000);
        ev.push(Ev {
            t: *t,
            k: K::Spawn(Box::new(Spawn::Notify {
                delay,
                rcpt: Rcpt::new(m.sender.clone(), target, fate, false),
                active_at,
            })),
        });
        ev.push(Ev {
            t: *t + 2_000,
            k: K::Notify { delay },
        });
        *t = active_at + 500;
    }

    /// One delivery attempt of group `gi` starting at `at` in the pass whose
    /// qmgr line was at `active`. Returns when its last line is written and
    /// whether a recipient bounced.
    fn attempt(
        &mut self,
        m: &Msg,
        gi: u8,
        g: &mut Group,
        active: i64,
        at: i64,
        ev: &mut Vec<Ev>,
    ) -> (i64, bool) {
        let pending: Vec<u8> = g
            .rcpts
            .iter()
            .zip(&g.done)
            .filter(|(_, d)| !**d)
            .map(|(&r, _)| r)
            .collect();
        let first_try = g.real == 0;
        let mut res: Vec<(u8, Res)> = Vec::with_capacity(pending.len());
        let (b, c, d, conn_use, mut first);
        match g.agent {
            Agent::Smtp(dom) => {
                let dd = &DOMAINS[usize::from(dom)];
                let incident = self.incident(at);
                let group_fail =
                    world::domain_failure(dd, self.start, at, incident, first_try, &mut self.rng);
                if let Some((w, _)) = group_fail
                    && w.is_connection()
                    && !first_try
                    && self.rng.chance(0.5)
                {
                    // The destination is marked dead: the retry service
                    // defers without a connection.
                    let mut t = at + self.rng.range(500, 8_000);
                    for (k, &r) in pending.iter().enumerate() {
                        ev.push(Ev {
                            t,
                            k: K::Dlv(Dlv {
                                r,
                                g: gi,
                                first: k == 0,
                                res: Res::Suspended(w),
                                active,
                                b: t - active,
                                c: 0,
                                d: 0,
                                conn_use: 0,
                            }),
                        });
                        t += self.rng.range(100, 2_000);
                    }
                    return (t, false);
                }
                b = at - active + self.rng.range(5_000, 60_000);
                first = true;
                match group_fail {
                    Some((w @ (Why::ConnTimeout | Why::ConnRefused), _)) => {
                        c = if w == Why::ConnTimeout {
                            CONNECT_TIMEOUT + self.rng.range(0, 40_000)
                        } else {
                            self.rng.range(1_000, 90_000)
                        };
                        d = 0;
                        conn_use = 0;
                        ev.push(Ev {
                            t: active + b + c,
                            k: K::ConnFail(gi, dom, w),
                        });
                        first = false;
                        res.extend(pending.iter().map(|&r| (r, Res::Deferred(w))));
                    }
                    Some((w @ (Why::DnsTemp | Why::Unrouteable), perm)) => {
                        c = self.rng.range(3_000, 700_000);
                        d = 0;
                        conn_use = 0;
                        let x = if perm {
                            Res::Bounced(w)
                        } else {
                            Res::Deferred(w)
                        };
                        res.extend(pending.iter().map(|&r| (r, x)));
                    }
                    _ => {
                        conn_use = if self.rng.chance(0.15) {
                            self.rng.range(2, 7) as u8
                        } else {
                            0
                        };
                        c = if conn_use > 0 {
                            self.rng.range(500, 20_000)
                        } else {
                            self.rng.range(120_000, 2_500_000)
                        };
                        if dd.tls != Tls::None && conn_use == 0 {
                            ev.push(Ev {
                                t: active + b + c,
                                k: K::SmtpTls(gi, dom),
                            });
                            first = false;
                        }
                        for &r in &pending {
                            let rc = &m.rcpts[usize::from(r)];
                            let x = match group_fail {
                                Some((w, true)) => Res::Bounced(w),
                                Some((w, false)) => Res::Deferred(w),
                                None => match rc.fate {
                                    Fate::Unknown if dd.confirm == world::Confirm::Outlook => {
                                        Res::Bounced(Why::OutlookUnknown)
                                    }
                                    Fate::Unknown => Res::Bounced(Why::UserUnknown),
                                    Fate::Full => Res::Bounced(Why::MailboxFull),
                                    Fate::Disabled => Res::Bounced(Why::Disabled),
                                    Fate::Ok if rc.quirk && first_try => {
                                        Res::Deferred(Why::RateLimit)
                                    }
                                    Fate::Ok => match rc.content {
                                        Some(w) => Res::Bounced(w),
                                        None => Res::Sent,
                                    },
                                },
                            };
                            res.push((r, x));
                        }
                        let all_refused_at_rcpt = res.iter().all(|(_, x)| {
                            matches!(x, Res::Bounced(w) | Res::Deferred(w) if !matches!(w, Why::Spam | Why::Dmarc))
                        });
                        d = if all_refused_at_rcpt {
                            self.rng.range(20_000, 300_000)
                        } else {
                            self.rng.range(80_000, 1_500_000) + i64::from(m.size) * 4
                        };
                    }
                }
            }
            Agent::Lmtp => {
                b = at - active + self.rng.range(2_000, 20_000);
                c = self.rng.range(1_000, 15_000);
                d = self.rng.range(10_000, 400_000);
                conn_use = 0;
                first = true;
                for &r in &pending {
                    let u = match m.rcpts[usize::from(r)].target {
                        Target::Local(LocalKind::User(u) | LocalKind::Alias(_, u)) => u,
                        _ => 0,
                    };
                    let full =
                        usize::from(u) == QUOTA_USER && at >= self.quota.0 && at < self.quota.1;
                    res.push((
                        r,
                        if full {
                            Res::Deferred(Why::LocalQuota)
                        } else {
                            Res::Sent
                        },
                    ));
                }
            }
            Agent::Local => {
                b = at - active + self.rng.range(2_000, 20_000);
                c = 0;
                d = self.rng.range(1_000, 60_000);
                conn_use = 0;
                first = true;
                res.extend(pending.iter().map(|&r| (r, Res::Sent)));
            }
            Agent::Pipe => {
                b = at - active + self.rng.range(2_000, 20_000);
                c = 0;
                d = self.rng.range(50_000, 2 * SEC);
                conn_use = 0;
                first = true;
                for &r in &pending {
                    let fail = m.rcpts[usize::from(r)].quirk;
                    res.push((
                        r,
                        if fail {
                            Res::Bounced(Why::PipeFail)
                        } else {
                            Res::Sent
                        },
                    ));
                }
            }
            Agent::Error => {
                b = at - active + self.rng.range(1_000, 10_000);
                c = 0;
                d = self.rng.range(0, 6_000);
                conn_use = 0;
                first = true;
                res.extend(pending.iter().map(|&r| (r, Res::Bounced(Why::NoSuchUser))));
            }
        }
        g.real += 1;
        let mut t = active + b + c + d;
        let mut bounced = false;
        for (r, x) in res {
            ev.push(Ev {
                t,
                k: K::Dlv(Dlv {
                    r,
                    g: gi,
                    first,
                    res: x,
                    active,
                    b,
                    c,
                    d,
                    conn_use,
                }),
            });
            first = false;
            let j = g.rcpts.iter().position(|&y| y == r).unwrap_or(0);
            match x {
                Res::Sent => g.done[j] = true,
                Res::Bounced(_) => {
                    g.done[j] = true;
                    bounced = true;
                }
                Res::Deferred(_) | Res::Suspended(_) => {}
            }
            t += self.rng.range(100, 3_000);
        }
        (t, bounced)
    }
}

// ---------------------------------------------------------------------------
// Rendering.

/// Postfix's `format_tv` with 2 significant digits and at most 2 decimals
/// (`delay_logging_resolution_limit = 2`): `0.35`, `3.1`, `30`, `122209`.
fn delay_text<W: Write>(o: &mut Out<W>, us: i64) {
    const MILLION: i64 = 1_000_000;
    const WID: i64 = 100;
    let us = us.max(0);
    let (mut sec, mut usec) = (us / MILLION, us % MILLION);
    let mut ures = MILLION / 100;
    if sec > 0 {
        let mut n = 1;
        while sec >= n && n <= WID / 10 {
            n *= 10;
        }
        ures = (MILLION / WID) * n;
    }
    if ures > 1 {
        usec += ures / 2;
        if usec >= MILLION {
            sec += 1;
            usec -= MILLION;
        }
    }
    o.num(sec as u64);
    if usec >= ures {
        o.buf.push(b'.');
        let (mut rem, mut n) = (usec, MILLION / 10);
        while rem >= ures && n > 0 {
            o.buf.push(b'0' + (rem / n) as u8);
            rem %= n;
            n /= 10;
        }
    }
}

/// Long-lived daemons and pools of reusable delivery processes of one host.
struct Procs {
    pids: Pids,
    master: u32,
    qmgr: u32,
    pickup: u32,
    postscreen: u32,
    anvil: u32,
    dnsblog: u32,
    tlsproxy: u32,
    pools: [Vec<u32>; POOLS],
    /// Last client connection: anvil reports only after activity.
    last_client: i64,
}

const POOLS: usize = 9;
const SMTPD: usize = 0;
const SUBMISSION: usize = 1;
const CLEANUP: usize = 2;
const SMTP: usize = 3;
const LMTP: usize = 4;
const ERROR: usize = 5;
const BOUNCE: usize = 6;
const PIPE: usize = 7;
const LOCAL: usize = 8;
const POOL_SIZE: [usize; POOLS] = [8, 3, 4, 12, 3, 2, 2, 2, 2];

impl Procs {
    fn new(rng: &mut Rng) -> Self {
        let mut pids = Pids(1_000 + rng.below(400_000) as u32);
        let mut next = || pids.next(rng);
        let (master, qmgr, pickup, postscreen, anvil, dnsblog, tlsproxy) =
            (next(), next(), next(), next(), next(), next(), next());
        Procs {
            pids,
            master,
            qmgr,
            pickup,
            postscreen,
            anvil,
            dnsblog,
            tlsproxy,
            pools: Default::default(),
            last_client: i64::MIN,
        }
    }

    /// A process of `pool`: mostly a running one (`max_use`, `max_idle`),
    /// now and then a fresh one.
    fn pid(&mut self, pool: usize, rng: &mut Rng) -> u32 {
        let size = POOL_SIZE[pool];
        if self.pools[pool].len() < size {
            let p = self.pids.next(rng);
            self.pools[pool].push(p);
            return p;
        }
        let i = rng.below(size as u64) as usize;
        if rng.chance(0.01) {
            self.pools[pool][i] = self.pids.next(rng);
        }
        self.pools[pool][i]
    }

    /// `postfix reload`: qmgr, pickup and the idle processes are replaced.
    fn reload(&mut self, rng: &mut Rng) {
        self.qmgr = self.pids.next(rng);
        self.pickup = self.pids.next(rng);
        self.pools.iter_mut().for_each(Vec::clear);
    }
}

struct Renderer<W: Write> {
    out: Out<W>,
    stamp: SyslogStamp,
    /// For time stamps inside lines (anvil).
    stamp2: SyslogStamp,
    rng: Rng,
    names: Vec<HostName>,
    procs: Vec<Procs>,
}

impl<W: Write> Renderer<W> {
    fn start(&mut self, t: i64, host: u8, tag: &str, pid: u32) {
        let o = &mut self.out;
        o.buf.clear();
        o.buf.extend_from_slice(self.stamp.stamp(t.div_euclid(SEC)));
        o.buf.push(b' ');
        o.s(&self.names[usize::from(host)].name)
            .s(" postfix/")
            .s(tag)
            .s("[")
            .num(u64::from(pid))
            .s("]: ");
    }

    fn qid(&mut self, m: &Msg) {
        if let Some(id) = &m.id {
            self.out.buf.extend_from_slice(id.as_bytes());
            self.out.s(": ");
        }
    }

    fn pid(&mut self, host: u8, pool: usize) -> u32 {
        self.procs[usize::from(host)].pid(pool, &mut self.rng)
    }

    /// The client as smtpd logs it: `host[addr]`.
    fn client(&mut self, m: &Msg) {
        match m.origin {
            Origin::Inbound(d)
            | Origin::Refused {
                domain: Some(d), ..
            } => {
                let dd = &DOMAINS[usize::from(d)];
                self.out.s(dd.out_host).s("[").s(dd.out_ip).s("]");
            }
            Origin::Submission(_) => {
                self.out
                    .s("unknown[203.0.113.")
                    .num(u64::from(m.client_ip))
                    .s("]");
            }
            Origin::Refused { bot, .. } => {
                self.out
                    .s(BOT_CLIENTS[usize::from(bot)].1)
                    .s("[192.0.2.")
                    .num(u64::from(m.client_ip))
                    .s("]");
            }
            _ => {}
        }
    }

    /// The client as postscreen logs it: `[addr]:port`.
    fn ps_client(&mut self, m: &Msg) {
        match m.origin {
            Origin::Inbound(d)
            | Origin::Refused {
                domain: Some(d), ..
            } => {
                self.out.s("[").s(DOMAINS[usize::from(d)].out_ip);
            }
            _ => {
                self.out.s("[192.0.2.").num(u64::from(m.client_ip));
            }
        }
        self.out.s("]:").num(u64::from(m.port));
    }

    fn helo(&mut self, m: &Msg) {
        match m.origin {
            Origin::Inbound(d)
            | Origin::Refused {
                domain: Some(d), ..
            } => {
                self.out.s(DOMAINS[usize::from(d)].out_host);
            }
            Origin::Submission(u) => {
                self.out.s(USERS[usize::from(u)]).s("-laptop");
            }
            Origin::Refused { bot, .. } => {
                self.out.s(BOT_CLIENTS[usize::from(bot)].0);
            }
            _ => {}
        }
    }

    fn smtpd_tag(m: &Msg) -> (&'static str, usize) {
        if matches!(m.origin, Origin::Submission(_)) {
            ("submission/smtpd", SUBMISSION)
        } else {
            ("smtpd", SMTPD)
        }
    }

    fn smtpd_start(&mut self, t: i64, m: &Msg) {
        let (tag, _) = Self::smtpd_tag(m);
        self.start(t, m.host, tag, m.smtpd_pid);
    }

    fn sender(&mut self, m: &Msg) {
        self.out.s("from=<").s(&m.sender).s(">");
    }

    /// `to=<final>[, orig_to=<original>]`.
    fn to(&mut self, r: &Rcpt) {
        match r.target {
            Target::Local(LocalKind::Alias(_, u)) => {
                self.out
                    .s("to=<")
                    .s(USERS[usize::from(u)])
                    .s("@")
                    .s(OUR_DOMAIN)
                    .s(">, orig_to=<")
                    .s(&r.addr)
                    .s(">");
            }
            Target::Local(LocalKind::Pipe) => {
                self.out
                    .s("to=<")
                    .s(r.local_part())
                    .s("@helpdesk.")
                    .s(OUR_DOMAIN)
                    .s(">, orig_to=<")
                    .s(&r.addr)
                    .s(">");
            }
            _ => {
                self.out.s("to=<").s(&r.addr).s(">");
            }
        }
    }

    /// The final address, as LMTP echoes it.
    fn final_addr(&mut self, r: &Rcpt) {
        match r.target {
            Target::Local(LocalKind::Alias(_, u)) => {
                self.out.s(USERS[usize::from(u)]).s("@").s(OUR_DOMAIN);
            }
            _ => {
                self.out.s(&r.addr);
            }
        }
    }

    fn mx(&mut self, d: &Domain) {
        self.out.s(d.mx).s("[").s(d.ip).s("]");
    }

    fn connect_text(&mut self, d: &Domain, why: Why) {
        self.out.s("connect to ");
        self.mx(d);
        self.out.s(":25: ").s(if why == Why::ConnRefused {
            "Connection refused"
        } else {
            "Connection timed out"
        });
    }

    fn lmtp_relay(&mut self, host: u8) {
        let o = &mut self.out;
        o.s(&self.names[usize::from(host)].fqdn)
            .s("[")
            .s(LMTP_SOCKET)
            .s("]");
    }

    /// Dovecot's LMTP session id (22 base64 characters).
    fn session_id(&mut self) {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        for i in 0..22 {
            let v = if i < 11 {
                a >> (6 * i)
            } else {
                b >> (6 * (i - 11))
            };
            self.out.buf.push(B64[(v & 63) as usize]);
        }
    }

    fn render(&mut self, m: &mut Msg, i: usize) -> io::Result<()> {
        let t = m.events[i].t;
        let host = m.host;
        match &m.events[i].k {
            K::PsConnect => {
                self.procs[usize::from(host)].last_client = t;
                let pid = self.procs[usize::from(host)].postscreen;
                self.start(t, host, "postscreen", pid);
                self.out.s("CONNECT from ");
                self.ps_client(m);
                let ip = &self.names[usize::from(host)].ip;
                self.out.s(" to [").s(ip).s("]:25");
            }
            K::PsPass => {
                let pid = self.procs[usize::from(host)].postscreen;
                self.start(t, host, "postscreen", pid);
                self.out.s(if m.port.is_multiple_of(10) {
                    "PASS NEW "
                } else {
                    "PASS OLD "
                });
                self.ps_client(m);
            }
            K::PsDnsbl => {
                let p = &self.procs[usize::from(host)];
                let (dnsblog, postscreen) = (p.dnsblog, p.postscreen);
                self.start(t, host, "dnsblog", dnsblog);
                self.out
                    .s("addr 192.0.2.")
                    .num(u64::from(m.client_ip))
                    .s(" listed by domain zen.spamhaus.org as 127.0.0.")
                    .num(2 + u64::from(m.client_ip % 3));
                self.out.end()?;
                self.start(t, host, "postscreen", postscreen);
                self.out.s("DNSBL rank 3 for ");
                self.ps_client(m);
            }
            K::PsDisconnect => {
                let pid = self.procs[usize::from(host)].postscreen;
                self.start(t, host, "postscreen", pid);
                self.out.s("DISCONNECT ");
                self.ps_client(m);
            }
            K::Connect => {
                self.procs[usize::from(host)].last_client = t;
                let (_, pool) = Self::smtpd_tag(m);
                m.smtpd_pid = self.pid(host, pool);
                self.smtpd_start(t, m);
                self.out.s("connect from ");
                self.client(m);
            }
            K::SmtpdTls => {
                self.smtpd_start(t, m);
                self.out.s("Anonymous TLS connection established from ");
                self.client(m);
                let v13 = match m.origin {
                    Origin::Inbound(d)
                    | Origin::Refused {
                        domain: Some(d), ..
                    } => DOMAINS[usize::from(d)].tls == Tls::V13,
                    _ => true,
                };
                self.out.s(": ").s(if v13 { TLS13 } else { TLS12 });
            }
            K::Client => {
                self.smtpd_start(t, m);
                self.qid(m);
                self.out.s("client=");
                self.client(m);
                if let Origin::Submission(u) = m.origin {
                    self.out
                        .s(", sasl_method=PLAIN, sasl_username=")
                        .s(USERS[usize::from(u)]);
                }
            }
            K::Pickup => {
                let pid = self.procs[usize::from(host)].pickup;
                self.start(t, host, "pickup", pid);
                self.qid(m);
                if matches!(m.origin, Origin::Helpdesk) {
                    self.out.s("uid=").num(HELPDESK_UID).s(" ");
                    self.sender(m);
                } else {
                    self.out.s("uid=0 from=<root>");
                }
            }
            K::Refuse(j) => {
                let rf = &m.refused[usize::from(*j)];
                let postscreen = rf.why == Refusal::Postscreen;
                if postscreen {
                    let pid = self.procs[usize::from(host)].postscreen;
                    self.start(t, host, "postscreen", pid);
                } else {
                    self.smtpd_start(t, m);
                }
                if rf.queued {
                    self.qid(m);
                } else {
                    self.out.s("NOQUEUE: ");
                }
                self.out.s("reject: RCPT from ");
                if postscreen {
                    self.ps_client(m);
                } else {
                    self.client(m);
                }
                let f = rf.why.failure();
                self.out.s(": ").s(f.code).s(" ").s(f.enhanced).s(" ");
                match rf.why {
                    Refusal::UnknownUser => {
                        self.out.s("<").s(&rf.addr).s(
                            ">: Recipient address rejected: User unknown in virtual mailbox table",
                        );
                    }
                    Refusal::SenderDomain => {
                        self.out
                            .s("<")
                            .s(&m.sender)
                            .s(">: Sender address rejected: Domain not found");
                    }
                    Refusal::Postscreen => {
                        self.out
                            .s("Service unavailable; client [192.0.2.")
                            .num(u64::from(m.client_ip))
                            .s("] blocked using zen.spamhaus.org");
                    }
                    Refusal::Spamcop => {
                        self.out
                            .s("Service unavailable; Client host [192.0.2.")
                            .num(u64::from(m.client_ip))
                            .s("] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.")
                            .num(u64::from(m.client_ip));
                    }
                    Refusal::Greylist => {
                        self.out.s("<").s(&rf.addr).s(">: Recipient address rejected: Greylisted, see https://postgrey.example.com/help/example.com.html");
                    }
                }
                let sep = if postscreen { ", " } else { " " };
                self.out.s("; ");
                self.sender(m);
                self.out.s(sep).s("to=<").s(&rf.addr).s(">");
                self.out.s(sep).s("proto=ESMTP").s(sep).s("helo=<");
                self.helo(m);
                self.out.s(">");
            }
            K::Cleanup => {
                m.cleanup_pid = self.pid(host, CLEANUP);
                self.start(t, host, "cleanup", m.cleanup_pid);
                self.qid(m);
                self.out.s("message-id=<").s(&m.message_id).s(">");
            }
            K::Subject | K::Hold => {
                let hold = matches!(m.events[i].k, K::Hold);
                self.start(t, host, "cleanup", m.cleanup_pid);
                self.qid(m);
                self.out.s(if hold { "hold: " } else { "warning: " });
                self.out
                    .s("header Subject: ")
                    .s(m.subject.as_deref().unwrap_or(""))
                    .s(" from ");
                let smtp = matches!(m.origin, Origin::Inbound(_) | Origin::Submission(_));
                if smtp {
                    self.client(m);
                } else {
                    self.out.s("local");
                }
                self.out.s("; ");
                self.sender(m);
                if let Some(r) = m.rcpts.first() {
                    self.out.s(" to=<").s(&r.addr).s(">");
                }
                if smtp {
                    self.out.s(" proto=ESMTP helo=<");
                    self.helo(m);
                    self.out.s(">");
                }
                if hold {
                    self.out.s(": quarantined for review");
                }
            }
            K::Active => {
                let pid = self.procs[usize::from(host)].qmgr;
                self.start(t, host, "qmgr", pid);
                self.qid(m);
                self.sender(m);
                self.out
                    .s(", size=")
                    .num(u64::from(m.size))
                    .s(", nrcpt=")
                    .num(m.rcpts.len() as u64)
                    .s(" (queue active)");
            }
            K::Disconnect => {
                self.smtpd_start(t, m);
                self.out.s("disconnect from ");
                self.client(m);
                let ok = m.rcpts.len() as u64;
                let bad = m.refused.len() as u64;
                let mut commands = 2 + ok; // EHLO, MAIL, RCPTs
                self.out.s(if m.tls { " ehlo=2" } else { " ehlo=1" });
                if m.tls {
                    self.out.s(" starttls=1");
                    commands += 2;
                }
                if matches!(m.origin, Origin::Submission(_)) {
                    self.out.s(" auth=1");
                    commands += 1;
                }
                self.out.s(" mail=1 rcpt=").num(ok);
                if bad > 0 {
                    self.out.s("/").num(ok + bad);
                }
                if ok > 0 {
                    self.out.s(" data=1");
                    commands += 1;
                }
                self.out.s(" quit=1 commands=").num(commands + 1);
                if bad > 0 {
                    self.out.s("/").num(commands + 1 + bad);
                }
            }
            K::SmtpTls(g, d) => {
                let pid = self.pid(host, SMTP);
                m.gpid[usize::from(*g)] = pid;
                self.start(t, host, "smtp", pid);
                let dd = &DOMAINS[usize::from(*d)];
                self.out.s(if dd.tls == Tls::V13 {
                    "Trusted TLS connection established to "
                } else {
                    "Untrusted TLS connection established to "
                });
                self.mx(dd);
                self.out
                    .s(":25: ")
                    .s(if dd.tls == Tls::V13 { TLS13 } else { TLS12 });
            }
            K::ConnFail(g, d, why) => {
                let pid = self.pid(host, SMTP);
                m.gpid[usize::from(*g)] = pid;
                self.start(t, host, "smtp", pid);
                self.connect_text(&DOMAINS[usize::from(*d)], *why);
            }
            K::Dlv(dl) => {
                let dl = *dl;
                return self.delivery(m, t, &dl);
            }
            K::Expired { forced } => {
                let pid = self.procs[usize::from(host)].qmgr;
                self.start(t, host, "qmgr", pid);
                self.qid(m);
                self.sender(m);
                self.out.s(if *forced {
                    ", status=force-expired, returned to sender"
                } else {
                    ", status=expired, returned to sender"
                });
            }
            K::Notify { delay } => {
                let pid = self.pid(host, BOUNCE);
                self.start(t, host, "bounce", pid);
                self.qid(m);
                self.out.s(if *delay {
                    "sender delay notification: "
                } else {
                    "sender non-delivery notification: "
                });
                if let Some(c) = &m.child {
                    self.out.buf.extend_from_slice(c.as_bytes());
                }
            }
            K::Removed => {
                let pid = self.procs[usize::from(host)].qmgr;
                self.start(t, host, "qmgr", pid);
                self.qid(m);
                self.out.s("removed");
            }
            K::AdminRemove | K::AdminHold | K::AdminExpire | K::Released => {
                let (what, summary) = match m.events[i].k {
                    K::AdminRemove => ("removed", "Deleted: 1 message"),
                    K::AdminHold => ("placed on hold", "Placed on hold: 1 message"),
                    K::AdminExpire => ("expired", "Force-expired: 1 message"),
                    _ => ("released from hold", "Released from hold: 1 message"),
                };
                let pid = self.procs[usize::from(host)].pids.next(&mut self.rng);
                self.start(t, host, "postsuper", pid);
                self.qid(m);
                self.out.s(what);
                self.out.end()?;
                self.start(t, host, "postsuper", pid);
                self.out.s(summary);
            }
            K::Spawn(_) | K::Done => return Ok(()),
        }
        self.out.end()
    }

    fn delivery(&mut self, m: &mut Msg, t: i64, dl: &Dlv) -> io::Result<()> {
        let host = m.host;
        let rc = &m.rcpts[usize::from(dl.r)];
        let agent = agent_of(rc);
        let (tag, pool) = match (agent, dl.res) {
            (_, Res::Suspended(_)) | (Agent::Error, _) => ("error", ERROR),
            (Agent::Smtp(_), _) => ("smtp", SMTP),
            (Agent::Lmtp, _) => ("lmtp", LMTP),
            (Agent::Local, _) => ("local", LOCAL),
            (Agent::Pipe, _) => ("pipe", PIPE),
        };
        let g = usize::from(dl.g);
        if dl.first {
            m.gpid[g] = self.pid(host, pool);
        }
        self.start(t, host, tag, m.gpid[g]);
        self.qid(m);
        self.to(rc);
        self.out.s(", relay=");
        let dom = match rc.target {
            Target::Remote(d) => Some(&DOMAINS[usize::from(d)]),
            _ => None,
        };
        let connected = match dl.res {
            Res::Suspended(_) => false,
            Res::Deferred(w) | Res::Bounced(w) => !matches!(
                w,
                Why::ConnTimeout | Why::ConnRefused | Why::DnsTemp | Why::Unrouteable
            ),
            Res::Sent => true,
        };
        match agent {
            Agent::Smtp(_) if connected => {
                if let Some(dd) = dom {
                    self.mx(dd);
                    self.out.s(":25");
                }
                if dl.conn_use > 1 {
                    self.out.s(", conn_use=").num(u64::from(dl.conn_use));
                }
            }
            Agent::Lmtp => self.lmtp_relay(host),
            Agent::Local => {
                self.out.s("local");
            }
            Agent::Pipe => {
                self.out.s(PIPE_SERVICE);
            }
            _ => {
                self.out.s("none");
            }
        }
        self.out.s(", delay=");
        delay_text(&mut self.out, t - m.created);
        self.out.s(", delays=");
        delay_text(&mut self.out, dl.active - m.created);
        self.out.s("/");
        delay_text(&mut self.out, dl.b);
        self.out.s("/");
        delay_text(&mut self.out, dl.c);
        self.out.s("/");
        delay_text(&mut self.out, dl.d);
        self.out.s(", dsn=");
        match dl.res {
            Res::Sent => {
                self.out.s("2.0.0, status=sent (");
                match agent {
                    Agent::Smtp(_) => {
                        if let Some(dd) = dom {
                            let mid = &m.message_id;
                            world::confirm_text(
                                &mut self.out,
                                &mut self.rng,
                                dd,
                                m.created,
                                m.size,
                                |o| {
                                    o.s(mid);
                                },
                            );
                        }
                    }
                    Agent::Local => {
                        self.out.s("delivered to mailbox");
                    }
                    Agent::Lmtp => {
                        self.out.s("250 2.0.0 <");
                        self.final_addr(rc);
                        self.out.s("> ");
                        self.session_id();
                        self.out.s(" Saved");
                    }
                    _ => {
                        self.out.s("delivered via ").s(PIPE_SERVICE).s(" service");
                    }
                }
            }
            Res::Deferred(w) | Res::Bounced(w) | Res::Suspended(w) => {
                let f = failure(w);
                self.out.s(f.enhanced).s(match dl.res {
                    Res::Bounced(_) => ", status=bounced (",
                    _ => ", status=deferred (",
                });
                if matches!(dl.res, Res::Suspended(_)) {
                    self.out.s("delivery temporarily suspended: ");
                }
                match w {
                    Why::ConnTimeout | Why::ConnRefused => {
                        if let Some(dd) = dom {
                            self.connect_text(dd, w);
                        }
                    }
                    Why::DnsTemp | Why::Unrouteable => {
                        self.out
                            .s("Host or domain name not found. Name service error for name=")
                            .s(rc.domain())
                            .s(if w == Why::DnsTemp {
                                " type=MX: Host not found, try again"
                            } else {
                                " type=MX: Host not found"
                            });
                    }
                    Why::NoSuchUser => {
                        self.out.s("User unknown in virtual mailbox table");
                    }
                    Why::PipeFail => {
                        self.out
                            .s("Command died with status 1: \"/usr/local/bin/")
                            .s(PIPE_SERVICE)
                            .s("\"");
                    }
                    Why::LocalQuota => {
                        self.out.s("host ");
                        self.lmtp_relay(host);
                        self.out.s(" said: 452 4.2.2 <");
                        self.final_addr(rc);
                        self.out.s("> Quota exceeded (mailbox for user is full) (in reply to end of DATA command)");
                    }
                    _ => {
                        if let Some(dd) = dom {
                            self.out.s("host ");
                            self.mx(dd);
                            self.out.s(" said: ");
                            let ip = &self.names[usize::from(host)].ip;
                            world::reply_text(&mut self.out, &mut self.rng, w, &rc.addr, ip, t);
                            self.out.s(if matches!(w, Why::Spam | Why::Dmarc) {
                                " (in reply to end of DATA command)"
                            } else {
                                " (in reply to RCPT TO command)"
                            });
                        }
                    }
                }
            }
        }
        self.out.s(")");
        self.out.end()
    }
}

// ---------------------------------------------------------------------------
// The event loop.

/// One line of a multi-line noise session, scheduled like any event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct NoiseStep {
    host: u8,
    kind: u8,
    step: u8,
    ip: u8,
    port: u16,
    pid: u32,
}

/// Postfix's own scheduled items, besides those of [`sched::Event`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Item {
    NoiseStep(NoiseStep),
    Anvil(u8),
    Reload(u8),
}

const ANVIL_INTERVAL: i64 = 10 * MIN;

struct Sim<L: Write, T: Write> {
    planner: Planner,
    render: Renderer<L>,
    truth: TruthSink<T>,
    queue: Queue<Item, Msg>,
    noise_rng: Rng,
    end: i64,
}

impl Queued for Msg {
    fn first_event(&self) -> Option<i64> {
        self.events.first().map(|e| e.t)
    }
}

impl<L: Write, T: Write> Driver for Sim<L, T> {
    type Own = Item;
    type Msg = Msg;

    fn queue(&mut self) -> &mut Queue<Item, Msg> {
        &mut self.queue
    }

    fn arrival(&mut self, t: i64) -> Msg {
        self.planner.new_message(t)
    }

    fn refusal(&mut self, t: i64) -> Msg {
        self.planner.refusal(t)
    }

    fn noise(&mut self, t: i64) -> io::Result<()> {
        self.noise_start(t)
    }

    fn step(&mut self, slot: u32, now: i64) -> io::Result<()> {
        let Some(m) = self.queue.get_mut(slot) else {
            return Ok(());
        };
        let i = m.cursor;
        m.cursor += 1;
        self.render.render(m, i)?;
        let mut spawn = None;
        let mut finished = false;
        match &m.events[i].k {
            K::Active => m.seen = true,
            K::Hold => {
                m.seen = true;
                m.frozen = true;
            }
            K::Dlv(d) => {
                let rc = &mut m.rcpts[usize::from(d.r)];
                match d.res {
                    Res::Sent => {
                        rc.truth.delivered(now);
                        if let Target::Remote(dom) = rc.target
                            && matches!(
                                DOMAINS[usize::from(dom)].kind,
                                DKind::Outlook550 | DKind::OutlookTemp | DKind::RblTemp
                            )
                        {
                            self.truth.summary.incident_provider_delivery(now);
                        }
                    }
                    Res::Deferred(w) => {
                        let f = failure(w);
                        rc.truth.deferred(now, f);
                        self.truth.summary.incident_failure(now, f);
                    }
                    Res::Bounced(w) => {
                        let f = failure(w);
                        rc.truth.failed(now, f);
                        self.truth.summary.incident_failure(now, f);
                    }
                    // Not an attempt: the destination was not tried.
                    Res::Suspended(_) => {}
                }
            }
            K::Expired { .. } => {
                for r in &mut m.rcpts {
                    if r.truth.st == St::Deferred {
                        r.truth.expired_in_queue(now);
                    }
                }
            }
            K::AdminHold => m.frozen = true,
            K::Released => m.frozen = false,
            K::AdminRemove => {
                m.rcpts.iter_mut().for_each(|r| r.truth.removed());
                m.completed = true;
                finished = true;
            }
            K::Removed => {
                m.completed = true;
                finished = true;
            }
            K::Refuse(j) => {
                let rf = &m.refused[usize::from(*j)];
                let qid = match (&m.id, rf.queued) {
                    (Some(id), true) => id.as_str(),
                    _ => "",
                };
                self.truth.rejected(now, qid, &rf.addr, rf.why.failure())?;
            }
            K::Spawn(_) => {
                if let K::Spawn(s) = std::mem::replace(&mut m.events[i].k, K::Done) {
                    spawn = Some(*s);
                }
            }
            _ => {}
        }
        let host = m.host;
        let next = m.events.get(m.cursor).filter(|_| !finished).map(|e| e.t);
        let release = finished || m.id.is_none();
        if let Some(m) = self.queue.settle(slot, next, release) {
            self.finish(&m)?;
        }
        if let Some(s) = spawn {
            let child = self.planner.child(host, s, now);
            let id = child.id;
            self.queue.insert(child);
            if let Some(m) = self.queue.get_mut(slot) {
                m.child = id;
            }
        }
        Ok(())
    }

    fn own(&mut self, item: Item, t: i64) -> io::Result<()> {
        match item {
            Item::NoiseStep(s) => self.noise_line(t, s),
            Item::Anvil(h) => {
                self.anvil(t, h)?;
                self.queue.own(t + ANVIL_INTERVAL, Item::Anvil(h));
                Ok(())
            }
            Item::Reload(h) => {
                self.reload(t, h)?;
                self.queue.own(t + 24 * HOUR, Item::Reload(h));
                Ok(())
            }
        }
    }
}

impl<L: Write, T: Write> Sim<L, T> {
    fn finish(&mut self, m: &Msg) -> io::Result<()> {
        let Some(id) = &m.id else { return Ok(()) };
        if !m.seen {
            return Ok(());
        }
        let rows = MessageRows {
            queue_id: id.as_str(),
            notification: m.notification(),
            received_at: Some(m.received),
            subject: m.subject.as_deref(),
            message_id: Some(&m.message_id),
            completed: m.completed,
            frozen: m.frozen,
        };
        self.truth
            .message(&rows, m.rcpts.iter().map(|r| (r.addr.as_str(), &r.truth)))
    }

    /// Starts a noise session: bots, scanners, password guessers.
    fn noise_start(&mut self, t: i64) -> io::Result<()> {
        let r = &mut self.noise_rng;
        let host = r.below(self.render.names.len() as u64) as u8;
        let kind = r.weighted(&[20, 15, 12, 18, 15, 8, 6]) as u8;
        let ip = r.range(150, 250) as u8;
        let port = r.range(1025, 65_000) as u16;
        let pool = if kind == 4 { SUBMISSION } else { SMTPD };
        let pid = self.render.procs[usize::from(host)].pid(pool, r);
        self.render.procs[usize::from(host)].last_client = t;
        let s = NoiseStep {
            host,
            kind,
            step: 0,
            ip,
            port,
            pid,
        };
        self.noise_line(t, s)
    }

    fn noise_line(&mut self, t: i64, s: NoiseStep) -> io::Result<()> {
        let host = s.host;
        let (ps, dnsblog, tlsproxy) = {
            let p = &self.render.procs[usize::from(host)];
            (p.postscreen, p.dnsblog, p.tlsproxy)
        };
        let ip = u64::from(s.ip);
        let rd = &mut self.render;
        // `last`: this line ends the session.
        macro_rules! ps_client {
            () => {
                rd.out.s("[192.0.2.").num(ip).s("]:").num(u64::from(s.port))
            };
        }
        let last = match (s.kind, s.step) {
            (0..=3 | 5, 0) => {
                rd.start(t, host, "postscreen", ps);
                rd.out.s("CONNECT from ");
                ps_client!();
                let our = &rd.names[usize::from(host)].ip;
                rd.out.s(" to [").s(our).s("]:25");
                false
            }
            (0, 1) => {
                rd.start(t, host, "postscreen", ps);
                rd.out
                    .s("PREGREET 11 after 0.")
                    .num(10 + ip % 80)
                    .s(" from ");
                ps_client!();
                rd.out.s(": EHLO User\\r\\n");
                false
            }
            (1, 1) => {
                rd.start(t, host, "postscreen", ps);
                rd.out
                    .s("HANGUP after ")
                    .num(1 + ip % 9)
                    .s(".")
                    .num(ip % 10)
                    .s(" from ");
                ps_client!();
                rd.out.s(" in tests before SMTP handshake");
                false
            }
            (2, 1) => {
                rd.start(t, host, "dnsblog", dnsblog);
                rd.out
                    .s("addr 192.0.2.")
                    .num(ip)
                    .s(" listed by domain zen.spamhaus.org as 127.0.0.")
                    .num(2 + ip % 3);
                false
            }
            (2, 2) => {
                rd.start(t, host, "postscreen", ps);
                rd.out.s("DNSBL rank 3 for ");
                ps_client!();
                false
            }
            (0 | 1, 2) | (2, 3) | (5, 4) => {
                rd.start(t, host, "postscreen", ps);
                rd.out.s("DISCONNECT ");
                ps_client!();
                true
            }
            (3, 1) => {
                rd.start(t, host, "postscreen", ps);
                rd.out.s("PASS NEW ");
                ps_client!();
                false
            }
            (3, 2) | (4, 0) | (6, 0) => {
                let tag = if s.kind == 4 {
                    "submission/smtpd"
                } else {
                    "smtpd"
                };
                rd.start(t, host, tag, s.pid);
                rd.out.s("connect from unknown[192.0.2.").num(ip).s("]");
                false
            }
            (3, 3) => {
                rd.start(t, host, "smtpd", s.pid);
                rd.out
                    .s("lost connection after EHLO from unknown[192.0.2.")
                    .num(ip)
                    .s("]");
                false
            }
            (3, 4) => {
                rd.start(t, host, "smtpd", s.pid);
                rd.out
                    .s("disconnect from unknown[192.0.2.")
                    .num(ip)
                    .s("] ehlo=1 commands=1");
                true
            }
            (4, 1) => {
                rd.start(t, host, "submission/smtpd", s.pid);
                rd.out
                    .s("warning: unknown[192.0.2.")
                    .num(ip)
                    .s("]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
                false
            }
            (4, 2) => {
                rd.start(t, host, "submission/smtpd", s.pid);
                rd.out
                    .s("lost connection after AUTH from unknown[192.0.2.")
                    .num(ip)
                    .s("]");
                false
            }
            (4, _) => {
                rd.start(t, host, "submission/smtpd", s.pid);
                rd.out
                    .s("disconnect from unknown[192.0.2.")
                    .num(ip)
                    .s("] ehlo=1 auth=0/1 commands=1/2");
                true
            }
            (5, 1) => {
                rd.start(t, host, "tlsproxy", tlsproxy);
                rd.out.s("CONNECT from ");
                ps_client!();
                false
            }
            (5, 2) => {
                rd.start(t, host, "tlsproxy", tlsproxy);
                rd.out.s("Anonymous TLS connection established from ");
                ps_client!();
                rd.out.s(": ").s(TLS12);
                false
            }
            (5, 3) => {
                rd.start(t, host, "tlsproxy", tlsproxy);
                rd.out.s("DISCONNECT ");
                ps_client!();
                false
            }
            (6, 1) => {
                rd.start(t, host, "smtpd", s.pid);
                rd.out
                    .s("warning: non-SMTP command from unknown[192.0.2.")
                    .num(ip)
                    .s("]: GET / HTTP/1.1");
                false
            }
            _ => {
                rd.start(t, host, "smtpd", s.pid);
                rd.out
                    .s("disconnect from unknown[192.0.2.")
                    .num(ip)
                    .s("] unknown=0/1 commands=0/1");
                true
            }
        };
        rd.out.end()?;
        if !last {
            let dt = self.noise_rng.range(20_000, 3 * SEC);
            let next = NoiseStep {
                step: s.step + 1,
                ..s
            };
            self.queue.own(t + dt, Item::NoiseStep(next));
        }
        Ok(())
    }

    /// anvil's periodic statistics, when there were clients since the last.
    fn anvil(&mut self, t: i64, host: u8) -> io::Result<()> {
        if self.render.procs[usize::from(host)].last_client < t - ANVIL_INTERVAL {
            return Ok(());
        }
        let r = &mut self.noise_rng;
        let ip = r.range(150, 250) as u64;
        let rate = r.range(1, 9) as u64;
        let count = r.range(1, 4) as u64;
        let cache = r.range(2, 12) as u64;
        let at = (t - r.range(0, ANVIL_INTERVAL)).div_euclid(SEC);
        let rd = &mut self.render;
        let pid = rd.procs[usize::from(host)].anvil;
        let when = *rd.stamp2.stamp(at);
        for line in 0..3 {
            rd.start(t, host, "anvil", pid);
            match line {
                0 => {
                    rd.out
                        .s("statistics: max connection rate ")
                        .num(rate)
                        .s("/60s for (smtp:192.0.2.")
                        .num(ip)
                        .s(") at ");
                }
                1 => {
                    rd.out
                        .s("statistics: max connection count ")
                        .num(count)
                        .s(" for (smtp:192.0.2.")
                        .num(ip)
                        .s(") at ");
                }
                _ => {
                    rd.out.s("statistics: max cache size ").num(cache).s(" at ");
                }
            }
            rd.out.buf.extend_from_slice(&when);
            rd.out.end()?;
        }
        Ok(())
    }

    /// The daily `postfix reload` after log rotation.
    fn reload(&mut self, t: i64, host: u8) -> io::Result<()> {
        let rd = &mut self.render;
        let p = &mut rd.procs[usize::from(host)];
        let script = p.pids.next(&mut rd.rng);
        let master = p.master;
        rd.start(t, host, "postfix-script", script);
        rd.out.s("refreshing the Postfix mail system");
        rd.out.end()?;
        rd.start(t, host, "master", master);
        rd.out
            .s("reload -- version ")
            .s(VERSION)
            .s(", configuration /etc/postfix");
        rd.out.end()?;
        rd.procs[usize::from(host)].reload(&mut rd.rng);
        Ok(())
    }

    fn run(&mut self, start: i64) -> io::Result<()> {
        let hosts = self.render.names.len() as u8;
        for h in 0..hosts {
            self.queue
                .own(start + 7 * MIN + i64::from(h) * 13 * SEC, Item::Anvil(h));
            let day = start.div_euclid(24 * HOUR) * 24 * HOUR;
            let mut r = day + 6 * HOUR + 25 * MIN + i64::from(h) * 2 * SEC + 3 * SEC;
            if r < start {
                r += 24 * HOUR;
            }
            self.queue.own(r, Item::Reload(h));
        }
        sched::run(self, self.end)?;
        // End of input: whatever is still queued is pending or on hold.
        let mut rest = self.queue.drain();
        rest.sort_by_key(|m| (m.received, m.host, m.id.map(|i| i.as_bytes().to_vec())));
        for m in &rest {
            self.finish(m)?;
        }
        self.render.out.w.flush()
    }
}

/// Generates a Postfix log into `log` and (optionally) the truth CSV into
/// `truth`; returns the incident summary.
pub fn generate<L: Write, T: Write>(
    cfg: &PostfixConfig,
    log: L,
    truth: Option<T>,
) -> io::Result<Summary> {
    let hosts = cfg.hosts.clamp(1, MAX_HOSTS);
    let mut root = Rng::new(cfg.seed ^ 0x5054_4649_5800_0000);
    let mut plan_rng = root.fork();
    let tickets = world::make_tickets(&mut plan_rng);
    let names: Vec<HostName> = (0..hosts).map(HostName::new).collect();
    let plan_hosts = (0..hosts)
        .map(|h| PlanHost {
            inodes: plan_rng.below(1 << 20) as u32,
            qfirst: cfg.start + 17 * SEC + i64::from(h) * 61 * SEC,
        })
        .collect();
    let planner = Planner {
        rng: plan_rng,
        start: cfg.start,
        end: cfg.end,
        onset: cfg.onset.unwrap_or(i64::MAX),
        recovery: cfg.recovery.unwrap_or(i64::MAX),
        quota: (cfg.start + 14 * HOUR, cfg.start + 31 * HOUR),
        long_ids: cfg.long_ids,
        names: names.clone(),
        hosts: plan_hosts,
        tickets,
        yymm: world::yymm(cfg.start),
        recent: VecDeque::new(),
    };
    let feeds = Feeds::new(
        &mut root,
        cfg.start,
        cfg.end,
        cfg.messages,
        (cfg.messages * 4 / 5, cfg.end - 5 * SEC),
    );
    let mut render_rng = root.fork();
    let procs = (0..hosts).map(|_| Procs::new(&mut render_rng)).collect();
    let mut sink = TruthSink::new(truth);
    sink.summary.generator = cfg.command.clone();
    sink.summary.start = cfg.start;
    sink.summary.end = cfg.end;
    sink.summary.onset = cfg.onset;
    sink.summary.recovery = cfg.recovery;
    let mut sim = Sim {
        planner,
        render: Renderer {
            out: Out::new(log),
            stamp: SyslogStamp::default(),
            stamp2: SyslogStamp::default(),
            rng: render_rng,
            names,
            procs,
        },
        truth: sink,
        queue: Queue::new(feeds),
        noise_rng: root.fork(),
        end: cfg.end,
    };
    sim.run(cfg.start)?;
    let (lines, bytes) = (sim.render.out.lines, sim.render.out.bytes);
    let mut s = sim.truth.finish()?;
    s.lines = lines;
    s.bytes = bytes;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(us: i64) -> String {
        let mut o = Out::new(Vec::new());
        delay_text(&mut o, us);
        String::from_utf8(o.buf).unwrap()
    }

    #[test]
    fn delays_like_format_tv() {
        assert_eq!(fmt(350_000), "0.35");
        assert_eq!(fmt(3_123_456), "3.1");
        assert_eq!(fmt(30_200_000), "30");
        assert_eq!(fmt(122_209_400_000), "122209");
        assert_eq!(fmt(4_000), "0");
        assert_eq!(fmt(6_000), "0.01");
        assert_eq!(fmt(100_000), "0.1");
        assert_eq!(fmt(35_000), "0.04");
        assert_eq!(fmt(999_000), "1");
        assert_eq!(fmt(0), "0");
    }

    #[test]
    fn subjects_are_mime_encoded_when_not_ascii() {
        assert_eq!(encode_header("Lunch on Friday?"), "Lunch on Friday?");
        assert_eq!(
            encode_header("Grüße aus München"),
            "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?="
        );
    }
}
