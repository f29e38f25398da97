//! Joining a helpdesk's export of sent notifications with the log.
//!
//! A [`TicketExport`] is read from CSV: one row per notification, with the
//! ticket (or card) id and some of Message-ID, recipient, sent time and
//! subject. [`join`] matches each export row to log rows:
//!
//! 1. By Message-ID, when the export row has one that the log has.
//! 2. Otherwise by recipient and time: the log rows to the same recipient
//!    received within [`JoinOptions::tolerance`] of the sent time, nearest
//!    first. Pairs are taken nearest first; a pair is taken only when
//!    neither side has another free candidate within
//!    [`JoinOptions::margin`] of it (then both are *about equally near*),
//!    unless the subject decides: exactly one of the close pairs has a
//!    logged subject that agrees with the export's. Otherwise every row in
//!    the close group is *ambiguous* and gets no ticket rather than a guess.
//!
//! A log row whose Message-ID differs from the export row's is never joined
//! by time, and notifications (bounces) are never joined.

use std::collections::HashMap;
use std::io::Read;

use bstr::ByteSlice;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use mailtrail_parse::Tz;
use serde::Serialize;

use crate::outcome::{RecipientOutcome, earlier_by, later_by};
use crate::partial::WantedMail;
use crate::tickets::{RowTicket, TicketSource};

/// The five columns of an export, by role.
pub const ROLES: [&str; 5] = ["ticket", "message_id", "recipient", "sent_at", "subject"];

/// Header names recognised for each role, compared after lower-casing and
/// dropping everything but letters and digits; the first present wins.
const CANDIDATES: [(&str, &[&str]); 5] = [
    (
        "message_id",
        &[
            "messageid",
            "msgid",
            "internetmessageid",
            "emailmessageid",
            "mailmessageid",
        ],
    ),
    (
        "recipient",
        &[
            "recipient",
            "recipientemail",
            "recipientaddress",
            "to",
            "toaddress",
            "toemail",
            "rcpt",
            "email",
            "emailaddress",
            "customeremail",
            "requesteremail",
            "address",
        ],
    ),
    (
        "sent_at",
        &[
            "sentat",
            "sent",
            "senttime",
            "sentdate",
            "datesent",
            "timestamp",
            "datetime",
            "date",
            "time",
            "createdat",
            "created",
        ],
    ),
    (
        "subject",
        &["subject", "emailsubject", "mailsubject", "title"],
    ),
    (
        "ticket",
        &[
            "ticket",
            "ticketid",
            "ticketnumber",
            "ticketno",
            "ticketkey",
            "card",
            "cardid",
            "issue",
            "issuekey",
            "issueid",
            "key",
            "request",
            "requestid",
            "case",
            "caseid",
            "number",
            "id",
        ],
    ),
];

fn normalise_header(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why an export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CSV itself is broken or unreadable.
    #[error("{0}")]
    Csv(String),
    /// `--tickets-columns` is malformed.
    #[error("--tickets-columns: {0}")]
    ColumnSpec(String),
    /// A column named in `--tickets-columns` is not in the header.
    #[error("no column '{name}' for {role} (columns: {headers})")]
    NoSuchColumn {
        /// The role.
        role: &'static str,
        /// The name given.
        name: String,
        /// The header, comma-separated.
        headers: String,
    },
    /// A needed role has no column.
    #[error("{0} (columns: {headers}); name the columns with --tickets-columns ticket=…,message_id=…,recipient=…,sent_at=…", headers = .1)]
    MissingColumns(String, String),
    /// A sent time that is not a time.
    #[error(
        "line {line}: sent time '{value}' is not a time (expected e.g. 2024-10-19T20:02:45+02:00, '2024-10-19 20:02:45' or Unix seconds)"
    )]
    BadTime {
        /// 1-based line number.
        line: u64,
        /// The value.
        value: String,
    },
}

/// Column names for roles, overriding detection: parsed from
/// `ticket=Ticket ID,message_id=Message-ID,…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnOverrides {
    /// (role, header name).
    pub names: Vec<(&'static str, String)>,
}

impl ColumnOverrides {
    /// Parses `role=name` pairs separated by commas.
    pub fn parse(spec: &str) -> Result<ColumnOverrides, ExportError> {
        let mut names = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((role, name)) = part.split_once('=') else {
                return Err(ExportError::ColumnSpec(format!(
                    "'{part}' is not role=column (roles: {})",
                    ROLES.join(", ")
                )));
            };
            let role = role.trim();
            let Some(role) = ROLES.iter().find(|r| **r == role) else {
                return Err(ExportError::ColumnSpec(format!(
                    "unknown role '{role}' (roles: {})",
                    ROLES.join(", ")
                )));
            };
            if name.trim().is_empty() {
                return Err(ExportError::ColumnSpec(format!(
                    "no column name for {role}"
                )));
            }
            names.push((*role, name.trim().to_string()));
        }
        Ok(ColumnOverrides { names })
    }
}

/// Which header column was used for each role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportColumns {
    /// Ticket or card id.
    pub ticket: String,
    /// Message-ID.
    pub message_id: Option<String>,
    /// Recipient address.
    pub recipient: Option<String>,
    /// Sent time.
    pub sent_at: Option<String>,
    /// Subject.
    pub subject: Option<String>,
}

/// One notification the helpdesk says it sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    /// 1-based line number in the CSV.
    pub line: u64,
    /// Ticket or card id.
    pub ticket: String,
    /// Message-ID without angle brackets, lower-cased.
    pub message_id: Option<String>,
    /// Recipient address, lower-cased.
    pub recipient: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Subject.
    pub subject: Option<String>,
}

/// A helpdesk export.
#[derive(Clone, Debug, Default)]
pub struct TicketExport {
    /// Rows with a ticket id, in file order.
    pub rows: Vec<ExportRow>,
    /// The columns used.
    pub columns: ExportColumns,
    /// Rows skipped because their ticket cell was empty.
    pub skipped_without_ticket: usize,
}

impl TicketExport {
    /// The log mail [`join`] may match a row of this export to, with
    /// `options`: the mail with one of its Message-IDs, and the mail to one
    /// of its recipients received from the tolerance before the row's sent
    /// time on. A scan keeps it whatever its outcome
    /// ([`Retention::and_mail`](crate::Retention::and_mail)), so that the
    /// join finds what it finds with every message kept.
    pub fn wanted_mail(&self, options: &JoinOptions) -> WantedMail {
        let by_time = self.rows.iter().filter_map(|row| {
            let recipient = row.recipient.as_deref()?;
            // A second more: the join takes a gap of exactly the tolerance.
            let after = earlier_by(row.sent_at?, options.tolerance);
            let after = earlier_by(after, Duration::seconds(1));
            Some((recipient.as_bytes(), after))
        });
        let message_ids = self.rows.iter().filter_map(|row| row.message_id.as_deref());
        WantedMail::to_recipients(by_time).and_message_ids(message_ids)
    }

    /// Reads an export. Columns are detected from the header unless
    /// `overrides` names them; times without an offset are read in `zone`.
    pub fn from_reader<R: Read>(
        reader: R,
        overrides: &ColumnOverrides,
        zone: Tz,
    ) -> Result<TicketExport, ExportError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| ExportError::Csv(csv_error(&e)))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_string())
            .collect();
        let header_list = headers.join(", ");
        let mut index: HashMap<&'static str, usize> = HashMap::new();
        for (role, name) in &overrides.names {
            let wanted = normalise_header(name);
            let Some(position) = headers
                .iter()
                .position(|h| h == name || normalise_header(h) == wanted)
            else {
                return Err(ExportError::NoSuchColumn {
                    role,
                    name: name.clone(),
                    headers: header_list,
                });
            };
            index.insert(role, position);
        }
        let normalised: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
        for (role, names) in CANDIDATES {
            if index.contains_key(role) {
                continue;
            }
            let taken: Vec<usize> = index.values().copied().collect();
            let found = names.iter().find_map(|candidate| {
                normalised
                    .iter()
                    .enumerate()
                    .find(|(i, h)| h == candidate && !taken.contains(i))
                    .map(|(i, _)| i)
            });
            if let Some(position) = found {
                index.insert(role, position);
            }
        }
        let Some(&ticket) = index.get("ticket") else {
            return Err(ExportError::MissingColumns(
                "no ticket column".to_string(),
                header_list,
            ));
        };
        let column = |role: &str| index.get(role).copied();
        let (message_id, recipient, sent_at, subject) = (
            column("message_id"),
            column("recipient"),
            column("sent_at"),
            column("subject"),
        );
        if message_id.is_none() && (recipient.is_none() || sent_at.is_none()) {
            let missing = match (recipient, sent_at) {
                (None, None) => "recipient and sent time",
                (None, Some(_)) => "recipient",
                _ => "sent time",
            };
            return Err(ExportError::MissingColumns(
                format!("no Message-ID column and no {missing} column to join on"),
                header_list,
            ));
        }
        let name = |i: Option<usize>| i.map(|i| headers[i].clone());
        let columns = ExportColumns {
            ticket: headers[ticket].clone(),
            message_id: name(message_id),
            recipient: name(recipient),
            sent_at: name(sent_at),
            subject: name(subject),
        };
        let mut rows = Vec::new();
        let mut skipped_without_ticket = 0;
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(ExportError::Csv(csv_error(&e))),
            }
            let line = record.position().map_or(0, |p| p.line());
            let cell = |i: Option<usize>| {
                i.and_then(|i| record.get(i))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
            };
            let Some(ticket) = cell(Some(ticket)) else {
                skipped_without_ticket += 1;
                continue;
            };
            let sent = match cell(sent_at) {
                Some(value) => {
                    Some(
                        parse_sent_time(value, zone).ok_or_else(|| ExportError::BadTime {
                            line,
                            value: value.to_string(),
                        })?,
                    )
                }
                None => None,
            };
            rows.push(ExportRow {
                line,
                ticket: ticket.to_string(),
                message_id: cell(message_id).map(normalise_message_id),
                recipient: cell(recipient).map(normalise_address),
                sent_at: sent,
                subject: cell(subject).map(str::to_string),
            });
        }
        Ok(TicketExport {
            rows,
            columns,
            skipped_without_ticket,
        })
    }
}

fn csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "line {}: not UTF-8 text",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Io(e) => e.to_string(),
        _ => error.to_string(),
    }
}

/// Message-IDs compare without angle brackets and case-insensitively.
pub fn normalise_message_id(text: &str) -> String {
    text.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// Addresses compare without angle brackets and case-insensitively.
pub fn normalise_address(text: &str) -> String {
    let text = text.trim();
    // `Name <addr>` keeps the address.
    let text = match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => &text[start + 1..end],
        _ => text,
    };
    text.trim().to_lowercase()
}

/// Parses a sent time: RFC 3339, `YYYY-MM-DD HH:MM[:SS[.fff]]` (with `T` or
/// a space, optionally followed by an offset such as `+0200`) in `zone`, or
/// Unix seconds. In a fold the earlier instant is taken.
pub fn parse_sent_time(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Some(utc) = text.strip_suffix(" UTC").or_else(|| text.strip_suffix('Z')) {
        return parse_naive(utc).map(|t| Utc.from_utc_datetime(&t));
    }
    if !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0));
    }
    let naive = parse_naive(text)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

/// How close is close enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinOptions {
    /// The largest gap between the export's sent time and the log's
    /// reception time for a recipient + time match.
    pub tolerance: Duration,
    /// Two candidates whose gaps differ by at most this are *about equally
    /// near*.
    pub margin: Duration,
}

impl Default for JoinOptions {
    /// 5 minutes tolerance, 5 seconds margin.
    fn default() -> JoinOptions {
        JoinOptions {
            tolerance: Duration::minutes(5),
            margin: Duration::seconds(5),
        }
    }
}

/// What became of one export row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportStatus {
    /// Matched by Message-ID.
    MessageId,
    /// Matched by recipient and time.
    RecipientTime,
    /// Two or more log rows were about equally near.
    Ambiguous,
    /// No log row found (or every candidate went to a nearer export row).
    Unmatched,
}

/// Join quality on the export's side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportQuality {
    /// Export rows with a ticket.
    pub rows: usize,
    /// Export rows skipped because their ticket cell was empty.
    pub skipped_without_ticket: usize,
    /// Matched by Message-ID.
    pub matched_message_id: usize,
    /// Matched by recipient and time.
    pub matched_recipient_time: usize,
    /// Ambiguous.
    pub ambiguous: usize,
    /// Not found in the log.
    pub unmatched: usize,
    /// Of the unmatched, rows with neither a Message-ID nor recipient and
    /// sent time: they cannot be joined.
    pub without_join_keys: usize,
    /// CSV line numbers of the ambiguous rows.
    pub ambiguous_lines: Vec<u64>,
    /// CSV line numbers of the unmatched rows.
    pub unmatched_lines: Vec<u64>,
}

/// The result of a join.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    /// Per log row (same order as the rows given).
    pub rows: Vec<RowTicket>,
    /// Per export row (same order as the export).
    pub export: Vec<ExportStatus>,
    /// Counts.
    pub quality: ExportQuality,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Taken,
    Ambiguous,
}

/// Subjects agree when equal, or when the logged one contains the
/// export's (an export may hold the ticket title only), ignoring case,
/// spacing and `Re:`/`Fwd:` prefixes.
pub fn subjects_agree(logged: &str, exported: &str) -> bool {
    fn normal(text: &str) -> String {
        let mut text = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        loop {
            let stripped = ["re:", "fw:", "fwd:", "aw:", "wg:", "sv:"]
                .iter()
                .find_map(|p| text.strip_prefix(p))
                .map(|rest| rest.trim_start().to_string());
            match stripped {
                Some(rest) => text = rest,
                None => return text,
            }
        }
    }
    let (logged, exported) = (normal(logged), normal(exported));
    !exported.is_empty()
        && (logged == exported || (exported.chars().count() >= 4 && logged.contains(&exported)))
}

/// Joins an export with log rows (see the module documentation).
pub fn join(export: &TicketExport, rows: &[RecipientOutcome], options: &JoinOptions) -> Joined {
    let mut row_ticket = vec![RowTicket::None; rows.len()];
    let mut status = vec![ExportStatus::Unmatched; export.rows.len()];
    let eligible = |row: &RecipientOutcome| !row.is_notification;

    // 1. Message-ID.
    let mut by_message_id: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, row) in rows.iter().enumerate().filter(|(_, r)| eligible(r)) {
        if let Some(id) = &row.message_id {
            by_message_id
                .entry(normalise_message_id(&id.to_str_lossy()))
                .or_default()
                .push(index);
        }
    }
    let mut claimed = vec![false; rows.len()];
    for (e, entry) in export.rows.iter().enumerate() {
        let Some(found) = entry.message_id.as_ref().and_then(|m| by_message_id.get(m)) else {
            continue;
        };
        let for_recipient: Vec<usize> = found
            .iter()
            .copied()
            .filter(|&l| {
                entry
                    .recipient
                    .as_ref()
                    .is_some_and(|r| normalise_address(&rows[l].recipient.to_str_lossy()) == *r)
            })
            .collect();
        let targets = if for_recipient.is_empty() {
            found.clone()
        } else {
            for_recipient
        };
        for l in targets {
            claimed[l] = true;
            row_ticket[l] = match &row_ticket[l] {
                RowTicket::None => RowTicket::Found {
                    ticket: entry.ticket.clone(),
                    source: TicketSource::MessageId,
                },
                RowTicket::Found { ticket, .. } if *ticket == entry.ticket => row_ticket[l].clone(),
                // Two export rows give one message two tickets.
                _ => RowTicket::Ambiguous,
            };
        }
        status[e] = ExportStatus::MessageId;
    }

    // 2. Recipient and time.
    let time_of = |row: &RecipientOutcome| row.received_at.or(row.first_failure_at);
    // Each recipient's rows by time: an export row looks only at those
    // within the tolerance of its sent time, not at all of them (a busy
    // address has tens of thousands).
    let mut by_recipient: HashMap<String, Vec<(DateTime<Utc>, usize)>> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        if !eligible(row) || claimed[index] {
            continue;
        }
        if let Some(at) = time_of(row) {
            by_recipient
                .entry(normalise_address(&row.recipient.to_str_lossy()))
                .or_default()
                .push((at, index));
        }
    }
    for rows in by_recipient.values_mut() {
        rows.sort_unstable();
    }
    // (gap, export row, log row)
    let mut pairs: Vec<(Duration, usize, usize)> = Vec::new();
    for (e, entry) in export.rows.iter().enumerate() {
        if status[e] != ExportStatus::Unmatched {
            continue;
        }
        let (Some(recipient), Some(sent)) = (&entry.recipient, entry.sent_at) else {
            continue;
        };
        let candidates = by_recipient.get(recipient).map_or(&[][..], Vec::as_slice);
        let (from, to) = (
            earlier_by(sent, options.tolerance),
            later_by(sent, options.tolerance),
        );
        let start = candidates.partition_point(|&(at, _)| at < from);
        let end = candidates.partition_point(|&(at, _)| at <= to);
        for &(at, l) in &candidates[start..end] {
            if entry.message_id.is_some() && rows[l].message_id.is_some() {
                continue;
            }
            pairs.push(((at - sent).abs(), e, l));
        }
    }
    pairs.sort();
    let mut of_export: HashMap<usize, Vec<(Duration, usize)>> = HashMap::new();
    let mut of_log: HashMap<usize, Vec<(Duration, usize)>> = HashMap::new();
    for &(gap, e, l) in &pairs {
        of_export.entry(e).or_default().push((gap, l));
        of_log.entry(l).or_default().push((gap, e));
    }
    let mut export_state = vec![State::Free; export.rows.len()];
    let mut log_state = vec![State::Free; rows.len()];
    let agree = |e: usize, l: usize| match (&export.rows[e].subject, &rows[l].subject) {
        (Some(exported), Some(logged)) => subjects_agree(&logged.to_str_lossy(), exported),
        _ => false,
    };
    for &(gap, e, l) in &pairs {
        if export_state[e] != State::Free || log_state[l] != State::Free {
            continue;
        }
        let limit = gap + options.margin;
        let rival_logs: Vec<usize> = of_export[&e]
            .iter()
            .filter(|&&(g, l2)| l2 != l && g <= limit && log_state[l2] == State::Free)
            .map(|&(_, l2)| l2)
            .collect();
        let rival_exports: Vec<usize> = of_log[&l]
            .iter()
            .filter(|&&(g, e2)| e2 != e && g <= limit && export_state[e2] == State::Free)
            .map(|&(_, e2)| e2)
            .collect();
        let take = if rival_logs.is_empty() && rival_exports.is_empty() {
            Some(true)
        } else {
            let rivals_agree = rival_logs.iter().any(|&l2| agree(e, l2))
                || rival_exports.iter().any(|&e2| agree(e2, l));
            match (agree(e, l), rivals_agree) {
                (true, false) => Some(true),
                // A rival agrees: it is taken when its turn comes.
                (false, true) => Some(false),
                _ => None,
            }
        };
        match take {
            Some(true) => {
                export_state[e] = State::Taken;
                log_state[l] = State::Taken;
                status[e] = ExportStatus::RecipientTime;
                row_ticket[l] = RowTicket::Found {
                    ticket: export.rows[e].ticket.clone(),
                    source: TicketSource::RecipientTime,
                };
            }
            Some(false) => {}
            None => {
                export_state[e] = State::Ambiguous;
                log_state[l] = State::Ambiguous;
                for l2 in rival_logs {
                    log_state[l2] = State::Ambiguous;
                }
                for e2 in rival_exports {
                    export_state[e2] = State::Ambiguous;
                }
            }
        }
    }
    for (e, state) in export_state.iter().enumerate() {
        if *state == State::Ambiguous {
            status[e] = ExportStatus::Ambiguous;
        }
    }
    for (l, state) in log_state.iter().enumerate() {
        if *state == State::Ambiguous {
            row_ticket[l] = RowTicket::Ambiguous;
        }
    }

    let mut quality = ExportQuality {
        rows: export.rows.len(),
        skipped_without_ticket: export.skipped_without_ticket,
        ..ExportQuality::default()
    };
    for (entry, status) in export.rows.iter().zip(&status) {
        match status {
            ExportStatus::MessageId => quality.matched_message_id += 1,
            ExportStatus::RecipientTime => quality.matched_recipient_time += 1,
            ExportStatus::Ambiguous => {
                quality.ambiguous += 1;
                quality.ambiguous_lines.push(entry.line);
            }
            ExportStatus::Unmatched => {
                quality.unmatched += 1;
                quality.unmatched_lines.push(entry.line);
                let keyed = entry.message_id.is_some()
                    || (entry.recipient.is_some() && entry.sent_at.is_some());
                if !keyed {
                    quality.without_join_keys += 1;
                }
            }
        }
    }
    Joined {
        rows: row_ticket,
        export: status,
        quality,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use bstr::BString;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn row(
        recipient: &str,
        received: &str,
        message_id: Option<&str>,
        subject: Option<&str>,
    ) -> RecipientOutcome {
        RecipientOutcome {
            host: BString::from(""),
            queue_id: BString::from("q"),
            mta: mailtrail_parse::Mta::Exim,
            received_at: Some(at(received)),
            message_id: message_id.map(BString::from),
            sender: Some(BString::from("helpdesk@example.com")),
            subject: subject.map(BString::from),
            headers: Vec::new(),
            recipient: BString::from(recipient),
            outcome: Outcome::Bounced,
            last_failure: None,
            first_failure_at: None,
            last_attempt_at: None,
            attempts: 1,
            failure_times: Vec::new(),
            reason: None,
            is_notification: false,
        }
    }

    fn export(csv: &str) -> TicketExport {
        TicketExport::from_reader(csv.as_bytes(), &ColumnOverrides::default(), Tz::UTC).unwrap()
    }

    fn tickets(joined: &Joined) -> Vec<Option<&str>> {
        joined.rows.iter().map(|t| t.ticket()).collect()
    }

    #[test]
    fn a_gap_of_exactly_the_tolerance_joins_and_a_second_more_does_not() {
        let rows = vec![
            row("a@example.net", "2024-10-19T20:05:00Z", None, None),
            row("b@example.net", "2024-10-19T19:54:59Z", None, None),
            row("c@example.net", "2024-10-19T19:55:00Z", None, None),
            row("d@example.net", "2024-10-19T20:05:01Z", None, None),
        ];
        let csv = "Ticket,To,Sent\n\
            A,a@example.net,2024-10-19T20:00:00Z\n\
            B,b@example.net,2024-10-19T20:00:00Z\n\
            C,c@example.net,2024-10-19T20:00:00Z\n\
            D,d@example.net,2024-10-19T20:00:00Z\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(tickets(&joined), [Some("A"), None, Some("C"), None]);
    }

    #[test]
    fn columns_are_detected_and_overridable() {
        let csv = "Ticket ID,To,Sent,Subject,Message-ID\n42,Bob <BOB@example.net>,2024-10-19 20:02:45,Hi,<A@B>\n";
        let e = export(csv);
        assert_eq!(e.columns.ticket, "Ticket ID");
        assert_eq!(e.columns.recipient.as_deref(), Some("To"));
        assert_eq!(e.columns.sent_at.as_deref(), Some("Sent"));
        assert_eq!(e.columns.message_id.as_deref(), Some("Message-ID"));
        assert_eq!(e.rows[0].recipient.as_deref(), Some("bob@example.net"));
        assert_eq!(e.rows[0].message_id.as_deref(), Some("a@b"));
        assert_eq!(e.rows[0].sent_at, Some(at("2024-10-19T20:02:45Z")));
        assert_eq!(e.rows[0].line, 2);

        let csv = "Card,Customer,When\nC-1,bob@example.net,1729368165\n";
        let overrides =
            ColumnOverrides::parse("ticket=Card, recipient=customer ,sent_at=When").unwrap();
        let e = TicketExport::from_reader(csv.as_bytes(), &overrides, Tz::UTC).unwrap();
        assert_eq!(e.rows[0].ticket, "C-1");
        assert_eq!(e.rows[0].sent_at, Some(at("2024-10-19T20:02:45Z")));
    }

    #[test]
    fn bad_exports_name_the_problem() {
        let err = |csv: &str, spec: &str| {
            let overrides = match ColumnOverrides::parse(spec) {
                Ok(o) => o,
                Err(e) => return e.to_string(),
            };
            TicketExport::from_reader(csv.as_bytes(), &overrides, Tz::UTC)
                .unwrap_err()
                .to_string()
        };
        let e = err("Foo,Bar\n1,2\n", "");
        assert!(e.starts_with("no ticket column (columns: Foo, Bar)"), "{e}");
        let e = err("Ticket,Recipient\n1,a@b\n", "");
        assert!(
            e.contains("no Message-ID column and no sent time column"),
            "{e}"
        );
        let e = err("Ticket,Message-ID\n1,a@b\n", "ticket=Nope");
        assert!(e.contains("no column 'Nope' for ticket"), "{e}");
        let e = err("Ticket,Message-ID\n1,a@b\n", "card=Ticket");
        assert!(e.contains("unknown role 'card'"), "{e}");
        let e = err("Ticket,Recipient,Sent\n1,a@b,yesterday\n", "");
        assert!(
            e.starts_with("line 2: sent time 'yesterday' is not a time"),
            "{e}"
        );
    }

    #[test]
    fn sent_times_in_many_forms() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let want = at("2024-10-19T20:02:45Z");
        for text in [
            "2024-10-19T22:02:45+02:00",
            "2024-10-19 22:02:45",
            "2024-10-19T22:02:45",
            "2024-10-19 20:02:45 +0000",
            "2024-10-19 20:02:45Z",
            "2024-10-19 20:02:45 UTC",
            "1729368165",
        ] {
            assert_eq!(parse_sent_time(text, berlin), Some(want), "{text}");
        }
        assert_eq!(parse_sent_time("19/10/2024", berlin), None);
    }

    #[test]
    fn message_id_wins_then_nearest_time() {
        let rows = vec![
            row(
                "bob@example.net",
                "2024-10-19T20:02:46Z",
                Some("t-1@h"),
                None,
            ),
            row("bob@example.net", "2024-10-19T21:00:00Z", None, None),
            row("carol@example.net", "2024-10-19T21:00:00Z", None, None),
        ];
        let csv = "ticket,message_id,recipient,sent_at\n\
            T1,<T-1@h>,bob@example.net,2024-10-19 20:02:45\n\
            T2,,bob@example.net,2024-10-19 20:58:30\n\
            T3,,carol@example.net,2024-10-19 21:06:00\n\
            T4,,dave@example.net,2024-10-19 21:00:00\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(tickets(&joined), [Some("T1"), Some("T2"), None]);
        assert_eq!(
            joined.export,
            [
                ExportStatus::MessageId,
                ExportStatus::RecipientTime,
                ExportStatus::Unmatched,
                ExportStatus::Unmatched
            ]
        );
        assert_eq!(joined.quality.unmatched_lines, [4, 5]);
    }

    #[test]
    fn equally_near_candidates_are_ambiguous_unless_the_subject_decides() {
        // One message, two export rows 3 seconds apart: no guess.
        let rows = vec![row(
            "bob@example.net",
            "2024-10-19T20:00:01Z",
            None,
            Some("[#1] Printer"),
        )];
        let csv = "ticket,recipient,sent_at\n1,bob@example.net,2024-10-19 20:00:00\n2,bob@example.net,2024-10-19 20:00:03\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(joined.rows, [RowTicket::Ambiguous]);
        assert_eq!(
            joined.export,
            [ExportStatus::Ambiguous, ExportStatus::Ambiguous]
        );
        assert_eq!(joined.quality.ambiguous_lines, [2, 3]);

        // The same with subjects: the logged subject decides.
        let csv = "ticket,recipient,sent_at,subject\n1,bob@example.net,2024-10-19 20:00:00,Re: [#1] Printer\n2,bob@example.net,2024-10-19 20:00:03,[#2] VPN\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(tickets(&joined), [Some("1")]);
        assert_eq!(
            joined.export,
            [ExportStatus::RecipientTime, ExportStatus::Unmatched]
        );

        // Far enough apart: the nearer one wins without a subject.
        let csv = "ticket,recipient,sent_at\n1,bob@example.net,2024-10-19 20:00:00\n2,bob@example.net,2024-10-19 20:00:30\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(tickets(&joined), [Some("1")]);

        // Two messages and one export row between them.
        let rows = vec![
            row("bob@example.net", "2024-10-19T20:00:00Z", None, None),
            row("bob@example.net", "2024-10-19T20:00:04Z", None, None),
        ];
        let csv = "ticket,recipient,sent_at\n1,bob@example.net,2024-10-19 20:00:02\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(joined.rows, [RowTicket::Ambiguous, RowTicket::Ambiguous]);
    }

    #[test]
    fn a_different_message_id_is_never_joined_by_time() {
        let rows = vec![row(
            "bob@example.net",
            "2024-10-19T20:00:00Z",
            Some("other@h"),
            None,
        )];
        let csv =
            "ticket,message_id,recipient,sent_at\n1,<mine@h>,bob@example.net,2024-10-19 20:00:00\n";
        let joined = join(&export(csv), &rows, &JoinOptions::default());
        assert_eq!(joined.rows, [RowTicket::None]);
        assert_eq!(joined.export, [ExportStatus::Unmatched]);
    }

    #[test]
    fn subjects() {
        assert!(subjects_agree(
            "Re: [#2410-0092] Outlook",
            "[#2410-0092] outlook"
        ));
        assert!(subjects_agree(
            "Re: [#2410-0092] Outlook keeps asking",
            "Outlook keeps asking"
        ));
        assert!(!subjects_agree(
            "Re: [#2410-0092] Outlook",
            "[#2410-0093] Outlook"
        ));
        assert!(!subjects_agree("Anything", ""));
    }
}
