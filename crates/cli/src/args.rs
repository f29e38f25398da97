//! Flags shared by several commands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::report::Format;

/// Which logs to read and how to read their timestamps.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// Log files (plain or gzip, detected by content); `-` reads stdin.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// IANA zone of log timestamps that carry no offset [default: the
    /// system's zone].
    #[arg(long, value_name = "ZONE")]
    pub log_tz: Option<String>,
    /// Host name for logs that do not name their host (Exim main logs).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Year of the first yearless timestamp (classic syslog) [default: from
    /// the file's modification time].
    #[arg(long, value_name = "YEAR")]
    pub year: Option<i32>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Bytes per parallel chunk (tests use tiny chunks to prove that
    /// chunked and sequential parsing agree).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_size: Option<usize>,
    /// Read files with read() instead of mapping them into memory (for
    /// network file systems; files changed in the last seconds are always
    /// read, since a mapped file that is truncated kills the process).
    #[arg(long)]
    pub no_mmap: bool,
    /// No progress bar (it is shown only on a terminal, for large inputs).
    #[arg(long, short)]
    pub quiet: bool,
}

/// The time window and the zone times are shown in.
#[derive(Args, Debug)]
pub struct WindowArgs {
    /// Start of the window (inclusive): RFC 3339, 'YYYY-MM-DD HH:MM[:SS]'
    /// or YYYY-MM-DD.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the window (exclusive), same forms as --since.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Zone for --since/--until without an offset and for times in the
    /// report [default: the --log-tz zone].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Which time puts a recipient in the window.
    #[arg(long, value_enum, default_value_t = ByArg::Failure)]
    pub by: ByArg,
}

/// Which time puts a recipient in the window.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ByArg {
    /// Any failed attempt (deferral, bounce, expiry, rejection) or
    /// removal/freeze in the window.
    Failure,
    /// The message was received in the window.
    Received,
}

/// Which rows to keep.
#[derive(Args, Debug)]
pub struct FilterArgs {
    /// Outcomes to list, comma-separated, or `all`.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "bounced,expired,pending,frozen,removed,discarded"
    )]
    pub outcome: String,
    /// Include bounces and DSNs the MTA generated about other messages.
    #[arg(long)]
    pub include_notifications: bool,
    /// Failure categories, comma-separated (blocklisted, reputation,
    /// recipient_unknown, …; see `mailtrail explain --categories`).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub category: Vec<String>,
    /// Reply or enhanced codes by prefix, comma-separated: `550`, `55`,
    /// `5.7`, `4.7.1`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub code: Vec<String>,
    /// Recipient domains (subdomains included), comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub recipient_domain: Vec<String>,
    /// Remote host name suffixes (`outlook.com`) or IPs, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub remote_host: Vec<String>,
    /// Sender addresses or sender domains, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub sender: Vec<String>,
    /// Regular expression the failure reason must match (use `(?i)` for
    /// case-insensitive).
    #[arg(long = "match", value_name = "REGEX")]
    pub reason: Option<String>,
    /// A rules file whose rules are tried before the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

/// Where and how to write.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Where ticket ids come from: patterns, presets and a helpdesk export.
#[derive(Args, Debug, Default)]
pub struct TicketArgs {
    /// Regular expression for a ticket id, tried on the subject,
    /// Message-ID, sender, recipient and logged headers; a named group
    /// `ticket` is the id, else the whole match. Repeatable.
    #[arg(long, value_name = "REGEX")]
    pub ticket_pattern: Vec<String>,
    /// A built-in pattern for a common helpdesk format: hash-bracket,
    /// osticket, freshdesk, zammad, otrs, znuny, jira, jira-key, zendesk,
    /// rt, plus-address. Repeatable or comma-separated.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub ticket_preset: Vec<String>,
    /// A helpdesk export (CSV) of sent notifications, joined by Message-ID
    /// or by recipient and sent time.
    #[arg(long, value_name = "FILE.csv")]
    pub tickets: Option<PathBuf>,
    /// Column names of the export, overriding detection:
    /// `ticket=…,message_id=…,recipient=…,sent_at=…,subject=…`.
    #[arg(long, value_name = "MAP")]
    pub tickets_columns: Option<String>,
    /// Largest gap between the export's sent time and the log's reception
    /// time for a recipient + time match: `300`, `90s`, `5m`, `1h`.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub join_tolerance: String,
}
