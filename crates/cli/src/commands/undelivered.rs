//! `mailtrail undelivered`: one row per recipient that was not delivered.

use std::process::ExitCode;

use clap::Args;

use crate::args::{FilterArgs, InputArgs, OutputArgs, TicketArgs, WindowArgs};
use crate::pipeline::{Metadata, Settings, finish, load, open_output, select_with_tickets};
use crate::report::{Format, ReportRow, write_rows};

/// Options of `mailtrail undelivered`.
#[derive(Args, Debug)]
pub struct UndeliveredArgs {
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
  mailtrail undelivered --since '2024-10-19 18:00' --until '2024-10-20 13:00' /var/log/exim4/mainlog*
  mailtrail undelivered --by received --since 2024-10-19 --format csv -o lost.csv mainlog mainlog.1.gz
  mailtrail undelivered --category blocklisted --remote-host outlook.com mainlog
  mailtrail undelivered --ticket-preset hash-bracket --tickets helpdesk-export.csv mainlog
  zcat mail.log.2.gz | mailtrail undelivered --outcome all --format ndjson -";

pub fn run(args: UndeliveredArgs) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::new(&args.input, &args.window, &args.filter)?.with_tickets(&args.tickets)?;
    // Open the output before the work, so a bad path fails fast.
    let (mut out, format) = open_output(&args.output)?;
    let mut loaded = load(&args.input, settings.log_zone, settings.retention())?;
    let selection = select_with_tickets(&loaded, &settings);
    let findings = selection.findings;
    let (mut metadata, failures) = Metadata::new(&mut loaded, &settings, &findings);
    metadata.tickets = selection.tickets;
    if matches!(format, Format::Table | Format::Csv) {
        metadata.print();
    }
    let row = |index: usize| ReportRow::of_finding(&findings[index], settings.report_zone);
    write_rows(
        &mut out,
        format,
        findings.len(),
        row,
        &metadata,
        &loaded.pool,
    )?;
    out.flush()?;
    // As with the log (see `Metadata::new`): the process ends now, so the
    // rows are not freed one by one.
    std::mem::forget(findings);
    finish(&failures)
}
