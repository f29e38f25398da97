//! The steps every report shares: resolve options, read the inputs, select
//! and classify rows, describe what was done.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono_tz::Tz;
use mailtrail_analysis::classify::{Category, Classifier};
use mailtrail_analysis::ticket_report::{Delivery, later_delivery_recipients};
use mailtrail_analysis::tickets::RowTicket;
use mailtrail_analysis::{
    Finding, IndexedFindings, Outcome, OutcomeIndex, PartialLog, Progress, RecipientOutcome,
    Retention, RowFilter, ScanOptions, WantedMail, Window, WindowBy, outcomes_where,
};
use mailtrail_parse::ParserOptions;
use rayon::prelude::*;
use serde::Serialize;

use crate::args::{ByArg, FilterArgs, InputArgs, OutputArgs, WindowArgs};
use crate::input::{Input, Scanned, scan_input};
use crate::report::{Format, format_time};
use crate::ticketing::{Selection, TicketMeta, TicketSettings};
use crate::timearg;

/// The log zone, and where it came from (for the metadata).
pub fn log_zone(args: &InputArgs) -> anyhow::Result<(Tz, &'static str)> {
    match &args.log_tz {
        Some(name) => Ok((timearg::parse_zone(name).context("--log-tz")?, "--log-tz")),
        None => Ok(timearg::system_zone()),
    }
}

/// How inputs are scanned, from the shared input options.
pub fn scan_options(args: &InputArgs, zone: Tz) -> ScanOptions {
    let mut parser = ParserOptions::new(zone);
    parser.default_host = args.host.clone();
    let mut options = ScanOptions::new(parser);
    options.year = args.year;
    if let Some(size) = args.chunk_size {
        options.chunk_size = size.max(1);
    }
    options
}

/// Everything resolved from the options before any input is read, so a bad
/// option fails before the work.
pub struct Settings {
    pub log_zone: Tz,
    pub log_zone_source: &'static str,
    pub report_zone: Tz,
    pub window: Window,
    pub by: WindowBy,
    pub outcomes: Vec<Outcome>,
    pub include_notifications: bool,
    pub filter: RowFilter,
    pub classifier: Classifier,
    /// Ticket sources; set by [`Settings::with_tickets`].
    pub tickets: TicketSettings,
}

impl Settings {
    pub fn new(
        input: &InputArgs,
        window: &WindowArgs,
        filter: &FilterArgs,
    ) -> anyhow::Result<Settings> {
        if input.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let (log_zone, log_zone_source) = log_zone(input)?;
        let report_zone = match &window.tz {
            Some(name) => timearg::parse_zone(name).context("--tz")?,
            None => log_zone,
        };
        let since = window
            .since
            .as_deref()
            .map(|t| timearg::parse_time(t, report_zone).context("--since"))
            .transpose()?;
        let until = window
            .until
            .as_deref()
            .map(|t| timearg::parse_time(t, report_zone).context("--until"))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            bail!("--since must be before --until");
        }
        let classifier = match &filter.rules {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Classifier::with_user_rules(&text).with_context(|| format!("{}", path.display()))?
            }
            None => Classifier::builtin(),
        };
        // Compiled while the logs are read rather than after: it is most
        // of the time a small log takes.
        let preparing = classifier.clone();
        std::thread::spawn(move || preparing.prepare());
        let categories = filter
            .category
            .iter()
            .map(|c| {
                c.trim()
                    .parse::<Category>()
                    .map_err(|e| anyhow::anyhow!("--category: unknown category '{}'", e.0))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let reason = filter
            .reason
            .as_deref()
            .map(|p| {
                regex::bytes::Regex::new(p)
                    .with_context(|| format!("--match: invalid pattern '{p}'"))
            })
            .transpose()?;
        for code in &filter.code {
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit() || c == '.') {
                bail!(
                    "--code: '{code}' is not a reply code or enhanced code prefix (e.g. 550, 55, 5.7, 4.7.1)"
                );
            }
        }
        Ok(Settings {
            log_zone,
            log_zone_source,
            report_zone,
            window: Window { since, until },
            by: match window.by {
                ByArg::Failure => WindowBy::Failure,
                ByArg::Received => WindowBy::Received,
            },
            outcomes: parse_outcomes(&filter.outcome)?,
            include_notifications: filter.include_notifications,
            filter: RowFilter {
                categories,
                codes: filter.code.clone(),
                recipient_domains: filter.recipient_domain.clone(),
                remote_hosts: filter.remote_host.clone(),
                senders: filter.sender.clone(),
                reason,
            },
            classifier,
            tickets: TicketSettings::default(),
        })
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

impl Settings {
    /// What [`select_with_tickets`] needs kept of the finished entries:
    /// only those that may have a row with a selected outcome in the
    /// window, and with a ticket export those the join may match to one
    /// of its rows.
    pub fn retention(&self) -> Retention {
        let retention = Retention::outcomes_in(
            self.outcomes.iter().copied().collect(),
            self.window,
            self.by,
        );
        match &self.tickets.export {
            Some((_, export)) => retention.and_mail(&export.wanted_mail(&self.tickets.join)),
            None => retention,
        }
    }
}

/// Everything read from the inputs, merged in time order.
pub struct Loaded {
    pub log: PartialLog,
    pub files: Vec<FileMeta>,
    pub failures: Vec<String>,
    pub pool: rayon::ThreadPool,
}

#[derive(Clone, Serialize)]
pub struct FileMeta {
    pub name: String,
    pub compressed: bool,
    pub lines: u64,
    pub events: u64,
    pub irrelevant: u64,
    pub unrecognised: u64,
    /// How the year of yearless (classic syslog) timestamps was decided.
    pub year: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads every input (in parallel) and merges them oldest first, keeping
/// the finished entries `retention` asks for.
pub fn load(args: &InputArgs, zone: Tz, retention: Retention) -> anyhow::Result<Loaded> {
    load_with_digest(args, zone, retention, false)
}

/// [`load`], also keeping a digest of the deliveries of the entries
/// `retention` drops when `delivery_digest` is set (see
/// `PartialLog::with_delivery_digest`).
pub fn load_with_digest(
    args: &InputArgs,
    zone: Tz,
    retention: Retention,
    delivery_digest: bool,
) -> anyhow::Result<Loaded> {
    let mut options = scan_options(args, zone);
    options.retention = retention;
    options.delivery_digest = delivery_digest;
    let progress = progress_bar(args);
    if let Some(bar) = &progress {
        let bar = bar.clone();
        options.progress = Some(Progress(std::sync::Arc::new(move |n| bar.inc(n))));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;
    let inputs: Vec<Input> = args.logs.iter().map(|p| Input::from_arg(p)).collect();
    if inputs.iter().filter(|i| matches!(i, Input::Stdin)).count() > 1 {
        bail!("'-' (stdin) may be given only once");
    }
    let results: Vec<anyhow::Result<Scanned>> = pool.install(|| {
        inputs
            .par_iter()
            .map(|input| scan_input(input, &options, !args.no_mmap))
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
    let mut log = scanned
        .into_iter()
        .map(|s| s.log)
        .reduce(PartialLog::merge)
        .unwrap_or_default();
    pool.install(|| log.settle());
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(Loaded {
        log,
        files,
        failures,
        pool,
    })
}

/// Reads the inputs for a report of tickets and their later deliveries
/// (`tickets`, `resend`) and selects its rows ([`select_with_tickets`]).
///
/// A later delivery may be any message to a failed recipient, and keeping
/// every message until the end of the read (1.4 GB of records for a 1 GB
/// log) does not fit a laptop. So the inputs are read twice: first
/// keeping only what `undelivered` keeps, which finds the failed
/// recipients with a ticket, then also every entry that may have a row
/// for one of them received after its first failed message. Memory then
/// grows with the failures and the mail to those recipients, not with the
/// log. A file still being written may show a failure only in the second
/// read: it is read again, until a read keeps all that its own failures
/// need ([`READS_FOR_TICKETS`]). Standard input and pipes cannot be read
/// twice: inputs with one of them are read once, keeping everything.
pub fn load_for_tickets(
    args: &InputArgs,
    settings: &Settings,
) -> anyhow::Result<(Loaded, Selection)> {
    let read_once = (args.logs.iter()).any(|path| !Input::from_arg(path).can_be_read_again());
    let partial_reads = if read_once { 0 } else { READS_FOR_TICKETS };
    let mut kept = WantedMail::default();
    for _ in 0..partial_reads {
        let retention = settings.retention().and_mail(&kept);
        let loaded = load(args, settings.log_zone, retention)?;
        let selection = select_with_tickets(&loaded, settings);
        let needed = later_delivery_recipients(&selection.findings);
        if kept.covers(&needed) {
            return Ok((loaded, selection));
        }
        kept = kept.union(&needed);
    }
    // Read once, or a log that gains failures with tickets faster than it
    // is read.
    let loaded = load(args, settings.log_zone, Retention::Everything)?;
    let selection = select_with_tickets(&loaded, settings);
    Ok((loaded, selection))
}

/// How many times [`load_for_tickets`] reads its inputs, keeping part of
/// them, before it reads them once more keeping everything: two reads
/// suffice unless a file being written shows new failures at each.
const READS_FOR_TICKETS: usize = 3;

/// Inputs smaller than this are read too fast for a progress bar to help.
const PROGRESS_THRESHOLD: u64 = 64 << 20;

/// A progress bar on stderr for large inputs read on a terminal; never in
/// pipes or CI logs, and not with `--quiet`.
fn progress_bar(args: &InputArgs) -> Option<indicatif::ProgressBar> {
    if args.quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = args
        .logs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if total < PROGRESS_THRESHOLD {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {bar:30} {binary_bytes_per_sec} ETA {eta}",
    )
    .ok()?;
    bar.set_style(style);
    Some(bar)
}

/// The rows a report is about: the selected outcomes in the window,
/// classified, passing the filters. Classification runs on the worker
/// pool; the row order stays that of [`outcomes`].
pub fn select(loaded: &Loaded, settings: &Settings) -> Vec<Finding> {
    select_with_tickets(loaded, settings).findings
}

/// [`select`], with tickets: when ticket sources are given, every row of
/// the input (not only the selected ones) takes part in the ticket join,
/// and the deliveries that carry a ticket are returned too.
pub fn select_with_tickets(loaded: &Loaded, settings: &Settings) -> Selection {
    let selected = |outcome: Outcome, is_notification: bool| {
        settings.outcomes.contains(&outcome) && (settings.include_notifications || !is_notification)
    };
    let with_tickets = settings.tickets.is_active();
    let keep = |outcome: Outcome, is_notification: bool| {
        selected(outcome, is_notification) || (with_tickets && !is_notification)
    };
    let chosen = |row: &RecipientOutcome| {
        selected(row.outcome, row.is_notification) && settings.window.selects(row, settings.by)
    };
    let (rows, mut tickets, deliveries, export) = if settings.tickets.joins_export() {
        // The join looks at every row at once.
        let mut rows = loaded.pool.install(|| outcomes_where(&loaded.log, keep));
        let assignment = settings.tickets.assign(&rows);
        let mut tickets = assignment.rows;
        let mut deliveries = Vec::new();
        // Rows are large and many: they are filtered in place rather than
        // moved into new vectors, which costs fresh memory at each step.
        let selected_rows: Vec<bool> = rows
            .iter()
            .zip(&tickets)
            .map(|(r, ticket)| {
                deliveries.extend(Delivery::from_row(r, ticket.ticket()));
                chosen(r)
            })
            .collect();
        retain_where(&mut rows, &selected_rows);
        retain_where(&mut tickets, &selected_rows);
        (rows, tickets, deliveries, assignment.export)
    } else {
        let (rows, tickets, deliveries) = loaded
            .pool
            .install(|| rows_by_pattern(&loaded.log, settings, keep, chosen));
        (rows, tickets, deliveries, None)
    };
    let mut findings = loaded
        .pool
        .install(|| Finding::classify_all(rows, &settings.classifier));
    for (finding, ticket) in findings.iter_mut().zip(&tickets) {
        finding.ticket = ticket.ticket().map(str::to_string);
    }
    let matching: Vec<bool> = findings
        .iter()
        .map(|f| settings.filter.matches(f))
        .collect();
    retain_where(&mut findings, &matching);
    retain_where(&mut tickets, &matching);
    Selection {
        tickets: settings.tickets.meta(export, &tickets),
        findings,
        deliveries,
    }
}

/// The rows `chosen` of those `keep` builds, with the tickets the patterns
/// find in them, and the deliveries that carry a ticket among all of them.
///
/// Each row is made, looked at and, unless chosen, dropped at once: a
/// ticket report over a whole log sees every delivered recipient, and
/// holding all of their rows at the same time (about half a kilobyte
/// each) doubled the memory of the log's records. Rows are made in
/// batches in parallel and come out in report order.
fn rows_by_pattern(
    log: &PartialLog,
    settings: &Settings,
    keep: impl Fn(Outcome, bool) -> bool + Sync,
    chosen: impl Fn(&RecipientOutcome) -> bool + Sync,
) -> (Vec<RecipientOutcome>, Vec<RowTicket>, Vec<Delivery>) {
    const BATCH: usize = 4096;
    let index = OutcomeIndex::new(log, keep);
    let batches: Vec<_> = (0..index.len().div_ceil(BATCH))
        .into_par_iter()
        .map(|batch| {
            let mut rows = Vec::new();
            let mut tickets = Vec::new();
            let mut deliveries = Vec::new();
            for at in batch * BATCH..((batch + 1) * BATCH).min(index.len()) {
                let row = index.row(at);
                let ticket = (settings.tickets.extractor.ticket_of(&row)).unwrap_or_default();
                deliveries.extend(Delivery::from_row(&row, ticket.ticket()));
                if chosen(&row) {
                    rows.push(row);
                    tickets.push(ticket);
                }
            }
            (rows, tickets, deliveries)
        })
        .collect();
    let mut all = (Vec::new(), Vec::new(), Vec::new());
    for (rows, tickets, deliveries) in batches {
        all.0.extend(rows);
        all.1.extend(tickets);
        all.2.extend(deliveries);
    }
    all
}

/// The rows of a report, classified: made when they are written, from
/// the log, unless tickets are assigned (the ticket join looks at every row
/// of the input at once).
pub enum Rows<'a> {
    /// Findings made up front, with their tickets.
    Made(Vec<Finding>),
    /// Findings made one at a time from the log.
    Indexed(IndexedFindings<'a>),
}

impl Rows<'_> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Made(findings) => findings.len(),
            Rows::Indexed(findings) => findings.len(),
        }
    }

    /// The outcome of row `index`.
    pub fn outcome(&self, index: usize) -> Outcome {
        match self {
            Rows::Made(findings) => findings[index].outcome.outcome,
            Rows::Indexed(findings) => findings.outcome(index),
        }
    }

    /// Calls `f` with the finding of row `index`.
    pub fn with_finding<T>(&self, index: usize, f: impl FnOnce(&Finding) -> T) -> T {
        match self {
            Rows::Made(findings) => f(&findings[index]),
            Rows::Indexed(findings) => f(&findings.get(index)),
        }
    }
}

/// The rows of [`select_with_tickets`] and the ticket metadata, made up
/// front only when tickets are assigned.
pub fn select_rows<'a>(loaded: &'a Loaded, settings: &Settings) -> (Rows<'a>, Option<TicketMeta>) {
    if settings.tickets.is_active() {
        let selection = select_with_tickets(loaded, settings);
        return (Rows::Made(selection.findings), selection.tickets);
    }
    // What `select_with_tickets` does, without tickets, on places in the
    // log rather than copies of its texts.
    let selected = |outcome: Outcome, is_notification: bool| {
        settings.outcomes.contains(&outcome) && (settings.include_notifications || !is_notification)
    };
    let findings = loaded.pool.install(|| {
        let mut rows = OutcomeIndex::new(&loaded.log, selected);
        let window = &settings.window;
        if window.since.is_some() || window.until.is_some() {
            let in_window: Vec<bool> = (0..rows.len())
                .into_par_iter()
                .map(|row| window.selects(&rows.row(row), settings.by))
                .collect();
            rows.retain_flagged(&in_window);
        }
        let mut findings = IndexedFindings::classify(rows, &settings.classifier);
        if !settings.filter.is_empty() {
            findings.retain(|f| settings.filter.matches(f));
        }
        findings
    });
    (Rows::Indexed(findings), None)
}

/// Keeps the items whose flag is set.
fn retain_where<T>(items: &mut Vec<T>, flags: &[bool]) {
    let mut flag = flags.iter();
    items.retain(|_| *flag.next().expect("one flag per item"));
}

/// Opens the report destination; the format defaults to a table on a
/// terminal and CSV elsewhere.
pub fn open_output(args: &OutputArgs) -> anyhow::Result<(Box<dyn Write>, Format)> {
    let format = args
        .format
        .unwrap_or(if args.output.is_none() && io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Csv
        });
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    Ok((out, format))
}

#[derive(Serialize)]
pub struct LineTotals {
    total: u64,
    events: u64,
    irrelevant: u64,
    unrecognised: u64,
    unrecognised_by_reason: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
pub struct ClockMeta {
    ambiguous_times: u64,
    ambiguous_resolved_to_second_pass: u64,
    gap_times_shifted: u64,
    invalid_dates: u64,
    year_rollovers: u64,
}

/// What was read and how it was interpreted: written to stderr for table
/// and CSV output, into the document for JSON.
#[derive(Serialize)]
pub struct Metadata {
    pub files: Vec<FileMeta>,
    pub lines: LineTotals,
    pub log_zone: String,
    pub log_zone_source: &'static str,
    pub report_zone: String,
    pub clock: ClockMeta,
    pub window_since: Option<String>,
    pub window_until: Option<String>,
    pub window_by: &'static str,
    pub outcomes_selected: Vec<&'static str>,
    pub rows: usize,
    pub rows_by_outcome: BTreeMap<&'static str, usize>,
    /// How tickets were assigned; set by commands that use them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickets: Option<TicketMeta>,
}

impl Metadata {
    pub fn new(
        loaded: &mut Loaded,
        settings: &Settings,
        findings: &[Finding],
    ) -> (Metadata, Vec<String>) {
        let outcomes = findings.iter().map(|f| f.outcome.outcome);
        let mut metadata = Metadata::describe(loaded, settings, outcomes);
        metadata.files = std::mem::take(&mut loaded.files);
        // The report is all that is left to do: freeing a log of millions of
        // small records one by one took seconds (and even a retained log's
        // hundred thousand failures cost 0.4 s of cache misses), and the
        // process is about to return the memory whole.
        std::mem::forget(std::mem::take(&mut loaded.log));
        (metadata, std::mem::take(&mut loaded.failures))
    }

    /// The metadata of rows of `outcomes`, leaving the log to the caller
    /// (whose rows may still be made from it).
    pub fn describe(
        loaded: &Loaded,
        settings: &Settings,
        outcomes: impl Iterator<Item = Outcome>,
    ) -> Metadata {
        let mut rows_by_outcome = BTreeMap::new();
        let mut rows = 0;
        for outcome in outcomes {
            *rows_by_outcome.entry(outcome.name()).or_insert(0) += 1;
            rows += 1;
        }
        let log = &loaded.log;
        let clock = log.clock;
        Metadata {
            lines: LineTotals {
                total: log.counts.total(),
                events: log.counts.events,
                irrelevant: log.counts.irrelevant,
                unrecognised: log.counts.unrecognised_total(),
                unrecognised_by_reason: log.counts.unrecognised.iter().copied().collect(),
            },
            files: loaded.files.clone(),
            log_zone: settings.log_zone.name().to_string(),
            log_zone_source: settings.log_zone_source,
            report_zone: settings.report_zone.name().to_string(),
            clock: ClockMeta {
                ambiguous_times: clock.ambiguous,
                ambiguous_resolved_to_second_pass: clock.ambiguous_second,
                gap_times_shifted: clock.gap_shifted,
                invalid_dates: clock.invalid,
                year_rollovers: clock.year_rollovers,
            },
            window_since: settings
                .window
                .since
                .map(|t| format_time(t, settings.report_zone)),
            window_until: settings
                .window
                .until
                .map(|t| format_time(t, settings.report_zone)),
            window_by: match settings.by {
                WindowBy::Failure => "failure",
                WindowBy::Received => "received",
            },
            outcomes_selected: settings.outcomes.iter().map(|o| o.name()).collect(),
            rows,
            rows_by_outcome,
            tickets: None,
        }
    }

    /// The metadata as `# ` lines on stderr.
    pub fn print(&self) {
        let lines = &self.lines;
        eprintln!(
            "# read {} input(s): {} lines = {} events + {} irrelevant + {} unrecognised",
            self.files.len(),
            lines.total,
            lines.events,
            lines.irrelevant,
            lines.unrecognised
        );
        eprintln!(
            "# log times without offset read in {} ({}); report times in {}",
            self.log_zone, self.log_zone_source, self.report_zone
        );
        let clock = &self.clock;
        if clock.ambiguous_times + clock.gap_times_shifted + clock.invalid_dates > 0 {
            eprintln!(
                "# clock: {} ambiguous (fold) times, {} in the second pass; {} gap times shifted; {} invalid dates",
                clock.ambiguous_times,
                clock.ambiguous_resolved_to_second_pass,
                clock.gap_times_shifted,
                clock.invalid_dates
            );
        }
        for file in self
            .files
            .iter()
            .filter(|f| f.year.starts_with(|c: char| c.is_ascii_digit()))
        {
            eprintln!("# {}: year of syslog timestamps {}", file.name, file.year);
        }
        let since = self.window_since.as_deref().unwrap_or("-∞");
        let until = self.window_until.as_deref().unwrap_or("+∞");
        let counts: Vec<String> = self
            .rows_by_outcome
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!(
            "# window [{since}, {until}) by {}; outcomes {}: {} row(s){}{}",
            self.window_by,
            self.outcomes_selected.join(","),
            self.rows,
            if counts.is_empty() { "" } else { " — " },
            counts.join(", ")
        );
        if let Some(tickets) = &self.tickets {
            tickets.print();
        }
    }
}

/// Reports inputs that failed; the exit code says whether any did.
pub fn finish(failures: &[String]) -> anyhow::Result<ExitCode> {
    for failure in failures {
        eprintln!("mailtrail: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
