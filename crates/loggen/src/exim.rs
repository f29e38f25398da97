//! Exim main-log generator (shapes from `shared/reference/exim.md`).
//!
//! Model: each message gets a complete *plan* (a time-ordered list of events)
//! when it arrives; plans of all in-flight messages, the queue runner and the
//! daemon noise are merged through a min-heap keyed by (time, sequence). Every
//! event is rendered to one log line and, independently, folded into the
//! ground truth of the recipient it concerns.
//!
//! Simulated server: `smtp1.example.com` [203.0.113.25], log in UTC, `-q30m`,
//! retry rule `* * F,1h,15m; G,8h,30m,1.5; F,12h,2h` (cutoff 12 h after the
//! first failure), `delay_warning = 6h`, Exim 4.98 (4.96 for old ids) with the
//! 4.86–4.98 `**` separator (`CV=yes: SMTP error …`).

use std::io::{self, Write};
use std::ops::{Deref, DerefMut};

use crate::clock::{HOUR, MIN, SEC};
use crate::line::Out;
use crate::msgid::{IdFormat, MsgId};
use crate::rng::Rng;
use crate::sched::{self, Driver, Feeds, Queue, Queued};
use crate::truth::{Category, Failure, MessageRows, Summary, TruthSink};
use crate::world::{
    self, Confirm, DKind, DOMAINS, Domain, Fate, LocalKind, OUR_DOMAIN, Pids, QUOTA_USER,
    REMOTE_LOCAL, Rcpt, SPAM_HOSTS, SPAM_SENDERS, Target, Ticket, Tls, UNKNOWN_LOCAL, USERS, Why,
    remote_weights,
};

/// Which message-id format(s) to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdStyle {
    /// Exim ≥ 4.97 ids only (`6-11-4`).
    New,
    /// Exim ≤ 4.96 ids only (`6-6-2`).
    Old,
    /// Old ids for the first third of the window, then an upgrade to 4.98.
    Mixed,
}

/// Parameters of one generated Exim main log.
#[derive(Clone, Debug)]
pub struct EximConfig {
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
    /// Message-id format.
    pub ids: IdStyle,
    /// `log_selector = +millisec`.
    pub millisec: bool,
    /// `log_selector = +pid`.
    pub pid: bool,
    /// Text recorded as `generator` in the summary.
    pub command: String,
}

// ---------------------------------------------------------------------------
// The simulated world.

const OUR_HOST: &str = "smtp1.example.com";
const OUR_IP: &str = "203.0.113.25";
const QUEUE_INTERVAL: i64 = 30 * MIN;
const RETRY_CUTOFF: i64 = 12 * HOUR;
const DELAY_WARNING: i64 = 6 * HOUR;

// ---------------------------------------------------------------------------
// Failure reasons.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RejWhy {
    UnknownUser,
    SenderVerify,
    Rbl,
    Greylist,
}

impl RejWhy {
    fn failure(self) -> Failure {
        let category = match self {
            RejWhy::UnknownUser => Category::RecipientUnknown,
            RejWhy::SenderVerify => Category::PolicyRejected,
            RejWhy::Rbl => Category::Blocklisted,
            RejWhy::Greylist => Category::Greylisted,
        };
        Failure {
            code: "",
            enhanced: "",
            category,
            incident: false,
        }
    }
}

// ---------------------------------------------------------------------------
// Messages and plans.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// From the Internet (sender domain index).
    Inbound(u8),
    /// Authenticated submission by a local user.
    Submission(u8),
    /// The helpdesk web application (`U=www-data P=local`).
    Helpdesk,
    /// A cron job (`U=root P=local`).
    Cron,
    /// Exim-generated bounce or delay warning.
    Notification { warning: bool },
    /// An SMTP session refused at RCPT time (no queue entry).
    Reject,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RetryStyle {
    Remote,
    Routing,
    Local,
}

#[derive(Debug)]
enum Spawn {
    /// Bounce (`warning == false`) or delay warning to the parent's sender.
    Notify {
        parent: MsgId,
        warning: bool,
        rcpt: Rcpt,
    },
    /// A greylisted client coming back.
    Inbound {
        from_domain: u8,
        sender: String,
        rcpt: Rcpt,
    },
}

#[derive(Debug)]
struct RejectSpec {
    why: RejWhy,
    host: &'static str,
    ip: String,
    sender: String,
    rcpt: String,
}

#[derive(Debug)]
enum K {
    ConnOpen,
    ConnClose,
    Dkim,
    Arrive,
    /// Per-host attempt line preceding a connection-level `==`.
    HostErr(u8, Why),
    Delivered(u8, bool),
    Deferred(u8, Why),
    RetryNotReached(u8, RetryStyle),
    Failed(u8, Why),
    Expired(u8, bool),
    Spawn(Box<Spawn>),
    Completed,
    Frozen,
    MessageIsFrozen,
    Removed,
    Cancelled,
    Reject,
    Done,
}

#[derive(Debug)]
struct Ev {
    t: i64,
    k: K,
}

struct Msg {
    id: Option<MsgId>,
    origin: Origin,
    parent: Option<MsgId>,
    rx_pid: u32,
    received_log: i64,
    sender: String,
    sender_target: Option<(Target, Fate)>,
    size: u32,
    subject: Option<String>,
    message_id: Option<String>,
    log_for: bool,
    dkim: bool,
    port: u16,
    client_ip: u8,
    conn_count: u8,
    content_reject: Option<Why>,
    rcpts: Vec<Rcpt>,
    events: Vec<Ev>,
    cursor: usize,
    frozen: bool,
    completed: bool,
    seen_arrival: bool,
    dl_pid: u32,
    last_dl: i64,
    reject: Option<Box<RejectSpec>>,
}

impl Msg {
    fn blank(origin: Origin, rx_pid: u32, received_log: i64) -> Self {
        Msg {
            id: None,
            origin,
            parent: None,
            rx_pid,
            received_log,
            sender: String::new(),
            sender_target: None,
            size: 0,
            subject: None,
            message_id: None,
            log_for: false,
            dkim: false,
            port: 0,
            client_ip: 0,
            conn_count: 1,
            content_reject: None,
            rcpts: Vec::new(),
            events: Vec::new(),
            cursor: 0,
            frozen: false,
            completed: false,
            seen_arrival: false,
            dl_pid: 0,
            last_dl: i64::MIN,
            reject: None,
        }
    }
}

struct Group {
    target: Option<u8>,
    rcpts: Vec<u8>,
    done: Vec<bool>,
    attempts: u32,
    first_fail: Option<i64>,
    next_retry: i64,
    interval: i64,
    style: RetryStyle,
}

impl Group {
    fn finished(&self) -> bool {
        self.done.iter().all(|&d| d)
    }
}

// ---------------------------------------------------------------------------
// Planning.

struct Planner {
    rng: Rng,
    start: i64,
    end: i64,
    onset: i64,
    recovery: i64,
    qfirst: i64,
    quota: (i64, i64),
    upgrade_at: Option<i64>,
    ids: IdStyle,
    tickets: Vec<Ticket>,
    yymm: String,
    pids: Pids,
}

impl Planner {
    fn incident(&self, t: i64) -> bool {
        t >= self.onset && t < self.recovery
    }

    fn next_queue_run(&self, t: i64) -> i64 {
        if t <= self.qfirst {
            return self.qfirst;
        }
        let k = (t - self.qfirst + QUEUE_INTERVAL - 1) / QUEUE_INTERVAL;
        self.qfirst + k * QUEUE_INTERVAL
    }

    fn id_for(&mut self, rx_start: i64, pid: u32) -> MsgId {
        let old = match self.ids {
            IdStyle::New => false,
            IdStyle::Old => true,
            IdStyle::Mixed => self.upgrade_at.is_some_and(|u| rx_start < u),
        };
        let format = if old { IdFormat::Old } else { IdFormat::New };
        MsgId::new(
            format,
            rx_start.div_euclid(SEC),
            rx_start.rem_euclid(SEC) as u32,
            u64::from(pid),
        )
    }

    fn remote_rcpt(&mut self, weights: &[u32], same_domain: Option<u8>) -> Rcpt {
        world::remote_rcpt(&mut self.rng, weights, same_domain)
    }

    fn local_rcpt(&mut self, allow_unknown: bool) -> Rcpt {
        world::local_rcpt(&mut self.rng, allow_unknown)
    }

    fn user_rcpt(&self, u: u8) -> Rcpt {
        world::user_rcpt(u)
    }

    fn subject(&mut self) -> String {
        world::subject(&mut self.rng)
    }

    fn uuid_mid(&mut self, domain: &str) -> String {
        world::uuid_mid(&mut self.rng, domain)
    }

    /// A new message arriving at `t` (first event: connection open or `<=`).
    fn new_message(&mut self, t: i64) -> Msg {
        let kind = self.rng.weighted(&[38, 34, 16, 4, 8]);
        let pid = self.pids.next(&mut self.rng);
        let smtp = matches!(kind, 0 | 1);
        let rx_start = if smtp {
            t + self.rng.range(300_000, 3 * SEC)
        } else {
            t
        };
        let received_log = rx_start
            + if smtp {
                self.rng.range(50_000, 2 * SEC)
            } else {
                self.rng.range(5_000, 60_000)
            };
        let origin = match kind {
            0 => Origin::Inbound(self.rng.weighted(&remote_weights(false)) as u8),
            1 | 4 => Origin::Submission(self.rng.below(USERS.len() as u64) as u8),
            2 => Origin::Helpdesk,
            _ => Origin::Cron,
        };
        let mut m = Msg::blank(origin, pid, received_log);
        m.id = Some(self.id_for(rx_start, pid));
        m.size = self.rng.range(900, 60_000) as u32;
        m.log_for = self.rng.chance(0.4);
        m.port = self.rng.range(32_768, 61_000) as u16;
        m.conn_count = self.rng.range(1, 9) as u8;
        let epoch = rx_start.div_euclid(SEC);
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
                m.dkim = dd.tls != Tls::None && self.rng.chance(0.6);
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
                    m.sender_target = Some((Target::Remote(cd), Fate::Ok));
                    let fail = self.rng.chance(0.12);
                    m.rcpts.push(Rcpt::new(
                        format!("support@{OUR_DOMAIN}"),
                        Target::Local(LocalKind::Pipe),
                        Fate::Ok,
                        fail,
                    ));
                    let mid_dom = DOMAINS[usize::from(cd)].name;
                    m.message_id = Some(self.uuid_mid(mid_dom));
                } else {
                    m.subject = Some(self.subject());
                    let n = 1 + usize::from(self.rng.chance(0.25));
                    for _ in 0..n {
                        let r = self.local_rcpt(false);
                        if !m.rcpts.iter().any(|x| x.addr == r.addr) {
                            m.rcpts.push(r);
                        }
                    }
                    m.message_id = Some(format!(
                        "{:016X}.{}@{}",
                        self.rng.next_u64(),
                        epoch,
                        dd.out_host
                    ));
                }
            }
            Origin::Submission(u) => {
                m.sender = format!("{}@{OUR_DOMAIN}", USERS[usize::from(u)]);
                m.sender_target = Some((Target::Local(LocalKind::User(u)), Fate::Ok));
                m.client_ip = self.rng.range(101, 141) as u8;
                m.subject = Some(self.subject());
                m.message_id = Some(self.uuid_mid(OUR_DOMAIN));
                let n = *self.rng.pick(&[1usize, 1, 1, 2, 2, 3, 4]);
                let w = remote_weights(false);
                let mut first_dom = None;
                for _ in 0..n {
                    let r = if self.rng.chance(0.2) {
                        self.local_rcpt(true)
                    } else {
                        let same = first_dom.filter(|_| self.rng.chance(0.45));
                        let r = self.remote_rcpt(&w, same);
                        if let Target::Remote(d) = r.target {
                            first_dom.get_or_insert(d);
                        }
                        r
                    };
                    if !m.rcpts.iter().any(|x| x.addr == r.addr) {
                        m.rcpts.push(r);
                    }
                }
                if m.rcpts.iter().any(|r| {
                    matches!(r.target, Target::Remote(d) if DOMAINS[usize::from(d)].kind == DKind::Strict)
                }) && self.rng.chance(0.3)
                {
                    m.content_reject = Some(if self.rng.chance(0.5) {
                        Why::Spam
                    } else {
                        Why::Dmarc
                    });
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
                m.message_id = Some(format!("ticket-{tid}.{epoch}@helpdesk.{OUR_DOMAIN}"));
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
                m.sender = format!("root@{OUR_HOST}");
                m.sender_target = Some((Target::Local(LocalKind::User(0)), Fate::Ok));
                m.subject = Some(
                    (*self.rng.pick(&[
                        "Cron <root@smtp1> /usr/local/sbin/check-backups",
                        "Cron <root@smtp1> test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily",
                        "*** SECURITY information for smtp1.example.com ***",
                    ]))
                    .to_owned(),
                );
                m.message_id = None;
                let r = self.local_rcpt(true);
                m.rcpts.push(r);
            }
        }
        if m.rcpts.is_empty() {
            let r = self.user_rcpt(1);
            m.rcpts.push(r);
        }
        // A share of messages without +subject / with the Message-ID unknown.
        if self.rng.chance(0.15) && !matches!(m.origin, Origin::Helpdesk) {
            m.subject = None;
        }
        self.plan(&mut m, t);
        m
    }

    /// An Exim notification or a returning greylisted client, created at `t`.
    fn child(&mut self, spawn: Spawn, t: i64) -> Msg {
        match spawn {
            Spawn::Notify {
                parent,
                warning,
                rcpt,
            } => {
                let pid = self.pids.next(&mut self.rng);
                let rx_start = t + self.rng.range(1_000, 8_000);
                let mut m = Msg::blank(
                    Origin::Notification { warning },
                    pid,
                    rx_start + self.rng.range(2_000, 20_000),
                );
                let id = self.id_for(rx_start, pid);
                m.id = Some(id);
                m.parent = Some(parent);
                m.size = self.rng.range(1_800, 40_000) as u32;
                m.log_for = self.rng.chance(0.4);
                m.subject = Some(if warning {
                    format!("Warning: message {} delayed 6 hours", parent.as_str())
                } else {
                    "Mail delivery failed: returning message to sender".to_owned()
                });
                m.message_id = Some(format!("E{}@{OUR_HOST}", id.as_str()));
                m.rcpts.push(rcpt);
                self.plan(&mut m, rx_start);
                m
            }
            Spawn::Inbound {
                from_domain,
                sender,
                rcpt,
            } => {
                let pid = self.pids.next(&mut self.rng);
                let rx_start = t + self.rng.range(300_000, 2 * SEC);
                let mut m = Msg::blank(
                    Origin::Inbound(from_domain),
                    pid,
                    rx_start + self.rng.range(50_000, SEC),
                );
                m.id = Some(self.id_for(rx_start, pid));
                m.sender = sender;
                m.sender_target = Some((Target::Remote(from_domain), Fate::Ok));
                m.size = self.rng.range(900, 30_000) as u32;
                m.log_for = self.rng.chance(0.4);
                m.port = self.rng.range(32_768, 61_000) as u16;
                m.subject = Some(self.subject());
                m.message_id = Some(self.uuid_mid(DOMAINS[usize::from(from_domain)].name));
                m.rcpts.push(rcpt);
                self.plan(&mut m, t);
                m
            }
        }
    }

    /// An SMTP session refused at RCPT time.
    fn reject(&mut self, t: i64) -> Msg {
        let pid = self.pids.next(&mut self.rng);
        let mut m = Msg::blank(Origin::Reject, pid, t);
        m.port = self.rng.range(32_768, 61_000) as u16;
        let why = match self.rng.weighted(&[45, 15, 25, 15]) {
            0 => RejWhy::UnknownUser,
            1 => RejWhy::SenderVerify,
            2 => RejWhy::Rbl,
            _ => RejWhy::Greylist,
        };
        m.client_ip = self.rng.range(150, 250) as u8;
        let (host, ip, sender) = if why == RejWhy::Greylist {
            let d = self.rng.weighted(&remote_weights(false)) as u8;
            let dd = &DOMAINS[usize::from(d)];
            (
                dd.out_host,
                dd.out_ip.to_owned(),
                format!("{}@{}", self.rng.pick(REMOTE_LOCAL), dd.name),
            )
        } else {
            (
                *self.rng.pick(SPAM_HOSTS),
                format!("192.0.2.{}", m.client_ip),
                (*self.rng.pick(SPAM_SENDERS)).to_owned(),
            )
        };
        let rcpt = if why == RejWhy::UnknownUser {
            format!("{}@{OUR_DOMAIN}", self.rng.pick(UNKNOWN_LOCAL))
        } else {
            format!("{}@{OUR_DOMAIN}", self.rng.pick(USERS))
        };
        let t_rej = t + self.rng.range(SEC / 2, 4 * SEC);
        m.events.push(Ev { t, k: K::ConnOpen });
        m.events.push(Ev {
            t: t_rej,
            k: K::Reject,
        });
        m.events.push(Ev {
            t: t_rej + self.rng.range(10_000, 900_000),
            k: K::ConnClose,
        });
        if why == RejWhy::Greylist {
            // The greylisted client comes back and is accepted.
            let back = t_rej + self.rng.range(6 * MIN, 25 * MIN);
            let d = DOMAINS.iter().position(|d| d.out_host == host).unwrap_or(0) as u8;
            let u = USERS
                .iter()
                .position(|u| rcpt.starts_with(&format!("{u}@")))
                .unwrap_or(0) as u8;
            let r = self.user_rcpt(u);
            m.events.push(Ev {
                t: back,
                k: K::Spawn(Box::new(Spawn::Inbound {
                    from_domain: d,
                    sender: sender.clone(),
                    rcpt: r,
                })),
            });
        }
        m.reject = Some(Box::new(RejectSpec {
            why,
            host,
            ip,
            sender,
            rcpt,
        }));
        m
    }

    /// Builds the complete event plan of `m`; `t0` is its first instant.
    fn plan(&mut self, m: &mut Msg, t0: i64) {
        let mut ev: Vec<Ev> = Vec::with_capacity(8);
        let smtp = matches!(m.origin, Origin::Inbound(_) | Origin::Submission(_));
        if smtp {
            ev.push(Ev {
                t: t0,
                k: K::ConnOpen,
            });
            if m.dkim {
                ev.push(Ev {
                    t: m.received_log - 1_000,
                    k: K::Dkim,
                });
            }
        }
        ev.push(Ev {
            t: m.received_log,
            k: K::Arrive,
        });
        if smtp {
            ev.push(Ev {
                t: m.received_log + self.rng.range(20_000, 300_000),
                k: K::ConnClose,
            });
        }
        // Delivery groups: all local recipients together, one per remote domain.
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in m.rcpts.iter().enumerate() {
            let target = match r.target {
                Target::Local(_) => None,
                Target::Remote(d) => Some(d),
            };
            let i = i as u8;
            match groups.iter_mut().find(|g| g.target == target) {
                Some(g) => {
                    g.rcpts.push(i);
                    g.done.push(false);
                }
                None => groups.push(Group {
                    target,
                    rcpts: vec![i],
                    done: vec![false],
                    attempts: 0,
                    first_fail: None,
                    next_retry: 0,
                    interval: 15 * MIN,
                    style: RetryStyle::Remote,
                }),
            }
        }
        let notification = matches!(m.origin, Origin::Notification { .. });
        // Administrator intervention on messages stuck towards a dead host.
        let stuck = m.rcpts.iter().any(|r| {
            matches!(r.target, Target::Remote(d) if DOMAINS[usize::from(d)].outage.is_some_and(|o| o.1 > 1.0e6))
        });
        let admin = (stuck && !notification && self.rng.chance(0.5)).then(|| {
            (
                m.received_log + self.rng.range(2 * HOUR, 9 * HOUR),
                self.rng.chance(0.4),
            )
        });

        let mut t = m.received_log + self.rng.range(100_000, 1_500_000);
        let mut failed = false;
        for g in &mut groups {
            failed |= self.attempt(m, g, &mut t, &mut ev);
        }
        let mut frozen = false;
        let mut warned = false;
        if !self.after_run(m, &groups, failed, &mut t, &mut ev, &mut frozen) {
            let mut q = self.next_queue_run(t + 5 * SEC);
            while q < self.end {
                let mut t = q + self.rng.range(2 * SEC, 40 * SEC);
                if frozen {
                    ev.push(Ev {
                        t,
                        k: K::MessageIsFrozen,
                    });
                    q += QUEUE_INTERVAL;
                    continue;
                }
                if let Some((at, cancel)) = admin
                    && t >= at
                {
                    ev.push(Ev {
                        t,
                        k: if cancel { K::Cancelled } else { K::Removed },
                    });
                    t += self.rng.range(1_000, 20_000);
                    if cancel {
                        self.notify(m, false, &mut t, &mut ev);
                    }
                    ev.push(Ev {
                        t: t + self.rng.range(1_000, 30_000),
                        k: K::Completed,
                    });
                    break;
                }
                let mut failed = false;
                for g in groups.iter_mut().filter(|g| !g.finished()) {
                    if t >= g.next_retry {
                        failed |= self.attempt(m, g, &mut t, &mut ev);
                    } else if g.first_fail.is_some_and(|f| t - f >= RETRY_CUTOFF) {
                        for (j, &r) in g.rcpts.iter().enumerate() {
                            if !g.done[j] {
                                t += self.rng.range(1_000, 20_000);
                                ev.push(Ev {
                                    t,
                                    k: K::Expired(r, g.style == RetryStyle::Remote),
                                });
                            }
                        }
                        g.done.iter_mut().for_each(|d| *d = true);
                        failed = true;
                    } else {
                        for (j, &r) in g.rcpts.iter().enumerate() {
                            if !g.done[j] {
                                t += self.rng.range(1_000, 20_000);
                                ev.push(Ev {
                                    t,
                                    k: K::RetryNotReached(r, g.style),
                                });
                            }
                        }
                    }
                    t += self.rng.range(30_000, 400_000);
                }
                if !warned
                    && !notification
                    && t - m.received_log >= DELAY_WARNING
                    && groups.iter().any(|g| !g.finished())
                {
                    warned = true;
                    self.notify(m, true, &mut t, &mut ev);
                }
                if self.after_run(m, &groups, failed, &mut t, &mut ev, &mut frozen) {
                    break;
                }
                q += QUEUE_INTERVAL;
            }
        }
        ev.sort_by_key(|e| e.t);
        m.events = ev;
    }

    /// After one delivery run: bounce/freeze and `Completed`. Returns true when done.
    fn after_run(
        &mut self,
        m: &Msg,
        groups: &[Group],
        failed: bool,
        t: &mut i64,
        ev: &mut Vec<Ev>,
        frozen: &mut bool,
    ) -> bool {
        let notification = matches!(m.origin, Origin::Notification { .. });
        if failed {
            if notification {
                *t += self.rng.range(500, 5_000);
                ev.push(Ev {
                    t: *t,
                    k: K::Frozen,
                });
                *frozen = true;
                return false;
            }
            self.notify(m, false, t, ev);
        }
        if groups.iter().all(Group::finished) {
            *t += self.rng.range(2_000, 60_000);
            ev.push(Ev {
                t: *t,
                k: K::Completed,
            });
            return true;
        }
        false
    }

    fn notify(&mut self, m: &Msg, warning: bool, t: &mut i64, ev: &mut Vec<Ev>) {
        let (Some(id), Some((target, fate))) = (m.id, m.sender_target) else {
            return;
        };
        if m.sender.is_empty() {
            return;
        }
        *t += self.rng.range(2_000, 40_000);
        let rcpt = Rcpt::new(m.sender.clone(), target, fate, false);
        ev.push(Ev {
            t: *t,
            k: K::Spawn(Box::new(Spawn::Notify {
                parent: id,
                warning,
                rcpt,
            })),
        });
        // The child's `<=` is logged a few ms after this instant; keep the
        // parent's following lines after it.
        *t += 30_000;
    }

    /// One delivery attempt of one group at `*t`. Returns true if a recipient
    /// failed permanently or expired (so a bounce is due).
    fn attempt(&mut self, m: &Msg, g: &mut Group, t: &mut i64, ev: &mut Vec<Ev>) -> bool {
        let at = *t;
        let mut resp: Vec<(u8, Option<Why>, bool)> = Vec::with_capacity(g.rcpts.len());
        let pending: Vec<u8> = g
            .rcpts
            .iter()
            .zip(&g.done)
            .filter(|(_, d)| !**d)
            .map(|(&r, _)| r)
            .collect();
        match g.target {
            None => {
                g.style = RetryStyle::Local;
                for &r in &pending {
                    let rc = &m.rcpts[usize::from(r)];
                    let x = match rc.target {
                        Target::Local(LocalKind::Unknown) => Some((Why::NoSuchUser, true)),
                        Target::Local(LocalKind::Pipe) if rc.quirk => Some((Why::PipeFail, true)),
                        Target::Local(LocalKind::User(u))
                        | Target::Local(LocalKind::Alias(_, u))
                            if usize::from(u) == QUOTA_USER
                                && at >= self.quota.0
                                && at < self.quota.1 =>
                        {
                            Some((Why::LocalQuota, false))
                        }
                        _ => None,
                    };
                    resp.push((r, x.map(|x| x.0), x.is_some_and(|x| x.1)));
                }
            }
            Some(d) => {
                let dd = &DOMAINS[usize::from(d)];
                let incident = self.incident(at);
                let group_fail = world::domain_failure(
                    dd,
                    self.start,
                    at,
                    incident,
                    g.attempts == 0,
                    &mut self.rng,
                );
                if let Some((w, _)) = group_fail {
                    g.style = if w == Why::DnsTemp {
                        RetryStyle::Routing
                    } else {
                        RetryStyle::Remote
                    };
                    if w.is_connection() {
                        ev.push(Ev {
                            t: at,
                            k: K::HostErr(pending[0], w),
                        });
                    }
                }
                for &r in &pending {
                    let rc = &m.rcpts[usize::from(r)];
                    let x = group_fail.or(match rc.fate {
                        Fate::Unknown if dd.confirm == Confirm::Outlook => {
                            Some((Why::OutlookUnknown, true))
                        }
                        Fate::Unknown => Some((Why::UserUnknown, true)),
                        Fate::Full => Some((Why::MailboxFull, true)),
                        Fate::Disabled => Some((Why::Disabled, true)),
                        Fate::Ok if rc.quirk && g.attempts == 0 => Some((Why::RateLimit, false)),
                        Fate::Ok => None,
                    });
                    resp.push((r, x.map(|x| x.0), x.is_some_and(|x| x.1)));
                }
                if let Some(c) = m.content_reject
                    && dd.kind == DKind::Strict
                {
                    for x in resp.iter_mut().filter(|x| x.1.is_none()) {
                        x.1 = Some(c);
                        x.2 = true;
                    }
                }
            }
        }
        g.attempts += 1;
        let mut first_ok = true;
        let mut failed = false;
        let mut temp: Vec<u8> = Vec::new();
        for (r, why, perm) in resp {
            *t += self.rng.range(1_000, 40_000);
            let j = g.rcpts.iter().position(|&x| x == r).unwrap_or(0);
            match why {
                None => {
                    ev.push(Ev {
                        t: *t,
                        k: K::Delivered(r, first_ok),
                    });
                    first_ok = false;
                    g.done[j] = true;
                }
                Some(w) if perm => {
                    ev.push(Ev {
                        t: *t,
                        k: K::Failed(r, w),
                    });
                    failed = true;
                    g.done[j] = true;
                }
                Some(w) => {
                    ev.push(Ev {
                        t: *t,
                        k: K::Deferred(r, w),
                    });
                    temp.push(r);
                }
            }
        }
        if !temp.is_empty() {
            let ff = *g.first_fail.get_or_insert(at);
            if at - ff >= RETRY_CUTOFF {
                for r in temp {
                    *t += self.rng.range(500, 5_000);
                    ev.push(Ev {
                        t: *t,
                        k: K::Expired(r, false),
                    });
                    let j = g.rcpts.iter().position(|&x| x == r).unwrap_or(0);
                    g.done[j] = true;
                }
                failed = true;
            } else {
                let el = at - ff;
                g.interval = if el < HOUR {
                    15 * MIN
                } else if el < 8 * HOUR {
                    if g.interval < 30 * MIN {
                        30 * MIN
                    } else {
                        g.interval * 3 / 2
                    }
                } else {
                    2 * HOUR
                };
                g.next_retry = at + g.interval;
            }
        }
        *t += self.rng.range(5_000, 200_000);
        failed
    }
}

// ---------------------------------------------------------------------------
// Rendering.

/// The shared line buffer plus Exim's `log_selector` prefix options.
struct EximOut<W: Write> {
    out: Out<W>,
    millisec: bool,
    pid: bool,
}

impl<W: Write> Deref for EximOut<W> {
    type Target = Out<W>;
    fn deref(&self) -> &Out<W> {
        &self.out
    }
}

impl<W: Write> DerefMut for EximOut<W> {
    fn deref_mut(&mut self) -> &mut Out<W> {
        &mut self.out
    }
}

impl<W: Write> EximOut<W> {
    fn start(&mut self, t: i64, pid: u32, id: Option<&MsgId>) {
        let (millisec, with_pid) = (self.millisec, self.pid);
        let o = &mut self.out;
        o.buf.clear();
        let sec = t.div_euclid(SEC);
        o.buf.extend_from_slice(o.ts.stamp(sec));
        if millisec {
            let ms = t.rem_euclid(SEC) / 1000;
            o.buf.push(b'.');
            o.buf.push(b'0' + (ms / 100) as u8);
            o.buf.push(b'0' + (ms / 10 % 10) as u8);
            o.buf.push(b'0' + (ms % 10) as u8);
        }
        if with_pid {
            o.buf.extend_from_slice(b" [");
            o.num(u64::from(pid));
            o.buf.push(b']');
        }
        o.buf.push(b' ');
        if let Some(id) = id {
            o.buf.extend_from_slice(id.as_bytes());
            o.buf.push(b' ');
        }
    }
}

/// Exim's `string_printing` plus the `"`/`\` escaping of `T="…"`.
fn quoted<W: Write>(o: &mut Out<W>, s: &str) {
    o.buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => {
                o.buf.push(b'\\');
                o.buf.push(b);
            }
            b'\n' => o.buf.extend_from_slice(b"\\n"),
            b'\t' => o.buf.extend_from_slice(b"\\t"),
            0x20..=0x7e => o.buf.push(b),
            _ => {
                o.buf.push(b'\\');
                o.buf.push(b'0' + (b >> 6));
                o.buf.push(b'0' + ((b >> 3) & 7));
                o.buf.push(b'0' + (b & 7));
            }
        }
    }
    o.buf.push(b'"');
}

fn tls_text(tls: Tls) -> &'static str {
    match tls {
        Tls::None => "",
        Tls::V12 => " X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes",
        Tls::V13 => " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes",
    }
}

struct Renderer<W: Write> {
    out: EximOut<W>,
    rng: Rng,
}

impl<W: Write> Renderer<W> {
    /// `addr` as Exim logs it on delivery lines.
    fn addr(&mut self, r: &Rcpt) {
        match r.target {
            Target::Local(LocalKind::User(_)) => {
                self.out.s(r.local_part()).s(" <").s(&r.addr).s(">");
            }
            Target::Local(LocalKind::Alias(_, u)) => {
                self.out.s(USERS[usize::from(u)]).s(" <").s(&r.addr).s(">");
            }
            Target::Local(LocalKind::Pipe) => {
                self.out
                    .s("|/usr/local/bin/ticket-import (")
                    .s(&r.addr)
                    .s(") <")
                    .s(&r.addr)
                    .s(">");
            }
            Target::Local(LocalKind::Unknown) | Target::Remote(_) => {
                self.out.s(&r.addr);
            }
        }
    }

    fn router(&mut self, r: &Rcpt) {
        match r.target {
            Target::Local(LocalKind::Pipe) => self.out.s(" R=system_aliases T=address_pipe"),
            Target::Local(_) => self.out.s(" R=local_user T=maildir_home"),
            Target::Remote(_) => self.out.s(" R=dnslookup T=remote_smtp"),
        };
    }

    fn host(&mut self, d: &Domain) {
        self.out.s(" H=").s(d.mx).s(" [").s(d.ip).s("]");
    }

    /// The remote server's reply text for a failure after RCPT / end of data.
    fn reply(&mut self, why: Why, r: &Rcpt, t: i64) {
        match why {
            Why::Spam | Why::Dmarc => self.out.s("end of data: "),
            _ => self.out.s("RCPT TO:<").s(&r.addr).s(">: "),
        };
        world::reply_text(&mut self.out, &mut self.rng, why, &r.addr, OUR_IP, t);
    }

    fn confirm(&mut self, d: &Domain, m: &Msg) {
        self.out.s(" C=\"");
        world::confirm_text(
            &mut self.out,
            &mut self.rng,
            d,
            m.received_log,
            m.size,
            |o| match &m.message_id {
                Some(mid) => {
                    o.s(mid);
                }
                None => {
                    o.s("E");
                    if let Some(id) = &m.id {
                        o.s(id.as_str());
                    }
                    o.s("@").s(OUR_HOST);
                }
            },
        );
        self.out.s("\"");
    }

    fn client(&mut self, m: &Msg) {
        match m.origin {
            Origin::Inbound(d) => {
                let dd = &DOMAINS[usize::from(d)];
                self.out.s(dd.out_host).s(" [").s(dd.out_ip).s("]");
            }
            Origin::Submission(u) => {
                self.out
                    .s("(")
                    .s(USERS[usize::from(u)])
                    .s("-laptop) [203.0.113.")
                    .num(u64::from(m.client_ip))
                    .s("]");
            }
            _ => {
                if let Some(rj) = &m.reject {
                    self.out.s(rj.host).s(" [").s(&rj.ip).s("]");
                }
            }
        }
    }

    /// `SMTP connection from host [ip]:port I=[ours]:25`, the start of the
    /// connection opened and closed lines.
    fn connection_line(&mut self, e: &Ev, m: &Msg) {
        self.out.start(e.t, m.rx_pid, None);
        self.out.s("SMTP connection from ");
        self.client(m);
        let port = if matches!(m.origin, Origin::Submission(_)) {
            "587"
        } else {
            "25"
        };
        self.out
            .s(":")
            .num(u64::from(m.port))
            .s(" I=[")
            .s(OUR_IP)
            .s("]:")
            .s(port);
    }

    fn render(&mut self, m: &Msg, e: &Ev) -> io::Result<()> {
        let id = m.id.as_ref();
        let dl = m.dl_pid;
        match &e.k {
            K::ConnOpen => {
                self.connection_line(e, m);
                self.out
                    .s(" (TCP/IP connection count = ")
                    .num(u64::from(m.conn_count))
                    .s(")");
            }
            K::ConnClose => {
                self.connection_line(e, m);
                self.out.s(" closed by QUIT");
            }
            K::Dkim => {
                self.out.start(e.t, m.rx_pid, id);
                let d = m.sender.rsplit_once('@').map_or("", |x| x.1);
                self.out.s("DKIM: d=").s(d).s(
                    " s=mail2024 c=relaxed/relaxed a=rsa-sha256 b=2048 [verification succeeded]",
                );
            }
            K::Arrive => return self.arrival(m, e.t),
            K::HostErr(r, why) => {
                self.out.start(e.t, dl, id);
                if let Target::Remote(d) = m.rcpts[usize::from(*r)].target {
                    let dd = &DOMAINS[usize::from(d)];
                    self.out.s("H=").s(dd.mx).s(" [").s(dd.ip).s("] ");
                }
                self.out.s(if *why == Why::ConnRefused {
                    "Connection refused"
                } else {
                    "Connection timed out"
                });
            }
            K::Delivered(r, first) => {
                let rc = &m.rcpts[usize::from(*r)];
                self.out.start(e.t, dl, id);
                self.out.s(if *first { "=> " } else { "-> " });
                self.addr(rc);
                self.router(rc);
                if let Target::Remote(d) = rc.target {
                    let dd = &DOMAINS[usize::from(d)];
                    self.host(dd);
                    self.out.s(tls_text(dd.tls));
                    self.confirm(dd, m);
                }
            }
            K::Deferred(r, why) => {
                let rc = &m.rcpts[usize::from(*r)];
                self.out.start(e.t, dl, id);
                self.out.s("== ");
                self.addr(rc);
                match why {
                    Why::DnsTemp => {
                        self.out
                            .s(" R=dnslookup defer (-1): host lookup did not complete");
                    }
                    Why::ConnTimeout => {
                        self.router(rc);
                        self.out.s(" defer (110): Connection timed out");
                    }
                    Why::ConnRefused => {
                        self.router(rc);
                        self.out.s(" defer (111): Connection refused");
                    }
                    Why::LocalQuota => {
                        self.router(rc);
                        self.out
                            .s(" defer (-22): mailbox is full (MTA-imposed quota exceeded while writing to /var/mail/")
                            .s(USERS[QUOTA_USER])
                            .s("/Maildir/tmp/")
                            .num(e.t.div_euclid(SEC) as u64)
                            .s(".P")
                            .num(u64::from(dl))
                            .s("Q1.")
                            .s(OUR_HOST)
                            .s(")");
                    }
                    _ => {
                        self.router(rc);
                        self.out.s(" defer (-44)");
                        if let Target::Remote(d) = rc.target {
                            self.host(&DOMAINS[usize::from(d)]);
                        }
                        self.out.s(": SMTP error from remote mail server after ");
                        self.reply(*why, rc, e.t);
                    }
                }
            }
            K::RetryNotReached(r, style) => {
                let rc = &m.rcpts[usize::from(*r)];
                self.out.start(e.t, dl, id);
                self.out.s("== ");
                self.addr(rc);
                match style {
                    RetryStyle::Routing => {
                        self.out.s(" routing defer (-52): retry time not reached");
                    }
                    RetryStyle::Local => {
                        self.router(rc);
                        self.out.s(" defer (-53): retry time not reached");
                    }
                    RetryStyle::Remote => {
                        self.router(rc);
                        let d = rc.domain();
                        self.out
                            .s(" defer (-54): retry time not reached for any host for '")
                            .s(d)
                            .s("'");
                    }
                }
            }
            K::Failed(r, why) => {
                let rc = &m.rcpts[usize::from(*r)];
                self.out.start(e.t, dl, id);
                self.out.s("** ");
                self.addr(rc);
                match why {
                    Why::Unrouteable => {
                        self.out.s(": Unrouteable address");
                    }
                    Why::NoSuchUser => {
                        self.out.s(" R=virtual_aliases: No Such User Here");
                    }
                    Why::PipeFail => {
                        self.router(rc);
                        self.out.s(": Child process of address_pipe transport returned 1 from command: /usr/local/bin/ticket-import");
                    }
                    _ => {
                        self.router(rc);
                        if let Target::Remote(d) = rc.target {
                            let dd = &DOMAINS[usize::from(d)];
                            self.host(dd);
                            self.out.s(tls_text(dd.tls));
                        }
                        self.out.s(": SMTP error from remote mail server after ");
                        self.reply(*why, rc, e.t);
                    }
                }
            }
            K::Expired(r, long_time) => {
                let rc = &m.rcpts[usize::from(*r)];
                self.out.start(e.t, dl, id);
                self.out.s("** ");
                self.addr(rc);
                if *long_time {
                    let d = rc.domain();
                    self.router(rc);
                    self.out
                        .s(": all hosts for '")
                        .s(d)
                        .s("' have been failing for a long time (and retry time not reached)");
                } else {
                    self.out.s(": retry timeout exceeded");
                }
            }
            // Message lines whose whole text is fixed.
            K::Completed | K::Frozen | K::MessageIsFrozen | K::Removed | K::Cancelled => {
                let text = match e.k {
                    K::Completed => "Completed",
                    K::Frozen => "Frozen (delivery error message)",
                    K::MessageIsFrozen => "Message is frozen",
                    K::Removed => "removed by root",
                    _ => "cancelled by root",
                };
                self.out.start(e.t, dl, id);
                self.out.s(text);
            }
            K::Reject => {
                let Some(rj) = &m.reject else { return Ok(()) };
                self.out.start(e.t, m.rx_pid, None);
                self.out.s("H=");
                self.client(m);
                self.out
                    .s(":")
                    .num(u64::from(m.port))
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 F=<");
                self.out.s(&rj.sender).s("> ");
                if rj.why == RejWhy::Greylist {
                    self.out.s("temporarily ");
                }
                self.out.s("rejected RCPT <").s(&rj.rcpt).s(">: ");
                match rj.why {
                    RejWhy::UnknownUser => self.out.s("Unknown user"),
                    RejWhy::SenderVerify => self.out.s("Sender verify failed"),
                    RejWhy::Rbl => self.out.s(&rj.ip).s(" is listed in zen.spamhaus.org"),
                    RejWhy::Greylist => self
                        .out
                        .s("Deferred due to greylisting. Host: ")
                        .s(&rj.ip)
                        .s(" From: <")
                        .s(&rj.sender)
                        .s("> To: <")
                        .s(&rj.rcpt)
                        .s(">. Try again in 5 minutes."),
                };
            }
            K::Spawn(_) | K::Done => return Ok(()),
        }
        self.out.end()
    }

    fn arrival(&mut self, m: &Msg, t: i64) -> io::Result<()> {
        self.out.start(t, m.rx_pid, m.id.as_ref());
        self.out.s("<= ");
        if m.sender.is_empty() {
            self.out.s("<>");
        } else {
            self.out.s(&m.sender);
        }
        match m.origin {
            Origin::Inbound(d) => {
                self.out.s(" H=");
                self.client(m);
                self.out.s(" P=");
                let dd = &DOMAINS[usize::from(d)];
                if dd.tls == Tls::None {
                    self.out.s("esmtp");
                } else {
                    self.out
                        .s("esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no");
                }
            }
            Origin::Submission(u) => {
                self.out.s(" H=");
                self.client(m);
                self.out
                    .s(" P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:")
                    .s(USERS[usize::from(u)]);
            }
            Origin::Helpdesk => {
                self.out.s(" U=www-data P=local");
            }
            Origin::Cron => {
                self.out.s(" U=root P=local");
            }
            Origin::Notification { .. } => {
                self.out.s(" R=");
                if let Some(p) = &m.parent {
                    self.out.s(p.as_str());
                }
                self.out.s(" U=Debian-exim P=local");
            }
            Origin::Reject => {}
        }
        self.out.s(" S=").num(u64::from(m.size));
        if m.dkim {
            let d = m.sender.rsplit_once('@').map_or("", |x| x.1);
            self.out.s(" DKIM=").s(d);
        }
        if let Some(mid) = &m.message_id {
            self.out.s(" id=").s(mid);
        }
        if let Some(subj) = &m.subject {
            self.out.s(" T=");
            quoted(&mut self.out, subj);
        }
        if m.log_for {
            self.out.s(" for");
            for r in &m.rcpts {
                self.out.s(" ").s(&r.addr);
            }
        }
        self.out.end()
    }
}

// ---------------------------------------------------------------------------
// The event loop.

/// Exim's own scheduled items, besides those of [`sched::Event`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Item {
    QueueStart,
    QueueEnd(u32),
    Daemon(&'static str),
}

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
        self.planner.reject(t)
    }

    fn noise(&mut self, t: i64) -> io::Result<()> {
        self.noise_line(t)
    }

    fn step(&mut self, slot: u32, now: i64) -> io::Result<()> {
        let Some(m) = self.queue.get_mut(slot) else {
            return Ok(());
        };
        let i = m.cursor;
        m.cursor += 1;
        // Delivery processes: a new pid whenever a new run starts.
        let is_delivery = !matches!(
            m.events[i].k,
            K::ConnOpen | K::ConnClose | K::Dkim | K::Arrive | K::Reject | K::Spawn(_)
        );
        if is_delivery && now.saturating_sub(m.last_dl) > 30 * SEC {
            m.dl_pid = self.planner.pids.next(&mut self.planner.rng);
        }
        if is_delivery {
            m.last_dl = now;
        }
        self.render.render(m, &m.events[i])?;
        let mut spawn = None;
        let mut finished = false;
        match &m.events[i].k {
            K::Arrive => m.seen_arrival = true,
            K::Delivered(r, _) => {
                let rc = &mut m.rcpts[usize::from(*r)];
                rc.truth.delivered(now);
                if let Target::Remote(d) = rc.target
                    && matches!(
                        DOMAINS[usize::from(d)].kind,
                        DKind::Outlook550 | DKind::OutlookTemp | DKind::RblTemp
                    )
                {
                    self.truth.summary.incident_provider_delivery(now);
                }
            }
            K::Deferred(r, w) => {
                let f = w.failure();
                m.rcpts[usize::from(*r)].truth.deferred(now, f);
                self.truth.summary.incident_failure(now, f);
            }
            K::Failed(r, w) => {
                let f = w.failure();
                m.rcpts[usize::from(*r)].truth.failed(now, f);
                self.truth.summary.incident_failure(now, f);
            }
            K::Expired(r, _) => m.rcpts[usize::from(*r)].truth.expired(now),
            K::Frozen => m.frozen = true,
            K::Removed | K::Cancelled => m.rcpts.iter_mut().for_each(|r| r.truth.removed()),
            K::Completed => {
                m.completed = true;
                finished = true;
            }
            K::Reject => {
                if let Some(rj) = &m.reject {
                    self.truth.rejected(now, "", &rj.rcpt, rj.why.failure())?;
                }
            }
            K::Spawn(_) => {
                if let K::Spawn(s) = std::mem::replace(&mut m.events[i].k, K::Done) {
                    spawn = Some(*s);
                }
            }
            _ => {}
        }
        let next = m.events.get(m.cursor).filter(|_| !finished).map(|e| e.t);
        let release = finished || m.id.is_none();
        if let Some(m) = self.queue.settle(slot, next, release) {
            self.finish(&m)?;
        }
        if let Some(s) = spawn {
            let child = self.planner.child(s, now);
            self.queue.insert(child);
        }
        Ok(())
    }

    fn own(&mut self, item: Item, t: i64) -> io::Result<()> {
        match item {
            Item::QueueStart => {
                let pid = self.planner.pids.next(&mut self.planner.rng);
                self.render.out.start(t, pid, None);
                self.render
                    .out
                    .s("Start queue run: pid=")
                    .num(u64::from(pid));
                self.render.out.end()?;
                let dur = 55 * SEC + self.planner.rng.range(0, 4 * SEC);
                self.queue.own(t + dur, Item::QueueEnd(pid));
                self.queue.own(t + QUEUE_INTERVAL, Item::QueueStart);
            }
            Item::QueueEnd(pid) => {
                self.render.out.start(t, pid, None);
                self.render.out.s("End queue run: pid=").num(u64::from(pid));
                self.render.out.end()?;
            }
            Item::Daemon(v) => {
                let pid = self.planner.pids.next(&mut self.planner.rng);
                self.render.out.start(t, pid, None);
                self.render
                    .out
                    .s("exim ")
                    .s(v)
                    .s(" daemon started: pid=")
                    .num(u64::from(pid))
                    .s(", -q30m, listening for SMTP on port 25 (IPv6 and IPv4) port 587 (IPv6 and IPv4)");
                self.render.out.end()?;
            }
        }
        Ok(())
    }
}

impl<L: Write, T: Write> Sim<L, T> {
    fn finish(&mut self, m: &Msg) -> io::Result<()> {
        let Some(id) = &m.id else { return Ok(()) };
        if !m.seen_arrival {
            return Ok(());
        }
        let rows = MessageRows {
            queue_id: id.as_str(),
            notification: matches!(m.origin, Origin::Notification { .. }),
            received_at: Some(m.received_log),
            subject: m.subject.as_deref(),
            message_id: m.message_id.as_deref(),
            completed: m.completed,
            frozen: m.frozen,
        };
        self.truth
            .message(&rows, m.rcpts.iter().map(|r| (r.addr.as_str(), &r.truth)))
    }

    fn noise_line(&mut self, t: i64) -> io::Result<()> {
        let r = &mut self.noise_rng;
        let kind = r.weighted(&[30, 20, 12, 8, 10, 10, 10]);
        let ip = r.range(150, 250);
        let port = r.range(1025, 65_000) as u64;
        let pid = self.planner.pids.next(r);
        let helo = *r.pick(SPAM_HOSTS);
        let set_id = *r.pick(&["admin", "info@example.com", "test", "sales@example.com"]);
        let dur = r.range(1, 40) as u64;
        let o = &mut self.render.out;
        o.start(t, pid, None);
        match kind {
            0 => {
                o.s("no MAIL in SMTP connection from ")
                    .s(helo)
                    .s(" [192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 D=")
                    .num(dur)
                    .s("s C=EHLO,STARTTLS");
            }
            1 => {
                o.s("dovecot_login authenticator failed for ")
                    .s(helo)
                    .s(" [192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(": 535 Incorrect authentication data (set_id=")
                    .s(set_id)
                    .s(")");
            }
            2 => {
                o.s("TLS error on connection from ")
                    .s(helo)
                    .s(" [192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 (SSL_accept): error:0A000076:SSL routines::no suitable signature algorithm");
            }
            3 => {
                o.s("SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 input=\"GET / HTTP/1.1\\r\\n\"");
            }
            4 => {
                o.s("no host name found for IP address 192.0.2.")
                    .num(ip as u64);
            }
            5 => {
                o.s("unexpected disconnection while reading SMTP command from ")
                    .s(helo)
                    .s(" [192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 D=")
                    .num(dur)
                    .s("s");
            }
            _ => {
                o.s("SMTP connection from ")
                    .s(helo)
                    .s(" [192.0.2.")
                    .num(ip as u64)
                    .s("]:")
                    .num(port)
                    .s(" I=[")
                    .s(OUR_IP)
                    .s("]:25 (TCP/IP connection count = ")
                    .num(1 + dur % 6)
                    .s(")");
            }
        }
        o.end()
    }

    fn run(&mut self, qfirst: i64, daemon: &'static str, upgrade: Option<i64>) -> io::Result<()> {
        let start = self.planner.start;
        self.queue.own(start, Item::Daemon(daemon));
        if let Some(u) = upgrade {
            self.queue.own(u, Item::Daemon("4.98"));
        }
        self.queue.own(qfirst, Item::QueueStart);
        sched::run(self, self.end)?;
        // End of input: whatever is still queued is pending or frozen.
        let mut rest = self.queue.drain();
        rest.sort_by_key(|m| (m.received_log, m.id.map(|i| i.as_bytes().to_vec())));
        for m in &rest {
            self.finish(m)?;
        }
        self.render.out.w.flush()
    }
}

/// Generates an Exim main log into `log` and (optionally) the truth CSV into
/// `truth`; returns the incident summary.
pub fn generate<L: Write, T: Write>(
    cfg: &EximConfig,
    log: L,
    truth: Option<T>,
) -> io::Result<Summary> {
    let mut root = Rng::new(cfg.seed);
    let span = cfg.end - cfg.start;
    let upgrade_at = (cfg.ids == IdStyle::Mixed).then(|| cfg.start + span / 3);
    let mut plan_rng = root.fork();
    let yymm = world::yymm(cfg.start);
    let tickets = world::make_tickets(&mut plan_rng);
    let pids = Pids(1_400_000 + plan_rng.below(100_000) as u32);
    let planner = Planner {
        rng: plan_rng,
        start: cfg.start,
        end: cfg.end,
        onset: cfg.onset.unwrap_or(i64::MAX),
        recovery: cfg.recovery.unwrap_or(i64::MAX),
        qfirst: cfg.start + 7 * MIN + 17 * SEC,
        quota: (cfg.start + 14 * HOUR, cfg.start + 31 * HOUR),
        upgrade_at,
        ids: cfg.ids,
        tickets,
        yymm,
        pids,
    };
    let feeds = Feeds::new(
        &mut root,
        cfg.start,
        cfg.end,
        cfg.messages,
        (cfg.messages / 2, cfg.end - 1),
    );
    let mut summary_truth = TruthSink::new(truth);
    summary_truth.summary.generator = cfg.command.clone();
    summary_truth.summary.start = cfg.start;
    summary_truth.summary.end = cfg.end;
    summary_truth.summary.onset = cfg.onset;
    summary_truth.summary.recovery = cfg.recovery;
    let mut sim = Sim {
        planner,
        render: Renderer {
            out: EximOut {
                out: Out::new(log),
                millisec: cfg.millisec,
                pid: cfg.pid,
            },
            rng: root.fork(),
        },
        truth: summary_truth,
        queue: Queue::new(feeds),
        noise_rng: root.fork(),
        end: cfg.end,
    };
    let daemon = if cfg.ids == IdStyle::New {
        "4.98"
    } else {
        "4.96"
    };
    sim.run(cfg.start + 7 * MIN + 17 * SEC, daemon, upgrade_at)?;
    let (lines, bytes) = (sim.render.out.lines, sim.render.out.bytes);
    let mut s = sim.truth.finish()?;
    s.lines = lines;
    s.bytes = bytes;
    Ok(s)
}
