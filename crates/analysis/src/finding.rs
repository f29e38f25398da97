//! Report rows with their classification, and the filters reports share.

use std::sync::Arc;

use bstr::ByteSlice;
use mailtrail_parse::AttemptStatus;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::classify::{Category, Classification, Classifier, FailureFacts, FailureStage};
use crate::outcome::{Outcome, RecipientOutcome};

/// The facts the classifier needs about a row's last failure; `None` for
/// a row without a failure (delivered, or removed before any attempt).
pub fn failure_facts(row: &RecipientOutcome) -> Option<FailureFacts<'_>> {
    let failure = row.last_failure.as_ref()?;
    let stage = match row.outcome {
        Outcome::Rejected => FailureStage::Rejection,
        Outcome::Expired => FailureStage::Expiry,
        Outcome::Bounced => FailureStage::Bounce,
        _ => match failure.status {
            AttemptStatus::Bounced => FailureStage::Bounce,
            AttemptStatus::Expired => FailureStage::Expiry,
            _ => FailureStage::Deferral,
        },
    };
    Some(FailureFacts {
        stage,
        smtp_code: failure.reply.code,
        enhanced_code: failure.reply.enhanced,
        reason: failure.reason.as_deref().map_or(&b""[..], |r| r.as_bytes()),
        remote_host: failure.remote_host.as_deref().map(|h| h.as_bytes()),
        local: failure.local,
    })
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
        let (verdict_of_row, verdicts) = {
            let mut distinct: FxHashMap<FailureFacts<'_>, usize> = FxHashMap::default();
            let mut facts_in_order = Vec::new();
            let verdict_of_row: Vec<Option<usize>> = outcomes
                .iter()
                .map(|outcome| {
                    let facts = failure_facts(outcome)?;
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
        };
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
