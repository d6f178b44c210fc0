//! One client connection on its shard: the outbound queue and the writer task.
//!
//! What the session sends is queued as packets, not bytes: a PUBLISH in the
//! queue shares its payload with every other subscriber, so a subscriber that
//! falls behind holds references, not copies. The writer task encodes the
//! queue into one buffer, up to `limits::WRITE_BATCH_BYTES` at a time, and
//! writes it with one `write_all`: a batch of deliveries costs one syscall, not
//! one per packet. The queue is bounded by `limits::OUTBOUND_BYTES_MAX` of
//! payload: past it QoS 0 deliveries are dropped and counted (QoS 1 and 2 are
//! bounded by the session's inflight window), so a subscriber that never reads
//! holds up only itself. An empty write buffer bigger than
//! `limits::IDLE_BUFFER_KEEP_MAX` is released, and so is the queue's storage
//! once it is written out (a few queued packets take a kilobyte), so an idle
//! connection holds no large allocation.
//!
//! The reader and writer each own a glommio stream over their own duplicate of
//! the socket, so reading and writing never wait on each other.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use bytes::BytesMut;
use bytestring::ByteString;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use shardmq::limits;
use shardmq::protocol::{encode, Packet, ProtocolVersion, QoS};

use super::sessions::SessionKey;
use crate::transport::TransportLayer;
use crate::wake::Notify;

/// A connection whose CONNECT was accepted on this (its home) shard.
#[derive(Debug)]
pub struct Connection {
    /// Unique on this shard; tells a session's current connection from an old one.
    pub id: u64,
    /// The key of the session it serves on this shard.
    pub session_key: SessionKey,
    /// The client's address, for logs.
    pub peer: SocketAddr,
    /// The session's client id.
    pub client_id: ByteString,
    /// Protocol level agreed by CONNECT; decides the encoding.
    pub protocol_version: ProtocolVersion,
    outbound: RefCell<VecDeque<Packet>>,
    queued_bytes: Cell<usize>,
    writing_bytes: Cell<usize>,
    writer_wake: Notify,
    held: Cell<usize>,
    closing: Cell<bool>,
    writer_done: Cell<bool>,
    dropped_qos0: Cell<u64>,
}

impl Connection {
    /// A connection with an empty outbound queue.
    pub fn new(
        id: u64,
        session_key: SessionKey,
        peer: SocketAddr,
        client_id: ByteString,
        protocol_version: ProtocolVersion,
    ) -> Connection {
        Connection {
            id,
            session_key,
            peer,
            client_id,
            protocol_version,
            outbound: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            writing_bytes: Cell::new(0),
            writer_wake: Notify::default(),
            held: Cell::new(0),
            closing: Cell::new(false),
            writer_done: Cell::new(false),
            dropped_qos0: Cell::new(0),
        }
    }

    /// Queues `packet` for the writer; false when it was dropped (connection
    /// closing, or a QoS 0 publish over the queue bound).
    pub fn send(&self, packet: Packet) -> bool {
        if self.closing.get() {
            return false;
        }
        if let Packet::Publish(publish) = &packet {
            if publish.qos == QoS::AtMostOnce && self.pending_bytes() >= limits::OUTBOUND_BYTES_MAX
            {
                self.dropped_qos0.set(self.dropped_qos0.get() + 1);
                return false;
            }
        }
        self.queued_bytes
            .set(self.queued_bytes.get() + queued_size(&packet));
        self.outbound.borrow_mut().push_back(packet);
        self.writer_wake.notify();
        true
    }

    /// Payload bytes queued or being written.
    pub fn pending_bytes(&self) -> usize {
        self.queued_bytes.get() + self.writing_bytes.get()
    }

    /// Encodes queued packets into `batch` until it holds
    /// `limits::WRITE_BATCH_BYTES` or the queue is empty.
    fn encode_batch(&self, batch: &mut BytesMut) {
        let mut outbound = self.outbound.borrow_mut();
        while batch.len() < limits::WRITE_BATCH_BYTES {
            let Some(packet) = outbound.pop_front() else {
                break;
            };
            self.queued_bytes
                .set(self.queued_bytes.get() - queued_size(&packet));
            if let Err(error) = encode(&packet, self.protocol_version, batch) {
                tracing::debug!(client_id = %self.client_id, %error, "packet not sent");
            }
        }
    }

    /// Frees the queue's storage when nothing is queued: the writer calls it
    /// once a wake-up's packets are written, so a connection that goes quiet
    /// keeps no packet slots.
    fn release_empty_queue(&self) {
        let mut outbound = self.outbound.borrow_mut();
        if outbound.is_empty() && outbound.capacity() > 0 {
            *outbound = VecDeque::new();
        }
    }

    /// Holds outbound bytes back until the matching [`Connection::release`].
    pub fn hold(&self) {
        self.held.set(self.held.get() + 1);
    }

    /// Ends one [`Connection::hold`]; the last one lets the writer go on.
    pub fn release(&self) {
        self.held.set(self.held.get() - 1);
        self.writer_wake.notify();
    }

    /// Writes what is queued, then closes the socket. Idempotent.
    pub fn close(&self) {
        self.closing.set(true);
        self.writer_wake.notify();
    }

    /// True once [`Connection::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// True once the writer flushed and shut the socket down (or failed).
    pub fn is_finished(&self) -> bool {
        self.writer_done.get()
    }

    /// Takes the count of QoS 0 deliveries dropped since the last call.
    pub fn take_dropped_qos0(&self) -> u64 {
        self.dropped_qos0.replace(0)
    }
}

/// What a queued packet counts against `limits::OUTBOUND_BYTES_MAX`.
fn queued_size(packet: &Packet) -> usize {
    match packet {
        Packet::Publish(publish) => publish.payload.len() + publish.topic_name.len(),
        _ => 0,
    }
}

/// Writes the connection's outbound queue whenever it is filled, until closed.
pub async fn write_loop(
    connection: Rc<Connection>,
    mut stream: TcpStream,
    mut transport: TransportLayer,
) {
    let mut batch = BytesMut::new();
    loop {
        connection.writer_wake.wait().await;
        // A hold taken while a write was under way stops the next batch too.
        while connection.held.get() == 0 {
            connection.encode_batch(&mut batch);
            if batch.is_empty() {
                break;
            }
            connection.writing_bytes.set(batch.len());
            let written = stream.write_all(transport.outbound(&mut batch)).await;
            connection.writing_bytes.set(0);
            batch.clear();
            if let Err(error) = written {
                // The shutdown ends the reader's read, and the reader reports the
                // lost connection to the session.
                tracing::debug!(client_id = %connection.client_id, %error, "write failed");
                finish(&connection, &stream).await;
                return;
            }
        }
        if batch.capacity() > limits::IDLE_BUFFER_KEEP_MAX {
            batch = BytesMut::new();
        }
        connection.release_empty_queue();
        if connection.closing.get() && connection.held.get() == 0 {
            finish(&connection, &stream).await;
            return;
        }
    }
}

/// Shuts the socket down both ways, which also ends the reader's pending read.
async fn finish(connection: &Connection, stream: &TcpStream) {
    if let Err(error) = stream.shutdown(Shutdown::Both).await {
        tracing::trace!(client_id = %connection.client_id, %error, "shutdown failed");
    }
    connection.outbound.borrow_mut().clear();
    connection.queued_bytes.set(0);
    connection.writer_done.set(true);
}
