//! `mailtrail undelivered`: one row per recipient that was not delivered.

use std::process::ExitCode;

use chrono_tz::Tz;
use clap::Args;

use crate::args::{FilterArgs, InputArgs, OutputArgs, TicketArgs, WindowArgs};
use crate::pipeline::{Metadata, Rows, Settings, finish, load, open_output, select_rows};
use crate::report::{Format, ReportRow, RowSource, write_rows};

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
    let loaded = load(&args.input, settings.log_zone, settings.retention())?;
    let (rows, tickets) = select_rows(&loaded, &settings);
    let outcomes = (0..rows.len()).map(|index| rows.outcome(index));
    let mut metadata = Metadata::describe(&loaded, &settings, outcomes);
    metadata.tickets = tickets;
    if matches!(format, Format::Table | Format::Csv) {
        metadata.print();
    }
    let source = FindingRows {
        rows: &rows,
        zone: settings.report_zone,
    };
    write_rows(&mut out, format, &source, &metadata, &loaded.pool)?;
    out.flush()?;
    let failures = loaded.failures.clone();
    // The process ends now: neither the rows nor the log they are made
    // from are freed one by one (see `Metadata::new`).
    std::mem::forget(rows);
    std::mem::forget(loaded);
    finish(&failures)
}

/// The report rows of findings, with times in `zone`.
struct FindingRows<'r> {
    rows: &'r Rows<'r>,
    zone: Tz,
}

impl RowSource for FindingRows<'_> {
    fn count(&self) -> usize {
        self.rows.len()
    }

    fn with_row<T>(&self, index: usize, f: impl FnOnce(&ReportRow<'_>) -> T) -> T {
        self.rows.with_finding(index, |finding| {
            f(&ReportRow::of_finding(finding, self.zone))
        })
    }
}
