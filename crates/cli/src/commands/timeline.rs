//! `mailtrail timeline`: rows per time bucket, per category and outcome,
//! with a terminal bar chart, and the first and last failure of each
//! category. The bucketing is `mailtrail_analysis::summary::timeline`.

use std::io::{self, Write};
use std::process::ExitCode;

use chrono::TimeDelta;
use chrono_tz::Tz;
use clap::Args;
use mailtrail_analysis::summary::{self, Counts, Timeline};
use mailtrail_analysis::{Outcome, WindowBy};
use serde::Serialize;

use crate::args::{FilterArgs, InputArgs, OutputArgs, WindowArgs};
use crate::commands::summary::{
    Cell, cells, columns, counted, counting_retention, metadata, select_all,
};
use crate::pipeline::{Metadata, Settings, finish, load, open_output};
use crate::report::{Format, format_time};

/// At most this many buckets, so a typo in --bucket cannot exhaust memory.
const MAX_BUCKETS: u64 = 100_000;

/// Options of `mailtrail timeline`.
#[derive(Args, Debug)]
#[command(mut_arg("outcome", |a| a.default_value("all")))]
pub struct TimelineArgs {
    /// Bucket length: a number and a unit, s, m, h or d (`15m`, `1h`,
    /// `1d`). Buckets are aligned to their length in the report zone.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_bucket)]
    pub bucket: TimeDelta,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail timeline --log-tz UTC --since '2024-10-19 12:00' --until '2024-10-20 18:00' mainlog
  mailtrail timeline --bucket 15m --category blocklisted,reputation mainlog
  mailtrail timeline --bucket 1d --tz Europe/Berlin --format csv mainlog* > per-day.csv

A recipient is placed once: at its first failure in the window (a delivered
one at its delivery), or with --by received at its reception. The chart
shows undelivered (█) and delivered-late (░) recipients; width follows
$COLUMNS.";

/// Parses `15m`, `1h`, `1d`, `90s`.
fn parse_bucket(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 15m, 1h or 1d"))?;
    if n <= 0 {
        return Err("the bucket must be longer than zero".to_string());
    }
    let unit_seconds = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use s, m, h or d, e.g. 15m, 1h, 1d)"
            ));
        }
    };
    n.checked_mul(unit_seconds)
        .filter(|s| *s <= 366 * 86_400)
        .map(TimeDelta::seconds)
        .ok_or_else(|| format!("'{text}' is longer than a year"))
}

/// `1h`, `15m`, `1d`, `90s`: the bucket length as it would be typed.
fn bucket_name(size: TimeDelta) -> String {
    let s = size.num_seconds();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s % len == 0 {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

pub fn run(args: TimelineArgs) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::new(&args.input, &args.window, &args.filter)?;
    let (mut out, format) = open_output(&args.output)?;
    let loaded = load(
        &args.input,
        settings.log_zone,
        counting_retention(&settings, None),
    )?;
    let findings = select_all(&loaded, &mut settings);
    let zone = settings.report_zone;
    let timeline = summary::timeline(
        &findings,
        &settings.window,
        settings.by,
        counted(&settings),
        args.bucket,
        &zone,
        MAX_BUCKETS,
    )
    .map_err(|e| anyhow::anyhow!("--bucket {}: {e}", bucket_name(args.bucket)))?;
    let mut total = Counts::default();
    for bucket in &timeline.buckets {
        for (key, n) in &bucket.counts.0 {
            *total.0.entry(*key).or_insert(0) += n;
        }
    }
    let (metadata, failures) = metadata(loaded, &settings, &total);
    match format {
        Format::Table => {
            metadata.print();
            write_table(&mut out, &timeline, &settings, args.bucket)?;
        }
        Format::Csv => {
            metadata.print();
            // The header is written even when there are no rows.
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            writer.write_record(["bucket_start", "category", "outcome", "count"])?;
            for row in long_rows(&timeline, zone) {
                writer.serialize(row)?;
            }
            writer.flush()?;
        }
        Format::Json => {
            let document = Document {
                metadata: &metadata,
                bucket: bucket_name(args.bucket),
                bucket_seconds: args.bucket.num_seconds(),
                zone: zone.name(),
                buckets: timeline
                    .buckets
                    .iter()
                    .map(|b| BucketJson {
                        start: format_time(b.start, zone),
                        recipients: b.counts.total(),
                        undelivered: b.counts.undelivered(),
                        delayed: b.counts.outcome(Outcome::Delayed),
                        counts: cells(&b.counts),
                    })
                    .collect(),
                categories: spans(&timeline, zone),
                unplaced: timeline.unplaced,
            };
            serde_json::to_writer_pretty(&mut out, &document)?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            crate::report::write_ndjson(&mut out, &metadata, long_rows(&timeline, zone))?
        }
    }
    out.flush()?;
    finish(&failures)
}

#[derive(Serialize)]
struct Document<'a> {
    metadata: &'a Metadata,
    bucket: String,
    bucket_seconds: i64,
    zone: &'a str,
    buckets: Vec<BucketJson>,
    categories: Vec<SpanJson>,
    unplaced: u64,
}

#[derive(Serialize)]
struct BucketJson {
    start: String,
    recipients: u64,
    undelivered: u64,
    delayed: u64,
    counts: Vec<Cell>,
}

#[derive(Serialize)]
struct SpanJson {
    category: &'static str,
    recipients: u64,
    first_failure_at: String,
    last_failure_at: String,
}

fn spans(timeline: &Timeline, zone: Tz) -> Vec<SpanJson> {
    timeline
        .spans
        .iter()
        .map(|s| SpanJson {
            category: s.category.as_str(),
            recipients: s.rows,
            first_failure_at: format_time(s.first, zone),
            last_failure_at: format_time(s.last, zone),
        })
        .collect()
}

/// One CSV line: `bucket_start,category,outcome,count`; only non-zero
/// cells are written.
#[derive(Serialize)]
struct LongRow {
    bucket_start: String,
    category: &'static str,
    outcome: &'static str,
    count: u64,
}

fn long_rows(timeline: &Timeline, zone: Tz) -> Vec<LongRow> {
    let mut rows = Vec::new();
    for bucket in &timeline.buckets {
        let start = format_time(bucket.start, zone);
        // Category first, as in the header.
        let mut cells: Vec<_> = bucket.counts.0.iter().collect();
        cells.sort_by_key(|((outcome, category), _)| (*category, *outcome));
        for ((outcome, category), count) in cells {
            rows.push(LongRow {
                bucket_start: start.clone(),
                category: category.map_or("", |c| c.as_str()),
                outcome: outcome.name(),
                count: *count,
            });
        }
    }
    rows
}

/// A bar of `full` (█, in eighths) then `light` (░) cells, for values
/// scaled so that `max` fills `width`. A non-zero value shows at least a
/// sliver.
fn bar(undelivered: u64, delayed: u64, max: u64, width: usize) -> String {
    if max == 0 {
        return String::new();
    }
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let scale = |v: u64, units: usize| ((v as f64 / max as f64) * units as f64).round() as usize;
    let mut eighths = scale(undelivered, width * 8);
    if undelivered > 0 {
        eighths = eighths.max(1);
    }
    let mut text = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        text.push(EIGHTHS[eighths % 8]);
    }
    let mut light = scale(delayed, width);
    if delayed > 0 {
        light = light.max(1);
    }
    text.push_str(&"░".repeat(light));
    text
}

fn write_table(
    out: &mut dyn Write,
    timeline: &Timeline,
    settings: &Settings,
    size: TimeDelta,
) -> io::Result<()> {
    let zone = settings.report_zone;
    let by = match settings.by {
        WindowBy::Failure => "first failure (delivered: delivery)",
        WindowBy::Received => "reception",
    };
    writeln!(
        out,
        "Buckets of {} in {}, recipients placed by {by} time",
        bucket_name(size),
        zone.name()
    )?;
    if timeline.buckets.is_empty() {
        writeln!(out, "(no matching recipients)")?;
        return Ok(());
    }
    let terminal_width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(100);
    // Bucket starts in whole minutes need no seconds.
    let pattern = if size.num_seconds() % 60 == 0 {
        "%Y-%m-%d %H:%M%:z"
    } else {
        "%Y-%m-%d %H:%M:%S%:z"
    };
    let label =
        |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format(pattern).to_string();
    let rows: Vec<[String; 5]> = timeline
        .buckets
        .iter()
        .map(|b| {
            let categories: Vec<String> = b
                .counts
                .by_category()
                .into_iter()
                .filter_map(|(c, n)| c.map(|c| format!("{c} {n}")))
                .collect();
            [
                label(b.start),
                b.counts.total().to_string(),
                b.counts.undelivered().to_string(),
                b.counts.outcome(Outcome::Delayed).to_string(),
                categories.join(", "),
            ]
        })
        .collect();
    let header = ["BUCKET", "RCPTS", "UNDELIV", "DELAYED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fixed: usize = widths.iter().map(|w| w + 2).sum();
    // The chart takes what is left after 30 columns for the categories
    // (10 to 50 cells); the categories are left out when less than 10
    // columns remain for them.
    let room = terminal_width.saturating_sub(fixed);
    let chart = room.saturating_sub(30).clamp(10, 50);
    let text_room = terminal_width.saturating_sub(fixed + chart + 2);
    let max = timeline
        .buckets
        .iter()
        .map(|b| b.counts.undelivered() + b.counts.outcome(Outcome::Delayed))
        .max()
        .unwrap_or(0);
    writeln!(
        out,
        "Chart: █ undelivered, ░ delivered late (delayed); the longest bar is {max}"
    )?;
    let heading = format!(
        "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<chart$}  {}",
        header[0],
        header[1],
        header[2],
        header[3],
        "",
        if text_room >= 10 { "CATEGORIES" } else { "" },
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2],
        w3 = widths[3],
    );
    writeln!(out, "{}", heading.trim_end())?;
    for (row, bucket) in rows.iter().zip(&timeline.buckets) {
        let drawn = bar(
            bucket.counts.undelivered(),
            bucket.counts.outcome(Outcome::Delayed),
            max,
            chart,
        );
        let pad = chart.saturating_sub(drawn.chars().count());
        let categories: String = if text_room < 10 {
            String::new()
        } else if row[4].chars().count() > text_room {
            let mut s: String = row[4].chars().take(text_room - 1).collect();
            s.push('…');
            s
        } else {
            row[4].clone()
        };
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {drawn}{}  {categories}",
            row[0],
            row[1],
            row[2],
            row[3],
            " ".repeat(pad),
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    if timeline.unplaced > 0 {
        writeln!(
            out,
            "({} recipient(s) in the window had no time to place them by)",
            timeline.unplaced
        )?;
    }
    writeln!(out)?;
    writeln!(out, "First and last failure per category")?;
    let rows: Vec<Vec<String>> = spans(timeline, zone)
        .into_iter()
        .map(|s| {
            vec![
                s.category.to_string(),
                s.recipients.to_string(),
                s.first_failure_at.replace('T', " "),
                s.last_failure_at.replace('T', " "),
            ]
        })
        .collect();
    columns(
        out,
        &["CATEGORY", "RECIPIENTS", "FIRST", "LAST"],
        &rows,
        "lrll",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_lengths() {
        assert_eq!(parse_bucket("15m"), Ok(TimeDelta::minutes(15)));
        assert_eq!(parse_bucket("1h"), Ok(TimeDelta::hours(1)));
        assert_eq!(parse_bucket("1d"), Ok(TimeDelta::days(1)));
        assert_eq!(parse_bucket("90s"), Ok(TimeDelta::seconds(90)));
        assert!(parse_bucket("0h").is_err());
        assert!(parse_bucket("1w").unwrap_err().contains("unknown unit"));
        assert!(parse_bucket("h").is_err());
        assert!(parse_bucket("9999999d").is_err());
        assert_eq!(bucket_name(TimeDelta::minutes(90)), "90m");
        assert_eq!(bucket_name(TimeDelta::days(1)), "1d");
    }

    #[test]
    fn bars_scale_to_the_width() {
        assert_eq!(bar(4, 0, 4, 10), "█".repeat(10));
        assert_eq!(
            bar(2, 2, 4, 10),
            format!("{}{}", "█".repeat(5), "░".repeat(5))
        );
        // 1 of 16 in 10 cells is 5 eighths.
        assert_eq!(bar(1, 0, 16, 10), "▋");
        // A non-zero value is never invisible.
        assert_eq!(bar(1, 1, 1000, 10), "▏░");
        assert_eq!(bar(0, 0, 0, 10), "");
    }
}
