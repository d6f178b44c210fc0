//! Outbound QoS 1/2 flows in progress: packet-id allocation and the state of each
//! flow until its final acknowledgement.
//!
//! The flows are kept in the order they started, which is the order they are
//! resent in [MQTT-4.6.0-1] and, from a client that follows [MQTT-4.6.0-2],
//! the order their acknowledgements come back in: a PUBACK ends the flow at
//! the front, a new PUBLISH starts one at the back, and a window of a
//! thousand flows costs the two ends' cache lines per message rather than a
//! hash table's probes. A flow that ends out of order leaves an empty slot
//! until the slots before it are gone; empty slots are dropped once they
//! outnumber the open flows.
//!
//! Packet ids are handed out counting up (1 after 65,535), so the slots' ids
//! increase, modulo the id space, from front to back, and a flow is found by
//! binary search. Only a flow left open for a whole round of the id space
//! breaks that order; the search is then linear until the oldest flows end
//! and the order holds again.

use std::collections::VecDeque;
use std::sync::Arc;

use super::gauge::Gauge;
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
    /// Where the flow stands.
    pub(crate) stage: FlightStage,
}

/// Packet ids in use: 1 to 65,535.
const PACKET_IDS: u32 = u16::MAX as u32;

/// Empty slots tolerated beyond the number of open flows before they are dropped.
const EMPTY_SLOTS_SLACK: usize = 16;

/// The outbound flows of a session, in the order they started.
#[derive(Debug)]
pub(crate) struct OutboundInflight {
    /// Each flow under its packet id; `None` once it ended out of order.
    slots: VecDeque<(PacketId, Option<Flight>)>,
    /// Slots holding a flow.
    open: usize,
    /// The slots' ids increase from the front (see the module's text).
    ordered: bool,
    last_packet_id: PacketId,
    /// Where the open flows are counted with the other sessions'.
    gauge: Arc<Gauge>,
    /// True while the open flows are on the gauge: while the session has a
    /// connection. A client that went away holds no share of the budget, or
    /// a few offline sessions with full windows would hold every connected
    /// client of the shard to its guaranteed window.
    counted: bool,
}

impl Default for OutboundInflight {
    /// No flows, counted on a gauge of their own.
    fn default() -> OutboundInflight {
        OutboundInflight::new(Arc::default())
    }
}

impl Clone for OutboundInflight {
    /// A copy whose flows count on a gauge of its own: copies are taken to
    /// be stored (a snapshot, converted and dropped on another thread), not
    /// to be served, so they neither take the shard's budget nor touch its
    /// gauge from elsewhere.
    fn clone(&self) -> OutboundInflight {
        let gauge = Gauge::default();
        if self.counted {
            gauge.add(self.open);
        }
        OutboundInflight {
            slots: self.slots.clone(),
            open: self.open,
            ordered: self.ordered,
            last_packet_id: self.last_packet_id,
            gauge: Arc::new(gauge),
            counted: self.counted,
        }
    }
}

impl Drop for OutboundInflight {
    fn drop(&mut self) {
        self.detach();
    }
}

/// How far `packet_id` is after `from`, counting up through the id space.
fn distance(from: PacketId, packet_id: PacketId) -> u32 {
    (u32::from(packet_id) + PACKET_IDS - u32::from(from)) % PACKET_IDS
}

/// True when the slots' ids increase, counting up through the id space, from
/// the front's (true for no slots).
fn in_id_order(slots: &VecDeque<(PacketId, Option<Flight>)>) -> bool {
    let Some(&(front, _)) = slots.front() else {
        return true;
    };
    slots
        .iter()
        .zip(slots.iter().skip(1))
        .all(|((a, _), (b, _))| distance(front, *a) < distance(front, *b))
}

/// The packet id after `packet_id`: 1 follows 65,535 (0 is never used).
fn next_packet_id(packet_id: PacketId) -> PacketId {
    packet_id.checked_add(1).unwrap_or(1)
}

impl OutboundInflight {
    /// No flows, of a session with a connection; those to come are counted
    /// on `gauge`.
    pub(crate) fn new(gauge: Arc<Gauge>) -> OutboundInflight {
        OutboundInflight {
            slots: VecDeque::new(),
            open: 0,
            ordered: true,
            last_packet_id: 0,
            gauge,
            counted: true,
        }
    }

    /// True while the flows count on the gauge.
    pub(crate) fn is_counted(&self) -> bool {
        self.counted
    }

    /// The session has a connection again: its flows count on the gauge.
    pub(crate) fn attach(&mut self) {
        if !self.counted {
            self.gauge.add(self.open);
            self.counted = true;
        }
    }

    /// The session lost its connection: its flows leave the gauge until
    /// [`OutboundInflight::attach`].
    pub(crate) fn detach(&mut self) {
        if self.counted {
            self.gauge.sub(self.open);
            self.counted = false;
        }
    }

    /// Flows open on every session sharing this one's gauge.
    pub(crate) fn gauge(&self) -> usize {
        self.gauge.get()
    }

    /// Flows in progress.
    pub(crate) fn len(&self) -> usize {
        self.open
    }

    /// Starts a flow under the next free packet id, skipping 0 and ids in use.
    /// The caller keeps the window below 65,535, so a free id always exists.
    pub(crate) fn start(&mut self, stage: FlightStage) -> PacketId {
        assert!(
            self.open < usize::from(u16::MAX),
            "outbound window exceeds the packet id space"
        );
        if self.slots.len() >= usize::from(u16::MAX) {
            // Every id has a slot, some of them empty: free those.
            self.drop_empty_slots();
        }
        let mut packet_id = next_packet_id(self.last_packet_id);
        if !self.is_after_back(packet_id) {
            // Wrapped into ids still held: the slots' order ends here.
            while self.slot_of(packet_id).is_some() {
                packet_id = next_packet_id(packet_id);
            }
            self.ordered = false;
        }
        self.last_packet_id = packet_id;
        self.slots.push_back((packet_id, Some(Flight { stage })));
        self.open += 1;
        if self.counted {
            self.gauge.add(1);
        }
        packet_id
    }

    /// The flow under `packet_id`.
    pub(crate) fn get_mut(&mut self, packet_id: PacketId) -> Option<&mut Flight> {
        let index = self.slot_of(packet_id)?;
        self.slots[index].1.as_mut()
    }

    /// The flow under `packet_id`.
    pub(crate) fn get(&self, packet_id: PacketId) -> Option<&Flight> {
        let index = self.slot_of(packet_id)?;
        self.slots[index].1.as_ref()
    }

    /// Ends the flow under `packet_id`.
    pub(crate) fn remove(&mut self, packet_id: PacketId) -> Option<Flight> {
        let index = self.slot_of(packet_id)?;
        let flight = self.slots[index].1.take()?;
        self.open -= 1;
        if self.counted {
            self.gauge.sub(1);
        }
        while matches!(self.slots.front(), Some((_, None))) {
            self.slots.pop_front();
        }
        while matches!(self.slots.back(), Some((_, None))) {
            self.slots.pop_back();
        }
        if self.slots.len() - self.open > self.open + EMPTY_SLOTS_SLACK {
            self.drop_empty_slots();
        }
        if !self.ordered && index == 0 {
            // The oldest flow ended, the one that may have broken the order:
            // a scan no longer than the linear searches it ends.
            self.ordered = in_id_order(&self.slots);
        }
        Some(flight)
    }

    /// The packet ids in the order their flows started, for resending on resume.
    pub(crate) fn packet_ids_in_order(&self) -> Vec<PacketId> {
        self.flights_in_order()
            .into_iter()
            .map(|(packet_id, _)| packet_id)
            .collect()
    }

    /// The packet id handed out last.
    pub(crate) fn last_packet_id(&self) -> PacketId {
        self.last_packet_id
    }

    /// The flows with their packet ids, in the order they started.
    pub(crate) fn flights_in_order(&self) -> Vec<(PacketId, &Flight)> {
        self.slots
            .iter()
            .filter_map(|(packet_id, flight)| Some((*packet_id, flight.as_ref()?)))
            .collect()
    }

    /// Flows restored from a snapshot, given in the order they started, under
    /// distinct non-zero packet ids (the caller checks), of a session waiting
    /// for its client: counted on `gauge` from [`OutboundInflight::attach`].
    pub(crate) fn restore(
        flights: impl IntoIterator<Item = (PacketId, FlightStage)>,
        last_packet_id: PacketId,
        gauge: Arc<Gauge>,
    ) -> OutboundInflight {
        let slots: VecDeque<(PacketId, Option<Flight>)> = flights
            .into_iter()
            .map(|(packet_id, stage)| {
                assert!(packet_id != 0, "restored flow without a packet id");
                (packet_id, Some(Flight { stage }))
            })
            .collect();
        let ordered = in_id_order(&slots);
        let mut ids: Vec<PacketId> = slots.iter().map(|(packet_id, _)| *packet_id).collect();
        ids.sort_unstable();
        assert!(
            ids.windows(2).all(|pair| pair[0] != pair[1]),
            "restored flows share a packet id"
        );
        OutboundInflight {
            open: slots.len(),
            slots,
            ordered,
            last_packet_id,
            gauge,
            counted: false,
        }
    }

    /// True when `packet_id` comes after every slot's id, so that starting a
    /// flow under it keeps the slots in order.
    fn is_after_back(&self, packet_id: PacketId) -> bool {
        match (self.slots.front(), self.slots.back()) {
            (Some(&(front, _)), Some(&(back, _))) => {
                self.ordered && distance(front, packet_id) > distance(front, back)
            }
            _ => true,
        }
    }

    /// The index of the slot under `packet_id`, open or not.
    fn slot_of(&self, packet_id: PacketId) -> Option<usize> {
        let front = self.slots.front()?.0;
        if front == packet_id {
            return Some(0);
        }
        let last = self.slots.len() - 1;
        if self.slots[last].0 == packet_id {
            return Some(last);
        }
        if !self.ordered {
            return self.slots.iter().position(|(id, _)| *id == packet_id);
        }
        let target = distance(front, packet_id);
        let index = self
            .slots
            .partition_point(|(id, _)| distance(front, *id) < target);
        (self.slots.get(index)?.0 == packet_id).then_some(index)
    }

    fn drop_empty_slots(&mut self) {
        self.slots.retain(|(_, flight)| flight.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(inflight: &mut OutboundInflight) -> PacketId {
        inflight.start(FlightStage::Released)
    }

    /// The window against a map of every open flow: they agree on every
    /// flow after each step, whatever order the flows end in.
    #[test]
    fn agrees_with_a_map_of_open_flows_in_any_order_of_endings() {
        let mut inflight = OutboundInflight::default();
        let mut model: std::collections::BTreeMap<u64, PacketId> = Default::default();
        let mut started = 0u64;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..300_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Windows that grow and drain; ends mostly in order, some at
            // random, and one flow held open across whole rounds of ids.
            let grow = (step / 5_000) % 2 == 0;
            // Key 0, the first flow, stays open for the whole run.
            let endable = model.len() - usize::from(model.contains_key(&0));
            if endable == 0 || (grow && state % 3 != 0) || (!grow && state % 3 == 0) {
                let packet_id = open(&mut inflight);
                assert!(
                    !model.values().any(|&id| id == packet_id),
                    "id {packet_id} reused"
                );
                model.insert(started, packet_id);
                started += 1;
            } else {
                let mut endable_keys = model.keys().copied().filter(|&key| key != 0);
                let key = if state % 7 == 0 {
                    endable_keys.nth((state as usize / 7) % endable).unwrap()
                } else {
                    endable_keys.next().unwrap()
                };
                let packet_id = model.remove(&key).unwrap();
                assert!(
                    inflight.remove(packet_id).is_some(),
                    "flow {packet_id} lost"
                );
                assert!(inflight.remove(packet_id).is_none());
            }
            assert_eq!(inflight.len(), model.len());
            if step % 1_000 == 0 {
                let in_order: Vec<PacketId> = model.values().copied().collect();
                assert_eq!(inflight.packet_ids_in_order(), in_order);
                for &packet_id in &in_order {
                    assert!(inflight.get(packet_id).is_some());
                }
                assert!(inflight.slots.len() <= 2 * model.len() + EMPTY_SLOTS_SLACK + 1);
            }
        }
        assert!(started > u64::from(PACKET_IDS), "the ids went round");
    }

    #[test]
    fn the_order_returns_once_the_flow_that_broke_it_ends() {
        let mut inflight = OutboundInflight::default();
        let held = open(&mut inflight);
        // A round of the id space while the first flow stays open; the
        // window holds a few more, ended in order.
        let mut window = std::collections::VecDeque::new();
        for _ in 0..70_000 {
            window.push_back(open(&mut inflight));
            if window.len() > 4 {
                inflight.remove(window.pop_front().unwrap());
            }
        }
        assert!(!inflight.ordered, "the ids went round the held flow");
        inflight.remove(held);
        assert!(inflight.ordered);
        for &packet_id in &window {
            assert!(inflight.get(packet_id).is_some());
        }
    }

    #[test]
    fn ids_count_up_and_skip_zero_and_ids_in_use() {
        let mut inflight =
            OutboundInflight::restore([(65_534, FlightStage::Released)], 65_533, Arc::default());
        assert_eq!(inflight.last_packet_id(), 65_533);
        assert_eq!(open(&mut inflight), 65_535);
        assert_eq!(open(&mut inflight), 1);
        assert_eq!(inflight.packet_ids_in_order(), [65_534, 65_535, 1]);
        let mut inflight =
            OutboundInflight::restore([(2, FlightStage::Released)], 65_535, Arc::default());
        assert_eq!(open(&mut inflight), 1);
        assert_eq!(open(&mut inflight), 3);
        assert_eq!(
            inflight.get(2),
            Some(&Flight {
                stage: FlightStage::Released
            })
        );
    }

    #[test]
    fn a_restored_window_out_of_id_order_is_still_searched_right() {
        let flights = [40, 7, 300, 2].map(|id| (id, FlightStage::Released));
        let mut inflight = OutboundInflight::restore(flights, 300, Arc::default());
        for id in [7, 300, 40, 2] {
            assert!(inflight.remove(id).is_some(), "{id}");
        }
        assert_eq!(inflight.len(), 0);
        assert_eq!(open(&mut inflight), 301);
    }

    #[test]
    fn the_gauge_counts_every_open_flow_of_the_sessions_sharing_it() {
        let gauge = Arc::new(Gauge::default());
        let mut first = OutboundInflight::new(Arc::clone(&gauge));
        let mut second = OutboundInflight::new(Arc::clone(&gauge));
        let a = open(&mut first);
        open(&mut first);
        open(&mut second);
        assert_eq!(gauge.get(), 3);
        first.remove(a);
        first.remove(a);
        assert_eq!(gauge.get(), 2);
        // A copy (a snapshot's) counts apart, and dropping it elsewhere
        // leaves the shard's gauge alone.
        let copy = first.clone();
        assert_eq!(gauge.get(), 2);
        assert_eq!(copy.gauge(), 1);
        std::thread::spawn(move || drop(copy)).join().unwrap();
        assert_eq!(gauge.get(), 2);
        drop(second);
        assert_eq!(gauge.get(), 1);
        drop(first);
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn the_gauge_counts_flows_only_while_their_session_is_attached() {
        let gauge = Arc::new(Gauge::default());
        let mut connected = OutboundInflight::new(Arc::clone(&gauge));
        open(&mut connected);
        // A restored session waits for its client: off the gauge.
        let mut restored = OutboundInflight::restore(
            [(9, FlightStage::Released), (10, FlightStage::Released)],
            10,
            Arc::clone(&gauge),
        );
        assert_eq!(gauge.get(), 1);
        restored.attach();
        restored.attach();
        assert_eq!(gauge.get(), 3);
        // Offline, flows start and end without touching the gauge.
        restored.detach();
        restored.detach();
        assert_eq!(gauge.get(), 1);
        let started = open(&mut restored);
        restored.remove(9);
        assert_eq!(gauge.get(), 1);
        // A copy of an offline session and its drop leave the gauge alone too.
        drop(restored.clone());
        assert_eq!(gauge.get(), 1);
        restored.attach();
        assert_eq!(gauge.get(), 3);
        restored.remove(started);
        assert_eq!(gauge.get(), 2);
        restored.detach();
        drop(restored);
        assert_eq!(gauge.get(), 1);
        drop(connected);
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    #[should_panic(expected = "share a packet id")]
    fn restored_flows_under_one_id_are_refused() {
        OutboundInflight::restore(
            [(5, FlightStage::Released), (5, FlightStage::Released)],
            5,
            Arc::default(),
        );
    }
}
