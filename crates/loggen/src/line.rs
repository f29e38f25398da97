//! The line buffer both generators render into: one reused `Vec<u8>` per
//! line and a buffered writer, so that writing a line allocates nothing.

use std::io::{self, BufWriter, Write};

use crate::clock::TsCache;

/// One log line under construction, and the output it goes to.
pub(crate) struct Out<W: Write> {
    pub w: BufWriter<W>,
    pub buf: Vec<u8>,
    /// `YYYY-MM-DD HH:MM:SS` of the last second formatted (Exim prefixes,
    /// and the time stamps inside Microsoft replies).
    pub ts: TsCache,
    pub lines: u64,
    pub bytes: u64,
}

impl<W: Write> Out<W> {
    pub fn new(w: W) -> Self {
        Out {
            w: BufWriter::with_capacity(1 << 16, w),
            buf: Vec::with_capacity(1024),
            ts: TsCache::default(),
            lines: 0,
            bytes: 0,
        }
    }

    pub fn s(&mut self, s: &str) -> &mut Self {
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    pub fn num(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
        self
    }

    /// `v` as exactly `digits` upper-case hex digits.
    pub fn hex(&mut self, v: u64, digits: usize) -> &mut Self {
        for i in (0..digits).rev() {
            self.buf
                .push(b"0123456789ABCDEF"[((v >> (4 * i)) & 0xf) as usize]);
        }
        self
    }

    /// Ends the line and hands it to the writer.
    pub fn end(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        self.lines += 1;
        self.bytes += self.buf.len() as u64;
        self.w.write_all(&self.buf)
    }
}
