//! Aggregates over report rows: counts by outcome and category, by
//! dimension (recipient domain, receiver, blocklist, listed IP, sender
//! domain), failure rates against a baseline, and time buckets.
//!
//! Everything here is a pure function over classified rows
//! ([`Finding`]s). The caller selects rows *without* a window and passes
//! the window in, because a rate needs rows the report itself does not
//! list: delivered recipients (they have no failure time), and the rows of
//! the baseline window before the incident.
//!
//! # Which rows are in a window
//!
//! [`in_window`] extends [`Window::selects`] so that a row without any
//! failure can be placed in time: under [`WindowBy::Failure`] a row is in
//! the window when one of its failure times is, or when its last attempt
//! (for a delivered recipient: the delivery) is. Under
//! [`WindowBy::Received`] the reception time decides, as for reports.
//!
//! # Failure rate
//!
//! The failure rate of a window is *undelivered recipients / recipients
//! attempted*. Attempted recipients are the rows in the window except
//! [`Outcome::Rejected`] (refused at SMTP time by the logging host, never
//! queued, so never attempted). Undelivered recipients are those whose
//! outcome is one of [`Outcome::UNDELIVERED`] and that the caller's
//! `counted` predicate accepts (its filters: category, code, …). The rate
//! before the incident (the baseline) says how many failures are everyday
//! failures: at the baseline rate, `baseline.rate × window.attempted`
//! undelivered recipients would be expected anyway; only the excess is the
//! incident's.

use std::collections::{BTreeMap, BTreeSet};

use bstr::ByteSlice;
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};

use crate::classify::Category;
use crate::finding::Finding;
use crate::outcome::{Outcome, RecipientOutcome, Window, WindowBy};

/// True when `row` belongs to `window` for aggregation (see the module
/// docs): [`Window::selects`], plus, under [`WindowBy::Failure`], a last
/// attempt inside the window. An open window holds every row.
pub fn in_window(row: &RecipientOutcome, window: &Window, by: WindowBy) -> bool {
    window.selects(row, by)
        || (by == WindowBy::Failure && row.last_attempt_at.is_some_and(|t| window.contains(t)))
}

/// True for the outcomes that count as undelivered in rates
/// ([`Outcome::UNDELIVERED`]).
pub fn is_undelivered(outcome: Outcome) -> bool {
    Outcome::UNDELIVERED.contains(&outcome)
}

/// Row counts by (outcome, category); the category is `None` for rows
/// without a classified failure (delivered, or removed before an attempt).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<(Outcome, Option<Category>), u64>);

impl Counts {
    /// Counts one row.
    pub fn add(&mut self, finding: &Finding) {
        *self
            .0
            .entry((finding.outcome.outcome, finding.category()))
            .or_insert(0) += 1;
    }

    /// All rows counted.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Rows with one of [`Outcome::UNDELIVERED`].
    pub fn undelivered(&self) -> u64 {
        self.0
            .iter()
            .filter(|((outcome, _), _)| is_undelivered(*outcome))
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows with this outcome.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.0
            .iter()
            .filter(|((o, _), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows per category (outcomes summed), largest first, then in
    /// category order.
    pub fn by_category(&self) -> Vec<(Option<Category>, u64)> {
        let mut sums: BTreeMap<Option<Category>, u64> = BTreeMap::new();
        for ((_, category), n) in &self.0 {
            *sums.entry(*category).or_insert(0) += n;
        }
        let mut list: Vec<_> = sums.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    }
}

/// A way to group rows, with one key per row (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// The recipient's domain, lower-cased; `(none)` for a row without a
    /// recipient.
    RecipientDomain,
    /// Who answered the last failure: the classifier's provider
    /// (`microsoft`, `google`, …) when it detected one, else the
    /// registrable-looking end of the remote host name
    /// ([`registrable_domain`]), else the remote IP, else `(no remote
    /// host)` (local deliveries, routing failures, expiries of hosts that
    /// had been failing). Rows without a failure (delivered) and SMTP-time rejections
    /// (whose remote host is a client, not a receiver) have no key.
    Receiver,
    /// The blocklist the receiver named; rows naming none have no key.
    Blocklist,
    /// The IP the receiver said it listed or refused; rows naming none
    /// have no key.
    ListedIp,
    /// The envelope sender's domain, lower-cased; `<>` for the null
    /// sender, `(unknown)` when the sender was not logged.
    SenderDomain,
}

impl Dimension {
    /// Every dimension, in report order.
    pub const ALL: [Dimension; 5] = [
        Dimension::RecipientDomain,
        Dimension::Receiver,
        Dimension::Blocklist,
        Dimension::ListedIp,
        Dimension::SenderDomain,
    ];

    /// The snake_case name used in reports (`recipient_domain`).
    pub fn name(self) -> &'static str {
        match self {
            Dimension::RecipientDomain => "recipient_domain",
            Dimension::Receiver => "receiver",
            Dimension::Blocklist => "blocklist",
            Dimension::ListedIp => "listed_ip",
            Dimension::SenderDomain => "sender_domain",
        }
    }

    /// The key of `finding` in this dimension, if it has one.
    pub fn key(self, finding: &Finding) -> Option<String> {
        let row = &finding.outcome;
        match self {
            Dimension::RecipientDomain => {
                let domain = row.recipient_domain();
                Some(if domain.is_empty() {
                    "(none)".to_string()
                } else {
                    domain
                })
            }
            Dimension::Receiver => {
                if row.outcome == Outcome::Rejected {
                    return None;
                }
                let failure = row.last_failure.as_ref()?;
                if let Some(provider) = finding.class.as_ref().and_then(|c| c.provider.clone()) {
                    return Some(provider);
                }
                let host = failure
                    .remote_host
                    .as_ref()
                    .map(|h| h.to_str_lossy().trim_end_matches('.').to_ascii_lowercase())
                    .filter(|h| !h.is_empty());
                match host {
                    Some(host) => Some(registrable_domain(&host).to_string()),
                    None => match &failure.remote_ip {
                        Some(ip) if !ip.is_empty() => Some(ip.to_str_lossy().into_owned()),
                        _ => Some("(no remote host)".to_string()),
                    },
                }
            }
            Dimension::Blocklist => finding.class.as_ref()?.blocklist.clone(),
            Dimension::ListedIp => finding.class.as_ref()?.listed_ip.map(|ip| ip.to_string()),
            Dimension::SenderDomain => Some(match &row.sender {
                None => "(unknown)".to_string(),
                Some(s) if s.is_empty() => "<>".to_string(),
                Some(s) => {
                    let s = s.to_str_lossy().to_ascii_lowercase();
                    match s.rsplit_once('@') {
                        Some((_, domain)) if !domain.is_empty() => domain.to_string(),
                        _ => s,
                    }
                }
            }),
        }
    }
}

/// The registrable-looking end of a host name: its last two labels
/// (`mx1.mail.example.net` → `example.net`), or three when the second
/// last is a short label under a two-letter country code, as in
/// `mail.example.co.uk` → `example.co.uk`. This is a heuristic, not the
/// public suffix list. IP literals and one-label names are returned as
/// they are.
pub fn registrable_domain(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() <= 2 {
        return host;
    }
    let n = labels.len();
    let tld = labels[n - 1];
    let second = labels[n - 2];
    let keep = if tld.len() == 2
        && matches!(
            second,
            "co" | "com" | "net" | "org" | "ac" | "gov" | "edu" | "ne" | "or" | "go" | "gv"
        ) {
        3
    } else {
        2
    };
    let skip: usize = labels[..n - keep].iter().map(|l| l.len() + 1).sum();
    &host[skip..]
}

/// Recipients attempted in a window and how many of them were not
/// delivered (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    /// Rows in the window other than SMTP-time rejections.
    pub attempted: u64,
    /// Attempted rows that are undelivered and counted.
    pub undelivered: u64,
}

impl Rate {
    /// `undelivered / attempted`, or `None` when nothing was attempted.
    pub fn ratio(&self) -> Option<f64> {
        (self.attempted > 0).then(|| self.undelivered as f64 / self.attempted as f64)
    }
}

/// The failure rate of `window`: rows in the window (by [`in_window`])
/// that are not rejections are attempted; those of them with an
/// undelivered outcome that `counted` accepts are undelivered.
pub fn failure_rate(
    findings: &[Finding],
    window: &Window,
    by: WindowBy,
    counted: impl Fn(&Finding) -> bool,
) -> Rate {
    let mut rate = Rate::default();
    for finding in findings {
        let row = &finding.outcome;
        if row.outcome == Outcome::Rejected || !in_window(row, window, by) {
            continue;
        }
        rate.attempted += 1;
        if is_undelivered(row.outcome) && counted(finding) {
            rate.undelivered += 1;
        }
    }
    rate
}

/// The baseline window: by default the window of equal length just
/// before `window.since`. `since`/`until` override either end; when only
/// one is given, the other keeps the window's length (`until` defaults to
/// `window.since`). `Ok(None)` when nothing is given and the window is
/// open at either end.
///
/// # Errors
///
/// A message when a given end cannot be completed (the window is open)
/// or the baseline would be empty.
pub fn baseline_window(
    window: &Window,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Option<Window>, String> {
    let length = match (window.since, window.until) {
        (Some(s), Some(u)) => Some(u - s),
        _ => None,
    };
    let (since, until) = match (since, until) {
        (None, None) => match (window.since, length) {
            (Some(s), Some(len)) => (s - len, s),
            _ => return Ok(None),
        },
        (Some(s), Some(u)) => (s, u),
        (Some(s), None) => match window.since {
            Some(u) => (s, u),
            None => {
                return Err(
                    "--baseline-since needs --baseline-until or --since to end the baseline"
                        .to_string(),
                );
            }
        },
        (None, Some(u)) => match length {
            Some(len) => (u - len, u),
            None => {
                return Err(
                    "--baseline-until needs --baseline-since, or both --since and --until to give the length"
                        .to_string(),
                );
            }
        },
    };
    if since >= until {
        return Err("the baseline window is empty: its start must be before its end".to_string());
    }
    Ok(Some(Window {
        since: Some(since),
        until: Some(until),
    }))
}

/// Undelivered recipients of one category, in the window and in the
/// baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CategoryComparison {
    /// The category (`None`: undelivered without a classified failure).
    pub category: Option<Category>,
    /// Undelivered recipients in the window.
    pub window: u64,
    /// Undelivered recipients in the baseline.
    pub baseline: u64,
    /// What the baseline's share of this category predicts for the
    /// window's attempted recipients (`None` without a baseline or when
    /// the baseline attempted nothing).
    pub expected: Option<f64>,
}

impl CategoryComparison {
    /// Undelivered recipients beyond the baseline's prediction.
    pub fn excess(&self) -> Option<f64> {
        self.expected.map(|e| self.window as f64 - e)
    }
}

/// Distinct messages and recipients that failed in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Affected {
    /// Messages with at least one undelivered recipient.
    pub undelivered_messages: u64,
    /// Undelivered (message, recipient) rows.
    pub undelivered_recipients: u64,
    /// Messages with at least one recipient that failed at least once
    /// (undelivered, or delivered late).
    pub failed_messages: u64,
    /// (message, recipient) rows that failed at least once.
    pub failed_recipients: u64,
    /// SMTP-time rejections by the logging host.
    pub rejections: u64,
}

/// Everything `summary` reports about one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The window.
    pub window: Window,
    /// The baseline window, when there is one.
    pub baseline_window: Option<Window>,
    /// Counted rows in the window by outcome and category.
    pub counts: Counts,
    /// Counted rows in the baseline by outcome and category.
    pub baseline_counts: Option<Counts>,
    /// Counted rows per key, per dimension (in [`Dimension::ALL`] order).
    pub dimensions: Vec<(Dimension, BTreeMap<String, Counts>)>,
    /// Distinct failed messages and recipients.
    pub affected: Affected,
    /// Failure rate in the window.
    pub rate: Rate,
    /// Failure rate in the baseline.
    pub baseline_rate: Option<Rate>,
    /// Undelivered recipients per category against the baseline, largest
    /// window count first.
    pub categories: Vec<CategoryComparison>,
}

impl Summary {
    /// Undelivered recipients the baseline rate predicts for the window.
    pub fn expected_undelivered(&self) -> Option<f64> {
        let ratio = self.baseline_rate?.ratio()?;
        Some(ratio * self.rate.attempted as f64)
    }
}

fn count_window<'a>(
    findings: &'a [Finding],
    window: &'a Window,
    by: WindowBy,
    counted: &'a impl Fn(&Finding) -> bool,
) -> impl Iterator<Item = &'a Finding> + 'a {
    findings
        .iter()
        .filter(move |f| in_window(&f.outcome, window, by) && counted(f))
}

/// Summarises the rows of `window` (and of `baseline`, when given) that
/// `counted` accepts; rates use every row in the window as the attempted
/// population (see [`failure_rate`]).
pub fn summarise(
    findings: &[Finding],
    window: Window,
    baseline: Option<Window>,
    by: WindowBy,
    counted: impl Fn(&Finding) -> bool,
) -> Summary {
    let mut counts = Counts::default();
    let mut dimensions: Vec<(Dimension, BTreeMap<String, Counts>)> = Dimension::ALL
        .iter()
        .map(|&d| (d, BTreeMap::new()))
        .collect();
    let mut affected = Affected::default();
    let mut undelivered_messages = BTreeSet::new();
    let mut failed_messages = BTreeSet::new();
    for finding in count_window(findings, &window, by, &counted) {
        counts.add(finding);
        for (dimension, keys) in &mut dimensions {
            if let Some(key) = dimension.key(finding) {
                keys.entry(key).or_default().add(finding);
            }
        }
        let row = &finding.outcome;
        let message = (row.host.clone(), row.queue_id.clone());
        if row.outcome == Outcome::Rejected {
            affected.rejections += 1;
            continue;
        }
        if is_undelivered(row.outcome) {
            affected.undelivered_recipients += 1;
            undelivered_messages.insert(message.clone());
        }
        if is_undelivered(row.outcome) || row.outcome == Outcome::Delayed {
            affected.failed_recipients += 1;
            failed_messages.insert(message);
        }
    }
    affected.undelivered_messages = undelivered_messages.len() as u64;
    affected.failed_messages = failed_messages.len() as u64;
    let rate = failure_rate(findings, &window, by, &counted);
    let baseline_counts = baseline.map(|b| {
        let mut c = Counts::default();
        for finding in count_window(findings, &b, by, &counted) {
            c.add(finding);
        }
        c
    });
    let baseline_rate = baseline.map(|b| failure_rate(findings, &b, by, &counted));
    let categories = compare_categories(&counts, baseline_counts.as_ref(), rate, baseline_rate);
    Summary {
        window,
        baseline_window: baseline,
        counts,
        baseline_counts,
        dimensions,
        affected,
        rate,
        baseline_rate,
        categories,
    }
}

fn compare_categories(
    counts: &Counts,
    baseline: Option<&Counts>,
    rate: Rate,
    baseline_rate: Option<Rate>,
) -> Vec<CategoryComparison> {
    let undelivered = |c: &Counts| {
        let mut map: BTreeMap<Option<Category>, u64> = BTreeMap::new();
        for ((outcome, category), n) in &c.0 {
            if is_undelivered(*outcome) {
                *map.entry(*category).or_insert(0) += n;
            }
        }
        map
    };
    let in_window = undelivered(counts);
    let in_baseline = baseline.map(undelivered).unwrap_or_default();
    let keys: BTreeSet<Option<Category>> = in_window
        .keys()
        .chain(in_baseline.keys())
        .copied()
        .collect();
    let mut list: Vec<CategoryComparison> = keys
        .into_iter()
        .map(|category| {
            let window = in_window.get(&category).copied().unwrap_or(0);
            let base = in_baseline.get(&category).copied().unwrap_or(0);
            let expected = baseline_rate
                .filter(|r| r.attempted > 0)
                .map(|r| base as f64 / r.attempted as f64 * rate.attempted as f64);
            CategoryComparison {
                category,
                window,
                baseline: base,
                expected,
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.window
            .cmp(&a.window)
            .then(b.baseline.cmp(&a.baseline))
            .then(a.category.cmp(&b.category))
    });
    list
}

/// The time that places a row in a time bucket: under
/// [`WindowBy::Failure`] its first failure inside the window, else (a
/// delivered row) its last attempt when inside the window; under
/// [`WindowBy::Received`] its reception time.
pub fn placement_time(
    row: &RecipientOutcome,
    window: &Window,
    by: WindowBy,
) -> Option<DateTime<Utc>> {
    match by {
        WindowBy::Failure => row
            .failure_times
            .iter()
            .copied()
            .find(|&t| window.contains(t))
            .or(row.last_attempt_at.filter(|&t| window.contains(t))),
        WindowBy::Received => row.received_at.filter(|&t| window.contains(t)),
    }
}

/// The start of the bucket of length `size` that holds `t`, with buckets
/// aligned in `zone`'s local time: the local time is rounded down to a
/// multiple of `size` counted from local midnight of 1970-01-01, so `1h`
/// buckets start on the local hour, `15m` buckets on local quarter
/// hours and `1d` buckets at local midnight (also in zones with
/// half-hour offsets). When the rounded local time occurs twice (the
/// autumn fold) the later instant not after `t` is taken, so the repeated
/// hour is two buckets; when it does not exist (a gap), the rounding is
/// done in `t`'s own offset.
///
/// # Panics
///
/// When `size` is not positive.
pub fn bucket_start<Z: TimeZone>(t: DateTime<Utc>, size: TimeDelta, zone: &Z) -> DateTime<Utc> {
    let step = size.num_seconds();
    assert!(step > 0, "bucket size must be at least one second");
    let local = t.with_timezone(zone).naive_local();
    let seconds = local.and_utc().timestamp();
    let floor = seconds.div_euclid(step) * step;
    let floor_local: NaiveDateTime = DateTime::from_timestamp(floor, 0)
        .expect("bucket start in range")
        .naive_utc();
    let candidates: Vec<DateTime<Utc>> = match zone.from_local_datetime(&floor_local) {
        LocalResult::Single(s) => vec![s.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => Vec::new(),
    };
    candidates
        .into_iter()
        .filter(|&c| c <= t)
        .max()
        .unwrap_or_else(|| t - TimeDelta::seconds(seconds - floor))
}

/// The start of the bucket after the one starting at `start`.
pub fn next_bucket<Z: TimeZone>(start: DateTime<Utc>, size: TimeDelta, zone: &Z) -> DateTime<Utc> {
    // A local day may last 25 hours: probe forward until the next bucket.
    let step = size.min(TimeDelta::hours(1));
    let mut probe = start + size;
    loop {
        let next = bucket_start(probe, size, zone);
        if next > start {
            return next;
        }
        probe += step;
    }
}

/// The failure times of a row that are failures of its category: its
/// failure times without the give-up line of an expired row that failed
/// before (Exim `retry timeout exceeded`, Postfix `status=expired`: the
/// row keeps the category of its last real failure), and without a
/// removal or freeze after its last attempt.
pub fn classified_failure_times(row: &RecipientOutcome) -> &[DateTime<Utc>] {
    let times = &row.failure_times;
    let end = match row.outcome {
        Outcome::Expired if times.len() > 1 => times.len() - 1,
        Outcome::Removed | Outcome::Frozen => match row.last_attempt_at {
            Some(last) => times.partition_point(|&t| t <= last),
            None => 0,
        },
        _ => times.len(),
    };
    &times[..end]
}

/// One time bucket of a [`Timeline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start (inclusive); the bucket ends where the next one starts.
    pub start: DateTime<Utc>,
    /// Rows placed in the bucket.
    pub counts: Counts,
}

/// First and last failure of one category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureSpan {
    /// The category.
    pub category: Category,
    /// Earliest failure time of a row of this category.
    pub first: DateTime<Utc>,
    /// Latest failure time of a row of this category.
    pub last: DateTime<Utc>,
    /// Rows of this category.
    pub rows: u64,
}

/// Rows per time bucket, and when each category's failures began and
/// ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Consecutive buckets from the window's start (or the first row) to
    /// its end (or the last row), empty ones included.
    pub buckets: Vec<Bucket>,
    /// Per category, in category order.
    pub spans: Vec<FailureSpan>,
    /// Rows in the window with no time to place them by (not in any
    /// bucket).
    pub unplaced: u64,
}

/// The timeline would have more buckets than allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{buckets} buckets is more than {limit}; choose a larger bucket or a shorter window")]
pub struct TooManyBuckets {
    /// Buckets the timeline would have (at least).
    pub buckets: u64,
    /// The limit.
    pub limit: u64,
}

/// Places the rows of `window` that `counted` accepts into buckets of
/// `size` aligned in `zone` ([`bucket_start`]), by [`placement_time`].
/// A row's failure times inside the window (any failure time under
/// [`WindowBy::Received`]) up to its classified last real failure give its
/// category's first and last failure; a later expiry, removal or freeze
/// is not a failure of that category.
///
/// # Errors
///
/// [`TooManyBuckets`] when the span needs more than `limit` buckets.
///
/// # Panics
///
/// When `size` is not positive.
pub fn timeline<Z: TimeZone>(
    findings: &[Finding],
    window: &Window,
    by: WindowBy,
    counted: impl Fn(&Finding) -> bool,
    size: TimeDelta,
    zone: &Z,
    limit: u64,
) -> Result<Timeline, TooManyBuckets> {
    let mut placed: BTreeMap<DateTime<Utc>, Counts> = BTreeMap::new();
    let mut spans: BTreeMap<Category, FailureSpan> = BTreeMap::new();
    let mut unplaced = 0;
    for finding in count_window(findings, window, by, &counted) {
        let row = &finding.outcome;
        match placement_time(row, window, by) {
            Some(t) => placed
                .entry(bucket_start(t, size, zone))
                .or_default()
                .add(finding),
            None => unplaced += 1,
        }
        let Some(category) = finding.category() else {
            continue;
        };
        let times = classified_failure_times(row)
            .iter()
            .copied()
            .filter(|&t| by == WindowBy::Received || window.contains(t));
        let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
            continue;
        };
        let span = spans.entry(category).or_insert(FailureSpan {
            category,
            first,
            last,
            rows: 0,
        });
        span.first = span.first.min(first);
        span.last = span.last.max(last);
        span.rows += 1;
    }
    let first = window
        .since
        .map(|s| bucket_start(s, size, zone))
        .or_else(|| placed.keys().next().copied());
    let end = window
        .until
        .map(|u| u - TimeDelta::nanoseconds(1))
        .or_else(|| placed.keys().next_back().copied())
        .map(|u| bucket_start(u, size, zone));
    let mut buckets = Vec::new();
    if let (Some(first), Some(end)) = (first, end) {
        let estimate = ((end - first).num_seconds() / size.num_seconds()).max(0) as u64 + 1;
        if estimate > limit {
            return Err(TooManyBuckets {
                buckets: estimate,
                limit,
            });
        }
        let mut start = first;
        while start <= end {
            buckets.push(Bucket {
                start,
                counts: placed.remove(&start).unwrap_or_default(),
            });
            start = next_bucket(start, size, zone);
        }
    }
    Ok(Timeline {
        buckets,
        spans: spans.into_values().collect(),
        unplaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classification, Classifier};
    use crate::record::Failure;
    use bstr::BString;
    use chrono::NaiveDate;
    use mailtrail_parse::{AttemptStatus, Mta, SmtpReply, Tz};

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2024, 10, 20)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
            .and_utc()
    }

    fn class(
        category: Category,
        blocklist: Option<&str>,
        provider: Option<&str>,
    ) -> Classification {
        Classification {
            category,
            rule: "test".into(),
            permanent: true,
            blocklist: blocklist.map(str::to_owned),
            listed_ip: blocklist.map(|_| "203.0.113.25".parse().unwrap()),
            delisting_url: None,
            provider: provider.map(str::to_owned),
            provider_code: None,
        }
    }

    /// A row received at `received`; failed at `failures` (the last one
    /// answered by `host`) or delivered at `received` + 1 minute.
    fn row(
        id: &str,
        recipient: &str,
        outcome: Outcome,
        received: DateTime<Utc>,
        failures: &[DateTime<Utc>],
        host: Option<&str>,
        class: Option<Classification>,
    ) -> Finding {
        let last = failures.last().copied();
        Finding {
            outcome: RecipientOutcome {
                host: BString::from(""),
                queue_id: BString::from(id),
                mta: Mta::Exim,
                received_at: Some(received),
                message_id: None,
                sender: Some(BString::from("alice@Example.COM")),
                subject: None,
                headers: Vec::new(),
                recipient: BString::from(recipient),
                outcome,
                last_failure: last.map(|t| Failure {
                    at: t,
                    status: AttemptStatus::Bounced,
                    reply: SmtpReply::default(),
                    phase: None,
                    reason: Some(BString::from("550 no")),
                    remote_host: host.map(BString::from),
                    remote_ip: None,
                    local: host.is_none(),
                    bare_expiry: false,
                }),
                first_failure_at: failures.first().copied(),
                last_attempt_at: last.or(Some(received + TimeDelta::minutes(1))),
                attempts: failures.len().max(1) as u32,
                failure_times: failures.to_vec(),
                reason: None,
                is_notification: false,
            },
            class: class.map(std::sync::Arc::new),
            ticket: None,
        }
    }

    fn window(since: DateTime<Utc>, until: DateTime<Utc>) -> Window {
        Window {
            since: Some(since),
            until: Some(until),
        }
    }

    fn sample() -> Vec<Finding> {
        let bl = || {
            Some(class(
                Category::Blocklisted,
                Some("Spamhaus"),
                Some("microsoft"),
            ))
        };
        let unknown = || Some(class(Category::RecipientUnknown, None, None));
        vec![
            // Baseline [08:00, 10:00): 4 attempted, 1 undelivered.
            row(
                "a",
                "x@example.net",
                Outcome::Delivered,
                at(8, 0),
                &[],
                None,
                None,
            ),
            row(
                "b",
                "y@example.net",
                Outcome::Delivered,
                at(8, 30),
                &[],
                None,
                None,
            ),
            row(
                "c",
                "z@example.org",
                Outcome::Delivered,
                at(9, 0),
                &[],
                None,
                None,
            ),
            row(
                "d",
                "u@example.org",
                Outcome::Bounced,
                at(9, 10),
                &[at(9, 10)],
                Some("mx.example.org"),
                unknown(),
            ),
            // Window [10:00, 12:00): 5 attempted, 3 undelivered.
            row(
                "e",
                "v@example.org",
                Outcome::Bounced,
                at(10, 5),
                &[at(10, 5)],
                Some("mx.example.org"),
                unknown(),
            ),
            row(
                "f",
                "w@contoso.test",
                Outcome::Bounced,
                at(10, 20),
                &[at(10, 20)],
                Some("contoso.mail.protection.outlook.com"),
                bl(),
            ),
            row(
                "f",
                "q@contoso.test",
                Outcome::Expired,
                at(10, 20),
                &[at(10, 21), at(11, 50)],
                Some("contoso.mail.protection.outlook.com"),
                bl(),
            ),
            row(
                "g",
                "r@contoso.test",
                Outcome::Delayed,
                at(9, 55),
                &[at(10, 30)],
                Some("contoso.mail.protection.outlook.com"),
                bl(),
            ),
            row(
                "h",
                "s@example.net",
                Outcome::Delivered,
                at(11, 0),
                &[],
                None,
                None,
            ),
            // A rejection: in the counts, never attempted.
            row(
                "",
                "t@example.com",
                Outcome::Rejected,
                at(11, 30),
                &[at(11, 30)],
                Some("client.example.com"),
                Some(class(Category::LocalFailure, None, None)),
            ),
            // After the window.
            row(
                "i",
                "p@contoso.test",
                Outcome::Bounced,
                at(12, 30),
                &[at(12, 30)],
                None,
                bl(),
            ),
        ]
    }

    #[test]
    fn window_membership_places_delivered_rows_by_delivery() {
        let rows = sample();
        let w = window(at(10, 0), at(12, 0));
        // Delivered at 11:01: in by failure; "g" was received before the
        // window but failed inside it.
        assert!(in_window(&rows[8].outcome, &w, WindowBy::Failure));
        assert!(in_window(&rows[7].outcome, &w, WindowBy::Failure));
        assert!(!in_window(&rows[7].outcome, &w, WindowBy::Received));
        assert!(!in_window(&rows[0].outcome, &w, WindowBy::Failure));
    }

    #[test]
    fn rates_and_baseline() {
        let rows = sample();
        let w = window(at(10, 0), at(12, 0));
        let base = baseline_window(&w, None, None).unwrap().unwrap();
        assert_eq!(base, window(at(8, 0), at(10, 0)));
        let s = summarise(&rows, w, Some(base), WindowBy::Failure, |_| true);
        assert_eq!(
            s.rate,
            Rate {
                attempted: 5,
                undelivered: 3
            }
        );
        assert_eq!(
            s.baseline_rate,
            Some(Rate {
                attempted: 4,
                undelivered: 1
            })
        );
        assert_eq!(s.expected_undelivered(), Some(1.25));
        assert_eq!(s.counts.total(), 6);
        assert_eq!(s.counts.undelivered(), 3);
        assert_eq!(
            s.counts
                .0
                .get(&(Outcome::Bounced, Some(Category::Blocklisted))),
            Some(&1)
        );
        assert_eq!(s.affected.undelivered_recipients, 3);
        assert_eq!(s.affected.undelivered_messages, 2);
        assert_eq!(s.affected.failed_recipients, 4);
        assert_eq!(s.affected.failed_messages, 3);
        assert_eq!(s.affected.rejections, 1);
        // Recipient unknown is everyday: 1 in the baseline predicts 1.25.
        let unknown = s
            .categories
            .iter()
            .find(|c| c.category == Some(Category::RecipientUnknown))
            .unwrap();
        assert_eq!((unknown.window, unknown.baseline), (1, 1));
        assert_eq!(unknown.excess(), Some(-0.25));
        let blocklisted = &s.categories[0];
        assert_eq!(blocklisted.category, Some(Category::Blocklisted));
        assert_eq!((blocklisted.window, blocklisted.baseline), (2, 0));
        assert_eq!(blocklisted.excess(), Some(2.0));
    }

    #[test]
    fn rate_numerator_follows_the_filter_but_not_the_population() {
        let rows = sample();
        let w = window(at(10, 0), at(12, 0));
        let only_blocklisted = |f: &Finding| f.category() == Some(Category::Blocklisted);
        let rate = failure_rate(&rows, &w, WindowBy::Failure, only_blocklisted);
        assert_eq!(
            rate,
            Rate {
                attempted: 5,
                undelivered: 2
            }
        );
        assert_eq!(rate.ratio(), Some(0.4));
        // By reception, "g" (received 09:55) leaves the window.
        let rate = failure_rate(&rows, &w, WindowBy::Received, |_| true);
        assert_eq!(
            rate,
            Rate {
                attempted: 4,
                undelivered: 3
            }
        );
    }

    #[test]
    fn baseline_choices() {
        let w = window(at(10, 0), at(12, 0));
        assert_eq!(
            baseline_window(&w, Some(at(6, 0)), None).unwrap(),
            Some(window(at(6, 0), at(10, 0)))
        );
        assert_eq!(
            baseline_window(&w, None, Some(at(9, 0))).unwrap(),
            Some(window(at(7, 0), at(9, 0)))
        );
        assert!(baseline_window(&w, Some(at(9, 0)), Some(at(8, 0))).is_err());
        let open = Window {
            since: Some(at(10, 0)),
            until: None,
        };
        assert_eq!(baseline_window(&open, None, None).unwrap(), None);
        assert!(baseline_window(&open, None, Some(at(9, 0))).is_err());
        assert!(baseline_window(&Window::default(), Some(at(9, 0)), None).is_err());
    }

    #[test]
    fn dimensions() {
        let rows = sample();
        let w = window(at(10, 0), at(12, 0));
        let s = summarise(&rows, w, None, WindowBy::Failure, |_| true);
        let keys = |d: Dimension| -> Vec<(String, u64)> {
            let (_, map) = s.dimensions.iter().find(|(x, _)| *x == d).unwrap();
            map.iter().map(|(k, c)| (k.clone(), c.total())).collect()
        };
        assert_eq!(
            keys(Dimension::RecipientDomain),
            [
                ("contoso.test".into(), 3),
                ("example.com".into(), 1),
                ("example.net".into(), 1),
                ("example.org".into(), 1)
            ]
        );
        // The provider when detected, else the host's last two labels;
        // delivered rows and rejections have no receiver.
        assert_eq!(
            keys(Dimension::Receiver),
            [("example.org".into(), 1), ("microsoft".into(), 3)]
        );
        assert_eq!(keys(Dimension::Blocklist), [("Spamhaus".into(), 3)]);
        assert_eq!(keys(Dimension::ListedIp), [("203.0.113.25".into(), 3)]);
        assert_eq!(keys(Dimension::SenderDomain), [("example.com".into(), 6)]);
        // A failure without a remote host (a local delivery, say).
        let local = row(
            "j",
            "k@example.com",
            Outcome::Bounced,
            at(9, 0),
            &[at(9, 0)],
            None,
            Some(class(Category::MailboxFull, None, None)),
        );
        assert_eq!(
            Dimension::Receiver.key(&local).as_deref(),
            Some("(no remote host)")
        );
        assert_eq!(Dimension::Receiver.key(&rows[0]), None);
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("mx1.mail.example.net"), "example.net");
        assert_eq!(registrable_domain("mx.example.co.uk"), "example.co.uk");
        assert_eq!(registrable_domain("example.net"), "example.net");
        assert_eq!(registrable_domain("mx.example.de"), "example.de");
        assert_eq!(registrable_domain("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn buckets_align_in_the_zone() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // 10:20 UTC is 15:50 in Kolkata (+05:30): the hour bucket starts
        // 15:00 local = 09:30 UTC; the day bucket at local midnight.
        assert_eq!(
            bucket_start(at(10, 20), TimeDelta::hours(1), &kolkata),
            at(9, 30)
        );
        assert_eq!(
            bucket_start(at(10, 20), TimeDelta::hours(1), &Tz::UTC),
            at(10, 0)
        );
        assert_eq!(
            bucket_start(at(10, 20), TimeDelta::minutes(15), &Tz::UTC),
            at(10, 15)
        );
        assert_eq!(
            bucket_start(at(10, 20), TimeDelta::days(1), &kolkata),
            at(0, 0) - TimeDelta::minutes(330)
        );
    }

    #[test]
    fn buckets_across_the_autumn_fold() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let utc = |d: u32, h: u32, m: u32| {
            NaiveDate::from_ymd_opt(2024, 10, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
                .and_utc()
        };
        let hour = TimeDelta::hours(1);
        // 00:30 UTC = 02:30 CEST, 01:30 UTC = 02:30 CET: two buckets.
        assert_eq!(bucket_start(utc(27, 0, 30), hour, &berlin), utc(27, 0, 0));
        assert_eq!(bucket_start(utc(27, 1, 30), hour, &berlin), utc(27, 1, 0));
        assert_eq!(next_bucket(utc(27, 0, 0), hour, &berlin), utc(27, 1, 0));
        // The 25-hour local day: midnight CEST to midnight CET.
        let day = TimeDelta::days(1);
        assert_eq!(next_bucket(utc(26, 22, 0), day, &berlin), utc(27, 23, 0));
        assert_eq!(bucket_start(utc(27, 22, 59), day, &berlin), utc(26, 22, 0));
    }

    #[test]
    fn timeline_buckets_and_spans() {
        let rows = sample();
        let w = window(at(10, 0), at(12, 0));
        let t = timeline(
            &rows,
            &w,
            WindowBy::Failure,
            |_| true,
            TimeDelta::hours(1),
            &Tz::UTC,
            100,
        )
        .unwrap();
        let starts: Vec<_> = t.buckets.iter().map(|b| b.start).collect();
        assert_eq!(starts, [at(10, 0), at(11, 0)]);
        // 10:xx: e, f, f(q, first failure 10:21), g; 11:xx: h, rejection.
        assert_eq!(t.buckets[0].counts.total(), 4);
        assert_eq!(t.buckets[1].counts.total(), 2);
        let sum: u64 = t.buckets.iter().map(|b| b.counts.total()).sum();
        let s = summarise(&rows, w, None, WindowBy::Failure, |_| true);
        assert_eq!(sum, s.counts.total());
        let bl = t
            .spans
            .iter()
            .find(|s| s.category == Category::Blocklisted)
            .unwrap();
        // q expired at 11:50 after failing at 10:21: the expiry is not a
        // blocklisted failure.
        assert_eq!((bl.first, bl.last, bl.rows), (at(10, 20), at(10, 30), 3));
        assert_eq!(t.unplaced, 0);
        // When 11:50 is the expiry and the last real (classified) failure
        // was at 11:40, the category's last failure is 11:40.
        let mut rows = rows;
        rows[6].outcome.failure_times.insert(1, at(11, 40));
        let t = timeline(
            &rows,
            &w,
            WindowBy::Failure,
            |_| true,
            TimeDelta::hours(1),
            &Tz::UTC,
            100,
        )
        .unwrap();
        let bl = t
            .spans
            .iter()
            .find(|s| s.category == Category::Blocklisted)
            .unwrap();
        assert_eq!((bl.first, bl.last), (at(10, 20), at(11, 40)));
        // Too fine a bucket is refused.
        let err = timeline(
            &rows,
            &w,
            WindowBy::Failure,
            |_| true,
            TimeDelta::seconds(1),
            &Tz::UTC,
            100,
        )
        .unwrap_err();
        assert_eq!(err.buckets, 7200);
    }

    #[test]
    fn removal_and_freeze_are_not_failures_of_the_category() {
        let mut rows = sample();
        // Deferred at 10:05 and 10:35, removed at 11:00 (not an attempt).
        let mut removed = rows.remove(4);
        removed.outcome.outcome = Outcome::Removed;
        removed.outcome.failure_times = vec![at(10, 5), at(10, 35), at(11, 0)];
        removed.outcome.last_attempt_at = Some(at(10, 35));
        assert_eq!(
            classified_failure_times(&removed.outcome),
            [at(10, 5), at(10, 35)]
        );
        removed.outcome.outcome = Outcome::Frozen;
        removed.outcome.last_attempt_at = None;
        assert!(classified_failure_times(&removed.outcome).is_empty());
        // An expiry after earlier failures is dropped; a bounce keeps its
        // failure.
        assert_eq!(rows[5].outcome.outcome, Outcome::Expired);
        assert_eq!(classified_failure_times(&rows[5].outcome), [at(10, 21)]);
        assert_eq!(rows[4].outcome.outcome, Outcome::Bounced);
        assert_eq!(classified_failure_times(&rows[4].outcome), [at(10, 20)]);
    }

    #[test]
    fn open_window_spans_the_data() {
        let rows = sample();
        let t = timeline(
            &rows,
            &Window::default(),
            WindowBy::Failure,
            |_| true,
            TimeDelta::hours(1),
            &Tz::UTC,
            100,
        )
        .unwrap();
        assert_eq!(t.buckets.first().unwrap().start, at(8, 0));
        assert_eq!(t.buckets.last().unwrap().start, at(12, 0));
        assert_eq!(t.buckets.len(), 5);
        let sum: u64 = t.buckets.iter().map(|b| b.counts.total()).sum();
        assert_eq!(sum, rows.len() as u64);
    }

    #[test]
    fn classifier_rows_count_by_category() {
        // A real classification feeds the counts.
        let classifier = Classifier::builtin();
        let mut f = row(
            "z",
            "a@example.net",
            Outcome::Bounced,
            at(10, 0),
            &[at(10, 0)],
            Some("mx.example.net"),
            None,
        );
        f.outcome.last_failure.as_mut().unwrap().reason = Some(BString::from(
            "550 5.1.1 <a@example.net>: Recipient address rejected: User unknown",
        ));
        let f = Finding::new(f.outcome, &classifier);
        let mut c = Counts::default();
        c.add(&f);
        assert_eq!(c.by_category(), [(Some(Category::RecipientUnknown), 1)]);
        assert_eq!(c.outcome(Outcome::Bounced), 1);
    }
}
