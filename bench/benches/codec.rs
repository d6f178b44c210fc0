//! Decode and encode of a QoS 1 PUBLISH, shardmq side by side with the
//! `mqttbytes` crate (its v4 and v5 modules), on the same bytes.
//!
//! Each group holds one operation and payload size; inside it, one entry per
//! codec and protocol level. Every entry times one packet per iteration, so
//! the time is per packet and the throughput is in packets (elements).
//! Decoding starts from a fresh `BytesMut` holding one frame, built outside
//! the timed part, and returns the owned packet, dropped outside the timed
//! part on both sides. Encoding writes into a cleared, already allocated
//! buffer, as a connection's write buffer would be.
//!
//! Run: `cargo bench -p shardmq-bench --bench codec`. Criterion times move
//! with the machine's load; `examples/codec_ops.rs` runs the same cases for
//! counting instructions with callgrind.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardmq::protocol::{self, Packet, ProtocolVersion, Publish, QoS};

const TOPIC_NAME: &str = "sensors/building-7/floor-3/temperature";
const PACKET_ID: u16 = 42;
const MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

fn shardmq_publish(payload: &Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic_name: ByteString::from_static(TOPIC_NAME),
        packet_id: Some(PACKET_ID),
        properties: Default::default(),
        payload: payload.clone(),
    })
}

fn mqttbytes_v4_publish(payload: &Bytes) -> mqttbytes::v4::Publish {
    let mut publish = mqttbytes::v4::Publish::from_bytes(
        TOPIC_NAME,
        mqttbytes::QoS::AtLeastOnce,
        payload.clone(),
    );
    publish.pkid = PACKET_ID;
    publish
}

fn mqttbytes_v5_publish(payload: &Bytes) -> mqttbytes::v5::Publish {
    let mut publish = mqttbytes::v5::Publish::from_bytes(
        TOPIC_NAME,
        mqttbytes::QoS::AtLeastOnce,
        payload.clone(),
    );
    publish.pkid = PACKET_ID;
    publish
}

/// The frame for `version`, checked to be the same bytes from both codecs.
fn frame(payload: &Bytes, version: ProtocolVersion) -> BytesMut {
    let mut ours = BytesMut::new();
    protocol::encode(&shardmq_publish(payload), version, &mut ours).unwrap();
    let mut theirs = BytesMut::new();
    match version {
        ProtocolVersion::V5 => mqttbytes_v5_publish(payload).write(&mut theirs).unwrap(),
        _ => mqttbytes_v4_publish(payload).write(&mut theirs).unwrap(),
    };
    assert_eq!(ours, theirs, "the codecs disagree on the frame");
    ours
}

fn bench_decode(c: &mut Criterion, label: &str, payload: &Bytes) {
    let mut group = c.benchmark_group(format!("decode_publish_qos1_{label}"));
    group.throughput(Throughput::Elements(1));
    for (name, version) in [("v4", ProtocolVersion::V3_1_1), ("v5", ProtocolVersion::V5)] {
        let frame = frame(payload, version);
        group.bench_function(format!("shardmq_{name}"), |b| {
            b.iter_batched_ref(
                || frame.clone(),
                |buf| protocol::decode(buf, version, MAXIMUM_PACKET_SIZE).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let maximum_packet_size = MAXIMUM_PACKET_SIZE as usize;
        match version {
            ProtocolVersion::V5 => group.bench_function("mqttbytes_v5", |b| {
                b.iter_batched_ref(
                    || frame.clone(),
                    |buf| mqttbytes::v5::read(buf, maximum_packet_size).unwrap(),
                    BatchSize::SmallInput,
                )
            }),
            _ => group.bench_function("mqttbytes_v4", |b| {
                b.iter_batched_ref(
                    || frame.clone(),
                    |buf| mqttbytes::v4::read(buf, maximum_packet_size).unwrap(),
                    BatchSize::SmallInput,
                )
            }),
        };
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion, label: &str, payload: &Bytes) {
    let mut group = c.benchmark_group(format!("encode_publish_qos1_{label}"));
    group.throughput(Throughput::Elements(1));
    let packet = shardmq_publish(payload);
    let v4 = mqttbytes_v4_publish(payload);
    let v5 = mqttbytes_v5_publish(payload);
    let mut out = BytesMut::with_capacity(4096);
    for (name, version) in [("v4", ProtocolVersion::V3_1_1), ("v5", ProtocolVersion::V5)] {
        group.bench_function(format!("shardmq_{name}"), |b| {
            b.iter(|| {
                out.clear();
                protocol::encode(black_box(&packet), version, &mut out).unwrap();
                black_box(&out);
            })
        });
        match version {
            ProtocolVersion::V5 => group.bench_function("mqttbytes_v5", |b| {
                b.iter(|| {
                    out.clear();
                    black_box(&v5).write(&mut out).unwrap();
                    black_box(&out);
                })
            }),
            _ => group.bench_function("mqttbytes_v4", |b| {
                b.iter(|| {
                    out.clear();
                    black_box(&v4).write(&mut out).unwrap();
                    black_box(&out);
                })
            }),
        };
    }
    group.finish();
}

fn codec(c: &mut Criterion) {
    for (label, size) in [("16B", 16), ("1KiB", 1024)] {
        let payload = Bytes::from(vec![0xA5; size]);
        bench_decode(c, label, &payload);
        bench_encode(c, label, &payload);
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
