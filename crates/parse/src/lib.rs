//! Mail-log lines in, typed delivery events out.
//!
//! `mailtrail-parse` reads Exim main logs (4.8x–4.99, both message-id
//! formats, `+millisec`, `+pid`, `log_timezone`), Exim through syslog
//! (including lines split into `[n/m]` parts) and Postfix through syslog,
//! journald and container wrappers. It works on bytes: every field of an
//! [`Event`] borrows from the input line, invalid UTF-8 is ordinary input,
//! and no line makes it panic or fail. Each line is classified as an event,
//! a known line that does not matter, or an unrecognised line with a reason.
//!
//! Timestamps become UTC instants through a [`Clock`]: zoneless times are
//! read in a configured IANA zone, folds are resolved by line order, gaps
//! are shifted and counted, and a missing year rolls over at New Year.
//!
//! # Example
//!
//! ```
//! use mailtrail_parse::{EventKind, LineParser, Parsed, ParserOptions, AttemptStatus};
//!
//! let mut parser = LineParser::new(ParserOptions::new(chrono_tz::UTC));
//! let line = b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 ** xxxx@example.com R=dnslookup \
//!     T=remote_smtp H=mx.example.net [192.0.2.36] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: \
//!     SMTP error from remote mail server after RCPT TO:<xxxx@example.com>: 550 5.7.1 Service \
//!     unavailable, Client host [198.51.100.243] blocked using Spamhaus.";
//! let Parsed::Event(event) = parser.parse(line) else { panic!("not an event") };
//! assert_eq!(event.queue_id.unwrap(), "1t2UKC-0000000738v-1Zz9");
//! let EventKind::Attempt(attempt) = &event.kind else { panic!("not an attempt") };
//! assert_eq!(attempt.status, AttemptStatus::Bounced);
//! assert_eq!(attempt.remote_ip.unwrap(), "192.0.2.36");
//! assert_eq!(attempt.reply.code, Some(550));
//! assert_eq!(attempt.reply.enhanced.unwrap().to_string(), "5.7.1");
//! assert_eq!(attempt.phase.unwrap(), "RCPT TO");
//! ```

#![deny(missing_docs)]

#[macro_use]
mod find;
mod event;
pub mod exim;
mod id;
mod parser;
pub mod postfix;
mod smtp;
mod text;
mod time;
pub mod wrapper;

pub use crate::event::{
    Attempt, AttemptStatus, Body, Event, EventKind, Lifecycle, Mta, Notification, NotificationKind,
    Reception, RejectStage, Rejection,
};
pub use crate::id::{
    PostfixIdKind, exim_id_time, is_exim_id, postfix_id_kind, postfix_long_id_time,
};
pub use crate::parser::{LineCounts, LineParser, Parsed, ParserOptions};
pub use crate::smtp::{EnhancedCode, SmtpReply};
pub use crate::text::unescape;
pub use crate::time::{CivilStamp, Clock, ClockState, ClockStats};

/// Re-exported so callers name zones without a direct dependency.
pub use chrono_tz::Tz;
