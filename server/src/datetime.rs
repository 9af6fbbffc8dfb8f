//! RFC 3339 instants and STAC `datetime` intervals, exact to the nanosecond, with no
//! calendar crate: a tile's time is a whole year, so all a search needs is "does this interval
//! meet year Y".

use tessera_engine::grid::Year;

/// Nanoseconds since 1970-01-01T00:00:00Z.
type Nanos = i128;

const NANOS_PER_SECOND: Nanos = 1_000_000_000;

/// A closed interval of time; `None` is an open end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    start: Option<Nanos>,
    end: Option<Nanos>,
}

impl Interval {
    /// Parses a STAC `datetime`: an instant, or `start/end` where one end (not both) may be
    /// `..` or empty. Date-only values, missing zones, `+0100`, 3-part intervals and
    /// `start > end` are errors, each naming what is wrong.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let open = |part: &str| part.is_empty() || part == "..";
        match parts.as_slice() {
            [instant] if !open(instant) => {
                let at = parse_instant(instant)?;
                Ok(Interval { start: Some(at), end: Some(at) })
            }
            [start, end] if open(start) && open(end) => Err(format!("datetime `{text}` has no end that is a time")),
            [start, end] => {
                let start = if open(start) { None } else { Some(parse_instant(start)?) };
                let end = if open(end) { None } else { Some(parse_instant(end)?) };
                if let (Some(a), Some(b)) = (start, end)
                    && a > b
                {
                    return Err(format!("datetime `{text}` starts after it ends"));
                }
                Ok(Interval { start, end })
            }
            _ => Err(format!("datetime `{text}` must be an RFC 3339 instant or an interval `start/end`")),
        }
    }

    /// Whether the interval meets `year`, taken as the closed interval from its first second to
    /// `YYYY-12-31T23:59:59Z` (the items' `start_datetime` and `end_datetime`).
    pub fn meets_year(&self, year: Year) -> bool {
        let (first, last) = year_bounds(year);
        self.start.is_none_or(|start| start <= last) && self.end.is_none_or(|end| end >= first)
    }

    /// A stable description for paging tokens.
    pub fn fingerprint(&self) -> [i128; 2] {
        [self.start.unwrap_or(i128::MIN), self.end.unwrap_or(i128::MAX)]
    }
}

/// The first nanosecond of `year` and its last whole second, `YYYY-12-31T23:59:59Z`.
fn year_bounds(year: Year) -> (Nanos, Nanos) {
    let first = Nanos::from(days_from_civil(i64::from(year), 1, 1)) * 86_400 * NANOS_PER_SECOND;
    let next = Nanos::from(days_from_civil(i64::from(year) + 1, 1, 1)) * 86_400 * NANOS_PER_SECOND;
    (first, next - NANOS_PER_SECOND)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, `T` and `Z` in either case.
fn parse_instant(text: &str) -> Result<Nanos, String> {
    let bad = |why: &str| format!("datetime `{text}` is not an RFC 3339 date-time: {why}");
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset"));
    }
    let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        } else {
            Err(bad("expected digits"))
        }
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, sep)| b[at] != sep) || !matches!(b[10], b'T' | b't') {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("no such time of day"));
    }
    let (fraction, zone) = split_fraction(&text[19..]).ok_or_else(|| bad("bad fraction of a second"))?;
    let offset = parse_offset(zone).ok_or_else(|| bad("expected Z or an offset +HH:MM"))?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Ok(Nanos::from(seconds) * NANOS_PER_SECOND + fraction)
}

/// Splits `.123456789Z` into nanoseconds and the zone; no fraction is 0.
fn split_fraction(rest: &str) -> Option<(Nanos, &str)> {
    let Some(after_dot) = rest.strip_prefix('.') else { return Some((0, rest)) };
    let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 9 {
        return None;
    }
    let value: Nanos = after_dot[..len].parse().ok()?;
    Some((value * 10_i128.pow(9 - len as u32), &after_dot[len..]))
}

/// `Z`, `z`, `+HH:MM` or `-HH:MM` as seconds east of UTC.
fn parse_offset(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let b = zone.as_bytes();
    if b.len() != 6 || b[3] != b':' || !b[1..3].iter().chain(&b[4..6]).all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (i64::from((b[1] - b'0') * 10 + b[2] - b'0'), i64::from((b[4] - b'0') * 10 + b[5] - b'0'));
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_stac_allows() {
        for ok in [
            "1985-04-12T23:20:50.52Z",
            "1996-12-19T16:39:57-08:00",
            "1990-12-31T23:59:60Z",
            "1937-01-01T12:00:27.87+00:20",
            "1985-04-12t23:20:50.123456789z",
            "1985-04-12T23:20:50Z/..",
            "../1985-04-12T23:20:50Z",
            "/1985-04-12T23:20:50Z",
            "1985-04-12T23:20:50Z/",
            "1985-04-12T23:20:50Z/1986-04-12T23:20:50Z",
        ] {
            assert!(Interval::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_the_validator_sends_as_invalid() {
        for bad in [
            "/",
            "../..",
            "/..",
            "../",
            "",
            "1985-04-12",
            "1985-04-12T23:20:50",
            "1985-04-12T23:20:50+0100",
            "85-04-12T23:20:50Z",
            "19850-04-12T23:20:50Z",
            "1985-13-12T23:20:50Z",
            "1985-04-32T23:20:50Z",
            "1985-02-29T23:20:50Z",
            "1985-04-12T25:20:50Z",
            "1985-04-12T23:60:50Z",
            "1985-04-12T23:20:61Z",
            "1985-04-12T23:20:50.Z",
            "1985-04-12T23:20:50,52Z",
            "1985-04-12T23:20:50Z/1985-04-12T23:20:50Z/1985-04-12T23:20:50Z",
            "1986-04-12T23:20:50Z/1985-04-12T23:20:50Z",
        ] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_interval_meets_the_years_it_overlaps() {
        let at = |text| Interval::parse(text).unwrap();
        assert!(at("2024-06-01T00:00:00Z").meets_year(2024));
        assert!(!at("2024-06-01T00:00:00Z").meets_year(2023));
        assert!(at("2024-12-31T23:59:59Z").meets_year(2024));
        // 2025-01-01T00:30+01:00 is still 2024 in UTC.
        assert!(at("2025-01-01T00:30:00+01:00").meets_year(2024));
        assert!(!at("2025-01-01T00:30:00+01:00").meets_year(2025));
        assert!(at("../2019-01-01T00:00:00Z").meets_year(2017));
        assert!(at("../2019-01-01T00:00:00Z").meets_year(2019));
        assert!(!at("../2019-01-01T00:00:00Z").meets_year(2020));
        assert!(at("2016-01-01T00:00:00Z/2017-01-01T00:00:00Z").meets_year(2017));
        assert_eq!(year_bounds(1970).0, 0);
    }
}
