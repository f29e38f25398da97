//! End-to-end tests of ticket extraction, the helpdesk-export join, and the
//! `tickets`, `resend` and `trace` commands, against the incident fixture
//! (`fixtures/exim/incident/mainlog`), its generator truth (`truth.csv`)
//! and the helpdesk export (`helpdesk-export.csv`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{json_of, mailtrail, stdout_of};

fn incident(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/exim/incident")
        .join(name)
}

fn mainlog() -> String {
    incident("mainlog").display().to_string()
}

fn export() -> String {
    incident("helpdesk-export.csv").display().to_string()
}

/// One row of the generator truth.
#[derive(Clone, Debug)]
struct Truth {
    queue_id: String,
    recipient: String,
    outcome: String,
    category: String,
    notification: bool,
    received_at: String,
    first_failure_at: String,
    last_attempt_at: String,
    /// The `[#…]` id in the subject, read here independently of mailtrail.
    ticket: Option<String>,
}

fn truth() -> Vec<Truth> {
    let mut reader = csv::Reader::from_path(incident("truth.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (q, r, o, c, n, rec, ff, la, s) = (
        col("queue_id"),
        col("recipient"),
        col("outcome"),
        col("category"),
        col("is_notification"),
        col("received_at"),
        col("first_failure_at"),
        col("last_attempt_at"),
        col("subject"),
    );
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let subject = &record[s];
            let ticket = subject.find("[#").and_then(|start| {
                let rest = &subject[start + 2..];
                rest.find(']').map(|end| rest[..end].to_string())
            });
            Truth {
                queue_id: record[q].to_string(),
                recipient: record[r].to_lowercase(),
                outcome: record[o].to_string(),
                category: record[c].to_string(),
                notification: &record[n] == "true",
                received_at: record[rec].to_string(),
                first_failure_at: record[ff].to_string(),
                last_attempt_at: record[la].to_string(),
                ticket,
            }
        })
        .collect()
}

const FAILED: [&str; 6] = [
    "bounced",
    "expired",
    "pending",
    "frozen",
    "removed",
    "discarded",
];

fn failed(t: &Truth) -> bool {
    FAILED.contains(&t.outcome.as_str()) && !t.notification
}

/// (queue_id, recipient) → ticket of a CSV report.
fn tickets_of_csv(text: &str) -> BTreeMap<(String, String), String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (q, r, t) = (col("queue_id"), col("recipient"), col("ticket"));
    reader
        .records()
        .map(|record| record.unwrap())
        .filter(|record| !record[t].is_empty())
        .map(|record| {
            (
                (record[q].to_string(), record[r].to_lowercase()),
                record[t].to_string(),
            )
        })
        .collect()
}

#[test]
fn preset_fills_the_ticket_column_exactly_where_the_subject_has_one() {
    let report = stdout_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--include-notifications",
        "--ticket-preset",
        "hash-bracket",
        "--format",
        "csv",
        &mainlog(),
    ]);
    let actual = tickets_of_csv(&report);
    let expected: BTreeMap<(String, String), String> = truth()
        .into_iter()
        .filter_map(|t| Some(((t.queue_id, t.recipient), t.ticket?)))
        .collect();
    assert_eq!(expected.len(), 71);
    assert_eq!(actual, expected);
}

#[test]
fn ticket_pattern_on_the_message_id_finds_the_same_tickets() {
    // The helpdesk's Message-IDs are ticket-2410-0092.<epoch>@…: a user
    // pattern finds the ticket there for its outgoing mail.
    let report = stdout_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--sender",
        "helpdesk@example.com",
        "--ticket-pattern",
        r"^ticket-(?P<ticket>\d{4}-\d{4})\.",
        "--format",
        "csv",
        &mainlog(),
    ]);
    let actual = tickets_of_csv(&report);
    assert_eq!(actual.len(), 38);
    let truth: BTreeMap<(String, String), Option<String>> = truth()
        .into_iter()
        .map(|t| ((t.queue_id, t.recipient), t.ticket))
        .collect();
    for (key, ticket) in &actual {
        assert_eq!(truth[key].as_ref(), Some(ticket), "{key:?}");
    }
}

fn joined() -> Value {
    json_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--tickets",
        &export(),
        "--format",
        "json",
        &mainlog(),
    ])
}

fn row_ticket<'a>(doc: &'a Value, queue_id: &str) -> Option<&'a str> {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["queue_id"] == queue_id)
        .unwrap_or_else(|| panic!("no row {queue_id}"))["ticket"]
        .as_str()
}

#[test]
fn export_join_quality_is_reported() {
    let doc = joined();
    let export = &doc["metadata"]["tickets"]["export"];
    assert_eq!(export["rows"], 26);
    assert_eq!(export["matched_message_id"], 10);
    assert_eq!(export["matched_recipient_time"], 11);
    assert_eq!(export["ambiguous"], 2);
    assert_eq!(export["ambiguous_lines"], serde_json::json!([23, 24]));
    assert_eq!(export["unmatched"], 3);
    // 2410-0093 lost to 2410-0092 on the subject; 2410-0311's Message-ID is
    // not in the log; 2410-0999 was sent after the log ends.
    assert_eq!(export["unmatched_lines"], serde_json::json!([12, 20, 27]));
    assert_eq!(export["columns"]["ticket"], "Ticket");
    assert_eq!(export["columns"]["sent_at"], "Created at");
    assert_eq!(export["columns"]["subject"], "Title");
    assert_eq!(export["tolerance_seconds"], 300);
    let rows = &doc["metadata"]["tickets"]["report_rows"];
    assert_eq!(rows["by_message_id"], 10);
    assert_eq!(rows["by_recipient_time"], 11);
    assert_eq!(rows["by_pattern"], 0);
    assert_eq!(rows["ambiguous"], 1);
}

#[test]
fn every_joined_ticket_agrees_with_the_subject_and_ambiguity_gives_none() {
    let doc = joined();
    let truth: BTreeMap<String, Option<String>> = truth()
        .into_iter()
        .filter(|t| !t.notification)
        .map(|t| (t.queue_id, t.ticket))
        .collect();
    let mut joined = 0;
    for row in doc["rows"].as_array().unwrap() {
        if let Some(ticket) = row["ticket"].as_str() {
            let queue_id = row["queue_id"].as_str().unwrap();
            assert_eq!(truth[queue_id].as_deref(), Some(ticket), "{queue_id}");
            joined += 1;
        }
    }
    assert_eq!(joined, 21);
    // Time-joined, the title tells the two candidates apart.
    assert_eq!(
        row_ticket(&doc, "1t2Few-00000006BBB-3VkV"),
        Some("2410-0092")
    );
    // Time-joined without a Message-ID in the export.
    assert_eq!(
        row_ticket(&doc, "1t2PN7-00000006Cc0-1tE6"),
        Some("2410-0685")
    );
    assert_eq!(
        row_ticket(&doc, "1t2TKQ-00000006DlW-1Ak5"),
        Some("2410-0466")
    );
    // Two export rows (2410-0562, 2410-0563) seconds apart, same title:
    // no guess.
    assert_eq!(row_ticket(&doc, "1t2URG-00000006E8p-09Cl"), None);
}

#[test]
fn column_names_can_be_given() {
    let text = std::fs::read_to_string(incident("helpdesk-export.csv")).unwrap();
    let renamed = text.replacen(
        "Ticket,Title,Type,To,Created at,Message-ID",
        "Key,Headline,Kind,Customer,Stamp,Mail ref",
        1,
    );
    let path = std::env::temp_dir().join(format!("mailtrail-export-{}.csv", std::process::id()));
    std::fs::write(&path, renamed).unwrap();
    let path_text = path.display().to_string();
    let failing = mailtrail(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--tickets",
        &path_text,
        &mainlog(),
    ]);
    assert_eq!(failing.status.code(), Some(2));
    let doc = json_of(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--outcome",
        "all",
        "--tickets",
        &path_text,
        "--tickets-columns",
        "ticket=Key,subject=Headline,recipient=Customer,sent_at=Stamp,message_id=Mail ref",
        "--format",
        "json",
        &mainlog(),
    ]);
    std::fs::remove_file(&path).ok();
    let export = &doc["metadata"]["tickets"]["export"];
    assert_eq!(export["matched_message_id"], 10);
    assert_eq!(export["matched_recipient_time"], 11);
    assert_eq!(export["ambiguous"], 2);
    assert_eq!(export["columns"]["recipient"], "Customer");
}

/// (ticket, recipient) pairs that failed, and whether a later message for
/// the ticket reached the recipient, from the truth.
fn truth_ticket_pairs(window: Option<(&str, &str)>) -> BTreeMap<(String, String), bool> {
    let rows = truth();
    let in_window = |t: &Truth| match window {
        None => true,
        Some((since, until)) => [&t.first_failure_at, &t.last_attempt_at]
            .iter()
            .any(|x| !x.is_empty() && x.as_str() >= since && x.as_str() < until),
    };
    let mut pairs: BTreeMap<(String, String), String> = BTreeMap::new();
    for t in rows.iter().filter(|t| failed(t) && in_window(t)) {
        if let Some(ticket) = &t.ticket {
            let last = pairs
                .entry((ticket.clone(), t.recipient.clone()))
                .or_default();
            if t.received_at > *last {
                *last = t.received_at.clone();
            }
        }
    }
    pairs
        .into_iter()
        .map(|((ticket, recipient), last)| {
            let later = rows.iter().any(|t| {
                t.ticket.as_ref() == Some(&ticket)
                    && t.recipient == recipient
                    && !t.notification
                    && (t.outcome == "delivered" || t.outcome == "delayed")
                    && t.received_at > last
            });
            ((ticket, recipient), later)
        })
        .collect()
}

#[test]
fn tickets_lists_affected_tickets_and_later_deliveries() {
    let doc = json_of(&[
        "tickets",
        "--log-tz",
        "UTC",
        "--ticket-preset",
        "hash-bracket",
        "--format",
        "json",
        &mainlog(),
    ]);
    let expected = truth_ticket_pairs(None);
    let mut actual: BTreeMap<(String, String), bool> = BTreeMap::new();
    for row in doc["rows"].as_array().unwrap() {
        let ticket = row["ticket"].as_str().unwrap().to_string();
        let lost: Vec<&str> = row["lost_recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for recipient in row["recipients"].as_array().unwrap() {
            let recipient = recipient.as_str().unwrap();
            actual.insert(
                (ticket.clone(), recipient.to_string()),
                !lost.contains(&recipient),
            );
        }
        assert_eq!(
            row["status"],
            if lost.is_empty() { "recovered" } else { "lost" }
        );
    }
    assert_eq!(actual, expected);
    // Ticket 2410-0964: the customer's reply to support@ bounced, a later
    // one got through.
    let t0964 = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ticket"] == "2410-0964")
        .unwrap();
    assert_eq!(t0964["status"], "recovered");
    assert_eq!(
        t0964["later_delivered"][0]["recipient"],
        "support@example.com"
    );
    let t0092 = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ticket"] == "2410-0092")
        .unwrap();
    assert_eq!(t0092["messages"], 2);
    assert_eq!(t0092["outcomes"]["bounced"], 2);
    assert_eq!(t0092["categories"]["blocklisted"], 2);
    assert_eq!(t0092["first_failure_at"], "2024-10-19T20:02:47+00:00");
    assert_eq!(t0092["last_failure_at"], "2024-10-19T22:25:44+00:00");
    assert_eq!(doc["metadata"]["tickets_affected"], 9);
    assert_eq!(doc["metadata"]["tickets_lost"], 8);
}

#[test]
fn tickets_in_the_incident_window() {
    let report = stdout_of(&[
        "tickets",
        "--log-tz",
        "UTC",
        "--since",
        "2024-10-19 18:00",
        "--until",
        "2024-10-20 13:00",
        "--ticket-preset",
        "hash-bracket",
        "--format",
        "csv",
        &mainlog(),
    ]);
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "ticket",
            "status",
            "recipients",
            "lost_recipients",
            "later_delivered",
            "messages",
            "outcomes",
            "categories",
            "first_failure_at",
            "last_failure_at",
            "queue_ids"
        ]
    );
    let actual: BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let expected: BTreeSet<String> =
        truth_ticket_pairs(Some(("2024-10-19T18:00:00Z", "2024-10-20T13:00:00Z")))
            .into_keys()
            .map(|(ticket, _)| ticket)
            .collect();
    assert!(!expected.contains("2410-0964"));
    assert_eq!(actual, expected);
}

#[test]
fn resend_list_is_safe_and_deduplicated() {
    let doc = json_of(&[
        "resend",
        "--log-tz",
        "UTC",
        "--ticket-preset",
        "hash-bracket",
        "--format",
        "json",
        &mainlog(),
    ]);
    let rows = doc["rows"].as_array().unwrap();
    let truth = truth();
    // No line's ticket and recipient ever failed as an unknown or
    // unavailable address, and every line is a real failure.
    let bad = |ticket: Option<&str>, recipient: &str, queue_id: &str| {
        truth.iter().any(|t| {
            t.recipient == recipient
                && match ticket {
                    Some(ticket) => t.ticket.as_deref() == Some(ticket),
                    None => t.queue_id == queue_id,
                }
                && (t.category == "recipient_unknown" || t.category == "mailbox_unavailable")
        })
    };
    for row in rows {
        let recipient = row["recipient"].as_str().unwrap();
        let queue_id = row["queue_id"].as_str().unwrap();
        assert!(!bad(row["ticket"].as_str(), recipient, queue_id), "{row}");
        assert!(
            !["recipient_unknown", "mailbox_unavailable"]
                .contains(&row["category"].as_str().unwrap())
        );
        let t = truth
            .iter()
            .find(|t| t.queue_id == queue_id && t.recipient == recipient)
            .unwrap_or_else(|| panic!("{queue_id} {recipient} not in truth"));
        assert!(failed(t), "{queue_id} {recipient} {}", t.outcome);
    }
    // One line per (ticket, recipient); the ticket lines are exactly the
    // lost pairs of the truth.
    let ticketed: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["ticket"].is_string())
        .map(|r| {
            (
                r["ticket"].as_str().unwrap().to_string(),
                r["recipient"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let unique: BTreeSet<(String, String)> = ticketed.iter().cloned().collect();
    assert_eq!(ticketed.len(), unique.len());
    let lost: BTreeSet<(String, String)> = truth_ticket_pairs(None)
        .into_iter()
        .filter(|(_, later)| !later)
        .map(|(pair, _)| pair)
        .collect();
    assert_eq!(unique, lost);
    let find = |ticket: &str| {
        rows.iter()
            .find(|r| r["ticket"] == ticket)
            .unwrap_or_else(|| panic!("no {ticket}"))
    };
    // Two bounces, one line: the latest message.
    assert_eq!(find("2410-0092")["queue_id"], "1t2HtH-00000006BYF-3SBE");
    assert_eq!(find("2410-0092")["failed_messages"], 2);
    assert_eq!(find("2410-0092")["action"], "resend");
    // Still on the queue: retry it.
    assert_eq!(find("2410-0685")["action"], "retry");
    assert_eq!(
        find("2410-0685")["command"],
        "exim -M 1t2PN7-00000006Cc0-1tE6"
    );
    assert_eq!(doc["metadata"]["excluded"]["later_delivered"], 1);
    assert!(
        doc["metadata"]["excluded"]["recipient_unknown"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Line numbers of the mainlog that mention any of `ids`.
fn lines_mentioning(ids: &[&str]) -> BTreeSet<u64> {
    std::fs::read_to_string(incident("mainlog"))
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, line)| ids.iter().any(|id| line.contains(id)))
        .map(|(n, _)| n as u64 + 1)
        .collect()
}

fn traced_lines(doc: &Value) -> BTreeSet<u64> {
    doc["stories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["lines"].as_array().unwrap().iter())
        .map(|l| l["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn trace_of_a_ticket_follows_its_bounces() {
    let doc = json_of(&[
        "trace",
        "2410-0092",
        "--log-tz",
        "UTC",
        "--ticket-preset",
        "hash-bracket",
        "--format",
        "json",
        &mainlog(),
    ]);
    let stories = doc["stories"].as_array().unwrap();
    let ids: Vec<Vec<(&str, &str)>> = stories
        .iter()
        .map(|s| {
            s["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["queue_id"].as_str().unwrap(),
                        m["relation"].as_str().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        ids,
        [
            vec![("1t27SA-000000069I2-3Xzj", "match")],
            vec![
                ("1t2Few-00000006BBB-3VkV", "match"),
                ("1t2Fey-00000006BC1-05Wx", "notification")
            ],
            vec![
                ("1t2HtH-00000006BYF-3SBE", "match"),
                ("1t2HtI-00000006BYo-2qB9", "notification")
            ],
        ]
    );
    let all: Vec<&str> = ids.iter().flatten().map(|(q, _)| *q).collect();
    assert_eq!(traced_lines(&doc), lines_mentioning(&all));
    let second = &stories[1];
    assert_eq!(second["lines"][0]["line"], 1402);
    assert!(
        second["lines"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("incident/mainlog")
    );
    let outcomes: Vec<(&str, &str)> = second["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["recipient"].as_str().unwrap(),
                o["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("john.smith@example-contoso.test", "bounced"),
            ("helpdesk@example.com", "delivered")
        ]
    );
    assert_eq!(second["outcomes"][0]["category"], "blocklisted");
    assert_eq!(second["outcomes"][0]["ticket"], "2410-0092");
}

#[test]
fn trace_by_message_id_queue_id_and_address() {
    let by_id = json_of(&[
        "trace",
        "<ticket-2410-0092.1729368166@helpdesk.example.com>",
        "--log-tz",
        "UTC",
        "--format",
        "json",
        &mainlog(),
    ]);
    let by_queue = json_of(&[
        "trace",
        "1t2Few-00000006BBB-3VkV",
        "--log-tz",
        "UTC",
        "--format",
        "json",
        &mainlog(),
    ]);
    let expected = lines_mentioning(&["1t2Few-00000006BBB-3VkV", "1t2Fey-00000006BC1-05Wx"]);
    assert_eq!(traced_lines(&by_id), expected);
    assert_eq!(traced_lines(&by_queue), expected);

    // An address: every message to or from it, each with its own story.
    let address = "john.smith@example-contoso.test";
    let doc = json_of(&[
        "trace",
        address,
        "--log-tz",
        "UTC",
        "--format",
        "json",
        &mainlog(),
    ]);
    let traced: BTreeSet<String> = doc["stories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["messages"].as_array().unwrap().iter())
        .filter(|m| m["relation"] == "match")
        .map(|m| m["queue_id"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = truth()
        .into_iter()
        .filter(|t| t.recipient == address && !t.queue_id.is_empty())
        .map(|t| t.queue_id)
        .collect();
    assert_eq!(traced, expected);
}

#[test]
fn trace_table_quotes_file_and_line() {
    let output = mailtrail(&[
        "trace",
        "1t2PN7-00000006Cc0-1tE6",
        "--log-tz",
        "UTC",
        "--format",
        "table",
        &mainlog(),
    ]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let first = lines_mentioning(&["1t2PN7-00000006Cc0-1tE6"])
        .into_iter()
        .next()
        .unwrap();
    assert!(
        text.contains(&format!("incident/mainlog:{first} ")),
        "{text}"
    );
    assert!(text.contains("pending"), "{text}");
    assert!(text.contains("john.smith@example-northwind.test"), "{text}");
}

#[test]
fn trace_follows_hops_across_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/postfix/two-hosts");
    let (relay, mx) = (
        dir.join("relay.log").display().to_string(),
        dir.join("mx.log").display().to_string(),
    );
    let doc = json_of(&[
        "trace",
        "bo@example.com",
        "--log-tz",
        "UTC",
        "--year",
        "2024",
        "--format",
        "json",
        &mx,
        &relay,
    ]);
    let story = &doc["stories"][0];
    let files: BTreeSet<&str> = story["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    // In time order: the relay's reception comes first, whatever the
    // order of the files.
    assert!(
        story["lines"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("relay.log")
    );
    let relations: Vec<&str> = story["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["relation"].as_str().unwrap())
        .collect();
    assert_eq!(relations, ["match", "match", "notification"]);
}

fn error_of(args: &[&str]) -> String {
    let output = mailtrail(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn bad_ticket_arguments_are_one_line_and_exit_2() {
    let log = mainlog();
    let e = error_of(&["undelivered", "--ticket-pattern", "([#", &log]);
    assert!(
        e.starts_with("mailtrail: --ticket-pattern: invalid pattern '([#'"),
        "{e}"
    );
    let e = error_of(&["tickets", "--ticket-preset", "kayako", &log]);
    assert!(e.contains("unknown preset 'kayako'"), "{e}");
    let e = error_of(&["resend", "--tickets", "/nonexistent/export.csv", &log]);
    assert!(e.contains("cannot open /nonexistent/export.csv"), "{e}");
    let e = error_of(&["undelivered", "--tickets", &mainlog(), &log]);
    assert!(e.contains("no ticket column"), "{e}");
    let e = error_of(&["undelivered", "--tickets-columns", "ticket=Key", &log]);
    assert!(e.contains("--tickets-columns needs --tickets"), "{e}");
    let e = error_of(&[
        "undelivered",
        "--tickets",
        &export(),
        "--tickets-columns",
        "ticket",
        &log,
    ]);
    assert!(e.contains("'ticket' is not role=column"), "{e}");
    let e = error_of(&["undelivered", "--join-tolerance", "soon", &log]);
    assert!(e.contains("--join-tolerance"), "{e}");
    let e = error_of(&["tickets", &log]);
    assert!(e.contains("no ticket source"), "{e}");
    let e = error_of(&["trace", "2410-0092", "-"]);
    assert!(e.contains("cannot trace standard input"), "{e}");
}

#[test]
fn trace_quotes_the_same_lines_read_through_or_in_parallel_chunks() {
    // A mapped file is quoted in parallel chunks, each parser starting in
    // the clock state of its first line: across a daylight-saving fold,
    // yearless syslog stamps and records Exim split for syslog, the lines,
    // their numbers and times must be those of one read through.
    let cases = [
        (
            "exim/incident/mainlog",
            "john.smith@example-contoso.test",
            "UTC",
        ),
        ("exim/dst-fold.log", "bob@example.net", "Europe/Berlin"),
        ("postfix/outcomes.log", "dan@example.org", "UTC"),
        ("exim/syslog.log", "helpdesk@example.com", "UTC"),
    ];
    let dir = std::env::temp_dir().join(format!("mailtrail-trace-chunks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (fixture, query, zone) in cases {
        // A copy last written an hour ago: a file written in the last
        // seconds is read through, never mapped.
        let copy = dir.join(fixture.replace('/', "-"));
        std::fs::copy(common::fixtures().join(fixture), &copy).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let copy = copy.display().to_string();
        let trace = |extra: &[&str]| {
            let base = [
                "trace", query, "--log-tz", zone, "--year", "2024", "--format", "json",
            ];
            json_of(&[&base[..], extra, &[copy.as_str()]].concat())
        };
        let read_through = trace(&["--no-mmap"]);
        assert!(
            !traced_lines(&read_through).is_empty(),
            "{fixture}: {query} is traced"
        );
        for chunk in ["1", "97", "1000"] {
            let chunked = trace(&["--threads", "4", "--chunk-size", chunk]);
            assert_eq!(
                chunked["stories"], read_through["stories"],
                "{fixture}, chunks of {chunk} bytes"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tickets` and `resend` read a file twice, keeping only the failures and
/// the later mail to their recipients, but standard input and pipes once,
/// keeping everything: all must give the same report.
#[test]
fn ticket_reports_read_twice_match_one_read_keeping_everything() {
    let data = std::fs::read(incident("mainlog")).unwrap();
    let window = ["--since", "2024-10-19 18:00", "--until", "2024-10-20 13:00"];
    let mut recovered = 0;
    for command in ["tickets", "resend"] {
        for window in [&window[..], &[]] {
            let args = [
                &[
                    command,
                    "--log-tz",
                    "UTC",
                    "--ticket-preset",
                    "hash-bracket",
                    "--format",
                    "csv",
                ][..],
                window,
            ]
            .concat();
            let from_file = stdout_of(&[&args[..], &[mainlog().as_str()]].concat());
            // `-`, and a path that is a pipe (as `<(zcat mainlog.gz)` gives):
            // neither can be read again.
            let piped = ["-", "/dev/stdin"];
            for input in piped
                .into_iter()
                .filter(|i| *i == "-" || cfg!(target_os = "linux"))
            {
                let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailtrail"))
                    .args([&args[..], &[input]].concat())
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), &data).unwrap();
                let output = child.wait_with_output().unwrap();
                assert!(output.status.success(), "{args:?} {input}");
                let from_pipe = String::from_utf8(output.stdout).unwrap();
                assert_eq!(from_file, from_pipe, "{args:?} {input}");
            }
            assert!(from_file.lines().count() > 1, "{args:?}: {from_file}");
            recovered += from_file.matches(",recovered,").count();
        }
    }
    // The second read is what finds the later deliveries.
    assert!(
        recovered > 0,
        "some ticket was recovered by a later delivery"
    );
}
