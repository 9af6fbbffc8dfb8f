//! Times as people read them, in UTC: no time-zone database, no dependency.

/// `2026-11-29 03:00 UTC` for `ns` nanoseconds since the Unix epoch.
pub fn utc_minutes(ns: i64) -> String {
    let (date, seconds) = civil(ns);
    format!("{date} {:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60)
}

/// `2026-11-29T03:00:59Z`.
pub fn utc_rfc3339(ns: i64) -> String {
    let (date, seconds) = civil(ns);
    format!("{date}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// The date `YYYY-MM-DD` and the seconds into that day.
fn civil(ns: i64) -> (String, i64) {
    let seconds = ns.div_euclid(1_000_000_000);
    let (days, in_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-from-civil, inverted: exact for every day of the proleptic
    // Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), in_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_the_calendar_s() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_764_385_259, "2025-11-29T03:00:59Z"),
            (1_798_761_599, "2026-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ];
        for (seconds, text) in cases {
            assert_eq!(utc_rfc3339(seconds * 1_000_000_000), text);
        }
        assert_eq!(utc_minutes(1_764_385_259_000_000_000), "2025-11-29 03:00 UTC");
    }
}
