//! Ticket options resolved before the work, the ticket step of the shared
//! selection, and how ticket assignment is described in the metadata.

use std::fs::File;

use anyhow::{Context, bail};
use chrono::Duration;
use mailtrail_analysis::join::{
    ColumnOverrides, ExportColumns, ExportQuality, JoinOptions, TicketExport,
};
use mailtrail_analysis::ticket_report::Delivery;
use mailtrail_analysis::tickets::{
    Assignment, RowTicket, TicketExtractor, TicketSource, assign_tickets,
};
use mailtrail_analysis::{Finding, RecipientOutcome};
use serde::Serialize;

use crate::args::TicketArgs;
use crate::pipeline::Settings;

/// Where tickets come from.
#[derive(Default)]
pub struct TicketSettings {
    pub extractor: TicketExtractor,
    /// The export and the name it was given as.
    pub export: Option<(String, TicketExport)>,
    pub join: JoinOptions,
}

impl TicketSettings {
    /// True when any ticket source was given.
    pub fn is_active(&self) -> bool {
        !self.extractor.is_empty() || self.export.is_some()
    }

    /// True when a row's ticket may depend on other rows: the export join
    /// matches its entries against every row of the input. Patterns look at
    /// one row at a time.
    pub fn joins_export(&self) -> bool {
        self.export.is_some()
    }

    /// A ticket for every row (all `None` when no source was given).
    pub fn assign(&self, rows: &[RecipientOutcome]) -> Assignment {
        if !self.is_active() {
            return Assignment {
                rows: vec![RowTicket::None; rows.len()],
                export: None,
            };
        }
        assign_tickets(
            rows,
            &self.extractor,
            self.export.as_ref().map(|(_, export)| (export, &self.join)),
        )
    }

    /// The metadata for the report rows `tickets`.
    pub fn meta(&self, export: Option<ExportQuality>, tickets: &[RowTicket]) -> Option<TicketMeta> {
        if !self.is_active() {
            return None;
        }
        let mut rows = RowQuality {
            rows: tickets.len(),
            ..RowQuality::default()
        };
        for ticket in tickets {
            match ticket {
                RowTicket::None => rows.without_ticket += 1,
                RowTicket::Ambiguous => rows.ambiguous += 1,
                RowTicket::Found { source, .. } => {
                    rows.with_ticket += 1;
                    match source {
                        TicketSource::MessageId => rows.by_message_id += 1,
                        TicketSource::Pattern => rows.by_pattern += 1,
                        TicketSource::RecipientTime => rows.by_recipient_time += 1,
                    }
                }
            }
        }
        Some(TicketMeta {
            patterns: self.extractor.labels(),
            export: self
                .export
                .as_ref()
                .zip(export)
                .map(|((name, e), quality)| ExportMeta {
                    file: name.clone(),
                    columns: e.columns.clone(),
                    tolerance_seconds: self.join.tolerance.num_seconds(),
                    margin_seconds: self.join.margin.num_seconds(),
                    quality,
                }),
            report_rows: rows,
        })
    }
}

impl Settings {
    /// Adds the ticket options; a bad pattern, preset, duration or export
    /// fails here, before any log is read. Export times without an offset
    /// are read in the report zone.
    pub fn with_tickets(mut self, args: &TicketArgs) -> anyhow::Result<Settings> {
        let mut extractor = TicketExtractor::new();
        for preset in args.ticket_preset.iter().filter(|p| !p.trim().is_empty()) {
            extractor.add_preset(preset).context("--ticket-preset")?;
        }
        for pattern in &args.ticket_pattern {
            extractor.add_pattern(pattern).context("--ticket-pattern")?;
        }
        let join = JoinOptions {
            tolerance: parse_duration(&args.join_tolerance).context("--join-tolerance")?,
            ..JoinOptions::default()
        };
        let overrides = match &args.tickets_columns {
            Some(_) if args.tickets.is_none() => {
                bail!("--tickets-columns needs --tickets FILE.csv")
            }
            Some(spec) => ColumnOverrides::parse(spec)?,
            None => ColumnOverrides::default(),
        };
        let export = match &args.tickets {
            Some(path) => {
                let name = path.display().to_string();
                let file =
                    File::open(path).with_context(|| format!("--tickets: cannot open {name}"))?;
                let export = TicketExport::from_reader(file, &overrides, self.report_zone)
                    .with_context(|| format!("--tickets {name}"))?;
                Some((name, export))
            }
            None => None,
        };
        self.tickets = TicketSettings {
            extractor,
            export,
            join,
        };
        Ok(self)
    }
}

/// `300`, `90s`, `5m`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(JoinOptions::default().tolerance);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => bail!("'{text}' is not a duration (e.g. 300, 90s, 5m, 1h)"),
        };
        let n: i64 = number
            .parse()
            .map_err(|_| anyhow::anyhow!("'{text}' is not a duration (e.g. 300, 90s, 5m, 1h)"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        total += number.parse::<i64>().context("duration too long")?;
    }
    Ok(Duration::seconds(total))
}

/// Ticket assignment in the metadata.
#[derive(Serialize)]
pub struct TicketMeta {
    /// Presets and patterns, in the order tried.
    pub patterns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportMeta>,
    /// How the report's rows got their tickets.
    pub report_rows: RowQuality,
}

#[derive(Serialize)]
pub struct ExportMeta {
    pub file: String,
    pub columns: ExportColumns,
    pub tolerance_seconds: i64,
    pub margin_seconds: i64,
    #[serde(flatten)]
    pub quality: ExportQuality,
}

#[derive(Serialize, Default)]
pub struct RowQuality {
    pub rows: usize,
    pub with_ticket: usize,
    pub by_message_id: usize,
    pub by_pattern: usize,
    pub by_recipient_time: usize,
    pub ambiguous: usize,
    pub without_ticket: usize,
}

impl TicketMeta {
    /// The ticket lines of the `# ` metadata on stderr.
    pub fn print(&self) {
        if let Some(export) = &self.export {
            let q = &export.quality;
            eprintln!(
                "# tickets export {}: {} row(s): {} matched by Message-ID, {} by recipient+time (±{}s), {} ambiguous, {} unmatched{}",
                export.file,
                q.rows,
                q.matched_message_id,
                q.matched_recipient_time,
                export.tolerance_seconds,
                q.ambiguous,
                q.unmatched,
                if q.ambiguous_lines.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; ambiguous at line(s) {}",
                        q.ambiguous_lines
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }
            );
        }
        let r = &self.report_rows;
        eprintln!(
            "# tickets: {} of {} report row(s) have a ticket ({} by Message-ID, {} by pattern, {} by recipient+time), {} ambiguous, {} without{}",
            r.with_ticket,
            r.rows,
            r.by_message_id,
            r.by_pattern,
            r.by_recipient_time,
            r.ambiguous,
            r.without_ticket,
            if self.patterns.is_empty() {
                String::new()
            } else {
                format!("; patterns: {}", self.patterns.join(", "))
            }
        );
    }
}

/// The report rows with their tickets, the deliveries of the whole input
/// that carry a ticket, and the ticket metadata.
pub struct Selection {
    pub findings: Vec<Finding>,
    pub deliveries: Vec<Delivery>,
    pub tickets: Option<TicketMeta>,
}

/// Writes the rows of the ticket commands: CSV of `cells` under `header`,
/// JSON `{"metadata", "rows"}` of the serialised rows, NDJSON, or a table
/// of the columns `table` picks from the cells.
pub fn write_report<W: std::io::Write, R: Serialize, M: Serialize>(
    out: &mut W,
    format: crate::report::Format,
    metadata: &M,
    rows: &[R],
    header: &[&str],
    cells: impl Fn(&R) -> Vec<String>,
    table: &[usize],
) -> std::io::Result<()> {
    use crate::report::Format;
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(&mut *out);
            writer.write_record(header)?;
            for row in rows {
                writer.write_record(cells(row))?;
            }
            writer.flush()
        }
        Format::Json => crate::report::write_json_document(out, metadata, rows),
        Format::Ndjson => crate::report::write_ndjson(out, metadata, rows),
        Format::Table => {
            if rows.is_empty() {
                return writeln!(out, "(nothing to list)");
            }
            let titles: Vec<String> = table
                .iter()
                .map(|&i| header[i].to_uppercase().replace('_', " "))
                .collect();
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let all = cells(r);
                    table.iter().map(|&i| table_cell(&all[i])).collect()
                })
                .collect();
            write_aligned(out, &titles, &body)
        }
    }
}

/// Aligned columns; the last one is not padded.
pub fn write_aligned<W: std::io::Write>(
    out: &mut W,
    header: &[String],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Times read better with a space than a `T`; lists with spaces.
fn table_cell(cell: &str) -> String {
    let b = cell.as_bytes();
    if b.len() >= 19 && b[10] == b'T' && b[..4].iter().all(u8::is_ascii_digit) {
        format!("{} {}", &cell[..10], &cell[11..])
    } else {
        cell.replace(';', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300").unwrap(), Duration::seconds(300));
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::minutes(5));
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::seconds(90));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
