//! Envelopes through the whole line parser: what the wrapper hands over is
//! what the Exim and Postfix grammars need.

use mailtrail_parse::{LineParser, Parsed, ParserOptions};

/// `(instant, host, queue id)` of the event a line gives.
fn event(line: &[u8]) -> (String, Option<String>, Option<String>) {
    let mut parser = LineParser::new(ParserOptions::new(chrono_tz::Europe::Berlin));
    parser.set_year(2024);
    match parser.parse(line) {
        Parsed::Event(e) => (
            e.at.to_rfc3339(),
            e.host.map(|h| h.to_string()),
            e.queue_id.map(|q| q.to_string()),
        ),
        other => panic!(
            "not an event: {other:?} for {}",
            String::from_utf8_lossy(line)
        ),
    }
}

const EXIM_ID: &str = "1t2UKC-0000000738v-1Zz9";

#[test]
fn exim_main_log_line_inside_cri_keeps_exims_own_time() {
    let line = b"2024-01-15T10:30:59.123456789Z stdout F 2024-01-15 11:30:45 +0100 1t2UKC-0000000738v-1Zz9 \
        ** a@example.com R=dnslookup T=remote_smtp H=mx.example.net [192.0.2.36]: 550 5.1.1 unknown user";
    assert_eq!(
        event(line),
        (
            "2024-01-15T10:30:45+00:00".into(),
            None,
            Some(EXIM_ID.into())
        )
    );
}

#[test]
fn exim_syslog_inside_compose() {
    let line = b"exim_1  | Jan 15 10:30:45 mx exim[12]: 2024-01-15 10:30:45 1t2UKC-0000000738v-1Zz9 Completed";
    assert_eq!(
        event(line),
        (
            "2024-01-15T09:30:45+00:00".into(),
            Some("mx".into()),
            Some(EXIM_ID.into())
        )
    );
}

#[test]
fn postfix_inside_docker_logs_t_uses_the_runtime_time() {
    let line = b"2024-01-15T10:30:45.5Z Jan 15 11:30:45 mx postfix/smtp[7]: 4B1C2D3E4F: to=<a@example.com>, \
        relay=mx.example.net[192.0.2.36]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)";
    assert_eq!(
        event(line),
        (
            "2024-01-15T10:30:45.500+00:00".into(),
            Some("mx".into()),
            Some("4B1C2D3E4F".into())
        )
    );
}

#[test]
fn postfix_through_rfc5424_with_short_app_name() {
    let line = b"<22>1 2024-01-15T10:30:45Z mx postfix 7 - [meta sequenceId=\"1\"] 4B1C2D3E4F: to=<a@example.com>, \
        relay=mx.example.net[192.0.2.36]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)";
    assert_eq!(
        event(line),
        (
            "2024-01-15T10:30:45+00:00".into(),
            Some("mx".into()),
            Some("4B1C2D3E4F".into())
        )
    );
}

#[test]
fn short_full_zone_abbreviation_uses_the_configured_zone() {
    let line = b"Mon 2024-01-15 11:30:45 CET mx postfix/smtp[7]: 4B1C2D3E4F: to=<a@example.com>, \
        relay=mx.example.net[192.0.2.36]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)";
    assert_eq!(event(line).0, "2024-01-15T10:30:45+00:00");
}

#[test]
fn repeat_notice_is_another_programs_line() {
    let mut parser = LineParser::new(ParserOptions::new(chrono_tz::UTC));
    assert_eq!(
        parser.parse(b"Mar  9 05:30:59 relay last message repeated 2 times"),
        Parsed::Irrelevant("other program")
    );
}
