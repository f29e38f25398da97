//! Finding incidents: stretches of time in which one receiver refused our
//! mail for a reason such as a blocklisting, from the onset to the first
//! successful delivery after it (recovery).
//!
//! The method, per receiver (provider, or the registrable part of the MX
//! host name) and listed IP:
//!
//! 1. take every failure whose category is one of the focus categories
//!    (`blocklisted` and `reputation` by default) and every successful
//!    delivery to that receiver, in time order;
//! 2. a window opens at the first focus failure (the onset);
//! 3. it closes at the first success after which no focus failure follows
//!    for a quiet period (one hour by default); that success is the
//!    recovery. A window still open at the end of the input has no
//!    recovery;
//! 4. windows with fewer failures than a minimum are dropped as noise, and
//!    each window's failure rate is compared with the rate before it (the
//!    baseline), so everyday refusals are not mistaken for an incident.

use std::collections::{BTreeMap, BTreeSet};

use bstr::ByteSlice;
use chrono::{DateTime, Duration, Utc};

use crate::classify::{Category, Classifier};
use crate::finding::Finding;
use crate::outcome::Outcome;
use crate::partial::PartialLog;

/// How incidents are found.
#[derive(Clone, Debug)]
pub struct IncidentOptions {
    /// Failure categories that make an incident.
    pub categories: Vec<Category>,
    /// How long a receiver must accept mail with no focus failure for the
    /// incident to count as over.
    pub quiet: Duration,
    /// Windows with fewer focus failures are not reported.
    pub min_failures: usize,
}

impl Default for IncidentOptions {
    fn default() -> IncidentOptions {
        IncidentOptions {
            categories: vec![Category::Blocklisted, Category::Reputation],
            quiet: Duration::hours(1),
            min_failures: 3,
        }
    }
}

/// One failure that belongs to an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentFailure {
    /// When.
    pub at: DateTime<Utc>,
    /// Index of the finding it comes from.
    pub finding: usize,
}

/// One incident: a receiver refusing mail for a focus category.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// The receiver: a provider name (`microsoft`) or the registrable part
    /// of the remote host name (`example.net`).
    pub receiver: String,
    /// The IP address the receiver said was listed, when it said.
    pub listed_ip: Option<String>,
    /// Blocklists named, most frequent first.
    pub blocklists: Vec<String>,
    /// Categories seen, with counts.
    pub categories: BTreeMap<Category, usize>,
    /// First focus failure.
    pub onset: DateTime<Utc>,
    /// Last focus failure.
    pub last_failure: DateTime<Utc>,
    /// First successful delivery to the receiver after which it stayed
    /// quiet; `None` when the input ends first.
    pub recovery: Option<DateTime<Utc>>,
    /// Focus failures (attempts), in time order.
    pub failures: Vec<IncidentFailure>,
    /// Distinct messages (host, queue id) with a focus failure.
    pub messages: usize,
    /// Distinct recipients with a focus failure.
    pub recipients: usize,
    /// Distinct recipient domains with a focus failure.
    pub domains: usize,
    /// Of the affected recipients, how many ended in each outcome.
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Focus failures per hour for this receiver before the onset, over
    /// the input before it (0 when the input starts with the incident).
    pub baseline_per_hour: f64,
    /// Focus failures per hour during the incident.
    pub rate_per_hour: f64,
}

impl Incident {
    /// From onset to recovery (or to the last failure when there is no
    /// recovery).
    pub fn duration(&self) -> Duration {
        self.recovery.unwrap_or(self.last_failure) - self.onset
    }
}

/// A successful delivery, for recovery detection.
#[derive(Clone, Debug, PartialEq)]
struct Success {
    at: DateTime<Utc>,
    receiver: String,
}

/// The receiver a remote host belongs to: its provider when the classifier
/// knows one, else its last two labels (`mx1.example.net` → `example.net`).
pub fn receiver_of_host(classifier: &Classifier, host: &str) -> String {
    if let Some(provider) = classifier.provider_of_host(host) {
        return provider.to_string();
    }
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".")
}

/// Successful deliveries to remote hosts, from the correlated log.
fn successes(log: &PartialLog, classifier: &Classifier) -> Vec<Success> {
    let mut found = Vec::new();
    for record in log.messages.values().flatten() {
        found.extend(record.remote_deliveries().map(|(host, at)| Success {
            at,
            receiver: receiver_of_host(classifier, &host.to_str_lossy()),
        }));
    }
    // Deliveries of the entries a scan dropped (the rest are in the
    // records above).
    for (host, times) in log.dropped_deliveries() {
        let receiver = receiver_of_host(classifier, &host.to_str_lossy());
        found.extend(times.iter().map(|&at| Success {
            at,
            receiver: receiver.clone(),
        }));
    }
    found.sort_by(|a, b| (a.at, &a.receiver).cmp(&(b.at, &b.receiver)));
    found
}

/// Finds incidents in classified findings (all outcomes, so that later
/// outcomes of affected recipients are known) and the log they came from
/// (for successful deliveries: those of its records, and when the scan
/// dropped entries, its digest of theirs, see
/// [`PartialLog::with_delivery_digest`]).
pub fn find_incidents(
    findings: &[Finding],
    log: &PartialLog,
    classifier: &Classifier,
    options: &IncidentOptions,
) -> Vec<Incident> {
    // Focus failures per (receiver, listed IP). Each failed attempt of a
    // recipient counts; its category is that of the recipient's last
    // failure, which for a run of identical refusals is the same.
    type GroupKey = (String, Option<String>);
    let mut groups: BTreeMap<GroupKey, Vec<IncidentFailure>> = BTreeMap::new();
    for (index, finding) in findings.iter().enumerate() {
        let Some(class) = &finding.class else {
            continue;
        };
        if !options.categories.contains(&class.category) {
            continue;
        }
        let failure = finding.outcome.last_failure.as_ref();
        let host = failure
            .and_then(|f| f.remote_host.as_ref())
            .map(|h| h.to_str_lossy().into_owned());
        let receiver = match (&class.provider, host) {
            (Some(provider), _) => provider.clone(),
            (None, Some(host)) => receiver_of_host(classifier, &host),
            (None, None) => continue,
        };
        let key = (receiver, class.listed_ip.map(|ip| ip.to_string()));
        let times = &finding.outcome.failure_times;
        let entry = groups.entry(key).or_default();
        entry.extend(
            times
                .iter()
                .map(|&at| IncidentFailure { at, finding: index }),
        );
    }
    let successes = successes(log, classifier);
    let mut incidents = Vec::new();
    for ((receiver, listed_ip), mut failures) in groups {
        failures.sort_by_key(|f| (f.at, f.finding));
        let receiver_successes: Vec<DateTime<Utc>> = successes
            .iter()
            .filter(|s| s.receiver == receiver)
            .map(|s| s.at)
            .collect();
        for window in windows(&failures, &receiver_successes, options.quiet) {
            if window.failures.len() < options.min_failures {
                continue;
            }
            incidents.push(describe(
                findings,
                &receiver,
                listed_ip.clone(),
                window,
                &failures,
            ));
        }
    }
    incidents.sort_by(|a, b| (a.onset, &a.receiver).cmp(&(b.onset, &b.receiver)));
    incidents
}

struct Window {
    failures: Vec<IncidentFailure>,
    recovery: Option<DateTime<Utc>>,
}

/// Cuts one receiver's failures into windows closed by a success followed
/// by a quiet period.
fn windows(
    failures: &[IncidentFailure],
    successes: &[DateTime<Utc>],
    quiet: Duration,
) -> Vec<Window> {
    let mut windows: Vec<Window> = Vec::new();
    let mut current: Vec<IncidentFailure> = Vec::new();
    let mut next_failure = 0;
    while next_failure < failures.len() {
        current.push(failures[next_failure].clone());
        let last = failures[next_failure].at;
        next_failure += 1;
        // The first success after the last failure so far…
        let recovery = successes.iter().copied().find(|&s| s > last);
        let following = failures.get(next_failure).map(|f| f.at);
        match (recovery, following) {
            // …ends the window when no failure follows within the quiet
            // period after it.
            (Some(success), Some(next)) if next > success + quiet => {
                windows.push(Window {
                    failures: std::mem::take(&mut current),
                    recovery: Some(success),
                });
            }
            (Some(success), None) => {
                windows.push(Window {
                    failures: std::mem::take(&mut current),
                    recovery: Some(success),
                });
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        windows.push(Window {
            failures: current,
            recovery: None,
        });
    }
    windows
}

fn describe(
    findings: &[Finding],
    receiver: &str,
    listed_ip: Option<String>,
    window: Window,
    all_failures: &[IncidentFailure],
) -> Incident {
    let onset = window
        .failures
        .first()
        .map(|f| f.at)
        .expect("windows are never empty");
    let last_failure = window
        .failures
        .last()
        .map(|f| f.at)
        .expect("windows are never empty");
    let mut messages = BTreeSet::new();
    let mut recipients = BTreeSet::new();
    let mut domains = BTreeSet::new();
    let mut outcomes = BTreeMap::new();
    let mut categories = BTreeMap::new();
    let mut blocklists: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for failure in &window.failures {
        let finding = &findings[failure.finding];
        let row = &finding.outcome;
        if let Some(class) = &finding.class {
            *categories.entry(class.category).or_insert(0) += 1;
            if let Some(list) = &class.blocklist {
                *blocklists.entry(list.clone()).or_insert(0) += 1;
            }
        }
        messages.insert((row.host.clone(), row.queue_id.clone()));
        recipients.insert(row.recipient.to_ascii_lowercase());
        domains.insert(row.recipient_domain());
        if seen.insert(failure.finding) {
            *outcomes.entry(row.outcome).or_insert(0) += 1;
        }
    }
    let mut blocklists: Vec<(String, usize)> = blocklists.into_iter().collect();
    blocklists.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let hours = |d: Duration| (d.num_seconds() as f64 / 3600.0).max(1.0 / 60.0);
    let end = window.recovery.unwrap_or(last_failure);
    let rate_per_hour = window.failures.len() as f64 / hours(end - onset);
    let before: Vec<&IncidentFailure> = all_failures.iter().filter(|f| f.at < onset).collect();
    let baseline_per_hour = match before.first() {
        Some(first) => before.len() as f64 / hours(onset - first.at),
        None => 0.0,
    };
    Incident {
        receiver: receiver.to_string(),
        listed_ip,
        blocklists: blocklists.into_iter().map(|(name, _)| name).collect(),
        categories,
        onset,
        last_failure,
        recovery: window.recovery,
        messages: messages.len(),
        recipients: recipients.len(),
        domains: domains.len(),
        outcomes,
        baseline_per_hour,
        rate_per_hour,
        failures: window.failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 10, 19, 0, 0, 0).unwrap()
            + Duration::hours(i64::from(hour))
            + Duration::minutes(i64::from(minute))
    }

    fn failures(times: &[DateTime<Utc>]) -> Vec<IncidentFailure> {
        times
            .iter()
            .enumerate()
            .map(|(finding, &at)| IncidentFailure { at, finding })
            .collect()
    }

    #[test]
    fn success_between_failures_does_not_end_the_window() {
        // A delivery at 20:00 (another MX, or a lucky retry) is followed by
        // a failure 30 minutes later: still the same incident.
        let f = failures(&[t(18, 3), t(19, 0), t(20, 30), t(23, 0)]);
        let w = windows(&f, &[t(20, 0), t(23, 30)], Duration::hours(1));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].failures.len(), 4);
        assert_eq!(w[0].recovery, Some(t(23, 30)));
    }

    #[test]
    fn quiet_period_after_success_splits_windows() {
        let f = failures(&[t(1, 0), t(1, 10), t(6, 0), t(6, 5)]);
        let w = windows(&f, &[t(2, 0), t(7, 0)], Duration::hours(1));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].recovery, Some(t(2, 0)));
        assert_eq!(w[1].failures[0].at, t(6, 0));
        assert_eq!(w[1].recovery, Some(t(7, 0)));
    }

    #[test]
    fn no_success_means_no_recovery() {
        let f = failures(&[t(1, 0), t(2, 0)]);
        let w = windows(&f, &[t(0, 30)], Duration::hours(1));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].recovery, None);
    }

    #[test]
    fn receiver_names() {
        let classifier = Classifier::builtin();
        assert_eq!(
            receiver_of_host(&classifier, "example-com.mail.protection.outlook.com"),
            "microsoft"
        );
        assert_eq!(
            receiver_of_host(&classifier, "MX1.Example.NET."),
            "example.net"
        );
    }
}
