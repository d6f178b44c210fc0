//! Feeds arbitrary bytes to `decode` at every protocol level, and checks that
//! whatever decodes encodes to bytes that decode to the same packet.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shardmq::protocol::{decode, encode, encoded_len, Packet, ProtocolVersion};

const MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let mut buf = BytesMut::from(data);
        // Each successful decode consumes at least two bytes, so this ends.
        while let Ok(Some(packet)) = decode(&mut buf, version, MAXIMUM_PACKET_SIZE) {
            round_trip(&packet, version);
        }
    }
});

fn round_trip(packet: &Packet, version: ProtocolVersion) {
    // CONNECT is encoded and decoded at its own level.
    let version = match packet {
        Packet::Connect(connect) => connect.protocol_version,
        _ => version,
    };
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("a decoded packet encodes");
    assert_eq!(encoded_len(packet, version), Ok(out.len()));
    let decoded = decode(&mut out, version, u32::MAX)
        .expect("an encoded packet decodes")
        .expect("an encoded packet is complete");
    assert!(out.is_empty());
    assert_eq!(&decoded, packet);
}
