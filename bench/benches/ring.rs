//! One cross-shard ring hand-off: a message pushed on one glommio executor
//! and received on another, over the bounded SPSC ring the shards use
//! (glommio `shared_channel`, `limits::RING_CAPACITY` deep).
//!
//! - `ring/handoff_batch`: a stream of messages, as a busy shard forwards
//!   publishes; the producer keeps the ring full, so this is the cost per
//!   message when hand-offs are batched by the ring.
//! - `ring/handoff_single`: one message in flight at a time, answered over a
//!   second ring; the time per message is half the round trip, the latency
//!   of a lone hand-off including the wake-up of the receiving executor.
//!
//! The executors are not pinned, so the figures hold on a machine shared
//! with other work (pinning two executors on a two-CPU machine only adds
//! noise). Each message is a `u64`: the cost measured is the ring's, not
//! the message's (the shards' messages carry their payload by reference).
//!
//! Run: `cargo bench -p shardmq-bench --bench ring` (add `-- --quick` on a busy
//! machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glommio::channels::shared_channel;
use glommio::LocalExecutorBuilder;
use shardmq::limits::RING_CAPACITY;

/// Sends `messages` from one executor to another; the time from the first
/// send to the last receive.
fn stream(messages: u64) -> Duration {
    let (sender, receiver) = shared_channel::new_bounded::<u64>(RING_CAPACITY);
    let consumer = LocalExecutorBuilder::default()
        .name("ring-consumer")
        .spawn(move || async move {
            let receiver = receiver.connect().await;
            let mut sum = 0u64;
            for _ in 0..messages {
                sum = sum.wrapping_add(receiver.recv().await.expect("the producer sends all"));
            }
            (Instant::now(), sum)
        })
        .expect("the consumer executor starts");
    let producer = LocalExecutorBuilder::default()
        .name("ring-producer")
        .spawn(move || async move {
            let sender = sender.connect().await;
            let start = Instant::now();
            for message in 0..messages {
                sender.send(message).await.expect("the consumer reads all");
            }
            start
        })
        .expect("the producer executor starts");
    let start = producer.join().expect("the producer ends");
    let (end, sum) = consumer.join().expect("the consumer ends");
    black_box(sum);
    end.saturating_duration_since(start)
}

/// Bounces one message between two executors `round_trips` times; half of
/// the elapsed time per round trip is one hand-off.
fn ping_pong(round_trips: u64) -> Duration {
    let (ping_sender, ping_receiver) = shared_channel::new_bounded::<u64>(RING_CAPACITY);
    let (pong_sender, pong_receiver) = shared_channel::new_bounded::<u64>(RING_CAPACITY);
    let echo = LocalExecutorBuilder::default()
        .name("ring-echo")
        .spawn(move || async move {
            let (ping, pong) = (ping_receiver.connect().await, pong_sender.connect().await);
            for _ in 0..round_trips {
                let message = ping.recv().await.expect("the pinger sends all");
                pong.send(message).await.expect("the pinger reads all");
            }
        })
        .expect("the echo executor starts");
    let pinger = LocalExecutorBuilder::default()
        .name("ring-ping")
        .spawn(move || async move {
            let (ping, pong) = (ping_sender.connect().await, pong_receiver.connect().await);
            let start = Instant::now();
            for message in 0..round_trips {
                ping.send(message).await.expect("the echo reads all");
                black_box(pong.recv().await.expect("the echo answers all"));
            }
            start.elapsed()
        })
        .expect("the ping executor starts");
    let elapsed = pinger.join().expect("the pinger ends");
    echo.join().expect("the echo ends");
    elapsed / 2
}

fn ring_handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(1));
    group.bench_function("handoff_batch", |bench| bench.iter_custom(stream));
    group.bench_function("handoff_single", |bench| bench.iter_custom(ping_pong));
    group.finish();
}

criterion_group!(benches, ring_handoff);
criterion_main!(benches);
