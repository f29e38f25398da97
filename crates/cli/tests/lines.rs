//! `mailtrail lines`: every line is counted in one class, junk is shown
//! safely, and a corrupt input is named once, clearly.

mod common;
use common::mailtrail;

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("mailtrail-lines-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn junk_lines_are_counted_and_shown_escaped() {
    let path = temp_file(
        "junk.log",
        b"2024-10-20 11:42:20 1t2UKC-0000000738v-1Zz9 Completed\n\x1b[31m\xff\xfe junk\n2024-10-20 11:42:21 Start queue run: pid=1\n",
    );
    let output = mailtrail(&[
        "lines",
        "--log-tz",
        "UTC",
        "--show-unrecognised",
        &path.display().to_string(),
    ]);
    std::fs::remove_file(&path).ok();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("escaped output is valid UTF-8");
    let counts: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .take(4)
        .collect();
    assert_eq!(counts, ["3", "1", "1", "1"], "{text}");
    assert!(text.contains(r"\x1B[31m\xFF\xFE junk"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no raw escape byte reaches the terminal"
    );
}

#[test]
fn corrupt_gzip_is_named_once_with_its_cause() {
    let path = temp_file("bad.gz", b"\x1f\x8b\x08garbage");
    let output = mailtrail(&[
        "undelivered",
        "--log-tz",
        "UTC",
        "--format",
        "csv",
        &path.display().to_string(),
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("mailtrail: "))
        .expect("an error line");
    assert!(
        error.ends_with("bad.gz: corrupt or truncated gzip data: invalid gzip header"),
        "{error}"
    );
}
