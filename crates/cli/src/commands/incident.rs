//! `mailtrail incident`: when did a receiver start refusing our mail, when
//! did it stop, and who was hit.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use mailtrail_analysis::classify::Category;
use mailtrail_analysis::incident::{Incident, IncidentOptions, find_incidents};
use mailtrail_analysis::{Finding, Outcome};
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, WindowArgs};
use crate::commands::summary::counting_retention;
use crate::input::{Input, find_lines, sha256_of};
use crate::pipeline::{Metadata, Settings, finish, load_with_digest, select};
use crate::report::format_time;
use crate::timearg::parse_duration;

/// Options of `mailtrail incident`.
#[derive(Args, Debug)]
pub struct IncidentArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Failure categories that make an incident, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "blocklisted,reputation"
    )]
    pub category: Vec<String>,
    /// How long a receiver must accept mail with no such failure for the
    /// incident to count as over.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub quiet_period: String,
    /// Incidents with fewer failed attempts are not reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub min_failures: usize,
    /// A rules file whose rules are tried before the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = IncidentFormat::Table)]
    pub format: IncidentFormat,
}

/// How incidents are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IncidentFormat {
    /// A short block per incident for reading on a terminal.
    Table,
    /// One JSON document.
    Json,
    /// A Markdown block to paste into a root-cause analysis.
    Markdown,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail incident --log-tz UTC fixtures/exim/incident/mainlog
  mailtrail incident --format markdown --since 2024-10-19 --until 2024-10-21 mainlog mainlog.1.gz
  mailtrail incident --category rate_limited,greylisted --min-failures 10 /var/log/mail.log";

#[derive(Serialize)]
struct IncidentJson {
    receiver: String,
    listed_ip: Option<String>,
    blocklists: Vec<String>,
    categories: BTreeMap<String, usize>,
    onset: String,
    last_failure: String,
    recovery: Option<String>,
    duration_minutes: i64,
    failed_attempts: usize,
    messages: usize,
    recipients: usize,
    domains: usize,
    outcomes_of_affected_recipients: BTreeMap<&'static str, usize>,
    failures_per_hour: f64,
    baseline_failures_per_hour: f64,
    first_failure: Sample,
    last_failure_sample: Sample,
}

#[derive(Serialize, Clone)]
struct Sample {
    queue_id: String,
    recipient: String,
    reason: Option<String>,
    /// `file:line: text` of the raw log line, when found.
    log_line: Option<String>,
}

pub fn run(args: IncidentArgs) -> anyhow::Result<ExitCode> {
    let filter = FilterArgs {
        outcome: "all".to_string(),
        include_notifications: false,
        category: Vec::new(),
        code: Vec::new(),
        recipient_domain: Vec::new(),
        remote_host: Vec::new(),
        sender: Vec::new(),
        reason: None,
        rules: args.rules.clone(),
    };
    let settings = Settings::new(&args.input, &args.window, &filter)?;
    let categories = args
        .category
        .iter()
        .map(|c| {
            c.trim()
                .parse::<Category>()
                .map_err(|e| anyhow::anyhow!("--category: unknown category '{}'", e.0))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let quiet = parse_duration(&args.quiet_period).context("--quiet-period")?;
    let options = IncidentOptions {
        categories,
        quiet,
        min_failures: args.min_failures.max(1),
    };

    // Only the rows in the window are looked at, and of the other messages
    // only when they were delivered where: the deliveries that end an
    // incident may come after the window.
    let retention = counting_retention(&settings, None);
    let mut loaded = load_with_digest(&args.input, settings.log_zone, retention, true)?;
    let findings = select(&loaded, &settings);
    let mut incidents = find_incidents(&findings, &loaded.log, &settings.classifier, &options);
    // The window selects incidents by their failures: an incident is shown
    // when any of its failures falls in the window.
    incidents.retain(|i| i.failures.iter().any(|f| settings.window.contains(f.at)));
    let samples = samples(&args.input, &findings, &incidents);
    let zone = settings.report_zone;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        IncidentFormat::Table => write_table(&mut out, &incidents, &samples, zone)?,
        IncidentFormat::Markdown => write_markdown(&mut out, &args, &incidents, &samples, zone)?,
        IncidentFormat::Json => {}
    }
    let (metadata, failures) = Metadata::new(&mut loaded, &settings, &findings);
    if args.format == IncidentFormat::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            metadata: &'a Metadata,
            incidents: Vec<IncidentJson>,
        }
        let incidents = incidents
            .iter()
            .zip(&samples)
            .map(|(i, s)| to_json(i, s, zone))
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &Document {
                metadata: &metadata,
                incidents,
            },
        )?;
        writeln!(out)?;
    } else {
        metadata.print();
    }
    out.flush()?;
    finish(&failures)
}

/// The first and last failure of each incident, with the raw log line.
fn samples(
    input: &InputArgs,
    findings: &[Finding],
    incidents: &[Incident],
) -> Vec<(Sample, Sample)> {
    let sample_of = |index: usize| {
        let row = &findings[index].outcome;
        Sample {
            queue_id: row.queue_id.to_string(),
            recipient: row.recipient.to_string(),
            reason: row.reason.as_ref().map(|r| r.to_string()),
            log_line: None,
        }
    };
    let mut result: Vec<(Sample, Sample)> = incidents
        .iter()
        .map(|i| {
            let first = i.failures.first().map(|f| f.finding).unwrap_or_default();
            let last = i.failures.last().map(|f| f.finding).unwrap_or_default();
            (sample_of(first), sample_of(last))
        })
        .collect();
    // Quote the real lines: a failure line names the queue id and the
    // recipient. Inputs that cannot be read again (stdin) are skipped.
    let queries: Vec<Vec<Vec<u8>>> = result
        .iter()
        .flat_map(|(a, b)| [a, b])
        .map(|s| {
            vec![
                s.queue_id.clone().into_bytes(),
                s.recipient.clone().into_bytes(),
            ]
        })
        .collect();
    let mut found: Vec<Option<String>> = vec![None; queries.len()];
    for arg in &input.logs {
        let Ok(lines) = find_lines(&Input::from_arg(arg), &queries, usize::MAX) else {
            continue;
        };
        for line in lines {
            // A real failure line (not a skipped retry): the first one for
            // the first sample (even queries), the last one for the last.
            let skipped_retry =
                line.text.contains(" == ") && line.text.contains("retry time not reached");
            let failure = (line.text.contains(" ** ")
                || line.text.contains(" == ")
                || line.text.contains("status="))
                && !skipped_retry;
            if failure && (found[line.query].is_none() || line.query % 2 == 1) {
                found[line.query] = Some(format!("{}:{}: {}", line.input, line.line, line.text));
            }
        }
    }
    for (index, (first, last)) in result.iter_mut().enumerate() {
        first.log_line = found[2 * index].take();
        last.log_line = found[2 * index + 1].take();
    }
    result
}

fn outcome_counts(incident: &Incident) -> BTreeMap<&'static str, usize> {
    incident
        .outcomes
        .iter()
        .map(|(o, n)| (o.name(), *n))
        .collect()
}

fn to_json(incident: &Incident, samples: &(Sample, Sample), zone: Tz) -> IncidentJson {
    IncidentJson {
        receiver: incident.receiver.clone(),
        listed_ip: incident.listed_ip.clone(),
        blocklists: incident.blocklists.clone(),
        categories: incident
            .categories
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        onset: format_time(incident.onset, zone),
        last_failure: format_time(incident.last_failure, zone),
        recovery: incident.recovery.map(|t| format_time(t, zone)),
        duration_minutes: incident.duration().num_minutes(),
        failed_attempts: incident.failures.len(),
        messages: incident.messages,
        recipients: incident.recipients,
        domains: incident.domains,
        outcomes_of_affected_recipients: outcome_counts(incident),
        failures_per_hour: round2(incident.rate_per_hour),
        baseline_failures_per_hour: round2(incident.baseline_per_hour),
        first_failure: samples.0.clone(),
        last_failure_sample: samples.1.clone(),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn human(duration: TimeDelta) -> String {
    let minutes = duration.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

fn short_time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn title(incident: &Incident) -> String {
    let categories: Vec<String> = incident.categories.keys().map(|c| c.to_string()).collect();
    let mut title = format!(
        "{} refused mail ({})",
        incident.receiver,
        categories.join(", ")
    );
    if let Some(ip) = &incident.listed_ip {
        title.push_str(&format!(", listed IP {ip}"));
    }
    if !incident.blocklists.is_empty() {
        title.push_str(&format!(" on {}", incident.blocklists.join(", ")));
    }
    title
}

fn affected_outcomes(incident: &Incident) -> String {
    let lost: usize = incident
        .outcomes
        .iter()
        .filter(|(o, _)| !matches!(o, Outcome::Delivered | Outcome::Delayed))
        .map(|(_, n)| n)
        .sum();
    let parts: Vec<String> = incident
        .outcomes
        .iter()
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    format!("{} ({lost} not delivered)", parts.join(", "))
}

fn write_table<W: Write>(
    out: &mut W,
    incidents: &[Incident],
    samples: &[(Sample, Sample)],
    zone: Tz,
) -> std::io::Result<()> {
    if incidents.is_empty() {
        return writeln!(out, "(no incident found)");
    }
    for (incident, (first, last)) in incidents.iter().zip(samples) {
        writeln!(out, "{}", title(incident))?;
        writeln!(out, "  onset          {}", short_time(incident.onset, zone))?;
        writeln!(
            out,
            "  last failure   {}",
            short_time(incident.last_failure, zone)
        )?;
        let recovery = incident
            .recovery
            .map_or("not seen before the end of the input".to_string(), |t| {
                short_time(t, zone)
            });
        writeln!(out, "  recovery       {recovery}")?;
        writeln!(out, "  duration       {}", human(incident.duration()))?;
        writeln!(
            out,
            "  affected       {} failed attempts, {} messages, {} recipients, {} domains",
            incident.failures.len(),
            incident.messages,
            incident.recipients,
            incident.domains
        )?;
        writeln!(out, "  outcomes       {}", affected_outcomes(incident))?;
        writeln!(
            out,
            "  rate           {:.2} failures/h during, {:.2}/h before (baseline)",
            incident.rate_per_hour, incident.baseline_per_hour
        )?;
        for (label, sample) in [("first", first), ("last", last)] {
            if let Some(line) = &sample.log_line {
                writeln!(out, "  {label:<14} {line}")?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_markdown<W: Write>(
    out: &mut W,
    args: &IncidentArgs,
    incidents: &[Incident],
    samples: &[(Sample, Sample)],
    zone: Tz,
) -> anyhow::Result<()> {
    if incidents.is_empty() {
        writeln!(out, "No incident found.")?;
    }
    for (incident, (first, last)) in incidents.iter().zip(samples) {
        writeln!(out, "### Incident: {}\n", title(incident))?;
        writeln!(out, "| | |\n|---|---|")?;
        writeln!(out, "| Receiver | {} |", incident.receiver)?;
        if let Some(ip) = &incident.listed_ip {
            writeln!(out, "| Listed IP | {ip} |")?;
        }
        if !incident.blocklists.is_empty() {
            writeln!(out, "| Blocklist | {} |", incident.blocklists.join(", "))?;
        }
        writeln!(
            out,
            "| Onset (first failure) | {} |",
            short_time(incident.onset, zone)
        )?;
        writeln!(
            out,
            "| Last failure | {} |",
            short_time(incident.last_failure, zone)
        )?;
        let recovery = incident
            .recovery
            .map_or("not seen before the end of the logs".to_string(), |t| {
                short_time(t, zone)
            });
        writeln!(out, "| Recovery (first delivery after) | {recovery} |")?;
        writeln!(out, "| Duration | {} |", human(incident.duration()))?;
        writeln!(out, "| Failed attempts | {} |", incident.failures.len())?;
        writeln!(
            out,
            "| Messages / recipients / domains | {} / {} / {} |",
            incident.messages, incident.recipients, incident.domains
        )?;
        writeln!(
            out,
            "| Outcome of affected recipients | {} |",
            affected_outcomes(incident)
        )?;
        writeln!(
            out,
            "| Failure rate | {:.2}/h during, {:.2}/h before (baseline) |\n",
            incident.rate_per_hour, incident.baseline_per_hour
        )?;
        writeln!(
            out,
            "**Timeline** (failed attempts per hour, {}):\n",
            zone.name()
        )?;
        writeln!(out, "| hour | failed attempts |\n|---|---|")?;
        let mut per_hour: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
        for failure in &incident.failures {
            let hour = failure
                .at
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(failure.at);
            *per_hour.entry(hour).or_insert(0) += 1;
        }
        for (hour, count) in &per_hour {
            writeln!(
                out,
                "| {} | {count} |",
                hour.with_timezone(&zone).format("%Y-%m-%d %H:00")
            )?;
        }
        writeln!(out, "\n**Sample log lines**\n\n```")?;
        for sample in [first, last] {
            match &sample.log_line {
                Some(line) => writeln!(out, "{line}")?,
                None => writeln!(
                    out,
                    "{} {}: {}",
                    sample.queue_id,
                    sample.recipient,
                    sample.reason.as_deref().unwrap_or("")
                )?,
            }
        }
        writeln!(out, "```\n")?;
    }
    writeln!(out, "**Reproduce**\n\n```")?;
    writeln!(out, "{}", command_line())?;
    for arg in &args.input.logs {
        match Input::from_arg(arg) {
            Input::File(path) => match sha256_of(&path) {
                Ok(hash) => writeln!(out, "sha256 {hash}  {}", path.display())?,
                Err(e) => writeln!(out, "sha256 (unreadable: {e:#})  {}", path.display())?,
            },
            Input::Stdin => writeln!(out, "sha256 (not available for stdin)  -")?,
        }
    }
    writeln!(out, "```")?;
    Ok(())
}

/// The command as typed, shell-quoted where needed.
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                "mailtrail".to_string()
            } else {
                shell_quote(&a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
