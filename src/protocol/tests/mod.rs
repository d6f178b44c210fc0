//! Codec tests: known byte vectors, one test per malformed-input rule, and
//! property tests (round trips, arbitrary and truncated input).

use bytes::BytesMut;

use crate::protocol::{decode, Packet, ProtocolError, ProtocolVersion};

mod encode_publish;
mod malformed;
mod roundtrip;
mod scan;
mod strategies;
mod vectors;

const V3: ProtocolVersion = ProtocolVersion::V3_1;
const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// Decodes `bytes` as exactly one complete frame.
fn decode_all(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, version, u32::MAX)?.expect("a complete frame");
    assert!(buf.is_empty(), "frame not fully consumed");
    Ok(packet)
}
