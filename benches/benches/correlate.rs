//! Scanning: [`scan_bytes`] of an in-memory Exim log and an in-memory
//! Postfix log (parsing plus per-message correlation into a [`PartialLog`])
//! on one thread and on all threads, and [`PartialLog::merge`] of the
//! partial logs of two halves of a log.
//!
//! `scan_bytes` is what `mailtrail` spends nearly all of its time in on a
//! large file, so this is the number to watch for the per-message
//! bookkeeping. One thread against all threads shows how well the chunks
//! spread over the cores; `merge` is the sequential step after the parallel
//! one, which the thread count cannot speed up.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailtrail_analysis::{PartialLog, scan_bytes};
use mailtrail_benches::inputs;

/// Chunk size for the scans. The default (16 MiB) would leave the few-MB
/// inputs in a single chunk, so all threads would do no better than one;
/// smaller chunks give every thread work, and merging them is measured too.
const CHUNK_SIZE: usize = 512 << 10;

fn scan(c: &mut Criterion) {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    // The global pool, which `mailtrail` uses by default: one thread a core.
    let all_threads = rayon::current_num_threads();
    for input in inputs() {
        let mut options = input.scan_options();
        options.chunk_size = CHUNK_SIZE;
        let mut group = c.benchmark_group(format!("scan_bytes/{}", input.name));
        group.throughput(Throughput::Bytes(input.data.len() as u64));
        // Each pass takes tens of milliseconds; fewer samples keep the run short.
        group.sample_size(10);
        // The scanned logs are dropped outside the timing, as `mailtrail`
        // exits without freeing its records.
        group.bench_function(BenchmarkId::new("threads", 1), |b| {
            b.iter_with_large_drop(|| {
                one_thread.install(|| scan_bytes(black_box(&input.data), &options))
            });
        });
        if all_threads > 1 {
            group.bench_function(BenchmarkId::new("threads", all_threads), |b| {
                b.iter_with_large_drop(|| scan_bytes(black_box(&input.data), &options));
            });
        }
        group.finish();
    }
}

fn merge(c: &mut Criterion) {
    for input in inputs() {
        let options = input.scan_options();
        let (first, second) = input.halves();
        let earlier = scan_bytes(first, &options);
        let later = scan_bytes(second, &options);
        let mut group = c.benchmark_group(format!("merge/{}", input.name));
        group.sample_size(10);
        group.bench_function("two_halves", |b| {
            // Merging consumes both sides: each pass merges fresh copies, and
            // the copying and the dropping of the result are not timed.
            b.iter_batched(
                || (earlier.clone(), later.clone()),
                |(earlier, later): (PartialLog, PartialLog)| earlier.merge(later),
                BatchSize::LargeInput,
            );
        });
        group.finish();
    }
}

criterion_group!(benches, scan, merge);
criterion_main!(benches);
