//! Helpdesk ticket ids in mail: patterns, presets for common helpdesk
//! formats, and the assignment of one ticket to each report row.
//!
//! A [`TicketExtractor`] tries its patterns on a row's subject, Message-ID,
//! sender, recipient and logged headers, in that order; for each field the
//! patterns are tried in the order they were added and the first match
//! wins. A pattern with a named group `ticket` yields that group, any other
//! pattern the whole match.
//!
//! [`assign_tickets`] combines the extractor with a helpdesk export joined
//! by [`crate::join`]: a Message-ID match in the export wins, then a
//! pattern match, then a recipient + time match.

use std::fmt;

use bstr::ByteSlice;
use regex::bytes::Regex;

use crate::join::{ExportQuality, JoinOptions, TicketExport, join};
use crate::outcome::RecipientOutcome;

/// A named pattern for a common helpdesk subject or address format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketPreset {
    /// The name given to `--ticket-preset`.
    pub name: &'static str,
    /// The helpdesk or convention it is for.
    pub system: &'static str,
    /// A subject or address in that format.
    pub example: &'static str,
    /// The ticket id the preset takes from [`TicketPreset::example`].
    pub ticket: &'static str,
    /// The regular expression (with a `ticket` group).
    pub pattern: &'static str,
}

/// The presets, in the order the README lists them.
pub const PRESETS: &[TicketPreset] = &[
    TicketPreset {
        name: "hash-bracket",
        system: "any helpdesk tagging subjects with [#id], digits and dashes",
        example: "Re: [#2410-0466] Monitor flickering",
        ticket: "2410-0466",
        pattern: r"\[#(?P<ticket>[0-9]+(?:-[0-9]+)*)\]",
    },
    TicketPreset {
        name: "osticket",
        system: "osTicket",
        example: "[#123456] Printer jam",
        ticket: "123456",
        pattern: r"\[#(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "freshdesk",
        system: "Freshdesk",
        example: "Re: [#123] VPN drops every hour",
        ticket: "123",
        pattern: r"\[#(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "zammad",
        system: "Zammad",
        example: "[Ticket#12345] Printer jam",
        ticket: "12345",
        pattern: r"\[Ticket#(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "otrs",
        system: "OTRS / Znuny",
        example: "[Ticket#2024010112345678] Printer jam",
        ticket: "2024010112345678",
        pattern: r"\[Ticket#(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "znuny",
        system: "Znuny (same format as otrs)",
        example: "RE: [Ticket#2024010112345678] Printer jam",
        ticket: "2024010112345678",
        pattern: r"\[Ticket#(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "jira",
        system: "Jira Service Management notifications",
        example: "[JIRA] (ABC-123) Printer jam",
        ticket: "ABC-123",
        pattern: r"\[JIRA\]\s*\(?(?P<ticket>[A-Z][A-Z0-9_]+-[0-9]+)\)?",
    },
    TicketPreset {
        name: "jira-key",
        system: "a bare Jira issue key anywhere (also matches words like UTF-8)",
        example: "ABC-123 Printer jam",
        ticket: "ABC-123",
        pattern: r"\b(?P<ticket>[A-Z][A-Z0-9_]+-[0-9]+)\b",
    },
    TicketPreset {
        name: "zendesk",
        system: "Zendesk",
        example: "[Request #123] Printer jam",
        ticket: "123",
        pattern: r"\[(?:Request|Ticket) #(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "rt",
        system: "Request Tracker (subject tag [rtname #id])",
        example: "[rt.example.com #123] Printer jam",
        ticket: "123",
        pattern: r"\[[A-Za-z0-9][A-Za-z0-9._-]* #(?P<ticket>[0-9]+)\]",
    },
    TicketPreset {
        name: "plus-address",
        system: "a ticket number in the address tag",
        example: "support+123@example.com",
        ticket: "123",
        pattern: r"^<?[^@+\s<>]+\+(?P<ticket>[0-9][0-9-]*)@",
    },
];

/// Looks a preset up by name (case-insensitive).
pub fn preset(name: &str) -> Option<&'static TicketPreset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A pattern or preset that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The regular expression does not compile.
    #[error("invalid pattern '{pattern}': {message}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// The compiler's complaint, on one line.
        message: String,
    },
    /// No preset has this name.
    #[error("unknown preset '{name}' (known: {known})")]
    UnknownPreset {
        /// The name as given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
}

/// One compiled pattern.
#[derive(Clone, Debug)]
struct TicketPattern {
    regex: Regex,
    group: Option<usize>,
    label: String,
}

/// Finds ticket ids in rows with user patterns and presets.
#[derive(Clone, Debug, Default)]
pub struct TicketExtractor {
    patterns: Vec<TicketPattern>,
}

impl TicketExtractor {
    /// An extractor with no pattern: it finds nothing.
    pub fn new() -> TicketExtractor {
        TicketExtractor::default()
    }

    /// Adds a regular expression; a named group `ticket`, when present,
    /// is the id, else the whole match.
    pub fn add_pattern(&mut self, pattern: &str) -> Result<(), TicketError> {
        self.push(pattern, format!("pattern {pattern}"))
    }

    /// Adds a preset by name (see [`PRESETS`]).
    pub fn add_preset(&mut self, name: &str) -> Result<(), TicketError> {
        let Some(found) = preset(name.trim()) else {
            return Err(TicketError::UnknownPreset {
                name: name.to_string(),
                known: PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        self.push(found.pattern, format!("preset {}", found.name))
    }

    fn push(&mut self, pattern: &str, label: String) -> Result<(), TicketError> {
        let regex = Regex::new(pattern).map_err(|e| TicketError::InvalidPattern {
            pattern: pattern.to_string(),
            message: one_line_regex_error(&e),
        })?;
        let group = regex
            .capture_names()
            .position(|name| name == Some("ticket"));
        self.patterns.push(TicketPattern {
            regex,
            group,
            label,
        });
        Ok(())
    }

    /// True when no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// What the extractor looks for (`preset hash-bracket`, `pattern …`).
    pub fn labels(&self) -> Vec<String> {
        self.patterns.iter().map(|p| p.label.clone()).collect()
    }

    /// The first ticket id any pattern finds in `text`.
    pub fn find(&self, text: &[u8]) -> Option<String> {
        self.patterns.iter().find_map(|pattern| {
            pattern.regex.captures_iter(text).find_map(|captures| {
                let found = match pattern.group {
                    Some(index) => captures.get(index),
                    None => captures.get(0),
                }?;
                let id = found.as_bytes().to_str_lossy();
                let id = id.trim();
                (!id.is_empty()).then(|| id.to_string())
            })
        })
    }

    /// The ticket the patterns find in `row`, as assigned without an
    /// export (see [`assign_tickets`]): each row on its own.
    pub fn ticket_of(&self, row: &RecipientOutcome) -> Option<RowTicket> {
        self.extract(row).map(|ticket| RowTicket::Found {
            ticket,
            source: TicketSource::Pattern,
        })
    }

    /// The ticket of a row: from its subject, Message-ID, sender,
    /// recipient, then logged headers.
    pub fn extract(&self, row: &RecipientOutcome) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let fields: [Option<&[u8]>; 4] = [
            row.subject.as_ref().map(|s| s.as_bytes()),
            row.message_id.as_ref().map(|m| m.as_bytes()),
            row.sender.as_ref().map(|s| s.as_bytes()),
            Some(row.recipient.as_bytes()),
        ];
        fields
            .into_iter()
            .flatten()
            .chain(row.headers.iter().map(|(_, value)| value.as_bytes()))
            .find_map(|text| self.find(text))
    }
}

/// regex errors are multi-line drawings; a report needs one line.
fn one_line_regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// How a row's ticket was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TicketSource {
    /// The export lists the row's Message-ID.
    MessageId,
    /// A pattern or preset matched the row.
    Pattern,
    /// The export lists the recipient at about the time the message was
    /// received.
    RecipientTime,
}

impl TicketSource {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            TicketSource::MessageId => "message_id",
            TicketSource::Pattern => "pattern",
            TicketSource::RecipientTime => "recipient_time",
        }
    }
}

impl fmt::Display for TicketSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ticket of one row.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum RowTicket {
    /// No ticket found.
    #[default]
    None,
    /// The export offers two or more tickets that are about equally
    /// likely: no ticket rather than a guess.
    Ambiguous,
    /// A ticket, and how it was found.
    Found {
        /// The ticket or card id.
        ticket: String,
        /// How it was found.
        source: TicketSource,
    },
}

impl RowTicket {
    /// The ticket id, if one was found.
    pub fn ticket(&self) -> Option<&str> {
        match self {
            RowTicket::Found { ticket, .. } => Some(ticket),
            _ => None,
        }
    }
}

/// The tickets of a list of rows and, with an export, how well it joined.
#[derive(Clone, Debug, Default)]
pub struct Assignment {
    /// One entry per row, in the rows' order.
    pub rows: Vec<RowTicket>,
    /// Join quality on the export's side, when an export was given.
    pub export: Option<ExportQuality>,
}

/// Assigns a ticket to every row: an export match by Message-ID first,
/// then a pattern match, then an export match by recipient and time. A row
/// the export matches ambiguously keeps a pattern match if it has one.
pub fn assign_tickets(
    rows: &[RecipientOutcome],
    extractor: &TicketExtractor,
    export: Option<(&TicketExport, &JoinOptions)>,
) -> Assignment {
    let joined = export.map(|(export, options)| join(export, rows, options));
    let assigned = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let from_join = joined.as_ref().map(|j| &j.rows[index]);
            if let Some(
                found @ RowTicket::Found {
                    source: TicketSource::MessageId,
                    ..
                },
            ) = from_join
            {
                return found.clone();
            }
            (extractor.ticket_of(row)).unwrap_or_else(|| from_join.cloned().unwrap_or_default())
        })
        .collect();
    Assignment {
        rows: assigned,
        export: joined.map(|j| j.quality),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_finds_its_documented_example() {
        for preset in PRESETS {
            let mut extractor = TicketExtractor::new();
            extractor.add_preset(preset.name).unwrap();
            assert_eq!(
                extractor.find(preset.example.as_bytes()).as_deref(),
                Some(preset.ticket),
                "preset {}",
                preset.name
            );
        }
    }

    #[test]
    fn presets_do_not_match_other_formats() {
        let find = |name: &str, text: &str| {
            let mut extractor = TicketExtractor::new();
            extractor.add_preset(name).unwrap();
            extractor.find(text.as_bytes())
        };
        assert_eq!(find("hash-bracket", "Invoice #2410 overdue"), None);
        assert_eq!(find("zammad", "[#12345] Printer"), None);
        assert_eq!(find("zendesk", "[Ticket#123] x"), None);
        assert_eq!(find("jira", "ABC-123 without the [JIRA] tag"), None);
        assert_eq!(find("plus-address", "john+shopping@example.com"), None);
        assert_eq!(find("plus-address", "support@example.com"), None);
        assert_eq!(
            find("plus-address", "support+2410-0466@example.com").as_deref(),
            Some("2410-0466")
        );
        assert_eq!(
            find("zendesk", "Re: [Ticket #77] Printer").as_deref(),
            Some("77")
        );
    }

    #[test]
    fn user_patterns_use_the_ticket_group_or_the_whole_match() {
        let mut extractor = TicketExtractor::new();
        extractor
            .add_pattern(r"ticket-(?P<ticket>\d{4}-\d{4})\.")
            .unwrap();
        assert_eq!(
            extractor
                .find(b"ticket-2410-0092.1729368166@helpdesk.example.com")
                .as_deref(),
            Some("2410-0092")
        );
        let mut whole = TicketExtractor::new();
        whole.add_pattern(r"CARD-\d+").unwrap();
        assert_eq!(whole.find(b"Re: CARD-17 done").as_deref(), Some("CARD-17"));
        // A pattern that can match the empty string finds nothing there.
        let mut empty = TicketExtractor::new();
        empty.add_pattern(r"x*").unwrap();
        assert_eq!(empty.find(b"abc"), None);
    }

    #[test]
    fn bad_patterns_and_presets_are_one_line_errors() {
        let mut extractor = TicketExtractor::new();
        let error = extractor.add_pattern("([#").unwrap_err().to_string();
        assert!(error.starts_with("invalid pattern '([#': "), "{error}");
        assert!(!error.contains('\n'), "{error}");
        let error = extractor.add_preset("kayako").unwrap_err().to_string();
        assert!(error.contains("unknown preset 'kayako'"), "{error}");
        assert!(error.contains("hash-bracket"), "{error}");
        assert!(extractor.is_empty());
    }

    #[test]
    fn fields_are_tried_subject_first() {
        use crate::outcome::Outcome;
        use bstr::BString;
        let row = RecipientOutcome {
            host: BString::from(""),
            queue_id: BString::from("1t2Few-00000006BBB-3VkV"),
            mta: mailtrail_parse::Mta::Exim,
            received_at: None,
            message_id: Some(BString::from("ticket-2410-0001.1@helpdesk.example.com")),
            sender: Some(BString::from("support+2410-0003@example.com")),
            subject: Some(BString::from("Re: [#2410-0002] Printer")),
            headers: vec![(BString::from("X-Ticket"), BString::from("[#2410-0004]"))],
            recipient: BString::from("bob@example.net"),
            outcome: Outcome::Bounced,
            last_failure: None,
            first_failure_at: None,
            last_attempt_at: None,
            attempts: 0,
            failure_times: Vec::new(),
            reason: None,
            is_notification: false,
        };
        let mut extractor = TicketExtractor::new();
        extractor.add_preset("plus-address").unwrap();
        extractor.add_preset("hash-bracket").unwrap();
        assert_eq!(extractor.extract(&row).as_deref(), Some("2410-0002"));
        let mut no_subject = row.clone();
        no_subject.subject = None;
        assert_eq!(extractor.extract(&no_subject).as_deref(), Some("2410-0003"));
        no_subject.sender = None;
        assert_eq!(extractor.extract(&no_subject).as_deref(), Some("2410-0004"));
        assert_eq!(TicketExtractor::new().extract(&row), None);
    }
}
