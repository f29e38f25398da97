//! Turning a logged reason into text rules can match (reference §1.4).

use std::sync::LazyLock;

use mailtrail_parse::{SmtpReply, unescape};
use regex::Regex;

/// Compiles the patterns [`normalise`] uses.
pub(crate) fn prepare() {
    for pattern in [&WRAPPER, &IN_REPLY_TO, &LEADING_CODE, &CONTINUATION] {
        LazyLock::force(pattern);
    }
}

/// A reason text prepared for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Normalised {
    /// Escapes undone, lossy UTF-8, whitespace collapsed; wrappers kept.
    /// Evidence is extracted from this.
    pub original: String,
    /// The first reply code and enhanced code after the wrappers.
    pub reply: SmtpReply,
    /// Wrappers and continuation prefixes removed, lower-cased. Rules
    /// match this.
    pub lower: String,
}

/// MTA wrappers before the remote text; everything up to the end of the
/// last match is dropped.
static WRAPPER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?: \bdelivery\ temporarily\ suspended:
          | \bhost\ [^\s\[]+\[[^\]]*\](?::\d+)?\ (?:said|refused\ to\ talk\ to\ me):
          | \bsmtp\ error\ from\ remote\ (?:mail\ server|mail\ host|server|host)\ after\ (?:pipelined\ )?
            (?: initial\ connection | end\ of\ data | data | (?:ehlo|helo|lhlo)\ [^:\s]*
              | mail\ from:<[^>]*>[^:]* | rcpt\ to:<[^>]*> | [a-z\ ]+ ) \s*:
        )\s*",
    )
    .expect("wrapper pattern")
});

/// Postfix's trailing `(in reply to … command)`.
static IN_REPLY_TO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\s*\(in reply to [^)]*\)\s*$").expect("in-reply-to pattern"));

/// A bare reply code at the start of the text (`421 Sender address
/// blocked`, `552 1 Requested …`).
static LEADING_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[245]\d\d(?:[ -]|$)").expect("leading code pattern"));

/// Continuation prefixes of multi-line replies: `550-5.7.1 `, `550 5.7.1 `,
/// `554-`.
static CONTINUATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[245]\d\d(?:[- ]#?[245]\.\d{1,3}\.\d{1,3}\b|-)\s*")
        .expect("continuation pattern")
});

/// Normalises one logged reason.
pub(crate) fn normalise(reason: &[u8]) -> Normalised {
    let unescaped = unescape(reason);
    let decoded = String::from_utf8_lossy(&unescaped);
    let original = collapse_whitespace(&decoded);
    let mut stripped: &str = &original;
    if let Some(last) = WRAPPER.find_iter(stripped).last() {
        stripped = &stripped[last.end()..];
    }
    if let Some(tail) = IN_REPLY_TO.find(stripped) {
        stripped = &stripped[..tail.start()];
    }
    let reply = SmtpReply::find(stripped.as_bytes());
    let without_prefixes = remove_continuations(stripped);
    let collapsed = collapse_whitespace(&without_prefixes);
    let lower = LEADING_CODE.replace(&collapsed, "").to_lowercase();
    Normalised {
        original,
        reply,
        lower,
    }
}

/// Removes continuation prefixes, and the bare `NNN ` prefix of the last
/// line of a multi-line reply whose earlier lines were `NNN-`.
fn remove_continuations(text: &str) -> String {
    let mut dashed: Vec<&str> = Vec::new();
    for m in CONTINUATION.find_iter(text) {
        let code = &m.as_str()[..3];
        if m.as_str().as_bytes()[3] == b'-' && !dashed.contains(&code) {
            dashed.push(code);
        }
    }
    let mut out = CONTINUATION.replace_all(text, "").into_owned();
    for code in dashed {
        let last_line = format!(" {code} ");
        while let Some(at) = out.find(&last_line) {
            out.replace_range(at..at + last_line.len(), " ");
        }
    }
    out
}

/// Replaces every run of whitespace (including unescaped newlines) with
/// one space and trims the ends.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_and_removes_continuations() {
        let n = normalise(
            br"host gmail-smtp-in.l.google.com[192.0.2.1] said: 550-5.7.1 [192.0.2.9 12] Our system has detected that this message is\n550-5.7.1 likely unsolicited mail. (in reply to end of DATA command)",
        );
        assert_eq!(n.reply.code, Some(550));
        assert_eq!(n.reply.enhanced.unwrap().to_string(), "5.7.1");
        assert_eq!(
            n.lower,
            "[192.0.2.9 12] our system has detected that this message is likely unsolicited mail."
        );
        assert!(n.original.starts_with("host gmail-smtp-in"));
    }

    #[test]
    fn strips_exim_and_postfix_wrappers() {
        let n = normalise(b"SMTP error from remote mail server after RCPT TO:<bob@example.net>: 550 5.1.1 User unknown");
        assert_eq!(n.lower, "user unknown");
        let n = normalise(b"delivery temporarily suspended: connect to mx.example.net[192.0.2.1]:25: Connection timed out");
        assert_eq!(
            n.lower,
            "connect to mx.example.net[192.0.2.1]:25: connection timed out"
        );
        let n = normalise(b"SMTP error from remote mail server after MAIL FROM:<a@example.com> SIZE=1234: 421 4.7.0 Try again");
        assert_eq!((n.reply.code, n.lower.as_str()), (Some(421), "try again"));
        let n = normalise(b"host mx.gmx.net[192.0.2.1] refused to talk to me: 554-gmx.net (mxgmx114) Nemesis ESMTP Service not available 554-No SMTP service 554 Bad DNS PTR resource record");
        assert_eq!(
            n.lower,
            "gmx.net (mxgmx114) nemesis esmtp service not available no smtp service bad dns ptr resource record"
        );
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let n = normalise(b"550 5.1.1 Benutzer \xff unbekannt");
        assert_eq!(n.lower, "benutzer \u{fffd} unbekannt");
    }
}
