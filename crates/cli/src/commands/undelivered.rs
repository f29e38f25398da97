//! `mailtrail undelivered`: one row per recipient that was not delivered.

use std::process::ExitCode;

use clap::Args;

use crate::args::{FilterArgs, InputArgs, OutputArgs, WindowArgs};
use crate::pipeline::{Metadata, Settings, finish, load, open_output, select};
use crate::report::{ClassColumns, Format, ReportRow, write_rows};

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
    pub output: OutputArgs,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail undelivered --since '2024-10-19 18:00' --until '2024-10-20 13:00' /var/log/exim4/mainlog*
  mailtrail undelivered --by received --since 2024-10-19 --format csv -o lost.csv mainlog mainlog.1.gz
  mailtrail undelivered --category blocklisted --remote-host outlook.com mainlog
  zcat mail.log.2.gz | mailtrail undelivered --outcome all --format ndjson -";

pub fn run(args: UndeliveredArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::new(&args.input, &args.window, &args.filter)?;
    // Open the output before the work, so a bad path fails fast.
    let (mut out, format) = open_output(&args.output)?;
    let loaded = load(&args.input, settings.log_zone)?;
    let findings = select(&loaded, &settings);
    let rows: Vec<ReportRow> = findings
        .iter()
        .map(|f| {
            ReportRow::new(
                &f.outcome,
                ClassColumns::from(f.class.as_ref()),
                f.ticket.clone(),
                settings.report_zone,
            )
        })
        .collect();
    let (metadata, failures) = Metadata::new(loaded, &settings, &findings);
    if matches!(format, Format::Table | Format::Csv) {
        metadata.print();
    }
    write_rows(&mut out, format, &rows, &metadata)?;
    out.flush()?;
    finish(&failures)
}
