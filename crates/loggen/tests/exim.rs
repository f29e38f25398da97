//! End-to-end checks of the Exim generator: determinism, line shapes, ids and truth.

use std::collections::HashSet;

use mailtrail_loggen::clock::{HOUR, SEC, parse_utc};
use mailtrail_loggen::msgid::BASE62;
use mailtrail_loggen::{EximConfig, IdStyle, Summary, generate_exim};

fn cfg(ids: IdStyle) -> EximConfig {
    let start = parse_utc("2024-10-19T00:00:00").unwrap();
    EximConfig {
        seed: 24,
        messages: 300,
        start,
        end: start + 38 * HOUR,
        onset: Some(parse_utc("2024-10-19T18:03:00").unwrap()),
        recovery: Some(parse_utc("2024-10-20T12:44:00").unwrap()),
        ids,
        millisec: false,
        pid: false,
        command: "test".into(),
    }
}

fn run(c: &EximConfig) -> (String, String, Summary) {
    let mut log = Vec::new();
    let mut truth = Vec::new();
    let s = generate_exim(c, &mut log, Some(&mut truth)).unwrap();
    (
        String::from_utf8(log).unwrap(),
        String::from_utf8(truth).unwrap(),
        s,
    )
}

fn decode62(s: &str) -> i64 {
    s.bytes().fold(0i64, |acc, c| {
        acc * 62 + BASE62.iter().position(|&x| x == c).unwrap() as i64
    })
}

fn is_id(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 3
        && p.iter()
            .all(|x| x.bytes().all(|b| b.is_ascii_alphanumeric()))
        && p[0].len() == 6
        && ((p[1].len() == 11 && p[2].len() == 4) || (p[1].len() == 6 && p[2].len() == 2))
}

#[test]
fn deterministic() {
    let c = cfg(IdStyle::New);
    let a = run(&c);
    let b = run(&c);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    let mut c2 = c.clone();
    c2.seed = 25;
    assert_ne!(run(&c2).0, a.0);
}

#[test]
fn lines_are_ordered_and_well_formed() {
    let (log, _, s) = run(&cfg(IdStyle::New));
    assert_eq!(s.lines as usize, log.lines().count());
    let mut prev = String::new();
    for line in log.lines() {
        let ts = &line[..19];
        assert!(
            chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").is_ok(),
            "{line}"
        );
        assert!(ts >= prev.as_str(), "out of order: {line}");
        prev = ts.to_owned();
        assert_eq!(line.as_bytes()[19], b' ');
        assert!(!line.ends_with(' '), "{line}");
    }
}

#[test]
fn ids_encode_reception_time() {
    for ids in [IdStyle::New, IdStyle::Old, IdStyle::Mixed] {
        let (log, _, _) = run(&cfg(ids));
        let mut seen = HashSet::new();
        let (mut old, mut new) = (0, 0);
        for line in log.lines().filter(|l| l.contains(" <= ")) {
            let id = line[20..].split(' ').next().unwrap();
            assert!(is_id(id), "{line}");
            assert!(seen.insert(id.to_owned()), "duplicate id {id}");
            if id.len() == 23 {
                new += 1;
            } else {
                old += 1;
            }
            let logged = parse_utc(&line[..19]).unwrap() / SEC;
            let rx = decode62(&id[..6]);
            assert!(rx <= logged && logged - rx <= 5, "{line}");
        }
        match ids {
            IdStyle::New => assert_eq!(old, 0),
            IdStyle::Old => assert_eq!(new, 0),
            IdStyle::Mixed => assert!(old > 0 && new > 0),
        }
    }
}

#[test]
fn truth_is_consistent_with_log() {
    let (log, truth, s) = run(&cfg(IdStyle::New));
    let mut lines = truth.lines();
    assert_eq!(
        lines.next().unwrap(),
        "queue_id,recipient,outcome,smtp_code,enhanced_code,category,is_notification,\
         received_at,first_failure_at,last_attempt_at,subject,message_id"
    );
    let mut rdr = csv::Reader::from_reader(truth.as_bytes());
    let mut outcomes = HashSet::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let (qid, rcpt, outcome) = (&rec[0], &rec[1], &rec[2]);
        outcomes.insert(outcome.to_owned());
        if outcome == "rejected" {
            assert!(qid.is_empty());
            assert!(log.contains(&format!("rejected RCPT <{rcpt}>")));
            continue;
        }
        assert!(log.contains(&format!("{qid} <= ")), "{qid}");
        assert!(log.contains(rcpt), "{rcpt}");
        assert_eq!(
            rec[3].is_empty(),
            outcome == "delivered" || rec[3].is_empty()
        );
        if outcome == "delivered" {
            assert!(rec[5].is_empty() && rec[8].is_empty());
        } else {
            assert!(!rec[5].is_empty(), "{qid} {rcpt} has no category");
        }
        if matches!(outcome, "bounced" | "expired" | "delayed" | "pending") {
            assert!(!rec[8].is_empty(), "{qid} {rcpt} has no first failure");
        }
        assert_eq!(&rec[6] == "true", log.contains(&format!("{qid} <= <> R=")));
    }
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
    assert!(
        s.to_json()
            .contains("\"first_blocklisted_failure_at\": \"2024-10-19T")
    );
}

#[test]
fn selectors_change_only_the_prefix() {
    let base = run(&cfg(IdStyle::New)).0;
    let mut c = cfg(IdStyle::New);
    c.millisec = true;
    c.pid = true;
    let both = run(&c).0;
    assert_eq!(base.lines().count(), both.lines().count());
    for (a, b) in base.lines().zip(both.lines()) {
        // `2024-10-19 00:05:44.123 [1432045] rest` vs `2024-10-19 00:05:44 rest`
        assert_eq!(&a[..19], &b[..19]);
        assert_eq!(b.as_bytes()[19], b'.');
        let rest = b[24..].strip_prefix('[').unwrap();
        let (pid, rest) = rest.split_once("] ").unwrap();
        assert!(pid.bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(rest, &a[20..]);
    }
}

#[test]
fn subjects_are_escaped() {
    let (log, truth, _) = run(&cfg(IdStyle::New));
    assert!(log.contains(r#"\"finance\""#) || log.contains(r#"\"final\""#));
    assert!(log.contains(r"\303"));
    assert!(log.is_ascii());
    assert!(truth.contains("ticket-2410-"));
}
