//! Snapshot tests of the Postfix body grammar: one real-shaped line per line
//! type (own lines, example domains and documentation addresses), parsed
//! from the syslog tag down.

use bstr::BStr;
use mailtrail_parse::postfix::{PostfixLine, parse_body, split_program};

/// One input line and what the grammar made of it.
#[allow(dead_code)] // Fields are read through `Debug` only.
#[derive(Debug)]
struct Case<'a> {
    tag: &'a BStr,
    body: &'a BStr,
    instance: &'a BStr,
    daemon: &'a BStr,
    parsed: PostfixLine<'a>,
}

fn parse_all<'a>(lines: &[(&'a str, &'a str)]) -> Vec<Case<'a>> {
    lines
        .iter()
        .map(|&(tag, body)| {
            let (instance, daemon) = split_program(BStr::new(tag)).expect("a Postfix tag");
            Case {
                tag: BStr::new(tag),
                body: BStr::new(body),
                instance,
                daemon,
                parsed: parse_body(daemon, body.as_bytes()),
            }
        })
        .collect()
}

const RECEPTION: &[(&str, &str)] = &[
    (
        "postfix/smtpd",
        "4C3D21F3E9: client=mail.example.net[192.0.2.10]:52344, sasl_method=PLAIN, sasl_username=alice@example.org",
    ),
    (
        "postfix-inbound/smtpd",
        "3pJjgB6dpKz1JBPW: client=localhost[127.0.0.1], orig_queue_id=3pJjg82Vycz1JBJG, orig_client=relay.example.net[198.51.100.7]",
    ),
    // Long id with `z` in its time part; IPv6 client without reverse DNS.
    (
        "postfix/submission/smtpd",
        "3mJddz5fh3z7sdM: client=unknown[2001:db8::25]",
    ),
    (
        "postfix/pickup",
        "5A1B2C3D4E: uid=1000 from=<alice@example.org>",
    ),
    (
        "postfix/pickup",
        "5A1B2C3D4F: uid=0 from=<root> orig_id=4C3D21F3E9",
    ),
    (
        "postfix/cleanup",
        "5A1B2C3D4E: message-id=<20240501120000.5A1B2C3D4E@mx1.example.org>",
    ),
    ("postfix/cleanup", "5A1B2C3D4E: message-id=<>"),
    (
        "postfix/cleanup",
        "5A1B2C3D4E: resent-message-id=<r1@example.org>",
    ),
    (
        "postfix/qmgr",
        "5A1B2C3D4E: from=<alice@example.org>, size=4312, nrcpt=3 (queue active)",
    ),
    (
        "postfix/qmgr",
        "21C3C243D1: from=<>, size=2581, nrcpt=1 (queue active)",
    ),
    (
        "postfix/qmgr",
        "21C3C243D2: from=<\"Smith, John\"@example.org>, size=1200, nrcpt=1 (queue active)",
    ),
    // MailScanner-renamed and anonymised ids.
    (
        "postfix/cleanup",
        "9BE3547AFE.A1B2C: message-id=<m2@example.org>",
    ),
    (
        "postfix/smtpd",
        "7E1AEC2C388XXXX: client=mx.example.com[203.0.113.5]",
    ),
    // RFC 5424 app-name shortened to `postfix`: no daemon name.
    (
        "postfix",
        "6B7C8D9E0F: from=<bob@example.org>, size=918, nrcpt=1 (queue active)",
    ),
];

const HEADER_CHECKS: &[(&str, &str)] = &[
    (
        "postfix/cleanup",
        "54BE7192007D: warning: header Subject: Monthly report 2024-10 from localhost[127.0.0.1]; from=<reports@example.com> to=<ops@example.net> proto=ESMTP helo=<reports>",
    ),
    (
        "postfix/cleanup",
        "D95341E50350: info: header Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?= from local; from=<alice@example.org> to=<bob@example.net>",
    ),
    (
        "postfix/cleanup",
        "581B85F5B3: warning: header Content-Disposition: inline; filename=\"a.png\"; size=1;??creation-date=\"x\" from local; from=<alice@example.org> to=<bob@example.net>",
    ),
    (
        "postfix/cleanup",
        "48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 from mx2.example.org[192.0.2.41]; from=<s@example.org> to=<r@example.net> proto=ESMTP helo=<mx2.example.org>: X-Spam-Flag: YES",
    ),
    (
        "postfix/cleanup",
        "4104E3D: milter-header-redirect: header X-Spam-Status: Yes from mx.example.com[192.0.2.61]; from=<s@example.com> to=<r@example.net> proto=ESMTP helo=<mx.example.com>: quarantine@example.net",
    ),
    (
        "postfix/cleanup",
        "4104E3E: warning: body Cheap watches from mx.example.com[192.0.2.61]; from=<s@example.com> to=<r@example.net> proto=SMTP helo=<mx.example.com>",
    ),
    // Header value containing ` from ` and `;`.
    (
        "postfix/cleanup",
        "4104E3F: warning: header Received: from a.example.com (a.example.com[192.0.2.9]);??by b.example.com from b.example.com[192.0.2.10]; from=<s@example.com> to=<r@example.net> proto=ESMTP helo=<b.example.com>",
    ),
];

const DELIVERY: &[(&str, &str)] = &[
    (
        "postfix/smtp",
        "E2C08243CB: to=<bob@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=3.1, delays=0.35/0.01/2.2/0.54, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 8B22B43C3)",
    ),
    (
        "postfix-out/smtp",
        "3mPVKl0Mhjz7sXv: to=<carol@example.net>, relay=mx.example.net[192.0.2.20]:25, conn_use=2, delay=1.2, delays=0.76/0.01/0.09/0.34, tls=dane/requiretls, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 3mPVKl3YVXz2pS5Z)",
    ),
    (
        "postfix/smtp",
        "5EDC01104345: to=<dave@example.net>, relay=mx.example.net[192.0.2.21]:25, delay=299084, delays=298083/1001/0.17/0.11, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.21] said: 550 5.1.1 <dave@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
    ),
    (
        "postfix/smtp",
        "4E74613FE76: to=<erin@example.com>, relay=mx.example.com[2001:db8::1b]:25, delay=1.9, delays=0.05/0/1.1/0.71, dsn=5.7.1, status=bounced (host mx.example.com[2001:db8::1b] said: 550-5.7.1 Our system has detected that this 550-5.7.1 message is likely unsolicited mail. 550 5.7.1 More information. - gsmtp (in reply to end of DATA command))",
    ),
    (
        "postfix/smtp",
        "BBEA32439C: to=<frank@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=122209, delays=122201/0.01/2.2/5.8, dsn=4.0.0, status=deferred (host mx.example.net[192.0.2.20] said: 451 Temporary local problem - please try later (in reply to MAIL FROM command))",
    ),
    (
        "postfix/smtp",
        "99379242BC: to=<grace@example.org>, relay=none, delay=336566, delays=336531/0.01/35/0, dsn=4.4.1, status=deferred (connect to mx.example.org[198.51.100.53]:25: Connection timed out)",
    ),
    (
        "postfix/error",
        "C2EC71104FA2: to=<heidi@example.org>, relay=none, delay=406308, delays=405198/1110/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.example.org[198.51.100.53]:25: Connection timed out)",
    ),
    (
        "postfix/smtp",
        "3D770111AF50: to=<ivan@example.invalid>, relay=none, delay=1.2, delays=1.1/0/0.03/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=example.invalid type=AAAA: Host not found)",
    ),
    (
        "postfix/smtp",
        "9DAC8B2D: to=<judy@example.com>, relay=mx.example.com[192.0.2.30]:25, delay=1.4, delays=0.04/0/0.27/1.1, dsn=5.0.0, status=bounced (host mx.example.com[192.0.2.30] said: 511 sorry, no mailbox here by that name (#5.1.1 - chkuser) (in reply to RCPT TO command))",
    ),
    (
        "postfix/smtp",
        "9DAC8B2E: to=<judy@example.com>, relay=mx.example.com[192.0.2.30]:25, delay=26541, status=deferred (conversation with mx.example.com[192.0.2.30] timed out while sending end of data -- message may be sent more than once)",
    ),
    (
        "postfix/local",
        "30461242EB: to=<kim@mail.example.org>, orig_to=<root>, relay=local, delay=7.3, delays=7.1/0.12/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)",
    ),
    (
        "postfix/local",
        "3mLQKH6hqhz7sWK: to=<logs@example.org>, relay=local, delay=3.1, delays=1.8/0.86/0/0.44, dsn=2.0.0, status=sent (forwarded as 3mLQKK4rDdz7sVS)",
    ),
    (
        "postfix/local",
        "892A0205B6: to=nobody@localhost, relay=local, delay=0.05, delays=0.02/0/0/0.02, dsn=5.1.1, status=bounced (unknown user: \"nobody\")",
    ),
    (
        "postfix/lmtp",
        "85C6C10208A: to=<leo@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=0.55, delays=0.25/0.02/0.02/0.27, dsn=2.0.0, status=sent (250 2.0.0 <leo@example.org> VB7QLWJ5FWbMSyEA0J78UA Saved)",
    ),
    (
        "postfix/pipe",
        "0F5383D: to=<mia@example.org>, relay=dovecot, delay=4.3, delays=4.1/0.01/0/0.15, dsn=2.0.0, status=sent (delivered via dovecot service)",
    ),
    (
        "postfix/virtual",
        "199041033BE: to=<ned@example.fr>, relay=virtual, delay=0.08, delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
    ),
    (
        "postfix/discard",
        "A0E081100E5C: to=<olga@example.com>, relay=none, delay=0.05, delays=0.04/0/0/0, dsn=2.0.0, status=sent (example.com)",
    ),
    (
        "postfix/local",
        "D8962E54: to=<pat@example.com>, relay=local, conn_use=2 delay=0.21, delays=0.05/0.02/0/0.14, dsn=4.1.1, status=SOFTBOUNCE (unknown user: \"pat\")",
    ),
    (
        "postfix/smtp",
        "AE11A4011B7B: to=<quinn@example.com>, relay=mx.example.com[192.0.2.26]:25, delay=2, delays=0.07/0.01/1.5/0.34, dsn=2.1.5, status=deliverable (250 2.1.5 OK)",
    ),
    (
        "postfix/virtual",
        "3E29030F8637E: to=<ruth@example.com>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in virtual alias table)",
    ),
    // Daemon name lost: the discard agent is recognised by `relay=none` +
    // `sent`, local delivery by `relay=local`.
    (
        "postfix",
        "25F2E5E061: to=<sam@example.com>, relay=none, delay=0.05, delays=0.05/0/0/0, dsn=2.0.0, status=sent (example.com)",
    ),
    (
        "postfix",
        "25F2E5E062: to=<sam@example.com>, relay=local, delay=0.05, delays=0.05/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
    ),
    // No `relay=` (old or edited line): the host comes from the text.
    (
        "postfix/smtp",
        "ED59C3D: to=<tom@example.com>, delay=9, status=deferred (host mx.example.com[192.0.2.40] said: 450 4.7.1 Greylisted (in reply to RCPT TO command))",
    ),
    // Amavis hop: the confirmation wraps the next hop's reply.
    (
        "postfix/smtp",
        "ABA141A0109: to=<uma@example.com>, orig_to=<u@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.6, delays=1.2/0.03/0.03/0.28, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 300581A89B8)",
    ),
    // Truncated: recipient cut, and status text cut inside its parentheses.
    ("postfix/smtp", "3mPVKl0Mhjz7sXv: to=<victor@exa"),
    (
        "postfix/smtp",
        "732BB407C3: to=<wendy@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=6.2, delays=0.1/0/5.2/0.87, dsn=4.0.0, status=deferred (host mx.example.com[192.0.2.1] said: 451 DT:SPM 163 mx40, please (try",
    ),
];

const LIFECYCLE: &[(&str, &str)] = &[
    ("postfix/qmgr", "5A1B2C3D4E: removed"),
    ("postfix/qmgr", "B465B110313B: removed,,,,,,,,,,,,"),
    ("postfix/cleanup", "5A1B2C3D4E: removed (canceled)"),
    ("postfix/cleanup", "5A1B2C3D4E: removed (discarded)"),
    ("postfix/postsuper", "3nsRhm5bH5z306M: removed"),
    ("postfix/postsuper", "D4F2023DB: requeued"),
    ("postfix/postsuper", "D4F2023DB: placed on hold"),
    ("postfix/postsuper", "D4F2023DB: released from hold"),
    ("postfix/postsuper", "D4F2023DB: expired"),
    ("postfix/postsuper", "Deleted: 115 messages"),
    (
        "postfix/qmgr",
        "BACE842E72: from=<noreply@example.com>, status=expired, returned to sender",
    ),
    (
        "postfix/qmgr",
        "BACE842E73: from=<noreply@example.com>, status=force-expired, returned to sender",
    ),
    ("postfix/qmgr", "ED0659013A: skipped, still being delivered"),
];

const NOTIFICATIONS: &[(&str, &str)] = &[
    (
        "postfix/bounce",
        "B5EE224099: sender non-delivery notification: 823A82419C",
    ),
    (
        "postfix/bounce",
        "264FE1A18: sender delay notification: 0A87A1A08",
    ),
    (
        "postfix/bounce",
        "65AFB8B5: sender delivery status notification: 1DF35917",
    ),
    (
        "postfix/bounce",
        "482E4404AC8: postmaster non-delivery notification: 47335405A44",
    ),
    (
        "postfix/bounce",
        "3mKxY750hmz7scK: sender non-delivery notification: 3mKxYH0vl4z7sWS",
    ),
    (
        "postfix/bounce",
        "482E4404AC9: sender notification failed to <alice@example.org>: queue file write error",
    ),
    (
        "postfix/qmgr",
        "482E4404ACA: status=deferred (bounce failed)",
    ),
];

const REJECTIONS: &[(&str, &str)] = &[
    (
        "postfix/smtpd",
        "NOQUEUE: reject: RCPT from spam.example.com[192.0.2.77]: 554 5.7.1 Service unavailable; Client host [192.0.2.77] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.77; from=<x@example.com> to=<bob@example.net> proto=ESMTP helo=<spam.example.com>",
    ),
    (
        "postfix/smtpd",
        "00ADB3C0899: reject: RCPT from mx.example.com[192.0.2.1]: 550 5.1.1 <sales@example.net>: Recipient address rejected: User unknown in local recipient table; from=<a@example.com> to=<sales@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject: MAIL from host.example.com[198.51.100.166]: 452 4.3.1 Insufficient system storage; proto=ESMTP helo=<host.example.com>",
    ),
    (
        "postfix-incoming/smtpd",
        "NOQUEUE: reject: EHLO from host.example.com[198.51.100.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<User>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject: CONNECT from unknown[192.0.2.114]: 450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.114]; proto=SMTP",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject: VRFY from unknown[2001:db8::88b]: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table; to=<nobody@example.com> proto=SMTP helo=<me>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject: RCPT from mx.example.com[192.0.2.8]: 454 4.7.1 <x@example.net>: Relay access denied; from=<a@example.com> to=<x@example.net> proto=ESMTP helo=<mx.example.com> sasl_method=PLAIN sasl_username=a",
    ),
    (
        "postfix/postscreen",
        "NOQUEUE: reject: RCPT from [192.0.2.184]:2413: 550 5.7.1 Service unavailable; client [192.0.2.184] blocked using zen.spamhaus.org; from=<x@example.com>, to=<bob@example.net>, proto=ESMTP, helo=<mx.example.com>",
    ),
    (
        "postfix/postscreen",
        "NOQUEUE: reject: CONNECT from [192.0.2.5]:1337: too many connections",
    ),
    (
        "postfix-smo/submission/smtpd",
        "44JCRG5tYPzCqt2: reject: BDAT from signer.example.com[192.0.2.109]: 550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce; from=<> to=<some@example.com> proto=ESMTP helo=<signer.example.com>",
    ),
    (
        "postfix/smtpd",
        "1D8CC1CA0A7F: milter-reject: END-OF-MESSAGE from mx.example.com[192.0.2.151]: 4.7.1 Try again later; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/cleanup",
        "4104E3D: milter-reject: END-OF-MESSAGE from mx.example.com[192.0.2.86]: 5.7.1 Blocked by SpamAssassin; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/cleanup",
        "4104E3E: reject: header To: <user@example.com> from mx.example.com[192.0.2.86]; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>: 5.7.1 Go away",
    ),
    (
        "postfix/cleanup",
        "4104E3F: reject: body Quality replica watches!!! from local; from=<root@example.org>",
    ),
    (
        "postfix/cleanup",
        "4104E40: reject: mime-error invalid message/* or multipart/* encoding domain: 7bit from mx.example.com[192.0.2.86]; from=<a@example.com> to=<b@example.net>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=11912-03 - INFECTED: Eicar-Test-Signature; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject_warning: RCPT from mx.example.com[192.0.2.34]: 553 5.7.1 <a@example.com>: Sender address rejected: not owned by user ph123; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
];

const ACTIONS: &[(&str, &str)] = &[
    (
        "postfix/smtpd",
        "NOQUEUE: discard: MAIL from mx.example.com[192.0.2.231]: <a@example.com>: Sender address SPAM; from=<a@example.com> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: filter: RCPT from unknown[192.0.2.255]: <a@example.com>: Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10024; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<x.example.com>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: hold: RCPT from mx.example.com[192.0.2.1]: <b@example.net>: Recipient address triggers HOLD action; from=<a@example.com> to=<b@example.net> proto=SMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "8A3F1C2D4E: hold: RCPT from mx.example.com[192.0.2.1]: <b@example.net>: Recipient address triggers HOLD action; from=<a@example.com> to=<b@example.net> proto=SMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "8A3F1C2D4F: discard: RCPT from mx.example.com[192.0.2.1]: <a@example.com>: Sender address triggers DISCARD action; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/cleanup",
        "8A3F1C2D50: hold: header Subject: Hold me from local; from=<a@example.com> to=<b@example.net>: quarantined",
    ),
    (
        "postfix/cleanup",
        "8A3F1C2D51: milter-hold: END-OF-MESSAGE from mx.example.com[192.0.2.3]: milter triggers HOLD action; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/cleanup",
        "8A3F1C2D52: milter-discard: END-OF-MESSAGE from mx.example.com[192.0.2.4]: milter triggers DISCARD action; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/cleanup",
        "8A3F1C2D53: discard: header Subject: **SPAM** Buy now from mx.example.com[192.0.2.1]; from=<a@example.com> proto=ESMTP helo=<mx.example.com>",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as 9BE3547AFE; from=<a@example.com> to=<b@example.net> proto=ESMTP helo=<mx.example.com>",
    ),
];

const CHATTER: &[(&str, &str)] = &[
    (
        "postfix/cleanup",
        "warning: 9BECF3F19D: sender_canonical_maps map lookup problem for sender@example.com -- message not accepted, try again later",
    ),
    (
        "postfix/smtpd",
        "warning: unknown[192.0.2.237]:55729: SASL LOGIN authentication failed: authentication failure",
    ),
    (
        "postfix/sendmail",
        "fatal: Recipient addresses must be specified on the command line or via the -t option",
    ),
    (
        "postfix/postscreen",
        "error: open /etc/postfix/example: No such file or directory",
    ),
    (
        "postfix/smtp",
        "panic: myfree: corrupt or unallocated memory block",
    ),
    (
        "postfix/smtp",
        "connect to mx.example.org[198.51.100.53]:25: Connection refused",
    ),
    (
        "postfix/smtp",
        "3AC2124090: host mx.example.com[192.0.2.68] said: 452 <a@example.com> requested action aborted: try again later (in reply to RCPT TO command)",
    ),
    (
        "postfix/smtp",
        "B99FE3D: lost connection with mx.example.com[192.0.2.72] while receiving the initial server greeting",
    ),
    (
        "postfix/smtp",
        "78D6B41: conversation with mx.example.com[192.0.2.4] timed out while receiving the initial server greeting",
    ),
    (
        "postfix/smtp",
        "B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for mx.example.com[192.0.2.34]:25",
    ),
    (
        "postfix/smtp",
        "Verified TLS connection established to mx.example.com[192.0.2.26]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    ),
    ("postfix/smtpd", "connect from mx.example.com[192.0.2.17]"),
    (
        "postfix/smtpd",
        "disconnect from unknown[192.0.2.66] ehlo=2 starttls=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=5/7",
    ),
    (
        "postfix/smtpd",
        "lost connection after DATA (approximately 0 bytes) from unknown[192.0.2.130]",
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: lost connection after CONNECT from unknown[192.0.2.25]",
    ),
    (
        "postfix/smtpd",
        "5A1B2C3D4E: timeout after END-OF-MESSAGE from unknown[192.0.2.130]",
    ),
    (
        "postfix/smtpd",
        "too many errors after RCPT from mx.example.com[192.0.2.11]",
    ),
    (
        "postfix/postscreen",
        "CONNECT from [192.0.2.86]:53024 to [198.51.100.244]:25",
    ),
    ("postfix/postscreen", "PASS NEW [2001:db8::23a]:36051"),
    ("postfix/postscreen", "DNSBL rank 3 for [192.0.2.149]:1038"),
    (
        "postfix/postscreen",
        "PREGREET 14 after 0.08 from [192.0.2.2]:59415: EHLO ylmf-pc\\r\\n",
    ),
    (
        "postfix/postscreen",
        "HANGUP after 63 from [192.0.2.149]:1038 in tests after SMTP handshake",
    ),
    (
        "postfix/dnsblog",
        "addr 192.0.2.86 listed by domain bl.example.org as 127.0.0.2",
    ),
    (
        "postfix/anvil",
        "statistics: max connection rate 1/60s for (smtpd:192.0.2.86) at Oct 26 18:13:50",
    ),
    (
        "postfix/scache",
        "statistics: domain lookup hits=0 miss=1 success=0%",
    ),
    (
        "postfix/master",
        "daemon started -- version 3.8.1, configuration /etc/postfix",
    ),
    (
        "postfix/master",
        "reload -- version 3.8.1, configuration /etc/postfix",
    ),
    ("postfix/master", "terminating on signal 15"),
    ("postfix/postfix-script", "starting the Postfix mail system"),
    ("postfix/qmgr", "qmgr_scan_start: start deferred queue scan"),
    (
        "postfix/smtp",
        "3mPVKl0Mhjz7sXv: something Postfix never logged",
    ),
    ("postfix/smtpd", "something Postfix never logged"),
    ("postfix/smtpd", "NOQUEUE: reject: Unsupported"),
];

#[test]
fn reception() {
    insta::assert_debug_snapshot!("reception", parse_all(RECEPTION));
}

#[test]
fn header_checks() {
    insta::assert_debug_snapshot!("header_checks", parse_all(HEADER_CHECKS));
}

#[test]
fn delivery() {
    insta::assert_debug_snapshot!("delivery", parse_all(DELIVERY));
}

#[test]
fn lifecycle() {
    insta::assert_debug_snapshot!("lifecycle", parse_all(LIFECYCLE));
}

#[test]
fn notifications() {
    insta::assert_debug_snapshot!("notifications", parse_all(NOTIFICATIONS));
}

#[test]
fn rejections() {
    insta::assert_debug_snapshot!("rejections", parse_all(REJECTIONS));
}

#[test]
fn actions() {
    insta::assert_debug_snapshot!("actions", parse_all(ACTIONS));
}

#[test]
fn chatter() {
    insta::assert_debug_snapshot!("chatter", parse_all(CHATTER));
}

/// Every prefix of every table line (truncation at any byte), and versions
/// with invalid UTF-8 and stray brackets spliced in, parse without panic
/// for every daemon name.
#[test]
fn truncated_and_corrupted_lines_do_not_panic() {
    let tables = [
        RECEPTION,
        HEADER_CHECKS,
        DELIVERY,
        LIFECYCLE,
        NOTIFICATIONS,
        REJECTIONS,
        ACTIONS,
        CHATTER,
    ];
    let daemons = [
        "",
        "smtp",
        "smtpd",
        "cleanup",
        "qmgr",
        "postsuper",
        "discard",
        "local",
    ];
    let junk: [&[u8]; 6] = [b"\xff\xfe", b"(", b")", b"<", b"[", b",,,,"];
    for (_, body) in tables.iter().flat_map(|t| t.iter()) {
        let body = body.as_bytes();
        for daemon in daemons {
            let daemon = BStr::new(daemon);
            for end in 0..=body.len() {
                let _ = parse_body(daemon, &body[..end]);
            }
            for at in (0..body.len()).step_by(7) {
                for piece in junk {
                    let mut spliced = body[..at].to_vec();
                    spliced.extend_from_slice(piece);
                    spliced.extend_from_slice(&body[at..]);
                    let _ = parse_body(daemon, &spliced);
                }
            }
        }
    }
}
