//! The operations of the codec bench, one case per run, for counting
//! instructions with callgrind: criterion times move with the machine's load,
//! instruction counts do not.
//!
//! Each case runs one operation `iterations` times through an `#[inline(never)]`
//! function named after the operation (`decode_once_*`, `encode_once`), so
//! callgrind can count those functions alone: the frame copies made for
//! decoding and the drop of the decoded packet stay outside the count. Both codecs decode the same bytes into an
//! owned packet and encode into one reused buffer, as in `benches/codec.rs`.
//!
//! ```text
//! cargo build --profile bench -p shardmq-bench --example codec_ops
//! valgrind --tool=callgrind --callgrind-out-file=cg.out --toggle-collect='*decode_once*' \
//!     target/release/examples/codec_ops decode shardmq v4 16 10000
//! ```
//!
//! Instructions per operation: the total callgrind reports, divided by the
//! iterations. Arguments: `decode|encode shardmq|mqttbytes v4|v5 <payload bytes>
//! <iterations>`.
//!
//! `time-encode v4|v5 <payload bytes> <rounds>` times encoding instead, both
//! codecs in alternation: each round times a batch of one codec, then of the
//! other (the order swapping every round), and the fastest batch of each is
//! reported in ns per packet. On a machine shared with other work, the other
//! work only ever adds time, so the fastest of many short batches stays close
//! to the cost of the code itself, and the alternation gives both codecs the
//! same conditions, which separate criterion runs of a few seconds each do not.

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use shardmq::protocol::{self, Packet, ProtocolVersion, Publish, QoS};

const TOPIC_NAME: &str = "sensors/building-7/floor-3/temperature";
const PACKET_ID: u16 = 42;
const MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

/// One packet of either codec, encoded the same way for one protocol level.
enum Case {
    Shardmq(Packet, ProtocolVersion),
    MqttbytesV4(mqttbytes::v4::Publish),
    MqttbytesV5(mqttbytes::v5::Publish),
}

fn case(codec: &str, version: &str, payload: Bytes) -> Case {
    let qos = mqttbytes::QoS::AtLeastOnce;
    match (codec, version) {
        ("shardmq", level) => {
            let packet = Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic_name: ByteString::from_static(TOPIC_NAME),
                packet_id: Some(PACKET_ID),
                properties: Default::default(),
                payload,
            });
            let version = match level {
                "v4" => ProtocolVersion::V3_1_1,
                "v5" => ProtocolVersion::V5,
                other => panic!("unknown protocol level {other}"),
            };
            Case::Shardmq(packet, version)
        }
        ("mqttbytes", "v4") => {
            let mut publish = mqttbytes::v4::Publish::from_bytes(TOPIC_NAME, qos, payload);
            publish.pkid = PACKET_ID;
            Case::MqttbytesV4(publish)
        }
        ("mqttbytes", "v5") => {
            let mut publish = mqttbytes::v5::Publish::from_bytes(TOPIC_NAME, qos, payload);
            publish.pkid = PACKET_ID;
            Case::MqttbytesV5(publish)
        }
        (codec, version) => panic!("unknown case {codec} {version}"),
    }
}

#[inline(never)]
fn encode_once(case: &Case, out: &mut BytesMut) {
    out.clear();
    match case {
        Case::Shardmq(packet, version) => protocol::encode(packet, *version, out).unwrap(),
        Case::MqttbytesV4(publish) => {
            publish.write(out).unwrap();
        }
        Case::MqttbytesV5(publish) => {
            publish.write(out).unwrap();
        }
    }
}

#[inline(never)]
fn decode_once_shardmq(buf: &mut BytesMut, version: ProtocolVersion) -> Option<Packet> {
    protocol::decode(buf, version, MAXIMUM_PACKET_SIZE).unwrap()
}

#[inline(never)]
fn decode_once_mqttbytes_v4(buf: &mut BytesMut) -> mqttbytes::v4::Packet {
    mqttbytes::v4::read(buf, MAXIMUM_PACKET_SIZE as usize).unwrap()
}

#[inline(never)]
fn decode_once_mqttbytes_v5(buf: &mut BytesMut) -> mqttbytes::v5::Packet {
    mqttbytes::v5::read(buf, MAXIMUM_PACKET_SIZE as usize).unwrap()
}

/// Decodes `frame` once; the packet is dropped after the counted call returns.
fn decode(case: &Case, frame: &BytesMut) {
    let mut buf = frame.clone();
    match case {
        Case::Shardmq(_, version) => {
            black_box(decode_once_shardmq(&mut buf, *version));
        }
        Case::MqttbytesV4(_) => {
            black_box(decode_once_mqttbytes_v4(&mut buf));
        }
        Case::MqttbytesV5(_) => {
            black_box(decode_once_mqttbytes_v5(&mut buf));
        }
    }
    assert!(buf.is_empty());
}

/// Encodes per batch when timing: long enough to dwarf reading the clock,
/// short enough that most batches run without being interrupted.
const TIMED_BATCH_ITERATIONS: u32 = 2_000;

/// The time of one batch of encodes, ns per packet.
fn time_encode_batch(case: &Case, out: &mut BytesMut) -> f64 {
    let start = Instant::now();
    for _ in 0..TIMED_BATCH_ITERATIONS {
        encode_once(black_box(case), out);
        black_box(&*out);
    }
    start.elapsed().as_nanos() as f64 / f64::from(TIMED_BATCH_ITERATIONS)
}

/// Times both codecs' encoding in alternation and prints the fastest batch of each.
fn time_encode(version: &str, payload_len: usize, rounds: usize) {
    let payload = Bytes::from(vec![0xA5; payload_len]);
    let cases = [
        ("shardmq", case("shardmq", version, payload.clone())),
        ("mqttbytes", case("mqttbytes", version, payload)),
    ];
    let mut out = BytesMut::with_capacity(4096);
    let mut fastest_ns = [f64::MAX; 2];
    for round in 0..rounds {
        for turn in 0..2 {
            let index = (round + turn) % 2;
            let ns = time_encode_batch(&cases[index].1, &mut out);
            fastest_ns[index] = fastest_ns[index].min(ns);
        }
    }
    for ((name, _), ns) in cases.iter().zip(fastest_ns) {
        println!("encode {version} {payload_len} B {name}: {ns:.2} ns per packet (fastest of {rounds} batches)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [operation, version, payload_len, rounds] = &args[..] {
        assert_eq!(operation, "time-encode", "unknown operation {operation}");
        time_encode(
            version,
            payload_len.parse().expect("payload bytes"),
            rounds.parse().expect("rounds"),
        );
        return;
    }
    let [operation, codec, version, payload_len, iterations] = &args[..] else {
        panic!(
            "usage: codec_ops decode|encode shardmq|mqttbytes v4|v5 <payload bytes> <iterations>"
        );
    };
    let payload_len: usize = payload_len.parse().expect("payload bytes");
    let iterations: usize = iterations.parse().expect("iterations");
    let case = case(codec, version, Bytes::from(vec![0xA5; payload_len]));
    let mut frame = BytesMut::new();
    encode_once(&case, &mut frame);
    match operation.as_str() {
        "encode" => {
            let mut out = BytesMut::with_capacity(4096);
            for _ in 0..iterations {
                encode_once(black_box(&case), &mut out);
                black_box(&out);
            }
            assert_eq!(out, frame);
        }
        "decode" => {
            for _ in 0..iterations {
                decode(black_box(&case), &frame);
            }
        }
        other => panic!("unknown operation {other}"),
    }
}
