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
mod timearg;

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{lines, undelivered};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Undelivered(args) => undelivered::run(args),
        Command::Lines(args) => lines::run(args),
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
