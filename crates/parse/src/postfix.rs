//! The Postfix grammar: the text after `postfix/<daemon>[pid]: `.

use bstr::BStr;

use crate::event::Body;

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
    let tag: &[u8] = tag.as_ref();
    if !tag.starts_with(b"postfix") {
        return None;
    }
    let first_slash = memchr::memchr(b'/', tag);
    let last_slash = memchr::memrchr(b'/', tag);
    match (first_slash, last_slash) {
        (Some(first), Some(last)) => Some((BStr::new(&tag[..first]), BStr::new(&tag[last + 1..]))),
        _ => Some((BStr::new(tag), BStr::new(b""))),
    }
}

/// Parses the body of a Postfix line written by `daemon` (`smtp`, `qmgr`,
/// `cleanup`, …).
pub fn parse_body<'a>(daemon: &'a BStr, body: &'a [u8]) -> PostfixLine<'a> {
    let _ = daemon;
    let _ = body;
    PostfixLine { queue_id: None, body: Body::Unrecognised("postfix grammar not written yet") }
}
