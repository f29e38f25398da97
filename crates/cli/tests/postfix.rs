//! End-to-end tests of `mailtrail undelivered` on the Postfix fixtures in
//! `fixtures/postfix/` (see `fixtures/README.md`, section "Postfix").
//!
//! Every fixture `NAME.log` has `NAME.expected.csv` with at least the columns
//! `queue_id,recipient,outcome`. The report must contain exactly those
//! (queue id, recipient, outcome) rows, no more and no fewer. The optional
//! columns `first_failure_at`, `last_attempt_at`, `smtp_code`,
//! `enhanced_code`, `sender` and `received_at` are compared where the
//! expected file fills them in; `note` is for people.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

mod common;
use common::stdout_of;

fn postfix(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/postfix")
        .join(name)
}

/// The CSV report for `files`: every outcome, notifications included, times
/// in UTC.
fn report_csv(zone: &str, files: &[PathBuf], extra: &[&str]) -> String {
    let mut args = vec![
        "undelivered",
        "--log-tz",
        zone,
        "--tz",
        "UTC",
        "--outcome",
        "all",
        "--include-notifications",
        "--format",
        "csv",
    ];
    args.extend_from_slice(extra);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    stdout_of(&args)
}

/// (queue_id, recipient lowercased, outcome).
type Key = (String, String, String);

/// Columns compared when the expected file fills them in.
const CHECKED: [&str; 6] = [
    "first_failure_at",
    "last_attempt_at",
    "smtp_code",
    "enhanced_code",
    "sender",
    "received_at",
];

const TIME_COLUMNS: [&str; 3] = ["first_failure_at", "last_attempt_at", "received_at"];

/// Rows of a CSV keyed by (queue_id, recipient, outcome), with the
/// [`CHECKED`] columns the CSV has. A key seen twice is kept twice.
fn rows(csv_text: &str, what: &str) -> Vec<(Key, BTreeMap<String, String>)> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .unwrap_or_else(|e| panic!("{what}: no header: {e}"))
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| column(name).unwrap_or_else(|| panic!("{what}: no column {name}"));
    let (q, r, o) = (need("queue_id"), need("recipient"), need("outcome"));
    let checked: Vec<(&str, usize)> = CHECKED
        .iter()
        .filter_map(|name| column(name).map(|i| (*name, i)))
        .collect();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap_or_else(|e| panic!("{what}: bad record: {e}"));
            let key = (
                record[q].to_string(),
                record[r].to_lowercase(),
                record[o].to_string(),
            );
            let fields = checked
                .iter()
                .map(|(name, i)| (name.to_string(), record[*i].to_string()))
                .collect();
            (key, fields)
        })
        .collect()
}

fn expected_rows(name: &str) -> Vec<(Key, BTreeMap<String, String>)> {
    let path = postfix(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rows(&text, name)
}

/// A time as whole seconds since the epoch, so that `…:21Z`,
/// `…:21+00:00` and `…:21.104+00:00` compare equal.
fn instant(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

fn same_value(column: &str, expected: &str, actual: &str) -> bool {
    if TIME_COLUMNS.contains(&column) {
        match (instant(expected), instant(actual)) {
            (Some(e), Some(a)) => e == a,
            _ => false,
        }
    } else {
        expected.eq_ignore_ascii_case(actual)
    }
}

/// Compares a report with an expected file and panics with every
/// difference. Keys listed in `tolerated` are left out on both sides (known
/// bugs, each explained where the list is written).
fn check_against(report: &str, expected_file: &str, tolerated: &[(&str, &str, &str)]) {
    let tolerated: BTreeSet<Key> = tolerated
        .iter()
        .map(|(q, r, o)| (q.to_string(), r.to_string(), o.to_string()))
        .collect();
    let expected: Vec<_> = expected_rows(expected_file)
        .into_iter()
        .filter(|(k, _)| !tolerated.contains(k))
        .collect();
    let actual: Vec<_> = rows(report, "report")
        .into_iter()
        .filter(|(k, _)| !tolerated.contains(k))
        .collect();

    let mut problems = Vec::new();
    let mut actual_by_key: BTreeMap<&Key, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for (key, fields) in &actual {
        actual_by_key.entry(key).or_default().push(fields);
    }
    let expected_keys: BTreeSet<&Key> = expected.iter().map(|(k, _)| k).collect();
    for (key, fields) in &expected {
        let Some(found) = actual_by_key.get(key) else {
            problems.push(format!("missing from report: {key:?}"));
            continue;
        };
        if found.len() > 1 {
            problems.push(format!("reported {} times: {key:?}", found.len()));
        }
        for (column, want) in fields {
            if want.is_empty() {
                continue;
            }
            let got = found[0].get(column).map(String::as_str).unwrap_or("");
            if !same_value(column, want, got) {
                problems.push(format!("{key:?}: {column} is {got:?}, expected {want:?}"));
            }
        }
    }
    for (key, _) in &actual {
        if !expected_keys.contains(key) {
            problems.push(format!("not expected: {key:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{expected_file}: {} difference(s)\n  {}\n--- report ---\n{report}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// outcomes.log: every outcome in classic syslog lines

fn outcomes_report() -> String {
    report_csv("UTC", &[postfix("outcomes.log")], &["--year", "2024"])
}

#[test]
fn outcomes_fixture_matches_expected() {
    check_against(&outcomes_report(), "outcomes.expected.csv", &[]);
}

// ---------------------------------------------------------------------------
// wrappers/: the same messages under each prefix format; local time is
// Europe/Berlin (UTC+02:00 on 2024-10-06), so the expected UTC times are
// the same in every file whether or not the prefix carries an offset.

fn check_wrapper(name: &str) {
    let report = report_csv(
        "Europe/Berlin",
        &[postfix(&format!("wrappers/{name}.log"))],
        &["--year", "2024"],
    );
    check_against(&report, &format!("wrappers/{name}.expected.csv"), &[]);
}

#[test]
fn wrapper_rsyslog_rfc3339() {
    check_wrapper("rfc3339");
}

#[test]
fn wrapper_rfc5424() {
    check_wrapper("rfc5424");
}

#[test]
fn wrapper_rfc5424_with_app_name_postfix_only() {
    check_wrapper("rfc5424-appname");
}

#[test]
fn wrapper_journalctl_short_iso() {
    check_wrapper("journal-short-iso");
}

#[test]
fn wrapper_journalctl_short_precise() {
    check_wrapper("short-precise");
}

#[test]
fn wrapper_postfix_maillog_file() {
    check_wrapper("maillog-file");
}

#[test]
fn wrapper_solaris_message_ids() {
    check_wrapper("solaris");
}

#[test]
fn wrapper_docker_compose() {
    check_wrapper("docker-compose");
}

#[test]
fn wrapper_kubernetes_cri() {
    check_wrapper("cri");
}

#[test]
fn multi_instance_ids_stay_apart() {
    check_wrapper("multi-instance");
}

// ---------------------------------------------------------------------------
// Queue ids and hops

#[test]
fn long_queue_ids_including_z_in_the_time_part() {
    let report = report_csv("UTC", &[postfix("long-ids.log")], &["--year", "2024"]);
    check_against(&report, "long-ids.expected.csv", &[]);
}

#[test]
fn content_filter_hop_is_reported_once_under_the_final_queue_id() {
    let report = report_csv("UTC", &[postfix("content-filter.log")], &["--year", "2024"]);
    check_against(&report, "content-filter.expected.csv", &[]);
}

#[test]
fn relay_to_mx_is_reported_once_with_the_mx_outcome_in_any_file_order() {
    let relay = postfix("two-hosts/relay.log");
    let mx = postfix("two-hosts/mx.log");
    for files in [[relay.clone(), mx.clone()], [mx, relay]] {
        let report = report_csv("UTC", &files, &["--year", "2024"]);
        check_against(&report, "two-hosts.expected.csv", &[]);
    }
}

// ---------------------------------------------------------------------------
// incident/: generated by `mailtrail-loggen postfix` (command in
// fixtures/README.md) with the generator's own ground truth: two hosts in one
// log, a blocklisting incident, every outcome, and one short queue id used
// on both hosts at the same time.

#[test]
fn incident_fixture_matches_generator_truth() {
    let report = report_csv("UTC", &[postfix("incident/mail.log")], &["--year", "2024"]);
    let truth_path = postfix("incident/truth.csv");
    let truth = std::fs::read_to_string(&truth_path)
        .unwrap_or_else(|e| panic!("{}: {e}", truth_path.display()));
    let keys = |text: &str, what: &str| -> BTreeSet<Key> {
        rows(text, what).into_iter().map(|(k, _)| k).collect()
    };
    let want = keys(&truth, "truth.csv");
    let got = keys(&report, "report");
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from report: {missing:#?}\nnot expected: {extra:#?}"
    );
    // The shared queue id is reported once per host.
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (host, queue_id) = (column("host"), column("queue_id"));
    let mut hosts_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        if !record[queue_id].is_empty() {
            hosts_of
                .entry(record[queue_id].to_string())
                .or_default()
                .insert(record[host].to_string());
        }
    }
    assert!(
        hosts_of.values().any(|h| h.len() == 2),
        "no queue id on both hosts"
    );
}

// ---------------------------------------------------------------------------
// rollover/: a deferral on Dec 31 delivered on Jan 1, and an expiry across
// the new year, with the year taken from each file's modification time.

fn at(rfc3339: &str) -> SystemTime {
    let seconds = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp();
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).expect("after 1970"))
}

/// Copies of the rollover files with the modification times logrotate would
/// have left: `mail.log.1` last written 2024-12-31 23:59, `mail.log` on
/// 2025-01-02. Copies, so that the checkout is not touched.
fn rollover_copies() -> (PathBuf, PathBuf, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("mailtrail-postfix-rollover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut copies = Vec::new();
    for (name, mtime) in [
        ("mail.log.1", "2024-12-31T23:59:00Z"),
        ("mail.log", "2025-01-02T10:00:00Z"),
    ] {
        let copy = dir.join(name);
        std::fs::copy(postfix(&format!("rollover/{name}")), &copy).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(at(mtime))
            .unwrap();
        copies.push(copy);
    }
    let newer = copies.pop().unwrap();
    let older = copies.pop().unwrap();
    (dir, older, newer)
}

#[test]
fn rollover_years_come_from_file_times_in_any_order() {
    let (dir, older, newer) = rollover_copies();
    // No --year: each file's year comes from its modification time.
    let forward = report_csv("UTC", &[older.clone(), newer.clone()], &[]);
    let backward = report_csv("UTC", &[newer, older], &[]);
    std::fs::remove_dir_all(&dir).ok();

    check_against(&forward, "rollover.expected.csv", &[]);
    check_against(&backward, "rollover.expected.csv", &[]);
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&forward),
        sorted(&backward),
        "the file order changed the report"
    );

    // Every time in the report is in December 2024 or January 2025.
    for (key, fields) in rows(&forward, "report") {
        for column in TIME_COLUMNS {
            let value = fields.get(column).map(String::as_str).unwrap_or("");
            if value.is_empty() {
                continue;
            }
            assert!(
                value.starts_with("2024-12-") || value.starts_with("2025-01-"),
                "{key:?}: {column} = {value}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Parallelism must not change the Postfix reports either.

#[test]
fn postfix_reports_do_not_depend_on_threads_or_chunk_size() {
    for (fixture, extra) in [
        ("outcomes.log", None),
        ("long-ids.log", None),
        ("content-filter.log", None),
        ("incident/mail.log", None),
        ("two-hosts/relay.log", Some("two-hosts/mx.log")),
    ] {
        let mut files = vec![postfix(fixture).display().to_string()];
        files.extend(extra.map(|f| postfix(f).display().to_string()));
        let base = [
            "undelivered",
            "--log-tz",
            "UTC",
            "--year",
            "2024",
            "--outcome",
            "all",
            "--include-notifications",
            "--format",
            "csv",
        ];
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let one = stdout_of(&[&base[..], &["--threads", "1"], &files[..]].concat());
        for chunk in ["1", "97", "4096"] {
            let many = stdout_of(
                &[
                    &base[..],
                    &["--threads", "4", "--chunk-size", chunk],
                    &files[..],
                ]
                .concat(),
            );
            assert_eq!(one, many, "{fixture} with chunk size {chunk}");
        }
    }
}

#[test]
fn long_queue_ids_decide_the_year_over_a_misleading_file_time() {
    // An archive copied years later: its modification time says 2027, but
    // the long queue ids were created in 2024.
    let dir = std::env::temp_dir().join(format!("mailtrail-postfix-longid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("long-ids.log");
    std::fs::copy(postfix("long-ids.log"), &copy).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(at("2027-03-01T00:00:00Z"))
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args([
            "undelivered",
            "--log-tz",
            "UTC",
            "--outcome",
            "all",
            "--format",
            "csv",
        ])
        .arg(&copy)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("year of syslog timestamps 2024, from the creation times in long queue ids"),
        "{stderr}"
    );
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("2024-10-20T08:00:15+00:00,mx2,4XWW7z0sf8z9rvP"),
        "{report}"
    );
    assert!(
        !report.contains("2027-") && !report.contains("2026-"),
        "{report}"
    );
}

#[test]
fn exim_and_postfix_logs_of_several_hosts_in_one_run() {
    // Each log alone, then all together: the queue-id namespaces of the
    // hosts stay apart, so the rows add up and none changes.
    let exim = common::fixtures().join("exim/incident/mainlog");
    let inputs = [
        exim,
        postfix("outcomes.log"),
        postfix("two-hosts/relay.log"),
        postfix("two-hosts/mx.log"),
    ];
    let run = |files: &[PathBuf]| {
        let mut args = vec![
            "undelivered",
            "--log-tz",
            "UTC",
            "--year",
            "2024",
            "--host",
            "smtp1",
            "--outcome",
            "all",
            "--format",
            "csv",
        ];
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        args.extend(names.iter().map(String::as_str));
        let text = stdout_of(&args);
        text.lines()
            .skip(1)
            .map(str::to_string)
            .collect::<BTreeSet<String>>()
    };
    let together = run(&inputs);
    let exim_alone = run(&inputs[..1]);
    let postfix_alone = run(&inputs[1..]);
    assert!(exim_alone.iter().all(|row| row.contains(",smtp1,")));
    assert!(!postfix_alone.is_empty());
    let union: BTreeSet<String> = exim_alone.union(&postfix_alone).cloned().collect();
    assert_eq!(together, union);
}
