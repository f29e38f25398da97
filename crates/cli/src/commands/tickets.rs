//! `mailtrail tickets`: one row per ticket whose mail failed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use mailtrail_analysis::ticket_report::{TicketSummary, ticket_summaries};
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, OutputArgs, TicketArgs, WindowArgs};
use crate::pipeline::{Metadata, Settings, finish, load_for_tickets, open_output};
use crate::report::{Format, format_time};
use crate::ticketing::write_report;

/// Options of `mailtrail tickets`.
#[derive(Args, Debug)]
pub struct TicketsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub tickets: TicketArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail tickets --ticket-preset hash-bracket --since '2024-10-19 18:00' --until '2024-10-20 13:00' mainlog
  mailtrail tickets --tickets export.csv --tickets-columns ticket=Key,recipient=To,sent_at=Sent mainlog*
  mailtrail tickets --ticket-pattern 'ticket-(?P<ticket>\\d{4}-\\d{4})' --format json mainlog";

/// One affected ticket, as reported.
#[derive(Serialize)]
struct TicketRow {
    ticket: String,
    /// `lost` when a recipient never got a later message for the ticket,
    /// else `recovered`.
    status: &'static str,
    recipients: Vec<String>,
    lost_recipients: Vec<String>,
    later_delivered: Vec<LaterDelivery>,
    messages: usize,
    outcomes: BTreeMap<&'static str, usize>,
    categories: BTreeMap<&'static str, usize>,
    first_failure_at: Option<String>,
    last_failure_at: Option<String>,
    queue_ids: Vec<String>,
}

#[derive(Serialize)]
struct LaterDelivery {
    recipient: String,
    queue_id: String,
    received_at: Option<String>,
}

const HEADER: [&str; 11] = [
    "ticket",
    "status",
    "recipients",
    "lost_recipients",
    "later_delivered",
    "messages",
    "outcomes",
    "categories",
    "first_failure_at",
    "last_failure_at",
    "queue_ids",
];

fn counts(map: &BTreeMap<&'static str, usize>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn cells(row: &TicketRow) -> Vec<String> {
    vec![
        row.ticket.clone(),
        row.status.to_string(),
        row.recipients.join(";"),
        row.lost_recipients.join(";"),
        row.later_delivered
            .iter()
            .map(|d| d.recipient.clone())
            .collect::<Vec<_>>()
            .join(";"),
        row.messages.to_string(),
        counts(&row.outcomes),
        counts(&row.categories),
        row.first_failure_at.clone().unwrap_or_default(),
        row.last_failure_at.clone().unwrap_or_default(),
        row.queue_ids.join(";"),
    ]
}

fn to_row(summary: &TicketSummary, zone: chrono_tz::Tz) -> TicketRow {
    let lost: Vec<String> = summary.lost().map(|r| r.recipient.clone()).collect();
    TicketRow {
        ticket: summary.ticket.clone(),
        status: if lost.is_empty() { "recovered" } else { "lost" },
        recipients: summary
            .recipients
            .iter()
            .map(|r| r.recipient.clone())
            .collect(),
        lost_recipients: lost,
        later_delivered: summary
            .recovered()
            .filter_map(|r| {
                let d = r.later_delivery.as_ref()?;
                Some(LaterDelivery {
                    recipient: r.recipient.clone(),
                    queue_id: d.queue_id.clone(),
                    received_at: d.received_at.map(|t| format_time(t, zone)),
                })
            })
            .collect(),
        messages: summary.messages,
        outcomes: summary
            .outcomes
            .iter()
            .map(|(o, n)| (o.name(), *n))
            .collect(),
        categories: summary
            .categories
            .iter()
            .map(|(c, n)| (c.as_str(), *n))
            .collect(),
        first_failure_at: summary.first_failure_at.map(|t| format_time(t, zone)),
        last_failure_at: summary.last_failure_at.map(|t| format_time(t, zone)),
        queue_ids: summary.queue_ids.clone(),
    }
}

#[derive(Serialize)]
struct TicketsMetadata {
    #[serde(flatten)]
    base: Metadata,
    tickets_affected: usize,
    tickets_lost: usize,
    tickets_recovered: usize,
    failed_rows_without_ticket: usize,
}

pub fn run(args: TicketsArgs) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::new(&args.input, &args.window, &args.filter)?.with_tickets(&args.tickets)?;
    if !settings.tickets.is_active() {
        bail!(
            "tickets: no ticket source; give --ticket-preset NAME, --ticket-pattern REGEX or --tickets FILE.csv"
        );
    }
    let (mut out, format) = open_output(&args.output)?;
    let (mut loaded, selection) = load_for_tickets(&args.input, &settings)?;
    let summaries = ticket_summaries(&selection.findings, &selection.deliveries);
    let rows: Vec<TicketRow> = summaries
        .iter()
        .map(|s| to_row(s, settings.report_zone))
        .collect();
    let without_ticket = selection
        .findings
        .iter()
        .filter(|f| f.ticket.is_none() && !f.outcome.is_notification)
        .count();
    let (mut base, failures) = Metadata::new(&mut loaded, &settings, &selection.findings);
    base.tickets = selection.tickets;
    let lost = rows.iter().filter(|r| r.status == "lost").count();
    let metadata = TicketsMetadata {
        base,
        tickets_affected: rows.len(),
        tickets_lost: lost,
        tickets_recovered: rows.len() - lost,
        failed_rows_without_ticket: without_ticket,
    };
    if matches!(format, Format::Table | Format::Csv) {
        metadata.base.print();
        eprintln!(
            "# {} ticket(s) affected: {} lost, {} recovered by a later delivery; {} failed row(s) without a ticket",
            metadata.tickets_affected,
            metadata.tickets_lost,
            metadata.tickets_recovered,
            metadata.failed_rows_without_ticket
        );
    }
    write_report(
        &mut out,
        format,
        &metadata,
        &rows,
        &HEADER,
        cells,
        &[0, 1, 8, 9, 5, 6, 7, 3, 4],
    )?;
    out.flush()?;
    finish(&failures)
}
