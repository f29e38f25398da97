//! `mailtrail-loggen`: synthetic mail logs with ground truth.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mailtrail_loggen::clock::{HOUR, parse_utc};
use mailtrail_loggen::postfix::MAX_HOSTS;
use mailtrail_loggen::{
    EximConfig, IdStyle, PostfixConfig, Summary, generate_exim, generate_postfix,
};

/// Deterministic synthetic mail-log generator that also writes its ground truth.
#[derive(Parser, Debug)]
#[command(name = "mailtrail-loggen", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Exim main log (UTC timestamps, Exim 4.98 shapes).
    Exim(EximArgs),
    /// Postfix log (classic syslog lines, UTC, no year; Postfix 3.7 shapes).
    Postfix(PostfixArgs),
}

/// What both generators take: seed, volume, window, incident, outputs.
#[derive(Args, Debug)]
struct Common {
    /// PRNG seed; same arguments and seed give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Messages arriving over the window (notifications come on top).
    #[arg(long, default_value_t = 300)]
    messages: u64,
    /// First instant of the log, UTC (`YYYY-MM-DDTHH:MM:SS`).
    #[arg(long, default_value = "2024-10-19T00:00:00")]
    start: String,
    /// Length of the log in hours.
    #[arg(long, default_value_t = 36.0)]
    hours: f64,
    /// Start of the blocklisting incident, UTC. Without it: no incident.
    #[arg(long)]
    onset: Option<String>,
    /// End of the incident, UTC (default: lasts until the end of the log).
    #[arg(long, requires = "onset")]
    recovery: Option<String>,
    /// Output log file (`-` = stdout).
    #[arg(long, default_value = "-")]
    out_log: PathBuf,
    /// Truth CSV; `<name>.summary.json` is written next to it.
    #[arg(long)]
    out_truth: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct PostfixArgs {
    #[command(flatten)]
    common: Common,
    /// `enable_long_queue_ids = yes`: ids encode their creation time.
    #[arg(long)]
    long_ids: bool,
    /// Servers writing to the one log (`smtp1`, `smtp2`, …).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_HOSTS)))]
    hosts: u8,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("ids").args(["new_ids", "old_ids", "mixed_ids"])))]
struct EximArgs {
    #[command(flatten)]
    common: Common,
    /// Exim ≥ 4.97 ids (6-11-4) only [default].
    #[arg(long)]
    new_ids: bool,
    /// Exim ≤ 4.96 ids (6-6-2) only.
    #[arg(long)]
    old_ids: bool,
    /// Old ids for the first third, then a daemon restart on 4.98 and new ids.
    #[arg(long)]
    mixed_ids: bool,
    /// `log_selector = +millisec` (`2024-10-19 18:03:00.123`).
    #[arg(long)]
    millisec: bool,
    /// `log_selector = +pid` (`[1234]` after the timestamp).
    #[arg(long)]
    pid: bool,
}

fn summary_path(truth: &Path) -> PathBuf {
    let stem = if truth.extension().is_some_and(|e| e == "csv") {
        truth.with_extension("")
    } else {
        truth.to_path_buf()
    };
    let mut s = stem.into_os_string();
    s.push(".summary.json");
    PathBuf::from(s)
}

/// The window, incident and recorded command shared by both generators.
struct Window {
    start: i64,
    end: i64,
    onset: Option<i64>,
    recovery: Option<i64>,
    command: String,
}

fn window(a: &Common) -> Result<Window, String> {
    let start = parse_utc(&a.start)?;
    if !(a.hours > 0.0 && a.hours < 24.0 * 3650.0) {
        return Err("--hours must be positive".into());
    }
    let end = start + (a.hours * HOUR as f64) as i64;
    let onset = a.onset.as_deref().map(parse_utc).transpose()?;
    let recovery = a.recovery.as_deref().map(parse_utc).transpose()?;
    if let (Some(o), Some(r)) = (onset, recovery)
        && r <= o
    {
        return Err("--recovery must be after --onset".into());
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    Ok(Window {
        start,
        end,
        onset,
        recovery,
        command: format!("mailtrail-loggen {}", redact_paths(&command).join(" ")),
    })
}

/// Opens the outputs, runs `generate`, and writes the summary next to the truth.
fn write_outputs(
    a: &Common,
    generate: impl FnOnce(Box<dyn Write>, Option<BufWriter<File>>) -> io::Result<Summary>,
) -> Result<(), String> {
    let log: Box<dyn Write> = if a.out_log.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&a.out_log).map_err(|e| format!("{}: {e}", a.out_log.display()))?)
    };
    let truth = match &a.out_truth {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let summary = generate(log, truth).map_err(|e| e.to_string())?;
    if let Some(p) = &a.out_truth {
        let sp = summary_path(p);
        std::fs::write(&sp, summary.to_json()).map_err(|e| format!("{}: {e}", sp.display()))?;
    }
    Ok(())
}

fn run_exim(a: &EximArgs) -> Result<(), String> {
    let w = window(&a.common)?;
    let ids = if a.old_ids {
        IdStyle::Old
    } else if a.mixed_ids {
        IdStyle::Mixed
    } else {
        IdStyle::New
    };
    let cfg = EximConfig {
        seed: a.common.seed,
        messages: a.common.messages,
        start: w.start,
        end: w.end,
        onset: w.onset,
        recovery: w.recovery,
        ids,
        millisec: a.millisec,
        pid: a.pid,
        command: w.command,
    };
    write_outputs(&a.common, |log, truth| generate_exim(&cfg, log, truth))
}

fn run_postfix(a: &PostfixArgs) -> Result<(), String> {
    let w = window(&a.common)?;
    let cfg = PostfixConfig {
        seed: a.common.seed,
        messages: a.common.messages,
        start: w.start,
        end: w.end,
        onset: w.onset,
        recovery: w.recovery,
        long_ids: a.long_ids,
        hosts: a.hosts,
        command: w.command,
    };
    write_outputs(&a.common, |log, truth| generate_postfix(&cfg, log, truth))
}

/// Output paths would make the recorded command depend on where it ran.
fn redact_paths(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a == "--out-log" || a == "--out-truth" {
            skip = true;
            continue;
        }
        if a.starts_with("--out-log=") || a.starts_with("--out-truth=") {
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match &cli.cmd {
        Cmd::Exim(a) => run_exim(a),
        Cmd::Postfix(a) => run_postfix(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailtrail-loggen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_next_to_truth() {
        assert_eq!(
            summary_path(Path::new("a/truth.csv")),
            PathBuf::from("a/truth.summary.json")
        );
        assert_eq!(
            summary_path(Path::new("t")),
            PathBuf::from("t.summary.json")
        );
    }
}
