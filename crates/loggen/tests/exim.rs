//! End-to-end checks of the Exim generator: determinism, line shapes, ids and truth.

mod common;

use std::collections::HashSet;

use common::{Output, TRUTH_HEADER};
use mailtrail_loggen::clock::{SEC, parse_utc};
use mailtrail_loggen::msgid::BASE62;
use mailtrail_loggen::{EximConfig, IdStyle, generate_exim};

fn cfg(ids: IdStyle) -> EximConfig {
    let w = common::incident_window();
    EximConfig {
        seed: 24,
        messages: 300,
        start: w.start,
        end: w.end,
        onset: w.onset,
        recovery: w.recovery,
        ids,
        millisec: false,
        pid: false,
        command: "test".into(),
    }
}

fn run(c: &EximConfig) -> Output {
    common::collect(|log, truth| generate_exim(c, log, truth))
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
    common::check_deterministic(&cfg(IdStyle::New), run, |c| c.seed = 25);
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
            let rx = common::decode(BASE62, &id[..6]);
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
    assert_eq!(truth.lines().next().unwrap(), TRUTH_HEADER);
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
    common::check_outcomes_and_incident(&outcomes, &s);
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
