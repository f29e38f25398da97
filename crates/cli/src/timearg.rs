//! Time and zone arguments.

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_zone(text: &str) -> anyhow::Result<Tz> {
    text.parse::<Tz>().map_err(|_| {
        anyhow::anyhow!(
            "unknown time zone '{text}' (expected an IANA name such as UTC or Europe/Berlin)"
        )
    })
}

/// The system's zone: `$TZ` when it names an IANA zone, else the zone the
/// operating system reports, else UTC. Returns the zone and where it came
/// from, for the report metadata.
pub fn system_zone() -> (Tz, &'static str) {
    if let Ok(tz) = std::env::var("TZ")
        && let Ok(zone) = tz.trim_start_matches(':').parse::<Tz>()
    {
        return (zone, "system ($TZ)");
    }
    match iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse::<Tz>().ok())
    {
        Some(zone) => (zone, "system"),
        None => (Tz::UTC, "default (system zone unknown)"),
    }
}

/// Parses a `--since`/`--until` value: RFC 3339 with offset, or
/// `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` / `YYYY-MM-DD` read in
/// `zone`. A local time that falls in a daylight-saving gap is rejected; in
/// a fold, the earlier instant is taken.
pub fn parse_time(text: &str, zone: Tz) -> anyhow::Result<DateTime<Utc>> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = parse_naive(trimmed).with_context(|| {
        format!("cannot read time '{text}' (expected e.g. 2024-04-09T18:00:00+02:00, '2024-04-09 18:00' or 2024-04-09)")
    })?;
    match zone.from_local_datetime(&naive).earliest() {
        Some(t) => Ok(t.with_timezone(&Utc)),
        None => bail!("time '{text}' does not exist in {zone} (daylight-saving gap)"),
    }
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Parses a duration such as `90s`, `15m`, `1h`, `2d` or `1h30m`.
pub fn parse_duration(text: &str) -> anyhow::Result<chrono::TimeDelta> {
    let bad =
        || anyhow::anyhow!("cannot read duration '{text}' (expected e.g. 15m, 1h, 1h30m, 2d)");
    let mut total = chrono::TimeDelta::zero();
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total += match c {
            's' => chrono::TimeDelta::seconds(n),
            'm' => chrono::TimeDelta::minutes(n),
            'h' => chrono::TimeDelta::hours(n),
            'd' => chrono::TimeDelta::days(n),
            'w' => chrono::TimeDelta::weeks(n),
            _ => return Err(bad()),
        };
    }
    if !digits.is_empty() || total <= chrono::TimeDelta::zero() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse_time("2024-04-09T18:00:00+02:00", berlin)
                .unwrap()
                .to_rfc3339(),
            "2024-04-09T16:00:00+00:00"
        );
        assert_eq!(
            parse_time("2024-04-09 18:00", berlin).unwrap().to_rfc3339(),
            "2024-04-09T16:00:00+00:00"
        );
        assert_eq!(
            parse_time("2024-04-09 18:00:30", Tz::UTC)
                .unwrap()
                .to_rfc3339(),
            "2024-04-09T18:00:30+00:00"
        );
        assert_eq!(
            parse_time("2024-04-09", Tz::UTC).unwrap().to_rfc3339(),
            "2024-04-09T00:00:00+00:00"
        );
        assert!(parse_time("yesterday", Tz::UTC).is_err());
        assert!(
            parse_time("2024-03-31 02:30", berlin)
                .unwrap_err()
                .to_string()
                .contains("gap")
        );
        assert!(parse_zone("Mars/Olympus").is_err());
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            chrono::TimeDelta::minutes(90)
        );
        assert_eq!(
            parse_duration("15m").unwrap(),
            chrono::TimeDelta::minutes(15)
        );
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("1y").is_err());
    }
}
