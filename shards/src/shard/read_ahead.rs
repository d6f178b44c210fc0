//! Reading past a paused PUBLISH: the acknowledgements and pings behind it.
//!
//! While publishing is paused (see [`super::flow`]) a connection's task stops
//! at its next PUBLISH. A client that also subscribes sends its PUBACK, PUBREC
//! and PUBCOMP for what it receives on the same stream, behind that PUBLISH;
//! unread, they would keep its own backlog, and so the pause, from ever
//! draining. [`take_acknowledgements`] takes those frames (and PINGREQ, so a
//! long pause does not look like a dead broker) out of the buffered bytes to be
//! handled first. Nothing else moves: acknowledgements of the server's
//! outbound flows and pings have no ordering relation to the client's own
//! PUBLISH, SUBSCRIBE or DISCONNECT, which keep their order.

use bytes::BytesMut;
use shardmq::protocol::{peek_frame_at, PacketType, ProtocolVersion};

/// Takes the complete PUBACK, PUBREC, PUBCOMP and PINGREQ frames after the
/// first frame of `inbound` (read at protocol level `version`) out of it, in order, leaving every other byte in
/// its place; `None` when there are none. Stops at the first incomplete or
/// malformed frame, which the decoder meets in turn.
pub fn take_acknowledgements(
    inbound: &mut BytesMut,
    maximum_packet_size: u32,
    version: ProtocolVersion,
) -> Option<BytesMut> {
    let mut acknowledgements = BytesMut::new();
    let mut kept = BytesMut::new();
    // Bytes before this are in `kept` or `acknowledgements`.
    let mut copied_to = 0;
    let mut offset = 0;
    while let Ok(Some(header)) = peek_frame_at(&inbound[offset..], maximum_packet_size, version) {
        let end = offset + header.frame_len();
        if end > inbound.len() {
            break;
        }
        let acknowledgement = matches!(
            header.packet_type,
            PacketType::PubAck | PacketType::PubRec | PacketType::PubComp | PacketType::PingReq
        );
        if offset > 0 && acknowledgement {
            kept.extend_from_slice(&inbound[copied_to..offset]);
            acknowledgements.extend_from_slice(&inbound[offset..end]);
            copied_to = end;
        }
        offset = end;
    }
    if acknowledgements.is_empty() {
        return None;
    }
    kept.extend_from_slice(&inbound[copied_to..]);
    *inbound = kept;
    Some(acknowledgements)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

    /// PUBLISH QoS 1, topic "t", packet id 1, payload "x" (3.1.1).
    const PUBLISH: [u8; 8] = [0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x'];
    /// PUBACK of packet id 7.
    const PUBACK: [u8; 4] = [0x40, 0x02, 0x00, 0x07];
    /// PUBREC of packet id 8.
    const PUBREC: [u8; 4] = [0x50, 0x02, 0x00, 0x08];
    /// PUBCOMP of packet id 9.
    const PUBCOMP: [u8; 4] = [0x70, 0x02, 0x00, 0x09];
    const PINGREQ: [u8; 2] = [0xc0, 0x00];
    /// SUBSCRIBE packet id 2 to "a" at QoS 1.
    const SUBSCRIBE: [u8; 8] = [0x82, 0x06, 0x00, 0x02, 0x00, 0x01, b'a', 0x01];
    const DISCONNECT: [u8; 2] = [0xe0, 0x00];

    fn bytes(frames: &[&[u8]]) -> BytesMut {
        let mut buffer = BytesMut::new();
        for frame in frames {
            buffer.extend_from_slice(frame);
        }
        buffer
    }

    #[test]
    fn acknowledgements_and_pings_behind_a_publish_come_out_in_order_and_the_rest_stays() {
        let mut inbound = bytes(&[
            &PUBLISH,
            &PUBACK,
            &SUBSCRIBE,
            &PUBREC,
            &PUBLISH,
            &PINGREQ,
            &PUBCOMP,
            &DISCONNECT,
        ]);
        let taken = take_acknowledgements(&mut inbound, 1024, V4).unwrap();
        assert_eq!(taken, bytes(&[&PUBACK, &PUBREC, &PINGREQ, &PUBCOMP]));
        assert_eq!(
            inbound,
            bytes(&[&PUBLISH, &SUBSCRIBE, &PUBLISH, &DISCONNECT])
        );
    }

    #[test]
    fn the_first_frame_stays_even_when_it_is_an_acknowledgement() {
        let mut inbound = bytes(&[&PUBACK, &PUBLISH]);
        assert_eq!(take_acknowledgements(&mut inbound, 1024, V4), None);
        assert_eq!(inbound, bytes(&[&PUBACK, &PUBLISH]));
    }

    #[test]
    fn an_incomplete_or_malformed_frame_ends_the_search_and_keeps_what_follows() {
        let mut inbound = bytes(&[&PUBLISH, &PUBACK, &PUBACK[..3]]);
        assert_eq!(
            take_acknowledgements(&mut inbound, 1024, V4),
            Some(bytes(&[&PUBACK]))
        );
        assert_eq!(inbound, bytes(&[&PUBLISH, &PUBACK[..3]]));

        // Reserved type 0 stops the search; the PUBACK after it stays put.
        let mut inbound = bytes(&[&PUBLISH, &[0x00, 0x00], &PUBACK]);
        assert_eq!(take_acknowledgements(&mut inbound, 1024, V4), None);
        assert_eq!(inbound, bytes(&[&PUBLISH, &[0x00, 0x00], &PUBACK]));

        // A frame past the maximum packet size stops it too.
        let mut inbound = bytes(&[&PUBLISH, &PUBLISH, &PUBACK]);
        assert_eq!(take_acknowledgements(&mut inbound, 7, V4), None);
    }
}
