//! Parser throughput: [`LineParser::parse`](mailtrail_parse::LineParser::parse)
//! over every line of an in-memory Exim log and an in-memory Postfix log, in
//! bytes per second.
//!
//! This isolates classifying lines and extracting fields from everything
//! that follows (correlating messages, building reports, reading files):
//! the lines are split before the measurement, and each parsed line is
//! dropped at once. One group per format, because the two grammars and
//! timestamp forms cost differently. See `correlate.rs` for the whole scan.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailtrail_benches::inputs;

fn parse(c: &mut Criterion) {
    for input in inputs() {
        let lines = input.lines();
        let mut group = c.benchmark_group(format!("parse/{}", input.name));
        group.throughput(Throughput::Bytes(input.data.len() as u64));
        group.bench_function("line_by_line", |b| {
            b.iter(|| {
                // A fresh parser per pass: the clock state carried from line
                // to line starts the same way every time.
                let mut parser = input.parser();
                for &line in &lines {
                    black_box(parser.parse(black_box(line)));
                }
            });
        });
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
