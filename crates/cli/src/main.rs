//! The `mailtrail` command: mail-log forensics for Exim and Postfix.
//!
//! This binary owns argument parsing, output formats, error messages and
//! exit codes; the work is done by `mailtrail-parse` and
//! `mailtrail-analysis`.

mod input;
mod report;
mod timearg;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mailtrail_analysis::{
    Outcome, PartialLog, RecipientOutcome, ScanOptions, Window, WindowBy, outcomes,
};
use mailtrail_parse::ParserOptions;
use serde::Serialize;

use crate::input::{Input, Scanned, scan_input};
use crate::report::{ClassColumns, Format, ReportRow, format_time, write_rows};

#[derive(Parser, Debug)]
#[command(
    name = "mailtrail",
    version,
    about = "Mail-log forensics for Exim and Postfix: which messages were not delivered, to whom, and why",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List recipients whose mail was not delivered, with the reason.
    #[command(after_help = UNDELIVERED_EXAMPLES)]
    Undelivered(UndeliveredArgs),
    /// Count how every input line was classified; show unrecognised lines.
    Lines(LinesArgs),
}

const UNDELIVERED_EXAMPLES: &str = "\
Examples:
  mailtrail undelivered --since '2024-10-19 18:00' --until '2024-10-20 13:00' /var/log/exim4/mainlog*
  mailtrail undelivered --by received --since 2024-10-19 --format csv -o lost.csv mainlog mainlog.1.gz
  zcat mail.log.2.gz | mailtrail undelivered --outcome all --format ndjson -";

#[derive(Args, Debug)]
struct InputArgs {
    /// Log files (plain or gzip, detected by content); `-` reads stdin.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// IANA zone of log timestamps that carry no offset [default: the
    /// system's zone].
    #[arg(long, value_name = "ZONE")]
    log_tz: Option<String>,
    /// Host name for logs that do not name their host (Exim main logs).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Year of the first yearless timestamp (classic syslog) [default: the
    /// year the file was last modified].
    #[arg(long, value_name = "YEAR")]
    year: Option<i32>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Bytes per parallel chunk (tests use tiny chunks to prove that
    /// chunked and sequential parsing agree).
    #[arg(long, value_name = "BYTES", hide = true)]
    chunk_size: Option<usize>,
}

#[derive(Args, Debug)]
struct WindowArgs {
    /// Start of the window (inclusive): RFC 3339, 'YYYY-MM-DD HH:MM[:SS]'
    /// or YYYY-MM-DD.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// End of the window (exclusive), same forms as --since.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Zone for --since/--until without an offset and for times in the
    /// report [default: the --log-tz zone].
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Which time puts a recipient in the window.
    #[arg(long, value_enum, default_value_t = ByArg::Failure)]
    by: ByArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ByArg {
    /// Any failed attempt (deferral, bounce, expiry, rejection) or
    /// removal/freeze in the window.
    Failure,
    /// The message was received in the window.
    Received,
}

#[derive(Args, Debug)]
struct UndeliveredArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Outcomes to list, comma-separated, or `all`.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "bounced,expired,pending,frozen,removed,discarded"
    )]
    outcome: String,
    /// Include bounces and DSNs the MTA generated about other messages.
    #[arg(long)]
    include_notifications: bool,
    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct LinesArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Print the first unrecognised lines of each input.
    #[arg(long)]
    show_unrecognised: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mailtrail: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Undelivered(args) => undelivered(args),
        Command::Lines(args) => lines(args),
    }
}

/// The log zone, and where it came from (for the metadata).
fn log_zone(args: &InputArgs) -> anyhow::Result<(Tz, &'static str)> {
    match &args.log_tz {
        Some(name) => Ok((timearg::parse_zone(name).context("--log-tz")?, "--log-tz")),
        None => Ok(timearg::system_zone()),
    }
}

/// Everything read from the inputs, merged in time order.
struct Loaded {
    log: PartialLog,
    files: Vec<FileMeta>,
    failures: Vec<String>,
}

#[derive(Serialize)]
struct FileMeta {
    name: String,
    compressed: bool,
    lines: u64,
    events: u64,
    irrelevant: u64,
    unrecognised: u64,
    /// How the year of yearless (classic syslog) timestamps was decided.
    year: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// How inputs are scanned, from the shared input options.
fn scan_options(args: &InputArgs, zone: Tz) -> ScanOptions {
    let mut parser = ParserOptions::new(zone);
    parser.default_host = args.host.clone();
    let mut options = ScanOptions::new(parser);
    options.year = args.year;
    if let Some(size) = args.chunk_size {
        options.chunk_size = size.max(1);
    }
    options
}

fn load(args: &InputArgs, zone: Tz) -> anyhow::Result<Loaded> {
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let options = scan_options(args, zone);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;
    let inputs: Vec<Input> = args.logs.iter().map(|p| Input::from_arg(p)).collect();
    if inputs.iter().filter(|i| matches!(i, Input::Stdin)).count() > 1 {
        bail!("'-' (stdin) may be given only once");
    }
    let results: Vec<anyhow::Result<Scanned>> = pool.install(|| {
        use rayon::prelude::*;
        inputs
            .par_iter()
            .map(|input| scan_input(input, &options))
            .collect()
    });
    let mut scanned = Vec::new();
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for (input, result) in inputs.iter().zip(results) {
        match result {
            Ok(s) => {
                let counts = &s.log.counts;
                files.push(FileMeta {
                    name: s.name.clone(),
                    compressed: s.compressed,
                    lines: counts.total(),
                    events: counts.events,
                    irrelevant: counts.irrelevant,
                    unrecognised: counts.unrecognised_total(),
                    year: s.year_source.clone(),
                    error: s.error.as_ref().map(|e| format!("{e:#}")),
                });
                if let Some(e) = &s.error {
                    failures.push(format!("{e:#}"));
                }
                scanned.push(s);
            }
            Err(e) => {
                files.push(FileMeta {
                    name: input.name(),
                    compressed: false,
                    lines: 0,
                    events: 0,
                    irrelevant: 0,
                    unrecognised: 0,
                    year: String::new(),
                    error: Some(format!("{e:#}")),
                });
                failures.push(format!("{e:#}"));
            }
        }
    }
    // Rotated files are merged oldest first, whatever order they were
    // named in: a message received in mainlog.1 and delivered in mainlog
    // must see its reception first.
    scanned.sort_by_key(|s| s.log.span.map(|(first, _)| first));
    let log = scanned
        .into_iter()
        .map(|s| s.log)
        .reduce(PartialLog::merge)
        .unwrap_or_default();
    Ok(Loaded {
        log,
        files,
        failures,
    })
}

#[derive(Serialize)]
struct LineTotals {
    total: u64,
    events: u64,
    irrelevant: u64,
    unrecognised: u64,
    unrecognised_by_reason: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct ClockMeta {
    ambiguous_times: u64,
    ambiguous_resolved_to_second_pass: u64,
    gap_times_shifted: u64,
    invalid_dates: u64,
    year_rollovers: u64,
}

#[derive(Serialize)]
struct Metadata {
    files: Vec<FileMeta>,
    lines: LineTotals,
    log_zone: String,
    log_zone_source: &'static str,
    report_zone: String,
    clock: ClockMeta,
    window_since: Option<String>,
    window_until: Option<String>,
    window_by: &'static str,
    outcomes_selected: Vec<&'static str>,
    rows: usize,
    rows_by_outcome: BTreeMap<&'static str, usize>,
}

fn line_totals(log: &PartialLog) -> LineTotals {
    LineTotals {
        total: log.counts.total(),
        events: log.counts.events,
        irrelevant: log.counts.irrelevant,
        unrecognised: log.counts.unrecognised_total(),
        unrecognised_by_reason: log.counts.unrecognised.iter().copied().collect(),
    }
}

fn parse_outcomes(list: &str) -> anyhow::Result<Vec<Outcome>> {
    let mut selected = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "all" {
            return Ok(Outcome::ALL.to_vec());
        }
        selected.push(name.parse::<Outcome>().context("--outcome")?);
    }
    if selected.is_empty() {
        bail!("--outcome: no outcome given");
    }
    Ok(selected)
}

fn undelivered(args: UndeliveredArgs) -> anyhow::Result<ExitCode> {
    let (zone, zone_source) = log_zone(&args.input)?;
    let report_zone = match &args.window.tz {
        Some(name) => timearg::parse_zone(name).context("--tz")?,
        None => zone,
    };
    let since = args
        .window
        .since
        .as_deref()
        .map(|t| timearg::parse_time(t, report_zone).context("--since"))
        .transpose()?;
    let until = args
        .window
        .until
        .as_deref()
        .map(|t| timearg::parse_time(t, report_zone).context("--until"))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            bail!("--since must be before --until");
        }
    }
    let selected = parse_outcomes(&args.outcome)?;
    let format = args
        .format
        .unwrap_or(if args.output.is_none() && io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Csv
        });
    // Open the output before the work, so a bad path fails fast.
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };

    let loaded = load(&args.input, zone)?;
    let window = Window { since, until };
    let by = match args.window.by {
        ByArg::Failure => WindowBy::Failure,
        ByArg::Received => WindowBy::Received,
    };
    let rows: Vec<RecipientOutcome> = outcomes(&loaded.log)
        .into_iter()
        .filter(|r| selected.contains(&r.outcome))
        .filter(|r| args.include_notifications || !r.is_notification)
        .filter(|r| window.selects(r, by))
        .collect();
    let report_rows: Vec<ReportRow> = rows
        .iter()
        .map(|r| ReportRow::new(r, ClassColumns::default(), None, report_zone))
        .collect();

    let mut rows_by_outcome = BTreeMap::new();
    for row in &rows {
        *rows_by_outcome.entry(row.outcome.name()).or_insert(0) += 1;
    }
    let clock = loaded.log.clock;
    let metadata = Metadata {
        lines: line_totals(&loaded.log),
        files: loaded.files,
        log_zone: zone.name().to_string(),
        log_zone_source: zone_source,
        report_zone: report_zone.name().to_string(),
        clock: ClockMeta {
            ambiguous_times: clock.ambiguous,
            ambiguous_resolved_to_second_pass: clock.ambiguous_second,
            gap_times_shifted: clock.gap_shifted,
            invalid_dates: clock.invalid,
            year_rollovers: clock.year_rollovers,
        },
        window_since: since.map(|t| format_time(t, report_zone)),
        window_until: until.map(|t| format_time(t, report_zone)),
        window_by: match by {
            WindowBy::Failure => "failure",
            WindowBy::Received => "received",
        },
        outcomes_selected: selected.iter().map(|o| o.name()).collect(),
        rows: report_rows.len(),
        rows_by_outcome,
    };
    if matches!(format, Format::Table | Format::Csv) {
        print_metadata(&metadata);
    }
    write_rows(&mut out, format, &report_rows, &metadata)?;
    out.flush()?;
    finish(&loaded.failures)
}

/// Reports inputs that failed; the exit code says whether any did.
fn finish(failures: &[String]) -> anyhow::Result<ExitCode> {
    for failure in failures {
        eprintln!("mailtrail: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_metadata(m: &Metadata) {
    let lines = &m.lines;
    eprintln!(
        "# read {} input(s): {} lines = {} events + {} irrelevant + {} unrecognised",
        m.files.len(),
        lines.total,
        lines.events,
        lines.irrelevant,
        lines.unrecognised
    );
    eprintln!(
        "# log times without offset read in {} ({}); report times in {}",
        m.log_zone, m.log_zone_source, m.report_zone
    );
    if m.clock.ambiguous_times + m.clock.gap_times_shifted + m.clock.invalid_dates > 0 {
        eprintln!(
            "# clock: {} ambiguous (fold) times, {} in the second pass; {} gap times shifted; {} invalid dates",
            m.clock.ambiguous_times,
            m.clock.ambiguous_resolved_to_second_pass,
            m.clock.gap_times_shifted,
            m.clock.invalid_dates
        );
    }
    for file in m.files.iter().filter(|f| f.year.chars().next().is_some_and(|c| c.is_ascii_digit())) {
        eprintln!("# {}: year of syslog timestamps {}", file.name, file.year);
    }
    let since = m.window_since.as_deref().unwrap_or("-∞");
    let until = m.window_until.as_deref().unwrap_or("+∞");
    let counts: Vec<String> = m
        .rows_by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    eprintln!(
        "# window [{since}, {until}) by {}; outcomes {}: {} row(s){}{}",
        m.window_by,
        m.outcomes_selected.join(","),
        m.rows,
        if counts.is_empty() { "" } else { " — " },
        counts.join(", ")
    );
}

fn lines(args: LinesArgs) -> anyhow::Result<ExitCode> {
    let (zone, _) = log_zone(&args.input)?;
    let inputs: Vec<Input> = args.input.logs.iter().map(|p| Input::from_arg(p)).collect();
    let options = scan_options(&args.input, zone);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failures = Vec::new();
    writeln!(
        out,
        "{:>10} {:>10} {:>10} {:>12} {:>7}  input",
        "lines", "events", "irrelevant", "unrecognised", "unrec%"
    )?;
    for input in &inputs {
        let scanned = match scan_input(input, &options) {
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
