//! `Finding::classify_all` classifies each distinct failure once and gives
//! every row the verdict `Finding::new` would.

use std::collections::HashSet;
use std::path::PathBuf;

use mailtrail_analysis::classify::Classifier;
use mailtrail_analysis::{Finding, PartialLog, ScanOptions, failure_facts, outcomes, scan_bytes};
use mailtrail_parse::{ParserOptions, Tz};

fn scan(path: &str) -> PartialLog {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    scan_bytes(&data, &options)
}

#[test]
fn batch_verdicts_equal_row_by_row_verdicts() {
    let classifier = Classifier::builtin();
    for fixture in [
        "exim/incident/mainlog",
        "exim/outcomes.log",
        "postfix/incident/mail.log",
        "postfix/outcomes.log",
    ] {
        let rows = outcomes(&scan(fixture));
        let failures = rows.iter().filter_map(failure_facts).count();
        let distinct = rows
            .iter()
            .filter_map(failure_facts)
            .collect::<HashSet<_>>()
            .len();
        let one_by_one: Vec<Finding> = rows
            .iter()
            .map(|row| Finding::new(row.clone(), &classifier))
            .collect();
        let batch = Finding::classify_all(rows, &classifier);
        assert_eq!(batch.len(), one_by_one.len(), "{fixture}");
        for (b, o) in batch.iter().zip(&one_by_one) {
            assert_eq!(
                (&b.outcome.queue_id, &b.outcome.recipient, &b.class),
                (&o.outcome.queue_id, &o.outcome.recipient, &o.class),
                "{fixture}"
            );
        }
        assert!(failures > 0, "{fixture} has failures");
        if fixture == "exim/incident/mainlog" {
            // Retries and local failures repeat a text word for word, so the
            // batch really classifies fewer texts than rows.
            assert!(distinct < failures, "{distinct} of {failures}");
        }
    }
}

/// Findings made one at a time from places in the log are the findings
/// `classify_all` makes of the rows `outcomes_where` copies out of it: the
/// same rows, in the same order, with the same verdicts.
#[test]
fn indexed_findings_equal_classified_rows() {
    use mailtrail_analysis::{IndexedFindings, Outcome, OutcomeIndex, outcomes_where};
    let classifier = Classifier::builtin();
    let undelivered = |outcome: Outcome, _| !matches!(outcome, Outcome::Delivered);
    for fixture in [
        "exim/incident/mainlog",
        "exim/outcomes.log",
        "exim/variants.log",
        "postfix/incident/mail.log",
        "postfix/outcomes.log",
        "postfix/content-filter.log",
        "postfix/two-hosts/relay.log",
    ] {
        let log = scan(fixture);
        let keeps: [&(dyn Fn(Outcome, bool) -> bool + Sync); 2] = [&|_, _| true, &undelivered];
        for keep in keeps {
            let made = Finding::classify_all(outcomes_where(&log, keep), &classifier);
            let indexed = IndexedFindings::classify(OutcomeIndex::new(&log, keep), &classifier);
            assert_eq!(indexed.len(), made.len(), "{fixture}");
            assert!(made.iter().any(|f| f.class.is_some()), "{fixture}");
            for (index, finding) in made.iter().enumerate() {
                let from_log = indexed.get(index);
                assert_eq!(from_log.outcome, finding.outcome, "{fixture} row {index}");
                assert_eq!(from_log.class, finding.class, "{fixture} row {index}");
                assert_eq!(indexed.outcome(index), finding.outcome.outcome);
            }
        }
    }
}
