//! The publishing side of a connection: sends on its schedule within the
//! inflight window, runs the QoS 1 and QoS 2 flows and times them.

use bytes::BytesMut;
use bytestring::ByteString;
use shardmq::protocol::{Packet, Publish, PublishResponse, QoS};

use crate::connection::Connection;
use crate::context::ShardContext;
use crate::error::ProtocolViolation;
use crate::inflight::{InflightWindow, Stage};
use crate::limits::PUBLISH_BATCH_MAX;
use crate::payload::PayloadHeader;
use crate::schedule::{rate_per_publisher, Schedule};

/// A publisher's state; lives outside its task so that the shard can read
/// it after the task ends or is cancelled.
#[derive(Debug)]
pub struct Publisher {
    index: u32,
    topic_name: ByteString,
    schedule: Option<Schedule>,
    arena: BytesMut,
    next_sequence: u64,
    inflight: InflightWindow,
    sending: bool,
    running: bool,
}

impl Publisher {
    /// Publisher `index`, sending on `topic_name`.
    pub fn new(index: u32, topic_name: &str) -> Publisher {
        Publisher {
            index,
            topic_name: ByteString::from(topic_name),
            schedule: None,
            arena: BytesMut::new(),
            next_sequence: 0,
            inflight: InflightWindow::new(1),
            sending: true,
            running: true,
        }
    }

    /// This publisher's index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Messages written so far.
    pub fn sent(&self) -> u64 {
        self.next_sequence
    }

    /// Sets the schedule and window once the run's start time is known;
    /// `receive_maximum` is the broker's.
    pub fn start(&mut self, ctx: &ShardContext, receive_maximum: u16) {
        let scenario = &ctx.scenario;
        let rate = rate_per_publisher(
            scenario.rate_per_s,
            scenario.total_rate_per_s,
            scenario.publisher_count(),
        );
        self.schedule = Some(Schedule::new(
            rate,
            ctx.start_ns.get(),
            self.index,
            scenario.publisher_count(),
        ));
        let limit = if rate == 0.0 {
            scenario.inflight
        } else {
            crate::limits::INFLIGHT_MAX
        };
        self.inflight = InflightWindow::new(limit.min(receive_maximum.max(1)));
    }

    /// True once it stopped sending and every flow is complete.
    pub fn is_finished(&self) -> bool {
        !self.sending && self.inflight.is_empty()
    }

    /// Queues every message due by `now_ns`, at most one batch.
    pub fn send_due(&mut self, ctx: &ShardContext, connection: &mut Connection, now_ns: u64) {
        let Some(schedule) = self.schedule else {
            return;
        };
        if !self.sending {
            return;
        }
        let count = ctx.scenario.count;
        if now_ns >= ctx.send_end_ns.get() || (count > 0 && self.next_sequence >= count) {
            self.stop_sending(ctx);
            return;
        }
        let due = schedule
            .due_by(now_ns)
            .unwrap_or(self.next_sequence + PUBLISH_BATCH_MAX as u64);
        let mut last = due.min(self.next_sequence + PUBLISH_BATCH_MAX as u64);
        if count > 0 {
            last = last.min(count);
        }
        let mut stats = ctx.stats.borrow_mut();
        while self.next_sequence < last {
            let intended_ns = schedule.intended_ns(self.next_sequence).unwrap_or(now_ns);
            let qos = ctx.scenario.qos;
            let packet_id = match qos {
                QoS::AtMostOnce => None,
                QoS::AtLeastOnce => match self.inflight.open(intended_ns, Stage::AwaitingPubAck) {
                    Some(packet_id) => Some(packet_id),
                    None => break,
                },
                QoS::ExactlyOnce => match self.inflight.open(intended_ns, Stage::AwaitingPubRec) {
                    Some(packet_id) => Some(packet_id),
                    None => break,
                },
            };
            let header = PayloadHeader {
                intended_ns,
                sequence: self.next_sequence,
                publisher_index: self.index,
            };
            connection.queue(&Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic_name: self.topic_name.clone(),
                packet_id,
                properties: None,
                payload: header.write_payload(ctx.scenario.payload_size, &mut self.arena),
            }));
            self.next_sequence += 1;
            stats.published += 1;
            if intended_ns >= ctx.warmup_end_ns.get() {
                stats.published_measured += 1;
            }
            stats.last_publish_ns = now_ns;
        }
    }

    /// When this publisher next has something to do, ns since the epoch;
    /// `None` when only an acknowledgement can move it on.
    pub fn next_deadline_ns(&self, ctx: &ShardContext, now_ns: u64) -> Option<u64> {
        if !self.sending {
            return None;
        }
        let send_end_ns = ctx.send_end_ns.get();
        let blocked = ctx.scenario.qos != QoS::AtMostOnce && self.inflight.is_full();
        if blocked {
            return Some(send_end_ns);
        }
        match self.schedule?.intended_ns(self.next_sequence) {
            Some(next_ns) => Some(next_ns.min(send_end_ns)),
            None => Some(now_ns),
        }
    }

    /// Handles a packet from the broker; `Err` on a protocol violation.
    pub fn on_packet(
        &mut self,
        ctx: &ShardContext,
        connection: &mut Connection,
        packet: Packet,
        now_ns: u64,
    ) -> Result<(), ProtocolViolation> {
        let (response, stage) = match packet {
            Packet::PubAck(response) => (response, Stage::AwaitingPubAck),
            Packet::PubRec(response) => {
                if response.reason_code.is_error() {
                    ctx.stats.borrow_mut().errors.publish_rejected += 1;
                    self.inflight
                        .close(response.packet_id, Stage::AwaitingPubRec)
                        .ok_or(ProtocolViolation)?;
                    return Ok(());
                }
                if !self.inflight.received_pubrec(response.packet_id) {
                    return Err(ProtocolViolation);
                }
                connection.queue(&Packet::PubRel(PublishResponse::success(
                    response.packet_id,
                )));
                return Ok(());
            }
            Packet::PubComp(response) => (response, Stage::AwaitingPubComp),
            Packet::PingResp => return Ok(()),
            _ => return Err(ProtocolViolation),
        };
        let intended_ns = self
            .inflight
            .close(response.packet_id, stage)
            .ok_or(ProtocolViolation)?;
        let mut stats = ctx.stats.borrow_mut();
        if response.reason_code.is_error() {
            stats.errors.publish_rejected += 1;
            return Ok(());
        }
        stats.acknowledged += 1;
        if intended_ns >= ctx.warmup_end_ns.get() {
            stats
                .latencies
                .acknowledgement
                .record_ns(now_ns.saturating_sub(intended_ns));
        }
        Ok(())
    }

    /// Stops sending (at the end, or because the connection dropped) and
    /// tells the run control what to expect; does nothing the second time.
    pub fn stop_sending(&mut self, ctx: &ShardContext) {
        if !self.sending {
            return;
        }
        self.sending = false;
        ctx.control
            .publisher_stopped_sending(self.next_sequence, ctx.scenario.receivers_per_message());
    }

    /// Stops for good: no more sending, no more waiting for acknowledgements.
    pub fn finish(&mut self, ctx: &ShardContext) {
        self.stop_sending(ctx);
        if self.running {
            self.running = false;
            ctx.control.publisher_finished();
        }
    }
}
