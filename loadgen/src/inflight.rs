//! A publisher's window of unacknowledged QoS 1/2 messages.
//!
//! Packet identifiers are handed out in order, 1 to 65535 and round again,
//! and the window is a queue in that order: brokers acknowledge a
//! connection's messages in order, so the acknowledged one is nearly always
//! at the front. One acknowledged out of order leaves a hole that is popped
//! once everything before it is acknowledged; until then it counts against
//! the limit. Memory follows what is actually in flight, not the limit.

use std::collections::VecDeque;

use shardmq::protocol::PacketId;

/// Where a message is in its QoS flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// QoS 1, PUBLISH sent.
    AwaitingPubAck,
    /// QoS 2, PUBLISH sent.
    AwaitingPubRec,
    /// QoS 2, PUBREL sent.
    AwaitingPubComp,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    intended_ns: u64,
    stage: Stage,
}

/// Unacknowledged messages of one connection.
#[derive(Debug)]
pub struct InflightWindow {
    /// In packet identifier order from `front_packet_id`; `None` is a hole.
    entries: VecDeque<Option<Entry>>,
    front_packet_id: PacketId,
    next_packet_id: PacketId,
    open: usize,
    limit: usize,
}

/// Packet identifiers in use at once, at most: every one but 0.
const PACKET_IDS: u32 = PacketId::MAX as u32;

fn after(packet_id: PacketId) -> PacketId {
    if packet_id == PacketId::MAX {
        1
    } else {
        packet_id + 1
    }
}

impl InflightWindow {
    /// A window of `limit` messages (at least 1).
    pub fn new(limit: u16) -> InflightWindow {
        assert!(limit > 0, "inflight window of 0");
        InflightWindow {
            entries: VecDeque::new(),
            front_packet_id: 1,
            next_packet_id: 1,
            open: 0,
            limit: usize::from(limit),
        }
    }

    /// Messages awaiting acknowledgement.
    pub fn len(&self) -> usize {
        self.open
    }

    /// True when nothing awaits acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// True when no message can be opened until an acknowledgement arrives.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.limit
    }

    /// Takes the next packet identifier for a message meant to be sent at
    /// `intended_ns`; `None` when the window is full.
    pub fn open(&mut self, intended_ns: u64, stage: Stage) -> Option<PacketId> {
        assert!(
            stage != Stage::AwaitingPubComp,
            "a flow starts with PUBLISH"
        );
        if self.is_full() {
            return None;
        }
        let packet_id = self.next_packet_id;
        if self.entries.is_empty() {
            self.front_packet_id = packet_id;
        }
        self.entries.push_back(Some(Entry { intended_ns, stage }));
        self.open += 1;
        self.next_packet_id = after(packet_id);
        Some(packet_id)
    }

    /// PUBREC arrived: the flow moves on to PUBREL/PUBCOMP. False when
    /// `packet_id` is not awaiting a PUBREC or PUBCOMP.
    pub fn received_pubrec(&mut self, packet_id: PacketId) -> bool {
        match self.entry_mut(packet_id) {
            Some(entry) if entry.stage == Stage::AwaitingPubRec => {
                entry.stage = Stage::AwaitingPubComp;
                true
            }
            Some(entry) => entry.stage == Stage::AwaitingPubComp,
            None => false,
        }
    }

    /// Ends the flow of `packet_id` if it is at `stage`; returns the message's
    /// intended send time.
    pub fn close(&mut self, packet_id: PacketId, stage: Stage) -> Option<u64> {
        let entry = *self.entry_mut(packet_id)?;
        if entry.stage != stage {
            return None;
        }
        let index = self.index(packet_id)?;
        self.entries[index] = None;
        self.open -= 1;
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.front_packet_id = after(self.front_packet_id);
        }
        Some(entry.intended_ns)
    }

    fn index(&self, packet_id: PacketId) -> Option<usize> {
        if packet_id == 0 {
            return None;
        }
        let distance =
            (u32::from(packet_id) + PACKET_IDS - u32::from(self.front_packet_id)) % PACKET_IDS;
        let index = distance as usize;
        (index < self.entries.len()).then_some(index)
    }

    fn entry_mut(&mut self, packet_id: PacketId) -> Option<&mut Entry> {
        let index = self.index(packet_id)?;
        self.entries[index].as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_fills_at_its_limit_and_frees_on_acknowledgement() {
        let mut window = InflightWindow::new(2);
        assert_eq!(window.open(10, Stage::AwaitingPubAck), Some(1));
        assert_eq!(window.open(20, Stage::AwaitingPubAck), Some(2));
        assert!(window.is_full());
        assert_eq!(window.open(30, Stage::AwaitingPubAck), None);
        assert_eq!(window.close(1, Stage::AwaitingPubAck), Some(10));
        assert_eq!(window.open(30, Stage::AwaitingPubAck), Some(3));
        assert_eq!(window.len(), 2);
    }

    #[test]
    fn qos2_flow_completes_only_after_pubrec() {
        let mut window = InflightWindow::new(4);
        let id = window.open(5, Stage::AwaitingPubRec).unwrap();
        assert_eq!(window.close(id, Stage::AwaitingPubComp), None);
        assert!(window.received_pubrec(id));
        assert_eq!(window.close(id, Stage::AwaitingPubComp), Some(5));
        assert!(window.is_empty());
    }

    #[test]
    fn unknown_and_repeated_acknowledgements_are_refused() {
        let mut window = InflightWindow::new(4);
        let id = window.open(5, Stage::AwaitingPubAck).unwrap();
        assert_eq!(window.close(id + 1, Stage::AwaitingPubAck), None);
        assert_eq!(window.close(0, Stage::AwaitingPubAck), None);
        assert_eq!(window.close(id, Stage::AwaitingPubAck), Some(5));
        assert_eq!(window.close(id, Stage::AwaitingPubAck), None);
        assert!(!window.received_pubrec(id));
    }

    #[test]
    fn packet_ids_wrap_past_65535_and_skip_zero() {
        let mut window = InflightWindow::new(u16::MAX);
        for expected in 1..=u16::MAX {
            let id = window.open(0, Stage::AwaitingPubAck).unwrap();
            assert_eq!(id, expected);
            window.close(id, Stage::AwaitingPubAck).unwrap();
        }
        assert_eq!(window.open(0, Stage::AwaitingPubAck), Some(1));
    }

    #[test]
    fn out_of_order_acknowledgements_are_matched_to_their_messages() {
        let mut window = InflightWindow::new(8);
        let ids: Vec<PacketId> = (0..4)
            .map(|k| window.open(k * 10, Stage::AwaitingPubAck).unwrap())
            .collect();
        assert_eq!(window.close(ids[2], Stage::AwaitingPubAck), Some(20));
        assert_eq!(window.close(ids[0], Stage::AwaitingPubAck), Some(0));
        assert_eq!(window.close(ids[3], Stage::AwaitingPubAck), Some(30));
        assert_eq!(window.close(ids[1], Stage::AwaitingPubAck), Some(10));
        assert!(window.is_empty());
        assert!(!window.is_full());
    }

    #[test]
    fn window_in_flight_across_the_packet_id_wrap_is_tracked() {
        let mut window = InflightWindow::new(4);
        for _ in 0..u16::MAX - 1 {
            let id = window.open(0, Stage::AwaitingPubAck).unwrap();
            window.close(id, Stage::AwaitingPubAck).unwrap();
        }
        let ids: Vec<PacketId> = (0..3)
            .map(|k| window.open(k, Stage::AwaitingPubAck).unwrap())
            .collect();
        assert_eq!(ids, [u16::MAX, 1, 2]);
        assert_eq!(window.close(1, Stage::AwaitingPubAck), Some(1));
        assert_eq!(window.close(u16::MAX, Stage::AwaitingPubAck), Some(0));
        assert_eq!(window.close(2, Stage::AwaitingPubAck), Some(2));
    }

    #[test]
    fn overdue_acknowledgement_blocks_its_slot_until_it_arrives() {
        let mut window = InflightWindow::new(2);
        let first = window.open(0, Stage::AwaitingPubAck).unwrap();
        let second = window.open(0, Stage::AwaitingPubAck).unwrap();
        window.close(second, Stage::AwaitingPubAck).unwrap();
        // Identifier 1 is overdue: the hole left by 2 still counts.
        assert_eq!(window.open(0, Stage::AwaitingPubAck), None);
        window.close(first, Stage::AwaitingPubAck).unwrap();
        assert_eq!(window.open(0, Stage::AwaitingPubAck), Some(3));
    }
}
