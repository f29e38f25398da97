//! Exim message ids (exim.md §3): base-62 encoding of the reception start time,
//! the receiving pid and the sub-second part.

/// Base-62 alphabet of Exim (`globals.c`), digit value = index.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Which id format to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Exim ≤ 4.96: `6-6-2` (16 chars), last part = µs / 500.
    Old,
    /// Exim ≥ 4.97: `6-11-4` (23 chars), last part = µs.
    New,
}

/// A message id, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgId {
    buf: [u8; 23],
    len: u8,
}

fn encode(mut v: u64, out: &mut [u8]) {
    for c in out.iter_mut().rev() {
        *c = BASE62[(v % 62) as usize];
        v /= 62;
    }
}

impl MsgId {
    /// Builds the id Exim gives a message whose reception started at
    /// `secs`.`usec` (UTC epoch) in process `pid`.
    pub fn new(format: IdFormat, secs: i64, usec: u32, pid: u64) -> Self {
        let mut buf = [0u8; 23];
        encode(secs as u64, &mut buf[0..6]);
        buf[6] = b'-';
        let len = match format {
            IdFormat::New => {
                encode(pid, &mut buf[7..18]);
                buf[18] = b'-';
                encode(u64::from(usec), &mut buf[19..23]);
                23
            }
            IdFormat::Old => {
                encode(pid % 62u64.pow(6), &mut buf[7..13]);
                buf[13] = b'-';
                encode(u64::from(usec / 500), &mut buf[14..16]);
                16
            }
        };
        MsgId { buf, len }
    }

    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII base-62 digits and hyphens are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for MsgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_examples() {
        // exim.md §3: 1t2UKC-0000000738v-1Zz9 → 1729424540, pid 1680381, 376659 µs.
        let id = MsgId::new(IdFormat::New, 1_729_424_540, 376_659, 1_680_381);
        assert_eq!(id.as_str(), "1t2UKC-0000000738v-1Zz9");
        // 16VDhn-0001bo-D3 → 1012231703, pid 6188, D3 = 809 → 404500 µs.
        let id = MsgId::new(IdFormat::Old, 1_012_231_703, 404_500, 6188);
        assert_eq!(id.as_str(), "16VDhn-0001bo-D3");
    }
}
