//! Line envelopes added by whatever wrote the file: syslog daemons,
//! journald, container runtimes.
//!
//! An envelope gives the time (when it has one), the host, the program tag
//! and pid, and the body the MTA wrote. Envelopes are detected per line, so
//! one file may mix them.
//!
//! # Formats
//!
//! Dispatch looks at the first byte (`<`, a digit, an upper-case letter)
//! and then at fixed positions, so a line that is not an envelope is turned
//! down after a few bytes. Nothing allocates and no input panics.
//!
//! | first bytes | format |
//! |---|---|
//! | `Mmm d HH:MM:SS` | classic syslog (day space-, zero- or un-padded), optional `.ffffff` (`journalctl -o short-precise`), optional year before the time (`Mmm dd YYYY HH:MM:SS`) |
//! | `YYYY Mmm dd HH:MM:SS.fff` | custom rsyslog template with the year first |
//! | `YYYY-MM-DDTHH:MM:SS[.f][±hh:mm\|±hhmm\|Z]` | rsyslog RFC 3339, `journalctl -o short-iso[-precise]`; or a `docker logs -t` / Kubernetes CRI (`stdout F `, `stderr P `) prefix in front of another line |
//! | `YYYY-MM-DD HH:MM:SS host prog[pid]: ` | syslog with an ISO date and a space (seen for Exim); a `prog[pid]` tag is required so that an Exim main-log line is never taken for it |
//! | `Www YYYY-MM-DD HH:MM:SS ZONE` | `journalctl -o short-full` |
//! | `1672918496.123456 host` | `journalctl -o short-unix` (stamp in UTC) |
//! | `<pri>1 TIMESTAMP HOST APP PROCID MSGID SD MSG` | RFC 5424 (any field may be `-`) |
//! | `<pri>` + any of the above | RFC 3164 as sent on the wire |
//! | `service_1  \| ` | `docker compose logs` prefix in front of another line |
//!
//! After the time, all syslog forms share one reader for the rest:
//! an optional FreeBSD `<facility.level>` token, the host (any token: FQDN,
//! IP, IPv6, chained `a/b`, `user@host`), an optional severity word, and the
//! tag `prog[pid]: ` or `prog: `. The host may be missing (`journalctl
//! --no-hostname`) or replaced by an upper-case severity word padded with
//! spaces (the `boky/postfix` container). The whole tag before `[` is the
//! program: `postfix-out/smtp`, `postfix/submission/smtpd`, `exim`.
//! After the tag, a Solaris `[ID 197553 mail.info] ` tag and an Exim split
//! marker `[n/m] ` or `[n\m] ` are removed from the body.
//!
//! # Choices
//!
//! * A zone abbreviation in `short-full` (`CET`, `EST`, …) is ambiguous
//!   world-wide, so only `UTC`, `UT`, `GMT` and `Z` give an offset (0), and a
//!   numeric `+03`/`+0530` is read as written. Any other abbreviation gives
//!   `offset_seconds: None`: the configured zone applies.
//! * A container prefix is unwrapped recursively (at most three levels,
//!   such as `docker compose logs -t` around a CRI line). When both the container and the inner
//!   line have a time, the container's is used: the runtime writes it with a
//!   full date, a UTC offset and sub-second precision when it reads the
//!   line, while an inner syslog stamp has no year and no zone.
//! * Inside a container prefix only, an inner line may be a bare tag
//!   (`postfix/smtp[1]: …`, no time) or a bare Exim main-log line
//!   (`YYYY-MM-DD HH:MM:SS …`). The latter gives program `exim`, no host and
//!   the whole inner line as body, for the caller to parse Exim's own
//!   prefix; its stamp is the container's, else Exim's own. At the top level
//!   both give `None` (an Exim main-log line is the caller's business, and a
//!   bare tag has neither time nor host).
//! * `last message repeated N times` (no tag) gives program `""` and that
//!   text as body, so that the caller counts it as another program's line
//!   rather than as unrecognised.
//! * A pid that is all digits but does not fit in `u32` gives `pid: None`
//!   (the line is kept); a pid with other characters rejects the line.
//! * A time out of range (`Jan 32`, `25:00:00`) rejects the line.
//! * A CRI partial line (`P`) gives its first part only; the continuation
//!   lines that follow have no envelope of their own.
//! * Not supported: coloured `docker compose` output (ANSI escapes),
//!   `journalctl -o json` / `export` and docker's `json-file` (these are
//!   not one log line per line), `journalctl -o short-monotonic` (no wall
//!   time).

use bstr::BStr;
use chrono::{Datelike, Timelike};

use crate::find::find_any;
use crate::time::{CivilStamp, digits_n, parse_fraction, parse_iso_datetime, parse_offset};

/// The outer envelope of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The envelope's timestamp, when it has one.
    pub stamp: Option<CivilStamp>,
    /// Host name field, when present.
    pub host: Option<&'a BStr>,
    /// Program tag before `[pid]`, e.g. `postfix/submission/smtpd`, `exim`.
    pub program: &'a BStr,
    /// Process id, when present.
    pub pid: Option<u32>,
    /// Which part of a long record split by Exim's syslog writer this line
    /// is (`[n/m]` or `[n\m]` at the start of the body).
    pub split: Option<SplitPart>,
    /// The text after the tag (and after any `[ID n facility]` or split
    /// marker).
    pub body: &'a [u8],
}

/// One part of a record that Exim split for syslog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPart {
    /// 1-based part number.
    pub index: u16,
    /// Number of parts.
    pub total: u16,
    /// True for `[n\m]`: the split was at an embedded newline rather than
    /// for length.
    pub at_newline: bool,
}

/// How many container prefixes (`docker compose`, `docker logs -t`, CRI)
/// are unwrapped in front of one line.
const MAX_CONTAINER_DEPTH: u8 = 3;

/// Detects and removes the envelope of one line.
///
/// Returns `None` when the line has no envelope this module knows (for
/// example an Exim main-log line, which starts with its own timestamp).
/// See the [module documentation](self) for the formats.
pub fn unwrap_line(line: &[u8]) -> Option<Envelope<'_>> {
    envelope(line, 0)
}

/// [`unwrap_line`] for a line that [`crate::exim::parse_prefix`] accepted
/// (`YYYY-MM-DD HH:MM:SS` and a space): the same answer, found faster.
///
/// Such a line can only be the `YYYY-MM-DD HH:MM:SS host prog[pid]: `
/// syslog form (see `iso_space`), whose tag ends with `]:` and a space or
/// the end of the line. Most Exim lines without a message id have no such
/// `]:`, and one substring search turns them down before the envelope
/// grammar runs.
pub(crate) fn unwrap_exim_like_line(line: &[u8]) -> Option<Envelope<'_>> {
    // `]:` then a space or the end. Not every `]:` and what follows it:
    // `[ip]:port` is common in Exim lines and would mean a second look.
    if !line.ends_with(b"]:") && find_fixed!(line, b"]: ").is_none() {
        return None;
    }
    unwrap_line(line)
}

/// One line at container nesting `depth` (0: the file's own line).
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn envelope(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    if line.first() == Some(&b'<') {
        return with_priority(line, depth);
    }
    unprefixed(line, depth)
}

/// A line without a leading `<pri>`.
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn unprefixed(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    let found = match *line.first()? {
        b'0'..=b'9' => numeric(line, depth),
        b'A'..=b'Z' => named(line),
        _ => None,
    };
    found
        .or_else(|| compose_service(line, depth))
        .or_else(|| if depth > 0 { bare_tag(line) } else { None })
}

/// Lines starting with a digit: ISO dates, a leading year, epoch seconds.
fn numeric(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    match (line.get(4), line.get(10)) {
        (Some(b'-'), Some(b'T')) => rfc3339(line, depth),
        (Some(b'-'), Some(b' ')) => iso_space(line, depth),
        (Some(b' '), _) => {
            let year = digits_n(line, 4)? as i32;
            classic(&line[5..], Some(year))
        }
        (_, Some(b'.')) => epoch(line),
        _ => None,
    }
}

/// Lines starting with an upper-case letter: a month or a weekday.
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn named(line: &[u8]) -> Option<Envelope<'_>> {
    let word = line.get(..3)?;
    if let Some(month) = month_number(word) {
        classic_in_month(line, month, None)
    } else if is_weekday(word) {
        short_full(line)
    } else {
        None
    }
}

fn month_number(word: &[u8]) -> Option<u8> {
    Some(match word {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn is_weekday(word: &[u8]) -> bool {
    matches!(
        word,
        b"Mon" | b"Tue" | b"Wed" | b"Thu" | b"Fri" | b"Sat" | b"Sun"
    )
}

/// `HH:MM:SS` at the start of `bytes`, range-checked (a leap second 60 is
/// allowed).
fn clock_time(bytes: &[u8]) -> Option<(u8, u8, u8)> {
    if bytes.get(2) != Some(&b':') || bytes.get(5) != Some(&b':') {
        return None;
    }
    let hour = digits_n(bytes, 2)? as u8;
    let minute = digits_n(&bytes[3..], 2)? as u8;
    let second = digits_n(&bytes[6..], 2)? as u8;
    (hour <= 23 && minute <= 59 && second <= 60).then_some((hour, minute, second))
}

/// `Mmm d HH:MM:SS[.f] rest`, with `Mmm dd YYYY HH:MM:SS` when `year` is
/// not known yet.
fn classic(line: &[u8], year: Option<i32>) -> Option<Envelope<'_>> {
    let month = month_number(line.get(..3)?)?;
    classic_in_month(line, month, year)
}

/// [`classic`] for a line whose first three bytes name `month`.
fn classic_in_month(line: &[u8], month: u8, mut year: Option<i32>) -> Option<Envelope<'_>> {
    if line.get(3) != Some(&b' ') {
        return None;
    }
    let (day, mut rest) = match *line.get(4..7)? {
        [b' ' | b'0', d, b' '] if d.is_ascii_digit() => (d - b'0', &line[7..]),
        [a, b, b' '] if a.is_ascii_digit() && b.is_ascii_digit() => {
            ((a - b'0') * 10 + (b - b'0'), &line[7..])
        }
        [d, b' ', _] if d.is_ascii_digit() => (d - b'0', &line[6..]),
        _ => return None,
    };
    if !(1..=31).contains(&day) {
        return None;
    }
    if year.is_none() && rest.get(4) == Some(&b' ') {
        year = Some(digits_n(rest, 4)? as i32);
        rest = &rest[5..];
    }
    let (hour, minute, second) = clock_time(rest)?;
    let (nanos, used) = parse_fraction(&rest[8..]);
    let rest = rest[8 + used..].strip_prefix(b" ")?;
    let stamp = CivilStamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_seconds: None,
    };
    syslog_rest(Some(stamp), rest)
}

/// `YYYY-MM-DD?HH:MM:SS[.f][offset]` at the start of `line` (the separator
/// is checked by the caller): the stamp and the bytes after it.
fn iso_stamp(line: &[u8]) -> Option<(CivilStamp, &[u8])> {
    let mut stamp = parse_iso_datetime(line)?;
    let (nanos, used) = parse_fraction(&line[19..]);
    stamp.nanos = nanos;
    let mut rest = &line[19 + used..];
    if let Some((offset, used)) = parse_offset(rest) {
        stamp.offset_seconds = Some(offset);
        rest = &rest[used..];
    }
    Some((stamp, rest))
}

/// `YYYY-MM-DDTHH:MM:SS…` followed by a syslog line's host and tag, a CRI
/// stream and tag, or (`docker logs -t`) a whole inner line.
fn rfc3339(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    let (stamp, rest) = iso_stamp(line)?;
    let rest = rest.strip_prefix(b" ")?;
    if let Some(inner) = cri_stream(rest) {
        return contained(inner, Some(stamp), depth);
    }
    if starts_like_stamp(rest) {
        // `docker logs -t` in front of a line with its own time.
        contained(rest, Some(stamp), depth).or_else(|| syslog_rest(Some(stamp), rest))
    } else {
        syslog_rest(Some(stamp), rest).or_else(|| contained(rest, Some(stamp), depth))
    }
}

/// True when `text` starts like a time or a priority rather than a host.
fn starts_like_stamp(text: &[u8]) -> bool {
    match text {
        [b'<', ..]
        | [
            b'0'..=b'9',
            b'0'..=b'9',
            b'0'..=b'9',
            b'0'..=b'9',
            b'-' | b' ' | b'.',
            ..,
        ] => true,
        [a, b, c, b' ', ..] => month_number(&[*a, *b, *c]).is_some() || is_weekday(&[*a, *b, *c]),
        _ => false,
    }
}

/// `stdout F ` / `stderr P ` after a CRI timestamp: the inner line.
fn cri_stream(rest: &[u8]) -> Option<&[u8]> {
    let tail = rest
        .strip_prefix(b"stdout ")
        .or_else(|| rest.strip_prefix(b"stderr "))?;
    match tail {
        // A partial or empty record may end right after the tag.
        [b'F' | b'P'] => Some(&tail[1..]),
        [b'F' | b'P', b' ', inner @ ..] => Some(inner),
        _ => None,
    }
}

/// `YYYY-MM-DD HH:MM:SS[.f][ ±hhmm] …`: syslog with an ISO date when the
/// rest is `host prog[pid]: `, otherwise (inside a container only) a bare
/// Exim main-log line.
fn iso_space(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    let (mut stamp, mut rest) = iso_stamp(line)?;
    if stamp.offset_seconds.is_none()
        && let Some(tail @ [b'+' | b'-', ..]) = rest.strip_prefix(b" ")
        && let Some((offset, used)) = parse_offset(tail)
        && matches!(tail.get(used), None | Some(b' '))
    {
        stamp.offset_seconds = Some(offset);
        rest = &tail[used..];
    }
    let after = match rest {
        [] => rest,
        [b' ', tail @ ..] => tail,
        _ => return None,
    };
    let syslog = host_and_tag(after).filter(|(host, tag)| {
        // An Exim main-log line may look like `… <id> Warning: …`; a real
        // syslog line here names a host and a pid.
        host.is_some_and(|h| !h.starts_with(b"[") && !crate::id::is_exim_id(h)) && tag.pid.is_some()
    });
    if let Some((host, tag)) = syslog {
        return Some(finish(Some(stamp), host, tag));
    }
    (depth > 0).then(|| Envelope {
        stamp: Some(stamp),
        host: None,
        program: BStr::new(b"exim"),
        pid: None,
        split: None,
        body: line,
    })
}

/// `Www YYYY-MM-DD HH:MM:SS[.f] ZONE rest` (`journalctl -o short-full`).
fn short_full(line: &[u8]) -> Option<Envelope<'_>> {
    let date = line.get(4..)?;
    if line[3] != b' ' || date.get(10) != Some(&b' ') {
        return None;
    }
    let mut stamp = parse_iso_datetime(date)?;
    let (nanos, used) = parse_fraction(&date[19..]);
    stamp.nanos = nanos;
    let rest = date[19 + used..].strip_prefix(b" ")?;
    let zone_end = memchr::memchr(b' ', &rest[..rest.len().min(8)])?;
    stamp.offset_seconds = zone_offset(&rest[..zone_end])?;
    syslog_rest(Some(stamp), &rest[zone_end + 1..])
}

/// The offset a zone name stands for: `Some(None)` for an abbreviation that
/// does not say (the configured zone applies), `None` for no zone name.
fn zone_offset(zone: &[u8]) -> Option<Option<i32>> {
    match zone {
        b"UTC" | b"UT" | b"GMT" | b"Z" => Some(Some(0)),
        [sign @ (b'+' | b'-'), h1, h2] if h1.is_ascii_digit() && h2.is_ascii_digit() => {
            let hours = i32::from((h1 - b'0') * 10 + (h2 - b'0'));
            if hours > 23 {
                return None;
            }
            Some(Some(if *sign == b'-' {
                -hours * 3600
            } else {
                hours * 3600
            }))
        }
        [b'+' | b'-', ..] => parse_offset(zone)
            .filter(|&(_, used)| used == zone.len())
            .map(|(o, _)| Some(o)),
        _ if !zone.is_empty() && zone.iter().all(u8::is_ascii_alphabetic) => Some(None),
        _ => None,
    }
}

/// `1672918496.123456 rest` (`journalctl -o short-unix`).
fn epoch(line: &[u8]) -> Option<Envelope<'_>> {
    let digits = line.get(..10)?;
    let mut secs = 0i64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        secs = secs * 10 + i64::from(b - b'0');
    }
    let (nanos, used) = parse_fraction(&line[10..]);
    if used == 0 {
        return None;
    }
    let rest = line[10 + used..].strip_prefix(b" ")?;
    let at = chrono::DateTime::from_timestamp(secs, nanos)?;
    let stamp = CivilStamp {
        year: Some(at.year()),
        month: at.month() as u8,
        day: at.day() as u8,
        hour: at.hour() as u8,
        minute: at.minute() as u8,
        second: at.second() as u8,
        nanos,
        offset_seconds: Some(0),
    };
    syslog_rest(Some(stamp), rest)
}

/// `<pri>` then RFC 5424 (`1 …`) or an RFC 3164 line.
fn with_priority(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    let close = memchr::memchr(b'>', &line[..line.len().min(5)])?;
    let pri = &line[1..close];
    if pri.is_empty()
        || !pri.iter().all(u8::is_ascii_digit)
        || (pri.len() == 3 && pri > &b"191"[..])
    {
        return None;
    }
    let rest = &line[close + 1..];
    match rest {
        [v, b' ', tail @ ..] | [v, b'0'..=b'9', b' ', tail @ ..] if (b'1'..=b'9').contains(v) => {
            rfc5424(tail)
        }
        _ => unprefixed(rest, depth),
    }
}

/// One space-terminated RFC 5424 header field: `None` for `-`.
fn header_field(text: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let space = memchr::memchr(b' ', text)?;
    let field = &text[..space];
    if field.is_empty() {
        return None;
    }
    Some(((field != b"-").then_some(field), &text[space + 1..]))
}

/// `TIMESTAMP HOST APP PROCID MSGID SD [MSG]` after `<pri>1 `.
fn rfc5424(text: &[u8]) -> Option<Envelope<'_>> {
    let (stamp, rest) = match text {
        [b'-', b' ', tail @ ..] => (None, tail),
        _ => {
            if text.get(10) != Some(&b'T') {
                return None;
            }
            let (stamp, rest) = iso_stamp(text)?;
            (Some(stamp), rest.strip_prefix(b" ")?)
        }
    };
    let (host, rest) = header_field(rest)?;
    let (app, rest) = header_field(rest)?;
    let (procid, rest) = header_field(rest)?;
    let (_msgid, rest) = header_field(rest)?;
    let rest = skip_structured_data(rest)?;
    let msg = match rest {
        [] => rest,
        [b' ', tail @ ..] => tail,
        _ => return None,
    };
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    let pid = procid.and_then(ascii_u32);
    let tag = Tag {
        program: app.unwrap_or(b""),
        pid,
        body: msg,
    };
    Some(finish(stamp, host, tag))
}

/// `-` or one or more `[id param="value"]` elements; `\` escapes the next
/// byte (`\]`, `\"`, `\\`) and `]` inside quotes does not close.
fn skip_structured_data(text: &[u8]) -> Option<&[u8]> {
    match text.first()? {
        b'-' => return Some(&text[1..]),
        b'[' => {}
        _ => return None,
    }
    let mut i = 0;
    while text.get(i) == Some(&b'[') {
        i += 1;
        let mut quoted = false;
        loop {
            match *text.get(i)? {
                b'\\' => i += 2,
                b'"' => {
                    quoted = !quoted;
                    i += 1;
                }
                b']' if !quoted => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    text.get(i..)
}

/// `service_1  | inner` (`docker compose logs`, v1 `_1` or v2 `-1`).
fn compose_service(line: &[u8], depth: u8) -> Option<Envelope<'_>> {
    let name_len = line
        .iter()
        .take(128)
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))?;
    if name_len == 0 {
        return None;
    }
    let after = &line[name_len..];
    let spaces = after.iter().position(|&b| b != b' ')?;
    if spaces == 0 || after[spaces] != b'|' {
        return None;
    }
    let inner = &after[spaces + 1..];
    contained(inner.strip_prefix(b" ").unwrap_or(inner), None, depth)
}

/// The line inside a container prefix, with the container's time when it
/// has one.
fn contained(inner: &[u8], stamp: Option<CivilStamp>, depth: u8) -> Option<Envelope<'_>> {
    if depth >= MAX_CONTAINER_DEPTH {
        return None;
    }
    let mut envelope = envelope(inner, depth + 1)?;
    if stamp.is_some() {
        envelope.stamp = stamp;
    }
    Some(envelope)
}

/// `prog[pid]: body` with no time or host (inside a container only).
fn bare_tag(line: &[u8]) -> Option<Envelope<'_>> {
    let tag = tag(line)?;
    Some(finish(None, None, tag))
}

/// A program tag and what follows it.
#[derive(Clone, Copy)]
struct Tag<'a> {
    program: &'a [u8],
    pid: Option<u32>,
    body: &'a [u8],
}

/// Everything after the time of a syslog line.
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn syslog_rest(stamp: Option<CivilStamp>, rest: &[u8]) -> Option<Envelope<'_>> {
    let (host, tag) = host_and_tag(rest)?;
    Some(finish(stamp, host, tag))
}

/// `[<fac.pri>] [host] [<fac.pri>] [SEVERITY] tag: body`.
fn host_and_tag(rest: &[u8]) -> Option<(Option<&[u8]>, Tag<'_>)> {
    let rest = skip_facility(rest);
    // One scan finds the end of the first word, or the end of a tag when
    // there is no host (`journalctl --no-hostname`). A host never ends
    // with `: ` (an IPv6 host has a colon, so look further then).
    // Host names are a few bytes long: `find_any` rather than `memchr3`.
    let first = find_any([b' ', b'[', b':'], rest)?;
    let space = if rest[first] == b' ' {
        first
    } else {
        if let Some(tag) = tag(rest) {
            return Some((None, tag));
        }
        first + memchr::memchr(b' ', &rest[first..])?
    };
    let (word, after) = (&rest[..space], &rest[space + 1..]);
    if word.is_empty() {
        return None;
    }
    if is_severity(word) {
        // `INFO    postfix/smtpd[134]: …`: a severity word in the host's place.
        if let Some(tag) = tag(skip_spaces(after)) {
            return Some((None, tag));
        }
    }
    let after = skip_facility(after);
    if let Some(tag) = tag(after)
        .or_else(|| after_severity(after))
        .or_else(|| repeat_notice(after))
    {
        return Some((Some(word), tag));
    }
    // `last message repeated N times` with no host.
    repeat_notice(rest).map(|tag| (None, tag))
}

/// A tag after a severity word that some templates put after the host
/// (`host INFO prog[1]: …`).
fn after_severity(text: &[u8]) -> Option<Tag<'_>> {
    let space = memchr::memchr(b' ', &text[..text.len().min(16)])?;
    let word = &text[..space];
    if !SEVERITIES.iter().any(|s| s.eq_ignore_ascii_case(word)) {
        return None;
    }
    tag(skip_spaces(&text[space..]))
}

const SEVERITIES: [&[u8]; 13] = [
    b"EMERG",
    b"EMERGENCY",
    b"ALERT",
    b"CRIT",
    b"CRITICAL",
    b"ERR",
    b"ERROR",
    b"WARN",
    b"WARNING",
    b"NOTICE",
    b"INFO",
    b"INFORMATIONAL",
    b"DEBUG",
];

/// An upper-case severity word (a lower-case one may be a host: `info`).
fn is_severity(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_uppercase) && SEVERITIES.contains(&word)
}

fn skip_spaces(text: &[u8]) -> &[u8] {
    let n = text.iter().take_while(|&&b| b == b' ').count();
    &text[n..]
}

/// A FreeBSD `syslogd -v` facility token `<mail.info> ` (or `<2.6> `).
fn skip_facility(text: &[u8]) -> &[u8] {
    if text.first() != Some(&b'<') {
        return text;
    }
    let Some(close) = memchr::memchr(b'>', &text[..text.len().min(24)]) else {
        return text;
    };
    let inner = &text[1..close];
    if inner.is_empty() || inner.contains(&b' ') || text.get(close + 1) != Some(&b' ') {
        return text;
    }
    &text[close + 2..]
}

/// `last message repeated N times` (syslogd), with no tag.
fn repeat_notice(text: &[u8]) -> Option<Tag<'_>> {
    (text.starts_with(b"last message repeated ") || text.starts_with(b"--- last message repeated "))
        .then_some(Tag {
            program: b"",
            pid: None,
            body: text,
        })
}

/// `prog[pid]: body` or `prog: body`. The colon must be followed by a
/// space or the end of the line, so that neither an IPv6 host such as
/// `2001:db8::1` nor a time such as `11:30:45` is taken for a tag.
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn tag(text: &[u8]) -> Option<Tag<'_>> {
    // A program name is short (`postfix/submission/smtpd`): `find_any`
    // rather than `memchr3`.
    let end = find_any([b' ', b'[', b':'], text)?;
    if end == 0 {
        return None;
    }
    let program = &text[..end];
    let (pid, after) = if text[end] == b'[' {
        let inner = &text[end + 1..];
        // Digits and their value in one pass; a value that saturates is
        // above `u32::MAX` too, so the conversion turns it down like
        // `ascii_u32` does.
        let mut digits = 0;
        let mut value = 0u64;
        while let Some(&b) = inner.get(digits)
            && b.is_ascii_digit()
        {
            value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
            digits += 1;
        }
        if digits == 0 || inner.get(digits) != Some(&b']') {
            return None;
        }
        (u32::try_from(value).ok(), &inner[digits + 1..])
    } else {
        (None, &text[end..])
    };
    let after = after.strip_prefix(b":")?;
    let body = match after {
        [] => after,
        [b' ', tail @ ..] => tail,
        _ => return None,
    };
    Some(Tag { program, pid, body })
}

/// ASCII digits as a `u32`; `None` for anything else or on overflow.
fn ascii_u32(text: &[u8]) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u32, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Builds the envelope, removing a Solaris message id and a split marker
/// from the body.
// Inlined, like the other steps of the common syslog path: each returns
// an `Option<Envelope>` of about 100 bytes, which a call copies.
#[inline]
fn finish<'a>(stamp: Option<CivilStamp>, host: Option<&'a [u8]>, tag: Tag<'a>) -> Envelope<'a> {
    let body = strip_solaris_id(tag.body);
    let (split, body) = split_marker(body);
    Envelope {
        stamp,
        host: host.map(BStr::new),
        program: BStr::new(tag.program),
        pid: tag.pid,
        split,
        body,
    }
}

/// `[ID 197553 mail.info] ` at the start of a body (Solaris syslogd).
fn strip_solaris_id(body: &[u8]) -> &[u8] {
    let Some(rest) = body.strip_prefix(b"[ID ") else {
        return body;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b' ') {
        return body;
    }
    let rest = &rest[digits + 1..];
    match memchr::memchr2(b']', b' ', &rest[..rest.len().min(40)]) {
        Some(close) if rest[close] == b']' && close > 0 => {
            let after = &rest[close + 1..];
            after.strip_prefix(b" ").unwrap_or(after)
        }
        _ => body,
    }
}

/// `[n/m] ` or `[n\m] ` at the start of a body.
fn split_marker(body: &[u8]) -> (Option<SplitPart>, &[u8]) {
    let parse = || -> Option<(SplitPart, usize)> {
        if body.first() != Some(&b'[') {
            return None;
        }
        let close = memchr::memchr(b']', &body[..body.len().min(16)])?;
        let inner = &body[1..close];
        let sep = inner.iter().position(|&b| b == b'/' || b == b'\\')?;
        let index = u16::try_from(ascii_u32(&inner[..sep])?).ok()?;
        let total = u16::try_from(ascii_u32(&inner[sep + 1..])?).ok()?;
        if index == 0 || index > total || body.get(close + 1) != Some(&b' ') {
            return None;
        }
        Some((
            SplitPart {
                index,
                total,
                at_newline: inner[sep] == b'\\',
            },
            close + 2,
        ))
    };
    match parse() {
        Some((part, used)) => (Some(part), &body[used..]),
        None => (None, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (year, month, day, hour, minute, second, nanos, offset)
    type Fields = (Option<i32>, u8, u8, u8, u8, u8, u32, Option<i32>);

    /// Expected fields of one envelope.
    struct Want {
        line: &'static [u8],
        host: Option<&'static str>,
        program: &'static str,
        pid: Option<u32>,
        stamp: Option<Fields>,
        body: &'static [u8],
    }

    fn check(w: &Want) {
        let line = String::from_utf8_lossy(w.line);
        let e = unwrap_line(w.line).unwrap_or_else(|| panic!("no envelope: {line}"));
        assert_eq!(
            e.host.map(|h| h.to_vec()),
            w.host.map(|h| h.as_bytes().to_vec()),
            "host of {line}"
        );
        assert_eq!(e.program, w.program, "program of {line}");
        assert_eq!(e.pid, w.pid, "pid of {line}");
        let got = e.stamp.map(|s| {
            (
                s.year,
                s.month,
                s.day,
                s.hour,
                s.minute,
                s.second,
                s.nanos,
                s.offset_seconds,
            )
        });
        assert_eq!(got, w.stamp, "stamp of {line}");
        assert_eq!(BStr::new(e.body), BStr::new(w.body), "body of {line}");
    }

    const fn st(month: u8, day: u8, h: u8, m: u8, s: u8) -> Option<Fields> {
        Some((None, month, day, h, m, s, 0, None))
    }

    #[allow(clippy::too_many_arguments)]
    const fn full(
        year: i32,
        month: u8,
        day: u8,
        h: u8,
        m: u8,
        s: u8,
        nanos: u32,
        offset: Option<i32>,
    ) -> Option<Fields> {
        Some((Some(year), month, day, h, m, s, nanos, offset))
    }

    #[test]
    fn classic_syslog_with_pid() {
        let e = unwrap_line(b"Apr 28 15:53:37 server exim[12105]: 2016-04-28 15:53:37 [12105] 1avnJx-00039F-Hs <= a@example.com").unwrap();
        assert_eq!(e.host.unwrap(), "server");
        assert_eq!(e.program, "exim");
        assert_eq!(e.pid, Some(12105));
        assert_eq!(
            e.body,
            b"2016-04-28 15:53:37 [12105] 1avnJx-00039F-Hs <= a@example.com"
        );
        let s = e.stamp.unwrap();
        assert_eq!(
            (s.month, s.day, s.hour, s.minute, s.second, s.year),
            (4, 28, 15, 53, 37, None)
        );
    }

    #[test]
    fn space_padded_day_and_split_marker() {
        let e = unwrap_line(b"Feb  4 18:12:33 192.0.2.51 exim[46483]: [2/2]  Suggested action: use keep_environment.").unwrap();
        assert_eq!(e.stamp.unwrap().day, 4);
        assert_eq!(
            e.split,
            Some(SplitPart {
                index: 2,
                total: 2,
                at_newline: false
            })
        );
        assert_eq!(e.body, b" Suggested action: use keep_environment.");
        let e =
            unwrap_line(b"Feb 14 18:12:33 h exim[1]: [1\\2] 2025-02-14 18:12:33 Warning").unwrap();
        assert!(e.split.unwrap().at_newline);
        assert_eq!(e.body, b"2025-02-14 18:12:33 Warning");
    }

    #[test]
    fn split_marker_edge_cases() {
        for (body, split) in [
            (&b"[0/2] x"[..], None),
            (b"[3/2] x", None),
            (b"[1/2]x", None),
            (b"[+1/2] x", None),
            (b"[1/70000] x", None),
            (b"[1/] x", None),
            (
                b"[12/12] x",
                Some(SplitPart {
                    index: 12,
                    total: 12,
                    at_newline: false,
                }),
            ),
        ] {
            let mut line = b"Feb 14 18:12:33 h exim[1]: ".to_vec();
            line.extend_from_slice(body);
            assert_eq!(
                unwrap_line(&line).unwrap().split,
                split,
                "{}",
                BStr::new(body)
            );
        }
    }

    #[test]
    fn syslog_forms() {
        let table = [
            // Classic, space-padded, zero-padded and unpadded day.
            Want {
                line: b"Oct 22 02:30:05 mx postfix/smtp[26959]: E2C08243CB: to=<a@example.com>, relay=none",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(26959),
                stamp: st(10, 22, 2, 30, 5),
                body: b"E2C08243CB: to=<a@example.com>, relay=none",
            },
            Want {
                line: b"Nov  1 02:11:18 mail.example.org postfix/qmgr[812]: 4B1C2: removed",
                host: Some("mail.example.org"),
                program: "postfix/qmgr",
                pid: Some(812),
                stamp: st(11, 1, 2, 11, 18),
                body: b"4B1C2: removed",
            },
            Want {
                line: b"Jun 04 22:24:28 machine postfix/smtpd[3967801]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 454 4.7.1",
                host: Some("machine"),
                program: "postfix/smtpd",
                pid: Some(3967801),
                stamp: st(6, 4, 22, 24, 28),
                body: b"NOQUEUE: reject: RCPT from x[192.0.2.1]: 454 4.7.1",
            },
            Want {
                line: b"Mar 7 00:00:00 hostname postfix/smtpd[12345]: connect from example.com[192.0.2.9]",
                host: Some("hostname"),
                program: "postfix/smtpd",
                pid: Some(12345),
                stamp: st(3, 7, 0, 0, 0),
                body: b"connect from example.com[192.0.2.9]",
            },
            // Tag without pid; leap second.
            Want {
                line: b"Dec 31 23:59:60 gw kernel: [12.5] eth0 up",
                host: Some("gw"),
                program: "kernel",
                pid: None,
                stamp: st(12, 31, 23, 59, 60),
                body: b"[12.5] eth0 up",
            },
            // journalctl -o short-precise.
            Want {
                line: b"Jan 05 12:34:56.123456 mx1 postfix/smtp[1]: 4B1C2: to=<b@example.net>",
                host: Some("mx1"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: Some((None, 1, 5, 12, 34, 56, 123_456_000, None)),
                body: b"4B1C2: to=<b@example.net>",
            },
            // Year after the day.
            Want {
                line: b"Jan 05 2023 12:34:56 mx1 postfix/smtp[1]: x",
                host: Some("mx1"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 5, 12, 34, 56, 0, None),
                body: b"x",
            },
            // Custom template with the year first.
            Want {
                line: b"2013 Jun 16 16:05:06.123 gds39d postfix/smtpd[7052]: 3bZLDk1V50z37Dv: client=localhost[127.0.0.1]",
                host: Some("gds39d"),
                program: "postfix/smtpd",
                pid: Some(7052),
                stamp: full(2013, 6, 16, 16, 5, 6, 123_000_000, None),
                body: b"3bZLDk1V50z37Dv: client=localhost[127.0.0.1]",
            },
            // Multi-instance and per-service syslog names.
            Want {
                line: b"Feb 11 16:49:24 relay postfix-out/smtp[1]: AAB4D259B1: removed",
                host: Some("relay"),
                program: "postfix-out/smtp",
                pid: Some(1),
                stamp: st(2, 11, 16, 49, 24),
                body: b"AAB4D259B1: removed",
            },
            Want {
                line: b"May 01 17:55:37 mx postfix/submission/smtpd[2]: 3E06E12011A: client=a.example.org[198.51.100.7]",
                host: Some("mx"),
                program: "postfix/submission/smtpd",
                pid: Some(2),
                stamp: st(5, 1, 17, 55, 37),
                body: b"3E06E12011A: client=a.example.org[198.51.100.7]",
            },
            // Host oddities: chained, user@host, IPv4, IPv6.
            Want {
                line: b"Jan 25 21:25:22 relay1/relay1 postfix/smtp[558]: x",
                host: Some("relay1/relay1"),
                program: "postfix/smtp",
                pid: Some(558),
                stamp: st(1, 25, 21, 25, 22),
                body: b"x",
            },
            Want {
                line: b"Jan 25 21:25:22 src@relay1 postfix/smtp[558]: x",
                host: Some("src@relay1"),
                program: "postfix/smtp",
                pid: Some(558),
                stamp: st(1, 25, 21, 25, 22),
                body: b"x",
            },
            Want {
                line: b"Jan 25 21:25:22 2001:db8::25 postfix/smtp[558]: x",
                host: Some("2001:db8::25"),
                program: "postfix/smtp",
                pid: Some(558),
                stamp: st(1, 25, 21, 25, 22),
                body: b"x",
            },
            Want {
                line: b"Jan 25 21:25:22 fe80:: postfix/smtp[558]: x",
                host: Some("fe80::"),
                program: "postfix/smtp",
                pid: Some(558),
                stamp: st(1, 25, 21, 25, 22),
                body: b"x",
            },
            // journalctl --no-hostname, including a body starting `word: `.
            Want {
                line: b"Jan 05 12:34:56 postfix/smtp[1]: warning: example.net[192.0.2.4]: lost",
                host: None,
                program: "postfix/smtp",
                pid: Some(1),
                stamp: st(1, 5, 12, 34, 56),
                body: b"warning: example.net[192.0.2.4]: lost",
            },
            // Solaris message id.
            Want {
                line: b"Jan 26 00:57:38 relay.example.edu postfix/smtpd[9779]: [ID 197553 mail.info] 9F2183652: client=localhost[127.0.0.1]",
                host: Some("relay.example.edu"),
                program: "postfix/smtpd",
                pid: Some(9779),
                stamp: st(1, 26, 0, 57, 38),
                body: b"9F2183652: client=localhost[127.0.0.1]",
            },
            // FreeBSD syslogd -v and -vv.
            Want {
                line: b"Jan  1 00:00:00 <mail.info> mx postfix/qmgr[7]: 4B1C2: removed",
                host: Some("mx"),
                program: "postfix/qmgr",
                pid: Some(7),
                stamp: st(1, 1, 0, 0, 0),
                body: b"4B1C2: removed",
            },
            Want {
                line: b"Jan  1 00:00:00 mx <2.6> postfix/qmgr[7]: 4B1C2: removed",
                host: Some("mx"),
                program: "postfix/qmgr",
                pid: Some(7),
                stamp: st(1, 1, 0, 0, 0),
                body: b"4B1C2: removed",
            },
            // Severity after the host.
            Want {
                line: b"Jul 26 15:45:40.888666 edge-1 INFO postfix/smtpd[62]: connect from x[192.0.2.1]",
                host: Some("edge-1"),
                program: "postfix/smtpd",
                pid: Some(62),
                stamp: Some((None, 7, 26, 15, 45, 40, 888_666_000, None)),
                body: b"connect from x[192.0.2.1]",
            },
            // Host `info` is a host, not a severity.
            Want {
                line: b"Apr  1 11:08:00 info exim[8003]: [8003] SMTP protocol error",
                host: Some("info"),
                program: "exim",
                pid: Some(8003),
                stamp: st(4, 1, 11, 8, 0),
                body: b"[8003] SMTP protocol error",
            },
            // Tag with an empty body.
            Want {
                line: b"Apr  1 11:08:00 mx postfix/master[1]:",
                host: Some("mx"),
                program: "postfix/master",
                pid: Some(1),
                stamp: st(4, 1, 11, 8, 0),
                body: b"",
            },
            // rsyslog's repeat notice inside a tag is an ordinary body.
            Want {
                line: b"Apr  1 11:08:00 mx postfix/smtpd[9]: message repeated 2 times: [ lost connection after AUTH]",
                host: Some("mx"),
                program: "postfix/smtpd",
                pid: Some(9),
                stamp: st(4, 1, 11, 8, 0),
                body: b"message repeated 2 times: [ lost connection after AUTH]",
            },
        ];
        for w in &table {
            check(w);
        }
    }

    #[test]
    fn last_message_repeated_has_empty_program() {
        let e = unwrap_line(b"Mar  9 05:30:59 relay.example.edu last message repeated 2 times")
            .unwrap();
        assert_eq!(e.host.unwrap(), "relay.example.edu");
        assert_eq!(e.program, "");
        assert_eq!(e.pid, None);
        assert_eq!(e.body, b"last message repeated 2 times");
        let e = unwrap_line(b"Mar  9 05:30:59 mx --- last message repeated 1 time ---").unwrap();
        assert_eq!(e.program, "");
        assert_eq!(e.body, b"--- last message repeated 1 time ---");
    }

    #[test]
    fn iso_forms() {
        let table = [
            Want {
                line: b"2024-04-09T20:22:42.548478+03:00 localhost postfix/submission/smtpd[2182082]: 85C6C10208A: client=x[192.0.2.1]",
                host: Some("localhost"),
                program: "postfix/submission/smtpd",
                pid: Some(2182082),
                stamp: full(2024, 4, 9, 20, 22, 42, 548_478_000, Some(3 * 3600)),
                body: b"85C6C10208A: client=x[192.0.2.1]",
            },
            // Numeric offset without colon, no fraction (short-iso, RFC3339 look-alike).
            Want {
                line: b"2015-12-14T00:06:14+0000 011.lax.example.net postfix-inbound/smtpd[11280]: x",
                host: Some("011.lax.example.net"),
                program: "postfix-inbound/smtpd",
                pid: Some(11280),
                stamp: full(2015, 12, 14, 0, 6, 14, 0, Some(0)),
                body: b"x",
            },
            // short-iso-precise with a negative offset.
            Want {
                line: b"2023-03-02T10:00:00.000001-0330 host postfix/smtp[1]: x",
                host: Some("host"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 3, 2, 10, 0, 0, 1_000, Some(-(3 * 3600 + 30 * 60))),
                body: b"x",
            },
            Want {
                line: b"2024-10-20T11:42:20.123456Z mx exim[123]: 2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 Completed",
                host: Some("mx"),
                program: "exim",
                pid: Some(123),
                stamp: full(2024, 10, 20, 11, 42, 20, 123_456_000, Some(0)),
                body: b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 Completed",
            },
            // Without an offset.
            Want {
                line: b"2024-10-20T11:42:20 mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2024, 10, 20, 11, 42, 20, 0, None),
                body: b"x",
            },
            // boky/postfix: severity and padding instead of a host.
            Want {
                line: b"2021-01-26T17:47:29.762763+01:00 INFO    postfix/smtpd[134]: connect from localhost[127.0.0.1]",
                host: None,
                program: "postfix/smtpd",
                pid: Some(134),
                stamp: full(2021, 1, 26, 17, 47, 29, 762_763_000, Some(3600)),
                body: b"connect from localhost[127.0.0.1]",
            },
            Want {
                line: b"2021-01-26T17:47:29.762763+01:00 WARNING postfix/smtpd[134]: warning: x",
                host: None,
                program: "postfix/smtpd",
                pid: Some(134),
                stamp: full(2021, 1, 26, 17, 47, 29, 762_763_000, Some(3600)),
                body: b"warning: x",
            },
            // --no-hostname.
            Want {
                line: b"2023-03-02T10:00:00+01:00 postfix/smtp[1]: x",
                host: None,
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 3, 2, 10, 0, 0, 0, Some(3600)),
                body: b"x",
            },
            // ISO date with a space, as some templates write for Exim.
            Want {
                line: b"2019-10-22 03:39:17 mx1.example.org exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]",
                host: Some("mx1.example.org"),
                program: "exim",
                pid: Some(29786),
                stamp: full(2019, 10, 22, 3, 39, 17, 0, None),
                body: b"dovecot_login authenticator failed for (User) [192.0.2.37]",
            },
            // journalctl -o short-full.
            Want {
                line: b"Tue 2023-01-03 12:34:56 CET mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 3, 12, 34, 56, 0, None),
                body: b"x",
            },
            Want {
                line: b"Tue 2023-01-03 12:34:56 UTC mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 3, 12, 34, 56, 0, Some(0)),
                body: b"x",
            },
            Want {
                line: b"Sun 2023-01-01 00:00:00 GMT postfix/smtp[1]: x",
                host: None,
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 1, 0, 0, 0, 0, Some(0)),
                body: b"x",
            },
            Want {
                line: b"Wed 2023-01-04 09:00:00 +03 mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 4, 9, 0, 0, 0, Some(3 * 3600)),
                body: b"x",
            },
            Want {
                line: b"Wed 2023-01-04 09:00:00 -0930 mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 4, 9, 0, 0, 0, Some(-(9 * 3600 + 30 * 60))),
                body: b"x",
            },
            // journalctl -o short-unix.
            Want {
                line: b"1672918496.123456 mx postfix/smtp[1]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2023, 1, 5, 11, 34, 56, 123_456_000, Some(0)),
                body: b"x",
            },
        ];
        for w in &table {
            check(w);
        }
    }

    #[test]
    fn rfc5424_and_priority() {
        let table = [
            Want {
                line: b"<22>1 2024-05-01T12:00:00.123456+02:00 mx1 postfix/smtpd 12345 - - connect from x[192.0.2.1]",
                host: Some("mx1"),
                program: "postfix/smtpd",
                pid: Some(12345),
                stamp: full(2024, 5, 1, 12, 0, 0, 123_456_000, Some(7200)),
                body: b"connect from x[192.0.2.1]",
            },
            // APP-NAME cut at the first `/` by rsyslog; SD with meta.
            Want {
                line: b"<22>1 2024-05-01T12:00:00Z mx1 postfix 12345 - [meta sequenceId=\"1\"] 4B1C2: removed",
                host: Some("mx1"),
                program: "postfix",
                pid: Some(12345),
                stamp: full(2024, 5, 1, 12, 0, 0, 0, Some(0)),
                body: b"4B1C2: removed",
            },
            // Several SD elements, escaped `]` and `"` and a `]` inside quotes.
            Want {
                line: b"<22>1 2024-05-01T12:00:00Z mx1 postfix 7 ID47 [a x=\"p\\]q\"][b y=\"]\" z=\"\\\"\"] body",
                host: Some("mx1"),
                program: "postfix",
                pid: Some(7),
                stamp: full(2024, 5, 1, 12, 0, 0, 0, Some(0)),
                body: b"body",
            },
            // All nil; BOM before the message.
            Want {
                line: b"<13>1 - - - - - - \xEF\xBB\xBFhello",
                host: None,
                program: "",
                pid: None,
                stamp: None,
                body: b"hello",
            },
            // Non-numeric PROCID; no MSG.
            Want {
                line: b"<13>1 2024-05-01T12:00:00Z mx exim abc - -",
                host: Some("mx"),
                program: "exim",
                pid: None,
                stamp: full(2024, 5, 1, 12, 0, 0, 0, Some(0)),
                body: b"",
            },
            // Exim split marker in MSG.
            Want {
                line: b"<22>1 2024-05-01T12:00:00Z mx exim 4 - - [2/3] more text",
                host: Some("mx"),
                program: "exim",
                pid: Some(4),
                stamp: full(2024, 5, 1, 12, 0, 0, 0, Some(0)),
                body: b"more text",
            },
            // RFC 3164 as sent, with priority.
            Want {
                line: b"<34>Oct 11 22:14:15 mymachine postfix/smtp[9]: x",
                host: Some("mymachine"),
                program: "postfix/smtp",
                pid: Some(9),
                stamp: st(10, 11, 22, 14, 15),
                body: b"x",
            },
            Want {
                line: b"<2>2024-05-01T12:00:00+02:00 mx postfix/smtp[9]: x",
                host: Some("mx"),
                program: "postfix/smtp",
                pid: Some(9),
                stamp: full(2024, 5, 1, 12, 0, 0, 0, Some(7200)),
                body: b"x",
            },
        ];
        for w in &table {
            check(w);
        }
        let e = unwrap_line(b"<22>1 2024-05-01T12:00:00Z mx1 postfix 12345 - [meta sequenceId=\"1\"] 4B1C2: removed").unwrap();
        assert_eq!(e.split, None);
        for bad in [
            &b"<192>Oct 11 22:14:15 m p[1]: x"[..],
            b"<>Oct 11 22:14:15 m p[1]: x",
            b"<22 Oct 11 22:14:15 m p[1]: x",
            b"<22>1 2024-05-01T12:00:00Z mx1 postfix 1 - [meta x=\"1\" body",
            b"<22>1 2024-05-01T12:00:00Z mx1 postfix 1 - [meta x=\"1\"]body",
            b"<22>1 2024-05-01T12:00:00Z mx1 postfix 1 -",
            b"<22>1 2024-05-01 12:00:00Z mx1 postfix 1 - - x",
            b"<22>1 ",
            b"<22>",
            b"<",
        ] {
            assert_eq!(unwrap_line(bad), None, "{}", BStr::new(bad));
        }
    }

    #[test]
    fn containers() {
        let table = [
            // docker-compose v1 and v2.
            Want {
                line: b"mail_1  | Jul 24 15:58:26 mail postfix/submission/smtpd[1058]: connect from x[192.0.2.1]",
                host: Some("mail"),
                program: "postfix/submission/smtpd",
                pid: Some(1058),
                stamp: st(7, 24, 15, 58, 26),
                body: b"connect from x[192.0.2.1]",
            },
            Want {
                line: b"mailserver-mail-1  | 2024-04-09T20:22:42.548478+03:00 mail postfix/qmgr[5]: 4B1C2: removed",
                host: Some("mail"),
                program: "postfix/qmgr",
                pid: Some(5),
                stamp: full(2024, 4, 9, 20, 22, 42, 548_478_000, Some(3 * 3600)),
                body: b"4B1C2: removed",
            },
            // docker logs -t: the runtime's time wins over the inner one.
            Want {
                line: b"2023-03-10T12:00:00.123456789Z Mar 10 13:00:00 mail postfix/smtp[7]: 4B1C2: to=<a@example.com>",
                host: Some("mail"),
                program: "postfix/smtp",
                pid: Some(7),
                stamp: full(2023, 3, 10, 12, 0, 0, 123_456_789, Some(0)),
                body: b"4B1C2: to=<a@example.com>",
            },
            // Kubernetes CRI, final and partial, stdout and stderr.
            Want {
                line: b"2024-01-15T10:30:45.123456789Z stdout F Jan 15 10:30:45 mx-0 postfix/smtpd[88]: connect from x[192.0.2.1]",
                host: Some("mx-0"),
                program: "postfix/smtpd",
                pid: Some(88),
                stamp: full(2024, 1, 15, 10, 30, 45, 123_456_789, Some(0)),
                body: b"connect from x[192.0.2.1]",
            },
            Want {
                line: b"2024-01-15T10:30:45.123456789+00:00 stderr P 2024-01-15T10:30:45.1+00:00 mx-0 postfix/smtp[9]: 4B1C2: to=<a@ex",
                host: Some("mx-0"),
                program: "postfix/smtp",
                pid: Some(9),
                stamp: full(2024, 1, 15, 10, 30, 45, 123_456_789, Some(0)),
                body: b"4B1C2: to=<a@ex",
            },
            // Bare tag inside a container: the container's time.
            Want {
                line: b"2024-01-15T10:30:45.5Z stdout F postfix/smtp[1]: 4B1C2: removed",
                host: None,
                program: "postfix/smtp",
                pid: Some(1),
                stamp: full(2024, 1, 15, 10, 30, 45, 500_000_000, Some(0)),
                body: b"4B1C2: removed",
            },
            Want {
                line: b"mail_1  | postfix/smtp[1]: 4B1C2: removed",
                host: None,
                program: "postfix/smtp",
                pid: Some(1),
                stamp: None,
                body: b"4B1C2: removed",
            },
            // Bare Exim main-log line inside a container.
            Want {
                line: b"2024-01-15T10:30:45.123456789Z stdout F 2024-01-15 10:30:45 1t2UKC-0000000738v-1Zz9 Warning: x",
                host: None,
                program: "exim",
                pid: None,
                stamp: full(2024, 1, 15, 10, 30, 45, 123_456_789, Some(0)),
                body: b"2024-01-15 10:30:45 1t2UKC-0000000738v-1Zz9 Warning: x",
            },
            Want {
                line: b"2024-01-15T10:30:45Z 2024-01-15 11:30:45.123 +0100 [77] 1t2UKC-0000000738v-1Zz9 Completed",
                host: None,
                program: "exim",
                pid: None,
                stamp: full(2024, 1, 15, 10, 30, 45, 0, Some(0)),
                body: b"2024-01-15 11:30:45.123 +0100 [77] 1t2UKC-0000000738v-1Zz9 Completed",
            },
            Want {
                line: b"exim_1  | 2024-01-15 11:30:45 +0100 1t2UKC-0000000738v-1Zz9 Completed",
                host: None,
                program: "exim",
                pid: None,
                stamp: full(2024, 1, 15, 11, 30, 45, 0, Some(3600)),
                body: b"2024-01-15 11:30:45 +0100 1t2UKC-0000000738v-1Zz9 Completed",
            },
            // Syslog with an ISO date and a space inside a container.
            Want {
                line: b"exim_1  | 2019-10-22 03:39:17 mx1.example.org exim[29786]: x",
                host: Some("mx1.example.org"),
                program: "exim",
                pid: Some(29786),
                stamp: full(2019, 10, 22, 3, 39, 17, 0, None),
                body: b"x",
            },
            // Compose with timestamps, around boky's hostless form.
            Want {
                line: b"postfix-1  | 2021-01-26T16:47:29.762800000Z 2021-01-26T17:47:29.762763+01:00 INFO    postfix/smtpd[134]: connect",
                host: None,
                program: "postfix/smtpd",
                pid: Some(134),
                stamp: full(2021, 1, 26, 16, 47, 29, 762_800_000, Some(0)),
                body: b"connect",
            },
        ];
        for w in &table {
            check(w);
        }
    }

    #[test]
    fn container_nesting_is_bounded() {
        let inner = b"Jul 24 15:58:26 mail postfix/smtp[1]: x";
        let mut line = Vec::new();
        for depth in 1..=5u8 {
            line = [
                &b"a_1 | "[..],
                if depth == 1 { &inner[..] } else { &line[..] },
            ]
            .concat();
            assert_eq!(
                unwrap_line(&line).is_some(),
                depth <= MAX_CONTAINER_DEPTH,
                "depth {depth}"
            );
        }
        // A long chain of prefixes costs nothing and does not recurse deeply.
        let deep = b"a | ".repeat(100_000);
        assert!(unwrap_line(&deep).is_none());
        let deep = b"<1>".repeat(100_000);
        assert!(unwrap_line(&deep).is_none());
    }

    #[test]
    fn not_envelopes() {
        for line in [
            &b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 ** x@example.com"[..],
            b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 Warning: something odd",
            b"2024-10-20 11:42:20 [1234] 1t2UKC-0000000738v-1Zz9 host[1]: x",
            b"postfix/smtp[1]: 4B1C2: removed",
            b"Foo 28 15:53:37 server exim[1]: x",
            b"Apr 28 15:53",
            b"Apr 28 15:53:37",
            b"Apr 28 15:53:37 ",
            b"Apr 28 15:53:37 server",
            b"Apr 28 15:53:37 server exim",
            b"Apr 28 15:53:37 server some free text",
            b"Jan: 1 00:00:00 hostname postfix/postscreen[12345]: foo",
            b"Jan 1 00:00:00 hostname postfix/postscreen[12345",
            b"Jan 1 00:00:00 hostname postfix/postscreen[abcde]: foo",
            b"Jan 1 00:00:00 hostname postfix/postscreen[]: foo",
            b"Jan 1 00:00:00 hostname postfix/postscreen[1] foo",
            b"  continuation line",
            b"mail_1 |",
            b"mail_1|x",
            b"Tue 2023-01-03 12:34:56 C3T mx postfix/smtp[1]: x",
            b"Tue 2023-01-03T12:34:56 CET mx postfix/smtp[1]: x",
            b"Tue 2023-01-03 12:34:56 +99 mx postfix/smtp[1]: x",
            b"167291849.123456 mx postfix/smtp[1]: x",
            b"1672918496. mx postfix/smtp[1]: x",
            b"Dec 31 23:59:59 gw kernel:[12.5] no space after the colon",
            b"2024-01-15T10:30:45Z 2024-01-15x11:30:45 [77] x",
        ] {
            assert_eq!(unwrap_line(line), None, "{}", BStr::new(line));
        }
    }

    #[test]
    fn adversarial_input() {
        let rejected: [&[u8]; 16] = [
            b"",
            b"J",
            b"Jan",
            b"Jan ",
            b"Jan 32 00:00:00 h p[1]: x",
            b"Jan 00 00:00:00 h p[1]: x",
            b"Jan 1 25:00:00 h p[1]: x",
            b"Jan 1 12:60:00 h p[1]: x",
            b"Jan 1 12:00:61 h p[1]: x",
            b"Jan 1 1:00:00 h p[1]: x",
            b"2024-13-01T00:00:00Z h p[1]: x",
            b"2024-01-01T24:00:00Z h p[1]: x",
            b"2024-01-01T00:00:00+25:00 h p[1]: x",
            b"Jan 1 00:00:00 h p[1]x",
            b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            b"\xff\xfe\xfd",
        ];
        for line in rejected {
            assert_eq!(unwrap_line(line), None, "{}", BStr::new(line));
        }
        // A pid too large for u32 keeps the line without a pid.
        let e = unwrap_line(b"Jan  1 00:00:00 h postfix/smtp[99999999999999999999]: x").unwrap();
        assert_eq!(e.program, "postfix/smtp");
        assert_eq!((e.pid, e.body), (None, &b"x"[..]));
        let e = unwrap_line(b"Jan  1 00:00:00 h postfix/smtp[4294967295]: x").unwrap();
        assert_eq!(e.pid, Some(u32::MAX));
        // Invalid UTF-8 and NUL bytes in host, tag and body are carried as bytes.
        let e = unwrap_line(b"Jan  1 00:00:00 h\xff\x00st p\xc3[1]: b\xff\x00dy").unwrap();
        assert_eq!(e.host.unwrap(), &b"h\xff\x00st"[..]);
        assert_eq!(e.program, &b"p\xc3"[..]);
        assert_eq!(e.body, b"b\xff\x00dy");
        let e = unwrap_line(b"2024-01-01T00:00:00Z \xc0\xc1 exim[2]: \x00").unwrap();
        assert_eq!(e.host.unwrap(), &b"\xc0\xc1"[..]);
        assert_eq!(e.body, b"\x00");
        // Leap second.
        assert_eq!(
            unwrap_line(b"Jun 30 23:59:60 h p[1]: x")
                .unwrap()
                .stamp
                .unwrap()
                .second,
            60
        );
    }

    /// A small deterministic generator (xorshift64*), so that the fuzz
    /// test needs no extra crate and always feeds the same bytes.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const SEEDS: [&[u8]; 16] = [
        b"Feb 14 18:12:33 192.0.2.51 exim[46483]: [1\\2] 2025-02-14 18:12:33 Warning: purging the environment.",
        b"2024-04-09T20:22:42.548478+03:00 localhost postfix/submission/smtpd[2182082]: 85C6C10208A: client=x[192.0.2.1]",
        b"2013 Jun 16 16:05:06.123 gds39d postfix/smtpd[7052]: [ID 197553 mail.info] 3bZLDk1V50z37Dv: client=localhost",
        b"Tue 2023-01-03 12:34:56 CET mx <mail.info> postfix/smtp[1]: x",
        b"<22>1 2024-05-01T12:00:00.123456+02:00 mx1 postfix 12345 - [meta sequenceId=\"1\" x=\"a\\]\"][o ip=\"192.0.2.1\"] \xEF\xBB\xBFconnect",
        b"<34>Oct 11 22:14:15 mymachine postfix/smtp[9]: x",
        b"mailserver-mail-1  | 2023-03-10T12:00:00.123456789Z Jul 24 15:58:26 mail postfix/smtp[1058]: connect from x",
        b"2024-01-15T10:30:45.123456789Z stdout F 2024-01-15 10:30:45.123 +0100 [77] 1t2UKC-0000000738v-1Zz9 Completed",
        b"2021-01-26T17:47:29.762763+01:00 INFO    postfix/smtpd[134]: connect from localhost[127.0.0.1]",
        b"1672918496.123456 mx postfix/smtp[1]: x",
        b"Jul 26 15:45:40.888666 edge-1 INFO postfix/smtpd[62]: connect from x[192.0.2.1]",
        b"Mar  9 05:30:59 relay.example.edu last message repeated 2 times",
        b"Jan 05 2023 12:34:56 2001:db8::25 postfix-out/smtp[4294967296]: [2/3] x",
        b"exim_1  | 2019-10-22 03:39:17 mx1.example.org exim[29786]: x",
        b"2024-01-15T10:30:45.5Z stdout P postfix/smtp[1]: 4B1C2: removed",
        b"<13>1 - - - - - -",
    ];

    #[test]
    fn every_truncation_of_real_shapes() {
        for seed in SEEDS {
            for end in 0..=seed.len() {
                let _ = unwrap_line(&seed[..end]);
                let _ = unwrap_line(&seed[end..]);
            }
        }
    }

    #[test]
    fn random_and_mutated_bytes_do_not_panic() {
        const ALPHABET: &[u8] =
            b" 0123456789:.-+TZ<>[]/\\|\"@abcJanFebMarSepTueUTCstdoutF\0\xff\xc3";
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut line = Vec::with_capacity(256);
        for round in 0..60_000 {
            line.clear();
            if round % 3 == 0 {
                // Random bytes, biased to the bytes the parsers look at.
                let len = rng.below(120);
                for _ in 0..len {
                    let byte = if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        ALPHABET[rng.below(ALPHABET.len())]
                    };
                    line.push(byte);
                }
            } else {
                // A real shape with a few bytes changed, inserted or removed.
                line.extend_from_slice(SEEDS[rng.below(SEEDS.len())]);
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(line.len() + 1);
                    let byte = ALPHABET[rng.below(ALPHABET.len())];
                    match rng.below(3) {
                        0 if at < line.len() => line[at] = byte,
                        1 => line.insert(at, byte),
                        _ if at < line.len() => {
                            line.remove(at);
                        }
                        _ => {}
                    }
                }
            }
            if let Some(e) = unwrap_line(&line) {
                // Everything borrowed lies inside the line.
                let range = line.as_ptr_range();
                assert!(
                    range.contains(&e.body.as_ptr())
                        || e.body.is_empty()
                        || e.body.as_ptr() == range.end
                );
            }
        }
    }
}
