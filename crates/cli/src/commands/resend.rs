//! `mailtrail resend`: recipients it is safe to send a ticket's mail to
//! again, and the commands that retry mail still on the queue.

use std::collections::BTreeMap;
use std::process::ExitCode;

use bstr::ByteSlice;
use clap::Args;
use mailtrail_analysis::ticket_report::{ResendEntry, resend_list};
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, OutputArgs, TicketArgs, WindowArgs};
use crate::pipeline::{Metadata, Settings, finish, load_for_tickets, open_output};
use crate::report::{Format, format_time};
use crate::ticketing::write_report;

/// Options of `mailtrail resend`.
#[derive(Args, Debug)]
pub struct ResendArgs {
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
  mailtrail resend --ticket-preset hash-bracket --since '2024-10-19 18:00' --until '2024-10-20 13:00' mainlog
  mailtrail resend --tickets export.csv --format csv -o resend.csv mainlog mainlog.1.gz
  mailtrail resend --ticket-preset zammad --format csv mainlog | awk -F, '$3==\"retry\" {print $4}' | sh";

#[derive(Serialize)]
struct ResendRow {
    ticket: Option<String>,
    recipient: String,
    action: &'static str,
    command: Option<String>,
    queue_id: String,
    host: String,
    message_id: Option<String>,
    subject: Option<String>,
    outcome: &'static str,
    category: Option<String>,
    last_failure_at: Option<String>,
    failed_messages: usize,
    reason: Option<String>,
}

const HEADER: [&str; 13] = [
    "ticket",
    "recipient",
    "action",
    "command",
    "queue_id",
    "host",
    "message_id",
    "subject",
    "outcome",
    "category",
    "last_failure_at",
    "failed_messages",
    "reason",
];

fn text(bytes: Option<&bstr::BString>) -> Option<String> {
    bytes
        .map(|b| b.to_str_lossy().replace(['\r', '\n'], " "))
        .filter(|s| !s.is_empty())
}

fn to_row(entry: &ResendEntry, zone: chrono_tz::Tz) -> ResendRow {
    let row = &entry.finding.outcome;
    ResendRow {
        ticket: entry.ticket.clone(),
        recipient: entry.recipient.clone(),
        action: entry.action.name(),
        command: entry.command.clone(),
        queue_id: row.queue_id.to_str_lossy().into_owned(),
        host: row.host.to_str_lossy().into_owned(),
        message_id: text(row.message_id.as_ref()),
        subject: text(row.subject.as_ref()),
        outcome: row.outcome.name(),
        category: entry.finding.category().map(|c| c.to_string()),
        last_failure_at: row.failure_times.last().map(|t| format_time(*t, zone)),
        failed_messages: entry.failed_messages,
        reason: text(row.reason.as_ref()),
    }
}

fn cells(row: &ResendRow) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        o(&row.ticket),
        row.recipient.clone(),
        row.action.to_string(),
        o(&row.command),
        row.queue_id.clone(),
        row.host.clone(),
        o(&row.message_id),
        o(&row.subject),
        row.outcome.to_string(),
        o(&row.category),
        o(&row.last_failure_at),
        row.failed_messages.to_string(),
        o(&row.reason),
    ]
}

#[derive(Serialize)]
struct ResendMetadata {
    #[serde(flatten)]
    base: Metadata,
    resend: usize,
    retry: usize,
    /// (ticket, recipient) pairs left off, per reason.
    excluded: BTreeMap<&'static str, usize>,
}

pub fn run(args: ResendArgs) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::new(&args.input, &args.window, &args.filter)?.with_tickets(&args.tickets)?;
    let (mut out, format) = open_output(&args.output)?;
    let (mut loaded, selection) = load_for_tickets(&args.input, &settings)?;
    let list = resend_list(&selection.findings, &selection.deliveries);
    let rows: Vec<ResendRow> = list
        .entries
        .iter()
        .map(|e| to_row(e, settings.report_zone))
        .collect();
    let (mut base, failures) = Metadata::new(&mut loaded, &settings, &selection.findings);
    base.tickets = selection.tickets;
    let retry = rows.iter().filter(|r| r.action == "retry").count();
    let metadata = ResendMetadata {
        base,
        resend: rows.len() - retry,
        retry,
        excluded: list.excluded.iter().map(|(k, v)| (k.name(), *v)).collect(),
    };
    if matches!(format, Format::Table | Format::Csv) {
        metadata.base.print();
        let excluded: Vec<String> = metadata
            .excluded
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!(
            "# resend {}, retry {} (still queued); left off: {}",
            metadata.resend,
            metadata.retry,
            if excluded.is_empty() {
                "none".to_string()
            } else {
                excluded.join(", ")
            }
        );
    }
    write_report(
        &mut out,
        format,
        &metadata,
        &rows,
        &HEADER,
        cells,
        &[0, 1, 2, 4, 8, 9, 10, 3],
    )?;
    out.flush()?;
    finish(&failures)
}
