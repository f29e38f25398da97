//! Gzip decompression throughput: how fast one gzipped log can be
//! inflated at all, in bytes of log per second.
//!
//! A gzip stream is one chain of deflate blocks that must be inflated in
//! order, so a single `.gz` file is read on one thread however many the
//! parser has. This bench measures that ceiling with the decoder
//! `mailtrail` uses (flate2's `MultiGzDecoder` on the zlib-rs backend), on
//! the benchmark inputs compressed as logrotate does (`gzip -6`, the
//! default) and as `gzip -1` does. Compression happens before the timing.

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use mailtrail_benches::inputs;

fn gzip(data: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn inflate(c: &mut Criterion) {
    for input in inputs() {
        let mut group = c.benchmark_group(format!("inflate/{}", input.name));
        group.throughput(Throughput::Bytes(input.data.len() as u64));
        for (name, level) in [
            ("gzip-1", Compression::fast()),
            ("gzip-6", Compression::default()),
        ] {
            let compressed = gzip(&input.data, level);
            // Read in blocks of the size the scanner reads, into one
            // reused buffer, so only the inflate is measured.
            let mut block = vec![0u8; 4 << 20];
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut decoder = MultiGzDecoder::new(black_box(&compressed[..]));
                    let mut total = 0;
                    loop {
                        let n = decoder.read(&mut block).expect("a valid gzip stream");
                        if n == 0 {
                            break;
                        }
                        total += n;
                    }
                    assert_eq!(total, input.data.len());
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, inflate);
criterion_main!(benches);
