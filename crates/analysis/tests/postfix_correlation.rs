//! Postfix correlation: hops through a content filter are reported once,
//! bounce notifications are not the sender's mail, an expiry carries the
//! last deferral's reason, reused short queue ids are separate messages, and
//! NOQUEUE rejects become rejected rows.

use mailtrail_analysis::{
    Outcome, RecipientOutcome, ScanOptions, outcomes, scan_bytes, scan_reader,
};
use mailtrail_parse::{ParserOptions, Tz};

const LOG: &str = "\
Oct 20 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=app.example.com[192.0.2.10]
Oct 20 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.com>
Oct 20 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<alice@example.com>, size=1234, nrcpt=2 (queue active)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6F7E8D9C0B)
Oct 20 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<carol@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6F7E8D9C0B)
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Oct 20 10:00:01 mx1 postfix/smtpd[104]: 6F7E8D9C0B: client=localhost[127.0.0.1]
Oct 20 10:00:01 mx1 postfix/cleanup[101]: 6F7E8D9C0B: message-id=<m1@example.com>
Oct 20 10:00:01 mx1 postfix/qmgr[102]: 6F7E8D9C0B: from=<alice@example.com>, size=1500, nrcpt=2 (queue active)
Oct 20 10:00:02 mx1 postfix/smtp[105]: 6F7E8D9C0B: to=<bob@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host mx.example.net[198.51.100.7] said: 550 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org (in reply to RCPT TO command))
Oct 20 10:00:02 mx1 postfix/smtp[106]: 6F7E8D9C0B: to=<carol@example.org>, relay=mx.example.org[198.51.100.8]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.4.1, status=deferred (connect to mx.example.org[198.51.100.8]:25: Connection timed out)
Oct 20 10:00:02 mx1 postfix/bounce[107]: 6F7E8D9C0B: sender non-delivery notification: 7A7A7A7A7A
Oct 20 10:00:02 mx1 postfix/cleanup[101]: 7A7A7A7A7A: message-id=<20241020100002.7A7A7A7A7A@mx1.example.com>
Oct 20 10:00:02 mx1 postfix/qmgr[102]: 7A7A7A7A7A: from=<>, size=3000, nrcpt=1 (queue active)
Oct 20 10:00:03 mx1 postfix/local[108]: 7A7A7A7A7A: to=<alice@example.com>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Oct 20 10:00:03 mx1 postfix/qmgr[102]: 7A7A7A7A7A: removed
Oct 21 10:30:02 mx1 postfix/smtp[106]: 6F7E8D9C0B: to=<carol@example.org>, relay=mx.example.org[198.51.100.8]:25, delay=88000, delays=88000/0/0.5/0.5, dsn=4.7.0, status=deferred (host mx.example.org[198.51.100.8] said: 421 4.7.0 Try again later (in reply to MAIL FROM command))
Oct 25 10:00:05 mx1 postfix/qmgr[102]: 6F7E8D9C0B: from=<alice@example.com>, status=expired, returned to sender
Oct 25 10:00:05 mx1 postfix/qmgr[102]: 6F7E8D9C0B: removed
Oct 25 11:00:00 mx1 postfix/pickup[109]: 1A2B3C4D5E: uid=1000 from=<dave@example.com>
Oct 25 11:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m2@example.com>
Oct 25 11:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<dave@example.com>, size=500, nrcpt=1 (queue active)
Oct 25 11:00:01 mx1 postfix/smtp[110]: 1A2B3C4D5E: to=<erin@example.com>, relay=mx.example.com[198.51.100.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.example.com[198.51.100.9] said: 450 4.7.1 greylisted, try again (in reply to RCPT TO command))
Oct 25 11:05:00 mx1 postfix/smtpd[111]: NOQUEUE: reject: RCPT from unknown[203.0.113.50]: 554 5.7.1 <spam@example.com>: Relay access denied; from=<x@example.biz> to=<spam@example.com> proto=ESMTP helo=<bad>
";

fn options(chunk_size: usize) -> ScanOptions {
    let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
    options.year = Some(2024);
    options.chunk_size = chunk_size;
    options
}

fn rows() -> Vec<RecipientOutcome> {
    outcomes(&scan_bytes(LOG.as_bytes(), &options(1 << 20)))
}

fn find<'a>(rows: &'a [RecipientOutcome], queue_id: &str, recipient: &str) -> &'a RecipientOutcome {
    rows.iter()
        .find(|r| r.queue_id == queue_id && r.recipient == recipient)
        .unwrap_or_else(|| panic!("no row {queue_id} {recipient}"))
}

#[test]
fn content_filter_hop_is_reported_once_with_the_last_hops_outcome() {
    let rows = rows();
    assert!(
        !rows.iter().any(|r| r.queue_id == "1A2B3C4D5E"
            && (r.recipient == "bob@example.net" || r.recipient == "carol@example.org")),
        "the hop into the filter is not a separate row"
    );
    let bob = find(&rows, "6F7E8D9C0B", "bob@example.net");
    assert_eq!(bob.outcome, Outcome::Bounced);
    assert_eq!(bob.reply().code, Some(550));
    assert_eq!(bob.reply().enhanced.unwrap().to_string(), "5.7.1");
    // The first hop's reception time and sender.
    assert_eq!(
        bob.received_at.unwrap().to_rfc3339(),
        "2024-10-20T10:00:00+00:00"
    );
    assert_eq!(bob.sender.as_ref().unwrap(), "alice@example.com");
    assert_eq!(bob.message_id.as_ref().unwrap(), "m1@example.com");
}

#[test]
fn expiry_carries_the_last_deferral_reason() {
    let rows = rows();
    let carol = find(&rows, "6F7E8D9C0B", "carol@example.org");
    assert_eq!(carol.outcome, Outcome::Expired);
    assert_eq!(carol.reply().code, Some(421));
    assert_eq!(carol.attempts, 2);
    assert_eq!(
        carol.first_failure_at.unwrap().to_rfc3339(),
        "2024-10-20T10:00:02+00:00"
    );
    assert!(
        carol
            .failure_times
            .iter()
            .any(|t| t.to_rfc3339() == "2024-10-25T10:00:05+00:00"),
        "the expiry is a failure time"
    );
}

#[test]
fn bounce_notification_is_marked() {
    let rows = rows();
    let ndr = find(&rows, "7A7A7A7A7A", "alice@example.com");
    assert!(ndr.is_notification);
    assert_eq!(ndr.outcome, Outcome::Delivered);
    assert!(!find(&rows, "6F7E8D9C0B", "bob@example.net").is_notification);
}

#[test]
fn reused_short_queue_id_is_a_new_message() {
    let rows = rows();
    let erin = find(&rows, "1A2B3C4D5E", "erin@example.com");
    assert_eq!(erin.outcome, Outcome::Pending);
    assert_eq!(erin.sender.as_ref().unwrap(), "dave@example.com");
    assert_eq!(erin.message_id.as_ref().unwrap(), "m2@example.com");
}

#[test]
fn noqueue_reject_is_a_rejected_row() {
    let rows = rows();
    let rejected = find(&rows, "", "spam@example.com");
    assert_eq!(rejected.outcome, Outcome::Rejected);
    assert_eq!(rejected.reply().code, Some(554));
    assert_eq!(rows.len(), 5, "{rows:#?}");
}

#[test]
fn chunked_and_streamed_scans_agree_with_the_whole() {
    let whole = rows();
    for chunk in [1, 50, 333, 4096] {
        assert_eq!(
            outcomes(&scan_bytes(LOG.as_bytes(), &options(chunk))),
            whole,
            "chunk {chunk}"
        );
        assert_eq!(
            outcomes(&scan_reader(LOG.as_bytes(), &options(chunk)).unwrap()),
            whole,
            "stream block {chunk}"
        );
    }
}

#[test]
fn expiry_covers_a_recipient_only_ever_suspended() {
    let log = "\
Oct 19 00:00:00 smtp1 postfix/pickup[101]: ABCDEF123456: uid=0 from=<root>
Oct 19 00:00:00 smtp1 postfix/qmgr[102]: ABCDEF123456: from=<root@example.com>, size=300, nrcpt=1 (queue active)
Oct 19 00:00:01 smtp1 postfix/error[103]: ABCDEF123456: to=<a@example-dead.test>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.example-dead.test[192.0.2.200]:25: Connection timed out)
Oct 20 00:05:01 smtp1 postfix/qmgr[102]: ABCDEF123456: from=<root@example.com>, status=expired, returned to sender
Oct 20 00:05:01 smtp1 postfix/qmgr[102]: ABCDEF123456: removed
";
    let rows = outcomes(&scan_bytes(log.as_bytes(), &options(1 << 20)));
    assert_eq!(
        find(&rows, "ABCDEF123456", "a@example-dead.test").outcome,
        Outcome::Expired
    );
}
