//! RFC 3339 timestamps with an explicit offset, as the contract writes them
//! (`duanka/schemas/types.py`: `Timestamp`).
//!
//! `is_plain` accepts a subset of what the Python side accepts: the forms producers write
//! (`2026-11-28T09:15:00+08:00`, `…T01:15:00.123Z`), each naming a real instant. Anything
//! else is left to the Python side, which accepts or explains.

/// Whether `s` is `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, with an upper-case `T` and `Z`,
/// a real calendar date from year 1, a time before 24:00 without a leap second, and an
/// offset less than a day.
pub fn is_plain(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(date), Some(time)) = (b.get(..10), b.get(11..19)) else {
        return false;
    };
    if b.get(10) != Some(&b'T') || !is_date(date) || !is_time(time) {
        return false;
    }
    let rest = b.get(19..).unwrap_or_default();
    let zone = match rest {
        [b'.', tail @ ..] => {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=6).contains(&digits) {
                return false;
            }
            tail.get(digits..).unwrap_or_default()
        }
        _ => rest,
    };
    match zone {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            matches!(number(&[*h1, *h2]), Some(h) if h < 24)
                && matches!(number(&[*m1, *m2]), Some(m) if m < 60)
        }
        _ => false,
    }
}

fn is_date(b: &[u8]) -> bool {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = b else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (
        number(&[*y1, *y2, *y3, *y4]),
        number(&[*m1, *m2]),
        number(&[*d1, *d2]),
    ) else {
        return false;
    };
    year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

fn is_time(b: &[u8]) -> bool {
    let [h1, h2, b':', m1, m2, b':', s1, s2] = b else {
        return false;
    };
    matches!(number(&[*h1, *h2]), Some(h) if h < 24)
        && matches!(number(&[*m1, *m2]), Some(m) if m < 60)
        && matches!(number(&[*s1, *s2]), Some(s) if s < 60)
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
    use super::is_plain;

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
