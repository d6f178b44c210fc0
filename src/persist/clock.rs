//! Moving deadlines between the session's monotonic clock and the wall clock.
//!
//! A session's deadlines (`at_ms`) are on the runtime's monotonic clock, which
//! starts anew with every process; on disk they are wall-clock times (ms since the
//! Unix epoch). Both conversions take one reading of each clock, taken together
//! (`now_ms` and `wall_clock_ms`), and keep the distance from "now": a deadline 5 s
//! ahead when saved is 5 s ahead of the save time on the wall clock, and one already
//! past stays past.

/// The wall-clock time of the monotonic deadline `at_ms`.
pub fn to_wall_clock_ms(at_ms: u64, now_ms: u64, wall_clock_ms: u64) -> u64 {
    if at_ms >= now_ms {
        wall_clock_ms.saturating_add(at_ms - now_ms)
    } else {
        wall_clock_ms.saturating_sub(now_ms - at_ms)
    }
}

/// The monotonic deadline of the wall-clock time `at_wall_ms`. A time before the
/// start of the monotonic clock becomes its start (the deadline has passed either way).
pub fn from_wall_clock_ms(at_wall_ms: u64, now_ms: u64, wall_clock_ms: u64) -> u64 {
    if at_wall_ms >= wall_clock_ms {
        now_ms.saturating_add(at_wall_ms - wall_clock_ms)
    } else {
        now_ms.saturating_sub(wall_clock_ms - at_wall_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_deadline_keeps_its_distance_across_clocks() {
        let at_wall_ms = to_wall_clock_ms(15_000, 10_000, 1_700_000_000_000);
        assert_eq!(at_wall_ms, 1_700_000_005_000);
        assert_eq!(
            from_wall_clock_ms(at_wall_ms, 200, 1_700_000_001_000),
            4_200
        );
    }

    #[test]
    fn a_past_deadline_stays_past_and_saturates_at_the_clock_start() {
        let at_wall_ms = to_wall_clock_ms(4_000, 10_000, 1_700_000_000_000);
        assert_eq!(at_wall_ms, 1_699_999_994_000);
        assert_eq!(from_wall_clock_ms(at_wall_ms, 100, 1_700_000_000_000), 0);
    }
}
