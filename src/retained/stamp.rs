//! [`Stamp`]: where a retained update stands among the updates of its topic.

/// Where a retained update stands in the one order in which every replica
/// takes the updates of a topic: the later stamp wins, whichever arrives
/// first. Two shards may take retained PUBLISHes to one topic at the same
/// moment and each applies its own before the other's arrives; without the
/// stamps each replica would keep the last one it received, and subscribers
/// on different shards would see different retained messages for ever.
///
/// The order is that of the fields: the clock first, then the shard, then the
/// shard's own count, so two updates decided on one shard in the same
/// millisecond keep the order they were taken in, and two decided on
/// different shards at the same moment are told apart by the shard. The
/// default stamp is the earliest of all: an update restored at start-up loses
/// to any update decided since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// The deciding shard's clock when it took the PUBLISH.
    pub at_ms: u64,
    /// The deciding shard.
    pub shard: usize,
    /// That shard's count of retained updates, ordering its own.
    pub sequence: u64,
}

#[cfg(test)]
mod tests {
    use super::Stamp;

    fn stamp(at_ms: u64, shard: usize, sequence: u64) -> Stamp {
        Stamp {
            at_ms,
            shard,
            sequence,
        }
    }

    #[test]
    fn the_clock_orders_first_then_the_shard_then_its_count() {
        assert!(stamp(11, 0, 1) > stamp(10, 7, 99), "a later clock wins");
        assert!(
            stamp(10, 1, 1) > stamp(10, 0, 99),
            "same clock: the higher shard wins"
        );
        assert!(
            stamp(10, 0, 2) > stamp(10, 0, 1),
            "same shard: its later update wins"
        );
    }

    #[test]
    fn the_default_stamp_is_earlier_than_any_other() {
        assert!(Stamp::default() < stamp(0, 0, 1));
        assert!(Stamp::default() < stamp(0, 1, 0));
        assert!(Stamp::default() < stamp(1, 0, 0));
    }
}
