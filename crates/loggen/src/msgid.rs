//! Queue ids. Exim message ids (exim.md §3): base-62 encoding of the
//! reception start time, the receiving pid and the sub-second part. Postfix
//! queue ids (postfix.md §2): short ones are the microseconds and the queue
//! file's inode in hex; long ones (`enable_long_queue_ids = yes`) encode the
//! creation time in base 52, a `z`, and the inode in base 51.

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

/// Postfix long queue id alphabet (`safe_ultostr.c`): digits and consonants;
/// the inode part uses the first 51 characters (no `z`, the separator).
pub const POSTFIX_LONG_ALPHABET: &[u8; 52] =
    b"0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

/// Writes `v` in base `base` (upper-case hex for 16, else the long-id
/// alphabet), at least `min` digits, at `out[*len..]`.
fn put_digits(mut v: u64, base: u64, min: usize, out: &mut [u8], len: &mut usize) {
    let mut tmp = [0u8; 16];
    let mut n = 0;
    while v > 0 || n < min {
        let d = (v % base) as usize;
        tmp[n] = if base == 16 {
            b"0123456789ABCDEF"[d]
        } else {
            POSTFIX_LONG_ALPHABET[d]
        };
        v /= base;
        n += 1;
    }
    for i in (0..n).rev() {
        out[*len] = tmp[i];
        *len += 1;
    }
}

/// A Postfix queue id, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueId {
    buf: [u8; 24],
    len: u8,
}

impl QueueId {
    /// The default short id of a queue file created at microsecond `usec`
    /// of its second, with inode `inode`: `%05X` then `%lX`.
    pub fn short(usec: u32, inode: u64) -> Self {
        let mut buf = [0u8; 24];
        let mut len = 0;
        put_digits(u64::from(usec), 16, 5, &mut buf, &mut len);
        put_digits(inode, 16, 1, &mut buf, &mut len);
        QueueId {
            buf,
            len: len as u8,
        }
    }

    /// The long id of a queue file created at `secs`.`usec` (UTC epoch)
    /// with inode `inode`.
    pub fn long(secs: i64, usec: u32, inode: u64) -> Self {
        let mut buf = [0u8; 24];
        let mut len = 0;
        put_digits(secs.max(0) as u64, 52, 6, &mut buf, &mut len);
        put_digits(u64::from(usec), 52, 4, &mut buf, &mut len);
        buf[len] = b'z';
        len += 1;
        put_digits(inode, 51, 1, &mut buf, &mut len);
        QueueId {
            buf,
            len: len as u8,
        }
    }

    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and letters are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

    #[test]
    fn postfix_ids() {
        // fixtures/postfix/long_queue_id.py encode 2024-10-20T08:00:15Z 123456 1310721
        assert_eq!(
            QueueId::long(1_729_411_215, 123_456, 1_310_721).as_str(),
            "4XWW7z0sf8z9rvP"
        );
        assert_eq!(QueueId::short(0xC3CD2, 0x1F3E90).as_str(), "C3CD21F3E90");
        assert_eq!(QueueId::short(42, 0xA).as_str(), "0002AA");
    }
}
