//! Report rows with their classification, and the filters reports share.

use std::sync::Arc;

use bstr::ByteSlice;
use mailtrail_parse::AttemptStatus;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::classify::{Category, Classification, Classifier, FailureFacts, FailureStage};
use crate::outcome::{FailureRef, Outcome, OutcomeIndex, RecipientOutcome, rejection_status};
use crate::record::Failure;

/// The facts the classifier needs about a row's last failure; `None` for
/// a row without a failure (delivered, or removed before any attempt).
pub fn failure_facts(row: &RecipientOutcome) -> Option<FailureFacts<'_>> {
    let failure = row.last_failure.as_ref()?;
    Some(attempt_facts(row.outcome, failure))
}

/// The facts of `failure`, the last failure of a row of `outcome`.
fn attempt_facts(outcome: Outcome, failure: &Failure) -> FailureFacts<'_> {
    FailureFacts {
        stage: failure_stage(outcome, failure.status),
        smtp_code: failure.reply.code,
        enhanced_code: failure.reply.enhanced,
        reason: failure.reason.as_deref().map_or(&b""[..], |r| r.as_bytes()),
        remote_host: failure.remote_host.as_deref().map(|h| h.as_bytes()),
        local: failure.local,
    }
}

/// The facts of a row's last failure as the log holds it: the same as
/// [`failure_facts`] of the row made from it.
fn facts_in_log(outcome: Outcome, failure: FailureRef<'_>) -> FailureFacts<'_> {
    match failure {
        FailureRef::Attempt(failure) => attempt_facts(outcome, failure),
        // What `rejection_row` makes of it.
        FailureRef::Rejection(rejection) => FailureFacts {
            stage: failure_stage(outcome, rejection_status(rejection)),
            smtp_code: rejection.reply.code,
            enhanced_code: rejection.reply.enhanced,
            reason: (rejection.reason.as_deref()).map_or(&b""[..], |r| r.as_bytes()),
            remote_host: rejection.client_host.as_deref().map(|h| h.as_bytes()),
            local: true,
        },
    }
}

/// The stage of a last failure of `status` for a row of `outcome`.
fn failure_stage(outcome: Outcome, status: AttemptStatus) -> FailureStage {
    match outcome {
        Outcome::Rejected => FailureStage::Rejection,
        Outcome::Expired => FailureStage::Expiry,
        Outcome::Bounced => FailureStage::Bounce,
        _ => match status {
            AttemptStatus::Bounced => FailureStage::Bounce,
            AttemptStatus::Expired => FailureStage::Expiry,
            _ => FailureStage::Deferral,
        },
    }
}

/// Classifies the distinct failure facts of rows on the current rayon
/// pool: for each row the index of its verdict, and the verdicts.
///
/// Rows with identical failure facts (one text from one host: a message
/// to several recipients, a local failure repeated, a retry text) are
/// classified once; the verdict depends on nothing else.
fn classify_distinct<'f>(
    facts_of_rows: impl Iterator<Item = Option<FailureFacts<'f>>>,
    classifier: &Classifier,
) -> (Vec<Option<usize>>, Vec<Arc<Classification>>) {
    let mut distinct: FxHashMap<FailureFacts<'f>, usize> = FxHashMap::default();
    let mut facts_in_order = Vec::new();
    let verdict_of_row: Vec<Option<usize>> = facts_of_rows
        .map(|facts| {
            let facts = facts?;
            Some(*distinct.entry(facts).or_insert_with(|| {
                facts_in_order.push(facts);
                facts_in_order.len() - 1
            }))
        })
        .collect();
    let verdicts: Vec<Arc<Classification>> = facts_in_order
        .par_iter()
        .map(|facts| Arc::new(classifier.classify(facts)))
        .collect();
    (verdict_of_row, verdicts)
}

/// One report row: a recipient's outcome, why it failed, and the ticket it
/// belongs to.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The outcome.
    pub outcome: RecipientOutcome,
    /// The classification of its last failure, if it had one; shared by
    /// the rows with the same failure facts (see [`Finding::classify_all`]).
    pub class: Option<Arc<Classification>>,
    /// The helpdesk ticket or card id, when known.
    pub ticket: Option<String>,
}

impl Finding {
    /// Classifies a row's last failure.
    pub fn new(outcome: RecipientOutcome, classifier: &Classifier) -> Finding {
        let class = failure_facts(&outcome).map(|facts| Arc::new(classifier.classify(&facts)));
        Finding {
            outcome,
            class,
            ticket: None,
        }
    }

    /// Classifies many rows on the current rayon pool, in order.
    ///
    /// Rows with identical failure facts (one text from one host: a message
    /// to several recipients, a local failure repeated, a retry text) are
    /// classified once; the verdict depends on nothing else.
    pub fn classify_all(outcomes: Vec<RecipientOutcome>, classifier: &Classifier) -> Vec<Finding> {
        let (verdict_of_row, verdicts) =
            classify_distinct(outcomes.iter().map(failure_facts), classifier);
        outcomes
            .into_iter()
            .zip(verdict_of_row)
            .map(|(outcome, verdict)| Finding {
                outcome,
                class: verdict.map(|index| Arc::clone(&verdicts[index])),
                ticket: None,
            })
            .collect()
    }

    /// The failure category, if any.
    pub fn category(&self) -> Option<Category> {
        self.class.as_ref().map(|c| c.category)
    }
}

/// Classified report rows kept as places in the log ([`OutcomeIndex`]),
/// each made into a [`Finding`] when it is wanted ([`IndexedFindings::get`]),
/// as [`Finding::classify_all`] would have made it.
///
/// A report of every failure in a large log holds hundreds of thousands
/// of findings, each a copy of texts the log holds anyway: this holds a
/// place and a verdict per row instead.
pub struct IndexedFindings<'a> {
    rows: OutcomeIndex<'a>,
    verdicts: Vec<Arc<Classification>>,
    verdict_of_row: Vec<Option<usize>>,
}

impl<'a> IndexedFindings<'a> {
    /// Classifies the rows' last failures, reading them from the log;
    /// identical facts are classified once, on the current rayon pool.
    pub fn classify(rows: OutcomeIndex<'a>, classifier: &Classifier) -> IndexedFindings<'a> {
        let facts = (0..rows.len())
            .map(|row| (rows.last_failure(row)).map(|(outcome, f)| facts_in_log(outcome, f)));
        let (verdict_of_row, verdicts) = classify_distinct(facts, classifier);
        IndexedFindings {
            rows,
            verdicts,
            verdict_of_row,
        }
    }

    /// The number of findings.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no finding.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The outcome of finding `index`, without making it.
    pub fn outcome(&self, index: usize) -> Outcome {
        self.rows.outcome(index)
    }

    /// Makes finding `index`.
    pub fn get(&self, index: usize) -> Finding {
        Finding {
            outcome: self.rows.row(index),
            class: self.verdict_of_row[index].map(|v| Arc::clone(&self.verdicts[v])),
            ticket: None,
        }
    }

    /// Keeps the findings for which `keep` holds, making each on the
    /// current rayon pool to test it.
    pub fn retain(&mut self, keep: impl Fn(&Finding) -> bool + Sync) {
        let flags: Vec<bool> = (0..self.len())
            .into_par_iter()
            .map(|index| keep(&self.get(index)))
            .collect();
        self.rows.retain_flagged(&flags);
        let mut flag = flags.iter();
        self.verdict_of_row
            .retain(|_| *flag.next().unwrap_or(&false));
    }
}

/// Filters on findings beyond outcome and window. Every list given must
/// match (an empty list matches everything); within a list any entry may.
#[derive(Clone, Debug, Default)]
pub struct RowFilter {
    /// Failure categories.
    pub categories: Vec<Category>,
    /// Reply or enhanced codes, by prefix: `5` and `55` match 550; `5.7`
    /// matches 5.7.1 but not 5.70.1.
    pub codes: Vec<String>,
    /// Recipient domains; a domain also matches its subdomains.
    pub recipient_domains: Vec<String>,
    /// Remote host name suffixes (`outlook.com`) or exact IPs.
    pub remote_hosts: Vec<String>,
    /// Sender addresses (with `@`) or sender domains (without).
    pub senders: Vec<String>,
    /// A pattern the failure reason must match.
    pub reason: Option<regex::bytes::Regex>,
}

impl RowFilter {
    /// True when the filter has nothing to test: every finding matches.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            && self.codes.is_empty()
            && self.recipient_domains.is_empty()
            && self.remote_hosts.is_empty()
            && self.senders.is_empty()
            && self.reason.is_none()
    }

    /// True when the finding passes every filter.
    pub fn matches(&self, finding: &Finding) -> bool {
        let row = &finding.outcome;
        let failure = row.last_failure.as_ref();
        if !self.categories.is_empty()
            && !finding
                .category()
                .is_some_and(|c| self.categories.contains(&c))
        {
            return false;
        }
        if !self.codes.is_empty() {
            let reply = row.reply();
            let code = reply.code.map(|c| c.to_string());
            let enhanced = reply.enhanced.map(|e| e.to_string());
            let hit = self.codes.iter().any(|wanted| {
                if wanted.contains('.') {
                    enhanced
                        .as_deref()
                        .is_some_and(|e| dotted_prefix(e, wanted))
                } else {
                    code.as_deref()
                        .is_some_and(|c| c.starts_with(wanted.as_str()))
                }
            });
            if !hit {
                return false;
            }
        }
        if !self.recipient_domains.is_empty() {
            let domain = row.recipient_domain();
            if !self
                .recipient_domains
                .iter()
                .any(|d| domain_matches(&domain, d))
            {
                return false;
            }
        }
        if !self.remote_hosts.is_empty() {
            let host = failure
                .and_then(|f| f.remote_host.as_ref())
                .map(|h| h.to_str_lossy().to_ascii_lowercase());
            let ip = failure
                .and_then(|f| f.remote_ip.as_ref())
                .map(|i| i.to_str_lossy().into_owned());
            let hit = self.remote_hosts.iter().any(|wanted| {
                ip.as_deref() == Some(wanted.as_str())
                    || host.as_deref().is_some_and(|h| domain_matches(h, wanted))
            });
            if !hit {
                return false;
            }
        }
        if !self.senders.is_empty() {
            let sender = row
                .sender
                .as_ref()
                .map(|s| s.to_str_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let sender_domain = sender.rsplit_once('@').map_or("", |(_, d)| d);
            let hit = self.senders.iter().any(|wanted| {
                let wanted = wanted.to_ascii_lowercase();
                if wanted.contains('@') {
                    sender == wanted
                } else {
                    domain_matches(sender_domain, &wanted)
                }
            });
            if !hit {
                return false;
            }
        }
        if let Some(pattern) = &self.reason {
            let reason = row.reason.as_deref().map_or(&b""[..], |r| r.as_bytes());
            if !pattern.is_match(reason) {
                return false;
            }
        }
        true
    }
}

/// `5.7` is a prefix of `5.7.1` but not of `5.70.1`.
fn dotted_prefix(code: &str, prefix: &str) -> bool {
    code == prefix
        || code
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// `example.com` matches `example.com` and `mx.example.com`.
fn domain_matches(domain: &str, wanted: &str) -> bool {
    let wanted = wanted.trim_start_matches('.').to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    domain == wanted
        || domain
            .strip_suffix(&wanted)
            .is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_domains() {
        assert!(dotted_prefix("5.7.1", "5.7"));
        assert!(dotted_prefix("5.7.1", "5.7.1"));
        assert!(!dotted_prefix("5.70.1", "5.7"));
        assert!(domain_matches(
            "x.mail.protection.outlook.com",
            "outlook.com"
        ));
        assert!(domain_matches("Example.COM", "example.com"));
        assert!(!domain_matches("badexample.com", "example.com"));
    }
}
