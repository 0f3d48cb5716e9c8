//! RFC 3339 timestamps with an explicit offset, as the contract writes them
//! (`duanka/schemas/types.py`: `Timestamp`), and instants as pydantic writes them.
//!
//! `is_plain` accepts a subset of what the Python side accepts: the forms producers write
//! (`2026-11-28T09:15:00+08:00`, `…T01:15:00.123Z`), each naming a real instant, and the
//! form Python's `isoformat` gives them in a bundle (`…T01:15:00.123000+00:00`). Anything
//! else is left to the Python side, which accepts or explains.

/// Whether `s` is `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, with an upper-case `T` and `Z`,
/// a real calendar date from year 1, a time before 24:00 without a leap second, and an
/// offset less than a day.
pub fn is_plain(s: &str) -> bool {
    epoch_us(s).is_some()
}

/// Microseconds since the epoch of a plain timestamp (`is_plain`); None if it is not one.
pub fn epoch_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (year, month, day) = date(b.get(..10)?)?;
    let seconds = time(b.get(11..19)?)?;
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let rest = b.get(19..).unwrap_or_default();
    let (micros, zone) = match rest {
        [b'.', tail @ ..] => {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=6).contains(&digits) {
                return None;
            }
            let fraction = i64::from(number(tail.get(..digits)?)?);
            let micros = fraction * 10i64.pow(6 - u32::try_from(digits).ok()?);
            (micros, tail.get(digits..).unwrap_or_default())
        }
        _ => (0, rest),
    };
    let offset = match zone {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if h >= 24 || m >= 60 {
                return None;
            }
            let minutes = i64::from(h * 60 + m);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    Some((days * 86_400 + seconds - offset * 60) * 1_000_000 + micros)
}

/// Milliseconds since the epoch of a plain timestamp, rounded down as Python's `to_ms` does.
pub fn epoch_ms(s: &str) -> Option<i64> {
    epoch_us(s).map(|us| us.div_euclid(1000))
}

/// An instant (epoch microseconds) in UTC as pydantic writes it: seconds, then six digits
/// of fraction when there is one, then `Z`.
pub fn format_us(us: i64) -> String {
    let (seconds, micros) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

/// The UTC date of epoch milliseconds, `YYYY-MM-DD`.
pub fn format_date(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `format_us` of epoch milliseconds.
pub fn format_ms(ms: i64) -> String {
    format_us(ms * 1000)
}

fn date(b: &[u8]) -> Option<(u32, u32, u32)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = b else {
        return None;
    };
    let year = number(&[*y1, *y2, *y3, *y4])?;
    let (month, day) = (number(&[*m1, *m2])?, number(&[*d1, *d2])?);
    let valid =
        year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    valid.then_some((year, month, day))
}

/// Seconds into the day of `HH:MM:SS`.
fn time(b: &[u8]) -> Option<i64> {
    let [h1, h2, b':', m1, m2, b':', s1, s2] = b else {
        return None;
    };
    let (h, m, s) = (
        number(&[*h1, *h2])?,
        number(&[*m1, *m2])?,
        number(&[*s1, *s2])?,
    );
    (h < 24 && m < 60 && s < 60).then_some(i64::from(h * 3600 + m * 60 + s))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of days since 1970-01-01 (`days_from_civil` undone).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The value of a run of ASCII digits; None if any byte is not one.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &c| {
        c.is_ascii_digit().then(|| value * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::{epoch_ms, epoch_us, format_ms, format_us, is_plain};

    #[test]
    fn instants() {
        assert_eq!(epoch_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_ms("2025-11-28T09:15:00.123+08:00"),
            Some(1_764_292_500_123)
        );
        assert_eq!(epoch_ms("1969-12-31T23:59:59.9995Z"), Some(-1));
        assert_eq!(
            epoch_us("2024-02-29T00:00:00.000001-00:30"),
            Some(1_709_166_600_000_001)
        );
        assert_eq!(format_ms(1_764_292_500_000), "2025-11-28T01:15:00Z");
        assert_eq!(format_ms(1_764_292_500_123), "2025-11-28T01:15:00.123000Z");
        assert_eq!(format_ms(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(
            format_us(1_709_166_600_000_001),
            "2024-02-29T00:30:00.000001Z"
        );
    }

    #[test]
    fn producers_forms() {
        assert!(is_plain("2026-11-28T09:15:00+08:00"));
        assert!(is_plain("2026-11-28T01:15:00.123Z"));
        assert!(is_plain("2024-02-29T23:59:59.999999-05:30"));
    }

    #[test]
    fn left_to_python() {
        for s in [
            "2026-11-28T09:15:00",
            "2026-11-28t09:15:00Z",
            "2026-11-28T09:15:00z",
            "2026-11-28 09:15:00Z",
            "2026-11-28T09:15:00.Z",
            "2026-11-28T09:15:00.1234567Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T23:59:60Z",
            "2026-11-28T09:15:00+24:00",
            "2025-02-29T09:15:00Z",
            "0000-01-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-28T09:15:00+0800",
            "",
        ] {
            assert!(!is_plain(s), "{s}");
        }
    }
}
