//! When each message of a publisher is meant to be sent.
//!
//! Open loop: message `k` is due at `start + offset + k / rate`, whatever
//! happened to the messages before it, so a stall shows up as latency instead
//! of silently lowering the offered load. Publishers are staggered over one
//! interval so that they do not all fire at the same instant. Flat out: there
//! is no schedule; a message is due as soon as the inflight window allows and
//! its intended time is the moment it is written.

/// One publisher's sending schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Fixed rate, in messages per second.
    OpenLoop {
        /// Intended time of message 0, ns since the run's epoch.
        first_ns: u64,
        /// Nanoseconds between consecutive messages.
        interval_ns: f64,
    },
    /// As fast as the inflight window allows.
    FlatOut,
}

impl Schedule {
    /// The schedule of publisher `publisher_index` of `publishers`, sending
    /// `rate_per_s` messages per second (0 for flat out) from `start_ns` on.
    pub fn new(rate_per_s: f64, start_ns: u64, publisher_index: u32, publishers: u32) -> Schedule {
        assert!(rate_per_s >= 0.0 && rate_per_s.is_finite(), "bad rate");
        assert!(
            publisher_index < publishers.max(1),
            "publisher index out of range"
        );
        if rate_per_s == 0.0 {
            return Schedule::FlatOut;
        }
        let interval_ns = 1e9 / rate_per_s;
        let stagger_ns = interval_ns * f64::from(publisher_index) / f64::from(publishers.max(1));
        Schedule::OpenLoop {
            first_ns: start_ns + stagger_ns as u64,
            interval_ns,
        }
    }

    /// When message `sequence` is due, ns since the epoch; `None` when flat out.
    pub fn intended_ns(&self, sequence: u64) -> Option<u64> {
        match *self {
            Schedule::OpenLoop {
                first_ns,
                interval_ns,
            } => Some(first_ns + (sequence as f64 * interval_ns) as u64),
            Schedule::FlatOut => None,
        }
    }

    /// How many messages are due by `now_ns` (messages `0..n`).
    pub fn due_by(&self, now_ns: u64) -> Option<u64> {
        match *self {
            Schedule::OpenLoop {
                first_ns,
                interval_ns,
            } => {
                if now_ns < first_ns {
                    return Some(0);
                }
                let mut due = ((now_ns - first_ns) as f64 / interval_ns) as u64 + 1;
                // Float rounding may put the boundary one message off; settle
                // it with the same formula `intended_ns` uses.
                while due > 0 && self.intended_ns(due - 1).expect("open loop") > now_ns {
                    due -= 1;
                }
                while self.intended_ns(due).expect("open loop") <= now_ns {
                    due += 1;
                }
                Some(due)
            }
            Schedule::FlatOut => None,
        }
    }
}

/// Messages per second for each publisher, from `--rate` (per publisher) or
/// `--total-rate` (shared by all); 0 means flat out.
pub fn rate_per_publisher(rate_per_s: f64, total_rate_per_s: f64, publishers: u32) -> f64 {
    if total_rate_per_s > 0.0 {
        total_rate_per_s / f64::from(publishers.max(1))
    } else {
        rate_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_messages_are_evenly_spaced_from_the_start() {
        let schedule = Schedule::new(1000.0, 5_000_000, 0, 1);
        let times: Vec<u64> = (0..4).map(|k| schedule.intended_ns(k).unwrap()).collect();
        assert_eq!(times, [5_000_000, 6_000_000, 7_000_000, 8_000_000]);
    }

    #[test]
    fn open_loop_schedule_does_not_drift_over_many_messages() {
        let schedule = Schedule::new(3.0, 0, 0, 1);
        assert_eq!(schedule.intended_ns(3_000_000), Some(1_000_000_000_000_000));
    }

    #[test]
    fn publishers_are_staggered_across_one_interval() {
        let firsts: Vec<u64> = (0..4)
            .map(|i| Schedule::new(100.0, 0, i, 4).intended_ns(0).unwrap())
            .collect();
        assert_eq!(firsts, [0, 2_500_000, 5_000_000, 7_500_000]);
    }

    #[test]
    fn due_count_includes_the_message_due_exactly_now() {
        let schedule = Schedule::new(1000.0, 1_000, 0, 1);
        assert_eq!(schedule.due_by(999), Some(0));
        assert_eq!(schedule.due_by(1_000), Some(1));
        assert_eq!(schedule.due_by(1_000_999), Some(1));
        assert_eq!(schedule.due_by(1_001_000), Some(2));
    }

    #[test]
    fn due_count_agrees_with_intended_times_at_awkward_rates() {
        let schedule = Schedule::new(7.0, 13, 0, 1);
        for k in 0..1000 {
            let at = schedule.intended_ns(k).unwrap();
            assert_eq!(schedule.due_by(at), Some(k + 1));
            assert_eq!(schedule.due_by(at - 1), Some(k));
        }
    }

    #[test]
    fn rate_zero_is_flat_out() {
        let schedule = Schedule::new(0.0, 0, 0, 1);
        assert_eq!(schedule, Schedule::FlatOut);
        assert_eq!(schedule.intended_ns(5), None);
        assert_eq!(schedule.due_by(5), None);
    }

    #[test]
    fn total_rate_is_shared_between_publishers() {
        assert_eq!(rate_per_publisher(5.0, 20_000.0, 100), 200.0);
        assert_eq!(rate_per_publisher(5.0, 0.0, 100), 5.0);
    }
}
