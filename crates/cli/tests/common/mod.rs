//! What the end-to-end tests share: where the fixtures are, and running the
//! `mailtrail` binary.

// Each test binary uses a different subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Runs `mailtrail` with `args` (stdin closed) and returns what it did.
pub fn mailtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtrail"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mailtrail")
}

/// Runs `mailtrail`, requires success, and returns its standard output.
pub fn stdout_of(args: &[&str]) -> String {
    let output = mailtrail(args);
    assert!(
        output.status.success(),
        "mailtrail {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 report")
}

/// Runs `mailtrail` and parses its output as one JSON document.
pub fn json_of(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&stdout_of(args)).expect("one JSON document")
}
