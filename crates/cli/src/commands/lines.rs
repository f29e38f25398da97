//! `mailtrail lines`: how every input line was classified.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Args;

use crate::args::InputArgs;
use crate::input::{Input, scan_input};
use crate::pipeline::{finish, log_zone, scan_options};

/// Options of `mailtrail lines`.
#[derive(Args, Debug)]
pub struct LinesArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print the first unrecognised lines of each input.
    #[arg(long)]
    pub show_unrecognised: bool,
}

pub fn run(args: LinesArgs) -> anyhow::Result<ExitCode> {
    let (zone, _) = log_zone(&args.input)?;
    let options = scan_options(&args.input, zone);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failures = Vec::new();
    writeln!(
        out,
        "{:>10} {:>10} {:>10} {:>12} {:>7}  input",
        "lines", "events", "irrelevant", "unrecognised", "unrec%"
    )?;
    for arg in &args.input.logs {
        let scanned = match scan_input(&Input::from_arg(arg), &options, !args.input.no_mmap) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{e:#}"));
                continue;
            }
        };
        if let Some(e) = &scanned.error {
            failures.push(format!("{e:#}"));
        }
        let c = &scanned.log.counts;
        let unrecognised = c.unrecognised_total();
        let share = if c.total() == 0 {
            0.0
        } else {
            100.0 * unrecognised as f64 / c.total() as f64
        };
        writeln!(
            out,
            "{:>10} {:>10} {:>10} {:>12} {:>6.1}%  {}",
            c.total(),
            c.events,
            c.irrelevant,
            unrecognised,
            share,
            scanned.name
        )?;
        if args.show_unrecognised {
            for sample in &scanned.log.unrecognised_samples {
                writeln!(
                    out,
                    "    @{} [{}] {}",
                    sample.offset, sample.reason, sample.text
                )?;
            }
        }
    }
    out.flush()?;
    finish(&failures)
}
