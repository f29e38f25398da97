//! SMTP reply codes (`550`) and RFC 3463 enhanced status codes (`5.7.1`).

use std::fmt;

/// An RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    /// 2 success, 4 transient, 5 permanent.
    pub class: u8,
    /// Subject (0–999).
    pub subject: u16,
    /// Detail (0–999).
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses exactly `c.s.d` (class 2, 4 or 5; subject and detail of one to
    /// three digits).
    ///
    /// ```
    /// use mailtrail_parse::EnhancedCode;
    /// let code = EnhancedCode::parse(b"5.7.1").unwrap();
    /// assert_eq!((code.class, code.subject, code.detail), (5, 7, 1));
    /// assert!(EnhancedCode::parse(b"5.7").is_none());
    /// ```
    pub fn parse(text: &[u8]) -> Option<EnhancedCode> {
        match parse_enhanced_prefix(text) {
            Some((code, used)) if used == text.len() => Some(code),
            _ => None,
        }
    }

    /// True for class 5.
    pub fn is_permanent(&self) -> bool {
        self.class == 5
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// The reply code and enhanced code found in one failure text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SmtpReply {
    /// Basic reply code such as 550.
    pub code: Option<u16>,
    /// Enhanced status code such as 5.7.1.
    pub enhanced: Option<EnhancedCode>,
}

impl SmtpReply {
    /// Finds the first SMTP reply in a free text: a three-digit code
    /// starting with 2, 4 or 5, standing alone, optionally followed by
    /// `-` or a space and an enhanced code whose class matches.
    ///
    /// Texts wrap the reply in prose (`host x said: 550 5.7.1 …`,
    /// `…: 550-5.7.1 …`), so the first code that stands as a word wins.
    ///
    /// ```
    /// use mailtrail_parse::SmtpReply;
    /// let reply = SmtpReply::find(b"host mx.example.com[192.0.2.1] said: 550-5.7.1 Blocked");
    /// assert_eq!(reply.code, Some(550));
    /// assert_eq!(reply.enhanced.unwrap().to_string(), "5.7.1");
    /// ```
    pub fn find(text: &[u8]) -> SmtpReply {
        // A reply starts with 2, 4 or 5: jump from one such byte to the
        // next instead of testing every byte of the (often long) text.
        for i in memchr::memchr3_iter(b'2', b'4', b'5', text) {
            if i + 3 > text.len() {
                break;
            }
            let at_word_start =
                i == 0 || !text[i - 1].is_ascii_alphanumeric() && text[i - 1] != b'.';
            if at_word_start
                && text[i + 1].is_ascii_digit()
                && text[i + 2].is_ascii_digit()
                && text.get(i + 3).is_none_or(|&b| {
                    matches!(b, b' ' | b'-' | b'\t' | b'\\' | b'"' | b')' | b';' | b',')
                })
            {
                let code = u16::from(text[i] - b'0') * 100
                    + u16::from(text[i + 1] - b'0') * 10
                    + u16::from(text[i + 2] - b'0');
                let rest = text.get(i + 4..).unwrap_or(&[]);
                let enhanced = parse_enhanced_prefix(rest)
                    .map(|(e, _)| e)
                    .filter(|e| e.class == text[i] - b'0');
                return SmtpReply {
                    code: Some(code),
                    enhanced,
                };
            }
        }
        SmtpReply {
            code: None,
            enhanced: find_enhanced(text),
        }
    }

    /// True when the reply is permanent (5xx or enhanced class 5).
    pub fn is_permanent(&self) -> bool {
        match self.code {
            Some(code) => code >= 500,
            None => self.enhanced.is_some_and(|e| e.is_permanent()),
        }
    }
}

/// Finds the first enhanced code standing as a word in `text`.
pub(crate) fn find_enhanced(text: &[u8]) -> Option<EnhancedCode> {
    // Only a class digit can start a code (see `SmtpReply::find`).
    for i in memchr::memchr3_iter(b'2', b'4', b'5', text) {
        let at_word_start = i == 0 || !text[i - 1].is_ascii_alphanumeric() && text[i - 1] != b'.';
        if at_word_start && let Some((code, used)) = parse_enhanced_prefix(&text[i..]) {
            let next = text.get(i + used);
            if next.is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'.') {
                return Some(code);
            }
        }
    }
    None
}

/// Parses `c.s.d` at the start of `text`; returns the code and bytes used.
fn parse_enhanced_prefix(text: &[u8]) -> Option<(EnhancedCode, usize)> {
    let class = *text.first()?;
    if !matches!(class, b'2' | b'4' | b'5') || text.get(1) != Some(&b'.') {
        return None;
    }
    let (subject, used_subject) = digits(&text[2..])?;
    let pos = 2 + used_subject;
    if text.get(pos) != Some(&b'.') {
        return None;
    }
    let (detail, used_detail) = digits(&text[pos + 1..])?;
    let code = EnhancedCode {
        class: class - b'0',
        subject,
        detail,
    };
    Some((code, pos + 1 + used_detail))
}

/// One to three ASCII digits.
fn digits(text: &[u8]) -> Option<(u16, usize)> {
    let used = text
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if used == 0 || text.get(used).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let value = text[..used]
        .iter()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    Some((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> (Option<u16>, Option<String>) {
        let r = SmtpReply::find(text.as_bytes());
        (r.code, r.enhanced.map(|e| e.to_string()))
    }

    #[test]
    fn finds_code_and_enhanced_in_exim_text() {
        assert_eq!(
            reply(
                "SMTP error from remote mail server after RCPT TO:<x@example.com>: 550 5.7.1 Service unavailable, Client host [192.0.2.7] blocked using Spamhaus."
            ),
            (Some(550), Some("5.7.1".into()))
        );
    }

    #[test]
    fn multiline_dash_form_and_gmail_style() {
        assert_eq!(
            reply("said: 421-4.7.0 [192.0.2.1] Our system has detected"),
            (Some(421), Some("4.7.0".into()))
        );
    }

    #[test]
    fn enhanced_class_must_match_code() {
        assert_eq!(reply("550 4.7.1 odd"), (Some(550), None));
    }

    #[test]
    fn does_not_take_digits_inside_words_or_ips() {
        assert_eq!(
            reply("Connection refused by 192.0.2.55 port 2525"),
            (None, None)
        );
        assert_eq!(reply("AS(1440) queue 12550x"), (None, None));
    }

    #[test]
    fn enhanced_alone() {
        assert_eq!(
            reply("dsn 5.1.1 user unknown"),
            (None, Some("5.1.1".into()))
        );
        assert_eq!(
            EnhancedCode::parse(b"4.4.1").map(|e| e.to_string()),
            Some("4.4.1".into())
        );
        assert_eq!(EnhancedCode::parse(b"5.1.10").map(|e| e.detail), Some(10));
        assert!(EnhancedCode::parse(b"6.1.1").is_none());
        assert!(EnhancedCode::parse(b"5.1.1000").is_none());
    }

    #[test]
    fn permanence() {
        assert!(SmtpReply::find(b"550 no").is_permanent());
        assert!(!SmtpReply::find(b"451 later").is_permanent());
        assert!(SmtpReply::find(b"dsn=5.0.0").is_permanent());
    }
}
