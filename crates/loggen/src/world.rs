//! The simulated world both generators share: our domain and users, the
//! remote domains with their MX hosts, outages and incident behaviour, the
//! failure reasons with the texts remote servers answer, and the helpers
//! that draw recipients, subjects and Message-IDs.

use std::io::Write;

use crate::clock::{HOUR, SEC};
use crate::line::Out;
use crate::msgid::{IdFormat, MsgId};
use crate::rng::Rng;
use crate::truth::{Category, Failure, RcptTruth};

pub(crate) const OUR_DOMAIN: &str = "example.com";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tls {
    None,
    V12,
    V13,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Confirm {
    Postfix,
    Exim,
    Outlook,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DKind {
    Plain,
    Webmail,
    Greylist,
    Strict,
    Nxdomain,
    /// Permanent `550 5.7.1 … blocked using Spamhaus` during the incident.
    Outlook550,
    /// Temporary `451 4.7.500` / `451 4.7.650` during the incident.
    OutlookTemp,
    /// Temporary `451 4.7.1 … blocked using zen.spamhaus.org` during the incident.
    RblTemp,
}

pub(crate) struct Domain {
    pub(crate) name: &'static str,
    pub(crate) mx: &'static str,
    pub(crate) ip: &'static str,
    /// Client host name and address when this domain sends to us.
    pub(crate) out_host: &'static str,
    pub(crate) out_ip: &'static str,
    pub(crate) tls: Tls,
    pub(crate) kind: DKind,
    pub(crate) confirm: Confirm,
    /// Weight as a recipient domain of ordinary outbound mail.
    pub(crate) weight: u32,
    /// Weight as a helpdesk customer domain.
    pub(crate) customer_weight: u32,
    /// Outage window in hours after the start of the log, with its failure.
    pub(crate) outage: Option<(f64, f64, Why)>,
}

// One row of the domain table; a struct literal per row would be longer still.
#[allow(clippy::too_many_arguments)]
pub(crate) const fn dom(
    name: &'static str,
    mx: &'static str,
    ip: &'static str,
    out: (&'static str, &'static str),
    tls: Tls,
    kind: DKind,
    confirm: Confirm,
    weights: (u32, u32),
) -> Domain {
    Domain {
        name,
        mx,
        ip,
        out_host: out.0,
        out_ip: out.1,
        tls,
        kind,
        confirm,
        weight: weights.0,
        customer_weight: weights.1,
        outage: None,
    }
}

pub(crate) const fn with_outage(mut d: Domain, from_h: f64, to_h: f64, why: Why) -> Domain {
    d.outage = Some((from_h, to_h, why));
    d
}

pub(crate) static DOMAINS: &[Domain] = &[
    dom(
        "example.net",
        "mx1.example.net",
        "198.51.100.10",
        ("mail-out.example.net", "198.51.100.110"),
        Tls::V12,
        DKind::Plain,
        Confirm::Postfix,
        (14, 10),
    ),
    dom(
        "example-mailhost.test",
        "mx.example-mailhost.test",
        "198.51.100.20",
        ("smtp.example-mailhost.test", "198.51.100.120"),
        Tls::V13,
        DKind::Plain,
        Confirm::Exim,
        (10, 7),
    ),
    dom(
        "example-webmail.test",
        "mx-in.example-webmail.test",
        "198.51.100.25",
        ("out-7.smtp.example-webmail.test", "198.51.100.125"),
        Tls::V13,
        DKind::Webmail,
        Confirm::Postfix,
        (12, 10),
    ),
    dom(
        "example-slowpost.test",
        "mail.example-slowpost.test",
        "192.0.2.30",
        ("mail.example-slowpost.test", "192.0.2.30"),
        Tls::None,
        DKind::Greylist,
        Confirm::Postfix,
        (5, 2),
    ),
    dom(
        "example-strict.test",
        "mx.example-strict.test",
        "192.0.2.35",
        ("relay.example-strict.test", "192.0.2.36"),
        Tls::V12,
        DKind::Strict,
        Confirm::Postfix,
        (5, 2),
    ),
    with_outage(
        dom(
            "example-flaky.test",
            "mail.example-flaky.test",
            "192.0.2.50",
            ("mail.example-flaky.test", "192.0.2.50"),
            Tls::V12,
            DKind::Plain,
            Confirm::Exim,
            (6, 1),
        ),
        8.0,
        13.0,
        Why::ConnRefused,
    ),
    with_outage(
        dom(
            "example-dead.test",
            "mx.example-dead.test",
            "192.0.2.200",
            ("mx.example-dead.test", "192.0.2.200"),
            Tls::None,
            DKind::Plain,
            Confirm::Postfix,
            (3, 1),
        ),
        0.0,
        1.0e9,
        Why::ConnTimeout,
    ),
    with_outage(
        dom(
            "example-wobbly.test",
            "mx.example-wobbly.test",
            "192.0.2.60",
            ("mx.example-wobbly.test", "192.0.2.60"),
            Tls::V12,
            DKind::Plain,
            Confirm::Postfix,
            (6, 1),
        ),
        19.0,
        24.0,
        Why::DnsTemp,
    ),
    dom(
        "example-gone.test",
        "",
        "",
        ("mail.example-gone.test", "192.0.2.99"),
        Tls::None,
        DKind::Nxdomain,
        Confirm::Postfix,
        (2, 0),
    ),
    dom(
        "example.org",
        "example-org.mail.protection.outlook.com",
        "198.51.100.36",
        (
            "mail-db8eur05on2101.outbound.protection.outlook.com",
            "198.51.100.201",
        ),
        Tls::V13,
        DKind::Outlook550,
        Confirm::Outlook,
        (16, 30),
    ),
    dom(
        "example-contoso.test",
        "example-contoso-test.mail.protection.outlook.com",
        "198.51.100.37",
        (
            "mail-am6eur05on2102.outbound.protection.outlook.com",
            "198.51.100.202",
        ),
        Tls::V13,
        DKind::Outlook550,
        Confirm::Outlook,
        (10, 20),
    ),
    dom(
        "example-fabrikam.test",
        "example-fabrikam-test.mail.protection.outlook.com",
        "198.51.100.38",
        (
            "mail-vi1eur04on2103.outbound.protection.outlook.com",
            "198.51.100.203",
        ),
        Tls::V13,
        DKind::OutlookTemp,
        Confirm::Outlook,
        (9, 15),
    ),
    dom(
        "example-northwind.test",
        "mx.example-northwind.test",
        "192.0.2.44",
        ("mx.example-northwind.test", "192.0.2.44"),
        Tls::V12,
        DKind::RblTemp,
        Confirm::Exim,
        (5, 8),
    ),
];

pub(crate) static USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken",
    "laura", "mike", "nina", "oscar", "peggy",
];
/// Index of the user whose mailbox is over quota for a while.
pub(crate) const QUOTA_USER: usize = 3; // dave
/// Aliases (local part → index into USERS).
pub(crate) static ALIASES: &[(&str, u8)] =
    &[("info", 2), ("sales", 6), ("billing", 7), ("root", 0)];
pub(crate) static UNKNOWN_LOCAL: &[&str] =
    &["alcie", "noreply-archive", "old.staff", "bobb", "hr-2019"];
pub(crate) static REMOTE_LOCAL: &[&str] = &[
    "john.smith",
    "maria.garcia",
    "info",
    "sales",
    "accounts",
    "k.tanaka",
    "l.dubois",
    "p.novak",
    "a.kowalski",
    "s.oconnor",
    "m.rossi",
    "j.mueller",
    "billing",
    "procurement",
    "it-support",
    "r.silva",
    "t.nguyen",
    "e.jansen",
];
pub(crate) static SUBJECTS: &[&str] = &[
    "Quarterly report Q3",
    "Lunch on Friday?",
    "Re: Contract \"final\" version",
    "Café order confirmation",
    "Grüße aus München",
    "Path C:\\Temp\\report.xlsx",
    "Invoice #4471 – payment due",
    "Meeting notes 2024-10-18",
    "Your order has shipped",
    "Re: Budget 2025",
    "Fwd: Server room access",
    "Weekly newsletter",
    "[ext] Question about API limits",
    "Re: \"Urgent\" – signature needed",
    "Naïve question about the déjà-vu bug",
    "Shipping delay",
    "Re: Re: Offsite agenda",
    "Holiday schedule",
];
pub(crate) static TICKET_SUBJECTS: &[&str] = &[
    "Printer on 3rd floor",
    "VPN drops every hour",
    "Cannot open invoice PDF",
    "Password reset for \"finance\" share",
    "New laptop for Zoë",
    "Outlook keeps asking for password",
    "Access to CRM",
    "Phone extension 4411 dead",
    "Backup failed on FS02",
    "Monitor flickering",
];
pub(crate) static SPAM_HOSTS: &[&str] = &[
    "(ylmf-pc)",
    "(User)",
    "(example-bulk.test)",
    "mail.example-bulkmail.test",
    "(localhost)",
    "host-77.example-isp.test",
];
pub(crate) static SPAM_SENDERS: &[&str] = &[
    "promo@example-bulkmail.test",
    "newsletter@example-bulk.test",
    "billing@example-phish.test",
    "no-reply@example-isp.test",
];

// ---------------------------------------------------------------------------
// Failure reasons.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Why {
    Spamhaus,
    ServerBusy,
    IpReputation,
    RblTemp,
    Greylist,
    RateLimit,
    ConnTimeout,
    ConnRefused,
    DnsTemp,
    UserUnknown,
    OutlookUnknown,
    MailboxFull,
    Disabled,
    Unrouteable,
    NoSuchUser,
    PipeFail,
    LocalQuota,
    Spam,
    Dmarc,
}

impl Why {
    pub(crate) fn failure(self) -> Failure {
        use Category as C;
        let (code, enhanced, category, incident) = match self {
            Why::Spamhaus => ("550", "5.7.1", C::Blocklisted, true),
            Why::ServerBusy => ("451", "4.7.500", C::RateLimited, true),
            Why::IpReputation => ("451", "4.7.650", C::Reputation, true),
            Why::RblTemp => ("451", "4.7.1", C::Blocklisted, true),
            Why::Greylist => ("451", "4.7.1", C::Greylisted, false),
            Why::RateLimit => ("450", "4.2.1", C::RateLimited, false),
            Why::ConnTimeout | Why::ConnRefused => ("", "", C::ConnectionFailure, false),
            Why::DnsTemp | Why::Unrouteable => ("", "", C::DnsFailure, false),
            Why::UserUnknown => ("550", "5.1.1", C::RecipientUnknown, false),
            Why::OutlookUnknown => ("550", "5.1.10", C::RecipientUnknown, false),
            Why::MailboxFull => ("552", "5.2.2", C::MailboxFull, false),
            Why::Disabled => ("550", "5.2.1", C::MailboxUnavailable, false),
            Why::NoSuchUser => ("", "", C::RecipientUnknown, false),
            Why::PipeFail => ("", "", C::LocalFailure, false),
            Why::LocalQuota => ("", "", C::MailboxFull, false),
            Why::Spam => ("554", "5.7.1", C::ContentRejected, false),
            Why::Dmarc => ("550", "5.7.26", C::PolicyRejected, false),
        };
        Failure {
            code,
            enhanced,
            category,
            incident,
        }
    }

    pub(crate) fn is_connection(self) -> bool {
        matches!(self, Why::ConnTimeout | Why::ConnRefused)
    }
}

// ---------------------------------------------------------------------------
// Recipients.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LocalKind {
    User(u8),
    Alias(u8, u8),
    Pipe,
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Target {
    Local(LocalKind),
    Remote(u8),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fate {
    Ok,
    Unknown,
    Full,
    Disabled,
}

#[derive(Clone, Debug)]
pub(crate) struct Rcpt {
    pub(crate) addr: String,
    pub(crate) target: Target,
    pub(crate) fate: Fate,
    /// Local pipe fails / webmail rate-limits this recipient on the first try.
    pub(crate) quirk: bool,
    /// The receiving server refuses the content (spam, DMARC) for this
    /// recipient (Postfix plans; Exim decides per message).
    pub(crate) content: Option<Why>,
    pub(crate) truth: RcptTruth,
}

impl Rcpt {
    pub(crate) fn new(addr: String, target: Target, fate: Fate, quirk: bool) -> Self {
        Rcpt {
            addr,
            target,
            fate,
            quirk,
            content: None,
            truth: RcptTruth::default(),
        }
    }
    pub(crate) fn domain(&self) -> &str {
        self.addr.rsplit_once('@').map_or("", |(_, d)| d)
    }
    pub(crate) fn local_part(&self) -> &str {
        self.addr.rsplit_once('@').map_or(&self.addr, |(l, _)| l)
    }
}

/// Process ids: a global counter, as on a real host.
pub(crate) struct Pids(pub(crate) u32);

impl Pids {
    pub(crate) fn next(&mut self, rng: &mut Rng) -> u32 {
        self.0 += 1 + rng.below(37) as u32;
        if self.0 >= 4_194_304 {
            self.0 = 300 + (self.0 % 1000);
        }
        self.0
    }
}

pub(crate) struct Ticket {
    pub(crate) number: u32,
    pub(crate) subject: &'static str,
    pub(crate) customer: String,
    pub(crate) domain: u8,
}

pub(crate) fn remote_weights(customer: bool) -> Vec<u32> {
    DOMAINS
        .iter()
        .map(|d| {
            if customer {
                d.customer_weight
            } else {
                d.weight
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Drawing recipients, subjects and ids.

/// A recipient at a remote domain (drawn with `weights`, or `same_domain`).
pub(crate) fn remote_rcpt(rng: &mut Rng, weights: &[u32], same_domain: Option<u8>) -> Rcpt {
    let d = same_domain.unwrap_or_else(|| rng.weighted(weights) as u8);
    let lp = *rng.pick(REMOTE_LOCAL);
    let x = rng.unit();
    let fate = if x < 0.05 {
        Fate::Unknown
    } else if x < 0.07 {
        Fate::Full
    } else if x < 0.085 {
        Fate::Disabled
    } else {
        Fate::Ok
    };
    let quirk = DOMAINS[usize::from(d)].kind == DKind::Webmail && rng.chance(0.12);
    Rcpt::new(
        format!("{lp}@{}", DOMAINS[usize::from(d)].name),
        Target::Remote(d),
        fate,
        quirk,
    )
}

/// A recipient in our domain: a user, an alias, or (when allowed) an
/// address that does not exist.
pub(crate) fn local_rcpt(rng: &mut Rng, allow_unknown: bool) -> Rcpt {
    let x = rng.unit();
    if allow_unknown && x < 0.12 {
        let lp = *rng.pick(UNKNOWN_LOCAL);
        return Rcpt::new(
            format!("{lp}@{OUR_DOMAIN}"),
            Target::Local(LocalKind::Unknown),
            Fate::Ok,
            false,
        );
    }
    if x < 0.3 {
        let (a, u) = *rng.pick(ALIASES);
        let ai = ALIASES.iter().position(|&(n, _)| n == a).unwrap_or(0) as u8;
        return Rcpt::new(
            format!("{a}@{OUR_DOMAIN}"),
            Target::Local(LocalKind::Alias(ai, u)),
            Fate::Ok,
            false,
        );
    }
    let u = rng.below(USERS.len() as u64) as u8;
    user_rcpt(u)
}

/// The mailbox of user `u`.
pub(crate) fn user_rcpt(u: u8) -> Rcpt {
    Rcpt::new(
        format!("{}@{OUR_DOMAIN}", USERS[usize::from(u)]),
        Target::Local(LocalKind::User(u)),
        Fate::Ok,
        false,
    )
}

pub(crate) fn subject(rng: &mut Rng) -> String {
    (*rng.pick(SUBJECTS)).to_owned()
}

/// A UUID-style Message-ID at `domain`.
pub(crate) fn uuid_mid(rng: &mut Rng, domain: &str) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}@{domain}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The helpdesk's open tickets: 40 distinct numbers, each with a customer.
pub(crate) fn make_tickets(rng: &mut Rng) -> Vec<Ticket> {
    let cw = remote_weights(true);
    let mut tickets = Vec::new();
    let mut used = Vec::new();
    for _ in 0..40 {
        let mut number = rng.range(1, 1000) as u32;
        while used.contains(&number) {
            number = number % 999 + 1;
        }
        used.push(number);
        let d = rng.weighted(&cw) as u8;
        tickets.push(Ticket {
            number,
            subject: TICKET_SUBJECTS[rng.below(TICKET_SUBJECTS.len() as u64) as usize],
            customer: format!(
                "{}@{}",
                rng.pick(REMOTE_LOCAL),
                DOMAINS[usize::from(d)].name
            ),
            domain: d,
        });
    }
    tickets
}

/// `YYMM` of an instant, as in helpdesk ticket ids (`[#2410-0042]`).
pub(crate) fn yymm(t: i64) -> String {
    let s = crate::clock::rfc3339(t);
    format!("{}{}", &s[2..4], &s[5..7])
}

// ---------------------------------------------------------------------------
// What remote servers answer.

/// The `[…prod.outlook.com <time> …]` tag Microsoft appends to its replies.
pub(crate) fn outlook_trailer<W: Write>(o: &mut Out<W>, rng: &mut Rng, t: i64) {
    let a = rng.next_u64();
    let region = *rng.pick(&["eurprd02", "eurprd04", "eurprd05", "eurprd07"]);
    let pre = *rng.pick(&["DB5PEPF0000", "AM4PEPF0002", "VI1PEPF0000", "HE1PEPF0000"]);
    o.s(" [").s(pre).hex(a >> 48, 4).s(".").s(region);
    o.s(".prod.outlook.com ");
    let stamp = *o.ts.stamp(t.div_euclid(SEC));
    o.buf.extend_from_slice(&stamp[..10]);
    o.s("T");
    o.buf.extend_from_slice(&stamp[11..]);
    let ms = t.rem_euclid(SEC) / 1000;
    o.s(".");
    o.buf.push(b'0' + (ms / 100) as u8);
    o.buf.push(b'0' + (ms / 10 % 10) as u8);
    o.buf.push(b'0' + (ms % 10) as u8);
    o.s("Z 08DC").hex(a & 0xffff_ffff_ffff, 12).s("]");
}

/// The remote server's reply (`code enhanced text`) refusing `addr` for
/// `why`; `our_ip` is the address the remote side names.
pub(crate) fn reply_text<W: Write>(
    o: &mut Out<W>,
    rng: &mut Rng,
    why: Why,
    addr: &str,
    our_ip: &str,
    t: i64,
) {
    let f = why.failure();
    o.s(f.code).s(" ").s(f.enhanced).s(" ");
    match why {
        Why::Spamhaus => {
            o.s("Service unavailable, Client host [")
                .s(our_ip)
                .s("] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/")
                .s(our_ip)
                .s(" AS(1440)");
            outlook_trailer(o, rng, t);
        }
        Why::ServerBusy => {
            o.s("Server busy. Please try again later from [")
                .s(our_ip)
                .s("]. (S77714)");
            outlook_trailer(o, rng, t);
        }
        Why::IpReputation => {
            o.s("The mail server [")
                .s(our_ip)
                .s("] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)");
            outlook_trailer(o, rng, t);
        }
        Why::RblTemp => {
            o.s("Service unavailable; Client host [")
                .s(our_ip)
                .s("] blocked using zen.spamhaus.org; try again later");
        }
        Why::Greylist => {
            o.s("<")
                .s(addr)
                .s(">: Recipient address rejected: Greylisted, please try again in 300 seconds");
        }
        Why::RateLimit => {
            o.s("The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time.");
        }
        Why::UserUnknown => {
            o.s("<")
                .s(addr)
                .s(">: Recipient address rejected: User unknown in virtual mailbox table");
        }
        Why::OutlookUnknown => {
            o.s("RESOLVER.ADR.RecipientNotFound; Recipient ")
                .s(addr)
                .s(" not found by SMTP address lookup");
            outlook_trailer(o, rng, t);
        }
        Why::MailboxFull => {
            o.s("<")
                .s(addr)
                .s(">: Recipient address rejected: Mailbox full, quota exceeded");
        }
        Why::Disabled => {
            o.s("<")
                .s(addr)
                .s(">: Recipient address rejected: Mailbox disabled for this recipient");
        }
        Why::Spam => {
            o.s("Message rejected as spam by content filter (score=")
                .num(8 + rng.below(9))
                .s(".")
                .num(rng.below(10))
                .s(")");
        }
        Why::Dmarc => {
            o.s("Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain.");
        }
        _ => {}
    }
}

/// What the remote server answers when it accepts a message: a Postfix
/// `queued as`, an Exim `id=`, or Microsoft's `Queued mail for delivery`
/// echoing the Message-ID (`mid` writes it). `received` is when we got the
/// message; `size` its size.
pub(crate) fn confirm_text<W: Write>(
    o: &mut Out<W>,
    rng: &mut Rng,
    d: &Domain,
    received: i64,
    size: u32,
    mid: impl FnOnce(&mut Out<W>),
) {
    match d.confirm {
        Confirm::Postfix => {
            let v = rng.next_u64();
            o.s("250 2.0.0 Ok: queued as ").hex(v, 11);
        }
        Confirm::Exim => {
            let v = rng.next_u64();
            let id = MsgId::new(
                IdFormat::New,
                received.div_euclid(SEC) + 1,
                (v % 1_000_000) as u32,
                v >> 44,
            );
            o.s("250 OK id=").s(id.as_str());
        }
        Confirm::Outlook => {
            let v = rng.next_u64();
            o.s("250 2.6.0 <");
            mid(o);
            o.s("> [InternalId=")
                .num(v >> 24)
                .s(", Hostname=AM0PR02MB")
                .hex(v & 0xffff, 4)
                .s(".eurprd02.prod.outlook.com] ")
                .num(u64::from(size) + 1_500)
                .s(" bytes in 0.")
                .num(100 + (v >> 8) % 900)
                .s(", ")
                .num(10 + (v >> 20) % 200)
                .s(".")
                .num((v >> 30) % 900 + 100)
                .s(" KB/sec Queued mail for delivery");
        }
    }
}

/// Outage window of `d` at `t` (hours after `start`), with its failure.
pub(crate) fn outage(d: &Domain, start: i64, t: i64) -> Option<Why> {
    let (a, b, why) = d.outage?;
    let from = start + (a * HOUR as f64) as i64;
    let to = start + (b * HOUR as f64).min(1.0e15) as i64;
    (t >= from && t < to).then_some(why)
}

/// Why an attempt at `t` fails for every recipient at `d` at once, and
/// whether permanently: an unresolvable domain, an outage window, the
/// blocklisting `incident` at the providers that enforce it, or greylisting
/// on the `first_try`. Draws from `rng` only for the provider whose
/// temporary refusal text varies: the draw order is part of the output.
pub(crate) fn domain_failure(
    d: &Domain,
    start: i64,
    t: i64,
    incident: bool,
    first_try: bool,
    rng: &mut Rng,
) -> Option<(Why, bool)> {
    if d.kind == DKind::Nxdomain {
        Some((Why::Unrouteable, true))
    } else if let Some(w) = outage(d, start, t) {
        Some((w, false))
    } else if incident {
        match d.kind {
            DKind::Outlook550 => Some((Why::Spamhaus, true)),
            DKind::OutlookTemp => Some((
                if rng.chance(0.6) {
                    Why::ServerBusy
                } else {
                    Why::IpReputation
                },
                false,
            )),
            DKind::RblTemp => Some((Why::RblTemp, false)),
            _ => None,
        }
    } else if d.kind == DKind::Greylist && first_try {
        Some((Why::Greylist, false))
    } else {
        None
    }
}
