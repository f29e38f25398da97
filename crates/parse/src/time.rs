//! Timestamps as written in logs, and their resolution to UTC instants.
//!
//! Logs write local civil time, often without a zone and sometimes without a
//! year. A [`Clock`] turns such stamps into instants: the zone comes from the
//! line (`+0200`) or from the configured log zone; an ambiguous time in an
//! autumn fold is resolved by line order (the second pass through the hour
//! comes after a jump back); a time that does not exist (spring gap) is
//! shifted forward by the gap and counted; a missing year comes from a
//! starting year that rolls over when the month goes down (Dec → Jan).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

/// A civil timestamp as written on a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilStamp {
    /// Year, when the line has one.
    pub year: Option<i32>,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–60.
    pub second: u8,
    /// Fraction of the second in nanoseconds.
    pub nanos: u32,
    /// UTC offset in seconds, when the line has one.
    pub offset_seconds: Option<i32>,
}

impl CivilStamp {
    fn naive(&self, year: i32) -> Option<NaiveDateTime> {
        let date = NaiveDate::from_ymd_opt(year, u32::from(self.month), u32::from(self.day))?;
        let (second, nanos) = self.second_and_nanos();
        let time = NaiveTime::from_hms_nano_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(second),
            nanos,
        )?;
        Some(date.and_time(time))
    }

    /// The second and nanosecond, with a leap second folded into the last
    /// nanosecond of the minute.
    fn second_and_nanos(&self) -> (u8, u32) {
        if self.second >= 60 {
            (59, 999_999_999)
        } else {
            (self.second, self.nanos)
        }
    }
}

/// Counters of the clock's decisions, for the report metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockStats {
    /// Lines whose local time was ambiguous (autumn fold).
    pub ambiguous: u64,
    /// Of those, lines resolved to the second occurrence.
    pub ambiguous_second: u64,
    /// Lines whose local time did not exist (spring gap), shifted forward.
    pub gap_shifted: u64,
    /// Lines with an impossible date (such as 29 February of a common year).
    pub invalid: u64,
    /// Times the inferred year rolled over to the next one.
    pub year_rollovers: u64,
    /// Stamps that carried no year of their own.
    pub yearless: u64,
}

impl ClockStats {
    /// Adds another clock's counters (for merging chunk results).
    pub fn add(&mut self, other: &ClockStats) {
        self.ambiguous += other.ambiguous;
        self.ambiguous_second += other.ambiguous_second;
        self.gap_shifted += other.gap_shifted;
        self.invalid += other.invalid;
        self.year_rollovers += other.year_rollovers;
        self.yearless += other.yearless;
    }
}

/// The state a [`Clock`] carries from one line to the next. A chunk of a
/// file parsed on its own starts from the state the previous chunk ended in,
/// which a cheap sequential pre-pass can compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockState {
    /// The last instant resolved (for fold resolution by line order).
    pub last: Option<DateTime<Utc>>,
    /// The year assumed for yearless stamps, and the month last seen with it.
    pub year: Option<(i32, u8)>,
    /// True once the lines have jumped back into a repeated hour: further
    /// ambiguous times belong to its second pass until an unambiguous time
    /// ends the fold.
    pub in_second_pass: bool,
}

/// How far back a line may be from the previous one and still be taken as
/// the first pass through a repeated hour: parallel processes interleave
/// their writes by a few seconds, but the fall-back jumps a whole hour.
const FOLD_TOLERANCE: Duration = Duration::minutes(10);

/// A local hour that had a single offset throughout.
#[derive(Clone, Copy, Debug)]
struct CachedHour {
    /// The hour as stamps write it: year, month, day, hour.
    key: (i32, u8, u8, u8),
    /// Its first local instant.
    local_start: NaiveDateTime,
    /// Its offset from UTC.
    offset: FixedOffset,
    /// Its first instant in UTC: the date, and the second of that day.
    utc_date: NaiveDate,
    utc_second: u32,
}

/// Resolves [`CivilStamp`]s to UTC instants for one stream of lines.
#[derive(Clone, Debug)]
pub struct Clock {
    zone: Tz,
    state: ClockState,
    stats: ClockStats,
    /// The most recent local hour that had a single offset throughout:
    /// resolving through the zone database costs tens of nanoseconds, and
    /// log lines come in runs. A stamp in that hour is resolved from the
    /// stamp's fields alone, without building a date.
    hour_cache: Option<CachedHour>,
}

impl Clock {
    /// A clock reading zoneless stamps in `zone`.
    pub fn new(zone: Tz) -> Clock {
        Clock {
            zone,
            state: ClockState::default(),
            stats: ClockStats::default(),
            hour_cache: None,
        }
    }

    /// A clock that continues from `state`.
    pub fn with_state(zone: Tz, state: ClockState) -> Clock {
        Clock {
            state,
            ..Clock::new(zone)
        }
    }

    /// The zone zoneless stamps are read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Sets the year assumed for the next yearless stamp.
    pub fn set_year(&mut self, year: i32) {
        self.state.year = Some((year, 0));
    }

    /// The state to hand to the next chunk.
    pub fn state(&self) -> ClockState {
        self.state
    }

    /// The counters so far.
    pub fn stats(&self) -> ClockStats {
        self.stats
    }

    /// Resolves a stamp. `None` when the date is impossible or a yearless
    /// stamp arrives before any year is known.
    pub fn resolve(&mut self, stamp: &CivilStamp) -> Option<DateTime<Utc>> {
        let year = match stamp.year {
            Some(year) => year,
            None => {
                self.stats.yearless += 1;
                self.infer_year(stamp.month)?
            }
        };
        if stamp.offset_seconds.is_none()
            && let Some(instant) = self.in_cached_hour(stamp, year)
        {
            self.state.last = Some(instant);
            return Some(instant);
        }
        let Some(naive) = stamp.naive(year) else {
            self.stats.invalid += 1;
            return None;
        };
        let instant = match stamp.offset_seconds {
            Some(seconds) => FixedOffset::east_opt(seconds)?
                .from_local_datetime(&naive)
                .single()?
                .with_timezone(&Utc),
            None => self.resolve_local(naive),
        };
        self.state.last = Some(instant);
        Some(instant)
    }

    /// The instant of a zoneless stamp in the cached hour; `None` when it is
    /// in another hour (or has out-of-range fields: the full path judges
    /// those). Gives what `resolve_local` gives on a cache hit.
    fn in_cached_hour(&self, stamp: &CivilStamp, year: i32) -> Option<DateTime<Utc>> {
        let cached = self.hour_cache?;
        if cached.key != (year, stamp.month, stamp.day, stamp.hour)
            || stamp.minute >= 60
            || stamp.nanos >= 1_000_000_000
        {
            return None;
        }
        let (second, nanos) = stamp.second_and_nanos();
        // Plain second-of-day arithmetic: date arithmetic costs more than
        // the rest of the lookup. A stamp whose UTC instant falls on the
        // next day (an hour that straddles UTC midnight) takes the full
        // path.
        let second_of_day = cached.utc_second + u32::from(stamp.minute) * 60 + u32::from(second);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(second_of_day, nanos)?;
        Some(cached.utc_date.and_time(time).and_utc())
    }

    fn infer_year(&mut self, month: u8) -> Option<i32> {
        let (year, last_month) = self.state.year?;
        // A month going down means a new year has begun (Dec → Jan). A small
        // step back (interleaved lines around midnight on the 1st) is not a
        // rollover: only a drop of more than six months counts.
        let year = if last_month != 0 && month + 6 < last_month {
            self.stats.year_rollovers += 1;
            year + 1
        } else {
            year
        };
        self.state.year = Some((year, month));
        Some(year)
    }

    fn resolve_local(&mut self, naive: NaiveDateTime) -> DateTime<Utc> {
        let hour_start = naive
            .date()
            .and_hms_opt(naive.hour_of_day(), 0, 0)
            .unwrap_or(naive);
        if let Some(cached) = self.hour_cache
            && cached.local_start == hour_start
        {
            return (naive - cached.offset).and_utc();
        }
        match self.zone.from_local_datetime(&naive) {
            LocalResult::Single(local) => {
                self.state.in_second_pass = false;
                let offset = local.offset().fix();
                if self.hour_has_single_offset(hour_start, offset) {
                    let utc_start = hour_start - offset;
                    self.hour_cache = Some(CachedHour {
                        key: (
                            naive.year(),
                            naive.month() as u8,
                            naive.day() as u8,
                            naive.hour_of_day() as u8,
                        ),
                        local_start: hour_start,
                        offset,
                        utc_date: utc_start.date(),
                        utc_second: chrono::Timelike::num_seconds_from_midnight(&utc_start),
                    });
                }
                local.with_timezone(&Utc)
            }
            LocalResult::Ambiguous(earliest, latest) => {
                self.stats.ambiguous += 1;
                let earliest = earliest.with_timezone(&Utc);
                let after_jump_back = self
                    .state
                    .last
                    .is_some_and(|last| earliest < last - FOLD_TOLERANCE);
                if after_jump_back || self.state.in_second_pass {
                    self.state.in_second_pass = true;
                    self.stats.ambiguous_second += 1;
                    latest.with_timezone(&Utc)
                } else {
                    earliest
                }
            }
            LocalResult::None => {
                self.stats.gap_shifted += 1;
                // Read the time with the offset in force just before the
                // gap: 02:30 in a 02:00→03:00 gap becomes 03:30.
                let before = naive - Duration::hours(3);
                let offset = self
                    .zone
                    .offset_from_local_datetime(&before)
                    .earliest()
                    .map(|o| o.fix())
                    .unwrap_or_else(|| Utc.fix());
                (naive - offset).and_utc()
            }
        }
    }

    fn hour_has_single_offset(&self, hour_start: NaiveDateTime, offset: FixedOffset) -> bool {
        let hour_end = hour_start + Duration::seconds(3599);
        [hour_start, hour_end]
            .iter()
            .all(|t| matches!(self.zone.offset_from_local_datetime(t), LocalResult::Single(o) if o.fix() == offset))
    }
}

trait HourOfDay {
    fn hour_of_day(&self) -> u32;
}

impl HourOfDay for NaiveDateTime {
    fn hour_of_day(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
}

/// Reads exactly `n` ASCII digits at the start of `bytes`.
pub(crate) fn digits_n(bytes: &[u8], n: usize) -> Option<u32> {
    let part = bytes.get(..n)?;
    let mut value = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Parses `YYYY-MM-DD HH:MM:SS` at the start of `bytes` (the separator
/// between date and time may be a space or `T`). Returns the stamp (no
/// fraction, no offset) and the bytes used.
pub(crate) fn parse_iso_datetime(bytes: &[u8]) -> Option<CivilStamp> {
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits_n(bytes, 4)? as i32;
    let month = digits_n(&bytes[5..], 2)? as u8;
    let day = digits_n(&bytes[8..], 2)? as u8;
    let hour = digits_n(&bytes[11..], 2)? as u8;
    let minute = digits_n(&bytes[14..], 2)? as u8;
    let second = digits_n(&bytes[17..], 2)? as u8;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(CivilStamp {
        year: Some(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos: 0,
        offset_seconds: None,
    })
}

/// Parses a fraction `.d+` at the start of `bytes`: nanoseconds and bytes
/// used (0 when there is none).
pub(crate) fn parse_fraction(bytes: &[u8]) -> (u32, usize) {
    if bytes.first() != Some(&b'.') {
        return (0, 0);
    }
    let count = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if count == 0 {
        return (0, 0);
    }
    let mut nanos = 0u32;
    for i in 0..9 {
        let digit = if i < count {
            u32::from(bytes[1 + i] - b'0')
        } else {
            0
        };
        nanos = nanos * 10 + digit;
    }
    (nanos, 1 + count)
}

/// Parses a numeric offset `+hhmm`, `+hh:mm` or `Z` at the start of
/// `bytes`: seconds east of UTC and bytes used.
pub(crate) fn parse_offset(bytes: &[u8]) -> Option<(i32, usize)> {
    match bytes.first()? {
        b'Z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let hours = digits_n(&bytes[1..], 2)? as i32;
            let (minutes, used) = if bytes.get(3) == Some(&b':') {
                (digits_n(&bytes[4..], 2)? as i32, 6)
            } else {
                (digits_n(&bytes[3..], 2)? as i32, 5)
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            Some((if *sign == b'-' { -seconds } else { seconds }, used))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(text: &str) -> CivilStamp {
        parse_iso_datetime(text.as_bytes()).unwrap()
    }

    #[test]
    fn fold_is_resolved_by_line_order() {
        // Europe/Berlin falls back from 03:00 CEST to 02:00 CET on 2024-10-27.
        let mut clock = Clock::new(chrono_tz::Europe::Berlin);
        let lines = [
            "2024-10-27 02:10:00",
            "2024-10-27 02:50:00",
            "2024-10-27 02:05:00",
            "2024-10-27 02:55:00",
            "2024-10-27 03:05:00",
        ];
        let utc: Vec<String> = lines
            .iter()
            .map(|l| {
                clock
                    .resolve(&stamp(l))
                    .unwrap()
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(utc, ["00:10", "00:50", "01:05", "01:55", "02:05"]);
        assert_eq!(clock.stats().ambiguous, 4);
        assert_eq!(clock.stats().ambiguous_second, 2);
    }

    #[test]
    fn small_reordering_inside_fold_stays_in_first_pass() {
        let mut clock = Clock::new(chrono_tz::Europe::Berlin);
        let first = clock.resolve(&stamp("2024-10-27 02:30:05")).unwrap();
        let second = clock.resolve(&stamp("2024-10-27 02:30:01")).unwrap();
        assert_eq!((first - second).num_seconds(), 4);
    }

    #[test]
    fn gap_is_shifted_forward_and_counted() {
        // 2024-03-31 02:30 does not exist in Europe/Berlin.
        let mut clock = Clock::new(chrono_tz::Europe::Berlin);
        let t = clock.resolve(&stamp("2024-03-31 02:30:00")).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-31T01:30:00+00:00");
        assert_eq!(clock.stats().gap_shifted, 1);
    }

    #[test]
    fn explicit_offset_wins_over_zone() {
        let mut clock = Clock::new(chrono_tz::America::New_York);
        let mut s = stamp("2024-10-20 11:42:20");
        s.offset_seconds = Some(7200);
        assert_eq!(
            clock.resolve(&s).unwrap().to_rfc3339(),
            "2024-10-20T09:42:20+00:00"
        );
    }

    #[test]
    fn cached_hour_gives_same_answer_as_zone_database() {
        let mut clock = Clock::new(chrono_tz::America::New_York);
        let a = clock.resolve(&stamp("2024-07-01 10:00:00")).unwrap();
        let b = clock.resolve(&stamp("2024-07-01 10:59:59")).unwrap();
        assert_eq!(a.to_rfc3339(), "2024-07-01T14:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2024-07-01T14:59:59+00:00");
    }

    #[test]
    fn stamps_in_cached_hour_match_a_fresh_clock() {
        // The first stamp fills the hour cache; the others are resolved from
        // it and must agree with a clock that has no cache yet. Kolkata is
        // +05:30, so its 05:00 hour straddles UTC midnight.
        let zone = chrono_tz::Asia::Kolkata;
        let mut warm = Clock::new(zone);
        warm.resolve(&stamp("2024-07-01 05:00:00")).unwrap();
        let mut leap = stamp("2024-07-01 05:29:60");
        leap.nanos = 250_000_000;
        let mut fraction = stamp("2024-07-01 05:10:07");
        fraction.nanos = 123_456_789;
        for s in [stamp("2024-07-01 05:59:59"), leap, fraction] {
            assert_eq!(warm.resolve(&s), Clock::new(zone).resolve(&s));
        }
        assert_eq!(
            warm.resolve(&stamp("2024-07-01 05:30:00"))
                .unwrap()
                .to_rfc3339(),
            "2024-07-01T00:00:00+00:00"
        );
    }

    #[test]
    fn yearless_stamps_roll_over_at_new_year() {
        let mut clock = Clock::new(chrono_tz::UTC);
        clock.set_year(2023);
        let mut s = stamp("2000-12-31 23:59:59");
        s.year = None;
        assert_eq!(
            clock.resolve(&s).unwrap().to_rfc3339(),
            "2023-12-31T23:59:59+00:00"
        );
        s.month = 1;
        s.day = 1;
        s.hour = 0;
        assert_eq!(
            clock.resolve(&s).unwrap().to_rfc3339(),
            "2024-01-01T00:59:59+00:00"
        );
        assert_eq!(clock.stats().year_rollovers, 1);
    }

    #[test]
    fn impossible_date_is_counted_not_panicked() {
        let mut clock = Clock::new(chrono_tz::UTC);
        let s = CivilStamp {
            year: Some(2023),
            month: 2,
            day: 29,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            offset_seconds: None,
        };
        assert!(clock.resolve(&s).is_none());
        assert_eq!(clock.stats().invalid, 1);
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(parse_fraction(b".814 +0200"), (814_000_000, 4));
        assert_eq!(parse_fraction(b".123456+01:00"), (123_456_000, 7));
        assert_eq!(parse_fraction(b" x"), (0, 0));
        assert_eq!(parse_offset(b"+0200"), Some((7200, 5)));
        assert_eq!(parse_offset(b"-03:30"), Some((-12600, 6)));
        assert_eq!(parse_offset(b"Z"), Some((0, 1)));
        assert_eq!(parse_offset(b"+2a00"), None);
    }
}
