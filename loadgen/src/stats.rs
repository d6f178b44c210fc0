//! The counters one shard keeps while it runs, and the error counts every
//! report carries.

use std::collections::BTreeMap;

use serde::Serialize;
use shardmq::protocol::ReasonCode;

use crate::latency::{Latencies, Latency};
use crate::limits::REASON_CODES_MAX;

/// Reason codes seen, by code, in bounded memory: codes past
/// [`REASON_CODES_MAX`] distinct ones are counted under 0xFF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReasonCounts(BTreeMap<u8, u64>);

impl ReasonCounts {
    /// Counts one `code`.
    pub fn add(&mut self, code: ReasonCode) {
        self.add_raw(code.as_u8(), 1);
    }

    fn add_raw(&mut self, code: u8, count: u64) {
        let key = if self.0.len() >= REASON_CODES_MAX && !self.0.contains_key(&code) {
            0xFF
        } else {
            code
        };
        *self.0.entry(key).or_default() += count;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ReasonCounts) {
        for (&code, &count) in &other.0 {
            self.add_raw(code, count);
        }
    }

    /// Total count.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

impl Serialize for ReasonCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .map(|(&code, count)| (reason_name(code), count)),
        )
    }
}

/// "0x87 NotAuthorized", or just the hex for a code the spec does not define.
pub fn reason_name(code: u8) -> String {
    match ReasonCode::from_u8(code) {
        Some(reason) => format!("0x{code:02X} {reason:?}"),
        None => format!("0x{code:02X}"),
    }
}

/// Everything that went wrong, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// TCP connect failed or the connection closed before CONNACK
    /// (unreachable broker, refused port, reset).
    pub connect_failed: u64,
    /// TLS handshake or WebSocket upgrade refused on what the broker sent
    /// (an untrusted certificate, no 101 answer).
    pub transport_failed: u64,
    /// No CONNACK or SUBACK within the handshake timeout.
    pub handshake_timeouts: u64,
    /// CONNACK with a failure reason code, by code.
    pub connack_refused: ReasonCounts,
    /// SUBACK with a failure reason code, by code.
    pub subscribe_refused: ReasonCounts,
    /// DISCONNECT sent by the broker mid-run, by reason code.
    pub disconnected_by_broker: ReasonCounts,
    /// Connections closed or reset mid-run without a DISCONNECT.
    pub connection_lost: u64,
    /// Packets that broke the protocol (malformed, unexpected, unknown packet id).
    pub protocol_errors: u64,
    /// PUBACK/PUBREC with a failure reason code.
    pub publish_rejected: u64,
    /// Messages without a loadgen header or from a publisher this subscriber
    /// should not hear from.
    pub unexpected_messages: u64,
}

impl ErrorCounts {
    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ErrorCounts) {
        self.connect_failed += other.connect_failed;
        self.transport_failed += other.transport_failed;
        self.handshake_timeouts += other.handshake_timeouts;
        self.connack_refused.merge(&other.connack_refused);
        self.subscribe_refused.merge(&other.subscribe_refused);
        self.disconnected_by_broker
            .merge(&other.disconnected_by_broker);
        self.connection_lost += other.connection_lost;
        self.protocol_errors += other.protocol_errors;
        self.publish_rejected += other.publish_rejected;
        self.unexpected_messages += other.unexpected_messages;
    }

    /// Connections that could not be set up.
    pub fn setup_failures(&self) -> u64 {
        self.connect_failed
            + self.transport_failed
            + self.handshake_timeouts
            + self.connack_refused.total()
            + self.subscribe_refused.total()
    }

    /// Connections that dropped after setup.
    pub fn run_failures(&self) -> u64 {
        self.disconnected_by_broker.total() + self.connection_lost
    }

    /// Every error counted.
    pub fn total(&self) -> u64 {
        self.setup_failures()
            + self.run_failures()
            + self.protocol_errors
            + self.publish_rejected
            + self.unexpected_messages
    }
}

/// Counters of one shard; time stamps are ns since the run's epoch.
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    /// Connections set up and not yet closed.
    pub connections_up: u64,
    /// Connections set up, ever.
    pub connections_established: u64,
    /// Of those over TLS, the ones whose handshake resumed a session.
    pub tls_resumed: u64,
    /// Messages written.
    pub published: u64,
    /// Messages written after the warmup.
    pub published_measured: u64,
    /// When the last message was written.
    pub last_publish_ns: u64,
    /// QoS 1/2 flows completed (PUBACK or PUBCOMP received).
    pub acknowledged: u64,
    /// Messages received, duplicates included.
    pub delivered: u64,
    /// Messages received after the warmup.
    pub delivered_measured: u64,
    /// When the last message was received.
    pub last_delivery_ns: u64,
    /// Messages received for the first time, not yet reported to the run control.
    pub distinct_unreported: u64,
    /// Latency distributions of the measured phase.
    pub latencies: Latencies,
    /// Delivery latency since the last progress sample, of messages meant to
    /// be sent during the warmup.
    pub interval_delivery: Latency,
    /// Delivery latency since the last progress sample, of messages meant to
    /// be sent after the warmup: not yet in `latencies.delivery` (each
    /// delivery is recorded once, and moved there with the sample).
    pub interval_delivery_measured: Latency,
    /// CONNACK latency since the last progress sample.
    pub interval_connack: Latency,
    /// Errors.
    pub errors: ErrorCounts,
}

impl ShardStats {
    /// Records the delivery latency of a message meant to be sent at
    /// `intended_ns`, with the warmup ending at `warmup_end_ns`.
    pub fn record_delivery(&mut self, latency_ns: u64, intended_ns: u64, warmup_end_ns: u64) {
        if intended_ns >= warmup_end_ns {
            self.interval_delivery_measured.record_ns(latency_ns);
        } else {
            self.interval_delivery.record_ns(latency_ns);
        }
    }

    /// The delivery latencies since the previous call, every one of them;
    /// the measured ones join `latencies.delivery` on the way.
    pub fn take_interval_delivery(&mut self) -> Latency {
        let measured = &mut self.interval_delivery_measured;
        self.latencies.delivery.merge(measured);
        self.interval_delivery.merge(measured);
        measured.clear();
        std::mem::take(&mut self.interval_delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_counts_once_per_interval_and_in_the_measured_phase_once() {
        let mut stats = ShardStats::default();
        stats.record_delivery(1_000_000, 5, 10);
        stats.record_delivery(2_000_000, 10, 10);
        stats.record_delivery(3_000_000, 11, 10);
        let first = stats.take_interval_delivery();
        assert_eq!(first.count(), 3);
        assert_eq!(stats.latencies.delivery.count(), 2);
        // The warmup's 1 ms is not among them.
        assert!(stats.latencies.delivery.quantile_us(0.0) >= 1_990);
        stats.record_delivery(4_000_000, 12, 10);
        assert_eq!(stats.take_interval_delivery().count(), 1);
        assert_eq!(stats.take_interval_delivery().count(), 0);
        assert_eq!(stats.latencies.delivery.count(), 3);
    }

    #[test]
    fn reason_counts_merge_by_code() {
        let mut a = ReasonCounts::default();
        a.add(ReasonCode::NotAuthorized);
        let mut b = ReasonCounts::default();
        b.add(ReasonCode::NotAuthorized);
        b.add(ReasonCode::ServerBusy);
        a.merge(&b);
        assert_eq!(a.total(), 3);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"0x87 NotAuthorized":2,"0x89 ServerBusy":1}"#);
    }

    #[test]
    fn setup_and_run_failures_are_told_apart() {
        let mut errors = ErrorCounts {
            connect_failed: 2,
            connection_lost: 1,
            ..ErrorCounts::default()
        };
        errors
            .connack_refused
            .add(ReasonCode::BadUserNameOrPassword);
        assert_eq!(errors.setup_failures(), 3);
        assert_eq!(errors.run_failures(), 1);
        assert_eq!(errors.total(), 4);
    }
}
