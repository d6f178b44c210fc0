//! One client connection on its shard: its outbound queue and the flags its
//! task (see [`super::task`]) obeys.
//!
//! A packet sent while less than `limits::WRITE_BATCH_BYTES` wait to be
//! written is encoded at once into the connection's `encoded` buffer: the
//! common case, a connection that keeps up, costs no queue slot and no copy of
//! the packet. Past that, packets are queued as packets, not bytes: a PUBLISH
//! in the queue shares its payload with every other subscriber, so a
//! subscriber that falls behind holds references, not copies. The
//! connection's task takes the encoded bytes, tops them up from the queue to
//! `limits::WRITE_BATCH_BYTES`, and writes them at once: a batch of deliveries
//! costs one syscall, not one per packet. What waits is bounded by
//! `limits::OUTBOUND_BYTES_MAX`: past it QoS 0 deliveries are dropped and
//! counted (QoS 1 and 2 are bounded by the session's inflight window), so a
//! subscriber that never reads holds up only itself. The queue's storage is
//! released once it is written out (a few queued packets take a kilobyte), so
//! an idle connection holds no packet slots, and a parked one holds no
//! buffers at all.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::task::Context;

use bytes::BytesMut;
use shardmq::limits;
use shardmq::protocol::{
    encode, encode_publish_ref, Packet, ProtocolVersion, Publish, PublishRef, QoS,
};
use shardmq::session::{Delivery, Message};

use super::parking::ParkedSocket;
use super::store::SessionKey;
use crate::listener::Admission;
use crate::wake::WakerSlot;

/// A connection whose CONNECT was accepted on this (its home) shard.
#[derive(Debug)]
pub struct Connection {
    /// Unique on this shard; tells a session's current connection from an old one.
    pub id: u64,
    /// The key of the session it serves on this shard.
    pub session_key: SessionKey,
    /// The client's address, for logs (which name a connection by it and its
    /// id, and add the client id where the client's own doing is told: its
    /// attach, a refused PUBLISH, a close, a stall).
    pub peer: SocketAddr,
    /// Protocol level agreed by CONNECT; decides the encoding.
    pub protocol_version: ProtocolVersion,
    /// `None` until something is sent, and again once parked or finished.
    buffers: RefCell<Option<Box<Buffers>>>,
    task_wake: WakerSlot,
    /// Holds not yet released (barriers, durability); output waits while
    /// any is, unless the held answers were abandoned.
    held: Cell<usize>,
    /// The held answers were dropped on stop: output goes on whatever holds
    /// are still to be released.
    abandoned: Cell<bool>,
    closing: Cell<bool>,
    task_done: Cell<bool>,
    /// Everything written; the task drains until the client closes.
    written_out: Cell<bool>,
    dropped_qos0: Cell<u64>,
    park: Cell<Park>,
    /// Something was read or written since the last idle sweep.
    active: Cell<bool>,
    /// When an idle sweep first found the connection quiet, ms.
    quiet_since_ms: Cell<u64>,
    /// When the session's keep-alive timer is due, ms; `u64::MAX` when
    /// disarmed. Checked by the shard's connection sweep, not kept in the
    /// timer queue: every connected session has one, and a queue entry costs
    /// more than this field.
    keep_alive_at_ms: Cell<u64>,
    /// While parked: the socket, its transport layer and where to ask for
    /// the connection back.
    parked: RefCell<Option<ParkedSocket>>,
    /// Bytes went out to the socket since the last stall sweep.
    wrote: Cell<bool>,
    /// Since when a stall sweep found the session with messages waiting and
    /// nothing written, ms; `u64::MAX` when it did not.
    stalled_since_ms: Cell<u64>,
    /// The session was reported stalled (see `Session::subscriber_stalled`).
    stalled: Cell<bool>,
    /// Closing took too long: the task shuts the socket down without
    /// writing what is left.
    aborted: Cell<bool>,
    /// Its place under its listener's `max_connections`, given back when
    /// the connection is dropped.
    _admission: Admission,
}

/// What a stall sweep found of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Nothing to report.
    Unchanged,
    /// A stalled connection wrote again.
    Resumed,
    /// Nothing was written since the last sweep: the caller looks at the
    /// session's queue.
    Quiet,
}

/// What a connection has to write. Boxed, and only while the connection has
/// a task: a parked connection holds none of it.
#[derive(Debug, Default)]
struct Buffers {
    /// Packets encoded at once, not yet taken into a batch.
    encoded: BytesMut,
    /// Packets queued past `limits::WRITE_BATCH_BYTES`, encoded when taken.
    outbound: VecDeque<Packet>,
    /// Payload and topic bytes of the PUBLISHes in `outbound`.
    queued_bytes: usize,
    /// Bytes of the batch being written.
    writing_bytes: usize,
}

impl Buffers {
    fn pending_bytes(&self) -> usize {
        self.encoded.len() + self.queued_bytes + self.writing_bytes
    }

    /// The buffer to encode the next packet into at once, or `None` when it
    /// has to queue: packets wait already, or a batch's worth is encoded.
    fn encode_now(&mut self) -> Option<&mut BytesMut> {
        (self.outbound.is_empty() && self.encoded.len() < limits::WRITE_BATCH_BYTES)
            .then_some(&mut self.encoded)
    }

    /// Queues `packet` behind what waits.
    fn queue(&mut self, packet: Packet) {
        self.queued_bytes += queued_size(&packet);
        self.outbound.push_back(packet);
    }
}

/// Where a connection stands with parking (see [`super::parking`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Park {
    /// Served by its task.
    Active,
    /// Idle long enough: its task parks it once nothing is in flight.
    Requested,
    /// Parked: no task, its socket watched by the shard's parking lot.
    Parked,
    /// Parked, and asked back.
    Unparking,
}

impl Connection {
    /// A connection with an empty outbound queue.
    pub fn new(
        id: u64,
        session_key: SessionKey,
        peer: SocketAddr,
        protocol_version: ProtocolVersion,
        admission: Admission,
    ) -> Connection {
        Connection {
            id,
            session_key,
            peer,
            protocol_version,
            buffers: RefCell::new(None),
            task_wake: WakerSlot::default(),
            held: Cell::new(0),
            abandoned: Cell::new(false),
            closing: Cell::new(false),
            task_done: Cell::new(false),
            written_out: Cell::new(false),
            dropped_qos0: Cell::new(0),
            park: Cell::new(Park::Active),
            active: Cell::new(true),
            quiet_since_ms: Cell::new(0),
            keep_alive_at_ms: Cell::new(u64::MAX),
            parked: RefCell::new(None),
            wrote: Cell::new(false),
            stalled_since_ms: Cell::new(u64::MAX),
            stalled: Cell::new(false),
            aborted: Cell::new(false),
            _admission: admission,
        }
    }

    /// The task wrote bytes to the socket.
    pub(super) fn note_written(&self) {
        self.wrote.set(true);
    }

    /// A stall sweep: whether the connection wrote since the last one.
    pub(super) fn sweep_progress(&self) -> Progress {
        if self.wrote.replace(false) {
            self.stalled_since_ms.set(u64::MAX);
            if self.stalled.replace(false) {
                return Progress::Resumed;
            }
            return Progress::Unchanged;
        }
        if self.stalled.get() {
            Progress::Unchanged
        } else {
            Progress::Quiet
        }
    }

    /// A quiet connection (see [`Progress::Quiet`]) whose session has messages
    /// waiting (`waiting`), at `now_ms`: true once it has been so for
    /// `timeout_ms`; it is then marked stalled.
    pub(super) fn stalled_for(&self, waiting: bool, now_ms: u64, timeout_ms: u64) -> bool {
        if !waiting {
            self.stalled_since_ms.set(u64::MAX);
            return false;
        }
        let since_ms = self.stalled_since_ms.get();
        if since_ms == u64::MAX {
            self.stalled_since_ms.set(now_ms);
            return false;
        }
        let stalled = now_ms.saturating_sub(since_ms) >= timeout_ms;
        if stalled {
            self.stalled.set(true);
            self.stalled_since_ms.set(u64::MAX);
        }
        stalled
    }

    /// Closing took too long: the task shuts the socket down at once.
    pub(super) fn abort(&self) {
        self.aborted.set(true);
        self.closing.set(true);
        self.wake_task();
    }

    /// True once [`Connection::abort`] was called.
    pub(super) fn is_aborted(&self) -> bool {
        self.aborted.get()
    }

    /// Wakes the task of `cx` at the next wake-up of the connection's task,
    /// an abort among them.
    pub(super) fn wake_on_abort(&self, cx: &Context<'_>) {
        self.task_wake.register(cx.waker());
    }

    /// Drops everything waiting to be written (the session keeps its QoS 1/2
    /// messages in flight, to resend on resume): for a client that does not
    /// read, before the goodbye that closes it.
    pub(super) fn discard_output(&self) {
        if let Some(buffers) = self.buffers.borrow_mut().as_mut() {
            buffers.outbound.clear();
            buffers.queued_bytes = 0;
            buffers.encoded.clear();
        }
    }

    /// Wakes the connection's task, or asks for the connection back when it
    /// is parked.
    fn wake_task(&self) {
        match self.park.get() {
            Park::Active | Park::Requested => self.task_wake.wake(),
            Park::Parked => {
                self.park.set(Park::Unparking);
                if let Some(parked) = &*self.parked.borrow() {
                    parked.queue.request(self.id);
                }
            }
            Park::Unparking => {}
        }
    }

    /// The task read or wrote something: the connection is not idle.
    pub(super) fn mark_active(&self) {
        self.active.set(true);
        if self.park.get() == Park::Requested {
            self.park.set(Park::Active);
        }
    }

    /// An idle sweep at `now_ms`: asks the task to park the connection when
    /// nothing was read or written for `idle_ms` (measured from the sweep
    /// that first found it quiet).
    pub(super) fn sweep_idle(&self, now_ms: u64, idle_ms: u64) {
        if self.active.replace(false) {
            self.quiet_since_ms.set(now_ms);
        } else if self.park.get() == Park::Active
            && now_ms.saturating_sub(self.quiet_since_ms.get()) >= idle_ms
            && !self.closing.get()
        {
            self.park.set(Park::Requested);
            self.task_wake.wake();
        }
    }

    /// Arms the session's keep-alive timer for `at_ms`, replacing any deadline.
    pub(super) fn arm_keep_alive(&self, at_ms: u64) {
        self.keep_alive_at_ms.set(at_ms);
    }

    /// Disarms the keep-alive timer; true when it was due at `now_ms` (the
    /// caller then runs it).
    pub(super) fn take_due_keep_alive(&self, now_ms: u64) -> bool {
        let due = self.keep_alive_at_ms.get() <= now_ms;
        if due {
            self.keep_alive_at_ms.set(u64::MAX);
        }
        due
    }

    /// True when an idle sweep asked the task to park the connection.
    pub(super) fn park_requested(&self) -> bool {
        self.park.get() == Park::Requested
    }

    /// The task could not park the connection now; a later sweep asks again.
    pub(super) fn park_declined(&self) {
        self.park.set(Park::Active);
        self.active.set(true);
    }

    /// The task parked the connection and ends: the lot watches the socket
    /// in `parked`, whose queue brings the connection back.
    pub(super) fn park_socket(&self, parked: ParkedSocket) {
        self.task_wake.clear();
        // Nothing is queued (the task checked): the empty buffers go too.
        self.buffers.borrow_mut().take();
        *self.parked.borrow_mut() = Some(parked);
        self.park.set(Park::Parked);
    }

    /// Takes the parked socket back for a new task; `None` when the
    /// connection is not parked.
    pub(super) fn unpark_socket(&self) -> Option<ParkedSocket> {
        let parked = self.parked.borrow_mut().take()?;
        self.park.set(Park::Active);
        self.active.set(true);
        Some(parked)
    }

    /// True while parked (asked back or not): no task serves the connection.
    pub(super) fn is_parked(&self) -> bool {
        matches!(self.park.get(), Park::Parked | Park::Unparking)
    }

    /// Queues `packet` for writing; false when it was dropped (connection
    /// closing, or a QoS 0 publish over the queue bound).
    pub fn send(&self, packet: Packet) -> bool {
        if self.closing.get() {
            return false;
        }
        let qos0 = matches!(&packet, Packet::Publish(publish) if publish.qos == QoS::AtMostOnce);
        if qos0 && self.drop_qos0_over_bound() {
            return false;
        }
        {
            let mut guard = self.buffers.borrow_mut();
            let buffers = guard.get_or_insert_with(Box::default);
            match buffers.encode_now() {
                Some(encoded) => self.encode(&packet, encoded),
                None => buffers.queue(packet),
            }
        }
        self.wake_task();
        true
    }

    /// True, and counted, when the outbound bytes are past
    /// `limits::OUTBOUND_BYTES_MAX`: a QoS 0 delivery is then dropped.
    fn drop_qos0_over_bound(&self) -> bool {
        let over = self.pending_bytes() >= limits::OUTBOUND_BYTES_MAX;
        if over {
            self.dropped_qos0.set(self.dropped_qos0.get() + 1);
        }
        over
    }

    /// Queues a QoS 0 PUBLISH of `message` with this RETAIN flag, as
    /// [`shardmq::session::PlainDelivery::Plain`] describes it, written from
    /// the shared message: no packet is built unless it has to wait in the
    /// queue. False when it was dropped, as [`Connection::send`] drops one.
    pub fn send_message(&self, message: &Message, retain: bool) -> bool {
        let version = self.protocol_version;
        self.send_publish(
            QoS::AtMostOnce,
            &message.plain_publish(retain, version),
            || message.plain_packet(retain, version),
        )
    }

    /// Queues a PUBLISH of a routed message the same way: encoded from the
    /// shared message, a packet built only when it has to wait.
    pub fn send_delivery(&self, delivery: &Delivery) -> bool {
        self.send_publish(delivery.qos, &delivery.publish(), || delivery.to_packet())
    }

    /// Encodes `publish` into the batch being built, or queues the packet
    /// `packet` builds when the batch is full or packets wait already. False
    /// when the connection is closing or a QoS 0 PUBLISH was dropped.
    fn send_publish(
        &self,
        qos: QoS,
        publish: &PublishRef<'_>,
        packet: impl FnOnce() -> Publish,
    ) -> bool {
        if self.closing.get() {
            return false;
        }
        if qos == QoS::AtMostOnce && self.drop_qos0_over_bound() {
            return false;
        }
        {
            let mut guard = self.buffers.borrow_mut();
            let buffers = guard.get_or_insert_with(Box::default);
            match buffers.encode_now() {
                Some(encoded) => {
                    if let Err(error) = encode_publish_ref(publish, self.protocol_version, encoded)
                    {
                        tracing::debug!(connection = self.id, peer = %self.peer, %error, "packet not sent");
                    }
                }
                None => buffers.queue(Packet::Publish(packet())),
            }
        }
        self.wake_task();
        true
    }

    /// Bytes encoded, queued (payload and topic of a queued PUBLISH) or being
    /// written.
    pub fn pending_bytes(&self) -> usize {
        self.buffers
            .borrow()
            .as_ref()
            .map_or(0, |buffers| buffers.pending_bytes())
    }

    fn encode(&self, packet: &Packet, buffer: &mut BytesMut) {
        if let Err(error) = encode(packet, self.protocol_version, buffer) {
            tracing::debug!(connection = self.id, peer = %self.peer, %error, "packet not sent");
        }
    }

    /// Fills the empty `batch` with the encoded bytes, then with queued
    /// packets until it holds `limits::WRITE_BATCH_BYTES` or the queue is
    /// empty; false when there is nothing to write (nothing waits, or a hold
    /// is in force), and then the task of `cx` is woken by the next packet or
    /// release.
    pub(super) fn encode_batch(&self, cx: &Context<'_>, batch: &mut BytesMut) -> bool {
        assert!(batch.is_empty(), "a batch is written out before the next");
        if self.is_held() || !self.has_queued() {
            self.release_empty_queue();
            self.task_wake.register(cx.waker());
            return false;
        }
        let mut guard = self.buffers.borrow_mut();
        let Some(buffers) = guard.as_mut() else {
            return false;
        };
        // The two buffers trade places, so neither is allocated again while
        // the connection is busy.
        std::mem::swap(batch, &mut buffers.encoded);
        while batch.len() < limits::WRITE_BATCH_BYTES {
            let Some(packet) = buffers.outbound.pop_front() else {
                break;
            };
            buffers.queued_bytes -= queued_size(&packet);
            self.encode(&packet, batch);
        }
        buffers.writing_bytes = batch.len();
        true
    }

    /// The batch from [`Connection::encode_batch`] is written out.
    pub(super) fn batch_written(&self) {
        if let Some(buffers) = self.buffers.borrow_mut().as_mut() {
            buffers.writing_bytes = 0;
        }
    }

    /// True while bytes or packets wait to be written.
    pub(super) fn has_queued(&self) -> bool {
        self.buffers
            .borrow()
            .as_ref()
            .is_some_and(|buffers| !buffers.encoded.is_empty() || !buffers.outbound.is_empty())
    }

    /// True while more than `limits::OUTBOUND_PACKETS_READ_PAUSE` packets wait
    /// to be written: the client is not read until they go out.
    pub(super) fn output_backed_up(&self) -> bool {
        self.buffers
            .borrow()
            .as_ref()
            .is_some_and(|buffers| buffers.outbound.len() >= limits::OUTBOUND_PACKETS_READ_PAUSE)
    }

    /// True while a [`Connection::hold`] is in force.
    pub(super) fn is_held(&self) -> bool {
        self.held.get() > 0 && !self.abandoned.get()
    }

    /// Forgets the task waiting for packets: the task clears it while it runs,
    /// so what it queues itself does not wake it again.
    pub(super) fn clear_waker(&self) {
        self.task_wake.clear();
    }

    /// Frees the queue's storage when nothing is queued, so a connection that
    /// goes quiet keeps no packet slots, and a large empty encoding buffer.
    fn release_empty_queue(&self) {
        let mut guard = self.buffers.borrow_mut();
        let Some(buffers) = guard.as_mut() else {
            return;
        };
        if buffers.outbound.is_empty() && buffers.outbound.capacity() > 0 {
            buffers.outbound = VecDeque::new();
        }
        if buffers.encoded.is_empty() && buffers.encoded.capacity() > limits::IDLE_BUFFER_KEEP_MAX {
            buffers.encoded = BytesMut::new();
        }
    }

    /// Holds outbound bytes back until the matching [`Connection::release`].
    pub fn hold(&self) {
        self.held.set(self.held.get() + 1);
    }

    /// Ends one [`Connection::hold`]; the last one lets the writing go on.
    pub fn release(&self) {
        let held = self.held.get();
        assert!(held > 0, "a connection released more often than held");
        self.held.set(held - 1);
        self.wake_task();
    }

    /// For a held connection: drops what is queued (the held answers among it),
    /// sends `goodbye` instead and closes. Does nothing when nothing is held.
    pub fn abandon_held(&self, goodbye: Option<Packet>) {
        if !self.is_held() {
            return;
        }
        self.discard_output();
        if let Some(packet) = goodbye {
            self.send(packet);
        }
        self.abandoned.set(true);
        self.close();
    }

    /// Writes what is queued, then closes the socket. Idempotent.
    pub fn close(&self) {
        self.closing.set(true);
        self.wake_task();
    }

    /// True once [`Connection::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// True once the task flushed and shut the socket down (or failed).
    pub fn is_finished(&self) -> bool {
        self.task_done.get()
    }

    /// Everything was written and the socket half-closed; the task only
    /// drains what the client still sends: stopping need not wait for it.
    pub(super) fn written_out(&self) {
        self.buffers.borrow_mut().take();
        self.written_out.set(true);
    }

    /// True once the connection wrote everything it will (see
    /// [`Connection::written_out`]) or its task finished.
    pub fn is_written_out(&self) -> bool {
        self.written_out.get() || self.task_done.get()
    }

    /// The task shut the socket down: drops what could not be written.
    pub(super) fn finished(&self) {
        self.buffers.borrow_mut().take();
        self.task_done.set(true);
    }

    /// Takes the count of QoS 0 deliveries dropped since the last call.
    pub fn take_dropped_qos0(&self) -> u64 {
        self.dropped_qos0.replace(0)
    }
}

/// What a queued packet counts against `limits::OUTBOUND_BYTES_MAX`: what it
/// holds the payload and topic of.
fn queued_size(packet: &Packet) -> usize {
    match packet {
        Packet::Publish(publish) => publish.payload.len() + publish.topic_name.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::Admission;
    use bytes::Bytes;
    use bytestring::ByteString;
    use shardmq::protocol::{decode, Publish};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct NoWake;

    impl Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }

    fn connection() -> Connection {
        Connection::new(
            0,
            0,
            "127.0.0.1:1883".parse().unwrap(),
            ProtocolVersion::V3_1_1,
            Admission::default(),
        )
    }

    fn publish(packet_id: u16, qos: QoS, payload_size: usize) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic_name: ByteString::from_static("t"),
            packet_id: (qos != QoS::AtMostOnce).then_some(packet_id),
            properties: None,
            payload: Bytes::from(vec![0; payload_size]),
        })
    }

    /// The packet ids of what [`written_publishes`] gives.
    fn written_packet_ids(connection: &Connection) -> Vec<u16> {
        written_publishes(connection)
            .iter()
            .map(|publish| publish.packet_id.unwrap())
            .collect()
    }

    #[test]
    fn packets_encoded_at_once_and_packets_queued_past_the_batch_go_out_in_send_order() {
        let connection = connection();
        let payload_size = 1000;
        let count = 3 * limits::WRITE_BATCH_BYTES / payload_size;
        for packet_id in 1..=count {
            assert!(connection.send(publish(packet_id as u16, QoS::AtLeastOnce, payload_size)));
        }
        assert!(connection.has_queued());
        let expected: Vec<u16> = (1..=count as u16).collect();
        assert_eq!(written_packet_ids(&connection), expected);
        assert!(!connection.has_queued());
        assert_eq!(connection.pending_bytes(), 0);
    }

    #[test]
    fn qos0_past_the_outbound_bound_is_dropped_and_counted_but_qos1_is_kept() {
        let connection = connection();
        let payload_size = 64 * 1024;
        let mut packet_id = 0;
        while connection.pending_bytes() < limits::OUTBOUND_BYTES_MAX {
            packet_id += 1;
            assert!(connection.send(publish(packet_id, QoS::AtLeastOnce, payload_size)));
        }
        assert!(!connection.send(publish(packet_id + 1, QoS::AtMostOnce, 1)));
        assert_eq!(connection.take_dropped_qos0(), 1);
        assert!(connection.send(publish(packet_id + 1, QoS::AtLeastOnce, 1)));
        assert_eq!(
            written_packet_ids(&connection).len(),
            usize::from(packet_id) + 1
        );
    }

    /// Encodes and decodes every batch until nothing waits: the publishes.
    fn written_publishes(connection: &Connection) -> Vec<Publish> {
        let waker = Waker::from(Arc::new(NoWake));
        let cx = Context::from_waker(&waker);
        let mut publishes = Vec::new();
        let mut batch = BytesMut::new();
        while connection.encode_batch(&cx, &mut batch) {
            while let Some(packet) = decode(&mut batch, ProtocolVersion::V3_1_1, u32::MAX).unwrap()
            {
                let Packet::Publish(publish) = packet else {
                    panic!("only PUBLISH was sent");
                };
                publishes.push(publish);
            }
            assert!(batch.is_empty(), "a batch holds whole packets");
            connection.batch_written();
        }
        publishes
    }

    fn shared_message(payload_size: usize) -> Message {
        Message {
            topic_name: ByteString::from_static("plain/topic"),
            payload: Bytes::from(vec![3; payload_size]),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            expires_at_ms: None,
            publisher: ByteString::from_static("publisher"),
        }
    }

    #[test]
    fn a_message_written_from_its_parts_goes_out_after_what_is_queued_before_it() {
        let connection = connection();
        let payload_size = 1000;
        let count = 2 * limits::WRITE_BATCH_BYTES / payload_size;
        for packet_id in 1..=count {
            assert!(connection.send(publish(packet_id as u16, QoS::AtLeastOnce, payload_size)));
        }
        let message = shared_message(10);
        assert!(connection.send_message(&message, true));
        assert!(connection.send_message(&message, false));
        let written = written_publishes(&connection);
        assert_eq!(written.len(), count + 2);
        for (publish, retain) in written[count..].iter().zip([true, false]) {
            assert_eq!(publish.qos, QoS::AtMostOnce);
            assert_eq!(publish.retain, retain);
            assert_eq!(publish.topic_name, message.topic_name);
            assert_eq!(publish.payload, message.payload);
        }
        // Nothing queued: written straight into the encoded bytes.
        assert!(connection.send_message(&message, false));
        assert_eq!(written_publishes(&connection).len(), 1);
    }

    #[test]
    fn a_message_past_the_outbound_bound_is_dropped_and_counted() {
        let connection = connection();
        let mut packet_id = 0;
        while connection.pending_bytes() < limits::OUTBOUND_BYTES_MAX {
            packet_id += 1;
            assert!(connection.send(publish(packet_id, QoS::AtLeastOnce, 64 * 1024)));
        }
        assert!(!connection.send_message(&shared_message(1), false));
        assert_eq!(connection.take_dropped_qos0(), 1);
    }

    #[test]
    fn nothing_is_written_while_held_and_everything_after_the_release() {
        let connection = connection();
        connection.hold();
        assert!(connection.send(publish(1, QoS::AtLeastOnce, 10)));
        assert!(written_packet_ids(&connection).is_empty());
        connection.release();
        assert_eq!(written_packet_ids(&connection), vec![1]);
    }

    #[test]
    fn abandoned_answers_let_the_goodbye_out_while_holds_are_still_released_later() {
        let connection = connection();
        connection.hold();
        connection.hold();
        connection.send(Packet::PubAck(shardmq::protocol::PublishResponse::success(
            1,
        )));
        connection.abandon_held(Some(Packet::PingResp));
        assert!(!connection.is_held(), "the goodbye is not held");
        assert!(connection.is_closing());
        connection.release();
        connection.release();
    }

    #[test]
    #[should_panic(expected = "released more often than held")]
    fn a_release_without_a_hold_is_a_bug() {
        connection().release();
    }
}
