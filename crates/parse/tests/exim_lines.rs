//! The Exim grammar on one line of every shape it must understand.
//! Snapshots hold the parsed events; each was reviewed field by field.

use mailtrail_parse::{AttemptStatus, EventKind, LineParser, Parsed, ParserOptions, Tz};

fn parse(line: &str) -> String {
    let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
    parser.set_year(2024);
    format!("{:#?}", parser.parse(line.as_bytes()))
}

macro_rules! snapshot {
    ($name:ident, $line:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(parse($line));
        }
    };
}

// Arrivals.
snapshot!(
    arrival_full,
    r#"2016-03-14 00:01:04 +0000 1afFwW-0004Wp-4f <= root@w2.example.net H=out1.example.org [2001:db8::2:2:1000] I=[2001:db8::2:4:4000]:25 P=esmtps X=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes DN="/C=GB/CN=backup.example.org" S=1900 id=E1afFwV-0001zA-46@w2.example.net T="Re: \"quoted\" Caf\303\251" from <root@w2.example.net> for sysadmin@example.net ops@example.net"#
);
snapshot!(
    arrival_bounce_reference,
    "2020-06-19 04:54:02 1jmFas-0004f6-EB <= <> R=1jmFYj-00039V-QX U=Debian-exim P=local S=8656"
);
snapshot!(
    arrival_helo_and_port_with_auth,
    "2024-06-02 05:54:33.470 +0200 [46483] 1sDcIh-000000004YY-3wAT <= sender@example.com H=mail.example.com ([mail.example.com]) [192.0.2.123]:1337 P=esmtpsa A=dovecot_login:sender@example.com S=1204 id=abc@example.com"
);

// Deliveries.
snapshot!(
    delivery_with_confirmation,
    r#"2024-06-02 05:54:33 +0200 1sDcIh-000000004YY-3wAT => mail@example.com F=<sender@example.com> R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]:25* X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 CV=no DN="/CN=*.example.com" C="250 2.0.0 Ok: queued as 8512E1767A67""#
);
snapshot!(
    delivery_alias_with_parent,
    "2016-03-14 00:01:04 1afFwW-0004Wp-4f => /mail/example.net/sysadmin/Maildir/ (sysadmin@example.net) <sysadmin@example.net> R=localuser T=maildir_delivery"
);
snapshot!(
    delivery_pipe_with_spaces,
    "2016-03-14 00:01:04 1afFwW-0004Wp-4f => |/usr/bin/listmgr-queue listmgr <listmgr@example.org> R=lists T=address_pipe"
);

// Deferrals.
snapshot!(
    deferral_errno,
    "2020-06-19 04:54:02 1jmFYj-00039V-QX == bob@example.org R=dnslookup T=remote_smtp defer (110): Connection timed out"
);
snapshot!(
    deferral_smtp_4xx,
    "2024-10-20 11:42:21 1t2UKC-0000000738v-1Zz9 == userx@example.com R=all T=smtp defer (-44) H=mx.example.com [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<userx@example.com>: 452 4.2.2 Mailbox full"
);
snapshot!(
    deferral_strerror_then_host,
    "2024-10-20 11:42:21 1t2UKC-0000000738v-1Zz9 == e@example.com R=client T=send_to_server defer (110): Connection timed out H=mx.example.com [192.0.2.9]: SMTP timeout after RCPT TO:<f@example.com>"
);
snapshot!(
    deferral_retry_not_reached,
    "2021-05-04 13:37:00 +0100 1h43YE-0005F1-ND == mail@example.net R=dnslookup T=remote_smtp defer (-53): retry time not reached for any host for 'example.net'"
);
snapshot!(
    deferral_host_in_text_pre_486,
    "2016-06-03 11:03:18 [13879] 1b8lwj-0003bo-6W == authority@example.com R=dnslookup T=remote_smtp defer (-44): SMTP error from remote mail server after RCPT TO:<authority@example.com>: host inbound.example.net [192.0.2.211]: 451 Internal resource temporarily unavailable"
);

// Failures in the three historical shapes, and expiries.
snapshot!(
    failure_glued_separator_incident,
    "2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 ** xxxx@example.com R=dnslookup T=remote_smtp H=example-com.mail.protection.outlook.com [52.101.68.36] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: SMTP error from remote mail server after RCPT TO:<xxxx@example.com>: 550 5.7.1 Service unavailable, Client host [198.51.100.243] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/198.51.100.243 AS(1440)"
);
snapshot!(
    failure_spaced_separator_499,
    "2025-09-01 10:00:00 1t2UKC-0000000738v-1Zz9 ** baduser@example.com R=client T=send_to_server H=mx.example.com [192.0.2.4] : SMTP error from remote mail server after end of data: 550 5.7.1 Message rejected as spam"
);
snapshot!(
    failure_host_in_text_pre_486,
    "2014-01-01 10:00:00 10HmaX-0005vi-00 ** userx@example.org R=others T=smtp: SMTP error from remote mail server after MAIL FROM:<caller@example.com>: host 127.0.0.1 [127.0.0.1]: 550 Don't like that sender"
);
snapshot!(
    failure_dn_glued,
    r#"2020-06-19 10:32:57 [789] 1jmKso-0009d4-Uf ** molly@example.org R=dnslookup T=remote_smtp H=mail.example.org [192.0.2.3] X=TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256 CV=yes DN="C=US,ST=Fake,L=Lost,O=Example,CN=mail.example.org": SMTP error from remote mail server after end of data: 554 5.2.0 Recipient Mailbox Full [504]"#
);
snapshot!(
    failure_local_router,
    "2021-05-04 13:37:00 +0100 1gpXfR-0040X2-94 ** mail@example.net R=virtual_aliases: No Such User Here"
);
snapshot!(
    failure_local_with_trailing_dt,
    "2025-02-14 18:12:33.501 [47012] 1tixMn-00000000C5j-1wRa ** test@example.ru F=<root@example.ru> P=<root@example.ru> R=dovecot_user T=dovecot_delivery: Child process of dovecot_delivery transport returned 127 DT=0.004s"
);
snapshot!(
    expiry_retry_timeout,
    "2020-06-19 04:54:02 1jmFYj-00039V-QX ** bob@example.org: retry timeout exceeded"
);
snapshot!(
    expiry_failing_for_long_time,
    "2025-09-01 10:00:00 10HmaX-000000005vi-0000 ** userx@example.com R=r1 T=t1 : all hosts for 'example.com' have been failing for a long time (and retry time not reached)"
);

// Message lines without a flag.
snapshot!(
    lifecycle_lines,
    "2020-06-12 00:54:05 1jjKqU-00010G-40 Frozen (delivery error message)"
);
snapshot!(
    error_ignored,
    "1999-03-02 09:44:33 10HmaY-000000005vi-0000 unknown@example.com: error ignored"
);

// Rejections.
snapshot!(
    rejection_rcpt_no_id,
    "2022-06-29 14:34:58 H=imfo.example.biz [192.0.2.4]:35328 X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no F=<jack@example.biz> rejected RCPT <sales@example.com.au>: No Such User Here"
);
snapshot!(
    rejection_temporary,
    "2021-05-04 13:37:00 +0100 H=(mail.example.org) [192.0.2.123]:1337 F=<mail@example.org> temporarily rejected RCPT <mail@example.com>: Deferred due to greylisting."
);
snapshot!(
    rejection_after_data_with_id,
    "2024-06-02 05:50:20 +0200 1sDcEe-000000004BC-0oYZ H=example.com [192.0.2.1] X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no F=<sender@example.com> A=fixed_cram:foo rejected after DATA: spam"
);

#[test]
fn every_message_line_kind() {
    let kinds = [
        ("Completed", "Completed"),
        ("Completed QT=2s", "Completed"),
        ("Message is frozen", "StillFrozen"),
        ("frozen by root", "Frozen"),
        ("Unfrozen by errmsg timer", "Unfrozen"),
        ("removed by root", "RemovedByAdmin"),
        ("cancelled by timeout_frozen_after", "Cancelled"),
    ];
    for (text, kind) in kinds {
        let line = format!("2024-01-01 00:00:00 10HmaX-000000005vi-0000 {text}");
        let parsed = parse(&line);
        assert!(parsed.contains(kind), "{text}: {parsed}");
    }
}

#[test]
fn noise_and_junk_are_classified_not_dropped() {
    let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
    let cases: [(&[u8], &str); 8] = [
        (b"2024-01-01 00:00:00 Start queue run: pid=12762", "irrelevant"),
        (b"2024-01-01 00:00:00 SMTP connection from [127.0.0.1]:41019 I=[127.0.0.1]:25 (TCP/IP connection count = 1)", "irrelevant"),
        (b"2024-01-01 00:00:00 10HmaX-000000005vi-0000 H=mx.example.com [192.0.2.1] Connection timed out", "irrelevant"),
        (b"   Suggested action: use keep_environment.", "irrelevant"),
        (b"\xff\xfe garbage \x00 bytes", "unrecognised"),
        (b"2024-01-01 00:0", "unrecognised"),
        (b"2024-13-01 00:00:00 10HmaX-000000005vi-0000 Completed", "unrecognised"),
        (b"", "irrelevant"),
    ];
    let mut classes = Vec::new();
    for (line, _) in &cases {
        classes.push(match parser.parse(line) {
            Parsed::Event(_) => "event",
            Parsed::Irrelevant(_) => "irrelevant",
            Parsed::Unrecognised(_) => "unrecognised",
        });
    }
    let expected: Vec<&str> = cases.iter().map(|c| c.1).collect();
    assert_eq!(classes, expected);
}

#[test]
fn every_truncation_of_every_snapshot_line_is_safe() {
    let lines = [
        "2024-10-20 11:42:20.814 +0200 [99] 1t2UKC-0000000738v-1Zz9 ** xxxx@example.com R=dnslookup T=remote_smtp H=a.example.com (helo) [192.0.2.36]:25* X=TLS1.3:X:256 CV=yes DN=\"/CN=\\\"x\": SMTP error from remote mail server after RCPT TO:<xxxx@example.com>: host b [1.2.3.4]: 550 5.7.1 no",
        "2016-03-14 00:01:04 +0000 1afFwW-0004Wp-4f <= <> R=1jmFYj-00039V-QX H=(x) [192.0.2.1] T=\"a \\\"b\" for a@b c@d",
        "Feb 14 18:12:33 host exim[46483]: [1/2] 2025-02-14 18:12:33 1tixMn-00000000C5j-1wRa == a@b R=r defer (-44) H=h [1.1.1.1]: x",
    ];
    for line in lines {
        let bytes = line.as_bytes();
        for end in 0..=bytes.len() {
            let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
            parser.set_year(2024);
            let _ = parser.parse(&bytes[..end]);
        }
    }
}

#[test]
fn retry_time_not_reached_is_not_an_attempt() {
    let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
    let line = b"2024-01-01 00:00:00 10HmaX-000000005vi-0000 == a@example.com routing defer (-52): retry time not reached";
    let Parsed::Event(event) = parser.parse(line) else {
        panic!("not an event")
    };
    let EventKind::Attempt(attempt) = event.kind else {
        panic!("not an attempt")
    };
    assert!(attempt.skipped);
    assert_eq!(attempt.status, AttemptStatus::Deferred);
}
