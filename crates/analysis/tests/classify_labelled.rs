//! The built-in classifier against a labelled set of real-world failure
//! texts (`tests/data/labelled_rejections.csv`).
//!
//! The texts are the receiver and MTA wordings quoted in the project's
//! bounce-classification reference (§1, §4–§7), with the reference's
//! placeholders filled in with documentation values (192.0.2.0/24,
//! 2001:db8::/32, example.com). The expected category is the one the
//! reference gives; where it gives two ("blocklisted / reputation"), the
//! `note` column says which was taken and why.
//!
//! Columns: `provider_host,smtp_code,enhanced_code,stage,text,
//! expected_category,note`. An empty `provider_host` means a local or
//! routing failure (`local = true`); empty codes let the classifier find
//! them in the text.

use mailtrail_analysis::classify::{Category, Classifier, FailureFacts, FailureStage};
use mailtrail_parse::EnhancedCode;

const LABELLED: &str = include_str!("data/labelled_rejections.csv");

/// Texts where the classifier deliberately differs from the label, with
/// the reason. Every entry must still disagree (the test fails otherwise),
/// so the list cannot go stale.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[
    (
        "554 xxx-smtpin001.me.com ESMTP not accepting connections",
        "reference gives blocklisted / reputation; the classifier says reputation because no list is \
         named (§8.2: blocklisted means a named list; reputation means none is named)",
    ),
    (
        "421 4.7.1 Messages to user@icloud.com deferred due to excessive volume. Try again later",
        "reference gives rate_limited / reputation; the classifier follows §8.3, which lists \
         'excessive volume' among the reputation wordings (priority 7, before rate limits)",
    ),
    (
        "550 5.7.1 Your email was rejected due to having a domain present in the Spamhaus DBL -- see \
         https://www.spamhaus.org/dbl/",
        "reference gives content_rejected (url_listed) or blocklisted (domain); the classifier follows \
         §6.4, which names 'domain present in the Spamhaus DBL' as a sender-domain listing, and only \
         URL/link wording as content",
    ),
];

/// The records of a CSV text, header included.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| {
            record
                .expect("valid CSV")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

struct Row {
    line: usize,
    host: String,
    smtp_code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    stage: FailureStage,
    text: String,
    expected: Category,
    note: String,
}

fn rows() -> Vec<Row> {
    let records = parse_csv(LABELLED);
    assert_eq!(
        records[0],
        [
            "provider_host",
            "smtp_code",
            "enhanced_code",
            "stage",
            "text",
            "expected_category",
            "note"
        ],
        "header"
    );
    records[1..]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert!(r.len() == 6 || r.len() == 7, "line {}: {r:?}", i + 2);
            Row {
                line: i + 2,
                host: r[0].clone(),
                smtp_code: (!r[1].is_empty()).then(|| r[1].parse().expect("smtp_code")),
                enhanced: (!r[2].is_empty())
                    .then(|| EnhancedCode::parse(r[2].as_bytes()).expect("enhanced_code")),
                stage: r[3].parse().expect("stage"),
                text: r[4].clone(),
                expected: r[5].parse().expect("expected_category"),
                note: r.get(6).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

#[test]
fn labelled_set_agreement() {
    let classifier = Classifier::builtin();
    let rows = rows();
    assert!(rows.len() >= 200, "labelled set has {} rows", rows.len());

    let mut disagreements = Vec::new();
    for row in &rows {
        let facts = FailureFacts {
            stage: row.stage,
            smtp_code: row.smtp_code,
            enhanced_code: row.enhanced,
            reason: row.text.as_bytes(),
            remote_host: (!row.host.is_empty()).then_some(row.host.as_bytes()),
            local: row.host.is_empty(),
        };
        let verdict = classifier.classify(&facts);
        if verdict.category != row.expected {
            disagreements.push((row, verdict));
        }
    }

    let agreed = rows.len() - disagreements.len();
    let agreement = agreed as f64 / rows.len() as f64;
    println!(
        "labelled set: {agreed}/{} agree ({:.1}%)",
        rows.len(),
        agreement * 100.0
    );
    let mut unexplained = Vec::new();
    for (row, verdict) in &disagreements {
        let known = KNOWN_DISAGREEMENTS
            .iter()
            .find(|(text, _)| *text == row.text);
        println!(
            "line {}: expected {} got {} (rule {}) [{}] {:?}{}",
            row.line,
            row.expected,
            verdict.category,
            verdict.rule,
            row.note,
            row.text,
            known
                .map(|(_, why)| format!(" -- known: {why}"))
                .unwrap_or_default(),
        );
        if known.is_none() {
            unexplained.push(row.line);
        }
    }
    for (text, _) in KNOWN_DISAGREEMENTS {
        assert!(
            disagreements.iter().any(|(row, _)| row.text == *text),
            "known disagreement no longer disagrees (remove it): {text:?}"
        );
    }
    assert!(
        unexplained.is_empty(),
        "unexplained disagreements on lines {unexplained:?}"
    );
    assert!(
        agreement >= 0.95,
        "agreement {:.1}% is below 95%",
        agreement * 100.0
    );
}

/// The same remote reply must classify the same whether it comes bare, in
/// Postfix's `host H[ip] said: … (in reply to … command)` wrapper or in
/// Exim's `SMTP error from remote mail server after …:` wrapper, and
/// whether or not the caller passes the codes.
#[test]
fn wrappers_and_missing_codes_do_not_change_the_verdict() {
    let classifier = Classifier::builtin();
    let mut checked = 0;
    for row in rows() {
        let starts_with_reply = row.text.len() > 4
            && row.text.as_bytes()[..3].iter().all(u8::is_ascii_digit)
            && matches!(row.text.as_bytes()[3], b' ' | b'-');
        if row.host.is_empty() || !starts_with_reply || row.stage == FailureStage::Rejection {
            continue;
        }
        let facts = |reason: &str, codes: bool| {
            let base = FailureFacts {
                stage: row.stage,
                smtp_code: row.smtp_code.filter(|_| codes),
                enhanced_code: row.enhanced.filter(|_| codes),
                reason: b"",
                remote_host: Some(row.host.as_bytes()),
                local: false,
            };
            classifier.classify(&FailureFacts {
                reason: reason.as_bytes(),
                ..base
            })
        };
        let bare = facts(&row.text, true);
        let postfix = format!(
            "host {}[192.0.2.80] said: {} (in reply to RCPT TO command)",
            row.host, row.text
        );
        let exim = format!(
            "SMTP error from remote mail server after RCPT TO:<user@example.com>: {}",
            row.text
        );
        for (form, reason, codes) in [
            ("bare, no codes", &row.text, false),
            ("postfix", &postfix, false),
            ("exim", &exim, true),
        ] {
            let verdict = facts(reason, codes);
            assert_eq!(
                (verdict.category, verdict.listed_ip, &verdict.blocklist),
                (bare.category, bare.listed_ip, &bare.blocklist),
                "line {} ({form}): {reason:?}",
                row.line
            );
        }
        checked += 1;
    }
    assert!(checked > 150, "checked {checked}");
}
