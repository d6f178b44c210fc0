//! The one task of an attached connection: it reads and handles the client's
//! packets and writes the connection's outbound queue, over one socket.
//!
//! Reading and writing never wait on each other: the task is a single poll
//! function that, on every wake-up, reads what the socket holds (unless the
//! mesh is congested or the connection is closing), then encodes and writes
//! what is queued (unless a barrier holds it), and only then parks on whichever
//! of the socket's read readiness, its write readiness, the outbound queue's
//! wake-up and the mesh's congestion list it is waiting for. One task and one
//! file descriptor per connection, rather than a reader and a writer over two
//! duplicates, halves the descriptors a connection takes and the glommio state
//! an idle one holds; and the acknowledgements a read produces go out in the
//! same turn, without waking another task.
//!
//! A client that does not read what it is sent is not read either once
//! `limits::OUTBOUND_PACKETS_READ_PAUSE` packets wait for it (a publisher
//! flooding without reading its PUBACKs), and a PUBLISH is not handled while
//! a shard's delivery backlog is over its budget (see [`super::flow`]); its
//! socket is then not read until the pause lifts.
//!
//! The mesh's congestion is obeyed packet by packet: while an outbox is
//! congested no further packet of this client is handled (any may publish or
//! change subscriptions) and its socket is not read, and a lost connection,
//! whose will may publish, is reported once the congestion clears. After each
//! read the task lets the shard's other tasks run: a socket read completes at
//! once while the client keeps data waiting, and without that turn a busy
//! publisher's task would keep the shard from the subscribers it delivers to.
//!
//! A connection idle for `idle_park_ms` is parked: when an idle sweep asks
//! and nothing is in flight, the task hands the socket to the shard's parking
//! lot and ends, and a new task takes over when it comes back (see
//! [`super::parking`]). On a crowded shard (see [`Shard::is_crowded`]) a new
//! connection that sent nothing after its CONNECT parks as soon as its
//! CONNACK is written.
//!
//! One read takes whatever the socket holds, through the shard's scratch buffer;
//! only the bytes received are kept, in a buffer of their own that decoded
//! payloads borrow from. A connection waiting for data holds no read buffer,
//! and its outbound queue and write buffer are released as they empty (see
//! [`super::connection`]).
//!
//! Bytes pass through the connection's transport layer both ways (see
//! [`crate::transport`]): what a read brings is handed to the layer, which
//! appends the MQTT bytes it carries to `inbound`; a batch of packets is
//! encoded into the buffer the layer names and sealed into wire bytes once,
//! which partial writes then only advance through. The layer may want to
//! write with no packet queued (a handshake, a pong), and once the
//! connection is closed and written out it writes its farewell last. A
//! failing layer ends the connection like a failing socket.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use shardmq::limits;
use shardmq::protocol::decode;
use socket2::SockRef;

use super::read_ahead::take_acknowledgements;
use super::{Connection, Shard};
use crate::transport::{Transport, TransportError, TransportLayer, WireOut};

/// The task serving `connection` until it is closed and its last bytes are
/// written; `buffered` holds bytes read after its CONNECT, handled at once.
pub fn serve(
    shard: Rc<Shard>,
    connection: Rc<Connection>,
    stream: TcpStream,
    transport: TransportLayer,
    buffered: BytesMut,
    just_connected: bool,
) -> ConnectionTask {
    shard.connections.task_started();
    let mut task = ConnectionTask {
        // Bytes after the CONNECT: the client is talking.
        fresh: just_connected && buffered.is_empty(),
        shard,
        connection,
        stream,
        transport,
        // An empty leftover still holds the CONNECT's buffer.
        inbound: if buffered.is_empty() {
            BytesMut::new()
        } else {
            buffered
        },
        reading: true,
        backlog: false,
        paused: false,
        close_watched: false,
        lost_pending: false,
        write_failed: false,
        farewell: false,
        draining: false,
        drained: 0,
        wire: WireOut::default(),
    };
    task.handle_buffered();
    task
}

/// What one connection's task owns. It is its own future, written by hand: an
/// `async fn` would keep its arguments and every await point's state beside
/// it, and this is the one allocation every idle connection holds.
pub struct ConnectionTask {
    shard: Rc<Shard>,
    connection: Rc<Connection>,
    stream: TcpStream,
    transport: TransportLayer,
    /// MQTT bytes received and not yet decoded.
    inbound: BytesMut,
    /// False once the client's side ended (end of stream, read error or a
    /// malformed packet): what is queued is still written.
    reading: bool,
    /// `inbound` may hold complete packets left while the mesh was congested.
    backlog: bool,
    /// `inbound` starts with a PUBLISH left while publishing is paused for a
    /// shard's delivery budget (see [`super::flow`]): nothing more is read
    /// or handled until the pause lifts.
    paused: bool,
    /// The shard watches how long the connection takes to close.
    close_watched: bool,
    /// The connection ended and the session has not heard yet: it will once
    /// the mesh is not congested.
    lost_pending: bool,
    /// A write failed: nothing more is written.
    write_failed: bool,
    /// The transport layer was asked for its farewell: nothing of the
    /// connection's own is left to write.
    farewell: bool,
    /// Everything is written and the socket half-closed: what the client
    /// still sends is read and dropped until it closes too (see
    /// [`ConnectionTask::start_draining`]).
    draining: bool,
    /// Bytes dropped while draining.
    drained: usize,
    /// Wire bytes being written.
    wire: WireOut,
    /// Nothing was read since the CONNECT and the connection has not yet
    /// been idle with its CONNACK written: that moment parks it on a
    /// crowded shard.
    fresh: bool,
}

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.shard.connections.task_ended();
    }
}

/// What one step of reading or writing did.
#[derive(PartialEq, Eq)]
enum Step {
    /// Bytes were read and handled: other tasks get their turn next.
    Read,
    /// Something was written or an event handled: go round again.
    Progress,
    /// Nothing to do until a waker registered by this step fires.
    Parked,
}

/// Why the task ended.
enum End {
    /// The connection is closed and written out: the socket is shut down.
    Closed,
    /// The connection was parked: its socket lives on in the parking lot.
    Parked,
}

impl ConnectionTask {
    /// Reads and writes until neither can go on, or until the connection is
    /// closed with nothing left to write (`Ready`).
    fn poll_turns(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        self.connection.clear_waker();
        if !self.close_watched && self.connection.is_closing() {
            self.close_watched = true;
            self.shard
                .connections
                .watch_closing(&self.connection, self.shard.now_ms());
        }
        for _ in 0..limits::CONNECTION_TURNS_PER_POLL {
            let read = self.poll_read_step(cx);
            let write = self.poll_write_step(cx);
            if self.is_done() {
                return Poll::Ready(End::Closed);
            }
            if read == Step::Parked && write == Step::Parked {
                if self.park_if_crowded() {
                    return Poll::Ready(End::Parked);
                }
                if self.connection.park_requested() {
                    if self.park() {
                        return Poll::Ready(End::Parked);
                    }
                    self.connection.park_declined();
                }
                return Poll::Pending;
            }
            self.connection.mark_active();
            if read == Step::Read || glommio::executor().need_preempt() {
                break;
            }
        }
        // Busy: let the shard's other tasks run, then go on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Parks a fresh connection on a crowded shard (see
    /// [`Shard::is_crowded`]) once its CONNACK is out, which a barrier may
    /// hold for a while: until then it stays fresh. True when parked.
    fn park_if_crowded(&mut self) -> bool {
        if !self.fresh || !self.output_written() {
            return false;
        }
        self.fresh = false;
        self.shard.is_crowded() && self.park()
    }

    /// Nothing left to write: no wire bytes under way, none the layer wants
    /// to write, no packet queued or held.
    fn output_written(&self) -> bool {
        self.wire.is_empty()
            && !self.transport.wants_write()
            && !self.connection.is_held()
            && !self.connection.has_queued()
    }

    /// Hands the socket to the shard's parking lot when nothing is in flight:
    /// nothing unread, unwritten or held, the client's side open and the
    /// connection not closing. True when parked: the task then ends.
    fn park(&mut self) -> bool {
        let quiet = self.reading
            && !self.backlog
            && !self.paused
            && !self.lost_pending
            && !self.write_failed
            && self.inbound.is_empty()
            && !self.connection.is_closing()
            && self.output_written();
        if !quiet || !self.transport.can_park() {
            return false;
        }
        let transport = std::mem::take(&mut self.transport);
        match self.shard.park(&self.connection, &self.stream, transport) {
            Ok(()) => true,
            Err(transport) => {
                self.transport = transport;
                false
            }
        }
    }

    /// True once the connection is closed and everything queued, the
    /// transport layer's farewell last, is written (or can no longer be).
    fn is_done(&self) -> bool {
        self.connection.is_closing()
            && (self.write_failed
                || self.connection.is_aborted()
                || (self.farewell && self.output_written()))
    }

    /// One read, and every complete packet it completes handled; or, while
    /// the mesh is congested, nothing.
    fn poll_read_step(&mut self, cx: &mut Context<'_>) -> Step {
        if self.lost_pending {
            if self.connection.is_closing() {
                self.lost_pending = false;
                return Step::Progress;
            }
            if self.shard.mesh.poll_uncongested(cx).is_pending() {
                return Step::Parked;
            }
            self.lost_pending = false;
            self.shard.on_connection_lost(&self.connection);
            return Step::Progress;
        }
        if !self.reading || self.connection.is_closing() {
            return Step::Parked;
        }
        if self.connection.output_backed_up() {
            // The write step runs on, and this one looks again after it.
            return Step::Parked;
        }
        if self.shard.mesh.poll_uncongested(cx).is_pending() {
            return Step::Parked;
        }
        if self.paused {
            if self.shard.flow.poll_resumed(cx).is_pending() {
                return self.poll_read_ahead(cx);
            }
            self.paused = false;
            self.handle_buffered();
            return Step::Read;
        }
        if self.backlog {
            self.handle_buffered();
            return Step::Read;
        }
        self.poll_read_then(cx, |task| {
            task.fresh = false;
            task.handle_buffered();
        })
    }

    /// Reads once and, when bytes came, runs `handle` on the task; the end of
    /// the stream or a read error ends the client's side. What a paused
    /// connection leaves unread was never acknowledged: the client resends it.
    fn poll_read_then(&mut self, cx: &mut Context<'_>, handle: impl FnOnce(&mut Self)) -> Step {
        match self.poll_read_some(cx) {
            Poll::Pending => Step::Parked,
            Poll::Ready(Ok(0)) => {
                self.lost();
                Step::Progress
            }
            Poll::Ready(Ok(_)) => {
                handle(self);
                Step::Read
            }
            Poll::Ready(Err(error)) => {
                tracing::debug!(connection = self.connection.id, peer = %self.connection.peer, transport = self.transport.name(), %error, "read failed");
                self.lost();
                Step::Progress
            }
        }
    }

    /// While paused at a PUBLISH: handles the acknowledgements and pings
    /// already read behind it and, while the client owes acknowledgements
    /// for messages it was sent, reads on to find more, up to
    /// `limits::PAUSED_READ_AHEAD_BYTES` buffered. A client that owes none
    /// (a publisher only) is not read at all.
    fn poll_read_ahead(&mut self, cx: &mut Context<'_>) -> Step {
        self.handle_acknowledgements_ahead();
        if !self.reading
            || self.inbound.len() >= limits::PAUSED_READ_AHEAD_BYTES
            || !self.shard.owes_acknowledgements(&self.connection)
        {
            return Step::Parked;
        }
        self.poll_read_then(cx, Self::handle_acknowledgements_ahead)
    }

    /// Handles the acknowledgements and pings behind the paused PUBLISH (see
    /// [`super::read_ahead`]).
    fn handle_acknowledgements_ahead(&mut self) {
        let maximum_packet_size = self.shard.config.maximum_packet_size;
        let version = self.connection.protocol_version;
        let Some(mut acknowledgements) =
            take_acknowledgements(&mut self.inbound, maximum_packet_size, version)
        else {
            return;
        };
        handle_packets(
            &self.shard,
            &self.connection,
            &mut acknowledgements,
            &mut self.reading,
            |_| false,
        );
        self.shard.check_delivery_budget();
    }

    /// Reads once into the shard's scratch buffer and hands what came to
    /// the transport layer, which appends the MQTT bytes it carries to
    /// `inbound`. `Ok(0)` is end of stream.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Failure>> {
        let mut scratch = self.shard.read_scratch.borrow_mut();
        let count = match Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..]) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(Failure::Socket(error))),
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
            Poll::Ready(Ok(count)) => count,
        };
        if let Err(error) = self.transport.receive(&scratch[..count], &mut self.inbound) {
            return Poll::Ready(Err(Failure::Transport(error)));
        }
        Poll::Ready(Ok(count))
    }

    /// Decodes and handles every complete packet in `inbound`, all at one
    /// clock reading, stopping early while the mesh is congested or before a
    /// PUBLISH while publishing is paused.
    fn handle_buffered(&mut self) {
        let shard = &self.shard;
        let inbound = &mut self.inbound;
        let backlog = &mut self.backlog;
        let paused = &mut self.paused;
        *backlog = false;
        handle_packets(
            shard,
            &self.connection,
            inbound,
            &mut self.reading,
            |inbound| {
                if shard.mesh.is_congested() {
                    *backlog = true;
                    return true;
                }
                if starts_with_publish(inbound) && shard.publishing_paused() {
                    *paused = true;
                    shard.stats.publisher_pauses.add(1);
                    return true;
                }
                false
            },
        );
        if self.inbound.is_empty() && self.inbound.capacity() > limits::IDLE_BUFFER_KEEP_MAX {
            self.inbound = BytesMut::new();
        }
        // Acknowledgements handled here may have drained the backlog.
        self.shard.check_delivery_budget();
    }

    /// Writes the current wire bytes, or seals the next; a failed write or
    /// transport layer ends the connection.
    fn poll_write_step(&mut self, cx: &mut Context<'_>) -> Step {
        if self.write_failed || self.connection.is_aborted() {
            return Step::Parked;
        }
        match self.poll_write(cx) {
            Ok(step) => step,
            Err(error) => {
                tracing::debug!(connection = self.connection.id, peer = %self.connection.peer, transport = self.transport.name(), %error, "write failed");
                self.write_failed = true;
                self.wire = WireOut::default();
                self.lost();
                Step::Progress
            }
        }
    }

    /// Writes the current wire bytes, or seals the next: a batch encoded
    /// from the queue and what the transport layer wants to write on its
    /// own, or, once the connection is closed and everything queued is out,
    /// the layer's farewell.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<Step, Failure> {
        if self.wire.is_empty() && !self.fill_wire(cx)? {
            self.wire.release_idle();
            return Ok(Step::Parked);
        }
        match Pin::new(&mut self.stream).poll_write(cx, self.wire.unwritten()) {
            Poll::Pending => Ok(Step::Parked),
            Poll::Ready(Err(error)) => Err(Failure::Socket(error)),
            Poll::Ready(Ok(0)) => Err(Failure::Socket(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(count)) => {
                self.connection.note_written();
                if self.wire.advance(count) {
                    self.connection.batch_written();
                }
                Ok(Step::Progress)
            }
        }
    }

    /// Fills the empty wire buffer (see [`WireOut::fill`]); true when there
    /// is something to write.
    fn fill_wire(&mut self, cx: &Context<'_>) -> Result<bool, Failure> {
        let connection = &self.connection;
        let filled = self
            .wire
            .fill(&mut self.transport, |batch| {
                connection.encode_batch(cx, batch)
            })
            .map_err(Failure::Transport)?;
        if filled || self.farewell || !connection.is_closing() || connection.is_held() {
            return Ok(filled);
        }
        // Closed, and nothing queued is left: the layer's farewell goes last.
        self.farewell = true;
        self.transport.close();
        self.wire
            .fill(&mut self.transport, |_| false)
            .map_err(Failure::Transport)
    }

    /// The client's side ended or a write failed: the session hears of it once
    /// (see `lost_pending`), unless it closed the connection itself.
    fn lost(&mut self) {
        self.reading = false;
        self.lost_pending = !self.connection.is_closing();
    }

    /// Everything is written: half-closes the socket (a FIN after the last
    /// packet) and reads on, dropping what comes, until the client closes
    /// too. Closing with unread input would send a reset, and a reset makes
    /// the client's stack discard what it had not yet read: a client that
    /// keeps writing (QoS 2 past Receive Maximum while answering PUBRECs)
    /// would see a broken pipe instead of the DISCONNECT that says why.
    /// Bounded by `limits::CLOSE_DRAIN_BYTES_MAX` and by the closing
    /// connection's `limits::CLOSE_FLUSH_MS` (the shard aborts it then).
    /// False when there is nothing to drain for: a write failed or the
    /// close was aborted.
    fn start_draining(&mut self) -> bool {
        // On stop nobody waits for the drain: the socket closes at once.
        if self.write_failed || self.connection.is_aborted() || self.shard.stopping.get() {
            return false;
        }
        if let Err(error) = SockRef::from(&self.stream).shutdown(Shutdown::Write) {
            tracing::trace!(connection = self.connection.id, peer = %self.connection.peer, %error, "half-close failed");
            return false;
        }
        self.draining = true;
        self.connection.written_out();
        true
    }

    /// Reads and drops until the client closes, the drain bound is reached
    /// or the shard aborts the close; then finishes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // An abort wakes the task through the connection.
        self.connection.wake_on_abort(cx);
        loop {
            if self.connection.is_aborted() || self.drained > limits::CLOSE_DRAIN_BYTES_MAX {
                break;
            }
            let mut scratch = self.shard.read_scratch.borrow_mut();
            match Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => break,
                Poll::Ready(Ok(count)) => self.drained += count,
            }
        }
        self.finish();
        Poll::Ready(())
    }

    /// Shuts the socket down both ways and drops whatever could not be
    /// written.
    fn finish(&self) {
        if let Err(error) = SockRef::from(&self.stream).shutdown(Shutdown::Both) {
            tracing::trace!(connection = self.connection.id, peer = %self.connection.peer, %error, "shutdown failed");
        }
        self.connection.finished();
    }
}

/// Why a connection's reading or writing failed: its socket or its
/// transport layer.
enum Failure {
    Socket(io::Error),
    Transport(TransportError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Socket(error) => write!(f, "socket: {error}"),
            Failure::Transport(error) => error.fmt(f),
        }
    }
}

/// Decodes and handles the packets of `inbound` in order, at one clock
/// reading, until none is complete, the connection closes, `stop_before` says
/// to stop before the next one, or a malformed packet ends the reading (it is
/// answered as the protocol says, and `reading` turns false).
fn handle_packets(
    shard: &Shard,
    connection: &Rc<Connection>,
    inbound: &mut BytesMut,
    reading: &mut bool,
    mut stop_before: impl FnMut(&BytesMut) -> bool,
) {
    shard.clock.with_reading(|| {
        while *reading && !connection.is_closing() {
            if stop_before(inbound) {
                break;
            }
            match decode(
                inbound,
                connection.protocol_version,
                shard.config.maximum_packet_size,
            ) {
                Ok(Some(packet)) => shard.on_packet(connection, packet),
                Ok(None) => break,
                Err(error) => {
                    shard.stats.malformed_packets.add(1);
                    shard.on_protocol_error(connection, error);
                    *reading = false;
                }
            }
        }
    });
}

/// True when the first complete or partial packet in `inbound` is a PUBLISH
/// (packet type 3 in the fixed header's high nibble).
fn starts_with_publish(inbound: &BytesMut) -> bool {
    inbound.first().is_some_and(|byte| byte >> 4 == 3)
}

impl Future for ConnectionTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let task = self.get_mut();
        if task.draining {
            return task.poll_drain(cx);
        }
        match task.poll_turns(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(End::Parked) => Poll::Ready(()),
            Poll::Ready(End::Closed) => {
                if task.start_draining() {
                    return task.poll_drain(cx);
                }
                task.finish();
                Poll::Ready(())
            }
        }
    }
}
