//! Queue identifiers: Exim message ids and Postfix queue ids, and the
//! creation times some of them encode.

use chrono::{DateTime, Utc};

/// Exim's base-62 alphabet: digit value = index.
fn base62_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'A'..=b'Z' => Some(u64::from(b - b'A') + 10),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 36),
        _ => None,
    }
}

fn base62(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |acc, &b| {
        Some(acc.checked_mul(62)? + base62_value(b)?)
    })
}

/// ASCII letters and digits: a table lookup per byte of an id instead of
/// three range checks (every Exim line's id is checked).
static IS_BASE62: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// True when `text` is exactly an Exim message id: `6-6-2` (Exim ≤ 4.96)
/// or `6-11-4` (4.97 and later), base-62 characters.
///
/// ```
/// use mailtrail_parse::is_exim_id;
/// assert!(is_exim_id(b"1t2UKC-0000000738v-1Zz9"));
/// assert!(is_exim_id(b"16VDhn-0001bo-D3"));
/// assert!(!is_exim_id(b"16VDhn-0001bo-D"));
/// ```
pub fn is_exim_id(text: &[u8]) -> bool {
    let alnum = |s: &[u8]| s.iter().all(|&b| IS_BASE62[usize::from(b)]);
    match text.len() {
        16 => {
            text[6] == b'-'
                && text[13] == b'-'
                && alnum(&text[..6])
                && alnum(&text[7..13])
                && alnum(&text[14..])
        }
        23 => {
            text[6] == b'-'
                && text[18] == b'-'
                && alnum(&text[..6])
                && alnum(&text[7..18])
                && alnum(&text[19..])
        }
        _ => false,
    }
}

/// The UTC second at which Exim started receiving the message, decoded from
/// the first six characters of its id (both formats).
///
/// ```
/// use mailtrail_parse::exim_id_time;
/// let t = exim_id_time(b"1t2UKC-0000000738v-1Zz9").unwrap();
/// assert_eq!(t.to_rfc3339(), "2024-10-20T11:42:20+00:00");
/// ```
pub fn exim_id_time(id: &[u8]) -> Option<DateTime<Utc>> {
    if !is_exim_id(id) {
        return None;
    }
    let seconds = base62(&id[..6])?;
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)
}

/// Postfix long queue id alphabet (vowels removed), base 52.
const POSTFIX_LONG_ALPHABET: &[u8] = b"0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

/// Which bytes are in [`POSTFIX_LONG_ALPHABET`]: a table lookup per byte
/// instead of a search of the alphabet.
static IN_POSTFIX_LONG_ALPHABET: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < POSTFIX_LONG_ALPHABET.len() {
        table[POSTFIX_LONG_ALPHABET[i] as usize] = true;
        i += 1;
    }
    table
};

/// Digits and `A`–`F`: a table lookup per byte instead of two range checks.
static IS_UPPER_HEX: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'0'..=b'9' | b'A'..=b'F');
        b += 1;
    }
    table
};

/// What kind of Postfix queue id a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostfixIdKind {
    /// Upper-case hex, the default.
    Short,
    /// `enable_long_queue_ids = yes`: time, `z`, inode.
    Long,
}

/// Classifies a Postfix queue id token (`NOQUEUE` is not an id).
///
/// ```
/// use mailtrail_parse::{postfix_id_kind, PostfixIdKind};
/// assert_eq!(postfix_id_kind(b"C3CD21F3E90"), Some(PostfixIdKind::Short));
/// assert_eq!(postfix_id_kind(b"3mJddz5fh3z7sdM"), Some(PostfixIdKind::Long));
/// assert_eq!(postfix_id_kind(b"NOQUEUE"), None);
/// ```
pub fn postfix_id_kind(text: &[u8]) -> Option<PostfixIdKind> {
    if text.len() >= 6 && text.iter().all(|&b| IS_UPPER_HEX[usize::from(b)]) {
        return Some(PostfixIdKind::Short);
    }
    // The separator is the last `z` at offset ≥ 10; the part after it (the
    // inode, base 51) has no `z`.
    let split = text.iter().rposition(|&b| b == b'z')?;
    if text.len() >= 12
        && split >= 10
        && split + 1 < text.len()
        && text
            .iter()
            .all(|&b| IN_POSTFIX_LONG_ALPHABET[usize::from(b)])
    {
        return Some(PostfixIdKind::Long);
    }
    None
}

/// The UTC creation time encoded in a Postfix long queue id: seconds in
/// base 52 (all but the last four characters before the separator), then
/// microseconds in four base-52 characters.
///
/// ```
/// use mailtrail_parse::postfix_long_id_time;
/// let t = postfix_long_id_time(b"3mPVKl0Mhjz7sXv").unwrap();
/// assert_eq!(t.format("%Y-%m-%d %H:%M:%S").to_string(), "2015-07-05 12:52:11");
/// ```
pub fn postfix_long_id_time(id: &[u8]) -> Option<DateTime<Utc>> {
    if postfix_id_kind(id)? != PostfixIdKind::Long {
        return None;
    }
    let split = id.iter().rposition(|&b| b == b'z')?;
    let time_part = &id[..split];
    let (seconds_part, micros_part) = time_part.split_at(time_part.len() - 4);
    let decode = |s: &[u8]| -> Option<u64> {
        s.iter().try_fold(0u64, |acc, b| {
            let digit = POSTFIX_LONG_ALPHABET.iter().position(|x| x == b)? as u64;
            Some(acc.checked_mul(52)? + digit)
        })
    };
    let seconds = i64::try_from(decode(seconds_part)?).ok()?;
    let micros = u32::try_from(decode(micros_part)?).ok()?;
    if micros >= 1_000_000 {
        return None;
    }
    DateTime::from_timestamp(seconds, micros * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_format_id_time() {
        assert_eq!(
            exim_id_time(b"16VDhn-0001bo-D3").unwrap().to_rfc3339(),
            "2002-01-28T15:28:23+00:00"
        );
    }

    #[test]
    fn long_ids_with_z_in_time_part() {
        for id in [
            "3mJddz5fh3z7sdM",
            "3mhh843cz2zCpsL",
            "4TwNdH5zwCz7fxV",
            "3p7RMT0zrYz20p",
        ] {
            assert_eq!(
                postfix_id_kind(id.as_bytes()),
                Some(PostfixIdKind::Long),
                "{id}"
            );
            assert!(postfix_long_id_time(id.as_bytes()).is_some(), "{id}");
        }
        assert_eq!(
            postfix_long_id_time(b"3pJjgB6dpKz1JBPW")
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            "2015-12-14 00:06:14"
        );
    }

    #[test]
    fn rejects_lookalikes() {
        assert!(!is_exim_id(b"1t2UKC-0000000738v-1Zz"));
        assert!(!is_exim_id(b"1t2UKC_0000000738v-1Zz9"));
        assert_eq!(postfix_id_kind(b"ABC12"), None);
        assert_eq!(postfix_id_kind(b"warning"), None);
    }
}
