//! Undoing the escaping MTAs apply to logged strings.

use std::borrow::Cow;

/// Undoes Exim's escaping of logged strings: `\"` and `\\` in quoted
/// values, `\n \r \t \b \v \f`, and three-digit octal escapes such as
/// `\303\251` (how non-ASCII subjects are logged). Bytes that are not part
/// of a valid escape are kept as they are.
///
/// ```
/// use mailtrail_parse::unescape;
/// assert_eq!(unescape(br#"Caf\303\251 \"menu\""#).as_ref(), "Café \"menu\"".as_bytes());
/// assert_eq!(unescape(b"plain").as_ref(), b"plain");
/// ```
pub fn unescape(text: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', text) else {
        return Cow::Borrowed(text);
    };
    let mut out = Vec::with_capacity(text.len());
    out.extend_from_slice(&text[..first]);
    let mut i = first;
    while i < text.len() {
        // Runs without a backslash are copied whole rather than byte by
        // byte: most of an escaped text is plain. Escapes often follow
        // each other (`\342\200\223`): no search then.
        if text[i] != b'\\' {
            let run = memchr::memchr(b'\\', &text[i..]).unwrap_or(text.len() - i);
            out.extend_from_slice(&text[i..i + run]);
            i += run;
            if i >= text.len() {
                break;
            }
        }
        let b = text[i];
        if i + 1 >= text.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let next = text[i + 1];
        let octal = text
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(digits) = octal {
            let value = digits
                .iter()
                .fold(0u16, |acc, d| acc * 8 + u16::from(d - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        let replacement = single_escape(next);
        match replacement {
            Some(r) => {
                out.push(r);
                i += 2;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// The byte a backslash followed by `next` stands for, when it is one of
/// the single-letter escapes Exim writes (`\n`, `\t`, …).
fn single_escape(next: u8) -> Option<u8> {
    match next {
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'b' => Some(0x08),
        b'v' => Some(0x0b),
        b'f' => Some(0x0c),
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time decoder `unescape` replaced: the run-copying one
    /// must give the same bytes for every input.
    fn byte_at_a_time(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            if b != b'\\' || i + 1 >= text.len() {
                out.push(b);
                i += 1;
                continue;
            }
            let octal = text
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
            if let Some(value) = octal.and_then(|d| {
                u8::try_from(d.iter().fold(0u16, |a, d| a * 8 + u16::from(d - b'0'))).ok()
            }) {
                out.push(value);
                i += 4;
                continue;
            }
            let replacement = single_escape(text[i + 1]);
            match replacement {
                Some(r) => {
                    out.push(r);
                    i += 2;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn unescape_matches_the_byte_at_a_time_decoder() {
        let alphabet = b"\\\\\\0137nrtbvf\"xa ";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..200 {
            for _ in 0..50 {
                let text: Vec<u8> = (0..len % 24)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        alphabet[(state % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(
                    unescape(&text).as_ref(),
                    byte_at_a_time(&text).as_slice(),
                    "{:?}",
                    text.escape_ascii().to_string()
                );
            }
        }
    }
}
