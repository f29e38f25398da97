//! The `mailtrail` command: mail-log forensics for Exim and Postfix.
//!
//! This binary owns argument parsing, output formats, error messages and
//! exit codes; the work is done by `mailtrail-parse` and
//! `mailtrail-analysis`.

mod args;
mod commands;
mod input;
mod pipeline;
mod report;
mod ticketing;
mod timearg;

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{explain, incident, lines, summary, timeline, undelivered};
use crate::commands::{resend, tickets, trace};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's C API, which the `mimalloc` crate does not wrap.
unsafe extern "C" {
    fn mi_version() -> std::ffi::c_int;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Tunes mimalloc for a process that holds one large log next to memory
/// it frees by the gigabyte while reading it: freed pages go back to the
/// system after 10 ms rather than a second (which let a 1 GB log's report
/// peak 20 MiB higher; at 0 ms, the madvise calls cost a tenth of a second
/// more), and never as transparent huge pages, which count whole in the
/// resident set however little of them is in use (15 MiB).
fn tune_allocator() {
    // `mi_option_t` of mimalloc 3.3 (libmimalloc-sys 0.1.49): with another
    // version the numbers may name other options, which are left alone.
    const PURGE_DELAY: std::ffi::c_int = 15;
    const ALLOW_THP: std::ffi::c_int = 43;
    // SAFETY: reading the version and setting an option are allowed at any
    // time; these two only change when memory is returned and how it is
    // advised.
    unsafe {
        if mi_version() / 100 == 303 {
            mi_option_set(PURGE_DELAY, 10);
            mi_option_set(ALLOW_THP, 0);
        }
    }
    // The option comes too late for the arena mimalloc reserved before
    // `main`, already advised for huge pages: the kernel is told not to
    // back this process with them at all.
    #[cfg(target_os = "linux")]
    {
        unsafe extern "C" {
            fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
        }
        const PR_SET_THP_DISABLE: std::ffi::c_int = 41;
        // SAFETY: PR_SET_THP_DISABLE takes one integer argument. Failure
        // (an old kernel) only leaves huge pages allowed.
        unsafe {
            prctl(
                PR_SET_THP_DISABLE,
                1 as std::ffi::c_ulong,
                0 as std::ffi::c_ulong,
                0 as std::ffi::c_ulong,
                0 as std::ffi::c_ulong,
            );
        }
    }
}

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

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// List recipients whose mail was not delivered, with the reason.
    #[command(after_help = undelivered::EXAMPLES)]
    Undelivered(undelivered::UndeliveredArgs),
    /// Count how every input line was classified; show unrecognised lines.
    Lines(lines::LinesArgs),
    /// Explain a reply code, enhanced code or failure text: its meaning and
    /// the classifier's verdict.
    #[command(after_help = explain::EXAMPLES)]
    Explain(explain::ExplainArgs),
    /// Count outcomes and failure categories by domain, receiver, blocklist
    /// and sender; compare the failure rate with a baseline.
    #[command(after_help = summary::EXAMPLES)]
    Summary(summary::SummaryArgs),
    /// Counts per time bucket, category and outcome, with a bar chart, and
    /// the first and last failure per category.
    #[command(after_help = timeline::EXAMPLES)]
    Timeline(timeline::TimelineArgs),
    /// Find when a receiver refused our mail (blocklisting): onset,
    /// recovery, who was hit; `--format markdown` for an RCA.
    #[command(after_help = incident::EXAMPLES)]
    Incident(incident::IncidentArgs),
    /// One row per helpdesk ticket whose mail failed: recipients,
    /// outcomes, categories, and whether a later message got through.
    #[command(after_help = tickets::EXAMPLES)]
    Tickets(tickets::TicketsArgs),
    /// A safe resend list: who to send a ticket's mail to again, and the
    /// commands that retry mail still queued.
    #[command(after_help = resend::EXAMPLES)]
    Resend(resend::ResendArgs),
    /// One message's story across files and hops: its log lines
    /// (file:line) and the outcome per recipient.
    #[command(after_help = trace::EXAMPLES)]
    Trace(trace::TraceArgs),
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Undelivered(args) => undelivered::run(args),
        Command::Lines(args) => lines::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Incident(args) => incident::run(args),
        Command::Tickets(args) => tickets::run(args),
        Command::Resend(args) => resend::run(args),
        Command::Trace(args) => trace::run(args),
    };
    match result {
        Ok(code) => code,
        // `mailtrail … | head` closes the pipe early; that is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap checks the whole command tree (unique names, valid defaults)
    /// only when a command is used; this checks every subcommand at once.
    #[test]
    fn command_definitions_are_valid() {
        super::Cli::command().debug_assert();
    }
}
