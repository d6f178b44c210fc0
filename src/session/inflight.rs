//! Outbound QoS 1/2 flows in progress: packet-id allocation and the state of each
//! flow until its final acknowledgement.

use super::state::FastMap;

use super::outbound::OutboundPublish;
use crate::protocol::PacketId;

/// Where one outbound flow stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlightStage {
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    AwaitingPubAck(OutboundPublish),
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    AwaitingPubRec(OutboundPublish),
    /// QoS 2 PUBREL sent, PUBCOMP awaited; the message itself is no longer needed.
    Released,
}

/// One outbound flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flight {
    /// Order of the first send, to resend in the original order [MQTT-4.6.0-1].
    pub(crate) sequence: u64,
    /// Where the flow stands.
    pub(crate) stage: FlightStage,
}

/// The outbound flows of a session, by packet id.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutboundInflight {
    flights: FastMap<PacketId, Flight>,
    last_packet_id: PacketId,
    next_sequence: u64,
}

impl OutboundInflight {
    /// Flows in progress.
    pub(crate) fn len(&self) -> usize {
        self.flights.len()
    }

    /// Starts a flow under the next free packet id, skipping 0 and ids in use.
    /// The caller keeps the window below 65,535, so a free id always exists.
    pub(crate) fn start(&mut self, stage: FlightStage) -> PacketId {
        assert!(
            self.flights.len() < usize::from(u16::MAX),
            "outbound window exceeds the packet id space"
        );
        let mut packet_id = self.last_packet_id;
        loop {
            packet_id = packet_id.checked_add(1).unwrap_or(1);
            if !self.flights.contains_key(&packet_id) {
                break;
            }
        }
        self.last_packet_id = packet_id;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.flights.insert(packet_id, Flight { sequence, stage });
        packet_id
    }

    /// The flow under `packet_id`.
    pub(crate) fn get_mut(&mut self, packet_id: PacketId) -> Option<&mut Flight> {
        self.flights.get_mut(&packet_id)
    }

    /// Ends the flow under `packet_id`.
    pub(crate) fn remove(&mut self, packet_id: PacketId) -> Option<Flight> {
        self.flights.remove(&packet_id)
    }

    /// The packet ids in the order their flows started, for resending on resume.
    pub(crate) fn packet_ids_in_order(&self) -> Vec<PacketId> {
        let mut ordered: Vec<(u64, PacketId)> = self
            .flights
            .iter()
            .map(|(packet_id, flight)| (flight.sequence, *packet_id))
            .collect();
        ordered.sort_unstable();
        ordered
            .into_iter()
            .map(|(_, packet_id)| packet_id)
            .collect()
    }

    /// The flow under `packet_id`.
    pub(crate) fn get(&self, packet_id: PacketId) -> Option<&Flight> {
        self.flights.get(&packet_id)
    }

    /// The packet id handed out last.
    pub(crate) fn last_packet_id(&self) -> PacketId {
        self.last_packet_id
    }

    /// The flows with their packet ids, in the order they started.
    pub(crate) fn flights_in_order(&self) -> Vec<(PacketId, &Flight)> {
        let mut ordered: Vec<(PacketId, &Flight)> = self
            .flights
            .iter()
            .map(|(packet_id, flight)| (*packet_id, flight))
            .collect();
        ordered.sort_unstable_by_key(|(_, flight)| flight.sequence);
        ordered
    }

    /// Flows restored from a snapshot, given in the order they started, under
    /// distinct non-zero packet ids (the caller checks).
    pub(crate) fn restore(
        flights: impl IntoIterator<Item = (PacketId, FlightStage)>,
        last_packet_id: PacketId,
    ) -> OutboundInflight {
        let mut inflight = OutboundInflight {
            last_packet_id,
            ..OutboundInflight::default()
        };
        for (packet_id, stage) in flights {
            assert!(packet_id != 0, "restored flow without a packet id");
            let sequence = inflight.next_sequence;
            inflight.next_sequence += 1;
            let previous = inflight
                .flights
                .insert(packet_id, Flight { sequence, stage });
            assert!(previous.is_none(), "restored flows share a packet id");
        }
        inflight
    }
}
