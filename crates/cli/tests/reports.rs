//! End-to-end tests of the reporting commands `explain`, `summary` and
//! `timeline`. Numbers are checked against the generator's truth for the
//! incident fixture (`fixtures/exim/incident/truth.csv` and
//! `truth.summary.json`) and against the expected outcomes of
//! `fixtures/postfix/outcomes.log`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{fixtures, json_of, mailtrail, stdout_of};

const SINCE: &str = "2024-10-19 18:00";
const UNTIL: &str = "2024-10-20 13:00";
const SINCE_RFC: &str = "2024-10-19T18:00:00Z";
const UNTIL_RFC: &str = "2024-10-20T13:00:00Z";

fn incident(name: &str) -> String {
    fixtures()
        .join("exim/incident")
        .join(name)
        .display()
        .to_string()
}

/// Runs a command that must fail as a bad argument: exit 2, and the
/// first line of stderr is returned.
fn bad_argument(args: &[&str]) -> String {
    let output = mailtrail(args);
    assert_eq!(
        output.status.code(),
        Some(2),
        "mailtrail {args:?} should exit 2; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "no report on a bad argument");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The incident fixture's truth rows for the sender's own mail.
fn truth_rows() -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(incident("truth.csv")).expect("truth.csv");
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("truth record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|r| r["is_notification"] == "false")
        .collect()
}

fn truth_summary() -> Value {
    let text = std::fs::read_to_string(incident("truth.summary.json")).expect("truth summary");
    serde_json::from_str(&text).expect("truth summary JSON")
}

const UNDELIVERED: [&str; 6] = [
    "bounced",
    "expired",
    "pending",
    "frozen",
    "removed",
    "discarded",
];

/// `(outcome, category) → count` from a list of JSON cells.
fn cells(list: &Value) -> BTreeMap<(String, String), u64> {
    list.as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                (
                    c["outcome"].as_str().unwrap().to_string(),
                    c["category"].as_str().unwrap_or("").to_string(),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn incident_summary(extra: &[&str]) -> Value {
    let log = incident("mainlog");
    let mut args = vec![
        "summary", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--format", "json",
    ];
    args.extend_from_slice(extra);
    args.push(&log);
    json_of(&args)
}

#[test]
fn summary_counts_the_blocklisting_as_the_truth_does() {
    // Every blocklisted failure of the sender's own mail (SMTP-time
    // refusals of listed clients aside) happened in the incident window.
    let truth: Vec<_> = truth_rows()
        .into_iter()
        .filter(|r| r["category"] == "blocklisted" && r["outcome"] != "rejected")
        .collect();
    assert!(
        truth
            .iter()
            .all(|r| r["first_failure_at"].as_str() >= SINCE_RFC
                && r["first_failure_at"].as_str() < UNTIL_RFC)
    );
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in &truth {
        *expected.entry(r["outcome"].clone()).or_insert(0) += 1;
    }
    assert_eq!(expected.values().sum::<u64>(), 27);

    let report = incident_summary(&[]);
    let counts = cells(&report["by_outcome_category"]);
    let actual: BTreeMap<String, u64> = counts
        .iter()
        .filter(|((_, category), _)| category == "blocklisted")
        .map(|((outcome, _), n)| (outcome.clone(), *n))
        .collect();
    assert_eq!(actual, expected);

    // The Outlook-hosted domains bounced with 550 5.7.1: the receiver is
    // Microsoft, the list Spamhaus, the listed IP the server's.
    let bounced_blocklisted = expected["bounced"];
    let receiver = &report["by"]["receiver"];
    let microsoft = receiver
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "microsoft")
        .expect("microsoft receiver");
    assert_eq!(
        cells(&microsoft["counts"])[&("bounced".to_string(), "blocklisted".to_string())],
        bounced_blocklisted
    );
    let listed = report["by"]["listed_ip"].as_array().unwrap();
    assert_eq!(listed[0]["key"], "203.0.113.25");
    let listed_blocklisted: u64 = cells(&listed[0]["counts"])
        .iter()
        .filter(|((_, c), _)| c == "blocklisted")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(listed_blocklisted, 27);
    let spamhaus = report["by"]["blocklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "Spamhaus")
        .expect("Spamhaus listed");
    assert_eq!(spamhaus["undelivered"], bounced_blocklisted);

    // Everyday failures are not blamed on the incident: blocklisting is
    // all excess, recipient_unknown is about what the baseline predicts.
    let categories = report["categories_against_baseline"].as_array().unwrap();
    let blocklisted = categories
        .iter()
        .find(|c| c["category"] == "blocklisted")
        .unwrap();
    assert_eq!(blocklisted["baseline"], 0);
    assert_eq!(
        blocklisted["excess"].as_f64(),
        blocklisted["window"].as_f64()
    );
    let unknown = categories
        .iter()
        .find(|c| c["category"] == "recipient_unknown")
        .unwrap();
    assert!(unknown["excess"].as_f64().unwrap().abs() < 1.0);
}

#[test]
fn failure_rate_by_reception_matches_the_truth() {
    // By reception, the truth has every row's reception time: compute the
    // window's and the default baseline's rates from it.
    let truth = truth_rows();
    let rate = |since: &str, until: &str| {
        let attempted: Vec<_> = truth
            .iter()
            .filter(|r| r["outcome"] != "rejected")
            .filter(|r| r["received_at"].as_str() >= since && r["received_at"].as_str() < until)
            .collect();
        let undelivered: Vec<_> = attempted
            .iter()
            .filter(|r| UNDELIVERED.contains(&r["outcome"].as_str()))
            .collect();
        let messages: BTreeSet<&str> = undelivered.iter().map(|r| r["queue_id"].as_str()).collect();
        (
            attempted.len() as u64,
            undelivered.len() as u64,
            messages.len() as u64,
        )
    };
    let (attempted, undelivered, messages) = rate(SINCE_RFC, UNTIL_RFC);
    // The baseline is the 19 hours before the window.
    let (base_attempted, base_undelivered, _) = rate("2024-10-18T23:00:00Z", SINCE_RFC);

    let report = incident_summary(&["--by", "received"]);
    let window = &report["failure_rate"]["window"];
    let baseline = &report["failure_rate"]["baseline"];
    assert_eq!(window["attempted"], attempted);
    assert_eq!(window["undelivered"], undelivered);
    assert_eq!(baseline["attempted"], base_attempted);
    assert_eq!(baseline["undelivered"], base_undelivered);
    assert_eq!(baseline["since"], "2024-10-18T23:00:00+00:00");
    assert_eq!(baseline["until"], "2024-10-19T18:00:00+00:00");
    let expected = base_undelivered as f64 / base_attempted as f64 * attempted as f64;
    let reported = report["failure_rate"]["expected_undelivered"]
        .as_f64()
        .unwrap();
    assert!((reported - expected).abs() < 1e-9);
    assert_eq!(report["affected"]["undelivered_recipients"], undelivered);
    assert_eq!(report["affected"]["undelivered_messages"], messages);

    // An explicit baseline replaces the default one.
    let report = incident_summary(&[
        "--by",
        "received",
        "--baseline-since",
        "2024-10-19 06:00",
        "--baseline-until",
        "2024-10-19 12:00",
    ]);
    let (base_attempted, base_undelivered, _) =
        rate("2024-10-19T06:00:00Z", "2024-10-19T12:00:00Z");
    let baseline = &report["failure_rate"]["baseline"];
    assert_eq!(baseline["attempted"], base_attempted);
    assert_eq!(baseline["undelivered"], base_undelivered);
}

#[test]
fn a_category_filter_narrows_the_failures_not_the_recipients_attempted() {
    let all = incident_summary(&[]);
    let blocklisted = incident_summary(&["--category", "blocklisted"]);
    let attempted = &all["failure_rate"]["window"]["attempted"];
    assert!(attempted.as_u64().unwrap() > 100);
    assert_eq!(
        &blocklisted["failure_rate"]["window"]["attempted"],
        attempted
    );
    // Bounced 17 + expired 1 + pending 1 blocklisted recipients.
    assert_eq!(blocklisted["failure_rate"]["window"]["undelivered"], 19);
    let counts = cells(&blocklisted["by_outcome_category"]);
    assert!(counts.keys().all(|(_, c)| c == "blocklisted"));
    assert!(
        all["failure_rate"]["window"]["undelivered"]
            .as_u64()
            .unwrap()
            > blocklisted["failure_rate"]["window"]["undelivered"]
                .as_u64()
                .unwrap()
    );
}

#[test]
fn summary_csv_is_long_form_and_agrees_with_json() {
    let log = incident("mainlog");
    let text = stdout_of(&[
        "summary", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--format", "csv", &log,
    ]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["dimension", "key", "outcome", "category", "count"]
    );
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut window_keys = BTreeSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        *totals.entry(record[0].to_string()).or_insert(0) += record[4].parse::<u64>().unwrap();
        if &record[0] == "window" {
            window_keys.insert(record[1].to_string());
        }
    }
    assert_eq!(
        window_keys.into_iter().collect::<Vec<_>>(),
        ["2024-10-19T18:00:00+00:00/2024-10-20T13:00:00+00:00"]
    );
    let json = incident_summary(&[]);
    let json_total: u64 = cells(&json["by_outcome_category"]).values().sum();
    assert_eq!(totals["window"], json_total);
    // A window with nothing in it still has the header.
    let empty = stdout_of(&[
        "summary",
        "--log-tz",
        "UTC",
        "--since",
        "2030-01-01",
        "--format",
        "csv",
        &log,
    ]);
    assert_eq!(empty, "dimension,key,outcome,category,count\n");
    // Every recipient has a domain and a sender domain.
    assert_eq!(totals["recipient_domain"], json_total);
    assert_eq!(totals["sender_domain"], json_total);
    assert!(totals["baseline"] > 0);
    for dimension in ["receiver", "blocklist", "listed_ip"] {
        assert!(totals[dimension] > 0, "{dimension}");
    }
}

#[test]
fn summary_table_names_the_rates_and_sections() {
    let log = incident("mainlog");
    let text = stdout_of(&[
        "summary", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--format", "table", &log,
    ]);
    let json = incident_summary(&[]);
    let window = &json["failure_rate"]["window"];
    let line = format!(
        "({} of {} attempted)",
        window["undelivered"], window["attempted"]
    );
    assert!(text.contains(&line), "{text}");
    for section in [
        "Baseline 2024-10-18T23:00:00+00:00/2024-10-19T18:00:00+00:00",
        "By outcome and category",
        "Undelivered by category against the baseline",
        "By recipient domain",
        "By receiver",
        "By blocklist",
        "By listed IP",
        "By sender domain",
    ] {
        assert!(text.contains(section), "missing {section}:\n{text}");
    }
}

#[test]
fn summary_of_postfix_outcomes_counts_every_outcome() {
    let log = fixtures()
        .join("postfix/outcomes.log")
        .display()
        .to_string();
    let expected_csv = fixtures().join("postfix/outcomes.expected.csv");
    let mut reader = csv::Reader::from_path(expected_csv).unwrap();
    let headers = reader.headers().unwrap().clone();
    let outcome = headers.iter().position(|h| h == "outcome").unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for record in reader.records() {
        *expected
            .entry(record.unwrap()[outcome].to_string())
            .or_insert(0) += 1;
    }
    let report = json_of(&[
        "summary",
        "--log-tz",
        "UTC",
        "--include-notifications",
        "--format",
        "json",
        &log,
    ]);
    let mut actual: BTreeMap<String, u64> = BTreeMap::new();
    for ((o, _), n) in cells(&report["by_outcome_category"]) {
        *actual.entry(o).or_insert(0) += n;
    }
    assert_eq!(actual, expected);
    // No window, so no baseline; every row but the rejections attempted.
    assert!(report["failure_rate"]["baseline"].is_null());
    let rows: u64 = expected.values().sum();
    assert_eq!(
        report["failure_rate"]["window"]["attempted"],
        rows - expected["rejected"]
    );
    let undelivered: u64 = UNDELIVERED.iter().filter_map(|o| expected.get(*o)).sum();
    assert_eq!(report["failure_rate"]["window"]["undelivered"], undelivered);
    assert_eq!(report["affected"]["rejections"], expected["rejected"]);
}

fn incident_timeline(extra: &[&str]) -> Value {
    let log = incident("mainlog");
    let mut args = vec![
        "timeline", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--format", "json",
    ];
    args.extend_from_slice(extra);
    args.push(&log);
    json_of(&args)
}

#[test]
fn timeline_first_and_last_blocklisted_failure_match_the_truth() {
    let truth = truth_summary();
    let report = incident_timeline(&[]);
    let span = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "blocklisted")
        .expect("blocklisted span");
    let utc = |v: &Value| v.as_str().unwrap().replace("+00:00", "Z");
    assert_eq!(
        utc(&span["first_failure_at"]),
        truth["first_blocklisted_failure_at"]
    );
    assert_eq!(
        utc(&span["last_failure_at"]),
        truth["last_blocklisted_failure_at"]
    );
    assert_eq!(span["recipients"], 27);
    // The last failure caused by the incident at all (a reputation
    // deferral) is the latest of any incident category.
    let last_incident = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["category"] == "blocklisted" || c["category"] == "reputation")
        .map(|c| utc(&c["last_failure_at"]))
        .max()
        .unwrap();
    assert_eq!(last_incident, truth["last_incident_failure_at"]);
}

#[test]
fn timeline_buckets_cover_the_window_and_add_up_to_the_summary() {
    let report = incident_timeline(&[]);
    let buckets = report["buckets"].as_array().unwrap();
    // 18:00 to 12:00 the next day: 19 hourly buckets, none missing.
    assert_eq!(buckets.len(), 19);
    assert_eq!(buckets[0]["start"], "2024-10-19T18:00:00+00:00");
    assert_eq!(buckets[18]["start"], "2024-10-20T12:00:00+00:00");
    assert_eq!(report["bucket"], "1h");
    let total: u64 = buckets
        .iter()
        .map(|b| b["recipients"].as_u64().unwrap())
        .sum();
    let summary = incident_summary(&[]);
    let summary_total: u64 = cells(&summary["by_outcome_category"]).values().sum();
    assert_eq!(total, summary_total);
    let blocklisted: u64 = buckets
        .iter()
        .flat_map(|b| cells(&b["counts"]))
        .filter(|((_, c), _)| c == "blocklisted")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(blocklisted, 27);
    // Nothing blocklisted before the onset bucket.
    assert_eq!(report["unplaced"], 0);
}

#[test]
fn timeline_csv_and_alignment_in_the_report_zone() {
    let log = incident("mainlog");
    let text = stdout_of(&[
        "timeline", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--bucket", "15m",
        "--format", "csv", &log,
    ]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["bucket_start", "category", "outcome", "count"]
    );
    let mut blocklisted = 0;
    let mut first = None;
    for record in reader.records() {
        let record = record.unwrap();
        let minute = &record[0][14..16];
        assert!(["00", "15", "30", "45"].contains(&minute), "{}", &record[0]);
        if &record[1] == "blocklisted" {
            blocklisted += record[3].parse::<u64>().unwrap();
            first.get_or_insert(record[0].to_string());
        }
    }
    assert_eq!(blocklisted, 27);
    // The first blocklisted failure, 18:06:22, is in the 18:00 bucket.
    assert_eq!(first.as_deref(), Some("2024-10-19T18:00:00+00:00"));

    // Hour buckets in a +05:30 zone start on the local hour; day buckets
    // in New York at local midnight.
    let report = incident_timeline(&["--tz", "Asia/Kolkata"]);
    for bucket in report["buckets"].as_array().unwrap() {
        let start = bucket["start"].as_str().unwrap();
        assert!(start.ends_with(":00:00+05:30"), "{start}");
    }
    let report = incident_timeline(&["--tz", "America/New_York", "--bucket", "1d"]);
    let starts: Vec<&str> = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2024-10-19T00:00:00-04:00", "2024-10-20T00:00:00-04:00"]
    );
}

#[test]
fn timeline_table_draws_bars_within_the_terminal_width() {
    let log = incident("mainlog");
    let output = Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args([
            "timeline", "--log-tz", "UTC", "--since", SINCE, "--until", UNTIL, "--format", "table",
            &log,
        ])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let bucket_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("2024-")).collect();
    assert_eq!(bucket_lines.len(), 19);
    assert!(bucket_lines.iter().any(|l| l.contains('█')));
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    assert!(text.contains("First and last failure per category"));
    assert!(text.contains("2024-10-19 18:06:22+00:00"));
}

#[test]
fn explain_bare_codes_with_the_registry() {
    let json = json_of(&["explain", "--format", "json", "550", "5.7.1"]);
    assert_eq!(json["smtp_code"], 550);
    assert_eq!(json["enhanced_code"], "5.7.1");
    assert_eq!(
        json["enhanced_code_meaning"]["title"],
        "Delivery not authorized, message refused"
    );
    assert_eq!(json["enhanced_class_meaning"]["title"], "Permanent Failure");
    assert!(
        json["smtp_code_meaning"]
            .as_str()
            .unwrap()
            .contains("mailbox unavailable")
    );
    assert_eq!(json["category"], "policy_rejected");
    assert_eq!(json["permanent"], true);
    for key in [
        "rule",
        "blocklist",
        "listed_ip",
        "delisting_url",
        "provider",
        "provider_code",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // A bare enhanced code; the exact code is unregistered, its subject is.
    let json = json_of(&["explain", "--format", "json", "4.7.650"]);
    assert!(json["smtp_code"].is_null());
    assert_eq!(json["enhanced_code_meaning"]["code"], "X.7.XXX");
    let text = stdout_of(&["explain", "550"]);
    assert!(
        text.contains("reply code:    550  Requested action not taken"),
        "{text}"
    );
}

#[test]
fn explain_a_failure_text_with_provider_rules() {
    let text = "550 5.7.1 Service unavailable, Client host [192.0.2.36] blocked using Spamhaus. \
                To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.36 AS(1440)";
    let json = json_of(&[
        "explain",
        "--format",
        "json",
        "--remote-host",
        "example-com.mail.protection.outlook.com",
        text,
    ]);
    assert_eq!(json["category"], "blocklisted");
    assert_eq!(json["blocklist"], "Spamhaus");
    assert_eq!(json["listed_ip"], "192.0.2.36");
    assert_eq!(json["provider"], "microsoft");
    assert_eq!(json["provider_code"], "AS1440");
    assert_eq!(
        json["delisting_url"],
        "https://www.spamhaus.org/query/ip/192.0.2.36"
    );
    // The stage decides permanence.
    let deferral = json_of(&[
        "explain",
        "--format",
        "json",
        "--stage",
        "deferral",
        "451 4.7.1 Greylisted, try again later",
    ]);
    assert_eq!(deferral["category"], "greylisted");
    assert_eq!(deferral["permanent"], false);
    assert_eq!(deferral["stage"], "deferral");
}

#[test]
fn explain_reads_one_text_per_line_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args(["explain", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"550 5.1.1 <bob@example.net>: User unknown\n\n552 5.2.2 Mailbox full\n5.7.1\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one object per line"))
        .collect();
    let categories: Vec<&str> = lines
        .iter()
        .map(|l| l["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        categories,
        ["recipient_unknown", "mailbox_full", "policy_rejected"]
    );
    assert_eq!(lines[1]["enhanced_code"], "5.2.2");
}

#[test]
fn explain_categories_lists_what_category_accepts() {
    let text = stdout_of(&["explain", "--categories"]);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names.len(), 19);
    assert_eq!(names[0], "blocklisted");
    assert!(names.contains(&"recipient_unknown"));
    // Every listed name is a valid --category value.
    let log = fixtures().join("exim/outcomes.log").display().to_string();
    let list = names.join(",");
    let output = mailtrail(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "csv",
        "--category",
        &list,
        &log,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn explain_applies_user_rules() {
    let path = std::env::temp_dir().join(format!("mailtrail-rules-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        r#"
[[provider]]
name = "acme"
host_suffixes = ["mx.acme.example"]

[[rule]]
id = "acme.quarantine"
category = "content_rejected"
provider = "acme"
smtp_code = "55"
text = ['quarantined by acme']
note = "Acme's gateway quarantines and bounces."
"#,
    )
    .unwrap();
    let rules = path.display().to_string();
    let text = "550 5.7.1 Message quarantined by ACME gateway";
    let with = json_of(&[
        "explain",
        "--format",
        "json",
        "--rules",
        &rules,
        "--remote-host",
        "in1.mx.acme.example",
        text,
    ]);
    let without = json_of(&[
        "explain",
        "--format",
        "json",
        "--remote-host",
        "in1.mx.acme.example",
        text,
    ]);
    // Another host: the provider condition does not hold.
    let elsewhere = json_of(&[
        "explain",
        "--format",
        "json",
        "--rules",
        &rules,
        "--remote-host",
        "mx.example.net",
        text,
    ]);
    std::fs::write(
        &path,
        "[[rule]]\nid = \"x\"\ncategory = \"no_such_category\"\n",
    )
    .unwrap();
    let broken = bad_argument(&["explain", "--rules", &rules, "550"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(with["rule"], "acme.quarantine");
    assert_eq!(with["category"], "content_rejected");
    assert_eq!(with["provider"], "acme");
    assert_ne!(without["rule"], "acme.quarantine");
    assert_ne!(elsewhere["rule"], "acme.quarantine");
    assert!(broken.starts_with("mailtrail: "), "{broken}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    let log = incident("mainlog");
    let line = bad_argument(&["timeline", "--bucket", "0h", &log]);
    assert!(line.contains("--bucket"), "{line}");
    let line = bad_argument(&["timeline", "--bucket", "1s", "--log-tz", "UTC", &log]);
    assert!(
        line.starts_with("mailtrail: --bucket 1s:") && line.contains("buckets"),
        "{line}"
    );
    let line = bad_argument(&[
        "summary",
        "--log-tz",
        "UTC",
        "--baseline-until",
        "2024-10-19",
        &log,
    ]);
    assert!(
        line.starts_with("mailtrail: --baseline-until needs"),
        "{line}"
    );
    let line = bad_argument(&[
        "summary",
        "--log-tz",
        "UTC",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--baseline-since",
        "2024-10-20 00:00",
        &log,
    ]);
    assert!(line.contains("baseline window is empty"), "{line}");
    let line = bad_argument(&["explain", "--stage", "sideways", "550"]);
    assert!(line.contains("sideways"), "{line}");
    let line = bad_argument(&["explain"]);
    assert!(line.contains("required arguments"), "{line}");
}

#[test]
fn the_readme_site_rule_works_as_documented() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README");
    let start = readme
        .find("# site-rules.toml")
        .expect("site rules example in README");
    let end = start + readme[start..].find("```").expect("end of the example");
    let path = std::env::temp_dir().join(format!(
        "mailtrail-readme-rules-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, &readme[start..end]).unwrap();
    let rules = path.display().to_string();
    let json = json_of(&[
        "explain",
        "--format",
        "json",
        "--rules",
        &rules,
        "--stage",
        "deferral",
        "--remote-host",
        "example-fabrikam-test.mail.protection.outlook.com",
        "451 4.7.500 Server busy. Please try again later from [203.0.113.25]. (S77714)",
    ]);
    // The README's numbers: rate-limited recipients without and with it.
    let count = |extra: &[&str]| {
        let log = incident("mainlog");
        let mut args = vec![
            "undelivered",
            "--log-tz",
            "UTC",
            "--outcome",
            "all",
            "--category",
            "rate_limited",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        args.push(&log);
        stdout_of(&args).lines().count() - 1
    };
    let without = count(&[]);
    let with = count(&["--rules", &rules]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(json["rule"], "site.outlook_server_busy");
    assert_eq!(json["category"], "rate_limited");
    let flowing = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flowing.contains(&format!(
            "lists {without} recipients with the built-in rules and {with} with this file"
        )),
        "README numbers are stale: {without} without, {with} with the rules"
    );
}
