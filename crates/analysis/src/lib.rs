//! Correlation of mail-log events into per-recipient outcomes.
//!
//! `mailtrail-analysis` takes the events of
//! [`mailtrail-parse`](mailtrail_parse) and answers per recipient: was it
//! delivered, and if not, what happened and why. It owns the parallel work:
//! [`scan_bytes`] cuts a file into chunks, parses them on the current rayon
//! pool and merges the per-message [`PartialLog`]s in order (merging is
//! associative, so the result equals a sequential scan); [`scan_reader`]
//! streams compressed input or stdin in blocks parsed the same way. A
//! [`Retention`] other than everything drops finished messages a report
//! has no row for while scanning (delivered, or outside its window), so
//! memory follows the failures reported and the messages in flight.
//! [`outcomes`] turns the merged log
//! into one [`RecipientOutcome`] per (message, recipient), and a [`Window`]
//! selects rows by failure or reception time.
//!
//! # Example
//!
//! ```
//! use mailtrail_analysis::{Outcome, ScanOptions, outcomes, scan_bytes};
//! use mailtrail_parse::{ParserOptions, Tz};
//!
//! let log = b"\
//! 2024-10-20 09:00:01 1t2UKC-0000000738v-1Zz9 <= alice@example.com H=app.example.com [192.0.2.10] P=esmtps S=2048 id=ticket-42@example.com
//! 2024-10-20 09:00:02 1t2UKC-0000000738v-1Zz9 ** bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7]: \
//! SMTP error from remote mail server after RCPT TO:<bob@example.net>: 550 5.1.1 User unknown
//! 2024-10-20 09:00:02 1t2UKC-0000000738v-1Zz9 Completed
//! ";
//! let log = scan_bytes(log, &ScanOptions::new(ParserOptions::new(Tz::UTC)));
//! let rows = outcomes(&log);
//! assert_eq!(rows.len(), 1);
//! assert_eq!(rows[0].outcome, Outcome::Bounced);
//! assert_eq!(rows[0].recipient, "bob@example.net");
//! assert_eq!(rows[0].reply().code, Some(550));
//! ```

#![deny(missing_docs)]

pub mod classify;
mod finding;
pub mod incident;
pub mod join;
mod outcome;
mod partial;
mod record;
mod scan;
pub mod summary;
mod text;
pub mod ticket_report;
pub mod tickets;
pub mod trace;

pub use crate::finding::{Finding, IndexedFindings, RowFilter, failure_facts};
pub use crate::outcome::{
    FailureRef, Outcome, OutcomeIndex, OutcomeSet, RecipientOutcome, UnknownOutcome, Window,
    WindowBy, outcomes, outcomes_where,
};
pub use crate::partial::{
    LineSample, PartialLog, RejectionRecord, Retention, UNRECOGNISED_SAMPLES, WantedMail,
};
pub use crate::record::{
    CausedNotification, Failure, Frozen, Handoff, MessageKey, MessageRecord, QueueState,
    RecipientRecord, Terminal,
};
pub use crate::scan::{
    PartialScanError, Progress, ScanOptions, map_chunks, scan_bytes, scan_reader, take_partial,
    year_shift_from_long_ids,
};
pub use crate::text::Text;
