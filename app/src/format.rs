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
