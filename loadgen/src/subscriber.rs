//! The receiving side of a connection: acknowledges per QoS, reads each
//! payload's header, times the delivery and feeds the sequence trackers (its
//! own, and its share group's in a shared-subscription run).

use std::ops::Range;

use shardmq::protocol::{Packet, PacketId, PublishResponse, QoS};

use crate::connection::{Connection, PublishSummary};
use crate::context::ShardContext;
use crate::error::ProtocolViolation;
use crate::payload::PayloadHeader;
use crate::scenario::ScenarioKind;
use crate::tracker::{Arrival, SequenceCounts, SequenceTracker};

/// Packet identifiers of QoS 2 messages received and not yet released: a
/// PUBLISH that repeats one of them is the same message again [MQTT-4.3.3-9].
#[derive(Debug)]
struct PacketIdSet(Box<[u64; 1024]>);

impl PacketIdSet {
    fn new() -> PacketIdSet {
        PacketIdSet(Box::new([0; 1024]))
    }

    /// Adds `packet_id`; false when it was already there.
    fn insert(&mut self, packet_id: PacketId) -> bool {
        let (word, bit) = (usize::from(packet_id / 64), packet_id % 64);
        let was_set = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !was_set
    }

    /// Removes `packet_id`; false when it was not there.
    fn remove(&mut self, packet_id: PacketId) -> bool {
        let (word, bit) = (usize::from(packet_id / 64), packet_id % 64);
        let was_set = self.0[word] & (1 << bit) != 0;
        self.0[word] &= !(1 << bit);
        was_set
    }
}

/// A subscriber's state; lives outside its task so that the shard can read
/// it after the task ends or is cancelled.
#[derive(Debug)]
pub struct Subscriber {
    index: u32,
    publishers: Range<u32>,
    trackers: Vec<SequenceTracker>,
    awaiting_pubrel: Option<PacketIdSet>,
}

impl Subscriber {
    /// Subscriber `index`, expecting the messages of `publishers`.
    pub fn new(index: u32, publishers: Range<u32>, qos: QoS) -> Subscriber {
        Subscriber {
            index,
            trackers: vec![SequenceTracker::default(); publishers.len()],
            publishers,
            awaiting_pubrel: (qos == QoS::ExactlyOnce).then(PacketIdSet::new),
        }
    }

    /// This subscriber's index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The publishers it expects to hear from.
    pub fn publishers(&self) -> Range<u32> {
        self.publishers.clone()
    }

    /// What it received from each expected publisher, in publisher order.
    pub fn counts(&self) -> Vec<SequenceCounts> {
        self.trackers.iter().map(SequenceTracker::counts).collect()
    }

    /// Handles a packet from the broker; `Err` on a protocol violation.
    pub fn on_packet(
        &mut self,
        ctx: &ShardContext,
        connection: &mut Connection,
        packet: Packet,
        now_ns: u64,
    ) -> Result<(), ProtocolViolation> {
        match packet {
            Packet::Publish(publish) => {
                self.on_publish(ctx, connection, PublishSummary::of(&publish), now_ns)
            }
            Packet::PubRel(response) => {
                let awaiting = self.awaiting_pubrel.as_mut().ok_or(ProtocolViolation)?;
                // A repeated PUBREL after our PUBCOMP was lost still wants a PUBCOMP.
                awaiting.remove(response.packet_id);
                connection.queue(&Packet::PubComp(PublishResponse::success(
                    response.packet_id,
                )));
                Ok(())
            }
            Packet::PingResp => Ok(()),
            _ => Err(ProtocolViolation),
        }
    }

    /// Handles a PUBLISH from the broker; `Err` on a protocol violation.
    pub fn on_publish(
        &mut self,
        ctx: &ShardContext,
        connection: &mut Connection,
        publish: PublishSummary,
        now_ns: u64,
    ) -> Result<(), ProtocolViolation> {
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, None) => {}
            (QoS::AtLeastOnce, Some(packet_id)) => {
                connection.queue(&Packet::PubAck(PublishResponse::success(packet_id)));
            }
            (QoS::ExactlyOnce, Some(packet_id)) => {
                connection.queue(&Packet::PubRec(PublishResponse::success(packet_id)));
                let awaiting = self.awaiting_pubrel.get_or_insert_with(PacketIdSet::new);
                if !awaiting.insert(packet_id) {
                    return Ok(());
                }
            }
            _ => return Err(ProtocolViolation),
        }
        self.record(ctx, publish.payload_header, now_ns);
        Ok(())
    }

    fn record(&mut self, ctx: &ShardContext, header: Option<PayloadHeader>, now_ns: u64) {
        let mut stats = ctx.stats.borrow_mut();
        stats.delivered += 1;
        stats.last_delivery_ns = now_ns;
        let warmup_end_ns = ctx.warmup_end_ns.get();
        if now_ns >= warmup_end_ns {
            stats.delivered_measured += 1;
        }
        let Some(header) = header else {
            stats.errors.unexpected_messages += 1;
            return;
        };
        // Another process's epoch means nothing here: `sub` runs are not timed.
        if ctx.scenario.kind != ScenarioKind::Sub {
            let latency_ns = now_ns.saturating_sub(header.intended_ns);
            stats.record_delivery(latency_ns, header.intended_ns, warmup_end_ns);
        }
        if !self.publishers.contains(&header.publisher_index) {
            // Subscribers of `sub` runs expect no one in particular.
            if !self.publishers.is_empty() {
                stats.errors.unexpected_messages += 1;
            }
            return;
        }
        let tracker = &mut self.trackers[(header.publisher_index - self.publishers.start) as usize];
        let mut arrival = tracker.record(header.sequence);
        // A message another member of the share group already had is no new
        // delivery, however new it is to this member.
        if let Some(group) = &ctx.control.share_group {
            arrival = group
                .record(header.publisher_index, header.sequence)
                .unwrap_or(arrival);
        }
        if arrival != Arrival::Duplicate {
            stats.distinct_unreported += 1;
        }
    }
}
