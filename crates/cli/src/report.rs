//! Report rows and the formats they are written in.

use std::borrow::Cow;
use std::io::{self, Write};

use bstr::ByteSlice;
use chrono::{DateTime, Datelike, Offset, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use mailtrail_analysis::classify::Classification;
use mailtrail_analysis::{Finding, RecipientOutcome};
use rayon::prelude::*;
use serde::Serialize;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for reading on a terminal.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON document: `{"metadata": …, "rows": […]}`.
    Json,
    /// Newline-delimited JSON: a metadata line, then one object per row.
    Ndjson,
}

/// The classification columns of a row.
#[derive(Clone, Debug, Default)]
struct ClassColumns<'a> {
    category: Option<&'static str>,
    blocklist: Option<&'a str>,
    listed_ip: Option<String>,
}

impl<'a> From<Option<&'a Classification>> for ClassColumns<'a> {
    fn from(class: Option<&'a Classification>) -> ClassColumns<'a> {
        match class {
            Some(c) => ClassColumns {
                category: Some(c.category.as_str()),
                blocklist: c.blocklist.as_deref(),
                listed_ip: c.listed_ip.map(|ip| ip.to_string()),
            },
            None => ClassColumns::default(),
        }
    }
}

/// One report row, in the documented column order. Text borrows from the
/// outcome it was made from: rows are made by the hundred thousand, and
/// copying each cell was most of the cost of writing them.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow<'a> {
    pub received_at: Option<String>,
    pub host: Cow<'a, str>,
    pub queue_id: Cow<'a, str>,
    pub message_id: Option<Cow<'a, str>>,
    pub sender: Option<Cow<'a, str>>,
    pub recipient: Cow<'a, str>,
    pub outcome: &'static str,
    pub category: Option<&'static str>,
    pub smtp_code: Option<u16>,
    pub enhanced_code: Option<String>,
    pub blocklist: Option<&'a str>,
    pub listed_ip: Option<String>,
    pub remote_host: Option<Cow<'a, str>>,
    pub remote_ip: Option<Cow<'a, str>>,
    pub first_failure_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub attempts: u32,
    pub reason: Option<Cow<'a, str>>,
    pub subject: Option<Cow<'a, str>>,
    pub ticket: Option<&'a str>,
}

/// Formats an instant as RFC 3339 to the second, with the offset of `zone`
/// (`2024-10-20T13:42:20+02:00`).
pub fn format_time(t: DateTime<Utc>, zone: Tz) -> String {
    let local = t.with_timezone(&zone);
    let offset = local.offset().fix().local_minus_utc();
    // Each field of a `DateTime<Tz>` adds the offset anew: fields are read
    // from the local time, once.
    let naive = local.naive_local();
    let year = naive.year();
    // chrono's general formatter cost a third of making a report row, which
    // has three times; it still writes what this does not: years of other
    // than four digits, offsets with seconds (local mean time before 1900).
    if !(0..=9999).contains(&year) || offset % 60 != 0 {
        return local.to_rfc3339_opts(SecondsFormat::Secs, false);
    }
    let minutes = offset.unsigned_abs() / 60;
    let year = year as u32;
    let mut out = String::with_capacity(25);
    push_two_digits(&mut out, year / 100);
    push_two_digits(&mut out, year % 100);
    for (separator, value) in [
        ('-', naive.month()),
        ('-', naive.day()),
        ('T', naive.hour()),
        (':', naive.minute()),
        (':', naive.second()),
        (if offset < 0 { '-' } else { '+' }, minutes / 60),
        (':', minutes % 60),
    ] {
        out.push(separator);
        push_two_digits(&mut out, value);
    }
    out
}

/// Appends `value` (below 100) as two digits.
fn push_two_digits(out: &mut String, value: u32) {
    out.push(char::from(b'0' + (value / 10) as u8));
    out.push(char::from(b'0' + (value % 10) as u8));
}

/// Bytes as text, invalid UTF-8 replaced; borrowed when valid.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    bytes.to_str_lossy()
}

fn opt_text(bytes: Option<&bstr::BString>) -> Option<Cow<'_, str>> {
    bytes.map(|b| text(b)).filter(|s| !s.is_empty())
}

impl<'a> ReportRow<'a> {
    /// The row of a finding, with times in `zone`.
    pub fn of_finding(finding: &'a Finding, zone: Tz) -> ReportRow<'a> {
        ReportRow::new(
            &finding.outcome,
            ClassColumns::from(finding.class.as_deref()),
            finding.ticket.as_deref(),
            zone,
        )
    }

    fn new(
        row: &'a RecipientOutcome,
        class: ClassColumns<'a>,
        ticket: Option<&'a str>,
        zone: Tz,
    ) -> ReportRow<'a> {
        let failure = row.last_failure.as_ref();
        let reply = row.reply();
        let sender = row.sender.as_ref().map(|s| {
            if s.is_empty() {
                Cow::Borrowed("<>")
            } else {
                text(s)
            }
        });
        ReportRow {
            received_at: row.received_at.map(|t| format_time(t, zone)),
            host: text(&row.host),
            queue_id: text(&row.queue_id),
            message_id: opt_text(row.message_id.as_ref()),
            sender,
            recipient: text(&row.recipient),
            outcome: row.outcome.name(),
            category: class.category,
            smtp_code: reply.code,
            enhanced_code: reply.enhanced.map(|e| e.to_string()),
            blocklist: class.blocklist,
            listed_ip: class.listed_ip,
            remote_host: opt_text(failure.and_then(|f| f.remote_host.as_ref())),
            remote_ip: opt_text(failure.and_then(|f| f.remote_ip.as_ref())),
            first_failure_at: row.first_failure_at.map(|t| format_time(t, zone)),
            last_attempt_at: row.last_attempt_at.map(|t| format_time(t, zone)),
            attempts: row.attempts,
            reason: opt_text(row.reason.as_ref()).map(one_line),
            subject: opt_text(row.subject.as_ref()).map(one_line),
            ticket,
        }
    }
}

/// Reasons may hold multi-line SMTP replies; a report cell is one line.
fn one_line(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.as_bytes().find_byteset(b"\r\n").is_none() {
        return text;
    }
    Cow::Owned(text.replace("\r\n", " ").replace(['\n', '\r'], " "))
}

/// The rows of a report, made one at a time.
pub trait RowSource: Sync {
    /// The number of rows.
    fn count(&self) -> usize;

    /// Calls `f` with row `index`.
    fn with_row<T>(&self, index: usize, f: impl FnOnce(&ReportRow<'_>) -> T) -> T;
}

/// Writes the rows of `rows`, in `format`, without holding them all
/// (except for a table, whose columns are as wide as their widest cell).
/// CSV and NDJSON rows are made and formatted in batches on `pool` and
/// written in order. `metadata` goes into the document for JSON formats;
/// for table and CSV the caller prints it to stderr.
pub fn write_rows<W: Write, M: Serialize>(
    out: &mut W,
    format: Format,
    rows: &impl RowSource,
    metadata: &M,
    pool: &rayon::ThreadPool,
) -> io::Result<()> {
    let count = rows.count();
    match format {
        Format::Csv => {
            let mut header = csv::Writer::from_writer(&mut *out);
            header.write_record(COLUMNS)?;
            header.flush()?;
            drop(header);
            write_in_batches(out, pool, count, |batch, buffer| {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(buffer);
                for index in batch {
                    rows.with_row(index, |row| writer.serialize(row))
                        .map_err(csv_to_io)?;
                }
                writer.flush()
            })
        }
        Format::Json => write_json_document(out, metadata, &AllRows(rows)),
        Format::Ndjson => {
            // The metadata line alone; the rows follow in batches.
            write_ndjson(out, metadata, std::iter::empty::<ReportRow<'_>>())?;
            write_in_batches(out, pool, count, |batch, buffer| {
                for index in batch {
                    rows.with_row(index, |row| serde_json::to_writer(&mut *buffer, row))?;
                    buffer.push(b'\n');
                }
                Ok(())
            })
        }
        Format::Table => {
            let cells: Vec<[String; 9]> = (0..count)
                .map(|index| rows.with_row(index, table_cells))
                .collect();
            write_table(out, &cells)
        }
    }
}

/// Rows per batch formatted on one thread.
const BATCH_ROWS: usize = 4096;

/// Formats rows `0..count` in batches on `pool`, a few batches per thread
/// at a time, and writes them in order.
fn write_in_batches<W: Write>(
    out: &mut W,
    pool: &rayon::ThreadPool,
    count: usize,
    format: impl Fn(std::ops::Range<usize>, &mut Vec<u8>) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let round = BATCH_ROWS * 4 * pool.current_num_threads();
    for start in (0..count).step_by(round) {
        let end = (start + round).min(count);
        let firsts: Vec<usize> = (start..end).step_by(BATCH_ROWS).collect();
        let buffers: Vec<io::Result<Vec<u8>>> = pool.install(|| {
            firsts
                .into_par_iter()
                .map(|first| {
                    let mut buffer = Vec::new();
                    format(first..(first + BATCH_ROWS).min(end), &mut buffer)?;
                    Ok(buffer)
                })
                .collect()
        });
        for buffer in buffers {
            out.write_all(&buffer?)?;
        }
    }
    Ok(())
}

/// Serialises the rows of a [`RowSource`] as a JSON array, making one row
/// at a time.
struct AllRows<'s, S>(&'s S);

impl<S: RowSource> Serialize for AllRows<'_, S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        use serde::ser::SerializeSeq;
        let count = self.0.count();
        let mut seq = serializer.serialize_seq(Some(count))?;
        for index in 0..count {
            self.0.with_row(index, |row| seq.serialize_element(row))?;
        }
        seq.end()
    }
}

/// Writes one JSON document: `{"metadata": …, "rows": […]}`.
pub fn write_json_document<W: Write, M: Serialize, R: Serialize + ?Sized>(
    out: &mut W,
    metadata: &M,
    rows: &R,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a, M, R: ?Sized> {
        metadata: &'a M,
        rows: &'a R,
    }
    serde_json::to_writer_pretty(&mut *out, &Document { metadata, rows })?;
    writeln!(out)
}

/// Writes newline-delimited JSON: a `{"metadata": …}` line, then one line
/// per row.
pub fn write_ndjson<W: Write, M: Serialize, R: Serialize>(
    out: &mut W,
    metadata: &M,
    rows: impl IntoIterator<Item = R>,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Header<'a, M> {
        metadata: &'a M,
    }
    serde_json::to_writer(&mut *out, &Header { metadata })?;
    writeln!(out)?;
    for row in rows {
        serde_json::to_writer(&mut *out, &row)?;
        writeln!(out)?;
    }
    Ok(())
}

pub(crate) fn csv_to_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// The CSV header, in order.
pub const COLUMNS: [&str; 20] = [
    "received_at",
    "host",
    "queue_id",
    "message_id",
    "sender",
    "recipient",
    "outcome",
    "category",
    "smtp_code",
    "enhanced_code",
    "blocklist",
    "listed_ip",
    "remote_host",
    "remote_ip",
    "first_failure_at",
    "last_attempt_at",
    "attempts",
    "reason",
    "subject",
    "ticket",
];

/// The cells of a row that a table shows (see [`write_table`]).
fn table_cells(r: &ReportRow<'_>) -> [String; 9] {
    let code = match (&r.smtp_code, &r.enhanced_code) {
        (Some(c), Some(e)) => format!("{c} {e}"),
        (Some(c), None) => c.to_string(),
        (None, Some(e)) => e.clone(),
        (None, None) => String::new(),
    };
    let cell = |text: &Option<Cow<'_, str>>| text.as_deref().unwrap_or_default().to_string();
    [
        r.last_attempt_at
            .clone()
            .or_else(|| r.received_at.clone())
            .unwrap_or_default()
            .replace('T', " "),
        r.queue_id.to_string(),
        r.recipient.to_string(),
        r.outcome.to_string(),
        r.category.unwrap_or_default().to_string(),
        code,
        cell(&r.remote_host),
        r.ticket.unwrap_or_default().to_string(),
        cell(&r.reason),
    ]
}

/// A table of the columns a person scans first; the full set is in CSV
/// and JSON.
fn write_table<W: Write>(out: &mut W, cells: &[[String; 9]]) -> io::Result<()> {
    if cells.is_empty() {
        return writeln!(out, "(no matching recipients)");
    }
    let header = [
        "LAST ATTEMPT",
        "QUEUE ID",
        "RECIPIENT",
        "OUTCOME",
        "CATEGORY",
        "CODE",
        "REMOTE HOST",
        "TICKET",
        "REASON",
    ];
    let mut widths = header.map(str::len);
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // The reason takes what is left of the terminal width.
    let terminal_width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(200);
    let fixed: usize = widths[..8].iter().map(|w| w + 2).sum();
    widths[8] = widths[8].min(terminal_width.saturating_sub(fixed).max(30));
    let line = |out: &mut W, row: &[String]| -> io::Result<()> {
        let mut first = true;
        for (cell, width) in row.iter().zip(widths.iter()) {
            if !first {
                write!(out, "  ")?;
            }
            first = false;
            let shown: String = if cell.chars().count() > *width {
                let mut s: String = cell.chars().take(width.saturating_sub(1)).collect();
                s.push('…');
                s
            } else {
                cell.clone()
            };
            write!(out, "{shown:<width$}", width = *width)?;
        }
        writeln!(out)
    };
    line(out, &header.map(String::from))?;
    for row in cells {
        line(out, row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_chrono_formats_them() {
        // Whole, half and three-quarter hour offsets, both signs, zones with
        // and without summer time, and local mean time before 1900 (an
        // offset with seconds, left to chrono).
        let zones = [
            Tz::UTC,
            Tz::Europe__Berlin,
            Tz::America__New_York,
            Tz::America__St_Johns,
            Tz::Asia__Kolkata,
            Tz::Asia__Kathmandu,
            Tz::Australia__Lord_Howe,
            Tz::Pacific__Chatham,
        ];
        let first = DateTime::parse_from_rfc3339("1850-01-01T00:00:00Z").unwrap();
        let last = DateTime::parse_from_rfc3339("2100-01-01T00:00:00Z").unwrap();
        // A step that is not a whole number of minutes or days, so every
        // field takes many values.
        let step = 3 * 86_400 + 3_671;
        let mut seconds = first.timestamp();
        let mut compared = 0;
        while seconds < last.timestamp() {
            let t = DateTime::from_timestamp(seconds, 0).unwrap();
            for zone in zones {
                let expected = t
                    .with_timezone(&zone)
                    .to_rfc3339_opts(SecondsFormat::Secs, false);
                assert_eq!(format_time(t, zone), expected, "{t} in {zone}");
                compared += 1;
            }
            seconds += step;
        }
        assert!(compared > 100_000);
    }

    #[test]
    fn a_cell_is_one_line() {
        assert_eq!(one_line(Cow::Borrowed("a\r\nb\nc\rd")), "a b c d");
        assert!(matches!(
            one_line(Cow::Borrowed("plain")),
            Cow::Borrowed("plain")
        ));
    }
}
