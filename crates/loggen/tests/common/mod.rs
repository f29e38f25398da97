//! Helpers the Exim and Postfix test suites share: both generators run the
//! same incident scenario and write the same truth format.

use std::collections::HashSet;
use std::io;

use mailtrail_loggen::Summary;
use mailtrail_loggen::clock::{HOUR, parse_utc};

/// Log text, truth CSV text and summary of one run.
pub type Output = (String, String, Summary);

/// The time window and incident of the bundled fixtures.
pub struct Window {
    /// First instant of the log (µs).
    pub start: i64,
    /// End of the log, exclusive (µs).
    pub end: i64,
    /// Start of the incident (µs).
    pub onset: Option<i64>,
    /// End of the incident (µs).
    pub recovery: Option<i64>,
}

/// 38 hours from 2024-10-19, incident from 18:03 to 12:44 the next day.
pub fn incident_window() -> Window {
    let start = parse_utc("2024-10-19T00:00:00").unwrap();
    Window {
        start,
        end: start + 38 * HOUR,
        onset: Some(parse_utc("2024-10-19T18:03:00").unwrap()),
        recovery: Some(parse_utc("2024-10-20T12:44:00").unwrap()),
    }
}

/// Runs a generator into memory and returns its output as text.
pub fn collect(
    generate: impl FnOnce(&mut Vec<u8>, Option<&mut Vec<u8>>) -> io::Result<Summary>,
) -> Output {
    let mut log = Vec::new();
    let mut truth = Vec::new();
    let s = generate(&mut log, Some(&mut truth)).unwrap();
    (
        String::from_utf8(log).unwrap(),
        String::from_utf8(truth).unwrap(),
        s,
    )
}

/// Equal configs give equal output; `reseed` must change the log.
pub fn check_deterministic<C: Clone>(
    c: &C,
    run: impl Fn(&C) -> Output,
    reseed: impl FnOnce(&mut C),
) {
    let a = run(c);
    let b = run(c);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    let mut c2 = c.clone();
    reseed(&mut c2);
    assert_ne!(run(&c2).0, a.0);
}

/// Value of `s` as a big-endian number in the digits of `alphabet`.
pub fn decode(alphabet: &[u8], s: &str) -> i64 {
    s.bytes().fold(0, |acc, c| {
        acc * alphabet.len() as i64 + alphabet.iter().position(|&x| x == c).unwrap() as i64
    })
}

/// First line of every truth CSV.
pub const TRUTH_HEADER: &str = "queue_id,recipient,outcome,smtp_code,enhanced_code,category,is_notification,\
     received_at,first_failure_at,last_attempt_at,subject,message_id";

/// The incident scenario produces every outcome, and the summary places the
/// blocklisting inside the incident window.
pub fn check_outcomes_and_incident(outcomes: &HashSet<String>, s: &Summary) {
    for o in [
        "delivered",
        "delayed",
        "bounced",
        "expired",
        "pending",
        "frozen",
        "removed",
        "rejected",
    ] {
        assert!(outcomes.contains(o), "seed 24 should produce {o}");
    }
    assert!(s.first_blocklisted.unwrap() >= s.onset.unwrap());
    assert!(s.last_blocklisted.unwrap() < s.recovery.unwrap());
    assert!(s.recovery_observed.unwrap() >= s.recovery.unwrap());
    assert!(s.affected_domains.contains("example.org"));
}
