//! `mailtrail lines`: how every input line was classified.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Args;
use mailtrail_analysis::{OutcomeSet, Retention};

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
    let mut options = scan_options(&args.input, zone);
    // Only the line counts are printed: finished messages are dropped as
    // they end, so memory follows the messages in flight, not the log.
    options.retention = Retention::outcomes(OutcomeSet::NONE);
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
                // Escaped: junk lines hold control bytes and invalid UTF-8
                // that would garble a terminal.
                let text = printable(&sample.text);
                writeln!(out, "    @{} [{}] {text}", sample.offset, sample.reason)?;
            }
        }
    }
    out.flush()?;
    finish(&failures)
}

/// The line as text, with control bytes and invalid UTF-8 written as
/// `\xHH` and everything printable left as it is.
fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                for b in c.to_string().bytes() {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}
