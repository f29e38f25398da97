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
    if !text.contains(&b'\\') {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b != b'\\' || i + 1 >= text.len() {
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
        let replacement = match next {
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'b' => Some(0x08),
            b'v' => Some(0x0b),
            b'f' => Some(0x0c),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
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
