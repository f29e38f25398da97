//! Turning bytes into a [`PartialLog`]: whole buffers cut into chunks parsed
//! in parallel, or streams read block by block.

use std::io::{self, Read};

use mailtrail_parse::{ClockState, LineParser, ParserOptions};
use rayon::prelude::*;

use crate::partial::{PartialLog, Retention};

/// How to scan input.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// How lines are parsed.
    pub parser: ParserOptions,
    /// Year for the first yearless timestamp (Postfix syslog); later ones
    /// roll over at New Year.
    pub year: Option<i32>,
    /// Target chunk size in bytes for parallel parsing.
    pub chunk_size: usize,
    /// Told how many bytes of a buffer were parsed, after each chunk.
    pub progress: Option<Progress>,
    /// Which finished entries are kept. The result still needs
    /// [`PartialLog::settle`] once every input is merged.
    pub retention: Retention,
    /// Keep a digest of the deliveries of the entries the retention drops
    /// ([`PartialLog::with_delivery_digest`]).
    pub delivery_digest: bool,
}

/// A callback told how many more bytes were parsed. It is called once per
/// chunk, not per line, so a shared counter behind it is not contended.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl ScanOptions {
    /// Default chunk size: large enough that per-chunk overhead vanishes,
    /// small enough that a 1 GB file gives dozens of chunks to balance.
    pub const DEFAULT_CHUNK_SIZE: usize = 16 << 20;

    /// Largest chunk size for streams ([`scan_reader`]), which hold their
    /// blocks in memory.
    pub const STREAM_CHUNK_SIZE: usize = 4 << 20;

    /// Options with default chunking and no year.
    pub fn new(parser: ParserOptions) -> ScanOptions {
        ScanOptions {
            parser,
            year: None,
            chunk_size: ScanOptions::DEFAULT_CHUNK_SIZE,
            progress: None,
            retention: Retention::Everything,
            delivery_digest: false,
        }
    }

    /// An empty partial log that keeps what these options ask for.
    fn empty_log(&self) -> PartialLog {
        let log = PartialLog::with_retention(self.retention.clone());
        if self.delivery_digest {
            log.with_delivery_digest()
        } else {
            log
        }
    }

    fn parser(&self, state: Option<ClockState>) -> LineParser {
        match state {
            Some(state) => LineParser::with_clock_state(self.parser.clone(), state),
            None => {
                let mut parser = LineParser::new(self.parser.clone());
                if let Some(year) = self.year {
                    parser.set_year(year);
                }
                parser
            }
        }
    }
}

/// Scans `data` (a whole file) on the current rayon pool: cuts it into
/// chunks at line boundaries, fixes each chunk's starting clock state in a
/// quick sequential pass, parses the chunks in parallel and merges them in
/// order. The result is identical to a sequential scan.
pub fn scan_bytes(data: &[u8], options: &ScanOptions) -> PartialLog {
    scan_block(data, 0, None, options).0
}

/// Runs `visit` on each chunk of `data` (a whole file) on the current
/// rayon pool and returns the results in chunk order. The chunks are
/// [`scan_bytes`]'s, and each comes with a parser in the clock state its
/// first line is in, so a chunk's lines parsed in order give what a
/// sequential parse of the file gives. For a second pass that looks for
/// a few lines (quoting a trace) rather than correlating.
pub fn map_chunks<T: Send>(
    data: &[u8],
    options: &ScanOptions,
    visit: impl Fn(&mut LineParser, &[u8]) -> T + Sync,
) -> Vec<T> {
    let starts = chunk_starts(data, options, None);
    (0..starts.len())
        .into_par_iter()
        .map(|i| {
            let (start, state) = starts[i];
            let end = starts.get(i + 1).map_or(data.len(), |s| s.0);
            visit(&mut options.parser(Some(state)), &data[start..end])
        })
        .collect()
}

/// [`scan_bytes`] of a block of a longer input that starts at byte `base`
/// in clock state `state` (`None`: the start of the input). Returns the
/// clock state at the block's end, for the next block.
fn scan_block(
    data: &[u8],
    base: u64,
    state: Option<ClockState>,
    options: &ScanOptions,
) -> (PartialLog, ClockState) {
    let starts = chunk_starts(data, options, state);
    let bounds: Vec<(usize, usize, ClockState)> = starts
        .iter()
        .enumerate()
        .map(|(i, &(start, state))| (start, starts.get(i + 1).map_or(data.len(), |s| s.0), state))
        .collect();
    // Reduced as they finish, adjacent stretches in order, rather than
    // collected first: merging two stretches drops the entries cut by the
    // boundary between them that the retention does not keep, so only a
    // few partial logs are alive at a time, not one for every chunk.
    let scanned = bounds
        .par_iter()
        .map(|&(start, end, state)| {
            let mut parser = options.parser(Some(state));
            let mut partial = options.empty_log();
            scan_lines(
                &mut parser,
                &data[start..end],
                base + start as u64,
                &mut partial,
            );
            partial.clock = parser.clock_stats();
            if let Some(Progress(report)) = &options.progress {
                report((end - start) as u64);
            }
            Some((partial, parser.clock_state()))
        })
        .reduce(
            || None,
            |earlier, later| match (earlier, later) {
                (Some((earlier, _)), Some((later, state))) => {
                    Some((earlier.merge_continuation(later), state))
                }
                (earlier, later) => earlier.or(later),
            },
        );
    let (log, end_state) = scanned.unwrap_or_else(|| (options.empty_log(), starts[0].1));
    (log, end_state)
}

/// Scans a stream (decompressed input, stdin) in blocks: while one block
/// is parsed in parallel, as [`scan_bytes`] does, the current thread reads
/// the next. Memory stays bounded by three blocks and the records, not by the
/// input size, and the result is identical to a sequential scan: each block
/// starts in the clock state the previous one ended in, and a block never
/// starts on a continuation line.
pub fn scan_reader<R: Read>(mut reader: R, options: &ScanOptions) -> io::Result<PartialLog> {
    // Progress is the caller's to report for streams (compressed bytes
    // read), not per parsed chunk. A stream holds three blocks (parsed,
    // being read, spare), and several inputs are read at once, so its
    // chunks are smaller than a mapped file's.
    let chunk_size = options.chunk_size.clamp(1, ScanOptions::STREAM_CHUNK_SIZE);
    let options = &ScanOptions {
        progress: None,
        chunk_size,
        ..options.clone()
    };
    // Two chunks a thread: enough to keep every thread busy on one block.
    let block_size = chunk_size * 2 * rayon::current_num_threads().max(1);
    let mut log = options.empty_log();
    let mut state = None;
    let mut base = 0u64;
    let mut carry = Vec::new();
    // The block just parsed is refilled with the one after next: a fresh
    // block of tens of MiB each time costs a page fault for every 4 KiB.
    let mut spare = Vec::new();
    let mut next = read_block(&mut reader, &mut carry, Vec::new(), block_size);
    loop {
        let block = match std::mem::replace(&mut next, Ok(Vec::new())) {
            Ok(block) if block.is_empty() => break,
            Ok(block) => block,
            Err(error) => {
                // What was read so far still counts; the caller reports the
                // error for this input.
                let (partial, _) = scan_block(&carry, base, state, options);
                return Err(with_partial(error, log.merge_continuation(partial)));
            }
        };
        let mut scanned = None;
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| scanned = Some(scan_block(&block, base, state, options)));
            next = read_block(
                &mut reader,
                &mut carry,
                std::mem::take(&mut spare),
                block_size,
            );
        });
        let (partial, end_state) = scanned.expect("the scope waits for the scan");
        log = log.merge_continuation(partial);
        state = Some(end_state);
        base += block.len() as u64;
        spare = block;
    }
    Ok(log)
}

/// Reads the next block of at least `block_size` bytes (less at the end),
/// ending after a newline that is followed by the start of a new entry
/// (see [`starts_an_entry`]); the rest stays in `carry` for the next
/// block. Empty at the end of the input. On an error, what was read is
/// left in `carry`. The block is read into `buffer`, whose contents are
/// discarded and whose memory is reused.
fn read_block<R: Read>(
    reader: &mut R,
    carry: &mut Vec<u8>,
    mut buffer: Vec<u8>,
    block_size: usize,
) -> io::Result<Vec<u8>> {
    buffer.clear();
    buffer.append(carry);
    let mut wanted = block_size;
    loop {
        let missing = wanted.saturating_sub(buffer.len());
        // Room for the whole block at once: grown by doubling, a block's
        // buffer would end up to twice its size.
        buffer.reserve_exact(missing);
        let missing = missing as u64;
        // `read_to_end` keeps what it read before an error, and grows the
        // buffer without zeroing it first.
        match reader.by_ref().take(missing).read_to_end(&mut buffer) {
            Ok(n) if (n as u64) < missing => return Ok(buffer),
            Ok(_) => {}
            Err(e) => {
                *carry = buffer;
                return Err(e);
            }
        }
        if let Some(cut) = entry_boundary(&buffer) {
            carry.extend_from_slice(&buffer[cut..]);
            buffer.truncate(cut);
            return Ok(buffer);
        }
        // One entry longer than a block: read on until it ends.
        wanted = buffer.len() + block_size;
    }
}

/// The last offset in `data` where a whole line that may start a chunk
/// starts (see [`starts_an_entry`]).
fn entry_boundary(data: &[u8]) -> Option<usize> {
    let mut end = data.len();
    loop {
        let newline = memchr::memrchr(b'\n', &data[..end])?;
        // The line must be whole: a split marker may be in its missing end.
        let whole = memchr::memchr(b'\n', &data[newline + 1..]).is_some();
        if whole && starts_an_entry(data, newline + 1) {
            return Some(newline + 1);
        }
        end = newline;
    }
}

/// True when the line at `start` of `data` (just after a newline) may
/// begin a chunk: it does not continue the entry before it. Continuation
/// lines do (a leading blank), and so do the later parts of a record Exim
/// split for syslog (`[2/3]`), which the parser joins to the first part
/// only if it has read it.
fn starts_an_entry(data: &[u8], start: usize) -> bool {
    let line_at = |from: usize| {
        let end = memchr::memchr(b'\n', &data[from..]).map_or(data.len(), |i| from + i);
        &data[from..end]
    };
    let split = |line: &[u8]| mailtrail_parse::wrapper::unwrap_line(line).and_then(|e| e.split);
    let line = line_at(start);
    if matches!(line.first(), Some(b' ' | b'\t')) || split(line).is_some_and(|p| p.index > 1) {
        return false;
    }
    let previous_start = match start.checked_sub(1) {
        Some(newline) => memchr::memrchr(b'\n', &data[..newline]).map_or(0, |i| i + 1),
        None => return true,
    };
    // A first or middle part before it: the record goes on after it, even
    // when this line is another writer's.
    !split(line_at(previous_start)).is_some_and(|p| p.index < p.total && !p.at_newline)
}

/// How many years the assumed year of yearless timestamps is off, judged
/// by Postfix long queue ids: they encode their creation time in UTC, so a
/// message first seen about a year after (or before) its id was made means
/// the year was wrong. `None` when the log has no long queue ids.
pub fn year_shift_from_long_ids(log: &PartialLog) -> Option<i32> {
    let total: u64 = log.long_id_year_offsets.values().sum();
    let mut seen = 0;
    for (&years, &count) in &log.long_id_year_offsets {
        seen += count;
        // The median, as the upper middle: stray ids cannot move it.
        if seen > total / 2 {
            return Some(-(years as i32));
        }
    }
    None
}

/// An I/O error that happened after part of the input was scanned.
#[derive(Debug)]
pub struct PartialScanError {
    /// What was scanned before the error.
    pub partial: Box<PartialLog>,
    /// The error.
    pub source: io::Error,
}

impl std::fmt::Display for PartialScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl std::error::Error for PartialScanError {
    // The message is the I/O error's own (see Display), so the chain goes on
    // with that error's cause rather than repeating it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

fn with_partial(error: io::Error, partial: PartialLog) -> io::Error {
    let kind = error.kind();
    io::Error::new(
        kind,
        PartialScanError {
            partial: Box::new(partial),
            source: error,
        },
    )
}

/// Takes back what was scanned before a read error, if the error carries it.
pub fn take_partial(error: &mut io::Error) -> Option<PartialLog> {
    let inner = error.get_mut()?;
    let partial = inner.downcast_mut::<PartialScanError>()?;
    Some(std::mem::take(&mut *partial.partial))
}

fn scan_lines(parser: &mut LineParser, data: &[u8], base: u64, partial: &mut PartialLog) {
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let line = &data[start..end];
        let parsed = parser.parse(line);
        partial.record(&parsed, line, base + start as u64);
        start = end + 1;
    }
}

/// Chunk start offsets with the clock state each chunk starts in.
///
/// A chunk never starts inside an entry ([`starts_an_entry`]) nor inside a daylight-saving fold (which pass of the repeated hour
/// a line is in depends on the lines before it): such starts move forward.
/// The clock state at each start is found by parsing only the first line of
/// every chunk, in order, which carries the year across chunks.
fn chunk_starts(
    data: &[u8],
    options: &ScanOptions,
    state: Option<ClockState>,
) -> Vec<(usize, ClockState)> {
    let mut probe = options.parser(state);
    let mut starts = vec![(0, probe.clock_state())];
    let chunk_size = options.chunk_size.max(1);
    let mut next = chunk_size;
    while next < data.len() {
        let Some(newline) = memchr::memchr(b'\n', &data[next..]) else {
            break;
        };
        let mut start = next + newline + 1;
        loop {
            if start >= data.len() {
                return starts;
            }
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
            let line = &data[start..end];
            let before = probe.clock_state();
            let ambiguous_before = probe.clock_stats().ambiguous;
            let inside_entry = !starts_an_entry(data, start);
            let _ = probe.parse(line);
            if !inside_entry && probe.clock_stats().ambiguous == ambiguous_before {
                starts.push((start, before));
                break;
            }
            start = end + 1;
        }
        next = starts.last().map_or(next, |s| s.0) + chunk_size;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(chunk_size: usize) -> ScanOptions {
        let mut options = ScanOptions::new(ParserOptions::new(mailtrail_parse::Tz::Europe__Berlin));
        options.chunk_size = chunk_size;
        options.year = Some(2024);
        options
    }

    const LOG: &[u8] = b"\
2024-10-27 01:50:00 1t2UKC-0000000738v-1Zz9 <= alice@example.com H=mx.example.net [192.0.2.1] P=esmtps S=1200 id=a1@example.com
2024-10-27 02:10:00 1t2UKC-0000000738v-1Zz9 == bob@example.org R=dnslookup T=remote_smtp defer (111): Connection refused
2024-10-27 02:50:00 Start queue run: pid=1
 continuation of something
2024-10-27 02:20:00 1t2UKC-0000000738v-1Zz9 => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.9] C=\"250 OK\"
2024-10-27 02:25:00 1t2UKC-0000000738v-1Zz9 Completed
2024-10-27 03:30:00 Start queue run: pid=2
2024-10-27 03:40:00 1t2UKD-0000000739v-1Zz9 == dave <dave@example.com> R=local_user T=maildir_home defer (-22): mailbox is full (first)
2024-10-27 03:50:00 1t2UKD-0000000739v-1Zz9 == dave <dave@example.com> R=local_user T=maildir_home defer (-22): mailbox is full (second)
2024-10-27 03:50:00 1t2UKD-0000000739v-1Zz9 ** dave <dave@example.com>: retry timeout exceeded
garbage \xff line
";

    #[test]
    fn chunked_scan_equals_sequential_scan_for_every_chunk_size() {
        let data = LOG;
        let sequential = scan_reader(data, &options(1 << 20)).unwrap();
        for chunk_size in 1..data.len() + 2 {
            let chunked = scan_bytes(data, &options(chunk_size));
            assert_eq!(chunked.counts, sequential.counts, "chunk size {chunk_size}");
            assert_eq!(
                chunked.messages, sequential.messages,
                "chunk size {chunk_size}"
            );
            assert_eq!(chunked.clock, sequential.clock, "chunk size {chunk_size}");
        }
    }

    /// A reader that gives at most three bytes a call, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streamed_blocks_equal_sequential_scan_for_every_chunk_size() {
        let sequential = scan_reader(LOG, &options(1 << 20)).unwrap();
        for chunk_size in 1..LOG.len() + 2 {
            let streamed = scan_reader(Trickle(LOG), &options(chunk_size)).unwrap();
            assert_eq!(
                streamed.counts, sequential.counts,
                "chunk size {chunk_size}"
            );
            assert_eq!(
                streamed.messages, sequential.messages,
                "chunk size {chunk_size}"
            );
            assert_eq!(streamed.clock, sequential.clock, "chunk size {chunk_size}");
            assert_eq!(
                streamed.unrecognised_samples, sequential.unrecognised_samples,
                "chunk size {chunk_size}"
            );
        }
    }

    #[test]
    fn a_read_error_keeps_what_was_read() {
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("disk gone"));
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut error = scan_reader(Failing(LOG), &options(64)).unwrap_err();
        assert_eq!(error.to_string(), "disk gone");
        let partial = take_partial(&mut error).expect("the lines read before the error");
        assert_eq!(partial.counts, scan_bytes(LOG, &options(64)).counts);
    }

    #[test]
    fn fold_second_pass_is_found_across_chunks() {
        let partial = scan_bytes(LOG, &options(100));
        let records = partial
            .messages
            .iter()
            .find(|(key, _)| key.ends_with(b"1t2UKC-0000000738v-1Zz9"))
            .map(|(_, records)| records)
            .unwrap();
        let recipient = &records[0].recipients[0];
        // 02:20 after 02:50 is the second pass: 01:20 UTC, after the 01:10 UTC deferral.
        assert_eq!(
            recipient.terminal.as_ref().unwrap().at.to_rfc3339(),
            "2024-10-27T01:20:00+00:00"
        );
        assert_eq!(
            recipient.failure_times[0].to_rfc3339(),
            "2024-10-27T00:10:00+00:00"
        );
    }
}
