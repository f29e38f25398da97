//! Reading log inputs: plain files (memory-mapped), gzip files (by content,
//! not by name) and standard input.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Datelike;
use flate2::read::MultiGzDecoder;
use mailtrail_analysis::{
    PartialLog, Progress, ScanOptions, scan_bytes, scan_reader, take_partial,
    year_shift_from_long_ids,
};

/// One input as named on the command line.
#[derive(Clone, Debug)]
pub enum Input {
    /// `-`
    Stdin,
    /// A file path.
    File(PathBuf),
}

impl Input {
    pub fn from_arg(arg: &Path) -> Input {
        if arg.as_os_str() == "-" {
            Input::Stdin
        } else {
            Input::File(arg.to_path_buf())
        }
    }

    /// True when the input can be read a second time and give the same
    /// lines: a regular file (one still being written gives more), not
    /// standard input, a pipe (`<(zcat …)`) or a terminal. An input that
    /// cannot be opened is reported by the first read.
    pub fn can_be_read_again(&self) -> bool {
        match self {
            Input::Stdin => false,
            Input::File(path) => std::fs::metadata(path).map_or(true, |m| m.is_file()),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) => path.display().to_string(),
        }
    }
}

/// What scanning one input gave.
pub struct Scanned {
    pub name: String,
    pub log: PartialLog,
    /// Set when reading failed part-way; `log` holds what was read before.
    pub error: Option<anyhow::Error>,
    pub compressed: bool,
    /// How the year of yearless timestamps was decided.
    pub year_source: String,
}

/// Scans one input. Errors opening it are returned; errors part-way are
/// reported in [`Scanned::error`] together with what was read.
pub fn scan_input(input: &Input, options: &ScanOptions, mmap: bool) -> anyhow::Result<Scanned> {
    let name = input.name();
    match input {
        Input::Stdin => {
            let given = options.year.is_some();
            let mut options = options.clone();
            options.year = options.year.or(Some(chrono::Utc::now().year()));
            let (log, error, compressed) = scan_stream(io::stdin().lock(), &options);
            let year_source = if given {
                "--year"
            } else {
                "current year (stdin has no modification time)"
            };
            Ok(Scanned {
                name,
                log,
                error: error.map(|e| anyhow::Error::new(e).context("reading <stdin>")),
                compressed,
                year_source: year_source.to_string(),
            })
        }
        Input::File(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let metadata = file
                .metadata()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if metadata.is_dir() {
                anyhow::bail!("{} is a directory", path.display());
            }
            let modified = metadata
                .modified()
                .ok()
                .map(chrono::DateTime::<chrono::Utc>::from);
            let Some(modified) = modified.filter(|_| options.year.is_none()) else {
                let year_source = if options.year.is_some() {
                    "--year"
                } else {
                    "current year (no modification time)"
                };
                let mut options = options.clone();
                options.year = options.year.or(Some(chrono::Utc::now().year()));
                let mut scanned = scan_file(path, &file, metadata.len(), &options, name, mmap)?;
                scanned.year_source = year_source.to_string();
                return Ok(scanned);
            };
            // Yearless timestamps (classic syslog) start in the year of the
            // file's last change and roll over at New Year.
            let mut options = options.clone();
            options.year = Some(modified.year());
            let scanned = scan_file(path, &file, metadata.len(), &options, name.clone(), mmap)?;
            let year = modified.year();
            if scanned.log.clock.yearless == 0 {
                return Ok(Scanned {
                    year_source: "not needed (every timestamp has a year)".to_string(),
                    ..scanned
                });
            }
            // Postfix long queue ids carry their creation time: when the
            // log has them, they decide.
            if let Some(shift) = year_shift_from_long_ids(&scanned.log) {
                if shift == 0 {
                    let source = format!(
                        "{year}, from the file's modification time, confirmed by long queue ids"
                    );
                    return Ok(Scanned {
                        year_source: source,
                        ..scanned
                    });
                }
                options.year = Some(year + shift);
                // A second pass over the same bytes: the progress display
                // has counted them already.
                options.progress = None;
                let rescanned = scan_file(path, &file, metadata.len(), &options, name, mmap)?;
                let source = format!(
                    "{}, from the creation times in long queue ids",
                    year + shift
                );
                return Ok(Scanned {
                    year_source: source,
                    ..rescanned
                });
            }
            // Otherwise the log cannot end after the file was last written:
            // if it does (by more than a day, for clock skew), it started a
            // year earlier.
            let too_late = |s: &Scanned| {
                s.log
                    .span
                    .is_some_and(|(_, last)| last > modified + chrono::Duration::days(1))
            };
            let mut scanned = scanned;
            let mut corrected = 0;
            while too_late(&scanned) && corrected < 2 {
                corrected += 1;
                options.year = Some(year - corrected);
                options.progress = None;
                scanned = scan_file(path, &file, metadata.len(), &options, name.clone(), mmap)?;
            }
            scanned.year_source = match corrected {
                0 => format!("{year}, from the file's modification time"),
                _ => format!(
                    "{}, the file's modification year minus {corrected}: later years would put lines after the file was written",
                    year - corrected
                ),
            };
            Ok(scanned)
        }
    }
}

/// A file changed this recently may still be written to, or truncated by
/// logrotate's `copytruncate`: it is read, not mapped, because a mapped file
/// that shrinks kills the process (SIGBUS).
const BEING_WRITTEN: std::time::Duration = std::time::Duration::from_secs(10);

/// How a file's bytes are read.
enum Access {
    /// Through a decoder.
    Compressed(Compression),
    /// With `read()`: mapping is off or the file is being written.
    Read,
    /// Mapped into memory.
    Mapped(memmap2::Mmap),
    /// Nothing to read.
    Empty,
}

/// Decides how to read an opened file: decompressed when its content is
/// compressed, else memory-mapped, or read when mapping is off or the
/// file is being written.
fn access(path: &Path, file: &File, len: u64, mmap: bool) -> anyhow::Result<Access> {
    let mut head = [0u8; 6];
    let head_len =
        read_head(file, &mut head).with_context(|| format!("cannot read {}", path.display()))?;
    let compression = Compression::sniff(&head[..head_len]);
    if compression != Compression::None {
        return Ok(Access::Compressed(compression));
    }
    let being_written = file
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < BEING_WRITTEN));
    if !mmap || being_written {
        return Ok(Access::Read);
    }
    if len == 0 {
        return Ok(Access::Empty);
    }
    // SAFETY: the map is read-only and dropped once the file is read. A
    // file truncated while mapped (logrotate copytruncate) can raise
    // SIGBUS; that risk is accepted for files not being written.
    // Populated: the kernel maps the cached pages in one call instead of
    // taking a page fault per 4 KiB on first touch.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    Ok(Access::Mapped(map))
}

/// Scans one opened file: decompressed when its content is compressed,
/// else memory-mapped and parsed in parallel chunks (or read sequentially
/// when mapping is off or the file is being written).
fn scan_file(
    path: &Path,
    file: &File,
    len: u64,
    options: &ScanOptions,
    name: String,
    mmap: bool,
) -> anyhow::Result<Scanned> {
    let scanned = |log, error, compressed| Scanned {
        name,
        log,
        error,
        compressed,
        year_source: String::new(),
    };
    match access(path, file, len, mmap)? {
        Access::Compressed(compression) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let (log, error, _) = scan_stream(file, options);
            let error = error.map(|e| {
                anyhow::Error::new(e).context(format!(
                    "{}: corrupt or truncated {} data",
                    path.display(),
                    compression.name()
                ))
            });
            Ok(scanned(log, error, true))
        }
        Access::Read => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let (log, error, _) = scan_stream(file, options);
            let error =
                error.map(|e| anyhow::Error::new(e).context(format!("reading {}", path.display())));
            Ok(scanned(log, error, false))
        }
        Access::Empty => Ok(scanned(PartialLog::default(), None, false)),
        Access::Mapped(map) => Ok(scanned(scan_bytes(&map, options), None, false)),
    }
}

/// A plain file of `input` mapped into memory, for reading it a second
/// time in parallel; `None` when it must be read as a stream
/// ([`open_again`]): compressed, being written, or `mmap` off.
pub fn map_again(input: &Input, mmap: bool) -> anyhow::Result<Option<memmap2::Mmap>> {
    let Input::File(path) = input else {
        return Ok(None);
    };
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok(match access(path, &file, len, mmap)? {
        Access::Mapped(map) => Some(map),
        Access::Compressed(_) | Access::Read | Access::Empty => None,
    })
}

fn read_head(file: &File, head: &mut [u8]) -> io::Result<usize> {
    let mut reader = file;
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A compression format, recognised by the first bytes of the data (not
/// by the file name: rotated logs are often renamed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.len() >= 4 && head.starts_with(b"BZh") && head[3].is_ascii_digit() {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// Wraps a buffered reader in the decoder its first bytes call for. Every
/// decoder reads concatenated streams (pigz, `cat a.gz b.gz`, multi-frame
/// zstd), not just the first one.
fn decoded<'a, R: io::BufRead + 'a>(
    mut reader: R,
) -> io::Result<(Box<dyn Read + 'a>, Compression)> {
    let compression = Compression::sniff(reader.fill_buf()?);
    let decoder: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
    };
    Ok((decoder, compression))
}

/// Counts the bytes read from an input (before decompression) for the
/// progress display.
struct Counted<R> {
    inner: R,
    progress: Option<Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(Progress(report)) = &self.progress {
            report(n as u64);
        }
        Ok(n)
    }
}

/// Scans a stream, decompressing it when its content is compressed.
fn scan_stream<R: Read>(reader: R, options: &ScanOptions) -> (PartialLog, Option<io::Error>, bool) {
    let reader = Counted {
        inner: reader,
        progress: options.progress.clone(),
    };
    let (reader, compression) = match decoded(BufReader::with_capacity(1 << 20, reader)) {
        Ok(decoded) => decoded,
        Err(e) => return (PartialLog::default(), Some(e), false),
    };
    let compressed = compression != Compression::None;
    match scan_reader(reader, options) {
        Ok(log) => (log, None, compressed),
        Err(mut e) => {
            let log = take_partial(&mut e).unwrap_or_default();
            (log, Some(e), compressed)
        }
    }
}

/// One line found by [`find_lines`].
pub struct FoundLine {
    /// Which query it matched.
    pub query: usize,
    /// Input name.
    pub input: String,
    /// 1-based line number.
    pub line: u64,
    /// The line, lossily decoded.
    pub text: String,
}

/// Reads `input` again, sequentially, and returns the lines that contain
/// every needle of one of `queries` (at most `limit` per query): how
/// reports quote the real log lines behind a finding.
pub fn find_lines(
    input: &Input,
    queries: &[Vec<Vec<u8>>],
    limit: usize,
) -> anyhow::Result<Vec<FoundLine>> {
    let mut reader = open_again(input)?;
    let finders: Vec<Vec<memchr::memmem::Finder>> = queries
        .iter()
        .map(|q| q.iter().map(memchr::memmem::Finder::new).collect())
        .collect();
    let mut found = Vec::new();
    let mut counts = vec![0usize; queries.len()];
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", input.name()))?;
        if read == 0 {
            break;
        }
        number += 1;
        for (query, needles) in finders.iter().enumerate() {
            if counts[query] < limit && needles.iter().all(|f| f.find(&line).is_some()) {
                counts[query] += 1;
                let text =
                    String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned();
                found.push(FoundLine {
                    query,
                    input: input.name(),
                    line: number,
                    text,
                });
            }
        }
        if counts.iter().all(|&c| c >= limit) {
            break;
        }
    }
    Ok(found)
}

/// The SHA-256 of a file, hex-encoded, for reproducibility notes.
pub fn sha256_of(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Opens a file input again for a sequential pass, decompressing it when
/// its content is compressed. Standard input cannot be read twice.
pub fn open_again(input: &Input) -> anyhow::Result<Box<dyn io::BufRead>> {
    let Input::File(path) = input else {
        anyhow::bail!(
            "cannot read <stdin> a second time (its lines are read once to correlate and once to quote them); save it to a file first"
        );
    };
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (reader, _) = decoded(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}
