//! Progress while a run goes on: each shard sends a sample per interval, the
//! calling thread sums them and prints one line per second on stderr.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::latency::Latency;
use crate::limits::PROGRESS_INTERVAL_MS;

/// One shard's running totals, plus the delivery latencies since its last sample.
#[derive(Clone, Debug, Default)]
pub struct ProgressSample {
    /// The shard.
    pub shard: usize,
    /// Messages written so far.
    pub published: u64,
    /// Messages received so far.
    pub delivered: u64,
    /// Connections open now.
    pub connections_up: u64,
    /// Errors so far.
    pub errors: u64,
    /// Delivery latencies since the previous sample.
    pub interval_delivery: Latency,
    /// CONNACK latencies since the previous sample.
    pub interval_connack: Latency,
}

/// Sums the shards' samples and formats progress lines.
#[derive(Debug)]
pub struct ProgressBoard {
    latest: Vec<ProgressSample>,
    printed: ProgressSample,
    delivery_so_far: Latency,
    connack_so_far: Latency,
}

impl ProgressBoard {
    /// A board for `shards` shards.
    pub fn new(shards: usize) -> ProgressBoard {
        ProgressBoard {
            latest: vec![ProgressSample::default(); shards],
            printed: ProgressSample::default(),
            delivery_so_far: Latency::default(),
            connack_so_far: Latency::default(),
        }
    }

    /// Takes in one sample.
    pub fn add(&mut self, sample: ProgressSample) {
        self.delivery_so_far.merge(&sample.interval_delivery);
        self.connack_so_far.merge(&sample.interval_connack);
        let shard = sample.shard;
        self.latest[shard] = ProgressSample {
            interval_delivery: Latency::default(),
            interval_connack: Latency::default(),
            ..sample
        };
    }

    /// The line for the `elapsed` time, with rates since the previous line;
    /// latency is the deliveries' once there are any, CONNACK's before.
    pub fn line(&mut self, elapsed: Duration, since_last: Duration) -> String {
        let total = self
            .latest
            .iter()
            .fold(ProgressSample::default(), |mut total, sample| {
                total.published += sample.published;
                total.delivered += sample.delivered;
                total.connections_up += sample.connections_up;
                total.errors += sample.errors;
                total
            });
        let seconds = since_last.as_secs_f64().max(1e-3);
        let (what, latency) = if self.delivery_so_far.count() > 0 {
            ("latency", &self.delivery_so_far)
        } else {
            ("connack", &self.connack_so_far)
        };
        let line = format!(
            "[{:>7.1}s] conns {:>7} | out {:>9.0}/s | in {:>9.0}/s | {what} p50 {:>7}us p99 {:>7}us | errors {}",
            elapsed.as_secs_f64(),
            total.connections_up,
            (total.published - self.printed.published) as f64 / seconds,
            (total.delivered - self.printed.delivered) as f64 / seconds,
            latency.quantile_us(0.5),
            latency.quantile_us(0.99),
            total.errors,
        );
        self.printed = total;
        line
    }
}

/// Prints progress from `samples` until every shard has dropped its sender.
pub fn print_until_done(samples: Receiver<ProgressSample>, shards: usize, print: bool) {
    let interval = Duration::from_millis(PROGRESS_INTERVAL_MS);
    let started = std::time::Instant::now();
    let mut board = ProgressBoard::new(shards);
    let mut last_line = started;
    loop {
        let wait = interval.saturating_sub(last_line.elapsed());
        match samples.recv_timeout(wait) {
            Ok(sample) => board.add(sample),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if last_line.elapsed() >= interval {
            let line = board.line(started.elapsed(), last_line.elapsed());
            last_line = std::time::Instant::now();
            if print {
                eprintln!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_sums_shards_and_reports_rates_since_the_previous_line() {
        let mut board = ProgressBoard::new(2);
        for shard in 0..2 {
            let mut interval_delivery = Latency::default();
            interval_delivery.record_ns(100_000);
            board.add(ProgressSample {
                shard,
                published: 500,
                delivered: 400,
                connections_up: 10,
                errors: 1,
                interval_delivery,
                interval_connack: Latency::default(),
            });
        }
        let line = board.line(Duration::from_secs(1), Duration::from_secs(1));
        assert!(line.contains("conns      20"), "{line}");
        assert!(line.contains("out      1000/s"), "{line}");
        assert!(line.contains("in       800/s"), "{line}");
        assert!(line.contains("p50     100us"), "{line}");
        assert!(line.contains("errors 2"), "{line}");
        let line = board.line(Duration::from_secs(2), Duration::from_secs(1));
        assert!(line.contains("out         0/s"), "{line}");
    }

    #[test]
    fn line_shows_connack_latency_until_messages_are_delivered() {
        let mut board = ProgressBoard::new(1);
        let mut interval_connack = Latency::default();
        interval_connack.record_ns(250_000);
        board.add(ProgressSample {
            interval_connack,
            ..ProgressSample::default()
        });
        let line = board.line(Duration::from_secs(1), Duration::from_secs(1));
        assert!(line.contains("connack p50     250us"), "{line}");
    }
}
