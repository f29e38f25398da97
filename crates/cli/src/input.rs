//! Reading log inputs: plain files (memory-mapped), gzip files (by content,
//! not by name) and standard input.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Datelike;
use flate2::read::MultiGzDecoder;
use mailtrail_analysis::{PartialLog, ScanOptions, scan_bytes, scan_reader, take_partial};

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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Scans one input. Errors opening it are returned; errors part-way are
/// reported in [`Scanned::error`] together with what was read.
pub fn scan_input(input: &Input, options: &ScanOptions) -> anyhow::Result<Scanned> {
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
                let mut scanned = scan_file(path, &file, metadata.len(), &options, name)?;
                scanned.year_source = year_source.to_string();
                return Ok(scanned);
            };
            // Yearless timestamps (classic syslog) start in the year of the
            // file's last change and roll over at New Year. A log cannot
            // end after it was last written: if it does (by more than a
            // day, for clock skew), it started a year earlier.
            let mut options = options.clone();
            let mut year = modified.year();
            let mut corrected = 0;
            loop {
                options.year = Some(year);
                let mut scanned = scan_file(path, &file, metadata.len(), &options, name.clone())?;
                let too_late = scanned
                    .log
                    .span
                    .is_some_and(|(_, last)| last > modified + chrono::Duration::days(1));
                if scanned.log.clock.yearless == 0 || !too_late || corrected == 2 {
                    scanned.year_source = match (scanned.log.clock.yearless, corrected) {
                        (0, _) => "not needed (every timestamp has a year)".to_string(),
                        (_, 0) => format!("{year}, from the file's modification time"),
                        (_, _) => format!(
                            "{year}, the file's modification year minus {corrected}: later years would put lines after the file was written"
                        ),
                    };
                    return Ok(scanned);
                }
                year -= 1;
                corrected += 1;
            }
        }
    }
}

/// Scans one opened file: gzip by content, else memory-mapped.
fn scan_file(
    path: &Path,
    file: &File,
    len: u64,
    options: &ScanOptions,
    name: String,
) -> anyhow::Result<Scanned> {
    let mut head = [0u8; 2];
    let head_len =
        read_head(file, &mut head).with_context(|| format!("cannot read {}", path.display()))?;
    if head_len == 2 && head == GZIP_MAGIC {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let (log, error, _) = scan_stream(file, options);
        let error = error.map(|e| {
            anyhow::Error::new(e).context(format!(
                "{}: corrupt or truncated gzip data",
                path.display()
            ))
        });
        return Ok(Scanned {
            name,
            log,
            error,
            compressed: true,
            year_source: String::new(),
        });
    }
    if len == 0 {
        return Ok(Scanned {
            name,
            log: PartialLog::default(),
            error: None,
            compressed: false,
            year_source: String::new(),
        });
    }
    // SAFETY: the map is read-only and dropped before returning. A file
    // truncated while mapped (logrotate copytruncate) can raise SIGBUS;
    // that risk is accepted for files not being written.
    let map = unsafe { memmap2::Mmap::map(file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    let log = scan_bytes(&map, options);
    Ok(Scanned {
        name,
        log,
        error: None,
        compressed: false,
        year_source: String::new(),
    })
}

fn read_head(file: &File, head: &mut [u8; 2]) -> io::Result<usize> {
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

/// Scans a stream, decompressing it when it starts with the gzip magic.
fn scan_stream<R: Read>(reader: R, options: &ScanOptions) -> (PartialLog, Option<io::Error>, bool) {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let head = match io::BufRead::fill_buf(&mut reader) {
        Ok(buffer) => buffer.get(..2) == Some(&GZIP_MAGIC[..]),
        Err(e) => return (PartialLog::default(), Some(e), false),
    };
    let result = if head {
        scan_reader(MultiGzDecoder::new(reader), options)
    } else {
        scan_reader(reader, options)
    };
    match result {
        Ok(log) => (log, None, head),
        Err(mut e) => {
            let log = take_partial(&mut e).unwrap_or_default();
            (log, Some(e), head)
        }
    }
}
