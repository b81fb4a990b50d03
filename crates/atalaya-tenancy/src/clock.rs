//! Time in the units the records use: milliseconds since the Unix epoch, day numbers (days
//! since 1970-01-01) and calendar months (UTC, proleptic Gregorian). A leaf: it imports
//! nothing of this crate.

use atalaya_store::Millis;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) const DAY_MS: i64 = 86_400_000;

pub fn day_of(ms: Millis) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// (year, month) of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn month_of(day: i64) -> (i64, u32) {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, u32::try_from(m).unwrap_or(1))
}

/// The first day number of the month after `day`'s.
pub(crate) fn next_month_start(day: i64) -> i64 {
    let month = month_of(day);
    let mut d = day;
    while month_of(d) == month {
        d += 1;
    }
    d
}

/// First day of `day`'s month.
pub fn month_start(day: i64) -> i64 {
    let month = month_of(day);
    let mut d = day;
    while month_of(d - 1) == month {
        d -= 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        // 2026-12-02 is day 20789.
        assert_eq!(month_of(20789), (2026, 12));
        assert_eq!(month_of(0), (1970, 1));
        assert_eq!(month_start(20789), 20788);
        assert_eq!(next_month_start(20789), 20819);
        assert_eq!(month_of(20819), (2027, 1));
        // Leap day.
        assert_eq!(month_of(11016), (2000, 2));
        assert_eq!(month_of(11017), (2000, 3));
    }
}
