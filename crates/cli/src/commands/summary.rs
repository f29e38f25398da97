//! `mailtrail summary`: counts by outcome and category, by recipient
//! domain, receiver, blocklist, listed IP and sender domain, and the
//! failure rate against a baseline. The counting is
//! `mailtrail_analysis::summary`; this module selects and formats.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use chrono_tz::Tz;
use clap::Args;
use mailtrail_analysis::summary::{self, Counts, Dimension, Rate, Summary};
use mailtrail_analysis::{Finding, Outcome, RowFilter, Window, WindowBy};
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, OutputArgs, WindowArgs};
use crate::pipeline::{Loaded, Metadata, Settings, finish, load, open_output, select};
use crate::report::{Format, format_time};
use crate::timearg;
use mailtrail_analysis::Retention;

/// Options of `mailtrail summary`.
#[derive(Args, Debug)]
#[command(mut_arg("outcome", |a| a.default_value("all")))]
pub struct SummaryArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Start of the baseline window [default: the window of equal length
    /// just before --since].
    #[arg(long, value_name = "TIME")]
    pub baseline_since: Option<String>,
    /// End of the baseline window (exclusive) [default: --since].
    #[arg(long, value_name = "TIME")]
    pub baseline_until: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Keys shown per dimension in the table (JSON and CSV have all).
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub top: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail summary --log-tz UTC --since '2024-10-19 18:00' --until '2024-10-20 13:00' mainlog
  mailtrail summary --since 2024-10-20 --until 2024-10-21 --baseline-since 2024-10-13 mainlog*
  mailtrail summary --by received --recipient-domain example.org --format json mainlog
  mailtrail summary --format csv -o summary.csv mainlog mainlog.1.gz

The failure rate is undelivered recipients / recipients attempted (SMTP-time
rejections are not attempts). Category, code, remote-host and --match filters
narrow what counts as undelivered; recipient-domain and sender filters narrow
the recipients attempted too.";

/// The rows a counting report needs: every outcome, any time, only the
/// population filters (recipient domain, sender), so that delivered
/// recipients and the baseline are there. `settings` is left as given.
pub(crate) fn select_all(loaded: &Loaded, settings: &mut Settings) -> Vec<Finding> {
    let outcomes = std::mem::replace(&mut settings.outcomes, Outcome::ALL.to_vec());
    let window = std::mem::take(&mut settings.window);
    let population = RowFilter {
        recipient_domains: settings.filter.recipient_domains.clone(),
        senders: settings.filter.senders.clone(),
        ..RowFilter::default()
    };
    let filter = std::mem::replace(&mut settings.filter, population);
    let findings = select(loaded, settings);
    settings.outcomes = outcomes;
    settings.window = window;
    settings.filter = filter;
    findings
}

/// What a report of every outcome over a window needs kept of the
/// finished entries (`summary`, `timeline`, `incident`): those that may
/// have a row, of any outcome, in its window or its `baseline`.
pub(crate) fn counting_retention(settings: &Settings, baseline: Option<Window>) -> Retention {
    let window = match baseline {
        Some(baseline) => settings.window.hull(&baseline),
        None => settings.window,
    };
    Retention::outcomes_in(Outcome::ALL.into_iter().collect(), window, settings.by)
}

/// True when the report counts this row: a selected outcome passing every
/// filter.
pub(crate) fn counted(settings: &Settings) -> impl Fn(&Finding) -> bool + '_ {
    |f| settings.outcomes.contains(&f.outcome.outcome) && settings.filter.matches(f)
}

/// The metadata of a counting report: `counts` are the rows it counted.
pub(crate) fn metadata(
    mut loaded: Loaded,
    settings: &Settings,
    counts: &Counts,
) -> (Metadata, Vec<String>) {
    let (mut metadata, failures) = Metadata::new(&mut loaded, settings, &[]);
    metadata.rows = counts.total() as usize;
    for outcome in Outcome::ALL {
        let n = counts.outcome(outcome);
        if n > 0 {
            metadata.rows_by_outcome.insert(outcome.name(), n as usize);
        }
    }
    (metadata, failures)
}

pub fn run(args: SummaryArgs) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::new(&args.input, &args.window, &args.filter)?;
    let zone = settings.report_zone;
    let parse = |value: &Option<String>, flag: &str| {
        value
            .as_deref()
            .map(|t| timearg::parse_time(t, zone).with_context(|| flag.to_string()))
            .transpose()
    };
    let baseline_since = parse(&args.baseline_since, "--baseline-since")?;
    let baseline_until = parse(&args.baseline_until, "--baseline-until")?;
    let baseline = summary::baseline_window(&settings.window, baseline_since, baseline_until)
        .map_err(anyhow::Error::msg)?;
    let (mut out, format) = open_output(&args.output)?;
    let loaded = load(
        &args.input,
        settings.log_zone,
        counting_retention(&settings, baseline),
    )?;
    let findings = select_all(&loaded, &mut settings);
    let report = summary::summarise(
        &findings,
        settings.window,
        baseline,
        settings.by,
        counted(&settings),
    );
    let (metadata, failures) = metadata(loaded, &settings, &report.counts);
    match format {
        Format::Table => {
            metadata.print();
            write_table(&mut out, &report, &settings, args.top)?;
        }
        Format::Csv => {
            metadata.print();
            // The header is written even when there are no rows.
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            writer.write_record(["dimension", "key", "outcome", "category", "count"])?;
            for row in long_rows(&report, zone) {
                writer.serialize(row)?;
            }
            writer.flush()?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &document(&report, &settings, &metadata))?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            crate::report::write_ndjson(&mut out, &metadata, long_rows(&report, zone))?
        }
    }
    out.flush()?;
    finish(&failures)
}

/// One line of the long CSV form.
#[derive(Serialize)]
pub(crate) struct LongRow {
    dimension: &'static str,
    key: String,
    outcome: &'static str,
    category: &'static str,
    count: u64,
}

fn category_name(category: Option<mailtrail_analysis::classify::Category>) -> &'static str {
    category.map_or("", |c| c.as_str())
}

/// `since/until` in the report zone, `..` for an open end (ISO 8601).
fn interval(window: &Window, zone: Tz) -> String {
    let end = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("..".to_string(), |t| format_time(t, zone))
    };
    format!("{}/{}", end(window.since), end(window.until))
}

fn long_rows(report: &Summary, zone: Tz) -> Vec<LongRow> {
    let mut rows = Vec::new();
    let mut push = |dimension: &'static str, key: &str, counts: &Counts| {
        for ((outcome, category), count) in &counts.0 {
            rows.push(LongRow {
                dimension,
                key: key.to_string(),
                outcome: outcome.name(),
                category: category_name(*category),
                count: *count,
            });
        }
    };
    push("window", &interval(&report.window, zone), &report.counts);
    if let (Some(window), Some(counts)) = (&report.baseline_window, &report.baseline_counts) {
        push("baseline", &interval(window, zone), counts);
    }
    for (dimension, keys) in &report.dimensions {
        for (key, counts) in keys {
            push(dimension.name(), key, counts);
        }
    }
    rows
}

/// `(outcome, category, count)` cells for JSON.
#[derive(Serialize)]
pub(crate) struct Cell {
    outcome: &'static str,
    category: Option<&'static str>,
    count: u64,
}

pub(crate) fn cells(counts: &Counts) -> Vec<Cell> {
    counts
        .0
        .iter()
        .map(|((outcome, category), count)| Cell {
            outcome: outcome.name(),
            category: category.map(|c| c.as_str()),
            count: *count,
        })
        .collect()
}

#[derive(Serialize)]
struct RateJson {
    since: Option<String>,
    until: Option<String>,
    attempted: u64,
    undelivered: u64,
    rate: Option<f64>,
}

fn rate_json(window: &Window, rate: Rate, zone: Tz) -> RateJson {
    RateJson {
        since: window.since.map(|t| format_time(t, zone)),
        until: window.until.map(|t| format_time(t, zone)),
        attempted: rate.attempted,
        undelivered: rate.undelivered,
        rate: rate.ratio(),
    }
}

#[derive(Serialize)]
struct KeyJson<'a> {
    key: &'a str,
    recipients: u64,
    undelivered: u64,
    counts: Vec<Cell>,
}

/// Keys of one dimension, most undelivered first.
fn ranked(keys: &std::collections::BTreeMap<String, Counts>) -> Vec<(&String, &Counts)> {
    let mut list: Vec<_> = keys.iter().collect();
    list.sort_by(|a, b| {
        b.1.undelivered()
            .cmp(&a.1.undelivered())
            .then(b.1.total().cmp(&a.1.total()))
            .then(a.0.cmp(b.0))
    });
    list
}

fn document(report: &Summary, settings: &Settings, metadata: &Metadata) -> serde_json::Value {
    let zone = settings.report_zone;
    let mut dimensions = serde_json::Map::new();
    for (dimension, keys) in &report.dimensions {
        let list: Vec<KeyJson> = ranked(keys)
            .into_iter()
            .map(|(key, counts)| KeyJson {
                key,
                recipients: counts.total(),
                undelivered: counts.undelivered(),
                counts: cells(counts),
            })
            .collect();
        dimensions.insert(
            dimension.name().to_string(),
            serde_json::to_value(list).expect("serialisable"),
        );
    }
    let categories: Vec<serde_json::Value> = report
        .categories
        .iter()
        .map(|c| {
            serde_json::json!({
                "category": c.category.map(|c| c.as_str()),
                "window": c.window,
                "baseline": c.baseline,
                "expected": c.expected,
                "excess": c.excess(),
            })
        })
        .collect();
    let a = report.affected;
    serde_json::json!({
        "metadata": metadata,
        "failure_rate": {
            "window": rate_json(&report.window, report.rate, zone),
            "baseline": report.baseline_window.zip(report.baseline_rate).map(|(w, r)| rate_json(&w, r, zone)),
            "expected_undelivered": report.expected_undelivered(),
            "excess_undelivered": report.expected_undelivered().map(|e| report.rate.undelivered as f64 - e),
        },
        "affected": {
            "undelivered_messages": a.undelivered_messages,
            "undelivered_recipients": a.undelivered_recipients,
            "failed_messages": a.failed_messages,
            "failed_recipients": a.failed_recipients,
            "rejections": a.rejections,
        },
        "by_outcome_category": cells(&report.counts),
        "baseline_by_outcome_category": report.baseline_counts.as_ref().map(cells),
        "categories_against_baseline": categories,
        "by": dimensions,
    })
}

fn percent(rate: Rate) -> String {
    match rate.ratio() {
        Some(r) => format!(
            "{:.1}% ({} of {} attempted)",
            r * 100.0,
            rate.undelivered,
            rate.attempted
        ),
        None => "- (nothing attempted)".to_string(),
    }
}

/// Writes `rows` as aligned columns under `header`, indented by two
/// spaces; `align` has one letter per column, `l` (left) or `r` (right).
pub(crate) fn columns(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    align: &str,
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let mut text = String::from("  ");
        for (i, ((cell, width), side)) in cells.iter().zip(&widths).zip(align.chars()).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            if side == 'l' {
                text.push_str(&format!("{cell:<width$}"));
            } else {
                text.push_str(&format!("{cell:>width$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header.to_vec())?;
    for row in rows {
        line(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

fn write_table(
    out: &mut dyn Write,
    report: &Summary,
    settings: &Settings,
    top: usize,
) -> io::Result<()> {
    let zone = settings.report_zone;
    let by = match settings.by {
        WindowBy::Failure => "failure",
        WindowBy::Received => "reception",
    };
    writeln!(
        out,
        "Window {} by {by} time",
        interval(&report.window, zone)
    )?;
    match (&report.baseline_window, report.baseline_rate) {
        (Some(window), Some(rate)) => {
            writeln!(out, "Baseline {}", interval(window, zone))?;
            writeln!(out)?;
            writeln!(out, "Failure rate  window   {}", percent(report.rate))?;
            writeln!(out, "              baseline {}", percent(rate))?;
            if let Some(expected) = report.expected_undelivered() {
                writeln!(
                    out,
                    "At the baseline rate {expected:.1} undelivered were expected anyway; {:.1} more than that.",
                    report.rate.undelivered as f64 - expected
                )?;
            }
        }
        _ => {
            writeln!(out)?;
            writeln!(out, "Failure rate  {}", percent(report.rate))?;
            writeln!(
                out,
                "(no baseline: give --since and --until, or --baseline-since/--baseline-until)"
            )?;
        }
    }
    let a = report.affected;
    writeln!(out)?;
    writeln!(
        out,
        "Undelivered: {} recipients of {} messages. Failed at least once (incl. delivered late): {} recipients of {} messages. SMTP-time rejections: {}.",
        a.undelivered_recipients,
        a.undelivered_messages,
        a.failed_recipients,
        a.failed_messages,
        a.rejections
    )?;
    writeln!(out)?;
    writeln!(out, "By outcome and category")?;
    let rows: Vec<Vec<String>> = report
        .counts
        .0
        .iter()
        .map(|((outcome, category), n)| {
            vec![
                outcome.name().to_string(),
                category.map_or("-", |c| c.as_str()).to_string(),
                n.to_string(),
            ]
        })
        .collect();
    columns(out, &["OUTCOME", "CATEGORY", "COUNT"], &rows, "llr")?;
    if !report.categories.is_empty() {
        writeln!(out)?;
        writeln!(out, "Undelivered by category against the baseline")?;
        let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let rows: Vec<Vec<String>> = report
            .categories
            .iter()
            .map(|c| {
                vec![
                    c.category.map_or("-", |c| c.as_str()).to_string(),
                    c.window.to_string(),
                    c.baseline.to_string(),
                    number(c.expected),
                    number(c.excess()),
                ]
            })
            .collect();
        columns(
            out,
            &["CATEGORY", "WINDOW", "BASELINE", "EXPECTED", "EXCESS"],
            &rows,
            "lrrrr",
        )?;
    }
    for (dimension, keys) in &report.dimensions {
        writeln!(out)?;
        let title = match dimension {
            Dimension::RecipientDomain => "By recipient domain",
            Dimension::Receiver => "By receiver (provider, or MX domain)",
            Dimension::Blocklist => "By blocklist",
            Dimension::ListedIp => "By listed IP",
            Dimension::SenderDomain => "By sender domain",
        };
        if keys.is_empty() {
            writeln!(out, "{title}: none")?;
            continue;
        }
        let shown = if keys.len() > top {
            format!(" (top {top} of {})", keys.len())
        } else {
            String::new()
        };
        writeln!(out, "{title}{shown}")?;
        let rows: Vec<Vec<String>> = ranked(keys)
            .into_iter()
            .take(top)
            .map(|(key, counts)| {
                let categories: Vec<String> = counts
                    .by_category()
                    .into_iter()
                    .filter_map(|(c, n)| c.map(|c| format!("{c} {n}")))
                    .take(3)
                    .collect();
                vec![
                    key.clone(),
                    counts.total().to_string(),
                    counts.undelivered().to_string(),
                    counts.outcome(Outcome::Delayed).to_string(),
                    categories.join(", "),
                ]
            })
            .collect();
        columns(
            out,
            &["KEY", "RECIPIENTS", "UNDELIVERED", "DELAYED", "CATEGORIES"],
            &rows,
            "lrrrl",
        )?;
    }
    Ok(())
}
