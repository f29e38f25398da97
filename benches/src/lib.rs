//! Inputs shared by the criterion benchmarks in `benches/benches/`.
//!
//! Each input is an in-memory log of a few megabytes, built by repeating
//! bundled fixtures: the Exim incident log (`fixtures/exim/incident/mainlog`,
//! generated, with a blocklisting incident and the usual mix of deliveries,
//! deferrals, bounces and noise) and the hand-written Postfix logs
//! (`fixtures/postfix/*.log`, read in name order). A few megabytes is large
//! enough that per-call overhead does not matter and small enough that a
//! quick run of the whole suite stays short.
//!
//! The copies repeat the same queue ids, so the correlation benchmarks see
//! fewer distinct messages than a real log of that size would; the
//! end-to-end timings of `compare.sh` on a generated 1 GB log cover that.
//!
//! The fixtures are read when a benchmark starts, from paths relative to
//! this package, so the inputs follow the fixtures without a rebuild.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mailtrail_analysis::ScanOptions;
use mailtrail_parse::{LineParser, ParserOptions, Tz};

/// Size each input is grown to, at least.
pub const TARGET_BYTES: usize = 4 << 20;

/// Year of the first yearless (syslog) timestamp: the Postfix fixtures are
/// from October 2024.
const POSTFIX_YEAR: i32 = 2024;

/// One benchmark input: a whole log in memory and how to read it.
pub struct Input {
    /// Short name for benchmark ids (`exim`, `postfix`).
    pub name: &'static str,
    /// The log, whole lines, each ending in a newline.
    pub data: Vec<u8>,
    /// Year for yearless timestamps, when the format has them.
    pub year: Option<i32>,
}

impl Input {
    /// A parser set up for this input, in its initial state.
    pub fn parser(&self) -> LineParser {
        let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
        if let Some(year) = self.year {
            parser.set_year(year);
        }
        parser
    }

    /// Scan options for this input, with the default chunk size.
    pub fn scan_options(&self) -> ScanOptions {
        let mut options = ScanOptions::new(ParserOptions::new(Tz::UTC));
        options.year = self.year;
        options
    }

    /// The lines of the input, without their newlines.
    pub fn lines(&self) -> Vec<&[u8]> {
        self.data
            .strip_suffix(b"\n")
            .unwrap_or(&self.data)
            .split(|&b| b == b'\n')
            .collect()
    }

    /// The input cut in two at the line boundary nearest its middle.
    pub fn halves(&self) -> (&[u8], &[u8]) {
        let middle = self.data.len() / 2;
        let cut = self.data[middle..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.data.len(), |i| middle + i + 1);
        self.data.split_at(cut)
    }
}

/// The Exim and the Postfix input.
///
/// # Panics
///
/// When a fixture cannot be read: a benchmark without its input is useless.
pub fn inputs() -> Vec<Input> {
    vec![exim(), postfix()]
}

/// The Exim incident log, repeated.
pub fn exim() -> Input {
    let path = fixtures().join("exim/incident/mainlog");
    let log = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Input {
        name: "exim",
        data: repeat(&log),
        year: None,
    }
}

/// The top-level Postfix fixtures, concatenated and repeated.
pub fn postfix() -> Input {
    let dir = fixtures().join("postfix");
    let logs = log_files(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(!logs.is_empty(), "{}: no *.log files", dir.display());
    let mut all = Vec::new();
    for path in logs {
        let log = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        append_lines(&mut all, &log);
    }
    Input {
        name: "postfix",
        data: repeat(&all),
        year: Some(POSTFIX_YEAR),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn log_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "log") {
            logs.push(path);
        }
    }
    // Directory order differs between file systems; the input should not.
    logs.sort();
    Ok(logs)
}

/// Appends `log`, ending it with a newline if it lacks one, so that files
/// and copies never run into each other's lines.
fn append_lines(out: &mut Vec<u8>, log: &[u8]) {
    out.extend_from_slice(log);
    if !log.is_empty() && !log.ends_with(b"\n") {
        out.push(b'\n');
    }
}

fn repeat(log: &[u8]) -> Vec<u8> {
    assert!(!log.is_empty(), "empty fixture");
    let mut out = Vec::with_capacity(TARGET_BYTES + log.len() + 1);
    while out.len() < TARGET_BYTES {
        append_lines(&mut out, log);
    }
    out
}
