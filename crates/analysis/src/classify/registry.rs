//! Descriptions of SMTP reply codes (RFC 5321 and extensions) and of
//! enhanced status codes (the IANA registry).
//!
//! The enhanced-code table is generated from
//! `crates/analysis/data/iana-smtp-enhanced-status-codes.csv` into
//! `registry_table.rs`; the test `registry_table_matches_csv` checks that
//! the two agree and rewrites the table when run with
//! `MAILTRAIL_REGENERATE=1` (see `crates/analysis/data/README.md`).

use mailtrail_parse::EnhancedCode;
use serde::Serialize;

use crate::classify::registry_table::{CLASSES, CODES, SUBJECTS};

/// Which level of the IANA registry an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryLevel {
    /// A class sub-code (`5.XXX.YYY`).
    Class,
    /// A subject sub-code (`X.7.XXX`): the exact code is not registered.
    Subject,
    /// An enumerated status code (`X.7.1`).
    Code,
}

/// One entry of the IANA "SMTP Enhanced Status Codes" registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RegistryEntry {
    /// The code as the registry writes it: `X.7.1`, `X.7.XXX`,
    /// `5.XXX.YYY`.
    pub code: &'static str,
    /// Which level of the registry this is.
    pub level: RegistryLevel,
    /// The registry's "Sample Text" (title), e.g. "Delivery not
    /// authorized, message refused".
    pub title: &'static str,
    /// Associated basic status codes ("451, 550", "Not given").
    pub basic_codes: &'static str,
    /// A short description of the meaning.
    pub description: &'static str,
    /// The defining document(s).
    pub reference: &'static str,
    /// Who registered it.
    pub submitter: &'static str,
    /// Who controls changes.
    pub change_controller: &'static str,
}

/// Describes an enhanced status code: the registry entry of the exact code
/// (`X.subject.detail`, any class), else the entry of its subject
/// (`X.subject.XXX`), else `None` for an unregistered subject.
///
/// ```
/// use mailtrail_analysis::classify::{RegistryLevel, describe_enhanced};
/// use mailtrail_parse::EnhancedCode;
///
/// let entry = describe_enhanced(EnhancedCode::parse(b"5.7.1").unwrap()).unwrap();
/// assert_eq!(entry.title, "Delivery not authorized, message refused");
/// let entry = describe_enhanced(EnhancedCode::parse(b"5.7.606").unwrap()).unwrap();
/// assert_eq!((entry.code, entry.level), ("X.7.XXX", RegistryLevel::Subject));
/// ```
pub fn describe_enhanced(code: EnhancedCode) -> Option<RegistryEntry> {
    CODES
        .binary_search_by_key(&(code.subject, code.detail), |&(key, _)| key)
        .ok()
        .map(|at| CODES[at].1)
        .or_else(|| {
            SUBJECTS
                .iter()
                .find(|(subject, _)| *subject == code.subject)
                .map(|&(_, entry)| entry)
        })
}

/// Describes the class of an enhanced status code (`5.XXX.YYY`
/// "Permanent Failure").
pub fn describe_enhanced_class(class: u8) -> Option<RegistryEntry> {
    CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map(|&(_, entry)| entry)
}

/// The meaning of a basic SMTP reply code (RFC 5321 and the extensions
/// that define codes: RFC 3207, 4954, 5248, 7504), or `None` for a code
/// no standard defines.
///
/// ```
/// use mailtrail_analysis::classify::describe_reply;
/// assert_eq!(describe_reply(452), Some("Requested action not taken: insufficient system storage"));
/// assert_eq!(describe_reply(599), None);
/// ```
pub fn describe_reply(code: u16) -> Option<&'static str> {
    Some(match code {
        211 => "System status, or system help reply",
        214 => "Help message",
        220 => "Service ready",
        221 => "Service closing transmission channel",
        250 => "Requested mail action okay, completed",
        251 => "User not local; will forward",
        252 => "Cannot VRFY user, but will accept message and attempt delivery",
        354 => "Start mail input",
        421 => "Service not available, closing transmission channel",
        432 => "A password transition is needed (RFC 4954)",
        450 => {
            "Requested mail action not taken: mailbox unavailable (busy or temporarily blocked for policy reasons)"
        }
        451 => "Requested action aborted: local error in processing",
        452 => "Requested action not taken: insufficient system storage",
        454 => "Temporary authentication failure, or TLS not available (RFC 4954, RFC 3207)",
        455 => "Server unable to accommodate parameters",
        500 => "Syntax error, command unrecognized",
        501 => "Syntax error in parameters or arguments",
        502 => "Command not implemented",
        503 => "Bad sequence of commands",
        504 => "Command parameter not implemented",
        521 => "Host does not accept mail (RFC 7504)",
        523 => "Encryption needed (RFC 5248)",
        530 => "Authentication required, or must issue STARTTLS first (RFC 4954, RFC 3207)",
        534 => "Authentication mechanism is too weak (RFC 4954)",
        535 => "Authentication credentials invalid (RFC 4954)",
        538 => "Encryption required for requested authentication mechanism (RFC 4954)",
        550 => {
            "Requested action not taken: mailbox unavailable (not found, no access, or rejected for policy reasons)"
        }
        551 => "User not local; please try <forward-path>",
        552 => "Requested mail action aborted: exceeded storage allocation",
        553 => "Requested action not taken: mailbox name not allowed",
        554 => "Transaction failed (at the greeting: no SMTP service here)",
        555 => "MAIL FROM/RCPT TO parameters not recognized or not implemented",
        556 => "Domain does not accept mail (RFC 7504)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    const CSV_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/iana-smtp-enhanced-status-codes.csv"
    );
    const TABLE_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/classify/registry_table.rs"
    );

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

    /// The Rust source of `registry_table.rs` for a registry CSV.
    fn generate(csv: &str) -> String {
        let records = parse_csv(csv);
        let header = &records[0];
        assert_eq!(
            header.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "Code",
                "Sample Text",
                "Associated basic status code",
                "Description",
                "Reference",
                "Submitter",
                "Change Controller"
            ],
            "IANA CSV column layout"
        );
        let mut classes = Vec::new();
        let mut subjects = Vec::new();
        let mut codes = Vec::new();
        for record in &records[1..] {
            assert_eq!(record.len(), 7, "record {record:?}");
            let code = record[0].trim();
            let parts: Vec<&str> = code.split('.').collect();
            assert_eq!(parts.len(), 3, "code {code:?}");
            let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            let entry = |level: &str| {
                format!(
                    "RegistryEntry {{ code: {:?}, level: RegistryLevel::{level}, title: {:?}, basic_codes: {:?}, description: {:?}, reference: {:?}, submitter: {:?}, change_controller: {:?} }}",
                    code,
                    clean(&record[1]),
                    clean(&record[2]),
                    clean(&record[3]),
                    clean(&record[4]),
                    clean(&record[5]),
                    clean(&record[6]),
                )
            };
            match (parts[0], parts[1], parts[2]) {
                (class, "XXX", "YYY") => {
                    classes.push((class.parse::<u8>().expect("class"), entry("Class")))
                }
                ("X", subject, "XXX") => {
                    subjects.push((subject.parse::<u16>().expect("subject"), entry("Subject")))
                }
                ("X", subject, detail) => codes.push((
                    (
                        subject.parse::<u16>().expect("subject"),
                        detail.parse::<u16>().expect("detail"),
                    ),
                    entry("Code"),
                )),
                _ => panic!("unexpected code shape {code:?}"),
            }
        }
        codes.sort_by_key(|(key, _)| *key);
        for pair in codes.windows(2) {
            assert_ne!(pair[0].0, pair[1].0, "duplicate code");
        }
        let mut out = String::new();
        out.push_str("// @generated from crates/analysis/data/iana-smtp-enhanced-status-codes.csv: do not edit.\n");
        out.push_str("// Regenerate: MAILTRAIL_REGENERATE=1 cargo test -p mailtrail-analysis --lib registry_table_matches_csv\n\n");
        out.push_str(
            "//! The IANA \"SMTP Enhanced Status Codes\" registry as Rust data (generated).\n\n",
        );
        out.push_str("use crate::classify::registry::{RegistryEntry, RegistryLevel};\n\n");
        out.push_str("/// Class sub-codes by class digit.\npub(crate) static CLASSES: &[(u8, RegistryEntry)] = &[\n");
        for (class, entry) in &classes {
            writeln!(out, "    ({class}, {entry}),").unwrap();
        }
        out.push_str("];\n\n/// Subject sub-codes by subject number.\npub(crate) static SUBJECTS: &[(u16, RegistryEntry)] = &[\n");
        for (subject, entry) in &subjects {
            writeln!(out, "    ({subject}, {entry}),").unwrap();
        }
        out.push_str("];\n\n/// Enumerated codes by (subject, detail), sorted.\npub(crate) static CODES: &[((u16, u16), RegistryEntry)] = &[\n");
        for ((subject, detail), entry) in &codes {
            writeln!(out, "    (({subject}, {detail}), {entry}),").unwrap();
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn registry_table_matches_csv() {
        let csv = std::fs::read_to_string(CSV_PATH).expect("registry CSV");
        let generated = generate(&csv);
        if std::env::var_os("MAILTRAIL_REGENERATE").is_some() {
            std::fs::write(TABLE_PATH, &generated).expect("write registry_table.rs");
            return;
        }
        let committed = std::fs::read_to_string(TABLE_PATH).expect("registry_table.rs");
        assert!(
            committed == generated,
            "registry_table.rs is out of date with the CSV; run \
             MAILTRAIL_REGENERATE=1 cargo test -p mailtrail-analysis --lib registry_table_matches_csv"
        );
    }

    #[test]
    fn exact_then_subject_lookup() {
        let code = |s: &str| EnhancedCode::parse(s.as_bytes()).unwrap();
        assert_eq!(
            describe_enhanced(code("4.2.2")).unwrap().title,
            "Mailbox full"
        );
        assert_eq!(
            describe_enhanced(code("5.1.10")).unwrap().title,
            "Recipient address has null MX"
        );
        assert_eq!(
            describe_enhanced(code("5.7.30")).unwrap().title,
            "REQUIRETLS support required"
        );
        assert_eq!(describe_enhanced(code("5.4.316")).unwrap().code, "X.4.XXX");
        assert!(describe_enhanced(code("5.9.1")).is_none());
        assert_eq!(
            describe_enhanced_class(4).unwrap().title,
            "Persistent Transient Failure"
        );
        assert_eq!(CODES.len(), 81);
        assert_eq!(SUBJECTS.len(), 8);
    }
}
