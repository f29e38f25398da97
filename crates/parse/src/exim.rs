//! The Exim main-log grammar (versions 4.8x to 4.99).
//!
//! A line is `YYYY-MM-DD HH:MM:SS[.mmm][ ±hhmm][ [pid]] [message-id ]text`.
//! The text is a flag line (`<=` `(=` `=>` `->` `>>` `*>` `**` `==`), one of
//! the message lines without a flag (`Completed`, `Frozen`, …), a rejection,
//! or daemon chatter. See the crate README for the fields understood.

use bstr::BStr;

use crate::event::{
    Attempt, AttemptStatus, Body, EventKind, Lifecycle, Reception, RejectStage, Rejection,
};
use crate::find::{PrefixTable, find_anchored, find_any, rfind_anchored};
use crate::id::is_exim_id;
use crate::smtp::SmtpReply;
use crate::time::{CivilStamp, parse_fraction, parse_iso_datetime, parse_offset};

/// The prefix of an Exim main-log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EximPrefix<'a> {
    /// Timestamp (with offset when `log_timezone` is set).
    pub stamp: CivilStamp,
    /// Process id (`+pid`).
    pub pid: Option<u32>,
    /// Message id, when the line belongs to a message.
    pub id: Option<&'a BStr>,
}

/// Parses the prefix; returns it and the text after it.
///
/// ```
/// use mailtrail_parse::exim::parse_prefix;
/// let (prefix, text) = parse_prefix(b"2024-10-20 11:42:20.814 +0200 [123] 1t2UKC-0000000738v-1Zz9 Completed").unwrap();
/// assert_eq!(prefix.pid, Some(123));
/// assert_eq!(prefix.stamp.offset_seconds, Some(7200));
/// assert_eq!(prefix.id.unwrap(), "1t2UKC-0000000738v-1Zz9");
/// assert_eq!(text, b"Completed");
/// ```
pub fn parse_prefix(line: &[u8]) -> Option<(EximPrefix<'_>, &[u8])> {
    let mut stamp = parse_iso_datetime(line)?;
    if line[10] != b' ' {
        return None;
    }
    let mut rest = &line[19..];
    let (nanos, used) = parse_fraction(rest);
    stamp.nanos = nanos;
    rest = &rest[used..];
    if let Some(after_space) = rest.strip_prefix(b" ")
        && let Some((offset, used)) = parse_offset(after_space).filter(|&(_, used)| used == 5)
        && after_space.get(used).is_none_or(|&b| b == b' ')
    {
        stamp.offset_seconds = Some(offset);
        rest = &after_space[used..];
    }
    let mut pid = None;
    if let Some(after_space) = rest.strip_prefix(b" [")
        && let Some(close) = memchr::memchr(b']', after_space)
        && let Some(value) = ascii_u64(&after_space[..close])
    {
        pid = u32::try_from(value).ok();
        rest = &after_space[close + 1..];
    }
    let rest = match rest {
        [] => rest,
        [b' ', tail @ ..] => tail,
        _ => return None,
    };
    if let Some((id, after)) = leading_id(rest) {
        return Some((
            EximPrefix {
                stamp,
                pid,
                id: Some(BStr::new(id)),
            },
            after,
        ));
    }
    Some((
        EximPrefix {
            stamp,
            pid,
            id: None,
        },
        rest,
    ))
}

/// A message id as the first token of `text`, and the text after its
/// space. An id has one of two lengths, so the byte after each length is
/// looked at instead of searching for the first space.
fn leading_id(text: &[u8]) -> Option<(&[u8], &[u8])> {
    [16, 23].into_iter().find_map(|len| {
        let after = match text.get(len..)? {
            [] => &[][..],
            [b' ', after @ ..] => after,
            _ => return None,
        };
        let id = &text[..len];
        is_exim_id(id).then_some((id, after))
    })
}

/// Parses the text after the prefix.
pub fn parse_body<'a>(id: Option<&'a BStr>, text: &'a [u8]) -> Body<'a> {
    let text = trim_end(text);
    if id.is_some() {
        return flag_or_message_line(text);
    }
    no_id_line(text)
}

/// A line of a message: a flag line, else a message line without a flag.
// Each arm returns its body directly: an `Option<Body>` in between made
// one more copy of the large body per line.
fn flag_or_message_line(text: &[u8]) -> Body<'_> {
    let flag = match text {
        [a, b, b' ', ..] => [*a, *b],
        _ => return message_line(text),
    };
    let rest = &text[3..];
    match &flag {
        b"<=" | b"(=" => reception(rest),
        b"=>" | b"->" | b">>" => attempt(rest, AttemptStatus::Delivered),
        b"*>" => attempt(rest, AttemptStatus::Suppressed),
        b"**" => attempt(rest, AttemptStatus::Bounced),
        b"==" => attempt(rest, AttemptStatus::Deferred),
        _ => message_line(text),
    }
}

/// Keys that may follow an address on delivery lines. An address section
/// ends at the first token that starts with one of them: `KEY=` fields and
/// the bare flags `K` and `L` (alone, or with `*`, `-` or `.`).
fn is_delivery_key(token: &[u8]) -> bool {
    // Key names are at most four bytes, so only the first five can hold
    // the `=`; matching the name is one length switch instead of a
    // comparison per key.
    let head = &token[..token.len().min(5)];
    if let Some(eq) = head.iter().position(|&b| b == b'=') {
        return matches!(
            &token[..eq],
            b"R" | b"T"
                | b"F"
                | b"P"
                | b"Q"
                | b"H"
                | b"S"
                | b"I"
                | b"X"
                | b"CV"
                | b"DN"
                | b"C"
                | b"QT"
                | b"DT"
                | b"PS"
                | b"A"
                | b"ST"
                | b"SRS"
                | b"PRX"
                | b"DKIM"
        );
    }
    matches!(token, [b'K' | b'L'] | [b'K' | b'L', b'*' | b'-' | b'.'])
}

/// Splits `address[ (parent)][ <original>]`.
fn split_address(section: &[u8]) -> (&[u8], Option<&[u8]>) {
    let section = trim_end(section);
    let mut address = section;
    let mut original = None;
    if section.ends_with(b">")
        && let Some(open) = rfind_anchored(section, b" <", 1)
    {
        original = Some(&section[open + 2..section.len() - 1]);
        address = &section[..open];
    }
    if address.ends_with(b")")
        && let Some(open) = rfind_anchored(address, b" (", 1)
    {
        address = &address[..open];
    }
    (address, original.filter(|o| !o.is_empty()))
}

/// Where the reason text of a failure starts: the address section or a
/// field value ends with `:` (Exim ≤ 4.98) or a lone `:` token follows
/// (4.99 and later).
#[derive(Default)]
struct DeliveryFields<'a> {
    router: Option<&'a [u8]>,
    transport: Option<&'a [u8]>,
    sender: Option<&'a [u8]>,
    host_name: Option<&'a [u8]>,
    host_ip: Option<&'a [u8]>,
    confirmation: Option<&'a [u8]>,
    /// Text after the reason separator.
    reason: Option<&'a [u8]>,
    /// `== … defer (errno)[: strerror]` parts.
    defer_errno: Option<&'a [u8]>,
    strerror: Option<&'a [u8]>,
    routing_defer: bool,
}

fn attempt(rest: &[u8], status: AttemptStatus) -> Body<'_> {
    // Address section: tokens up to the first field key, `defer`, `routing`
    // (deferrals) or the reason separator.
    let mut pos = 0;
    let mut section_end = rest.len();
    let mut after = &rest[rest.len()..];
    let mut reason_direct = None;
    while pos < rest.len() {
        let (token, tail) = split_token(&rest[pos..]);
        let token_start = pos;
        if token_start > 0
            && (is_delivery_key(token)
                || token == b"defer"
                || (token == b"routing" && tail.starts_with(b"defer")))
        {
            section_end = token_start - 1;
            after = &rest[token_start..];
            break;
        }
        if token == b":" && token_start > 0 {
            section_end = token_start - 1;
            reason_direct = Some(tail);
            break;
        }
        if token.ends_with(b":") && token.len() > 1 && !token.starts_with(b":") && !tail.is_empty()
        {
            // `addr: reason` (≤ 4.98) — but not `:blackhole:`.
            section_end = token_start + token.len() - 1;
            reason_direct = Some(tail);
            break;
        }
        pos += token.len() + 1;
    }
    let section = &rest[..section_end.min(rest.len())];
    let (recipient, original) = split_address(section);
    if recipient.is_empty() {
        return Body::Unrecognised("delivery line without address");
    }
    let mut fields = DeliveryFields {
        reason: reason_direct,
        ..DeliveryFields::default()
    };
    if reason_direct.is_none() {
        parse_delivery_fields(after, &mut fields);
    }
    let mut reason = fields.reason.map(strip_trailing_dt);
    if status == AttemptStatus::Deferred && reason.is_none() {
        reason = fields.strerror;
    }
    let mut attempt = Attempt {
        recipient: BStr::new(recipient),
        original_recipient: original.map(BStr::new),
        status,
        skipped: false,
        router: fields.router.map(BStr::new),
        transport: fields.transport.map(BStr::new),
        remote_host: fields.host_name.map(BStr::new),
        remote_ip: fields.host_ip.map(BStr::new),
        reply: SmtpReply::default(),
        phase: None,
        reason: None,
        confirmation: fields.confirmation.map(BStr::new),
        next_queue_id: None,
        sender: fields.sender.map(BStr::new),
    };
    if let Some(confirmation) = fields.confirmation {
        attempt.next_queue_id = queue_id_in_confirmation(confirmation).map(BStr::new);
    }
    if let Some(text) = reason {
        analyse_reason(text, &mut attempt);
        attempt.reason = Some(BStr::new(text));
        if status == AttemptStatus::Bounced && is_expiry_text(text) {
            attempt.status = AttemptStatus::Expired;
        }
        if status == AttemptStatus::Deferred
            && find_fixed!(text, b"retry time not reached").is_some()
        {
            attempt.skipped = true;
        }
    }
    let _ = (fields.defer_errno, fields.routing_defer);
    Body::Event(EventKind::Attempt(attempt))
}

/// Texts with which Exim gives up on an address after retrying.
fn is_expiry_text(text: &[u8]) -> bool {
    text.starts_with(b"retry timeout exceeded")
        || find_fixed!(text, b"have been failing for a long time").is_some()
        || find_fixed!(
            text,
            b"retry time not reached for any host after a long failure period"
        )
        .is_some()
}

fn parse_delivery_fields<'a>(mut rest: &'a [u8], fields: &mut DeliveryFields<'a>) {
    while !rest.is_empty() {
        if rest.starts_with(b": ") {
            fields.reason = Some(&rest[2..]);
            return;
        }
        if rest == b":" {
            return;
        }
        if let Some(tail) = rest.strip_prefix(b": ") {
            fields.reason = Some(tail);
            return;
        }
        if rest.starts_with(b"H=") {
            let (name, ip, tail, separator) = host_field(&rest[2..]);
            fields.host_name = name.or(fields.host_name);
            fields.host_ip = ip.or(fields.host_ip);
            if separator {
                fields.reason = Some(tail);
                return;
            }
            rest = skip_space(tail);
            continue;
        }
        if rest.starts_with(b"routing defer") {
            fields.routing_defer = true;
            rest = &rest[b"routing ".len()..];
            continue;
        }
        if let Some(tail) = rest.strip_prefix(b"defer (") {
            let Some(close) = memchr::memchr(b')', tail) else {
                return;
            };
            fields.defer_errno = Some(&tail[..close]);
            let tail = &tail[close + 1..];
            if let Some(text) = tail.strip_prefix(b": ") {
                // `strerror` runs up to ` H=` when host details follow.
                match find_fixed!(text, b" H=") {
                    Some(h) => {
                        fields.strerror = Some(&text[..h]);
                        rest = &text[h + 1..];
                    }
                    None => {
                        fields.strerror = Some(text);
                        return;
                    }
                }
            } else {
                rest = skip_space(tail);
            }
            continue;
        }
        let (token, tail) = split_token(rest);
        let Some(eq) = find_any([b'='], token) else {
            // A bare flag (`K`, `L`, `DS`, `PRDR`); possibly glued to the
            // separator (`K:`).
            if token.ends_with(b":") && !tail.is_empty() {
                fields.reason = Some(tail);
                return;
            }
            rest = tail;
            continue;
        };
        let key = &token[..eq];
        let (value, tail, separator) = field_of_token(rest, token, tail, eq);
        match key {
            b"R" => fields.router = Some(value),
            b"T" => fields.transport = Some(value),
            b"F" => fields.sender = Some(strip_angles(value)),
            b"C" => fields.confirmation = Some(value),
            _ => {}
        }
        if separator {
            fields.reason = Some(tail);
            return;
        }
        rest = tail;
    }
}

/// The value of a `KEY=` field: quoted (with backslash escapes) or up to
/// the next space. Returns the value, the rest after it and whether the
/// value was glued to the reason separator (`CV=yes: SMTP error …`).
fn field_value(text: &[u8]) -> (&[u8], &[u8], bool) {
    if text.first() == Some(&b'"') {
        let end = closing_quote(text);
        let value = &text[1..end];
        let after = text.get(end + 1..).unwrap_or(&[]);
        if let Some(reason) = after.strip_prefix(b": ") {
            return (value, reason, true);
        }
        return (value, skip_space(after), false);
    }
    let (token, tail) = split_token(text);
    unquoted_value(token, tail)
}

/// [`field_value`] of the field `token`, the first token of `text`, with
/// its `=` at `eq` and `tail` after it. The caller has found the token
/// already, and an unquoted value is the rest of it: it is not scanned
/// for its end again.
// Inlined: called for every field of every delivery and arrival line,
// and its three-part result would otherwise go through memory.
#[inline(always)]
fn field_of_token<'a>(
    text: &'a [u8],
    token: &'a [u8],
    tail: &'a [u8],
    eq: usize,
) -> (&'a [u8], &'a [u8], bool) {
    if token.get(eq + 1) == Some(&b'"') {
        return field_value(&text[eq + 1..]);
    }
    unquoted_value(&token[eq + 1..], tail)
}

/// An unquoted value `token` and the text after it, which starts the
/// reason when the value ends with `:`.
fn unquoted_value<'a>(token: &'a [u8], tail: &'a [u8]) -> (&'a [u8], &'a [u8], bool) {
    if token.ends_with(b":") && !tail.is_empty() {
        return (&token[..token.len() - 1], tail, true);
    }
    (token, tail, false)
}

/// Index of the `"` closing the quoted value that opens at `text[0]`,
/// skipping backslash escapes; `text.len()` when it is missing.
fn closing_quote(text: &[u8]) -> usize {
    let mut i = 1;
    // Subjects run long: jump to the next quote or backslash.
    while let Some(found) = text
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'\\', b'"', rest))
    {
        i += found;
        if text[i] == b'"' {
            return i;
        }
        i += 2;
    }
    text.len()
}

/// What [`host_field`] read: host name, IP, the rest of the text, and
/// whether the reason separator was glued to the field.
type HostField<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a [u8], bool);

/// `H=` value: `name [ip]`, `name (helo) [ip]`, `(helo) [ip]`, `[ip]`,
/// with optional `DS`, `:port` and `*` after the address. Returns name, ip,
/// the rest, and whether the separator was glued to it (`[ip]: text`).
// Inlined: once per host field of most lines, and its four-part result
// would otherwise go through memory.
#[inline(always)]
fn host_field(text: &[u8]) -> HostField<'_> {
    let mut name = None;
    let mut rest = text;
    // At most a name, a `(helo)` and a `DS` before the bracketed address.
    for _ in 0..4 {
        if rest.first() == Some(&b'[') {
            break;
        }
        let (token, tail) = split_token(rest);
        if token.is_empty() {
            return (name, None, tail, false);
        }
        if token.starts_with(b"(") || token == b"DS" {
            // HELO name (may contain spaces in broken clients) or DNSSEC.
            if token.starts_with(b"(")
                && !token.ends_with(b")")
                && let Some(close) = memchr::memchr(b')', rest)
            {
                rest = skip_space(&rest[close + 1..]);
                continue;
            }
        } else if name.is_none() {
            if token.ends_with(b":") && !tail.is_empty() {
                return (Some(&token[..token.len() - 1]), None, tail, true);
            }
            name = Some(token);
        } else {
            // Not a host field shape; stop here.
            return (name, None, rest, false);
        }
        rest = tail;
    }
    let Some(after_open) = rest.strip_prefix(b"[") else {
        return (name, None, rest, false);
    };
    // An address is short: `find_any` rather than `memchr`.
    let Some(close) = find_any([b']'], after_open) else {
        return (name, None, rest, false);
    };
    let ip = &after_open[..close];
    let mut tail = &after_open[close + 1..];
    // `:port`, then `*` for a reused connection.
    if let Some(port) = tail.strip_prefix(b":") {
        let digits = port.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 {
            tail = &port[digits..];
        }
    }
    if let Some(t) = tail.strip_prefix(b"*") {
        tail = t;
    }
    if let Some(reason) = tail.strip_prefix(b": ") {
        return (name, Some(ip), reason, true);
    }
    (name, Some(ip), skip_space(tail), false)
}

/// Reads the SMTP error details out of a failure or deferral text.
fn analyse_reason<'a>(text: &'a [u8], attempt: &mut Attempt<'a>) {
    let found = smtp_phase_start(text);
    let mut answer = text;
    if let Some(after_prefix) = found {
        let after = &text[after_prefix..];
        // The phase runs to the `:` that ends the command (`RCPT
        // TO:<a@b>:`, `end of data:`), skipping the one inside `TO:<`.
        let phase_end = phase_end(after);
        let phase = &after[..phase_end];
        attempt.phase = Some(BStr::new(command_name(phase)));
        answer = skip_space(after.get(phase_end + 1..).unwrap_or(&[]));
    }
    // Exim ≤ 4.85 put the host inside the text: `host mx.b [1.2.3.4]: 550 …`.
    if let Some(host_text) = answer.strip_prefix(b"host ") {
        let (name, ip, tail, separator) = host_field(host_text);
        if separator {
            attempt.remote_host = attempt.remote_host.or(name.map(BStr::new));
            attempt.remote_ip = attempt.remote_ip.or(ip.map(BStr::new));
            answer = tail;
        }
    }
    attempt.reply = SmtpReply::find(answer);
}

/// Where the phase starts after the first of these introductions found, in
/// this order of preference: `SMTP error from remote mail server after `,
/// `SMTP error from remote mailer after `, `SMTP timeout after `.
fn smtp_phase_start(text: &[u8]) -> Option<usize> {
    const INTRODUCTIONS: [&[u8]; 3] = [
        b"SMTP error from remote mail server after ",
        b"SMTP error from remote mailer after ",
        b"SMTP timeout after ",
    ];
    // All three start with `SMTP `, which is rare in a reason: one search
    // for it rather than one search of the whole text per introduction.
    let mut first: [Option<usize>; 3] = [None; 3];
    for at in find_iter_fixed!(text, b"SMTP ") {
        for (slot, intro) in first.iter_mut().zip(INTRODUCTIONS) {
            if slot.is_none() && text[at..].starts_with(intro) {
                *slot = Some(at + intro.len());
            }
        }
    }
    first.into_iter().flatten().next()
}

/// Length of an SMTP phase description such as `RCPT TO:<a@b>` or `MAIL
/// FROM:<s> SIZE=123` or `end of data`, ending before `: `.
fn phase_end(text: &[u8]) -> usize {
    let mut i = 0;
    let mut in_angle = false;
    while i < text.len() {
        match text[i] {
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b':' if !in_angle && text.get(i + 1).is_none_or(|&b| b == b' ') => return i,
            _ => {}
        }
        i += 1;
    }
    text.len()
}

/// `RCPT TO:<a@b>` → `RCPT TO`; `MAIL FROM:<s> SIZE=1` → `MAIL FROM`;
/// `end of data` stays.
fn command_name(phase: &[u8]) -> &[u8] {
    let phase = phase.strip_prefix(b"pipelined ").unwrap_or(phase);
    match memchr::memchr(b':', phase) {
        Some(colon) => &phase[..colon],
        None => phase,
    }
}

/// The queue id a next hop returned in its confirmation: Exim `id=X`,
/// Postfix `queued as X`.
pub(crate) fn queue_id_in_confirmation(text: &[u8]) -> Option<&[u8]> {
    // Confirmations are short: anchored searches on rare bytes rather
    // than `memmem`, whose setup costs more than the search here.
    let start = if let Some(at) = find_anchored(text, b"queued as ", 0) {
        at + b"queued as ".len()
    } else if let Some(at) = find_anchored(text, b" id=", 3) {
        at + b" id=".len()
    } else {
        return None;
    };
    let value = &text[start..];
    let len = value
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    (len >= 5).then(|| &value[..len])
}

/// The text without a final ` DT=…` token (delivery time).
fn strip_trailing_dt(text: &[u8]) -> &[u8] {
    // The token is the last one, so it starts at the last space: one
    // vectorised search backwards instead of a substring search of the
    // whole (long) reason.
    match memchr::memrchr(b' ', text) {
        Some(at) if text[at..].starts_with(b" DT=") => &text[..at],
        _ => text,
    }
}

fn reception(rest: &[u8]) -> Body<'_> {
    let (sender_token, mut tail) = split_token(rest);
    if sender_token.is_empty() {
        return Body::Unrecognised("arrival without sender");
    }
    let mut reception = Reception {
        sender: Some(BStr::new(strip_angles(sender_token))),
        ..Reception::default()
    };
    while !tail.is_empty() {
        if let Some(host) = tail.strip_prefix(b"H=") {
            let (name, ip, after, _) = host_field(host);
            reception.client_host = name.map(BStr::new);
            reception.client_ip = ip.map(BStr::new);
            tail = after;
            continue;
        }
        if let Some(sender) = tail.strip_prefix(b"from <") {
            // `from <raw-sender>` comes last but one, before `for`.
            let close = memchr::memchr(b'>', sender).unwrap_or(sender.len());
            tail = skip_space(sender.get(close + 1..).unwrap_or(&[]));
            continue;
        }
        if let Some(list) = tail.strip_prefix(b"for ") {
            reception.recipients = Some(BStr::new(list));
            break;
        }
        let (token, rest) = split_token(tail);
        let Some(eq) = find_any([b'='], token) else {
            tail = rest;
            continue;
        };
        let key = &token[..eq];
        let (value, after, _) = field_of_token(tail, token, rest, eq);
        match key {
            b"R" => reception.bounce_of = Some(BStr::new(value)),
            b"U" => reception.user = reception.user.or(Some(BStr::new(value))),
            b"A" => {
                // `authenticator:id[:sender]`: the id is the user.
                let id = value.splitn(3, |&b| b == b':').nth(1).unwrap_or(value);
                reception.user = Some(BStr::new(id));
            }
            b"P" => reception.protocol = Some(BStr::new(value)),
            b"S" => reception.size = ascii_u64(value),
            b"id" | b"id*" => reception.message_id = Some(BStr::new(strip_angles(value))),
            b"T" => reception.subject = Some(BStr::new(value)),
            _ => {}
        }
        tail = after;
    }
    Body::Event(EventKind::Received(reception))
}

/// Message lines without a flag.
fn message_line(text: &[u8]) -> Body<'_> {
    let lifecycle = |l| Body::Event(EventKind::Lifecycle(l));
    if text.starts_with(b"Completed") {
        return lifecycle(Lifecycle::Completed);
    }
    if text == b"Message is frozen" {
        return lifecycle(Lifecycle::StillFrozen);
    }
    if let Some(why) = text.strip_prefix(b"Frozen") {
        let why = skip_space(why);
        return lifecycle(Lifecycle::Frozen((!why.is_empty()).then(|| BStr::new(why))));
    }
    if let Some(who) = text.strip_prefix(b"frozen by ") {
        return lifecycle(Lifecycle::Frozen(Some(BStr::new(who))));
    }
    if text.starts_with(b"Unfrozen by") || text.starts_with(b"unfrozen by") {
        return lifecycle(Lifecycle::Unfrozen);
    }
    if let Some(who) = text.strip_prefix(b"removed by ") {
        return lifecycle(Lifecycle::RemovedByAdmin(Some(BStr::new(who))));
    }
    if text.starts_with(b"Message removed because older than") {
        return lifecycle(Lifecycle::RemovedByAdmin(Some(BStr::new(text))));
    }
    if let Some(who) = text.strip_prefix(b"cancelled by ") {
        return lifecycle(Lifecycle::Cancelled(Some(BStr::new(who))));
    }
    if let Some(at) = find_fixed!(text, b": error ignored") {
        let (address, original) = split_address(&text[..at]);
        return lifecycle(Lifecycle::ErrorIgnored(BStr::new(
            original.unwrap_or(address),
        )));
    }
    if let Some(event) = rejection(text) {
        return event;
    }
    static KNOWN: PrefixTable = PrefixTable::new(&[
        (b"H=", "host attempt"),
        (b"SMTP error from remote mail", "host attempt"),
        (b"SMTP timeout", "host attempt"),
        (b"TLS session", "tls note"),
        (b"TLS error", "tls note"),
        (b"DKIM", "dkim note"),
        (b"no immediate delivery", "queued for later"),
        (b"Spool file", "spool locked"),
        (b"SMTP connection lost", "connection note"),
        (b"Warning", "warning"),
        (b"ARC", "arc note"),
        (b"SPF", "spf note"),
        (b"DMARC", "dmarc note"),
        (b"DKIM:", "dkim note"),
        (b"<", "message note"),
        (b"delivery deferred", "queued for later"),
        (b"dsn:", "dsn note"),
        (b"Sender identification", "sender note"),
        (b"Using", "message note"),
        (b"Message", "message note"),
        (b"domain", "message note"),
        (b"retry", "retry note"),
        (b"cwd=", "arguments"),
    ]);
    if let Some(label) = KNOWN.find(text) {
        return Body::Irrelevant(label);
    }
    Body::Unrecognised("unknown message line")
}

/// Rejection lines: `[fields ][temporarily ]rejected <what>[: text]`, with
/// or without a message id.
fn rejection(text: &[u8]) -> Option<Body<'_>> {
    // Only a text that starts with `rejected`, `temporarily rejected` or a
    // field this function accepts before `rejected` (`H=`, `F=`, `U=`, `DS
    // `) can be a rejection: the checks below look at the first token of
    // the text. Most lines are turned down here, without a search of the
    // whole text for ` rejected `.
    let could_be = match text.first() {
        Some(b'r') => text.starts_with(b"rejected "),
        Some(b't') => text.starts_with(b"temporarily rejected "),
        Some(b'H' | b'F' | b'U') => text.get(1) == Some(&b'='),
        Some(b'D') => text.starts_with(b"DS "),
        _ => false,
    };
    if !could_be {
        return None;
    }
    let at = if text.starts_with(b"rejected ") || text.starts_with(b"temporarily rejected ") {
        0
    } else {
        find_fixed!(text, b" rejected ")? + 1
    };
    let before = &text[..at];
    let mut temporary = false;
    let mut fields_part = before;
    if let Some(stripped) = trim_end(before).strip_suffix(b"temporarily") {
        temporary = true;
        fields_part = stripped;
    }
    if text[at..].starts_with(b"temporarily ") {
        temporary = true;
    }
    let after = text[at..]
        .strip_prefix(b"temporarily ")
        .unwrap_or(&text[at..]);
    let what = after.strip_prefix(b"rejected ")?;
    // Fields before `rejected`: H=, F=, U=, X=, … Only lines whose first
    // token is a field are rejections (free text mentioning "rejected" is
    // not).
    let first = token_of(fields_part);
    let starts_with_field = [&b"H="[..], b"F=", b"U="]
        .iter()
        .any(|key| first.starts_with(key))
        || first == b"DS";
    if !fields_part.is_empty() && !starts_with_field {
        return None;
    }
    let mut rejection = Rejection {
        stage: RejectStage::Other,
        temporary,
        sender: None,
        recipient: None,
        client_host: None,
        client_ip: None,
        reply: SmtpReply::default(),
        reason: None,
    };
    let mut rest = fields_part;
    while !rest.is_empty() {
        if let Some(host) = rest.strip_prefix(b"H=") {
            let (name, ip, tail, _) = host_field(host);
            rejection.client_host = name.map(BStr::new);
            rejection.client_ip = ip.map(BStr::new);
            rest = skip_space(tail);
            continue;
        }
        let (token, tail) = split_token(rest);
        match find_any([b'='], token) {
            Some(eq) => {
                let (value, tail, _) = field_of_token(rest, token, tail, eq);
                if &token[..eq] == b"F" {
                    rejection.sender = Some(BStr::new(strip_angles(value)));
                }
                rest = tail;
            }
            None => rest = tail,
        }
    }
    let (subject, reason) = match find_fixed!(what, b": ") {
        Some(colon) => (&what[..colon], Some(&what[colon + 2..])),
        None => (what, None),
    };
    rejection.stage = if let Some(address) = subject.strip_prefix(b"RCPT ") {
        rejection.recipient = Some(BStr::new(strip_angles(address)));
        RejectStage::Rcpt
    } else if subject.starts_with(b"MAIL") {
        RejectStage::Mail
    } else if subject.starts_with(b"EHLO") || subject.starts_with(b"HELO") {
        RejectStage::Helo
    } else if subject.starts_with(b"connection") {
        RejectStage::Connect
    } else if subject.starts_with(b"after DATA")
        || subject.starts_with(b"DATA")
        || subject.starts_with(b"by ")
        || subject.starts_with(b"during MIME")
    {
        RejectStage::Data
    } else {
        RejectStage::Other
    };
    if let Some(reason) = reason {
        rejection.reply = SmtpReply::find(reason);
        rejection.reason = Some(BStr::new(reason));
    }
    Some(Body::Event(EventKind::Rejected(rejection)))
}

/// Lines without a message id.
fn no_id_line(text: &[u8]) -> Body<'_> {
    if let Some(event) = rejection(text) {
        return event;
    }
    static KNOWN: PrefixTable = PrefixTable::new(&[
        (b"Start queue run", "queue run"),
        (b"End queue run", "queue run"),
        (b"exim ", "daemon"),
        (b"SMTP connection", "connection"),
        (b"SMTP call from", "connection"),
        (b"SMTP protocol", "connection"),
        (b"SMTP syntax error", "connection"),
        (b"SMTP command timeout", "connection"),
        (b"SMTP data timeout", "connection"),
        (b"unexpected disconnection", "connection"),
        (b"no MAIL in SMTP", "connection"),
        (b"TLS error", "connection"),
        (b"Connection from", "connection"),
        (b"refused connection", "connection"),
        (b"temporarily refused connection", "connection"),
        (b"no host name found", "host lookup"),
        (b"no IP address found", "host lookup"),
        (b"cwd=", "arguments"),
        (b"Warning:", "warning"),
        (b"ignoring", "warning"),
        (b"H=", "connection"),
        (b"U=", "connection"),
        (b"F=", "connection"),
        (b"DS ", "connection"),
        (b"Failed to", "error"),
        (b"failed to", "error"),
        (b"LOG:", "error"),
        (b"Exim configuration error", "error"),
        (b"Exim ", "daemon"),
        (b"pid ", "daemon"),
        (b"daemon", "daemon"),
        (b"Spool file", "spool locked"),
        (b"Start ", "queue run"),
        (b"End ", "queue run"),
    ]);
    if let Some(label) = KNOWN.find(text) {
        return Body::Irrelevant(label);
    }
    if find_fixed!(text, b"authenticator failed").is_some()
        || find_fixed!(text, b"sender verify").is_some()
    {
        return Body::Irrelevant("connection");
    }
    if text.is_empty() {
        return Body::Irrelevant("empty");
    }
    Body::Unrecognised("unknown line")
}

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
    let n = text.iter().take_while(|&&b| b == b' ').count();
    &text[n..]
}

fn trim_end(text: &[u8]) -> &[u8] {
    let n = text
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\r')
        .count();
    &text[..text.len() - n]
}

fn strip_angles(text: &[u8]) -> &[u8] {
    text.strip_prefix(b"<")
        .and_then(|t| t.strip_suffix(b">"))
        .unwrap_or(text)
}

fn ascii_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}
