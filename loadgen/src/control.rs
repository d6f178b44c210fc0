//! What the shards share while a run goes on: the start barrier, the counts
//! that tell when every expected delivery has arrived, and the CPU and memory
//! samples taken at the edges of the measured phase.
//!
//! Shards touch these at setup, once per publisher when it stops, and once per
//! control tick; never per message.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::group::GroupTracker;
use crate::procstat::Process;

/// CPU and memory readings at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessSample {
    /// Loadgen's own CPU time, microseconds.
    pub loadgen_cpu_us: Option<u64>,
    /// The broker's CPU time, microseconds.
    pub broker_cpu_us: Option<u64>,
    /// The broker's resident memory, bytes.
    pub broker_rss_bytes: Option<u64>,
}

impl ProcessSample {
    /// Reads loadgen's and, given its pid, the broker's figures now.
    pub fn take(broker_pid: Option<u32>) -> ProcessSample {
        let broker = broker_pid.map(Process::Pid);
        ProcessSample {
            loadgen_cpu_us: Process::Myself.cpu_time_us(),
            broker_cpu_us: broker.and_then(Process::cpu_time_us),
            broker_rss_bytes: broker.and_then(Process::resident_bytes),
        }
    }
}

/// State shared by every shard of one run.
pub struct RunControl {
    /// The run's epoch: every time in a payload is ns since this instant.
    pub epoch: Instant,
    shards: usize,
    broker_pid: Option<u32>,
    settle: Duration,
    arrived: AtomicUsize,
    /// Intended time of the first message, ns since the epoch; 0 until every
    /// shard has finished its setup.
    start_ns: AtomicU64,
    aborted: AtomicBool,
    publishers_sending: AtomicU32,
    publishers_running: AtomicU32,
    sending_stopped_ns: AtomicU64,
    expected_deliveries: AtomicU64,
    distinct_deliveries: AtomicU64,
    /// The share group's trackers, in a shared-subscription run.
    pub share_group: Option<GroupTracker>,
    /// Readings when setup ended and the measured phase began.
    pub start_sample: OnceLock<ProcessSample>,
    /// Readings when the first shard saw the run end.
    pub end_sample: OnceLock<ProcessSample>,
}

impl RunControl {
    /// Control for `shards` shards and `publishers` publishers.
    pub fn new(
        shards: usize,
        publishers: u32,
        broker_pid: Option<u32>,
        settle: Duration,
    ) -> RunControl {
        RunControl {
            epoch: Instant::now(),
            shards,
            broker_pid,
            settle,
            arrived: AtomicUsize::new(0),
            start_ns: AtomicU64::new(0),
            aborted: AtomicBool::new(false),
            publishers_sending: AtomicU32::new(publishers),
            publishers_running: AtomicU32::new(publishers),
            sending_stopped_ns: AtomicU64::new(0),
            expected_deliveries: AtomicU64::new(0),
            distinct_deliveries: AtomicU64::new(0),
            share_group: None,
            start_sample: OnceLock::new(),
            end_sample: OnceLock::new(),
        }
    }

    /// The same control, for a run whose subscribers share one group
    /// receiving from `publishers` publishers.
    pub fn with_share_group(self, publishers: u32) -> RunControl {
        RunControl {
            share_group: Some(GroupTracker::new(publishers)),
            ..self
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A shard has finished its setup. The last one to arrive fixes the start
    /// time and takes the start sample; returns the start time once set.
    pub fn arrive(&self) -> Option<u64> {
        let arrived = self.arrived.fetch_add(1, Ordering::AcqRel) + 1;
        assert!(arrived <= self.shards, "a shard arrived twice");
        if arrived == self.shards {
            let _ = self.start_sample.set(ProcessSample::take(self.broker_pid));
            let start_ns = (self.now_ns() + self.settle.as_nanos() as u64).max(1);
            self.start_ns.store(start_ns, Ordering::Release);
        }
        self.start_ns()
    }

    /// The start time, once every shard has arrived.
    pub fn start_ns(&self) -> Option<u64> {
        match self.start_ns.load(Ordering::Acquire) {
            0 => None,
            start_ns => Some(start_ns),
        }
    }

    /// Tells every shard to give up (another shard could not start).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// True once the run was aborted.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// A publisher stopped sending after `sent` messages, each of which
    /// `receivers` subscribers should get.
    pub fn publisher_stopped_sending(&self, sent: u64, receivers: u64) {
        self.expected_deliveries
            .fetch_add(sent * receivers, Ordering::AcqRel);
        if self.publishers_sending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.sending_stopped_ns
                .store(self.now_ns(), Ordering::Release);
        }
    }

    /// A publisher has no more unacknowledged messages (or gave up on them).
    pub fn publisher_finished(&self) {
        self.publishers_running.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the last publisher stopped sending, ns since the epoch.
    pub fn sending_stopped_ns(&self) -> Option<u64> {
        match self.sending_stopped_ns.load(Ordering::Acquire) {
            0 => None,
            at => Some(at),
        }
    }

    /// Adds deliveries of messages not received before.
    pub fn add_distinct_deliveries(&self, count: u64) {
        self.distinct_deliveries.fetch_add(count, Ordering::AcqRel);
    }

    /// True when every publisher is done and every subscriber that should
    /// receive a message has received it.
    pub fn all_delivered(&self) -> bool {
        self.publishers_running.load(Ordering::Acquire) == 0
            && self.sending_stopped_ns().is_some()
            && self.distinct_deliveries.load(Ordering::Acquire)
                >= self.expected_deliveries.load(Ordering::Acquire)
    }

    /// Takes the end sample, once.
    pub fn mark_end(&self) {
        let _ = self
            .end_sample
            .get_or_init(|| ProcessSample::take(self.broker_pid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_is_set_only_when_the_last_shard_arrives() {
        let control = RunControl::new(2, 0, None, Duration::ZERO);
        assert_eq!(control.arrive(), None);
        assert!(control.arrive().is_some());
        assert!(control.start_sample.get().is_some());
    }

    #[test]
    fn run_is_complete_when_all_publishers_finished_and_all_deliveries_arrived() {
        let control = RunControl::new(1, 2, None, Duration::ZERO);
        control.publisher_stopped_sending(10, 3);
        control.publisher_finished();
        control.add_distinct_deliveries(30);
        assert!(!control.all_delivered());
        control.publisher_stopped_sending(5, 3);
        control.publisher_finished();
        assert!(!control.all_delivered());
        control.add_distinct_deliveries(15);
        assert!(control.all_delivered());
    }
}
