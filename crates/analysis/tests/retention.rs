//! Retention: a scan that drops the finished entries an undelivered report
//! has no row for gives that report exactly as a scan that keeps
//! everything, whatever the chunk size, and it does drop them.

use std::path::PathBuf;

use bstr::{BString, ByteSlice};

use mailtrail_analysis::classify::Classifier;
use mailtrail_analysis::incident::{IncidentOptions, find_incidents};
use mailtrail_analysis::join::{
    ColumnOverrides, ExportStatus, JoinOptions, Joined, TicketExport, join,
};
use mailtrail_analysis::{
    Finding, Handoff, Outcome, OutcomeSet, PartialLog, RecipientOutcome, Retention, ScanOptions,
    WantedMail, Window, WindowBy, outcomes, outcomes_where, scan_bytes, scan_reader, summary,
};
use mailtrail_parse::{ParserOptions, Tz};

fn fixture(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The hour `hour` of October `day`, 2024, in UTC.
fn at(day: u32, hour: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(2024, 10, day)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .expect("valid")
        .and_utc()
}

/// Scans each file on its own and merges them in order, as the binary does.
fn scan(files: &[&str], zone: Tz, chunk_size: usize, retention: Retention) -> PartialLog {
    let mut options = ScanOptions::new(ParserOptions::new(zone));
    options.year = Some(2024);
    options.chunk_size = chunk_size;
    options.retention = retention;
    let mut log = files
        .iter()
        .map(|file| scan_bytes(&fixture(file), &options))
        .reduce(PartialLog::merge)
        .expect("at least one file");
    log.settle();
    log
}

fn undelivered_rows(log: &PartialLog) -> Vec<RecipientOutcome> {
    outcomes_where(log, |outcome, _| Outcome::UNDELIVERED.contains(&outcome))
}

fn undelivered() -> Retention {
    Retention::outcomes(Outcome::UNDELIVERED.into_iter().collect::<OutcomeSet>())
}

fn records(log: &PartialLog) -> usize {
    log.messages.values().map(Vec::len).sum()
}

const FIXTURES: &[(&[&str], Tz)] = &[
    (&["exim/incident/mainlog"], Tz::UTC),
    (&["exim/outcomes.log"], Tz::UTC),
    (&["exim/dst-fold.log"], Tz::Europe__Berlin),
    (&["exim/syslog.log"], Tz::UTC),
    (&["exim/rotated/mainlog.1", "exim/rotated/mainlog"], Tz::UTC),
    (&["postfix/outcomes.log"], Tz::UTC),
    (&["postfix/content-filter.log"], Tz::UTC),
    (&["postfix/long-ids.log"], Tz::UTC),
    (
        &["postfix/two-hosts/relay.log", "postfix/two-hosts/mx.log"],
        Tz::UTC,
    ),
];

#[test]
fn undelivered_report_is_the_same_with_and_without_retention() {
    for (files, zone) in FIXTURES {
        let everything = undelivered_rows(&scan(files, *zone, 1 << 20, Retention::Everything));
        assert!(!everything.is_empty(), "{files:?} has undelivered rows");
        for chunk_size in [1 << 20, 4096, 500, 97] {
            let retained = undelivered_rows(&scan(files, *zone, chunk_size, undelivered()));
            // Compared row by row: a whole report would not fit a message.
            assert_eq!(
                retained.len(),
                everything.len(),
                "{files:?}, chunk size {chunk_size}"
            );
            for (kept, all) in retained.iter().zip(&everything) {
                assert_eq!(kept, all, "{files:?}, chunk size {chunk_size}");
            }
        }
    }
}

#[test]
fn delivered_mail_is_dropped_while_scanning_not_only_at_the_end() {
    let data = fixture("exim/incident/mainlog");
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.chunk_size = 1 << 20;
    let everything = scan_bytes(&data, &options);
    options.retention = undelivered();
    let mut retained = scan_bytes(&data, &options);
    let (all, while_scanning) = (records(&everything), records(&retained));
    retained.settle();
    let settled = records(&retained);
    // Most of the fixture's messages are delivered: they are gone before
    // the scan ends, and the rest of the delivered ones when settling.
    assert!(while_scanning < all * 3 / 4, "{while_scanning} of {all}");
    assert!(settled <= while_scanning, "{settled} > {while_scanning}");
    // What is left has an undelivered recipient, is still in flight, or
    // was handed to a next hop whose entry may borrow from it.
    let rows = undelivered_rows(&retained);
    for (key, records) in &retained.messages {
        for record in records {
            let has_row = rows
                .iter()
                .any(|r| key.ends_with(r.queue_id.as_slice()) && r.received_at.is_some());
            let next_hop = record.recipients.iter().any(|r| {
                r.terminal
                    .as_ref()
                    .is_some_and(|t| t.next_queue_id.is_some())
            });
            assert!(
                has_row || !record.is_finished() || !record.notifications.is_empty() || next_hop,
                "kept a finished entry with nothing to report: {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
}

#[test]
fn a_retention_for_no_outcome_keeps_only_messages_in_flight() {
    // What `mailtrail lines` scans with: it prints only the line counts.
    for (files, zone) in FIXTURES {
        let everything = scan(files, *zone, 1 << 20, Retention::Everything);
        for chunk_size in [1 << 20, 500, 97] {
            let log = scan(
                files,
                *zone,
                chunk_size,
                Retention::outcomes(OutcomeSet::NONE),
            );
            assert_eq!(log.counts, everything.counts, "{files:?}, {chunk_size}");
            assert_eq!(
                log.unrecognised_samples.len(),
                everything.unrecognised_samples.len(),
                "{files:?}, {chunk_size}"
            );
            let finished = log
                .messages
                .values()
                .flatten()
                .filter(|record| record.is_finished())
                .count();
            assert_eq!(finished, 0, "{files:?}, chunk size {chunk_size}");
            assert!(records(&log) < records(&everything), "{files:?}");
        }
    }
}

/// The keys of the entries a scan of `file` keeps before settling.
fn kept_keys(file: &str, zone: Tz, chunk_size: usize) -> Vec<Vec<u8>> {
    let mut options = ScanOptions::new(ParserOptions::new(zone));
    options.year = Some(2024);
    options.chunk_size = chunk_size;
    options.retention = undelivered();
    let log = scan_bytes(&fixture(file), &options);
    let mut keys: Vec<Vec<u8>> = log
        .messages
        .iter()
        .flat_map(|(key, records)| records.iter().map(|_| key.to_vec()))
        .collect();
    keys.sort();
    keys
}

/// Entries cut by a chunk boundary are dropped when the two chunks are
/// merged, not left for the end: otherwise every boundary of a long file
/// would add its messages in flight to memory. So a chunked scan keeps
/// exactly what a sequential one keeps, before settling as after.
#[test]
fn entries_cut_by_a_chunk_boundary_are_dropped_when_the_chunks_merge() {
    for (files, zone) in FIXTURES {
        for file in *files {
            let sequential = kept_keys(file, *zone, 1 << 30);
            for chunk_size in [4096, 500, 97] {
                assert_eq!(
                    kept_keys(file, *zone, chunk_size),
                    sequential,
                    "{file}, chunk size {chunk_size}"
                );
            }
        }
    }
}

/// A Postfix entry deferred in one stretch and delivered hours later in
/// another: the queue manager logs `from=` again when it retries, which
/// must not pass for the entry's opening line, or the later stretch would
/// drop its delivery as a whole delivered message and leave the deferral
/// alone, reported as pending.
const RETRIED: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 12:00:00 mx1 postfix/smtpd[104]: 2B3C4D5E6F: client=app.example.com[192.0.2.10]
Oct 20 12:00:00 mx1 postfix/qmgr[102]: 2B3C4D5E6F: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 12:00:01 mx1 postfix/smtp[103]: 2B3C4D5E6F: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 12:00:01 mx1 postfix/qmgr[102]: 2B3C4D5E6F: removed
Oct 20 13:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 13:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=10801, delays=10800/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 13:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
";

#[test]
fn a_retried_postfix_entry_is_not_taken_for_a_new_one() {
    let boundary = RETRIED.find("Oct 20 12:00:00").expect("second message");
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    options.retention = undelivered();
    // Two stretches, as two files or two chunks: the retry is in the second.
    let (first, second) = RETRIED.as_bytes().split_at(boundary);
    let mut log = scan_bytes(first, &options).merge(scan_bytes(second, &options));
    log.settle();
    let rows = undelivered_rows(&log);
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(records(&log), 0);
}

#[test]
fn a_handoff_is_kept_only_while_its_next_hop_is_in_the_input() {
    let handoffs = |files: &[&str]| -> Vec<Handoff> {
        scan(files, Tz::UTC, 1 << 20, undelivered())
            .handoffs()
            .cloned()
            .collect()
    };
    // relay1 hands mail to mx1 with `queued as`: with mx1's log in the
    // input, mx1's failed entries take their reception facts from relay1's
    // delivered ones, which are kept as handoffs only.
    let both = handoffs(&["postfix/two-hosts/relay.log", "postfix/two-hosts/mx.log"]);
    assert!(!both.is_empty());
    assert!(both.iter().all(|h| h.next_hops().count() > 0));
    // Without mx1's log nothing can borrow from them.
    assert_eq!(handoffs(&["postfix/two-hosts/relay.log"]), Vec::new());
    // A content filter's next hop is on the same host, in the same file.
    assert!(!handoffs(&["postfix/content-filter.log"]).is_empty());
}

/// The window between `since` and `until` percent of the time `log`
/// spans; `None` leaves that end open.
fn span_share(log: &PartialLog, since: Option<i32>, until: Option<i32>) -> Window {
    let (first, last) = log.span.expect("lines");
    let at = |percent: i32| first + (last - first) * percent / 100;
    Window {
        since: since.map(at),
        until: until.map(at),
    }
}

#[test]
fn a_window_report_is_the_same_when_entries_outside_it_are_dropped() {
    for (files, zone) in FIXTURES {
        let everything = scan(files, *zone, 1 << 20, Retention::Everything);
        let windows = [
            span_share(&everything, Some(30), Some(60)),
            span_share(&everything, Some(50), None),
            span_share(&everything, None, Some(40)),
        ];
        for window in windows {
            for by in [WindowBy::Failure, WindowBy::Received] {
                let in_window = |log: &PartialLog| -> Vec<RecipientOutcome> {
                    undelivered_rows(log)
                        .into_iter()
                        .filter(|row| window.selects(row, by))
                        .collect()
                };
                let expected = in_window(&everything);
                let retention =
                    Retention::outcomes_in(Outcome::UNDELIVERED.into_iter().collect(), window, by);
                for chunk_size in [1 << 20, 500] {
                    let retained = scan(files, *zone, chunk_size, retention.clone());
                    assert_eq!(
                        in_window(&retained),
                        expected,
                        "{files:?}, {window:?} by {by:?}, chunk size {chunk_size}"
                    );
                }
            }
        }
    }
}

/// Counting reports (`summary`, `timeline`) keep every outcome, delivered
/// too, but only over their window: the rows they count there, by their
/// own rule ([`summary::in_window`]: a last attempt in the window counts
/// too), are the same as when everything is kept.
#[test]
fn every_outcome_in_a_window_is_the_same_when_entries_outside_it_are_dropped() {
    for (files, zone) in FIXTURES {
        let everything = scan(files, *zone, 1 << 20, Retention::Everything);
        let baseline = span_share(&everything, Some(10), Some(30));
        let window = span_share(&everything, Some(30), Some(60));
        let mut compared = 0;
        for by in [WindowBy::Failure, WindowBy::Received] {
            let counted = |log: &PartialLog, window: &Window| -> Vec<RecipientOutcome> {
                outcomes(log)
                    .into_iter()
                    .filter(|row| summary::in_window(row, window, by))
                    .collect()
            };
            let retention = Retention::outcomes_in(
                Outcome::ALL.into_iter().collect(),
                window.hull(&baseline),
                by,
            );
            for chunk_size in [1 << 20, 500] {
                let retained = scan(files, *zone, chunk_size, retention.clone());
                for w in [window, baseline] {
                    let expected = counted(&everything, &w);
                    compared += expected.len();
                    assert_eq!(
                        counted(&retained, &w),
                        expected,
                        "{files:?}, {w:?} by {by:?}, chunk size {chunk_size}"
                    );
                }
                // The incident spans a day: a third of it is well outside
                // the window, beyond the hour of clock skew allowed.
                let long = files == &["exim/incident/mainlog"];
                assert!(
                    records(&retained) < records(&everything) || !long,
                    "{files:?} by {by:?}: entries outside the window are dropped"
                );
            }
        }
        assert!(compared > 0, "{files:?} has rows in the windows");
    }
}

#[test]
fn failures_outside_the_window_are_dropped() {
    let files = &["exim/incident/mainlog"];
    let everything = scan(files, Tz::UTC, 1 << 20, Retention::Everything);
    let (first, last) = everything.span.expect("lines");
    let retention = |window| {
        Retention::outcomes_in(
            Outcome::UNDELIVERED.into_iter().collect(),
            window,
            WindowBy::Failure,
        )
    };
    let all_time = records(&scan(files, Tz::UTC, 1 << 20, retention(Window::default())));
    let last_tenth = Window {
        since: Some(last - (last - first) / 10),
        until: None,
    };
    let in_window = records(&scan(files, Tz::UTC, 1 << 20, retention(last_tenth)));
    assert!(in_window < all_time / 2, "{in_window} of {all_time}");
}

/// A next hop's row is reported as received when its first hop received
/// the message: a window that starts between the two receptions must not
/// lose the first hop, or the row would pass for received in the window.
#[test]
fn a_window_between_two_hops_keeps_the_first_hop() {
    for files in [
        &["postfix/content-filter.log"][..],
        &["postfix/two-hosts/relay.log", "postfix/two-hosts/mx.log"],
    ] {
        let everything = scan(files, Tz::UTC, 1 << 20, Retention::Everything);
        let mut times: Vec<_> = everything
            .messages
            .values()
            .flatten()
            .filter_map(|record| record.received_at)
            .collect();
        times.sort();
        times.dedup();
        for since in times {
            for by in [WindowBy::Received, WindowBy::Failure] {
                let window = Window {
                    since: Some(since),
                    until: Some(since + chrono::TimeDelta::hours(2)),
                };
                let in_window = |log: &PartialLog| -> Vec<RecipientOutcome> {
                    undelivered_rows(log)
                        .into_iter()
                        .filter(|row| window.selects(row, by))
                        .collect()
                };
                let retention =
                    Retention::outcomes_in(Outcome::UNDELIVERED.into_iter().collect(), window, by);
                let retained = scan(files, Tz::UTC, 1 << 20, retention);
                assert_eq!(
                    in_window(&retained),
                    in_window(&everything),
                    "{files:?}, {window:?} by {by:?}"
                );
            }
        }
    }
}

/// A bounce that fails inside the window, about a message that failed
/// before it: the bounce is a notification only through the message it is
/// about, which has no row in the window.
const BOUNCE_OF_AN_EARLIER_FAILURE: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 10:00:01 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<20241020100001.3C4D5E6F7A@mx1.example.com>
Oct 20 10:00:01 mx1 postfix/bounce[104]: 1A2B3C4D5E: sender non-delivery notification: 3C4D5E6F7A
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<>, size=2000, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:00:02 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<alice@example.com>, relay=app.example.com[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred (host app.example.com[192.0.2.10] said: 450 4.0.0 Try again later (in reply to RCPT TO command))
Oct 20 12:00:02 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<alice@example.com>, relay=app.example.com[192.0.2.10]:25, delay=7202, delays=7200/0/0/1, dsn=5.0.0, status=bounced (host app.example.com[192.0.2.10] said: 550 5.0.0 Mailbox unavailable (in reply to RCPT TO command))
Oct 20 12:00:02 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
";

/// Scans `log` keeping what an undelivered report over `window` needs, and
/// gives the settled log with the report's rows.
fn undelivered_in_window(
    log: &str,
    window: Window,
    by: WindowBy,
) -> (PartialLog, Vec<RecipientOutcome>) {
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    options.retention =
        Retention::outcomes_in(Outcome::UNDELIVERED.into_iter().collect(), window, by);
    let mut scanned = scan_bytes(log.as_bytes(), &options);
    scanned.settle();
    let rows = undelivered_rows(&scanned)
        .into_iter()
        .filter(|row| window.selects(row, by))
        .collect();
    (scanned, rows)
}

#[test]
fn a_notification_keeps_its_mark_when_its_message_is_out_of_the_window() {
    let window = Window {
        since: Some(at(20, 11)),
        until: Some(at(20, 13)),
    };
    let (log, rows) =
        undelivered_in_window(BOUNCE_OF_AN_EARLIER_FAILURE, window, WindowBy::Failure);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].queue_id, "3C4D5E6F7A");
    assert!(rows[0].is_notification, "{rows:?}");
    // The message the bounce is about has no row in the window: only its
    // handoff is left.
    assert!(!log.messages.keys().any(|k| k.ends_with(b"1A2B3C4D5E")));
    assert_eq!(log.handoffs().count(), 1);
}

/// A message deferred for hours, which warned its sender of the delay and
/// was then delivered: it has no row of its own, only the link that marks
/// the warning, which failed, as a notification.
const DELAY_WARNING_OF_A_DELIVERED_MESSAGE: &str = "\
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 13:00:01 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<20241020130001.3C4D5E6F7A@mx1.example.com>
Oct 20 13:00:01 mx1 postfix/bounce[104]: 1A2B3C4D5E: sender delay notification: 3C4D5E6F7A
Oct 20 13:00:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<>, size=2000, nrcpt=1 (queue active)
Oct 20 13:00:02 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<alice@example.com>, relay=app.example.com[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=5.0.0, status=bounced (host app.example.com[192.0.2.10] said: 550 5.0.0 Mailbox unavailable (in reply to RCPT TO command))
Oct 20 13:00:02 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
Oct 20 14:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=18001, delays=18000/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 14:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
";

/// By reception, a window that starts after a message was received still
/// holds the notifications it caused later: the link that marks them is
/// kept while they may be received in the window, and only then.
#[test]
fn a_notification_received_in_the_window_keeps_its_mark() {
    let scan_window = |since, until| {
        let window = Window {
            since: Some(at(20, since)),
            until: Some(at(20, until)),
        };
        undelivered_in_window(
            DELAY_WARNING_OF_A_DELIVERED_MESSAGE,
            window,
            WindowBy::Received,
        )
    };
    let (log, rows) = scan_window(12, 16);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].queue_id, "3C4D5E6F7A");
    assert!(rows[0].is_notification, "{rows:?}");
    assert_eq!(log.handoffs().count(), 1);
    // A window that ends before the message was received, or starts more
    // than the clock skew after its last line, has no use for the link.
    assert_eq!(scan_window(6, 7).0.handoffs().count(), 0);
    assert_eq!(scan_window(16, 18).0.handoffs().count(), 0);
}

/// `incident` over a window keeps only the rows there and, of the other
/// messages, when and where they were delivered: the incidents found are
/// the same as when everything is kept, also when the delivery that ends
/// the incident comes after the window.
#[test]
fn incidents_in_a_window_are_the_same_with_a_delivery_digest() {
    let classifier = Classifier::builtin();
    let incidents = |file: &str, window: Window, by: WindowBy, retention: Retention| {
        let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
        options.year = Some(2024);
        options.chunk_size = 500;
        options.delivery_digest = retention != Retention::Everything;
        options.retention = retention;
        let mut log = scan_bytes(&fixture(file), &options);
        log.settle();
        let rows = outcomes(&log)
            .into_iter()
            .filter(|row| window.selects(row, by))
            .collect();
        let findings = Finding::classify_all(rows, &classifier);
        find_incidents(&findings, &log, &classifier, &IncidentOptions::default())
    };
    for file in ["exim/incident/mainlog", "postfix/incident/mail.log"] {
        let mut recovered_after_window = 0;
        // The whole incident; its first hours only (it recovers after the
        // window); its last hour.
        for (since, until) in [
            (at(19, 18), at(20, 13)),
            (at(19, 18), at(19, 22)),
            (at(20, 11), at(20, 12)),
        ] {
            let window = Window {
                since: Some(since),
                until: Some(until),
            };
            for by in [WindowBy::Failure, WindowBy::Received] {
                let expected = incidents(file, window, by, Retention::Everything);
                recovered_after_window += expected
                    .iter()
                    .filter(|i| i.recovery.is_some_and(|r| r > until))
                    .count();
                let retention =
                    Retention::outcomes_in(Outcome::ALL.into_iter().collect(), window, by);
                assert_eq!(
                    incidents(file, window, by, retention),
                    expected,
                    "{file}, {window:?} by {by:?}"
                );
            }
        }
        assert!(
            recovered_after_window > 0,
            "{file}: some incident recovers after its window"
        );
    }
}

/// Recipients added to a retention keep every row of theirs received after
/// their time as a scan that keeps everything has it (a ticket report's
/// later deliveries), while the rest of the delivered mail is dropped.
#[test]
fn recipients_added_to_a_retention_keep_their_later_rows() {
    let mut later_deliveries = 0;
    for (files, zone) in FIXTURES {
        let everything = scan(files, *zone, 1 << 20, Retention::Everything);
        let failed = undelivered_rows(&everything);
        // Written in capitals: the log may spell a recipient either way.
        let shouted: Vec<(Vec<u8>, _)> = failed
            .iter()
            .filter_map(|r| {
                let sent = r.received_at.or(r.first_failure_at)?;
                Some((r.recipient.to_ascii_uppercase(), sent))
            })
            .collect();
        let recipients =
            WantedMail::to_recipients(shouted.iter().map(|(r, at)| (r.as_slice(), *at)));
        let theirs = |log: &PartialLog| -> Vec<RecipientOutcome> {
            let later = |r: &RecipientOutcome| {
                let after = recipients.after(&r.recipient);
                after.is_some_and(|after| r.received_at.is_some_and(|at| at > after))
            };
            outcomes(log)
                .into_iter()
                .filter(|r| r.outcome != Outcome::Rejected && later(r))
                .collect()
        };
        let expected = theirs(&everything);
        later_deliveries += (expected.iter())
            .filter(|r| r.outcome == Outcome::Delivered)
            .count();
        let retention = undelivered().and_mail(&recipients);
        for chunk_size in [1 << 20, 500, 97] {
            let retained = scan(files, *zone, chunk_size, retention.clone());
            assert_eq!(
                theirs(&retained),
                expected,
                "{files:?}, chunk size {chunk_size}"
            );
            assert_eq!(undelivered_rows(&retained), failed, "{files:?}");
            if files == &["exim/incident/mainlog"] {
                assert!(records(&retained) < records(&everything) / 2, "{files:?}");
            }
        }
    }
    assert!(later_deliveries > 0, "some failed recipient got mail later");
}

/// The rows the export join looks at: every one but notifications'.
fn joinable(log: &PartialLog) -> Vec<RecipientOutcome> {
    outcomes_where(log, |_, is_notification| !is_notification)
}

/// A retention given a ticket export's mail keeps what the join may match,
/// by Message-ID or by recipient and time, refusals included: the join gives every export row and every report
/// row the same result as with everything kept.
#[test]
fn an_exports_mail_kept_joins_as_everything_kept() {
    let files: &[&str] = &["exim/incident/mainlog"];
    let everything = scan(files, Tz::UTC, 1 << 20, Retention::Everything);
    let all_rows = joinable(&everything);
    // The helpdesk's export, and a row sent half a minute before each of
    // three refusals at SMTP time: the join takes a refusal too.
    let mut csv = String::from_utf8(fixture("exim/incident/helpdesk-export.csv")).unwrap();
    let refused = all_rows.iter().filter(|r| r.outcome == Outcome::Rejected);
    for (n, row) in refused.take(3).enumerate() {
        let sent = row.first_failure_at.unwrap() - chrono::TimeDelta::seconds(30);
        let recipient = row.recipient.to_str_lossy();
        csv.push_str(&format!(
            "R-{n},,reply,{recipient},{},\n",
            sent.to_rfc3339()
        ));
    }
    // And one known by its Message-ID alone: a message all delivered, to
    // no recipient of the export.
    let all_delivered = |queue_id: &BString| {
        (all_rows.iter().filter(|r| r.queue_id == *queue_id))
            .all(|r| r.outcome == Outcome::Delivered)
    };
    let message_id = (all_rows.iter())
        .filter(|r| !csv.contains(&*r.recipient.to_str_lossy()) && all_delivered(&r.queue_id))
        .find_map(|r| r.message_id.as_ref())
        .unwrap();
    csv.push_str(&format!("M-0,,reply,,,<{}>\n", message_id.to_str_lossy()));
    let export =
        TicketExport::from_reader(csv.as_bytes(), &ColumnOverrides::default(), Tz::UTC).unwrap();
    let options = JoinOptions::default();
    let expected = join(&export, &all_rows, &options);
    let refusals_joined = (all_rows.iter().zip(&expected.rows))
        .filter(|(row, ticket)| row.outcome == Outcome::Rejected && ticket.ticket().is_some())
        .count();
    assert_eq!(refusals_joined, 3);
    assert_eq!(expected.export.last(), Some(&ExportStatus::MessageId));
    let bounced = || std::iter::once(Outcome::Bounced).collect::<OutcomeSet>();
    let tickets_of_bounces = |rows: &[RecipientOutcome], joined: &Joined| {
        (rows.iter().zip(&joined.rows))
            .filter(|(row, _)| row.outcome == Outcome::Bounced)
            .map(|(row, ticket)| (row.clone(), ticket.clone()))
            .collect::<Vec<_>>()
    };
    let retention = Retention::outcomes(bounced()).and_mail(&export.wanted_mail(&options));
    for chunk_size in [1 << 20, 500, 97] {
        let retained = scan(files, Tz::UTC, chunk_size, retention.clone());
        let rows = joinable(&retained);
        let joined = join(&export, &rows, &options);
        assert_eq!(joined.export, expected.export, "chunk size {chunk_size}");
        assert_eq!(joined.quality, expected.quality, "chunk size {chunk_size}");
        assert_eq!(
            tickets_of_bounces(&rows, &joined),
            tickets_of_bounces(&all_rows, &expected),
            "chunk size {chunk_size}"
        );
        assert!(
            records(&retained) < records(&everything),
            "something is dropped"
        );
    }
}

/// relay1 hands bob's message to mx1 at 08:00; mx1's log of it has a
/// deferral, then its first reception line hours later. The row's
/// reception is relay1's.
const HANDED_OVER: &str = r"Oct 20 05:00:00 relay1 postfix/smtpd[90]: 0A0B0C0D0E: client=app.example.com[192.0.2.10]
Oct 20 05:00:00 relay1 postfix/cleanup[91]: 0A0B0C0D0E: message-id=<z1@example.com>
Oct 20 05:00:00 relay1 postfix/qmgr[92]: 0A0B0C0D0E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 05:00:01 relay1 postfix/smtp[93]: 0A0B0C0D0E: to=<zed@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/1, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 05:00:01 relay1 postfix/qmgr[92]: 0A0B0C0D0E: removed
Oct 20 08:00:00 relay1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 08:00:00 relay1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 08:00:00 relay1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 08:00:01 relay1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx1.example.com[198.51.100.5]:25, delay=1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4F5A6B7C8D)
Oct 20 08:00:01 relay1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 08:30:00 mx1 postfix/smtp[203]: 4F5A6B7C8D: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1800, delays=1799/0/0/1, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 11:00:00 mx1 postfix/qmgr[202]: 4F5A6B7C8D: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 11:00:01 mx1 postfix/smtp[203]: 4F5A6B7C8D: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=10801, delays=10800/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 11:00:01 mx1 postfix/qmgr[202]: 4F5A6B7C8D: removed
";

/// alice's bounce at 09:30, then a delay notification to her at 12:00,
/// marked as such only through the line of the message it is about.
const NOTIFIED: &str = r"Oct 20 09:30:00 mx1 postfix/smtpd[100]: AAAA000001: client=ext.example.net[198.51.100.9]
Oct 20 09:30:00 mx1 postfix/cleanup[101]: AAAA000001: message-id=<g1@example.com>
Oct 20 09:30:00 mx1 postfix/qmgr[102]: AAAA000001: from=<helpdesk@example.com>, size=100, nrcpt=1 (queue active)
Oct 20 09:30:01 mx1 postfix/smtp[103]: AAAA000001: to=<alice@example.org>, relay=mx.example.org[198.51.100.30]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.30] said: 550 5.1.1 User unknown (in reply to RCPT TO command))
Oct 20 09:30:01 mx1 postfix/qmgr[102]: AAAA000001: removed
Oct 20 11:10:00 mx1 postfix/pickup[104]: BBBB000002: uid=1000 from=<alice@example.org>
Oct 20 11:10:00 mx1 postfix/cleanup[101]: BBBB000002: message-id=<o1@example.org>
Oct 20 11:10:00 mx1 postfix/qmgr[102]: BBBB000002: from=<alice@example.org>, size=100, nrcpt=1 (queue active)
Oct 20 11:10:01 mx1 postfix/smtp[105]: BBBB000002: to=<carol@example.net>, relay=mx.example.net[198.51.100.31]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.31] said: 450 4.7.1 try later (in reply to RCPT TO command))
Oct 20 12:00:00 mx1 postfix/cleanup[101]: CCCC000003: message-id=<n1@mx1.example.com>
Oct 20 12:00:00 mx1 postfix/bounce[106]: BBBB000002: sender delay notification: CCCC000003
Oct 20 12:00:00 mx1 postfix/qmgr[102]: CCCC000003: from=<>, size=500, nrcpt=1 (queue active)
Oct 20 12:00:00 mx1 postfix/smtp[105]: CCCC000003: to=<alice@example.org>, relay=mx.example.org[198.51.100.30]:25, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (250 ok)
Oct 20 12:00:00 mx1 postfix/qmgr[102]: CCCC000003: removed
Oct 20 13:00:00 mx1 postfix/smtp[105]: BBBB000002: to=<carol@example.net>, relay=mx.example.net[198.51.100.31]:25, delay=6600, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)
Oct 20 13:00:00 mx1 postfix/qmgr[102]: BBBB000002: removed
";

/// The export join with `export` (CSV) over `log`: every export row's
/// status, the same with everything kept as with the export's mail kept,
/// whatever the window drops and wherever the chunks are cut.
fn assert_export_joins_as_everything_kept(
    log: &str,
    export: &str,
    options: &JoinOptions,
    window: Window,
) {
    let export =
        TicketExport::from_reader(export.as_bytes(), &ColumnOverrides::default(), Tz::UTC).unwrap();
    let expected = join(
        &export,
        &joinable(&scan_text(log, Retention::Everything)),
        options,
    );
    let wanted = Outcome::UNDELIVERED.into_iter().collect();
    let retention = Retention::outcomes_in(wanted, window, WindowBy::Failure)
        .and_mail(&export.wanted_mail(options));
    for chunk_size in [1 << 20, 700, 97] {
        let retained = scan_text_in_chunks(log, chunk_size, retention.clone());
        let joined = join(&export, &joinable(&retained), options);
        assert_eq!(joined.export, expected.export, "chunk size {chunk_size}");
        assert_eq!(joined.quality, expected.quality, "chunk size {chunk_size}");
    }
}

#[test]
fn an_exports_mail_keeps_what_its_first_hop_lends_and_marks_outside_the_window() {
    let until = |hour| Window {
        since: None,
        until: Some(at(20, hour)),
    };
    // The row's reception is relay1's 08:00: more than the tolerance
    // before the export's 11:00, so it does not match.
    let export = "Ticket,To,Created at\nT-9,bob@example.net,2024-10-20T11:00:00Z\n";
    assert_export_joins_as_everything_kept(HANDED_OVER, export, &JoinOptions::default(), until(6));
    // The notification is no rival of the bounce to alice.
    let export = "Ticket,To,Created at\nT-7,alice@example.org,2024-10-20T10:45:00Z\n";
    let options = JoinOptions {
        tolerance: chrono::TimeDelta::hours(3),
        ..JoinOptions::default()
    };
    assert_export_joins_as_everything_kept(NOTIFIED, export, &options, until(10));
}

#[test]
fn an_exports_empty_recipient_keeps_refusals_without_one() {
    // A refusal after DATA at 15:11:23 has no recipient; the export's `<>`
    // is the empty address too. (The fixture has a line of invalid UTF-8.)
    let log = String::from_utf8_lossy(&fixture("exim/outcomes.log")).into_owned();
    let csv = "Ticket,To,Created at\nX-1,<>,2024-11-05T15:11:20Z\n";
    let export =
        TicketExport::from_reader(csv.as_bytes(), &ColumnOverrides::default(), Tz::UTC).unwrap();
    let options = JoinOptions::default();
    let everything = scan_text(&log, Retention::Everything);
    let rows = joinable(&everything);
    assert_eq!(
        join(&export, &rows, &options).export,
        [ExportStatus::RecipientTime]
    );
    assert_export_joins_as_everything_kept(&log, csv, &options, Window::default());
}

/// A log read in the wrong zone: the first message's lines say 08:10 to
/// 08:20, its queue id says 11:00 UTC, which is its row's reception.
const READ_IN_THE_WRONG_ZONE: &str = r#"2024-10-20 08:10:00 1t2TfE-00000009AAB-0001 == support+123@example.com R=dnslookup T=remote_smtp defer (-44) H=mx.example.com [198.51.100.5]: SMTP error from remote mail server after RCPT TO:<support+123@example.com>: 451 4.7.1 Try again later
2024-10-20 08:20:00 1t2TfE-00000009AAB-0001 => support+123@example.com R=dnslookup T=remote_smtp H=mx.example.com [198.51.100.5] C="250 OK"
2024-10-20 08:20:00 1t2TfE-00000009AAB-0001 Completed
2024-10-20 09:30:00 1t2W0O-00000009AAA-0001 <= bob@example.net H=mail.example.net [198.51.100.9] P=esmtps S=100 id=f1@example.net T="hello"
2024-10-20 09:30:01 1t2W0O-00000009AAA-0001 ** support+123@example.com R=dnslookup T=remote_smtp H=mx.example.com [198.51.100.5]: SMTP error from remote mail server after RCPT TO:<support+123@example.com>: 550 5.1.1 User unknown
2024-10-20 09:30:01 1t2W0O-00000009AAA-0001 Completed
"#;

#[test]
fn wanted_mail_is_kept_by_the_time_its_queue_id_says() {
    let after = at(20, 9) + chrono::TimeDelta::minutes(30);
    let recipient = &b"support+123@example.com"[..];
    let later = |log: &PartialLog| -> Vec<RecipientOutcome> {
        (outcomes(log).into_iter())
            .filter(|r| r.recipient == recipient && r.received_at.is_some_and(|t| t > after))
            .collect()
    };
    let expected = later(&scan_text(READ_IN_THE_WRONG_ZONE, Retention::Everything));
    assert_eq!(expected.len(), 1, "{expected:?}");
    let retention = undelivered().and_mail(&WantedMail::to_recipients([(recipient, after)]));
    for chunk_size in [1 << 20, 200] {
        let retained = scan_text_in_chunks(READ_IN_THE_WRONG_ZONE, chunk_size, retention.clone());
        assert_eq!(later(&retained), expected, "chunk size {chunk_size}");
    }
}

#[test]
fn a_window_ending_at_the_last_representable_time_does_not_panic() {
    // The margins around a window's ends (clock skew between hosts) must
    // not overflow them.
    let window = Window {
        since: Some(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        until: Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    };
    let wanted: OutcomeSet = Outcome::UNDELIVERED.into_iter().collect();
    let files: &[&str] = &["postfix/two-hosts/relay.log", "postfix/two-hosts/mx.log"];
    let everything = undelivered_rows(&scan(files, Tz::UTC, 1 << 20, undelivered()));
    for by in [WindowBy::Failure, WindowBy::Received] {
        let retention = Retention::outcomes_in(wanted, window, by);
        let rows = undelivered_rows(&scan(files, Tz::UTC, 1 << 20, retention));
        assert_eq!(rows, everything, "by {by:?}");
    }
}

#[test]
fn a_record_split_for_syslog_is_never_cut_between_chunks() {
    // Exim splits a long record into `[1/2]` and `[2/2]` lines; a chunk or
    // stream block that started at the second part would orphan it.
    let file = "exim/syslog.log";
    let whole = outcomes(&scan(&[file], Tz::UTC, 1 << 20, Retention::Everything));
    let bounced = |rows: &[RecipientOutcome]| {
        rows.iter().any(|r| {
            r.recipient == "m.rossi@example-mailhost.test" && r.outcome == Outcome::Bounced
        })
    };
    assert!(bounced(&whole));
    let data = fixture(file);
    for chunk_size in 1..data.len() + 1 {
        let chunked = outcomes(&scan(&[file], Tz::UTC, chunk_size, Retention::Everything));
        assert_eq!(chunked, whole, "chunks of {chunk_size} bytes");
        let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
        options.year = Some(2024);
        options.chunk_size = chunk_size;
        let streamed = outcomes(&scan_reader(&data[..], &options).expect("in memory"));
        assert_eq!(streamed, whole, "a stream in chunks of {chunk_size} bytes");
    }
}

/// Scans one log given as text, as one stretch, and settles it.
fn scan_text(log: &str, retention: Retention) -> PartialLog {
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    options.retention = retention;
    let mut log = scan_bytes(log.as_bytes(), &options);
    log.settle();
    log
}

/// Postfix reuses the short id 6B7C8D9E01: an unrelated message with that id
/// is delivered and removed at 09:29, then A is handed to the content
/// filter's new 6B7C8D9E01 at 09:30, which bounces. Everything links A to
/// the first, delivered segment (its last line is within 5 minutes of the
/// handoff); retention drops that segment, so A is linked to the bounced
/// one and the bounced row's reception time, sender and Message-ID change.
const REUSED_NEXT_HOP: &str = "\
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)
Oct 20 09:28:00 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 20 09:28:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<other@example.com>
Oct 20 09:28:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 09:29:00 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 09:29:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
Oct 20 09:30:00 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=localhost[127.0.0.1]
Oct 20 09:30:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 09:30:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 09:30:00 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1800, delays=1799/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 09:30:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 09:30:01 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 09:30:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
";

/// A is handed to the content filter as 6B7C8D9E01, which delivers it; a
/// day later Postfix reuses 6B7C8D9E01 for an unrelated message, which
/// bounces. Retention drops the delivered segment but keeps A's handoff
/// (its next hop's id is still in the input), and `HopLinks::link` takes
/// the first segment seen after the handoff: the unrelated bounce gets A's
/// sender, Message-ID and reception time.
const REUSED_A_DAY_LATER: &str = "\
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=localhost[127.0.0.1]
Oct 20 09:00:01 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 09:00:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 09:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 09:00:02 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 09:00:02 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
Oct 21 09:10:00 mx1 postfix/smtpd[200]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 21 09:10:00 mx1 postfix/cleanup[201]: 6B7C8D9E01: message-id=<other@example.com>
Oct 21 09:10:00 mx1 postfix/qmgr[202]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 21 09:10:01 mx1 postfix/smtp[205]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 21 09:10:01 mx1 postfix/qmgr[202]: 6B7C8D9E01: removed
";

/// The bounced rows of a log, with and without retention, which must agree.
fn bounces_of(log: &str) -> Vec<RecipientOutcome> {
    let bounced = |log: &PartialLog| outcomes_where(log, |outcome, _| outcome == Outcome::Bounced);
    let everything = bounced(&scan_text(log, Retention::Everything));
    assert_eq!(bounced(&scan_text(log, undelivered())), everything);
    everything
}

#[test]
fn a_next_hop_is_the_use_of_its_queue_id_alive_at_the_handoff() {
    let time = |day, hour, minute| {
        chrono::NaiveDate::from_ymd_opt(2024, 10, day)
            .and_then(|d| d.and_hms_opt(hour, minute, 0))
            .map(|t| t.and_utc())
    };
    // The id's earlier use ended a minute before the handoff: the bounce
    // is of the message handed over, received at 09:00 from alice.
    let rows = bounces_of(REUSED_NEXT_HOP);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].received_at,
            rows[0].sender.as_ref().unwrap().as_slice()
        ),
        (time(20, 9, 0), &b"alice@example.com"[..])
    );
    // The id's later use, a day after, is not the next hop, whether or not
    // the use at the handoff was kept: the bounce is carol's own.
    let rows = bounces_of(REUSED_A_DAY_LATER);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].received_at,
            rows[0].sender.as_ref().unwrap().as_slice()
        ),
        (time(21, 9, 10), &b"carol@example.com"[..])
    );
    assert_eq!(rows[0].message_id.as_ref().unwrap(), "other@example.com");
}

/// Scans one log given as text in chunks of `chunk_size` bytes, and
/// settles it.
fn scan_text_in_chunks(log: &str, chunk_size: usize, retention: Retention) -> PartialLog {
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    options.chunk_size = chunk_size;
    options.retention = retention;
    let mut log = scan_bytes(log.as_bytes(), &options);
    log.settle();
    log
}

/// The rows of `wanted` outcomes a counting report (`summary`, `timeline`)
/// counts in `window` ([`summary::in_window`]).
fn counted_rows(
    log: &PartialLog,
    wanted: OutcomeSet,
    window: &Window,
    by: WindowBy,
) -> Vec<RecipientOutcome> {
    outcomes_where(log, |outcome, _| wanted.contains(outcome))
        .into_iter()
        .filter(|row| summary::in_window(row, window, by))
        .collect()
}

/// Checks that a scan of `log` keeping what a report of `wanted` outcomes
/// in `window` needs gives that report as a scan that keeps everything,
/// for several chunk sizes; gives the number of rows compared.
fn agrees_with_everything(log: &str, wanted: OutcomeSet, window: Window, by: WindowBy) -> usize {
    let expected = counted_rows(&scan_text(log, Retention::Everything), wanted, &window, by);
    let retention = Retention::outcomes_in(wanted, window, by);
    for chunk_size in [1 << 20, 700, 300, 97] {
        let retained = scan_text_in_chunks(log, chunk_size, retention.clone());
        assert_eq!(
            counted_rows(&retained, wanted, &window, by),
            expected,
            "{wanted:?}, {window:?} by {by:?}, chunk size {chunk_size}"
        );
    }
    expected.len()
}

/// A message deferred by the content filter, then handed to it as
/// 6B7C8D9E01, which delivers it at once. With everything kept, the
/// handed-over recipient's row is the next hop's (delivered, not delayed);
/// a retention that drops the delivered next hop must not give the first
/// hop's recipient a row of its own (delayed) back.
const DELAYED_THEN_HANDED_OVER: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)
Oct 20 10:30:00 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=localhost[127.0.0.1]
Oct 20 10:30:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 10:30:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 10:30:00 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1800, delays=1799/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 10:30:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:30:01 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 10:30:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
";

#[test]
fn a_dropped_next_hop_still_represents_the_recipients_handed_to_it() {
    let outcomes = |list: &[Outcome]| list.iter().copied().collect::<OutcomeSet>();
    let all_time = Window::default();
    // The deferral is in this window, the next hop after it.
    let before_the_next_hop = Window {
        since: Some(at(20, 9)),
        until: Some(at(20, 10) + chrono::TimeDelta::minutes(15)),
    };
    let mut compared = 0;
    for wanted in [
        outcomes(&[Outcome::Delayed]),
        outcomes(&[Outcome::Delivered]),
        outcomes(&[Outcome::Delivered, Outcome::Delayed]),
        OutcomeSet::ALL,
    ] {
        for window in [all_time, before_the_next_hop] {
            for by in [WindowBy::Failure, WindowBy::Received] {
                compared += agrees_with_everything(DELAYED_THEN_HANDED_OVER, wanted, window, by);
            }
        }
    }
    assert!(compared > 0);
}

/// `undelivered --outcome delivered|delayed` and the counting reports keep
/// finished entries whose recipients were delivered: the hops their
/// recipients were handed to are still the ones that report them.
#[test]
fn delivered_and_delayed_reports_are_the_same_with_and_without_retention() {
    let outcomes = |list: &[Outcome]| list.iter().copied().collect::<OutcomeSet>();
    for (files, zone) in FIXTURES {
        let everything = scan(files, *zone, 1 << 20, Retention::Everything);
        let windows = [
            Window::default(),
            span_share(&everything, Some(20), Some(50)),
            span_share(&everything, Some(50), None),
        ];
        for wanted in [
            outcomes(&[Outcome::Delivered]),
            outcomes(&[Outcome::Delayed]),
            outcomes(&[Outcome::Delivered, Outcome::Delayed, Outcome::Bounced]),
        ] {
            for window in windows {
                for by in [WindowBy::Failure, WindowBy::Received] {
                    let expected = counted_rows(&everything, wanted, &window, by);
                    let retention = Retention::outcomes_in(wanted, window, by);
                    for chunk_size in [1 << 20, 500] {
                        let retained = scan(files, *zone, chunk_size, retention.clone());
                        assert_eq!(
                            counted_rows(&retained, wanted, &window, by),
                            expected,
                            "{files:?}, {wanted:?}, {window:?} by {by:?}, chunk size {chunk_size}"
                        );
                    }
                }
            }
        }
    }
}

/// mx1 hands a message to its content filter on the same host, which
/// queues it as 6B7C8D9E01 and delivers it.
const MX1_FILTERED: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=localhost[127.0.0.1]
Oct 20 10:00:01 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:00:02 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 10:00:02 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
";

/// mx2, read with mx1, happens to give an unrelated message the same
/// short id at the same time; it bounces.
const MX2_SAME_ID: &str = "\
Oct 20 10:00:30 mx2 postfix/smtpd[200]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 20 10:00:30 mx2 postfix/cleanup[201]: 6B7C8D9E01: message-id=<other@example.com>
Oct 20 10:00:30 mx2 postfix/qmgr[202]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 10:00:31 mx2 postfix/smtp[205]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 10:00:31 mx2 postfix/qmgr[202]: 6B7C8D9E01: removed
";

/// The bounced rows of two hosts' logs read together, with everything kept
/// and with the retention of an undelivered report, for several chunk
/// sizes; they must agree.
fn bounces_of_two_hosts(first: &str, second: &str) -> Vec<RecipientOutcome> {
    let bounced = |log: &PartialLog| outcomes_where(log, |outcome, _| outcome == Outcome::Bounced);
    let scan_both = |chunk_size, retention| {
        let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
        options.year = Some(2024);
        options.chunk_size = chunk_size;
        options.retention = retention;
        let mut log =
            scan_bytes(first.as_bytes(), &options).merge(scan_bytes(second.as_bytes(), &options));
        log.settle();
        log
    };
    let everything = bounced(&scan_both(1 << 20, Retention::Everything));
    for chunk_size in [1 << 20, 300, 97] {
        assert_eq!(
            bounced(&scan_both(chunk_size, undelivered())),
            everything,
            "chunk size {chunk_size}"
        );
    }
    everything
}

/// The bounce on mx2 is carol's own: mx1's recipient went to the
/// 6B7C8D9E01 on mx1. Dropping mx1's (delivered) entry must not let the
/// link fall back to the only other entry with that id, on mx2.
#[test]
fn a_next_hop_dropped_on_its_host_is_not_looked_for_on_another() {
    let rows = bounces_of_two_hosts(MX1_FILTERED, MX2_SAME_ID);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0].host.as_slice(),
            rows[0].sender.as_ref().unwrap().as_slice()
        ),
        (&b"mx2"[..], &b"carol@example.com"[..])
    );
    assert_eq!(rows[0].message_id.as_ref().unwrap(), "other@example.com");
}

/// mx1's lines about its first hop only: the filter's entry, on mx1, is not
/// in the input (the file ends, or its lines were filtered out), and its
/// bounce notification neither.
const MX1_FIRST_HOPS_ONLY: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:00:10 mx1 postfix/smtpd[100]: 1A2B3C4D5F: client=app.example.com[192.0.2.10]
Oct 20 10:00:10 mx1 postfix/cleanup[101]: 1A2B3C4D5F: message-id=<m2@example.com>
Oct 20 10:00:10 mx1 postfix/qmgr[102]: 1A2B3C4D5F: from=<erin@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 10:00:11 mx1 postfix/smtp[103]: 1A2B3C4D5F: to=<frank@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 10:00:11 mx1 postfix/bounce[104]: 1A2B3C4D5F: sender non-delivery notification: 3C4D5E6F7A
Oct 20 10:00:11 mx1 postfix/qmgr[102]: 1A2B3C4D5F: removed
";

/// mx2 gives unrelated messages the ids of mx1's filter entry and bounce.
const MX2_SAME_IDS: &str = "\
Oct 20 10:00:30 mx2 postfix/smtpd[200]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 20 10:00:30 mx2 postfix/cleanup[201]: 6B7C8D9E01: message-id=<other@example.com>
Oct 20 10:00:30 mx2 postfix/qmgr[202]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 10:00:31 mx2 postfix/smtp[205]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 10:00:31 mx2 postfix/qmgr[202]: 6B7C8D9E01: removed
Oct 20 10:00:40 mx2 postfix/smtpd[200]: 3C4D5E6F7A: client=other.example.com[192.0.2.11]
Oct 20 10:00:40 mx2 postfix/cleanup[201]: 3C4D5E6F7A: message-id=<other2@example.com>
Oct 20 10:00:40 mx2 postfix/qmgr[202]: 3C4D5E6F7A: from=<grace@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 10:00:41 mx2 postfix/smtp[205]: 3C4D5E6F7A: to=<heidi@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 10:00:41 mx2 postfix/qmgr[202]: 3C4D5E6F7A: removed
";

/// A message handed to a content filter over the loopback interface, and a
/// notification (made by the bounce daemon of the host that logs it), stay
/// on their host: when their entry is not in the input, the entry with the
/// same id on another host is not it.
#[test]
fn a_hop_on_the_same_host_is_not_looked_for_on_another() {
    let rows = bounces_of_two_hosts(MX1_FIRST_HOPS_ONLY, MX2_SAME_IDS);
    let mx2: Vec<_> = rows.iter().filter(|r| r.host == "mx2").collect();
    assert_eq!(mx2.len(), 2, "{rows:?}");
    for (row, sender) in mx2.iter().zip(["carol@example.com", "grace@example.com"]) {
        assert_eq!(row.sender.as_ref().unwrap(), sender, "{row:?}");
        assert!(!row.is_notification, "{row:?}");
    }
}

/// relay1 hands a message to mx1 at 08:00:01 (`queued as 4F5A6B7C8D`).
const RELAY1_EARLY: &str = "\
Oct 20 08:00:00 relay1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 08:00:00 relay1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 08:00:00 relay1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 08:00:01 relay1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx1.example.com[198.51.100.5]:25, delay=1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4F5A6B7C8D)
Oct 20 08:00:01 relay1 postfix/qmgr[102]: 1A2B3C4D5E: removed
";

/// mx1's log begins half an hour after it received the message: its first
/// line of the entry is a deferral, and its first reception line is the
/// queue manager's `from=` when it retries at 11:00.
const MX1_LOG_BEGINS_LATER: &str = "\
Oct 20 08:30:00 mx1 postfix/smtp[203]: 4F5A6B7C8D: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1800, delays=1799/0/0/1, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 11:00:00 mx1 postfix/qmgr[202]: 4F5A6B7C8D: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 11:00:01 mx1 postfix/smtp[203]: 4F5A6B7C8D: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=10801, delays=10800/0/0/1, dsn=5.7.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.7.1 Rejected (in reply to RCPT TO command))
Oct 20 11:00:01 mx1 postfix/qmgr[202]: 4F5A6B7C8D: removed
";

/// By reception, the bounce on mx1 was received at 08:00, by relay1: not
/// in a window from 10:00, though mx1's own first reception line is at
/// 11:00. Dropping relay1's entry, handed over long before the window,
/// must not make the row pass for received in it.
#[test]
fn a_next_hop_whose_log_begins_later_keeps_its_first_hops_reception_time() {
    let log = format!("{RELAY1_EARLY}{MX1_LOG_BEGINS_LATER}");
    let everything = scan_text(&log, Retention::Everything);
    let rows = undelivered_rows(&everything);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].received_at, Some(at(20, 8)));
    let mut compared = 0;
    for (since, until) in [(10, 12), (7, 9), (9, 12), (11, 13)] {
        let window = Window {
            since: Some(at(20, since)),
            until: Some(at(20, until)),
        };
        for by in [WindowBy::Received, WindowBy::Failure] {
            let wanted = Outcome::UNDELIVERED.into_iter().collect();
            compared += agrees_with_everything(&log, wanted, window, by);
            compared += agrees_with_everything(&log, OutcomeSet::ALL, window, by);
        }
    }
    assert!(compared > 0);
}

/// A is handed to the content filter as 6B7C8D9E01 at 09:30:00, which
/// delivers it; two minutes later Postfix reuses 6B7C8D9E01 for an
/// unrelated message, which bounces. Both uses are alive within the
/// margin of the handoff; the one opened nearest to it is A's next hop,
/// also when the retention dropped it for being delivered.
const REUSED_MINUTES_LATER: &str = "\
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:30:00 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=localhost[127.0.0.1]
Oct 20 09:30:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 09:30:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1300, nrcpt=1 (queue active)
Oct 20 09:30:00 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1800, delays=1799/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6B7C8D9E01)
Oct 20 09:30:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 09:30:01 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 09:30:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
Oct 20 09:32:00 mx1 postfix/smtpd[200]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 20 09:32:00 mx1 postfix/cleanup[201]: 6B7C8D9E01: message-id=<other@example.com>
Oct 20 09:32:00 mx1 postfix/qmgr[202]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 09:32:01 mx1 postfix/smtp[205]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 09:32:01 mx1 postfix/qmgr[202]: 6B7C8D9E01: removed
";

#[test]
fn a_dropped_use_of_a_reused_id_is_still_the_nearest_next_hop() {
    let rows = bounces_of(REUSED_MINUTES_LATER);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].sender.as_ref().unwrap(), "carol@example.com");
    assert_eq!(rows[0].message_id.as_ref().unwrap(), "other@example.com");
}

/// A bounces at 09:00:01, and Postfix queues its non-delivery notification
/// as 3C4D5E6F7A, which bounces too. At 15:00 it reuses 3C4D5E6F7A for
/// carol's unrelated message, which bounces. Only the first use is a
/// notification.
const NOTIFICATION_ID_REUSED_LATER: &str = "\
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 09:00:01 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<20241020090001.3C4D5E6F7A@mx1.example.com>
Oct 20 09:00:01 mx1 postfix/bounce[104]: 1A2B3C4D5E: sender non-delivery notification: 3C4D5E6F7A
Oct 20 09:00:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<>, size=2000, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 09:00:02 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<alice@example.com>, relay=app.example.com[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=5.0.0, status=bounced (host app.example.com[192.0.2.10] said: 550 5.0.0 Mailbox unavailable (in reply to RCPT TO command))
Oct 20 09:00:02 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
Oct 20 15:00:00 mx1 postfix/smtpd[200]: 3C4D5E6F7A: client=other.example.com[192.0.2.11]
Oct 20 15:00:00 mx1 postfix/cleanup[201]: 3C4D5E6F7A: message-id=<other@example.com>
Oct 20 15:00:00 mx1 postfix/qmgr[202]: 3C4D5E6F7A: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 15:00:01 mx1 postfix/smtp[205]: 3C4D5E6F7A: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 15:00:01 mx1 postfix/qmgr[202]: 3C4D5E6F7A: removed
";

/// The same id used the other way round: carol's unrelated message bounces
/// at 03:00, and at 09:00 Postfix reuses 3C4D5E6F7A for the notification
/// of A, a message delayed then delivered, which bounces.
const NOTIFICATION_ID_USED_EARLIER: &str = "\
Oct 20 03:00:00 mx1 postfix/smtpd[200]: 3C4D5E6F7A: client=other.example.com[192.0.2.11]
Oct 20 03:00:00 mx1 postfix/cleanup[201]: 3C4D5E6F7A: message-id=<other@example.com>
Oct 20 03:00:00 mx1 postfix/qmgr[202]: 3C4D5E6F7A: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 03:00:01 mx1 postfix/smtp[205]: 3C4D5E6F7A: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 No such user (in reply to RCPT TO command))
Oct 20 03:00:01 mx1 postfix/qmgr[202]: 3C4D5E6F7A: removed
Oct 20 05:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 05:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 05:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 05:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 09:00:01 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<20241020090001.3C4D5E6F7A@mx1.example.com>
Oct 20 09:00:01 mx1 postfix/bounce[104]: 1A2B3C4D5E: sender delay notification: 3C4D5E6F7A
Oct 20 09:00:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<>, size=2000, nrcpt=1 (queue active)
Oct 20 09:00:02 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<alice@example.com>, relay=app.example.com[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=5.0.0, status=bounced (host app.example.com[192.0.2.10] said: 550 5.0.0 Mailbox unavailable (in reply to RCPT TO command))
Oct 20 09:00:02 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=18001, delays=18000/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
";

/// A notification is marked as such through the entry that caused it, and
/// of a reused queue id only the use alive when the notification was made
/// is it: the other use is the sender's own mail, with everything kept as
/// with any retention and window.
#[test]
fn only_the_use_of_a_reused_id_alive_at_the_notification_is_marked() {
    let hours = |since, until| Window {
        since: Some(at(20, since)),
        until: Some(at(20, until)),
    };
    for log in [NOTIFICATION_ID_REUSED_LATER, NOTIFICATION_ID_USED_EARLIER] {
        let rows = undelivered_rows(&scan_text(log, Retention::Everything));
        // alice gets the notification; dan was carol's recipient.
        let marks: Vec<(&[u8], bool)> = rows
            .iter()
            .filter(|row| row.queue_id == "3C4D5E6F7A")
            .map(|row| (row.recipient.as_slice(), row.is_notification))
            .collect();
        assert_eq!(marks.len(), 2, "{rows:?}");
        for (recipient, is_notification) in marks {
            assert_eq!(
                is_notification,
                recipient == b"alice@example.com",
                "{}: {rows:?}",
                recipient.as_bstr()
            );
        }
        let mut compared = 0;
        for window in [
            Window::default(),
            hours(2, 4),
            hours(8, 11),
            hours(14, 16),
            hours(12, 23),
        ] {
            for by in [WindowBy::Received, WindowBy::Failure] {
                let wanted = Outcome::UNDELIVERED.into_iter().collect();
                compared += agrees_with_everything(log, wanted, window, by);
                compared += agrees_with_everything(log, OutcomeSet::ALL, window, by);
            }
        }
        assert!(compared > 0);
    }
}

/// Damaged input: the `removed` lines of alice's deferred 6B7C8D9E01 and
/// of grace's 7C8D9E0F12, whose recipient was never logged, are lost; at
/// 10:00 Postfix reuses the ids for carol's and heidi's messages, which are
/// delivered and removed. In between, an unrelated message is delivered.
const REUSED_WITHOUT_REMOVED: &str = "\
Oct 20 08:59:00 mx1 postfix/pickup[99]: 7C8D9E0F12: uid=1000 from=<grace@example.com>
Oct 20 08:59:00 mx1 postfix/cleanup[101]: 7C8D9E0F12: message-id=<m0@example.com>
Oct 20 08:59:00 mx1 postfix/qmgr[102]: 7C8D9E0F12: from=<grace@example.com>, size=500, nrcpt=1 (queue active)
Oct 20 09:00:00 mx1 postfix/smtpd[100]: 6B7C8D9E01: client=app.example.com[192.0.2.10]
Oct 20 09:00:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<m1@example.com>
Oct 20 09:00:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<alice@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:00:01 mx1 postfix/smtp[103]: 6B7C8D9E01: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.7] said: 450 4.7.1 Try again later (in reply to RCPT TO command))
Oct 20 09:40:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 09:40:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m2@example.com>
Oct 20 09:40:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<erin@example.com>, size=1234, nrcpt=1 (queue active)
Oct 20 09:40:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<frank@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 09:40:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:00:00 mx1 postfix/smtpd[104]: 6B7C8D9E01: client=other.example.com[192.0.2.11]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 6B7C8D9E01: message-id=<other@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 6B7C8D9E01: from=<carol@example.com>, size=99, nrcpt=1 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[105]: 6B7C8D9E01: to=<dan@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 6B7C8D9E01: removed
Oct 20 10:00:02 mx1 postfix/pickup[99]: 7C8D9E0F12: uid=1001 from=<heidi@example.com>
Oct 20 10:00:02 mx1 postfix/cleanup[101]: 7C8D9E0F12: message-id=<m3@example.com>
Oct 20 10:00:02 mx1 postfix/qmgr[102]: 7C8D9E0F12: from=<heidi@example.com>, size=500, nrcpt=1 (queue active)
Oct 20 10:00:03 mx1 postfix/local[106]: 7C8D9E0F12: to=<ivan@mx1.example.com>, relay=local, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (delivered to mailbox)
Oct 20 10:00:03 mx1 postfix/qmgr[102]: 7C8D9E0F12: removed
";

/// An entry never closed (its `removed` lost, then its id reused) is the
/// same whether the input is read in one stretch or in chunks that are
/// merged, wherever the chunks are cut, and whatever the retention drops.
#[test]
fn an_entry_never_closed_is_the_same_in_chunks_as_in_one_stretch() {
    let log = REUSED_WITHOUT_REMOVED;
    let everything = scan_text(log, Retention::Everything);
    // The new uses are messages of their own, not more of the old ones,
    // which are left pending.
    let all = outcomes(&everything);
    for (recipient, sender, outcome) in [
        ("dan@example.net", "carol@example.com", Outcome::Delivered),
        (
            "ivan@mx1.example.com",
            "heidi@example.com",
            Outcome::Delivered,
        ),
        ("bob@example.net", "alice@example.com", Outcome::Pending),
    ] {
        let row = all.iter().find(|r| r.recipient == recipient);
        let row = row.unwrap_or_else(|| panic!("{recipient}: {all:?}"));
        assert_eq!(row.sender.as_ref().unwrap(), sender, "{row:?}");
        assert_eq!(row.outcome, outcome, "{row:?}");
    }
    for wanted in [
        Outcome::UNDELIVERED.into_iter().collect(),
        OutcomeSet::ALL,
        OutcomeSet::NONE,
    ] {
        let retention = Retention::outcomes(wanted);
        let rows = |log: &PartialLog| outcomes_where(log, |outcome, _| wanted.contains(outcome));
        let sequential = scan_text_in_chunks(log, 1 << 30, retention.clone());
        assert_eq!(rows(&sequential), rows(&everything), "{wanted:?}");
        for chunk_size in 1..log.len() + 1 {
            let chunked = scan_text_in_chunks(log, chunk_size, retention.clone());
            assert_eq!(
                rows(&chunked),
                rows(&sequential),
                "{wanted:?}, chunk size {chunk_size}"
            );
            assert_eq!(
                records(&chunked),
                records(&sequential),
                "{wanted:?}, chunk size {chunk_size}"
            );
        }
    }
}

/// A read whose failures need mail it did not keep is not the last one
/// (`tickets` on a file still being written): `covers` tells.
#[test]
fn wanted_mail_covers_only_what_it_keeps() {
    let (nine, ten) = (at(20, 9), at(20, 10));
    let from_nine = WantedMail::to_recipients([(&b"Bob@example.net"[..], nine)]);
    let from_ten = WantedMail::to_recipients([(&b"bob@example.net"[..], ten)]);
    assert!(from_nine.covers(&from_ten));
    assert!(!from_ten.covers(&from_nine));
    assert!(from_ten.covers(&WantedMail::default()));
    let with_id = from_ten.clone().and_message_ids(["m1@example.com"]);
    assert!(!from_nine.covers(&with_id));
    assert!(from_nine.clone().union(&with_id).covers(&with_id));
    let carol = WantedMail::to_recipients([(&b"carol@example.net"[..], ten)]);
    assert!(!from_nine.covers(&carol));
}
