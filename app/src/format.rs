//! Small display helpers shared by pages: sizes, IDs and times as people read them.

/// Bytes as GiB/MiB with one decimal, the way `docker node inspect --pretty` shows memory.
pub fn bytes(value: i64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = 1024.0 * MIB;
    let value = value.max(0) as f64;
    if value >= GIB {
        format!("{:.1} GiB", value / GIB)
    } else {
        format!("{:.0} MiB", value / MIB)
    }
}

/// The first 12 characters of a Docker ID, as the docker CLI prints them.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `2026-12-04T10:11:12.123456789Z` → `2026-12-04 10:11:12`, rendered identically on the
/// server and in the browser so hydration never disagrees.
pub fn timestamp(rfc3339: &str) -> String {
    let trimmed = rfc3339.get(..19).unwrap_or(rfc3339);
    trimmed.replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_like_docker_prints_it() {
        assert_eq!(bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
        assert_eq!(bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(bytes(-1), "0 MiB");
    }

    #[test]
    fn ids_and_times_are_shortened_safely() {
        assert_eq!(short_id("abcdefghijklmnop"), "abcdefghijkl");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(timestamp("2026-12-04T10:11:12.5Z"), "2026-12-04 10:11:12");
        assert_eq!(timestamp("bad"), "bad");
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`, the same on server and browser.
pub fn unix_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

#[cfg(test)]
mod unix_time_tests {
    use super::unix_time;

    #[test]
    fn unix_times_read_as_utc_dates() {
        assert_eq!(unix_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(unix_time(1_796_400_000), "2026-12-04 16:00 UTC");
        assert_eq!(unix_time(951_782_400), "2000-02-29 00:00 UTC");
    }
}
