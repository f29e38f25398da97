//! `mailtrail trace`: every message a query is about, across files and
//! hops: its log lines in time order (file:line), then the outcome per
//! recipient and why.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bstr::{BString, ByteSlice};
use chrono::{DateTime, Datelike, Utc};
use clap::{Args, FromArgMatches};
use mailtrail_analysis::trace::{
    LineMatch, LineMatcher, Story, find_messages, is_address, stories,
};
use mailtrail_analysis::{Finding, Outcome, PartialLog, Text, map_chunks};
use mailtrail_parse::{LineParser, Parsed};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, OutputArgs, TicketArgs, WindowArgs};
use crate::input::{Input, map_again, open_again};
use crate::pipeline::{
    FileMeta, Metadata, Settings, finish, load, open_output, scan_options, select_with_tickets,
};
use crate::report::{Format, ReportRow, format_time};
use crate::ticketing::write_aligned;
use mailtrail_analysis::Retention;

/// Options of `mailtrail trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A queue id, a Message-ID, an address, or a ticket (with a ticket
    /// source: --ticket-preset, --ticket-pattern or --tickets).
    #[arg(value_name = "QUERY")]
    pub query: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// Zone for times in the report [default: the --log-tz zone].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    #[command(flatten)]
    pub tickets: TicketArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail trace 1t2Few-00000006BBB-3VkV mainlog mainlog.1.gz
  mailtrail trace '<ticket-2410-0092.1729368166@helpdesk.example.com>' mainlog
  mailtrail trace john.smith@example-contoso.test --format json mainlog
  mailtrail trace 2410-0092 --ticket-preset hash-bracket mainlog";

/// Options that trace does not expose, at their defaults.
fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    T::from_arg_matches(&command.get_matches_from(["defaults"])).expect("defaults parse")
}

#[derive(Serialize)]
struct TracedMessage {
    host: String,
    queue_id: String,
    relation: &'static str,
    received_at: Option<String>,
    message_id: Option<String>,
    sender: Option<String>,
    subject: Option<String>,
    ticket: Option<String>,
}

#[derive(Serialize)]
struct TracedLine {
    file: String,
    line: u64,
    at: Option<String>,
    text: String,
    #[serde(skip)]
    sort: (Option<DateTime<Utc>>, usize, u64),
}

#[derive(Serialize)]
struct TracedStory<'a> {
    messages: Vec<TracedMessage>,
    lines: Vec<TracedLine>,
    outcomes: Vec<ReportRow<'a>>,
}

#[derive(Serialize)]
struct TraceMetadata {
    #[serde(flatten)]
    base: Metadata,
    query: String,
    stories: usize,
    messages: usize,
    lines_quoted: usize,
}

#[derive(Serialize)]
struct Document<'a> {
    metadata: &'a TraceMetadata,
    stories: &'a [TracedStory<'a>],
}

fn text(bytes: Option<&Text>) -> Option<String> {
    bytes
        .map(|b| b.to_str_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

/// The year `load` decided for a file's yearless timestamps, so that the
/// second pass gives the same times.
fn year_of(meta: &FileMeta, given: Option<i32>) -> i32 {
    meta.year
        .get(..4)
        .and_then(|y| y.parse().ok())
        .or(given)
        .unwrap_or_else(|| Utc::now().year())
}

pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    if args.input.logs.iter().any(|p| p.as_os_str() == "-") {
        bail!(
            "trace: cannot trace standard input: the lines are read twice (to correlate, then to quote them); save it to a file first"
        );
    }
    let mut window: WindowArgs = defaults();
    window.tz = args.tz.clone();
    let mut filter: FilterArgs = defaults();
    filter.outcome = "all".to_string();
    filter.include_notifications = true;
    let settings = Settings::new(&args.input, &window, &filter)?.with_tickets(&args.tickets)?;
    let (mut out, format) = open_output(&args.output)?;
    let mut loaded = load(&args.input, settings.log_zone, Retention::Everything)?;
    let selection = select_with_tickets(&loaded, &settings);
    let query = args.query.trim();
    let findings = &selection.findings;

    // Messages of the query, and the stories they belong to.
    let by_ticket: Vec<(BString, BString)> = findings
        .iter()
        .filter(|f| f.ticket.as_deref() == Some(query) && !f.outcome.queue_id.is_empty())
        .map(|f| (f.outcome.host.clone(), f.outcome.queue_id.clone()))
        .collect();
    let seeds = loaded
        .pool
        .install(|| find_messages(&loaded.log, query, &by_ticket));
    let found = stories(&loaded.log, &seeds);
    let rejections: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.outcome.outcome == Outcome::Rejected && f.outcome.queue_id.is_empty())
        .filter(|f| {
            is_address(query)
                && [Some(&f.outcome.recipient), f.outcome.sender.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|a| {
                        a.to_str_lossy()
                            .eq_ignore_ascii_case(query.trim_matches(['<', '>']))
                    })
        })
        .collect();

    // The second pass: quote the lines. A plain file is mapped and read in
    // parallel chunks, each parser starting in the clock state a sequential
    // read would be in there; a compressed or growing file is read through.
    let matcher = LineMatcher::new(&loaded.log, &found, query);
    let mut story_lines: Vec<Vec<TracedLine>> = (0..found.len()).map(|_| Vec::new()).collect();
    let mut rejection_lines = Vec::new();
    if !found.is_empty() || !rejections.is_empty() {
        let mut options = scan_options(&args.input, settings.log_zone);
        for (file_index, (path, meta)) in args.input.logs.iter().zip(&loaded.files).enumerate() {
            if meta.error.is_some() {
                continue;
            }
            let input = Input::from_arg(path);
            let year = year_of(meta, args.input.year);
            options.year = Some(year);
            let parts = match map_again(&input, !args.input.no_mmap)? {
                Some(map) => loaded.pool.install(|| {
                    map_chunks(&map, &options, |parser, chunk| {
                        let mut part = QuotedPart::new(matcher.clone());
                        let mut start = 0;
                        while start < chunk.len() {
                            let end = memchr::memchr(b'\n', &chunk[start..])
                                .map_or(chunk.len(), |i| start + i);
                            part.read(parser, &chunk[start..end]);
                            start = end + 1;
                        }
                        part
                    })
                }),
                None => {
                    let mut reader = open_again(&input)?;
                    let mut parser = LineParser::new(options.parser.clone());
                    parser.set_year(year);
                    let mut part = QuotedPart::new(matcher.clone());
                    let mut buffer = Vec::new();
                    loop {
                        buffer.clear();
                        let read = reader
                            .read_until(b'\n', &mut buffer)
                            .with_context(|| format!("reading {}", input.name()))?;
                        if read == 0 {
                            break;
                        }
                        part.read(&mut parser, buffer.strip_suffix(b"\n").unwrap_or(&buffer));
                    }
                    vec![part]
                }
            };
            // Line numbers and the time of lines that are not events (the
            // last event's before them) continue from part to part.
            let (mut lines_before, mut last_event) = (0, None);
            for part in parts {
                for quoted in part.quoted {
                    let at = quoted.at.or(last_event);
                    let traced = TracedLine {
                        file: input.name(),
                        line: lines_before + quoted.number,
                        at: at.map(|t| format_time(t, settings.report_zone)),
                        text: quoted.text,
                        sort: (at, file_index, lines_before + quoted.number),
                    };
                    match quoted.place {
                        LineMatch::Story(index) => story_lines[index].push(traced),
                        LineMatch::Rejection => rejection_lines.push(traced),
                    }
                }
                lines_before += part.lines;
                last_event = part.last_event.or(last_event);
            }
        }
    }

    let row_of = |f| ReportRow::of_finding(f, settings.report_zone);
    let rows = rows_of_members(&found, findings);
    let mut traced: Vec<TracedStory> = found
        .iter()
        .zip(story_lines)
        .map(|(story, mut lines)| {
            lines.sort_by_key(|l| l.sort);
            // A reused queue id is several members with the same rows.
            let mut outcomes: Vec<usize> = (story.members.iter())
                .flat_map(|m| &rows[&(m.host.as_slice(), m.queue_id.as_slice())])
                .copied()
                .collect();
            outcomes.sort_unstable();
            outcomes.dedup();
            TracedStory {
                messages: messages_of(&loaded.log, story, findings, &rows, &settings),
                lines,
                outcomes: outcomes.into_iter().map(|i| row_of(&findings[i])).collect(),
            }
        })
        .collect();
    if !rejections.is_empty() {
        rejection_lines.sort_by_key(|l| l.sort);
        traced.push(TracedStory {
            messages: Vec::new(),
            lines: rejection_lines,
            outcomes: rejections.iter().map(|f| row_of(f)).collect(),
        });
    }

    let messages = traced.iter().map(|s| s.messages.len()).sum();
    let lines_quoted = traced.iter().map(|s| s.lines.len()).sum();
    let (base, failures) = Metadata::new(&mut loaded, &settings, findings);
    let mut base = base;
    base.tickets = selection.tickets;
    let metadata = TraceMetadata {
        base,
        query: query.to_string(),
        stories: traced.len(),
        messages,
        lines_quoted,
    };
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &Document {
                    metadata: &metadata,
                    stories: &traced,
                },
            )?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            serde_json::to_writer(&mut out, &serde_json::json!({ "metadata": &metadata }))?;
            writeln!(out)?;
            for story in &traced {
                serde_json::to_writer(&mut out, story)?;
                writeln!(out)?;
            }
        }
        Format::Table | Format::Csv => {
            eprintln!(
                "# read {} input(s); trace of '{}': {} group(s) of linked messages, {} message(s), {} line(s)",
                metadata.base.files.len(),
                metadata.query,
                metadata.stories,
                metadata.messages,
                metadata.lines_quoted
            );
            if let Some(tickets) = &metadata.base.tickets {
                tickets.print();
            }
            if traced.is_empty() {
                let hint = if settings.tickets.is_active() {
                    ""
                } else {
                    " (to trace a ticket, give --ticket-preset, --ticket-pattern or --tickets)"
                };
                writeln!(out, "(no message matches '{query}'){hint}")?;
            }
            write_stories(&mut out, &traced)?;
        }
    }
    out.flush()?;
    finish(&failures)
}

/// A line of a trace, as found in one part of an input.
struct QuotedLine {
    /// Its number in the part, from 1.
    number: u64,
    /// Its event's time, else the last event's before it in the part.
    at: Option<DateTime<Utc>>,
    text: String,
    place: LineMatch,
}

/// The lines of a trace in one part of an input (a chunk of a mapped
/// file, or a whole stream), numbered from the part's start.
struct QuotedPart {
    matcher: LineMatcher,
    /// Lines read.
    lines: u64,
    /// The time of the last event read.
    last_event: Option<DateTime<Utc>>,
    quoted: Vec<QuotedLine>,
}

impl QuotedPart {
    fn new(matcher: LineMatcher) -> QuotedPart {
        QuotedPart {
            matcher,
            lines: 0,
            last_event: None,
            quoted: Vec::new(),
        }
    }

    /// Reads the next line (without its newline).
    fn read(&mut self, parser: &mut LineParser, line: &[u8]) {
        self.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parsed = parser.parse(line);
        if let Parsed::Event(event) = &parsed {
            self.last_event = Some(event.at);
        }
        let Some(place) = self.matcher.matches(&parsed, line) else {
            return;
        };
        self.quoted.push(QuotedLine {
            number: self.lines,
            at: match &parsed {
                Parsed::Event(event) => Some(event.at),
                _ => self.last_event,
            },
            text: line.to_str_lossy().into_owned(),
            place,
        });
    }
}

/// The rows of each (host, queue id) of the stories' members, in row
/// order: found in one pass over the rows, which may be every recipient of
/// a large log, rather than one pass per member.
fn rows_of_members<'s>(
    stories: &'s [Story],
    findings: &'s [Finding],
) -> FxHashMap<(&'s [u8], &'s [u8]), Vec<usize>> {
    let mut rows: FxHashMap<(&[u8], &[u8]), Vec<usize>> = (stories.iter())
        .flat_map(|story| &story.members)
        .map(|m| ((m.host.as_slice(), m.queue_id.as_slice()), Vec::new()))
        .collect();
    for (index, finding) in findings.iter().enumerate() {
        let row = &finding.outcome;
        if let Some(of_member) = rows.get_mut(&(row.host.as_slice(), row.queue_id.as_slice())) {
            of_member.push(index);
        }
    }
    rows
}

fn messages_of(
    log: &PartialLog,
    story: &Story,
    findings: &[Finding],
    rows: &FxHashMap<(&[u8], &[u8]), Vec<usize>>,
    settings: &Settings,
) -> Vec<TracedMessage> {
    story
        .members
        .iter()
        .map(|m| {
            let record = &log.messages[&m.key][m.segment];
            let ticket = rows[&(m.host.as_slice(), m.queue_id.as_slice())]
                .iter()
                .find_map(|&i| findings[i].ticket.clone());
            TracedMessage {
                host: m.host.to_str_lossy().into_owned(),
                queue_id: m.queue_id.to_str_lossy().into_owned(),
                relation: m.relation.name(),
                received_at: record
                    .received_at
                    .map(|t| format_time(t, settings.report_zone)),
                message_id: text(record.message_id.as_ref()),
                sender: record.sender.as_ref().map(|s| {
                    if s.is_empty() {
                        "<>".to_string()
                    } else {
                        s.to_str_lossy().into_owned()
                    }
                }),
                subject: text(record.subject.as_ref()),
                ticket,
            }
        })
        .collect()
}

fn write_stories<W: Write>(out: &mut W, stories: &[TracedStory]) -> std::io::Result<()> {
    for (index, story) in stories.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        if story.messages.is_empty() {
            writeln!(
                out,
                "== {}: rejections at SMTP time (no queue id)",
                index + 1
            )?;
        }
        for (n, m) in story.messages.iter().enumerate() {
            let lead = if n == 0 {
                format!("== {}:", index + 1)
            } else {
                "   +".to_string()
            };
            let mut facts = Vec::new();
            if !m.host.is_empty() {
                facts.push(format!("host {}", m.host));
            }
            if let Some(t) = &m.received_at {
                facts.push(format!("received {}", t.replace('T', " ")));
            }
            if let Some(s) = &m.sender {
                facts.push(format!("from {s}"));
            }
            if let Some(id) = &m.message_id {
                facts.push(format!("Message-ID <{id}>"));
            }
            if let Some(s) = &m.subject {
                facts.push(format!("subject \"{s}\""));
            }
            if let Some(t) = &m.ticket {
                facts.push(format!("ticket {t}"));
            }
            writeln!(
                out,
                "{lead} {} ({}) {}",
                m.queue_id,
                m.relation,
                facts.join("; ")
            )?;
        }
        let width = story
            .lines
            .iter()
            .map(|l| l.file.chars().count() + 1 + l.line.to_string().len())
            .max()
            .unwrap_or(0);
        for line in &story.lines {
            let place = format!("{}:{}", line.file, line.line);
            writeln!(out, "  {place:<width$}  {}", line.text)?;
        }
        if story.outcomes.is_empty() {
            continue;
        }
        writeln!(out, "  outcome:")?;
        let header: Vec<String> = [
            "QUEUE ID",
            "RECIPIENT",
            "OUTCOME",
            "CATEGORY",
            "CODE",
            "WHY",
        ]
        .map(String::from)
        .to_vec();
        let rows: Vec<Vec<String>> = story
            .outcomes
            .iter()
            .map(|r| {
                let code = [r.smtp_code.map(|c| c.to_string()), r.enhanced_code.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                vec![
                    r.queue_id.to_string(),
                    r.recipient.to_string(),
                    r.outcome.to_string(),
                    r.category.unwrap_or_default().to_string(),
                    code,
                    r.reason.as_deref().unwrap_or_default().to_string(),
                ]
            })
            .collect();
        let mut table = Vec::new();
        write_aligned(&mut table, &header, &rows)?;
        for line in String::from_utf8_lossy(&table).lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}
