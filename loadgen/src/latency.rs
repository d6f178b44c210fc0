//! Latency histograms, recorded per shard in microseconds and merged at the end.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::limits::{LATENCY_MAX_US, LATENCY_SIGNIFICANT_DIGITS};

/// One latency distribution, in microseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds"),
        }
    }
}

impl Latency {
    /// Records one latency given in nanoseconds; values beyond the histogram's
    /// range saturate at its maximum, and anything under 1 µs counts as 1 µs.
    pub fn record_ns(&mut self, latency_ns: u64) {
        let latency_us = (latency_ns / 1000).clamp(1, LATENCY_MAX_US);
        self.histogram.saturating_record(latency_us);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.histogram.reset();
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0..=1), microseconds; 0 when empty.
    pub fn quantile_us(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.value_at_quantile(quantile)
    }

    /// The summary figures of this distribution.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            p50_us: self.quantile_us(0.50),
            p90_us: self.quantile_us(0.90),
            p99_us: self.quantile_us(0.99),
            p999_us: self.quantile_us(0.999),
            max_us: if self.histogram.is_empty() {
                0
            } else {
                self.histogram.max()
            },
            mean_us: if self.histogram.is_empty() {
                0.0
            } else {
                self.histogram.mean()
            },
        }
    }
}

/// Percentiles of one latency distribution, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

/// The latencies one shard records.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// Intended send time to delivery at a subscriber.
    pub delivery: Latency,
    /// Intended send time to PUBACK (QoS 1) or PUBCOMP (QoS 2).
    pub acknowledgement: Latency,
    /// CONNECT written to CONNACK read.
    pub connack: Latency,
}

impl Latencies {
    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        self.delivery.merge(&other.delivery);
        self.acknowledgement.merge(&other.acknowledgement);
        self.connack.merge(&other.connack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histogram_holds_the_samples_of_both_shards() {
        let mut shard_a = Latency::default();
        let mut shard_b = Latency::default();
        for us in 1..=500 {
            shard_a.record_ns(us * 1000);
        }
        for us in 501..=1000 {
            shard_b.record_ns(us * 1000);
        }
        shard_a.merge(&shard_b);
        assert_eq!(shard_a.count(), 1000);
        let summary = shard_a.summary();
        assert!((499..=501).contains(&summary.p50_us), "{summary:?}");
        assert!((989..=991).contains(&summary.p99_us), "{summary:?}");
        assert_eq!(summary.max_us, 1000);
    }

    #[test]
    fn merging_latencies_merges_each_distribution() {
        let mut total = Latencies::default();
        let mut shard = Latencies::default();
        shard.delivery.record_ns(5_000);
        shard.connack.record_ns(7_000);
        shard.connack.record_ns(9_000);
        total.merge(&shard);
        total.merge(&shard);
        assert_eq!(total.delivery.count(), 2);
        assert_eq!(total.acknowledgement.count(), 0);
        assert_eq!(total.connack.count(), 4);
    }

    #[test]
    fn sub_microsecond_and_huge_latencies_stay_in_range() {
        let mut latency = Latency::default();
        latency.record_ns(10);
        latency.record_ns(u64::MAX);
        assert_eq!(latency.count(), 2);
        assert_eq!(latency.quantile_us(0.0), 1);
        assert!(latency.summary().max_us >= LATENCY_MAX_US * 999 / 1000);
    }

    #[test]
    fn empty_distribution_summarises_to_zero() {
        assert_eq!(Latency::default().summary(), LatencySummary::default());
    }
}
