//! End-to-end tests of `mailtrail undelivered` on the bundled fixtures:
//! every fixture's report must match its expected outcomes, whatever the
//! thread count, chunk size, file order or compression.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{fixtures, mailtrail, stdout_of};

/// (queue_id, recipient, outcome) rows of a CSV with those columns.
fn outcome_set(csv_text: &str) -> BTreeSet<(String, String, String)> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (q, r, o) = (column("queue_id"), column("recipient"), column("outcome"));
    reader
        .records()
        .map(|record| {
            let record = record.expect("csv record");
            (
                record[q].to_string(),
                record[r].to_lowercase(),
                record[o].to_string(),
            )
        })
        .collect()
}

fn expected(path: &Path) -> BTreeSet<(String, String, String)> {
    outcome_set(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

fn report(zone: &str, files: &[PathBuf], extra: &[&str]) -> BTreeSet<(String, String, String)> {
    let mut args = vec![
        "undelivered",
        "--log-tz",
        zone,
        "--outcome",
        "all",
        "--include-notifications",
        "--format",
        "csv",
    ];
    args.extend_from_slice(extra);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    outcome_set(&stdout_of(&args))
}

fn assert_same(
    actual: &BTreeSet<(String, String, String)>,
    expected: &BTreeSet<(String, String, String)>,
) {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from report: {missing:#?}\nnot expected: {extra:#?}"
    );
}

fn exim(name: &str) -> PathBuf {
    fixtures().join("exim").join(name)
}

#[test]
fn outcomes_fixture_matches_expected() {
    let actual = report("UTC", &[exim("outcomes.log")], &[]);
    assert_same(&actual, &expected(&exim("outcomes.expected.csv")));
}

#[test]
fn variants_fixture_matches_expected() {
    let actual = report("UTC", &[exim("variants.log")], &[]);
    assert_same(&actual, &expected(&exim("variants.expected.csv")));
}

#[test]
fn syslog_fixture_matches_expected() {
    let actual = report("UTC", &[exim("syslog.log")], &["--year", "2024"]);
    assert_same(&actual, &expected(&exim("syslog.expected.csv")));
}

#[test]
fn dst_fold_fixture_matches_expected_including_times() {
    let files = [exim("dst-fold.log")];
    let actual = report("Europe/Berlin", &files, &[]);
    assert_same(&actual, &expected(&exim("dst-fold.expected.csv")));
    // Times: every failure and attempt time in the report equals the
    // expected UTC time where the expected file gives one.
    let text = stdout_of(&[
        "undelivered",
        "--log-tz",
        "Europe/Berlin",
        "--tz",
        "UTC",
        "--outcome",
        "all",
        "--format",
        "csv",
        &files[0].display().to_string(),
    ]);
    let rows = times_by_key(&text);
    let wanted = times_by_key(&std::fs::read_to_string(exim("dst-fold.expected.csv")).unwrap());
    for (key, (first, last)) in wanted {
        let Some((got_first, got_last)) = rows.get(&key) else {
            continue;
        };
        if !first.is_empty() {
            assert_eq!(
                &normalise(&first),
                &normalise(got_first),
                "first_failure_at of {key:?}"
            );
        }
        if !last.is_empty() {
            assert_eq!(
                &normalise(&last),
                &normalise(got_last),
                "last_attempt_at of {key:?}"
            );
        }
    }
}

/// RFC 3339 times compared as instants.
fn normalise(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.to_utc().to_rfc3339())
        .unwrap_or_else(|_| t.to_string())
}

fn times_by_key(csv_text: &str) -> std::collections::BTreeMap<(String, String), (String, String)> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (q, r, f, l) = (
        column("queue_id"),
        column("recipient"),
        column("first_failure_at"),
        column("last_attempt_at"),
    );
    reader
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                (rec[q].to_string(), rec[r].to_lowercase()),
                (rec[f].to_string(), rec[l].to_string()),
            )
        })
        .collect()
}

#[test]
fn rotated_files_correlate_in_any_order() {
    let older = exim("rotated/mainlog.1");
    let newer = exim("rotated/mainlog");
    let wanted = expected(&exim("rotated.expected.csv"));
    assert_same(
        &report("UTC", &[older.clone(), newer.clone()], &[]),
        &wanted,
    );
    assert_same(&report("UTC", &[newer, older], &[]), &wanted);
}

#[test]
fn incident_fixture_matches_generator_truth() {
    let actual = report("UTC", &[exim("incident/mainlog")], &[]);
    assert_same(&actual, &expected(&exim("incident/truth.csv")));
}

#[test]
fn threads_and_tiny_chunks_give_identical_reports() {
    for fixture in ["incident/mainlog", "outcomes.log", "dst-fold.log"] {
        let file = exim(fixture).display().to_string();
        let base = [
            "undelivered",
            "--log-tz",
            "Europe/Berlin",
            "--outcome",
            "all",
            "--format",
            "csv",
        ];
        let one = stdout_of(&[&base[..], &["--threads", "1", &file]].concat());
        for chunk in ["1", "97", "4096"] {
            let many =
                stdout_of(&[&base[..], &["--threads", "4", "--chunk-size", chunk, &file]].concat());
            assert_eq!(one, many, "{fixture} with chunk size {chunk}");
        }
    }
}

#[test]
fn gzip_and_stdin_give_the_same_report_as_the_plain_file() {
    let plain = exim("incident/mainlog");
    let data = std::fs::read(&plain).unwrap();
    let dir = std::env::temp_dir().join(format!("mailtrail-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Named without .gz on purpose: gzip is recognised by content.
    let gz = dir.join("mainlog-compressed");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&data).unwrap();
    encoder.finish().unwrap();
    let args = [
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--format",
        "csv",
    ];
    let from_plain = stdout_of(&[&args[..], &[&plain.display().to_string()]].concat());
    let from_gz = stdout_of(&[&args[..], &[&gz.display().to_string()]].concat());
    assert_eq!(from_plain, from_gz);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args([&args[..], &["-"]].concat())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(from_plain, String::from_utf8(output.stdout).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_file_is_named_other_files_still_reported_exit_2() {
    let good = exim("outcomes.log").display().to_string();
    let output = mailtrail(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "csv",
        "no/such/mainlog",
        &good,
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open no/such/mainlog"), "{stderr}");
    assert!(
        !output.stdout.is_empty(),
        "the readable file is still reported"
    );
}

#[test]
fn truncated_gzip_is_reported_with_what_was_read() {
    let data = std::fs::read(exim("incident/mainlog")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&data).unwrap();
    let mut gz = encoder.finish().unwrap();
    gz.truncate(gz.len() / 2);
    let path = std::env::temp_dir().join(format!("mailtrail-truncated-{}.gz", std::process::id()));
    std::fs::write(&path, &gz).unwrap();
    let output = mailtrail(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "csv",
        &path.display().to_string(),
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt or truncated gzip"), "{stderr}");
}

#[test]
fn bad_arguments_give_one_line_and_exit_2() {
    let file = exim("outcomes.log").display().to_string();
    for (args, needle) in [
        (vec!["--since", "yesterday"], "--since"),
        (vec!["--log-tz", "Mars/Olympus"], "unknown time zone"),
        (vec!["--outcome", "lost"], "unknown outcome"),
        (
            vec!["--since", "2024-10-20", "--until", "2024-10-19"],
            "before",
        ),
        (vec!["--threads", "0"], "--threads"),
    ] {
        let output = mailtrail(&[&["undelivered"], &args[..], &[file.as_str()]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn csv_header_is_the_documented_schema() {
    let text = stdout_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "csv",
        &exim("outcomes.log").display().to_string(),
    ]);
    assert_eq!(
        text.lines().next().unwrap(),
        "received_at,host,queue_id,message_id,sender,recipient,outcome,category,smtp_code,enhanced_code,blocklist,listed_ip,remote_host,remote_ip,first_failure_at,last_attempt_at,attempts,reason,subject,ticket"
    );
}

#[test]
fn ndjson_starts_with_metadata_then_rows() {
    let text = stdout_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "ndjson",
        &exim("outcomes.log").display().to_string(),
    ]);
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["metadata"]["log_zone"], "UTC");
    let rows: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(header["metadata"]["rows"], rows.len());
    assert!(rows.iter().all(|r| r["outcome"] != "delivered"));
}

#[test]
fn zstd_xz_and_bzip2_are_recognised_by_content() {
    let plain = exim("outcomes.log");
    let data = std::fs::read(&plain).unwrap();
    let dir = std::env::temp_dir().join(format!("mailtrail-compressed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&data).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&data).unwrap();
    // Two concatenated zstd frames: a multi-frame file is read whole.
    let half = data.len() / 2;
    let mut zst = zstd::encode_all(&data[..half], 3).unwrap();
    zst.extend(zstd::encode_all(&data[half..], 3).unwrap());
    let args = [
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--format",
        "csv",
    ];
    let expected = stdout_of(&[&args[..], &[&plain.display().to_string()]].concat());
    for (name, bytes) in [
        ("a", zst),
        ("b", xz.finish().unwrap()),
        ("c", bz.finish().unwrap()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let got = stdout_of(&[&args[..], &[&path.display().to_string()]].concat());
        assert_eq!(got, expected, "compressed input {name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
