//! End-to-end checks of the Postfix generator: determinism, line shapes,
//! queue ids, hosts and truth.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use common::{Output, TRUTH_HEADER};
use mailtrail_loggen::msgid::POSTFIX_LONG_ALPHABET;
use mailtrail_loggen::{PostfixConfig, generate_postfix};

fn cfg() -> PostfixConfig {
    let w = common::incident_window();
    PostfixConfig {
        seed: 24,
        messages: 300,
        start: w.start,
        end: w.end,
        onset: w.onset,
        recovery: w.recovery,
        long_ids: false,
        hosts: 1,
        command: "test".into(),
    }
}

fn run(c: &PostfixConfig) -> Output {
    common::collect(|log, truth| generate_postfix(c, log, truth))
}

/// Epoch second of a `Mmm dd HH:MM:SS` prefix in 2024.
fn line_time(line: &str) -> i64 {
    let t = NaiveDateTime::parse_from_str(&format!("2024 {}", &line[..15]), "%Y %b %e %H:%M:%S")
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    t.and_utc().timestamp()
}

/// (host, daemon, pid, body) of a line.
fn fields(line: &str) -> (&str, &str, &str, &str) {
    let rest = &line[16..];
    let (host, rest) = rest.split_once(' ').unwrap();
    let (tag, body) = rest.split_once(": ").unwrap();
    let (daemon, pid) = tag.split_once('[').unwrap();
    (host, daemon, pid.trim_end_matches(']'), body)
}

/// The queue id a body starts with, if any.
fn queue_id(body: &str) -> Option<&str> {
    let (id, _) = body.split_once(": ")?;
    let short = id.len() >= 10
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase());
    let long = id.len() >= 12 && id.bytes().all(|b| POSTFIX_LONG_ALPHABET.contains(&b));
    (short || long).then_some(id)
}

fn decode52(s: &str) -> i64 {
    common::decode(POSTFIX_LONG_ALPHABET, s)
}

#[test]
fn deterministic() {
    let c = cfg();
    common::check_deterministic(&c, run, |c| c.seed = 25);
    let mut c3 = c.clone();
    c3.hosts = 3;
    c3.long_ids = true;
    assert_eq!(run(&c3).0, run(&c3).0);
}

#[test]
fn lines_are_ordered_and_well_formed() {
    let (log, _, s) = run(&cfg());
    assert_eq!(s.lines as usize, log.lines().count());
    assert_eq!(s.bytes as usize, log.len());
    assert!(log.is_ascii());
    let mut prev = 0;
    let mut daemons = HashSet::new();
    for line in log.lines() {
        let t = line_time(line);
        assert!(t >= prev, "out of order: {line}");
        prev = t;
        let (host, daemon, pid, body) = fields(line);
        assert_eq!(host, "smtp1", "{line}");
        assert!(daemon.starts_with("postfix/"), "{line}");
        assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{line}");
        assert!(!body.is_empty() && !line.ends_with(' '), "{line}");
        daemons.insert(daemon.to_owned());
    }
    for d in [
        "smtpd",
        "submission/smtpd",
        "postscreen",
        "cleanup",
        "qmgr",
        "pickup",
        "smtp",
        "lmtp",
        "local",
        "pipe",
        "error",
        "bounce",
        "postsuper",
        "anvil",
        "dnsblog",
        "tlsproxy",
    ] {
        assert!(
            daemons.contains(&format!("postfix/{d}")),
            "no postfix/{d} line"
        );
    }
    for shape in [
        ": client=",
        ": message-id=<",
        ": warning: header Subject: ",
        ", nrcpt=",
        " (queue active)",
        ", status=sent (250 ",
        ", status=deferred (host ",
        ", status=bounced (host ",
        "(in reply to RCPT TO command))",
        "(in reply to end of DATA command))",
        ": Connection timed out",
        "status=deferred (delivery temporarily suspended: connect to ",
        "Host or domain name not found. Name service error for name=",
        ", orig_to=<",
        "relay=smtp1.example.com[private/dovecot-lmtp]",
        ", relay=local, ",
        ": sender non-delivery notification: ",
        ": sender delay notification: ",
        ", status=expired, returned to sender",
        ": removed",
        "NOQUEUE: reject: RCPT from ",
        "blocked using Spamhaus",
        "disconnect from ",
        "statistics: max connection rate ",
    ] {
        assert!(log.contains(shape), "no line with {shape:?}");
    }
}

#[test]
fn short_ids_are_unique_hex_and_long_ids_encode_creation_time() {
    let (log, _, _) = run(&cfg());
    let mut first_seen: HashMap<String, i64> = HashMap::new();
    for line in log.lines() {
        let (_, _, _, body) = fields(line);
        if let Some(id) = queue_id(body) {
            assert_eq!(id.len(), 12, "{line}");
            first_seen.entry(id.to_owned()).or_insert(line_time(line));
        }
    }
    assert!(first_seen.len() > 300);

    let mut c = cfg();
    c.long_ids = true;
    let (log, truth, _) = run(&c);
    let mut ids = 0;
    for line in log.lines() {
        let (_, daemon, _, body) = fields(line);
        // The first line of each queue file: smtpd, pickup, or the
        // notification's cleanup line.
        let first = body.contains(": client=")
            || body.contains(": uid=")
            || (daemon == "postfix/cleanup" && body.contains("@smtp1.example.com>"));
        if !first {
            continue;
        }
        let id = queue_id(body).unwrap_or_else(|| panic!("{line}"));
        let split = id.rfind('z').unwrap();
        assert!(split >= 10, "{id}");
        let time = &id[..split];
        let created = decode52(&time[..time.len() - 4]);
        assert!(decode52(&time[time.len() - 4..]) < 1_000_000);
        let logged = line_time(line);
        assert!(created <= logged && logged - created <= 1, "{line}");
        ids += 1;
    }
    assert!(ids > 300);
    assert!(truth.lines().skip(1).any(|l| l.contains('z')));
}

#[test]
fn truth_is_consistent_with_log() {
    let (log, truth, s) = run(&cfg());
    assert_eq!(truth.lines().next().unwrap(), TRUTH_HEADER);
    let null_sender: HashSet<&str> = log
        .lines()
        .filter_map(|l| {
            let body = fields(l).3;
            body.strip_suffix(" (queue active)")
                .filter(|b| b.contains(": from=<>, "))
                .and_then(|_| queue_id(body))
        })
        .collect();
    let mut rdr = csv::Reader::from_reader(truth.as_bytes());
    let mut outcomes = HashSet::new();
    let mut keys = HashSet::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let (qid, rcpt, outcome) = (&rec[0], &rec[1], &rec[2]);
        outcomes.insert(outcome.to_owned());
        if outcome == "rejected" {
            let prefix = if qid.is_empty() { "NOQUEUE" } else { qid };
            assert!(
                log.lines()
                    .any(|l| l.contains(&format!("{prefix}: reject: RCPT from "))
                        && l.contains(&format!("to=<{rcpt}>"))),
                "{qid} {rcpt}"
            );
            assert!(!rec[3].is_empty() && !rec[4].is_empty(), "{rcpt}: codes");
            continue;
        }
        assert!(
            keys.insert((qid.to_owned(), rcpt.to_owned())),
            "{qid} {rcpt} twice"
        );
        assert!(
            log.contains(&format!("{qid}: message-id=<{}>", &rec[11])),
            "{qid}"
        );
        assert!(
            log.contains(&format!("{qid}: to=<{rcpt}>"))
                || log.contains(&format!("orig_to=<{rcpt}>"))
                || log.contains(&format!("to=<{rcpt}> proto=ESMTP helo=")),
            "{qid} {rcpt}"
        );
        assert_eq!(&rec[6] == "true", null_sender.contains(qid), "{qid}");
        if outcome == "delivered" {
            assert!(rec[5].is_empty() && rec[8].is_empty());
        } else if outcome != "frozen" && outcome != "removed" {
            assert!(!rec[5].is_empty(), "{qid} {rcpt} has no category");
            assert!(!rec[8].is_empty(), "{qid} {rcpt} has no first failure");
            assert!(!rec[4].is_empty(), "{qid} {rcpt} has no dsn");
        }
        assert!(!rec[7].is_empty(), "{qid}: no reception time");
    }
    common::check_outcomes_and_incident(&outcomes, &s);
    assert!(s.notifications > 0 && s.notifications < s.messages);
}

#[test]
fn several_hosts_share_one_log_and_some_short_ids() {
    let mut c = cfg();
    c.hosts = 3;
    c.messages = 3000;
    c.onset = None;
    c.recovery = None;
    let (log, truth, _) = run(&c);
    // Queue id → hosts that used it; a message's lines never change host.
    let mut hosts_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut last = 0;
    for line in log.lines() {
        let t = line_time(line);
        assert!(t >= last);
        last = t;
        let (host, _, _, body) = fields(line);
        assert!(["smtp1", "smtp2", "smtp3"].contains(&host), "{line}");
        if let Some(id) = queue_id(body) {
            hosts_of.entry(id).or_default().insert(host);
        }
        if let Some(ip) = body
            .strip_prefix("CONNECT from ")
            .and_then(|r| r.split(" to [").nth(1))
        {
            let want = match host {
                "smtp1" => "203.0.113.25]:25",
                "smtp2" => "203.0.113.26]:25",
                _ => "203.0.113.27]:25",
            };
            assert_eq!(ip, want, "{line}");
        }
    }
    let shared: Vec<_> = hosts_of.iter().filter(|(_, h)| h.len() > 1).collect();
    assert!(!shared.is_empty(), "no short id used on two hosts");
    assert!(shared.iter().all(|(_, h)| h.contains("smtp1")));
    // The truth stays unambiguous: (queue id, recipient) is a key.
    let mut rdr = csv::Reader::from_reader(truth.as_bytes());
    let mut keys = HashSet::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if &rec[2] != "rejected" {
            assert!(keys.insert((rec[0].to_owned(), rec[1].to_owned())));
        }
    }
    // Long ids never collide.
    c.long_ids = true;
    let (log, _, _) = run(&c);
    let mut hosts_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    for line in log.lines() {
        let (host, _, _, body) = fields(line);
        if let Some(id) = queue_id(body) {
            hosts_of.entry(id).or_default().insert(host);
        }
    }
    assert!(hosts_of.values().all(|h| h.len() == 1));
    assert!(hosts_of.len() > 3000);
}
