//! Time helpers. Internally every instant is an `i64` count of microseconds
//! since the Unix epoch (UTC).

use chrono::{DateTime, NaiveDateTime};

/// One second in microseconds.
pub const SEC: i64 = 1_000_000;
/// One minute in microseconds.
pub const MIN: i64 = 60 * SEC;
/// One hour in microseconds.
pub const HOUR: i64 = 60 * MIN;

/// Parses `YYYY-MM-DDTHH:MM:SS` (or with a space, optional `Z`) as UTC.
pub fn parse_utc(s: &str) -> Result<i64, String> {
    let t = s.trim().trim_end_matches('Z');
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp() * SEC);
        }
    }
    Err(format!(
        "not a UTC date-time (want YYYY-MM-DDTHH:MM:SS): {s:?}"
    ))
}

/// Formats an instant as RFC 3339 UTC with second precision (`2024-10-19T18:03:00Z`).
pub fn rfc3339(t: i64) -> String {
    let mut c = TsCache::default();
    let b = c.stamp(t.div_euclid(SEC));
    let mut s = String::with_capacity(20);
    s.push_str(std::str::from_utf8(&b[..10]).unwrap_or(""));
    s.push('T');
    s.push_str(std::str::from_utf8(&b[11..]).unwrap_or(""));
    s.push('Z');
    s
}

/// Caches the `YYYY-MM-DD HH:MM:SS` text of the last second formatted; the
/// date part is recomputed only when the day changes.
#[derive(Debug)]
pub struct TsCache {
    sec: i64,
    day: i64,
    bytes: [u8; 19],
}

impl Default for TsCache {
    fn default() -> Self {
        TsCache {
            sec: i64::MIN,
            day: i64::MIN,
            bytes: *b"0000-00-00 00:00:00",
        }
    }
}

fn two(out: &mut [u8], v: i64) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

impl TsCache {
    /// `YYYY-MM-DD HH:MM:SS` for an epoch second.
    pub fn stamp(&mut self, sec: i64) -> &[u8; 19] {
        if sec != self.sec {
            let day = sec.div_euclid(86_400);
            if day != self.day {
                let date = DateTime::from_timestamp(day * 86_400, 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "1970-01-01".into());
                self.bytes[..10].copy_from_slice(&date.as_bytes()[..10]);
                self.day = day;
            }
            let sod = sec.rem_euclid(86_400);
            two(&mut self.bytes[11..13], sod / 3600);
            two(&mut self.bytes[14..16], sod / 60 % 60);
            two(&mut self.bytes[17..19], sod % 60);
            self.sec = sec;
        }
        &self.bytes
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Caches the classic syslog (RFC 3164) time stamp `Mmm dd HH:MM:SS` of the
/// last second formatted: no year, day padded with a space (`Oct  5`).
#[derive(Debug)]
pub struct SyslogStamp {
    sec: i64,
    day: i64,
    bytes: [u8; 15],
}

impl Default for SyslogStamp {
    fn default() -> Self {
        SyslogStamp {
            sec: i64::MIN,
            day: i64::MIN,
            bytes: *b"Jan  1 00:00:00",
        }
    }
}

impl SyslogStamp {
    /// `Mmm dd HH:MM:SS` for an epoch second.
    pub fn stamp(&mut self, sec: i64) -> &[u8; 15] {
        if sec != self.sec {
            let day = sec.div_euclid(86_400);
            if day != self.day {
                use chrono::Datelike;
                let date = DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
                self.bytes[..3].copy_from_slice(MONTHS[date.month0() as usize]);
                let d = date.day();
                self.bytes[4] = if d < 10 { b' ' } else { b'0' + (d / 10) as u8 };
                self.bytes[5] = b'0' + (d % 10) as u8;
                self.day = day;
            }
            let sod = sec.rem_euclid(86_400);
            two(&mut self.bytes[7..9], sod / 3600);
            two(&mut self.bytes[10..12], sod / 60 % 60);
            two(&mut self.bytes[13..15], sod % 60);
            self.sec = sec;
        }
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        let t = parse_utc("2024-10-20T11:42:20").unwrap();
        assert_eq!(t / SEC, 1_729_424_540);
        assert_eq!(rfc3339(t + 999_999), "2024-10-20T11:42:20Z");
        let mut c = TsCache::default();
        assert_eq!(c.stamp(t / SEC + 86_400 + 61), b"2024-10-21 11:43:21");
        let mut s = SyslogStamp::default();
        assert_eq!(s.stamp(t / SEC), b"Oct 20 11:42:20");
        let t = parse_utc("2024-11-01T02:11:18").unwrap();
        assert_eq!(s.stamp(t / SEC), b"Nov  1 02:11:18");
        assert_eq!(s.stamp(t / SEC - 3 * 3600), b"Oct 31 23:11:18");
    }
}
