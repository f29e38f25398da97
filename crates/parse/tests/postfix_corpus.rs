//! Runs the Postfix grammar over every line of the shared corpus of real
//! Postfix logs (when it is present) and checks that nothing panics. Lines
//! whose envelope the wrapper does not unwrap (yet) are skipped. The share
//! of unrecognised lines per source is printed, not asserted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use mailtrail_parse::Body;
use mailtrail_parse::postfix::{parse_body, split_program};
use mailtrail_parse::wrapper::unwrap_line;

const CORPUS: &str = "/work/shared/corpus/postfix";

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[derive(Default)]
struct Tally {
    lines: u64,
    postfix: u64,
    unrecognised: u64,
    not_unwrapped: u64,
}

#[test]
fn corpus_parses_without_panic() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        eprintln!("{CORPUS} not present; skipping");
        return;
    }
    let mut files = Vec::new();
    files_under(root, &mut files);
    files.sort();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for file in &files {
        let Ok(data) = fs::read(file) else { continue };
        let source = file
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.iter().next())
            .map_or_else(|| String::from("?"), |s| s.to_string_lossy().into_owned());
        let tally = tallies.entry(source).or_default();
        for line in data.split(|&b| b == b'\n') {
            tally.lines += 1;
            // The wrapper is not under test here: a failure in it counts as
            // "not unwrapped", so only the grammar's panics fail this test.
            let envelope = std::panic::catch_unwind(|| unwrap_line(line))
                .ok()
                .flatten();
            let Some(envelope) = envelope else {
                tally.not_unwrapped += 1;
                continue;
            };
            let Some((_, daemon)) = split_program(envelope.program) else {
                continue;
            };
            tally.postfix += 1;
            if let Body::Unrecognised(_) = parse_body(daemon, envelope.body).body {
                tally.unrecognised += 1;
            }
        }
    }
    eprintln!(
        "{:<40} {:>7} {:>8} {:>7} {:>7}",
        "source", "lines", "postfix", "unrec", "share"
    );
    for (source, t) in &tallies {
        let share = if t.postfix == 0 {
            0.0
        } else {
            100.0 * t.unrecognised as f64 / t.postfix as f64
        };
        eprintln!(
            "{source:<40} {:>7} {:>8} {:>7} {share:>6.1}%  (not unwrapped: {})",
            t.lines, t.postfix, t.unrecognised, t.not_unwrapped
        );
    }
}
