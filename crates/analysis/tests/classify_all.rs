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
