//! The Postfix grammar: the text after `postfix/<daemon>[pid]: `.
//!
//! A body is `[<severity>: ]<text>`, and most message-related texts start
//! with `<QUEUEID>: ` or `NOQUEUE: `. The grammar recognises, by shape first
//! and by daemon only where the shape is ambiguous:
//!
//! * smtpd `client=`, pickup `uid= from=`, cleanup `message-id=`, qmgr
//!   `from=, size=, nrcpt=` → [`Reception`] parts;
//! * delivery-agent `to=…, relay=…, status=… (text)` lines → [`Attempt`];
//! * qmgr `status=expired`, `removed`, cleanup `removed (canceled)`,
//!   postsuper `removed`/`requeued`/`placed on hold`/`released from hold`
//!   → [`Lifecycle`];
//! * smtpd/postscreen `reject:`, cleanup header/body/milter actions →
//!   [`Rejection`], holds, discards, or logged headers;
//! * bounce `sender non-delivery notification: NEWID` → [`Notification`];
//! * connection, TLS, postscreen, daemon and statistics chatter →
//!   [`Body::Irrelevant`].
//!
//! Everything borrows from the input; no input makes it panic.

use bstr::BStr;

use crate::event::{
    Attempt, AttemptStatus, Body, EventKind, Lifecycle, Notification, NotificationKind, Reception,
    RejectStage, Rejection,
};
use crate::exim::queue_id_in_confirmation;
use crate::find::{PrefixTable, find_anchored, find_any, rfind_anchored};
use crate::id::postfix_id_kind;
use crate::smtp::{EnhancedCode, SmtpReply};

/// A parsed Postfix line body.
#[derive(Clone, Debug, PartialEq)]
pub struct PostfixLine<'a> {
    /// The queue id the line belongs to; `None` for `NOQUEUE` and lines
    /// without one.
    pub queue_id: Option<&'a BStr>,
    /// What the line says.
    pub body: Body<'a>,
}

/// Splits a syslog program tag into Postfix instance and daemon name:
/// `postfix/submission/smtpd` → (`postfix`, `smtpd`), `postfix-out/smtp` →
/// (`postfix-out`, `smtp`). `None` when the tag is not Postfix's.
pub fn split_program(tag: &BStr) -> Option<(&BStr, &BStr)> {
    let bytes: &[u8] = tag.as_ref();
    split_program_at(tag, bytes.iter().rposition(|&b| b == b'/'))
}

/// [`split_program`] with the index of the tag's last `/` known (the
/// caller has found it for the daemon name already).
pub(crate) fn split_program_at(tag: &BStr, last_slash: Option<usize>) -> Option<(&BStr, &BStr)> {
    let tag: &[u8] = tag.as_ref();
    if !tag.starts_with(b"postfix") {
        return None;
    }
    // Tags are short: a plain loop costs less than a vectorised search
    // here, and `postfix` itself has no slash to look at.
    let first_slash = tag[7..].iter().position(|&b| b == b'/').map(|i| 7 + i);
    match (first_slash, last_slash) {
        (Some(first), Some(last)) => Some((BStr::new(&tag[..first]), BStr::new(&tag[last + 1..]))),
        _ => Some((BStr::new(tag), BStr::new(b""))),
    }
}

/// Parses the body of a Postfix line written by `daemon` (`smtp`, `qmgr`,
/// `cleanup`, …; empty when the syslog tag lost it, in which case the body's
/// shape decides).
///
/// ```
/// use bstr::BStr;
/// use mailtrail_parse::{Body, EventKind, AttemptStatus};
/// use mailtrail_parse::postfix::parse_body;
///
/// let line = parse_body(
///     BStr::new("smtp"),
///     b"4C3D21F3E9: to=<bob@example.com>, relay=mx.example.com[192.0.2.10]:25, delay=1.2, \
///       delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.10] said: \
///       550 5.1.1 <bob@example.com>: User unknown (in reply to RCPT TO command))",
/// );
/// assert_eq!(line.queue_id.unwrap(), "4C3D21F3E9");
/// let Body::Event(EventKind::Attempt(attempt)) = line.body else { panic!() };
/// assert_eq!(attempt.status, AttemptStatus::Bounced);
/// assert_eq!(attempt.remote_ip.unwrap(), "192.0.2.10");
/// assert_eq!(attempt.reply.code, Some(550));
/// assert_eq!(attempt.phase.unwrap(), "RCPT TO");
/// ```
pub fn parse_body<'a>(daemon: &'a BStr, body: &'a [u8]) -> PostfixLine<'a> {
    let daemon: &[u8] = daemon.as_ref();
    let body = trim_end(body);
    if let Some((label, rest)) = severity(body) {
        // `warning: QID: …`: the severity comes first; the id is kept for
        // reference only.
        let queue_id = leading_queue_id(rest).map(|(id, _)| BStr::new(id));
        return PostfixLine {
            queue_id,
            body: Body::Irrelevant(label),
        };
    }
    // The first colon tells whether a queue id leads and, on a line
    // without one, whether an action word does: it is looked for once.
    let colon = find_any([b':'], &body[..body.len().min(64)]);
    if let Some((id, rest)) = colon.and_then(|colon| queue_id_before(body, colon)) {
        return PostfixLine {
            queue_id: Some(BStr::new(id)),
            body: queue_line(daemon, rest),
        };
    }
    if let Some(rest) = body.strip_prefix(b"NOQUEUE:") {
        return PostfixLine {
            queue_id: None,
            body: unqueued_line(skip_space(rest)),
        };
    }
    PostfixLine {
        queue_id: None,
        body: unqueued_line_at(body, colon.filter(|&colon| colon < 32)),
    }
}

/// `warning: `, `error: `, `fatal: `, `panic: ` at the start of a body.
fn severity(body: &[u8]) -> Option<(&'static str, &[u8])> {
    const SEVERITIES: [(&[u8], &str); 4] = [
        (b"warning:", "warning"),
        (b"error:", "error"),
        (b"fatal:", "fatal"),
        (b"panic:", "panic"),
    ];
    // Most bodies start with none of their first letters.
    if !matches!(body.first(), Some(b'w' | b'e' | b'f' | b'p')) {
        return None;
    }
    SEVERITIES.iter().find_map(|&(prefix, label)| {
        let rest = body.strip_prefix(prefix)?;
        (rest.is_empty() || rest[0] == b' ').then(|| (label, skip_space(rest)))
    })
}

/// `QUEUEID: rest` → (`QUEUEID`, `rest`).
fn leading_queue_id(text: &[u8]) -> Option<(&[u8], &[u8])> {
    // An id is short and its colon near: `find_any` rather than `memchr`.
    let colon = find_any([b':'], &text[..text.len().min(64)])?;
    queue_id_before(text, colon)
}

/// [`leading_queue_id`] with the first colon of `text` (within its first
/// 64 bytes) at `colon`.
fn queue_id_before(text: &[u8], colon: usize) -> Option<(&[u8], &[u8])> {
    let after = &text[colon + 1..];
    if !(after.is_empty() || after[0] == b' ') {
        return None;
    }
    let token = &text[..colon];
    is_queue_id(token).then(|| (token, skip_space(after)))
}

/// A Postfix queue id, leniently: short hex, long id, MailScanner's
/// `<id>.<suffix>`, or an anonymised alphanumeric token with a digit.
fn is_queue_id(token: &[u8]) -> bool {
    if postfix_id_kind(token).is_some() {
        return true;
    }
    let lenient = |t: &[u8]| {
        (6..=32).contains(&t.len())
            && t.iter().all(u8::is_ascii_alphanumeric)
            && t.iter().any(u8::is_ascii_digit)
    };
    if lenient(token) {
        return true;
    }
    match find_any([b'.'], token) {
        Some(dot) => {
            let (id, suffix) = (&token[..dot], &token[dot + 1..]);
            (postfix_id_kind(id).is_some() || lenient(id))
                && (1..=8).contains(&suffix.len())
                && suffix.iter().all(u8::is_ascii_alphanumeric)
        }
        None => false,
    }
}

/// Lines that carry a queue id; `rest` is the text after `QUEUEID: `.
fn queue_line<'a>(daemon: &'a [u8], rest: &'a [u8]) -> Body<'a> {
    if rest.starts_with(b"to=") {
        return delivery(daemon, rest);
    }
    if rest.starts_with(b"from=") {
        return queue_manager(rest);
    }
    if rest.starts_with(b"client=") {
        return smtpd_client(rest);
    }
    if rest.starts_with(b"uid=") {
        return pickup(rest);
    }
    if let Some(value) = rest.strip_prefix(b"message-id=") {
        return message_id(value);
    }
    if rest.starts_with(b"resent-message-id=") {
        return Body::Irrelevant("resent-message-id");
    }
    // Keyword lines; CSV exports leave trailing commas (`removed,,,,`).
    let keyword = trim_end_matches(rest, b", \t");
    let lifecycle = |l| Body::Event(EventKind::Lifecycle(l));
    match keyword {
        b"removed" if daemon == b"postsuper" => return lifecycle(Lifecycle::RemovedByAdmin(None)),
        b"removed" => return lifecycle(Lifecycle::QueueFileRemoved),
        b"requeued" => return lifecycle(Lifecycle::Requeued),
        b"placed on hold" => {
            return lifecycle(Lifecycle::Held {
                reason: None,
                sender: None,
                recipient: None,
            });
        }
        b"released from hold" => return lifecycle(Lifecycle::Released),
        // postsuper -e: qmgr logs the actual expiry (`status=force-expired`).
        b"expired" => return Body::Irrelevant("expire request"),
        _ => {}
    }
    if keyword.starts_with(b"removed (") {
        // cleanup 3.10+: `removed (canceled)` / `removed (discarded)`.
        return lifecycle(Lifecycle::QueueFileRemoved);
    }
    if let Some(body) = notification(rest) {
        return body;
    }
    if let Some((action, after)) = action_word(rest) {
        return action_line(true, action, after);
    }
    if rest.starts_with(b"status=") || find_fixed!(rest, b"notification failed").is_some() {
        // `status=deferred (bounce failed)`, 3.11 `sender notification failed`.
        return Body::Irrelevant("notification failed");
    }
    static KNOWN: PrefixTable = PrefixTable::new(&[
        (b"host ", "host attempt"),
        (b"lost connection with ", "host attempt"),
        (b"conversation with ", "host attempt"),
        (b"enabling ", "host attempt"),
        (b"SASL authentication failed", "host attempt"),
        (b"SASL [CACHED] authentication failed", "host attempt"),
        (b"Cannot start TLS", "tls"),
        (b"Used TLS for", "tls"),
        (b"TLS is required", "tls"),
        (b"Server certificate not", "tls"),
        (b"passing <", "delegation"),
        (b"skipped, still being delivered", "qmgr note"),
        (b"recipient limit", "qmgr note"),
        // smtpd 3.10+ prefixes these with the queue id.
        (b"lost connection after ", "connection"),
        (b"timeout after ", "connection"),
        (b"too many errors after ", "connection"),
        (b"improper command pipelining", "connection"),
    ]);
    KNOWN
        .find(rest)
        .map_or(Body::Unrecognised("unknown queue line"), Body::Irrelevant)
}

/// Lines without a queue id (or after `NOQUEUE: `).
fn unqueued_line(text: &[u8]) -> Body<'_> {
    unqueued_line_at(text, first_colon_of_word(text))
}

/// [`unqueued_line`] with the first colon of `text` within its first 32
/// bytes at `colon` (`None` when there is none).
fn unqueued_line_at(text: &[u8], colon: Option<usize>) -> Body<'_> {
    if text.is_empty() {
        return Body::Irrelevant("empty");
    }
    if let Some((action, after)) = colon.and_then(|colon| action_word_before(text, colon)) {
        return action_line(false, action, after);
    }
    static KNOWN: PrefixTable = PrefixTable::new(&[
        (b"connect from ", "connection"),
        (b"disconnect from ", "connection"),
        (b"lost connection after ", "connection"),
        (b"timeout after ", "connection"),
        (b"too many errors after ", "connection"),
        (b"improper command pipelining", "connection"),
        (b"bare <LF> received", "connection"),
        (b"SSL_accept error", "connection"),
        (b"discarding EHLO keywords", "connection"),
        (b"connect to ", "host attempt"),
        (b"SSL_connect error", "host attempt"),
        (b"host ", "host attempt"),
        (b"TLS connection ", "tls"),
        (b"Anonymous TLS connection", "tls"),
        (b"Untrusted TLS connection", "tls"),
        (b"Trusted TLS connection", "tls"),
        (b"Verified TLS connection", "tls"),
        (b"Host offered STARTTLS", "tls"),
        (b"certificate verification failed", "tls"),
        (b"server certificate verification failed", "tls"),
        (b"Cannot start TLS", "tls"),
        (b"Unverified: ", "tls"),
        (b"setting up TLS connection", "tls"),
        (b"initializing the ", "tls"),
        (b"SASL authentication failed", "host attempt"),
        (b"SASL [CACHED] authentication failed", "host attempt"),
        (b"enabling ", "host attempt"),
        (b"lost connection with ", "host attempt"),
        (b"conversation with ", "host attempt"),
        (b"CONNECT from [", "postscreen"),
        (b"DISCONNECT [", "postscreen"),
        (b"PASS NEW ", "postscreen"),
        (b"PASS OLD ", "postscreen"),
        (b"DNSBL rank ", "postscreen"),
        (b"PREGREET ", "postscreen"),
        (b"HANGUP after ", "postscreen"),
        (b"COMMAND TIME LIMIT", "postscreen"),
        (b"COMMAND COUNT LIMIT", "postscreen"),
        (b"COMMAND LENGTH LIMIT", "postscreen"),
        (b"COMMAND PIPELINING", "postscreen"),
        (b"NON-SMTP COMMAND", "postscreen"),
        (b"BARE NEWLINE", "postscreen"),
        (b"WHITELISTED ", "postscreen"),
        (b"BLACKLISTED ", "postscreen"),
        (b"WHITELIST VETO", "postscreen"),
        (b"ALLOWLISTED ", "postscreen"),
        (b"DENYLISTED ", "postscreen"),
        (b"ALLOWLIST VETO", "postscreen"),
        (b"DATA without valid RCPT", "postscreen"),
        (b"BDAT without valid RCPT", "postscreen"),
        (b"cache ", "cache"),
        (b"statistics: ", "statistics"),
        (b"daemon started", "daemon"),
        (b"reload ", "daemon"),
        (b"terminating on signal", "daemon"),
        (b"master exit time", "daemon"),
        (b"starting the Postfix", "daemon"),
        (b"refreshing the Postfix", "daemon"),
        (b"stopping the Postfix", "daemon"),
        (b"waiting for the Postfix", "daemon"),
        (b"the Postfix mail system", "daemon"),
        (b"Postfix is ", "daemon"),
        (b"table ", "daemon"),
        (b"Deleted: ", "postsuper summary"),
        (b"Requeued: ", "postsuper summary"),
        (b"Placed on hold: ", "postsuper summary"),
        (b"Released from hold: ", "postsuper summary"),
        (b"Force-expired: ", "postsuper summary"),
        (b"Renamed to match inode number: ", "postsuper summary"),
        // `smtpd -v` / `qmgr -v` dialogue and attribute tracing.
        (b"> ", "debug"),
        (b"< ", "debug"),
        (b"input attribute ", "debug"),
        (b"send attr ", "debug"),
        (b"request: ", "debug"),
        (b"request ignored", "debug"),
        (b"done incoming queue", "debug"),
        (b"done deferred queue", "debug"),
        (b"start sorted recipient", "debug"),
        (b"end sorted recipient", "debug"),
        (b"start move queue", "debug"),
        (b"end move queue", "debug"),
        (b"wakeup ", "debug"),
        (b"rewrite stream ", "debug"),
        (b"process generation", "debug"),
        (b"mynetworks: ", "debug"),
    ]);
    if let Some(label) = KNOWN.find(text) {
        return Body::Irrelevant(label);
    }
    if text.starts_with(b"addr ") && find_fixed!(text, b" listed by domain ").is_some() {
        return Body::Irrelevant("dnsblog");
    }
    if is_debug_line(text) {
        return Body::Irrelevant("debug");
    }
    Body::Unrecognised("unknown line")
}

/// Verbose (`-v`) tracing: `function_name: …` or `private/x socket: …`.
fn is_debug_line(text: &[u8]) -> bool {
    let token = token_of(text);
    let function_name = |name: &[u8]| {
        name.contains(&b'_')
            && name
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if token.strip_suffix(b":").is_some_and(function_name) {
        return true;
    }
    (token.starts_with(b"private/") || token.starts_with(b"public/"))
        && text[token.len()..].starts_with(b" socket")
}

// ---------------------------------------------------------------------------
// Delivery agents

/// `to=<r>, [orig_to=<o>, ]relay=R, …, dsn=X.Y.Z, status=S (text)`.
fn delivery<'a>(daemon: &'a [u8], rest: &'a [u8]) -> Body<'a> {
    let mut fields = Fields::new(rest);
    let (mut to, mut orig_to, mut relay, mut dsn, mut status) = (None, None, None, None, None);
    while let Some((key, value)) = fields.next_field() {
        match key {
            b"to" => to = Some(value),
            b"orig_to" => orig_to = Some(value),
            b"relay" => relay = Some(value),
            b"dsn" => dsn = Some(value),
            b"status" => {
                status = Some(value);
                break;
            }
            _ => {}
        }
    }
    let Some(recipient) = to else {
        return Body::Unrecognised("unknown queue line");
    };
    let Some(status_word) = status else {
        return Body::Unrecognised("delivery line without status");
    };
    let text = status_text(fields.rest);
    let relay_is_none = relay == Some(&b"none"[..]);
    let known_agent = matches!(
        daemon,
        b"smtp" | b"lmtp" | b"local" | b"virtual" | b"pipe" | b"error" | b"retry"
    );
    let status = match status_word {
        // The discard agent reports `sent`; only it sends with `relay=none`.
        b"sent" if daemon == b"discard" || (!known_agent && relay_is_none) => {
            AttemptStatus::Discarded
        }
        b"sent" => AttemptStatus::Delivered,
        b"deferred" | b"SOFTBOUNCE" => AttemptStatus::Deferred,
        b"bounced" => AttemptStatus::Bounced,
        b"expired" | b"force-expired" => AttemptStatus::Expired,
        b"deliverable" | b"undeliverable" | b"undeliverable-but-not-cached" => AttemptStatus::Probe,
        _ => return Body::Unrecognised("unknown delivery status"),
    };
    let mut attempt = Attempt {
        recipient: BStr::new(recipient),
        original_recipient: orig_to.map(BStr::new),
        status,
        skipped: false,
        router: None,
        transport: None,
        remote_host: None,
        remote_ip: None,
        reply: SmtpReply::default(),
        phase: None,
        reason: None,
        confirmation: None,
        next_queue_id: None,
        sender: None,
    };
    attempt.transport = if !daemon.is_empty() {
        Some(BStr::new(daemon))
    } else {
        // Daemon name lost (RFC 5424 app-name `postfix`): `relay=local`,
        // `relay=virtual`, or a pipe service name names the transport.
        relay
            .filter(|r| !r.is_empty() && *r != b"none" && !r.contains(&b'[') && !r.contains(&b':'))
            .map(BStr::new)
    };
    if let Some(relay) = relay {
        let (host, ip) = relay_endpoint(relay);
        attempt.remote_host = host.map(BStr::new);
        attempt.remote_ip = ip.map(BStr::new);
    }
    if let Some(text) = text {
        // Only without a relay field: the search of the text is not done
        // when its answer would not be used.
        if relay.is_none()
            && let Some((host, ip)) = said_host(text)
        {
            attempt.remote_host = Some(BStr::new(host));
            attempt.remote_ip = ip.map(BStr::new);
        }
        attempt.reply = status_reply(text);
        attempt.phase = phase(text);
        attempt.skipped = text.starts_with(b"delivery temporarily suspended");
        if status_word == b"sent" && status == AttemptStatus::Delivered {
            attempt.confirmation = Some(BStr::new(text));
            let next = queue_id_in_confirmation(text).or_else(|| forwarded_as(text));
            attempt.next_queue_id = next.map(BStr::new);
        } else {
            attempt.reason = Some(BStr::new(text));
        }
    }
    if let Some(code) = dsn.and_then(EnhancedCode::parse) {
        attempt.reply.enhanced = Some(code);
    }
    Body::Event(EventKind::Attempt(attempt))
}

/// The parenthesised text after `status=word`: everything after `(`, without
/// the final `)`. Truncated lines keep what there is; a text without
/// parentheses is taken as it stands.
fn status_text(rest: &[u8]) -> Option<&[u8]> {
    let rest = skip_space(rest);
    let text = match rest.strip_prefix(b"(") {
        Some(inner) => {
            let inner = trim_end(inner);
            inner.strip_suffix(b")").unwrap_or(inner)
        }
        None => trim_end(rest.strip_prefix(b",").map(skip_space).unwrap_or(rest)),
    };
    (!text.is_empty()).then_some(text)
}

/// `host[ip]:port` → (host, ip); `host[private/socket]` → (socket path,
/// None); `none`, `local`, `dovecot` → (that, None).
fn relay_endpoint(relay: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let (host, inside) = split_endpoint(relay);
    match inside {
        Some(addr) if is_ip(addr) => (host, Some(addr)),
        Some(path) if !path.is_empty() => (Some(path), None),
        _ => (host, None),
    }
}

/// `host[inside]…` → (host, inside); no brackets → (whole, None).
fn split_endpoint(text: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    fn nonempty(s: &[u8]) -> Option<&[u8]> {
        (!s.is_empty()).then_some(s)
    }
    // Endpoints are short: `find_any` rather than `memchr`.
    match find_any([b'['], text) {
        Some(open) => {
            let inside = &text[open + 1..];
            let inside = find_any([b']'], inside).map(|close| &inside[..close]);
            (nonempty(&text[..open]), inside)
        }
        None => (nonempty(text), None),
    }
}

/// IPv4 or IPv6 text (`::ffff:192.0.2.1`, `IPv6:2001:db8::1`).
fn is_ip(text: &[u8]) -> bool {
    let text = text.strip_prefix(b"IPv6:").unwrap_or(text);
    !text.is_empty()
        && text.iter().any(u8::is_ascii_digit)
        && text.iter().all(|&b| IS_IP_BYTE[usize::from(b)])
}

/// Bytes of an IP address as logged: hex digits, `.`, `:` and `%` (zone):
/// one table lookup per byte of every client and relay address.
static IS_IP_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_hexdigit() || c == b'.' || c == b':' || c == b'%';
        b += 1;
    }
    table
};

/// `host X[ip] said: …` / `host X[ip] refused to talk to me: …` in a text.
fn said_host(text: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    for at in find_iter_fixed!(text, b"host ") {
        if at > 0 && text[at - 1] != b' ' {
            continue;
        }
        let after = &text[at + 5..];
        let (token, tail) = split_token(after);
        if tail.starts_with(b"said:") || tail.starts_with(b"refused to talk to me") {
            let (host, inside) = split_endpoint(token);
            let ip = inside.filter(|a| is_ip(a));
            return host.map(|h| (h, ip));
        }
    }
    None
}

/// The SMTP reply in a status text: after `said: ` or `refused to talk to
/// me: `, or at its very start (`250 2.0.0 Ok: queued as X`, LMTP and
/// content-filter answers). Numbers elsewhere in local texts are not codes.
fn status_reply(text: &[u8]) -> SmtpReply {
    const SAID: &[u8] = b" said: ";
    const REFUSED: &[u8] = b"refused to talk to me: ";
    // Each introduction has one colon, and a status text few: one pass
    // over the colons finds the first of each, for less than the setup of
    // two substring searches. ` said: ` wins wherever it is.
    let mut refused = None;
    for colon in memchr::memchr_iter(b':', text) {
        if colon >= 5 && text[colon - 5..].starts_with(SAID) {
            return SmtpReply::find(&text[colon - 5 + SAID.len()..]);
        }
        if refused.is_none() && colon >= 21 && text[colon - 21..].starts_with(REFUSED) {
            refused = Some(colon - 21);
        }
    }
    if let Some(at) = refused {
        return SmtpReply::find(&text[at + REFUSED.len()..]);
    }
    if text.first().is_some_and(u8::is_ascii_digit) {
        return SmtpReply::find(text);
    }
    SmtpReply::default()
}

/// `(in reply to RCPT TO command)` → `RCPT TO`; `end of DATA` → `end of
/// data`; `lost connection with X while sending MAIL FROM` → `MAIL FROM`.
fn phase(text: &[u8]) -> Option<&BStr> {
    let command = if let Some(at) = rfind_anchored(text, b"(in reply to ", 0) {
        let after = &text[at + b"(in reply to ".len()..];
        // A few words to the end: an anchored search costs less than
        // `memmem`'s setup.
        let end = find_anchored(after, b" command", 1)?;
        &after[..end]
    } else if let Some(at) = find_anchored(text, b" while sending ", 1) {
        let after = &text[at + b" while sending ".len()..];
        let end = find_fixed!(after, b" --").unwrap_or(after.len());
        let after = &after[..end];
        after.strip_suffix(b" command").unwrap_or(after)
    } else {
        return None;
    };
    if command.eq_ignore_ascii_case(b"end of data") {
        return Some(BStr::new("end of data"));
    }
    (!command.is_empty()).then(|| BStr::new(command))
}

/// local(8) `forwarded as NEWID`.
fn forwarded_as(text: &[u8]) -> Option<&[u8]> {
    let at = find_fixed!(text, b"forwarded as ")?;
    let id = token_of(&text[at + b"forwarded as ".len()..]);
    let id = trim_end_matches(id, b",;)");
    is_queue_id(id).then_some(id)
}

// ---------------------------------------------------------------------------
// Reception parts and queue manager

/// qmgr `from=<s>, size=N, nrcpt=M (queue active)` or `from=<s>,
/// status=expired, returned to sender`.
fn queue_manager(rest: &[u8]) -> Body<'_> {
    let mut fields = Fields::new(rest);
    let mut reception = Reception::default();
    let mut status = None;
    while let Some((key, value)) = fields.next_field() {
        match key {
            b"from" => reception.sender = Some(BStr::new(value)),
            b"size" => reception.size = ascii_u64(value),
            b"nrcpt" => {
                reception.recipient_count = ascii_u64(value).and_then(|n| u32::try_from(n).ok())
            }
            b"status" => status = Some(value),
            _ => {}
        }
    }
    match status {
        None => Body::Event(EventKind::Received(reception)),
        Some(b"expired") => Body::Event(EventKind::Lifecycle(Lifecycle::Expired { forced: false })),
        Some(b"force-expired") => {
            Body::Event(EventKind::Lifecycle(Lifecycle::Expired { forced: true }))
        }
        Some(_) => Body::Unrecognised("unknown queue line"),
    }
}

/// smtpd `client=host[ip][:port][, sasl_method=…][, sasl_username=…]
/// [, orig_queue_id=…][, orig_client=…]`.
fn smtpd_client(rest: &[u8]) -> Body<'_> {
    let mut fields = Fields::new(rest);
    let mut reception = Reception::default();
    while let Some((key, value)) = fields.next_field() {
        match key {
            b"client" => {
                let (host, ip) = client_endpoint(value);
                reception.client_host = host.map(BStr::new);
                reception.client_ip = ip.map(BStr::new);
            }
            b"sasl_username" => reception.user = Some(BStr::new(value)),
            b"orig_queue_id" => reception.upstream_queue_id = Some(BStr::new(value)),
            _ => {}
        }
    }
    Body::Event(EventKind::Received(reception))
}

/// A client as smtpd and postscreen log it: `host[ip]`, `host[ip]:port`,
/// `[ip]:port`, `unknown[unknown]` (ip `None`).
fn client_endpoint(text: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let (host, inside) = split_endpoint(text);
    (
        host.filter(|h| *h != b"unknown"),
        inside.filter(|a| is_ip(a)),
    )
}

/// pickup `uid=N from=<s>[ orig_id=X]`.
fn pickup(rest: &[u8]) -> Body<'_> {
    let mut fields = Fields::new(rest);
    let mut reception = Reception {
        protocol: Some(BStr::new("local")),
        ..Reception::default()
    };
    while let Some((key, value)) = fields.next_field() {
        match key {
            b"uid" => reception.user = Some(BStr::new(value)),
            b"from" => reception.sender = Some(BStr::new(value)),
            b"orig_id" => reception.upstream_queue_id = Some(BStr::new(value)),
            _ => {}
        }
    }
    Body::Event(EventKind::Received(reception))
}

/// cleanup `message-id=<x>`: the value as logged, angle brackets removed.
fn message_id(value: &[u8]) -> Body<'_> {
    let value = trim_end(value);
    let value = value.strip_prefix(b"<").unwrap_or(value);
    let value = value.strip_suffix(b">").unwrap_or(value);
    if value.is_empty() {
        return Body::Irrelevant("empty message-id");
    }
    Body::Event(EventKind::Received(Reception {
        message_id: Some(BStr::new(value)),
        ..Reception::default()
    }))
}

/// bounce `sender non-delivery notification: NEWID` and friends.
fn notification(rest: &[u8]) -> Option<Body<'_>> {
    // Every kind below starts with `sender ` or `postmaster `: other lines
    // are turned down without a search.
    if !(rest.starts_with(b"sender ") || rest.starts_with(b"postmaster ")) {
        return None;
    }
    let at = find_fixed!(rest, b" notification: ")?;
    let what = &rest[..at];
    let kind = match what {
        b"sender non-delivery" | b"postmaster non-delivery" => NotificationKind::NonDelivery,
        b"sender delay" | b"postmaster delay" => NotificationKind::Delay,
        b"sender delivery status" | b"postmaster delivery status" => NotificationKind::Success,
        _ => return None,
    };
    let id = trim_end_matches(token_of(&rest[at + b" notification: ".len()..]), b",");
    if !is_queue_id(id) {
        return Some(Body::Unrecognised("notification without queue id"));
    }
    Some(Body::Event(EventKind::Notification(Notification {
        kind,
        notification_queue_id: BStr::new(id),
    })))
}

// ---------------------------------------------------------------------------
// smtpd access actions, cleanup header/body/milter actions

/// `reject: …`, `milter-hold: …`, `warning: header …` → (action, rest).
fn action_word(text: &[u8]) -> Option<(&[u8], &[u8])> {
    action_word_before(text, first_colon_of_word(text)?)
}

/// The first colon within the first 32 bytes of `text`: where an action
/// word would end.
fn first_colon_of_word(text: &[u8]) -> Option<usize> {
    find_any([b':'], &text[..text.len().min(32)])
}

/// [`action_word`] with the first colon of `text` (within its first 32
/// bytes) at `colon`.
fn action_word_before(text: &[u8], colon: usize) -> Option<(&[u8], &[u8])> {
    let word = &text[..colon];
    let known = matches!(
        word,
        b"reject"
            | b"reject_warning"
            | b"warn"
            | b"warning"
            | b"info"
            | b"hold"
            | b"discard"
            | b"redirect"
            | b"filter"
            | b"bcc"
            | b"permit"
            | b"delay"
            | b"hangup"
            | b"prepend"
            | b"replace"
            | b"strip"
            | b"pass"
            | b"dunno"
            | b"ok"
    ) || (word.starts_with(b"milter-") || word.starts_with(b"proxy-"))
        && word.iter().all(|&b| b.is_ascii_lowercase() || b == b'-');
    known.then(|| (word, skip_space(&text[colon + 1..])))
}

fn action_line<'a>(queued: bool, action: &[u8], rest: &'a [u8]) -> Body<'a> {
    if action == b"reject_warning" {
        return Body::Irrelevant("reject warning");
    }
    let class = token_of(rest);
    if matches!(class, b"header" | b"body" | b"content" | b"mime-error") {
        return content_action(queued, action, class, rest);
    }
    smtpd_action(queued, action, rest)
}

/// What an action does to the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    Reject,
    Hold,
    Discard,
    Other,
}

fn effect(action: &[u8]) -> Effect {
    match action {
        b"reject" | b"milter-reject" | b"proxy-reject" => Effect::Reject,
        b"hold" | b"milter-hold" => Effect::Hold,
        b"discard" | b"milter-discard" => Effect::Discard,
        _ => Effect::Other,
    }
}

/// Parts of a line in `log_whatsup` form: `STAGE from client: text;
/// from=<s> to=<r> proto=P helo=<h>` (postscreen: `, ` between fields), or
/// `STAGE: text; …` (before-queue proxy).
struct SmtpdAction<'a> {
    stage: &'a [u8],
    client: Option<&'a [u8]>,
    text: &'a [u8],
    sender: Option<&'a [u8]>,
    recipient: Option<&'a [u8]>,
}

fn parse_smtpd_action(rest: &[u8]) -> Option<SmtpdAction<'_>> {
    let head = &rest[..rest.len().min(40)];
    let stage_word = |s: &[u8]| {
        let s = trim_end(s);
        !s.is_empty()
            && s[0].is_ascii_uppercase()
            && s.iter().filter(|&&b| b == b' ').count() <= 1
            && !s.contains(&b':')
    };
    let (stage, client, after) =
        match find_fixed!(head, b" from ").filter(|&at| stage_word(&rest[..at])) {
            Some(at) => {
                let stage = trim_end(&rest[..at]);
                let (client, after) = client_and_rest(&rest[at + b" from ".len()..])?;
                (stage, Some(client), after)
            }
            None => {
                let colon = memchr::memchr(b':', head)?;
                let stage = &rest[..colon];
                if !stage_word(stage) {
                    return None;
                }
                (stage, None, &rest[colon + 1..])
            }
        };
    let (text, trailer) = split_trailer(skip_space(after));
    let mut action = SmtpdAction {
        stage,
        client,
        text,
        sender: None,
        recipient: None,
    };
    let mut fields = Fields::new(trailer);
    while let Some((key, value)) = fields.next_field() {
        match key {
            b"from" => action.sender = Some(value),
            b"to" => action.recipient = Some(value),
            _ => {}
        }
    }
    Some(action)
}

/// `host[ip][:port]: rest` → (`host[ip]`, `rest`).
fn client_and_rest(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let word_end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    if let Some(open) = memchr::memchr(b'[', &text[..word_end]) {
        let close = open + memchr::memchr(b']', &text[open..])?;
        let client = &text[..close + 1];
        let mut after = &text[close + 1..];
        if let Some(port_and_more) = after.strip_prefix(b":") {
            let port_len = port_and_more
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if port_len > 0 && port_and_more.get(port_len) == Some(&b':') {
                after = &port_and_more[port_len..];
            }
        }
        return Some((client, after.strip_prefix(b":").unwrap_or(after)));
    }
    let colon =
        find_fixed!(text, b": ").or_else(|| text.ends_with(b":").then(|| text.len() - 1))?;
    Some((&text[..colon], &text[colon + 1..]))
}

/// Splits `text; from=<s> to=<r> …` at the last `;` that starts the field
/// list (the text itself may contain `;`).
fn split_trailer(text: &[u8]) -> (&[u8], &[u8]) {
    const KEYS: [&[u8]; 7] = [
        b"from=",
        b"to=",
        b"proto=",
        b"helo=",
        b"sasl_method=",
        b"sasl_username=",
        b"sasl_sender=",
    ];
    let mut end = text.len();
    while let Some(semicolon) = memchr::memrchr(b';', &text[..end]) {
        let after = skip_space(&text[semicolon + 1..]);
        if KEYS.iter().any(|key| after.starts_with(key)) {
            return (trim_end(&text[..semicolon]), after);
        }
        end = semicolon;
    }
    (trim_end(text), &[])
}

fn reject_stage(stage: &[u8]) -> RejectStage {
    match token_of(stage) {
        b"CONNECT" => RejectStage::Connect,
        b"HELO" | b"EHLO" => RejectStage::Helo,
        b"MAIL" => RejectStage::Mail,
        b"RCPT" => RejectStage::Rcpt,
        b"DATA" | b"BDAT" | b"END-OF-MESSAGE" => RejectStage::Data,
        _ => RejectStage::Other,
    }
}

/// Texts of postscreen's connection refusals, which carry no code.
fn is_temporary_text(text: &[u8]) -> bool {
    matches!(
        text,
        b"too many connections" | b"all screening ports busy" | b"all server ports busy"
    )
}

fn smtpd_action<'a>(queued: bool, action: &[u8], rest: &'a [u8]) -> Body<'a> {
    let effect = effect(action);
    let Some(parts) = parse_smtpd_action(rest) else {
        return match effect {
            Effect::Reject => Body::Unrecognised("unknown reject line"),
            _ => Body::Irrelevant("access action"),
        };
    };
    let text = (!parts.text.is_empty()).then_some(parts.text);
    match effect {
        Effect::Reject => {
            let reply = SmtpReply::find(parts.text);
            let (client_host, client_ip) =
                parts.client.map(client_endpoint).unwrap_or((None, None));
            let temporary = match reply.code {
                Some(code) => code < 500,
                None => reply
                    .enhanced
                    .map_or(is_temporary_text(parts.text), |e| e.class == 4),
            };
            Body::Event(EventKind::Rejected(Rejection {
                stage: reject_stage(parts.stage),
                temporary,
                sender: parts.sender.map(BStr::new),
                recipient: parts.recipient.map(BStr::new),
                client_host: client_host.map(BStr::new),
                client_ip: client_ip.map(BStr::new),
                reply,
                reason: text.map(BStr::new),
            }))
        }
        Effect::Hold if queued => Body::Event(EventKind::Lifecycle(Lifecycle::Held {
            reason: text.map(BStr::new),
            sender: parts.sender.map(BStr::new),
            recipient: parts.recipient.map(BStr::new),
        })),
        Effect::Discard if queued => Body::Event(EventKind::Attempt(discarded(
            parts.sender,
            parts.recipient,
            text,
        ))),
        _ => Body::Irrelevant("access action"),
    }
}

/// Parts of a cleanup header/body check line: `CLASS what from origin;[
/// from=<s>][ to=<r>][ proto=P][ helo=<h>][: text]`.
struct ContentAction<'a> {
    /// `header Subject: hello` (class and what).
    description: &'a [u8],
    /// Text after the class word.
    what: &'a [u8],
    origin: Option<&'a [u8]>,
    sender: Option<&'a [u8]>,
    recipient: Option<&'a [u8]>,
    /// The optional text after the field list.
    text: Option<&'a [u8]>,
}

fn parse_content_action<'a>(class: &[u8], rest: &'a [u8]) -> ContentAction<'a> {
    let mut action = ContentAction {
        description: rest,
        what: skip_space(&rest[class.len()..]),
        origin: None,
        sender: None,
        recipient: None,
        text: None,
    };
    // The origin ends at the first `;` that follows ` from host[addr]` or
    // ` from local` and precedes the field list (header values may contain
    // both ` from ` and `;`).
    // One pass over both `;` and ` from ` positions keeps this linear.
    let mut froms = find_iter_fixed!(rest, b" from ").peekable();
    let mut last_from = None;
    for semicolon in memchr::memchr_iter(b';', rest) {
        while let Some(&at) = froms.peek() {
            if at + b" from ".len() > semicolon {
                break;
            }
            last_from = Some(at);
            froms.next();
        }
        let before = &rest[..semicolon];
        let Some(from) = last_from else {
            continue;
        };
        let origin = &before[from + b" from ".len()..];
        let origin_ok = !origin.is_empty()
            && find_any([b' '], origin).is_none()
            && (origin == b"local" || find_any([b'['], origin).is_some());
        let after = &rest[semicolon + 1..];
        let next = skip_space(after);
        let fields_follow = next.is_empty()
            || [&b"from="[..], b"to=", b"proto=", b"helo=", b":"]
                .iter()
                .any(|k| next.starts_with(k));
        if !(origin_ok && fields_follow) {
            continue;
        }
        action.description = trim_end(&rest[..from]);
        action.what = skip_space(action.description.get(class.len()..).unwrap_or(&[]));
        action.origin = Some(origin);
        // Field list up to the first `:` outside angle brackets.
        let (list, text) = split_unbracketed_colon(after);
        let mut fields = Fields::new(list);
        while let Some((key, value)) = fields.next_field() {
            match key {
                b"from" => action.sender = Some(value),
                b"to" => action.recipient = Some(value),
                _ => {}
            }
        }
        action.text = text
            .map(|t| trim_end(skip_space(t)))
            .filter(|t| !t.is_empty());
        break;
    }
    action
}

/// `a=<x:y> b=c: text` → (`a=<x:y> b=c`, Some(`text`)).
fn split_unbracketed_colon(text: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut depth = 0usize;
    let mut i = 0;
    // From one angle bracket or colon to the next rather than byte by byte.
    while let Some(found) = find_any([b'<', b'>', b':'], &text[i..]) {
        let at = i + found;
        match text[at] {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => return (&text[..at], Some(&text[at + 1..])),
            _ => {}
        }
        i = at + 1;
    }
    (text, None)
}

fn content_action<'a>(queued: bool, action: &[u8], class: &[u8], rest: &'a [u8]) -> Body<'a> {
    let parts = parse_content_action(class, rest);
    let reason = parts.text.unwrap_or(parts.description);
    match effect(action) {
        Effect::Reject => {
            let (client_host, client_ip) = parts
                .origin
                .filter(|o| *o != b"local")
                .map(client_endpoint)
                .unwrap_or((None, None));
            let reply = SmtpReply::find(reason);
            let temporary = match reply.code {
                Some(code) => code < 500,
                None => reply.enhanced.is_some_and(|e| e.class == 4),
            };
            Body::Event(EventKind::Rejected(Rejection {
                stage: RejectStage::Data,
                temporary,
                sender: parts.sender.map(BStr::new),
                recipient: parts.recipient.map(BStr::new),
                client_host: client_host.map(BStr::new),
                client_ip: client_ip.map(BStr::new),
                reply,
                reason: Some(BStr::new(reason)),
            }))
        }
        _ if !queued => Body::Irrelevant("access action"),
        Effect::Hold => Body::Event(EventKind::Lifecycle(Lifecycle::Held {
            reason: Some(BStr::new(reason)),
            sender: parts.sender.map(BStr::new),
            recipient: parts.recipient.map(BStr::new),
        })),
        Effect::Discard => Body::Event(EventKind::Attempt(discarded(
            parts.sender,
            parts.recipient,
            Some(reason),
        ))),
        Effect::Other if class == b"header" => {
            let (name, value) = match memchr::memchr(b':', parts.what) {
                Some(colon) => (&parts.what[..colon], skip_space(&parts.what[colon + 1..])),
                None => (parts.what, &parts.what[parts.what.len()..]),
            };
            let mut reception = Reception {
                sender: parts.sender.map(BStr::new),
                ..Reception::default()
            };
            if name.eq_ignore_ascii_case(b"subject") {
                reception.subject = Some(BStr::new(value));
            } else {
                reception.header = Some((BStr::new(name), BStr::new(value)));
            }
            Body::Event(EventKind::Received(reception))
        }
        Effect::Other => Body::Irrelevant("body check"),
    }
}

/// A whole-message discard, reported for the one recipient the line names
/// (empty when it names none).
fn discarded<'a>(
    sender: Option<&'a [u8]>,
    recipient: Option<&'a [u8]>,
    reason: Option<&'a [u8]>,
) -> Attempt<'a> {
    Attempt {
        recipient: BStr::new(recipient.unwrap_or(b"")),
        original_recipient: None,
        status: AttemptStatus::Discarded,
        skipped: false,
        router: None,
        transport: None,
        remote_host: None,
        remote_ip: None,
        reply: SmtpReply::default(),
        phase: None,
        reason: reason.map(BStr::new),
        confirmation: None,
        next_queue_id: None,
        sender: sender.map(BStr::new),
    }
}

// ---------------------------------------------------------------------------
// `key=value` lists

/// A `key=value` list separated by `, ` or spaces. Values in `<…>` may
/// contain anything (commas, spaces, quoted `>`); a missing `>` (truncated
/// line) makes the value run to the end. Iteration stops at the first item
/// that is not `key=`, leaving it in `rest`.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(text: &'a [u8]) -> Fields<'a> {
        Fields { rest: text }
    }

    // Inlined into each field loop: its result would otherwise go
    // through memory, once per field of every line.
    #[inline(always)]
    fn next_field(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let text = skip_separators(self.rest);
        self.rest = text;
        let key_len = text
            .iter()
            .take_while(|&&b| IS_KEY_BYTE[usize::from(b)])
            .count();
        if key_len == 0 || text.get(key_len) != Some(&b'=') {
            return None;
        }
        let key = &text[..key_len];
        let after = &text[key_len + 1..];
        let (value, rest) = if after.first() == Some(&b'<') {
            match angle_end(after) {
                Some(close) => {
                    let tail = &after[close + 1..];
                    // Skip junk glued to the value (`<a@b>>`).
                    let junk = tail.iter().take_while(|&&b| b != b',' && b != b' ').count();
                    (&after[1..close], &tail[junk..])
                }
                None => (&after[1..], &after[after.len()..]),
            }
        } else {
            // Values are short (`relay=mx.example.com[192.0.2.10]:25`).
            let end = find_any([b',', b' '], after).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        self.rest = rest;
        Some((key, value))
    }
}

/// Bytes of a field key (ASCII letters and digits, `_`, `-`): one table
/// lookup per byte instead of a chain of range checks.
static IS_KEY_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
        b += 1;
    }
    table
};

/// Index of the `>` closing the `<` at `text[0]`, honouring nested `<…>` and
/// quoted local parts (`<"a>b"@example.com>`). When quotes are unbalanced,
/// or the quote-aware close is implausibly far away, the close found while
/// ignoring quotes is used. One pass, bounded look-ahead.
fn angle_end(text: &[u8]) -> Option<usize> {
    /// Addresses are far shorter; beyond this a stray `"` is assumed.
    const QUOTED_LOOKAHEAD: usize = 1024;
    // The usual address has no quote and no nested `<` before its `>`:
    // both readings below close there, so find it with one search.
    if let Some(i) = text.get(1..).and_then(|t| find_any([b'<', b'>', b'"'], t))
        && text[1 + i] == b'>'
    {
        return Some(1 + i);
    }
    let (mut depth, mut plain_depth) = (0usize, 0usize);
    let mut quoted = false;
    let mut plain_close = None;
    for (i, &b) in text.iter().enumerate() {
        if plain_close.is_none() {
            match b {
                b'<' => plain_depth += 1,
                b'>' => {
                    plain_depth = plain_depth.saturating_sub(1);
                    if plain_depth == 0 {
                        plain_close = Some(i);
                    }
                }
                _ => {}
            }
        }
        match b {
            b'"' if i == 0 || text[i - 1] != b'\\' => quoted = !quoted,
            b'<' if !quoted => depth += 1,
            b'>' if !quoted => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        if plain_close.is_some() && i >= QUOTED_LOOKAHEAD {
            break;
        }
    }
    plain_close
}

// ---------------------------------------------------------------------------
// Byte helpers

fn split_token(text: &[u8]) -> (&[u8], &[u8]) {
    // Tokens are short: `find_any` rather than `memchr`.
    match find_any([b' '], text) {
        Some(space) => (&text[..space], &text[space + 1..]),
        None => (text, &text[text.len()..]),
    }
}

fn token_of(text: &[u8]) -> &[u8] {
    split_token(text).0
}

fn skip_space(text: &[u8]) -> &[u8] {
    let n = text
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &text[n..]
}

fn skip_separators(text: &[u8]) -> &[u8] {
    let n = text
        .iter()
        .take_while(|&&b| b == b' ' || b == b',' || b == b'\t')
        .count();
    &text[n..]
}

fn trim_end(text: &[u8]) -> &[u8] {
    trim_end_matches(text, b" \t\r\n")
}

fn trim_end_matches<'a>(text: &'a [u8], set: &[u8]) -> &'a [u8] {
    let n = text.iter().rev().take_while(|b| set.contains(b)).count();
    &text[..text.len() - n]
}

fn ascii_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(daemon: &'a str, body: &'a str) -> PostfixLine<'a> {
        parse_body(BStr::new(daemon), body.as_bytes())
    }

    fn attempt<'a>(daemon: &'a str, body: &'a str) -> Attempt<'a> {
        match parse(daemon, body).body {
            Body::Event(EventKind::Attempt(a)) => a,
            other => panic!("not an attempt: {other:?}"),
        }
    }

    #[test]
    fn program_tags() {
        let split = |t: &'static str| {
            split_program(BStr::new(t)).map(|(i, d)| (i.to_string(), d.to_string()))
        };
        assert_eq!(
            split("postfix/submission/smtpd"),
            Some(("postfix".into(), "smtpd".into()))
        );
        assert_eq!(
            split("postfix-out/smtp"),
            Some(("postfix-out".into(), "smtp".into()))
        );
        assert_eq!(split("postfix"), Some(("postfix".into(), String::new())));
        assert_eq!(split("exim"), None);
    }

    #[test]
    fn queue_ids() {
        for id in [
            "C3CD21F3E90",
            "3mJddz5fh3z7sdM",
            "3p7RMT0zrYz20p",
            "9BE3547AFE.A1B2C",
            "7E1AEC2C388XXXX",
            "123456789",
        ] {
            assert!(is_queue_id(id.as_bytes()), "{id}");
        }
        for word in [
            "NOQUEUE",
            "warning",
            "statistics",
            "Deleted",
            "ABC12",
            "dict_ldap",
            "10.0.0.1",
            "",
        ] {
            assert!(!is_queue_id(word.as_bytes()), "{word}");
        }
        assert_eq!(
            parse("smtpd", "NOQUEUE: reject: RCPT from x[192.0.2.1]: 550 no").queue_id,
            None
        );
        assert_eq!(
            parse("smtp", "3mPVKl0Mhjz7sXv:").queue_id.unwrap(),
            "3mPVKl0Mhjz7sXv"
        );
    }

    #[test]
    fn fields_tolerate_commas_quotes_junk_and_truncation() {
        let mut f = Fields::new(b"from=<\"a, b\"@example.com>, size=1 nrcpt=2 (queue active)");
        assert_eq!(
            f.next_field(),
            Some((&b"from"[..], &b"\"a, b\"@example.com"[..]))
        );
        assert_eq!(f.next_field(), Some((&b"size"[..], &b"1"[..])));
        assert_eq!(f.next_field(), Some((&b"nrcpt"[..], &b"2"[..])));
        assert_eq!(f.next_field(), None);
        assert_eq!(f.rest, b"(queue active)");
        let mut f = Fields::new(b"from=<a@example.com>>, status=expired");
        assert_eq!(f.next_field().unwrap().1, b"a@example.com");
        assert_eq!(f.next_field(), Some((&b"status"[..], &b"expired"[..])));
        let mut f = Fields::new(b"to=<<odd@example.com>>, relay=none");
        assert_eq!(f.next_field().unwrap().1, b"<odd@example.com>");
        let mut f = Fields::new(b"to=<cut@exa");
        assert_eq!(f.next_field().unwrap().1, b"cut@exa");
        assert_eq!(f.next_field(), None);
    }

    #[test]
    fn angle_brackets_with_quotes() {
        let mut f = Fields::new(b"from=<\"a>b\"@example.com>, size=1");
        assert_eq!(f.next_field().unwrap().1, b"\"a>b\"@example.com");
        assert_eq!(f.next_field().unwrap().1, b"1");
        // Unbalanced quote: fall back to the first closing bracket.
        let mut f = Fields::new(b"from=<\"a@example.com>, size=2");
        assert_eq!(f.next_field().unwrap().1, b"\"a@example.com");
        assert_eq!(f.next_field().unwrap().1, b"2");
    }

    #[test]
    fn pathological_lines_stay_cheap() {
        // Many `;` and ` from ` (cleanup origin search), many unbalanced
        // quoted values (field lists), many `host ` words (said-host search).
        let mut line = b"ABCDEF123: warning: header X: ".to_vec();
        line.extend(b"a from b; ".iter().cycle().take(200_000));
        let _ = parse_body(BStr::new("cleanup"), &line);
        let mut line = b"ABCDEF123: from=<".to_vec();
        line.extend(b"\"x>, a=<".iter().cycle().take(200_000));
        let _ = parse_body(BStr::new("qmgr"), &line);
        let mut line = b"ABCDEF123: to=<a@example.com>, status=deferred (".to_vec();
        line.extend(b"host host; ".iter().cycle().take(200_000));
        let _ = parse_body(BStr::new(""), &line);
        let mut line = b"NOQUEUE: reject: RCPT from x[192.0.2.1]: 550 ".to_vec();
        line.extend(b"; x".iter().cycle().take(200_000));
        let _ = parse_body(BStr::new("smtpd"), &line);
    }

    #[test]
    fn delivery_fields() {
        let a = attempt(
            "smtp",
            "E2C08243CB: to=<b@example.net>, orig_to=<alias@example.net>, relay=mx.example.net[192.0.2.20]:25, \
             conn_use=2, delay=3.1, delays=0.35/0.01/2.2/0.54, tls=may, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 8B22B43C3)",
        );
        assert_eq!(a.status, AttemptStatus::Delivered);
        assert_eq!(a.original_recipient.unwrap(), "alias@example.net");
        assert_eq!(a.remote_host.unwrap(), "mx.example.net");
        assert_eq!(a.remote_ip.unwrap(), "192.0.2.20");
        assert_eq!(a.next_queue_id.unwrap(), "8B22B43C3");
        assert_eq!(a.confirmation.unwrap(), "250 2.0.0 Ok: queued as 8B22B43C3");
        assert_eq!(a.reason, None);
        assert_eq!(a.transport.unwrap(), "smtp");
    }

    #[test]
    fn dsn_wins_over_the_text_and_phases_are_named() {
        let a = attempt(
            "smtp",
            "X1234567: to=<b@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=1, delays=1/0/0/0, dsn=5.0.0, \
             status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 nope (in reply to end of DATA command))",
        );
        assert_eq!(a.reply.code, Some(550));
        assert_eq!(a.reply.enhanced.unwrap().to_string(), "5.0.0");
        assert_eq!(a.phase.unwrap(), "end of data");
        let a = attempt(
            "smtp",
            "X1234567: to=<b@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=1, status=deferred \
             (lost connection with mx.example.net[192.0.2.20] while sending MAIL FROM)",
        );
        assert_eq!(a.phase.unwrap(), "MAIL FROM");
        assert_eq!(a.reply, SmtpReply::default());
    }

    #[test]
    fn status_words() {
        let status = |daemon, word: &str| {
            let body = format!(
                "ABCDEF123: to=<b@example.net>, relay=none, delay=1, dsn=4.0.0, status={word} (x)"
            );
            match parse_body(BStr::new(daemon), body.as_bytes()).body {
                Body::Event(EventKind::Attempt(a)) => Some(a.status),
                _ => None,
            }
        };
        assert_eq!(status("smtp", "sent"), Some(AttemptStatus::Delivered));
        assert_eq!(status("discard", "sent"), Some(AttemptStatus::Discarded));
        assert_eq!(status("", "sent"), Some(AttemptStatus::Discarded));
        assert_eq!(status("smtp", "SOFTBOUNCE"), Some(AttemptStatus::Deferred));
        assert_eq!(status("smtp", "expired"), Some(AttemptStatus::Expired));
        assert_eq!(
            status("verify", "undeliverable"),
            Some(AttemptStatus::Probe)
        );
        assert_eq!(status("smtp", "weird"), None);
    }

    #[test]
    fn suspended_destinations_are_skipped_attempts() {
        let a = attempt(
            "error",
            "C2EC71104FA2: to=<h@example.org>, relay=none, delay=4, delays=4/0/0/0, dsn=4.4.1, \
             status=deferred (delivery temporarily suspended: connect to mx.example.org[198.51.100.53]:25: Connection timed out)",
        );
        assert!(a.skipped);
        assert_eq!(a.reply.code, None);
        assert_eq!(a.remote_host.unwrap(), "none");
    }

    #[test]
    fn removed_depends_on_the_daemon() {
        let kind = |daemon| match parse(daemon, "5A1B2C3D4E: removed").body {
            Body::Event(EventKind::Lifecycle(l)) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind("qmgr"), Lifecycle::QueueFileRemoved);
        assert_eq!(kind(""), Lifecycle::QueueFileRemoved);
        assert_eq!(kind("postsuper"), Lifecycle::RemovedByAdmin(None));
    }

    #[test]
    fn severity_comes_before_actions() {
        let line = parse("cleanup", "warning: 9BECF3F19D: header_checks problem");
        assert_eq!(line.body, Body::Irrelevant("warning"));
        assert_eq!(line.queue_id.unwrap(), "9BECF3F19D");
        let line = parse(
            "cleanup",
            "9BECF3F19D: warning: header Subject: hi from local; from=<a@example.com>",
        );
        let Body::Event(EventKind::Received(r)) = line.body else {
            panic!("{line:?}")
        };
        assert_eq!(r.subject.unwrap(), "hi");
        assert_eq!(r.sender.unwrap(), "a@example.com");
    }

    #[test]
    fn trailer_split_takes_the_last_field_list() {
        let (text, trailer) =
            split_trailer(b"554 5.7.1 a; b; http://x/?q=1; from=<a@b> to=<c@d> proto=ESMTP");
        assert_eq!(text, b"554 5.7.1 a; b; http://x/?q=1");
        assert_eq!(trailer, b"from=<a@b> to=<c@d> proto=ESMTP");
        assert_eq!(
            split_trailer(b"too many connections"),
            (&b"too many connections"[..], &b""[..])
        );
    }

    #[test]
    fn odd_bytes_and_empty_bodies() {
        assert_eq!(parse("smtpd", "").body, Body::Irrelevant("empty"));
        assert_eq!(parse("smtpd", "   \r").body, Body::Irrelevant("empty"));
        let junk = parse_body(
            BStr::new("smtp"),
            b"ABCDEF123: to=<\xff\xfe@example.com>, relay=none, status=bounced (\xc3(",
        );
        let Body::Event(EventKind::Attempt(a)) = junk.body else {
            panic!("{junk:?}")
        };
        assert_eq!(a.recipient, BStr::new(b"\xff\xfe@example.com"));
        assert_eq!(a.reason.unwrap(), BStr::new(b"\xc3("));
    }
}
