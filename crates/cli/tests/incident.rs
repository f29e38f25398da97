//! `mailtrail incident` on the blocklist incident fixture, checked against
//! the generator's own account of the incident.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::stdout_of;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/exim/incident")
        .join(name)
}

fn truth() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("truth.summary.json")).unwrap()).unwrap()
}

fn incidents_json() -> serde_json::Value {
    let log = fixture("mainlog").display().to_string();
    serde_json::from_str(&stdout_of(&[
        "incident", "--log-tz", "UTC", "--format", "json", &log,
    ]))
    .unwrap()
}

#[test]
fn microsoft_blocklisting_onset_last_failure_and_recovery_match_the_truth() {
    let truth = truth();
    let document = incidents_json();
    let incidents = document["incidents"].as_array().unwrap();
    let microsoft = incidents
        .iter()
        .find(|i| i["receiver"] == "microsoft")
        .expect("a microsoft incident");
    let instant = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    assert_eq!(
        instant(&microsoft["onset"]),
        instant(&truth["first_blocklisted_failure_at"])
    );
    assert_eq!(
        instant(&microsoft["last_failure"]),
        instant(&truth["last_incident_failure_at"])
    );
    assert_eq!(instant(&microsoft["recovery"]), instant(&truth["recovery"]));
    assert_eq!(microsoft["listed_ip"], "203.0.113.25");
    assert_eq!(microsoft["blocklists"][0], "Spamhaus");
    assert!(
        microsoft["failures_per_hour"].as_f64().unwrap()
            > microsoft["baseline_failures_per_hour"].as_f64().unwrap()
    );
    // The first sample is the first refusal, quoted from the log.
    let first = microsoft["first_failure"]["log_line"].as_str().unwrap();
    assert!(
        first.contains("mainlog:") && first.contains("blocked using Spamhaus"),
        "{first}"
    );
}

#[test]
fn every_incident_is_within_the_generated_incident() {
    let truth = truth();
    let onset = chrono::DateTime::parse_from_rfc3339(truth["onset"].as_str().unwrap()).unwrap();
    let document = incidents_json();
    for incident in document["incidents"].as_array().unwrap() {
        let at = chrono::DateTime::parse_from_rfc3339(incident["onset"].as_str().unwrap()).unwrap();
        assert!(
            at >= onset,
            "incident before the generated onset: {incident}"
        );
        assert!(incident["failed_attempts"].as_u64().unwrap() >= 3);
    }
    // The second receiver in the fixture deferred with a Spamhaus ZEN text.
    assert!(
        document["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["blocklists"][0] == "Spamhaus ZEN")
    );
}

#[test]
fn markdown_has_numbers_timeline_samples_and_a_reproducible_command() {
    let log = fixture("mainlog").display().to_string();
    let markdown = stdout_of(&["incident", "--log-tz", "UTC", "--format", "markdown", &log]);
    assert!(
        markdown.contains("| Onset (first failure) | 2024-10-19 18:06:22 UTC |"),
        "{markdown}"
    );
    assert!(markdown.contains("| Recovery (first delivery after) | 2024-10-20 12:48:39 UTC |"));
    assert!(markdown.contains("**Timeline**"));
    assert!(markdown.contains("mailtrail incident --log-tz UTC --format markdown"));
    // The hash is that of the input file as committed.
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(std::fs::read(fixture("mainlog")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(markdown.contains(&format!("sha256 {hash}")), "{markdown}");
}

#[test]
fn no_incident_outside_it() {
    // Before the onset nothing rose above the baseline.
    let log = fixture("mainlog").display().to_string();
    let table = stdout_of(&[
        "incident",
        "--log-tz",
        "UTC",
        "--until",
        "2024-10-19 18:00",
        &log,
    ]);
    assert_eq!(table.trim(), "(no incident found)");
}

#[test]
fn bad_quiet_duration_is_one_line_exit_2() {
    let log = fixture("mainlog").display().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args([
            "incident",
            "--log-tz",
            "UTC",
            "--quiet-period",
            "soon",
            &log,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--quiet-period"));
}
