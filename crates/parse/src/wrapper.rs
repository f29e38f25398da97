//! Line envelopes added by whatever wrote the file: syslog daemons,
//! journald, container runtimes.
//!
//! An envelope gives the time (when it has one), the host, the program tag
//! and pid, and the body the MTA wrote. Envelopes are detected per line, so
//! one file may mix them.

use bstr::BStr;

use crate::time::CivilStamp;

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

/// Detects and removes the envelope of one line.
///
/// Returns `None` when the line has no envelope this module knows (for
/// example an Exim main-log line, which starts with its own timestamp).
pub fn unwrap_line(line: &[u8]) -> Option<Envelope<'_>> {
    classic_syslog(line)
}

const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// `Mmm dd HH:MM:SS host prog[pid]: body` (day space- or zero-padded).
fn classic_syslog(line: &[u8]) -> Option<Envelope<'_>> {
    let month = MONTHS.iter().position(|m| line.get(..3) == Some(&m[..]))? as u8 + 1;
    if line.get(3) != Some(&b' ') {
        return None;
    }
    let day_field = line.get(4..6)?;
    let day = match day_field {
        [b' ', d] | [b'0', d] if d.is_ascii_digit() => d - b'0',
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => (a - b'0') * 10 + (b - b'0'),
        _ => return None,
    };
    let time = line.get(7..15)?;
    if line.get(6) != Some(&b' ') || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let hour = crate::time::digits_n(time, 2)? as u8;
    let minute = crate::time::digits_n(&time[3..], 2)? as u8;
    let second = crate::time::digits_n(&time[6..], 2)? as u8;
    let stamp = CivilStamp { year: None, month, day, hour, minute, second, nanos: 0, offset_seconds: None };
    let rest = line.get(15..)?.strip_prefix(b" ")?;
    let host_end = memchr::memchr(b' ', rest)?;
    let host = &rest[..host_end];
    let (program, pid, body) = tag(&rest[host_end + 1..])?;
    let (split, body) = split_marker(body);
    Some(Envelope { stamp: Some(stamp), host: Some(BStr::new(host)), program, pid, split, body })
}

/// `prog[pid]: body` or `prog: body`.
fn tag(text: &[u8]) -> Option<(&BStr, Option<u32>, &[u8])> {
    let colon = memchr::memchr(b':', text)?;
    let head = &text[..colon];
    if head.is_empty() || head.contains(&b' ') {
        return None;
    }
    let body = text[colon + 1..].strip_prefix(b" ").unwrap_or(&text[colon + 1..]);
    if let Some(open) = memchr::memchr(b'[', head) {
        let pid_text = head[open + 1..].strip_suffix(b"]")?;
        let pid = std::str::from_utf8(pid_text).ok()?.parse().ok()?;
        return Some((BStr::new(&head[..open]), Some(pid), body));
    }
    Some((BStr::new(head), None, body))
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
        let index: u16 = std::str::from_utf8(&inner[..sep]).ok()?.parse().ok()?;
        let total: u16 = std::str::from_utf8(&inner[sep + 1..]).ok()?.parse().ok()?;
        if index == 0 || index > total || body.get(close + 1) != Some(&b' ') {
            return None;
        }
        Some((SplitPart { index, total, at_newline: inner[sep] == b'\\' }, close + 2))
    };
    match parse() {
        Some((part, used)) => (Some(part), &body[used..]),
        None => (None, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_syslog_with_pid() {
        let e = unwrap_line(b"Apr 28 15:53:37 server exim[12105]: 2016-04-28 15:53:37 [12105] 1avnJx-00039F-Hs <= a@example.com").unwrap();
        assert_eq!(e.host.unwrap(), "server");
        assert_eq!(e.program, "exim");
        assert_eq!(e.pid, Some(12105));
        assert_eq!(e.body, b"2016-04-28 15:53:37 [12105] 1avnJx-00039F-Hs <= a@example.com");
        let s = e.stamp.unwrap();
        assert_eq!((s.month, s.day, s.hour, s.minute, s.second, s.year), (4, 28, 15, 53, 37, None));
    }

    #[test]
    fn space_padded_day_and_split_marker() {
        let e = unwrap_line(b"Feb  4 18:12:33 192.0.2.51 exim[46483]: [2/2]  Suggested action: use keep_environment.").unwrap();
        assert_eq!(e.stamp.unwrap().day, 4);
        assert_eq!(e.split, Some(SplitPart { index: 2, total: 2, at_newline: false }));
        assert_eq!(e.body, b" Suggested action: use keep_environment.");
        let e = unwrap_line(b"Feb 14 18:12:33 h exim[1]: [1\\2] 2025-02-14 18:12:33 Warning").unwrap();
        assert!(e.split.unwrap().at_newline);
    }

    #[test]
    fn not_syslog() {
        assert!(unwrap_line(b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 ** x@example.com").is_none());
        assert!(unwrap_line(b"Foo 28 15:53:37 server exim[1]: x").is_none());
        assert!(unwrap_line(b"Apr 28 15:53").is_none());
    }
}
