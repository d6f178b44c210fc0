//! Transport layers between the socket and the MQTT codec, as plain state over
//! byte buffers.
//!
//! A layer owns no socket and does no I/O, so a connection (socket + layer
//! state + buffers) can park and move between shards as data. Every layer
//! keeps one contract, [`Transport`], and a connection's layer is a
//! [`TransportLayer`], made from its listener's [`TransportKind`]. One file
//! per layer: `tcp`, `tls` (a `rustls::ServerConnection` driven by
//! `read_tls`/`process_new_packets`/`write_tls`, its listener's material in
//! `tls_config`), and `ws`, WebSocket generic over an inner [`Transport`], so
//! it runs over TCP (`ws`) and TLS (`wss`) alike.
//!
//! ## The contract
//!
//! - **In.** The bytes of each socket read go to [`Transport::receive`], which
//!   appends the MQTT bytes they complete to the connection's plaintext buffer;
//!   the codec decodes that buffer in place. Bytes that complete no MQTT byte
//!   yet (a partial TLS record, a partial WebSocket frame, a handshake message)
//!   stay in the layer. Receiving may leave the layer wanting to write
//!   ([`Transport::wants_write`]): a TLS handshake flight, a WebSocket pong.
//! - **Out.** The bytes to write live in a [`WireOut`], filled only when empty
//!   by [`WireOut::fill`]: it encodes the next batch of MQTT packets into the
//!   buffer the layer names ([`Transport::plaintext_buffer`]) and has the layer
//!   seal it ([`Transport::seal`]), together with any bytes of the layer's own,
//!   into wire bytes, exactly once. Partial socket writes then only advance an
//!   offset ([`WireOut::advance`]); nothing is sealed again. With no batch
//!   queued, `fill` still takes what the layer wants to write on its own.
//! - **Close.** Once everything the connection queued is written,
//!   [`Transport::close`] asks the layer for its farewell (TLS `close_notify`,
//!   a WebSocket close frame), written like any other bytes of its own before
//!   the socket is shut down.
//! - **Errors.** A [`TransportError`] from `receive` or `seal` ends the
//!   connection like a socket error, with one debug log line. A failed layer
//!   may still want to write (a TLS alert): the connection writes that on its
//!   way out, and the layer drops any plaintext it is given from then on.
//!
//! For TCP every step is the identity: received bytes are appended as they
//! are (the one copy out of the shard's read buffer), packets are encoded
//! straight into the wire buffer, sealing does nothing, and the buffer a
//! connection's outbound queue trades with its write buffer is that wire
//! buffer. The write path costs what it did before layers existed: no
//! allocation, no copy, no syscall more.

mod tcp;
mod tls;
mod tls_config;
mod ws;

use std::sync::Arc;

use bytes::BytesMut;
use shardmq::limits;

pub use tcp::Tcp;
pub use tls::Tls;
pub use tls_config::{Alpn, TlsFiles, TlsListener};
pub use ws::Ws;

/// What one transport layer does for a connection; see the module
/// documentation for the contract the connection's task relies on.
pub trait Transport {
    /// Takes `wire`, bytes just read from the socket (at least one: the end
    /// of the stream ends the connection without the layer), and appends the
    /// MQTT bytes they complete to `plaintext`; bytes that complete nothing
    /// yet stay in the layer. An error ends the connection.
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError>;

    /// The buffer the next batch of MQTT packets is encoded into, empty; `wire`
    /// is empty too. For TCP it is the wire buffer of `wire` itself. Asked
    /// again before the seal, it names the same buffer, with what was
    /// encoded into it: a layer over this one (WebSocket) puts its frame
    /// header there.
    fn plaintext_buffer<'a>(&'a mut self, wire: &'a mut WireOut) -> &'a mut BytesMut;

    /// Turns the batch encoded into [`Transport::plaintext_buffer`] (none when
    /// it is empty) and every byte the layer wants to write on its own into
    /// wire bytes at the end of `wire`, leaving the plaintext buffer empty and
    /// [`Transport::wants_write`] false.
    fn seal(&mut self, wire: &mut WireOut) -> Result<(), TransportError>;

    /// True when the layer has bytes of its own to write, with or without a
    /// batch: a handshake flight, an alert, a pong, its farewell.
    fn wants_write(&self) -> bool;

    /// Asks for the layer's farewell (TLS `close_notify`, a WebSocket close
    /// frame); [`Transport::wants_write`] then says whether it has bytes to
    /// write. Asking again adds nothing.
    fn close(&mut self);

    /// True until the layer is ready to carry MQTT bytes (a TLS handshake, a
    /// WebSocket upgrade under way).
    fn is_handshaking(&self) -> bool;

    /// True when the layer holds nothing a parked connection would lose or
    /// keep allocated: it can be kept beside the socket and handed to the
    /// next task.
    fn can_park(&self) -> bool;

    /// A short name for logs.
    fn name(&self) -> &'static str;
}

/// The transport a listener's connections speak; the configuration a new
/// layer is made from.
#[derive(Debug, Clone, Default)]
pub enum TransportKind {
    /// Plain TCP.
    #[default]
    Tcp,
    /// TLS, with the listener's material (shared by its sockets on every
    /// shard, swapped by a reload).
    Tls(Arc<TlsListener>),
    /// WebSocket over TCP, upgraded from HTTP on `path` (by default
    /// `config::WEBSOCKET_PATH_DEFAULT`).
    Ws {
        /// The request path of the upgrade, as `/mqtt`.
        path: Arc<str>,
    },
    /// WebSocket over TLS: the TLS listener's material, then the upgrade on
    /// `path`.
    Wss {
        /// The TLS material.
        listener: Arc<TlsListener>,
        /// The request path of the upgrade.
        path: Arc<str>,
    },
}

impl PartialEq for TransportKind {
    /// Two TLS kinds are the same when they are one listener's.
    fn eq(&self, other: &TransportKind) -> bool {
        match (self, other) {
            (TransportKind::Tcp, TransportKind::Tcp) => true,
            (TransportKind::Tls(one), TransportKind::Tls(other)) => Arc::ptr_eq(one, other),
            (TransportKind::Ws { path: one }, TransportKind::Ws { path: other }) => one == other,
            (
                TransportKind::Wss {
                    listener: one,
                    path: one_path,
                },
                TransportKind::Wss {
                    listener: other,
                    path: other_path,
                },
            ) => Arc::ptr_eq(one, other) && one_path == other_path,
            _ => false,
        }
    }
}

impl Eq for TransportKind {}

impl TransportKind {
    /// A new connection's layer, for a broker taking packets of at most
    /// `maximum_packet_size` bytes.
    pub fn new_layer(&self, maximum_packet_size: u32) -> Result<TransportLayer, TransportError> {
        match self {
            TransportKind::Tcp => Ok(TransportLayer::Tcp(Tcp)),
            TransportKind::Tls(listener) => listener
                .new_session()
                .map(|session| TransportLayer::Tls(Box::new(Tls::new(session))))
                .map_err(|error| TransportError::new("tls", error)),
            TransportKind::Ws { path } => Ok(TransportLayer::Ws(Box::new(Ws::new(
                Tcp,
                Arc::clone(path),
                ws::frame_payload_max(maximum_packet_size),
            )))),
            TransportKind::Wss { listener, path } => listener
                .new_session()
                .map(|session| {
                    TransportLayer::Wss(Box::new(Ws::new(
                        Tls::new(session),
                        Arc::clone(path),
                        ws::frame_payload_max(maximum_packet_size),
                    )))
                })
                .map_err(|error| TransportError::new("tls", error)),
        }
    }

    /// The TLS listener whose connections take their client certificate's
    /// CN as the username, if this is one.
    pub fn identity_as_username(&self) -> Option<&TlsListener> {
        match self {
            TransportKind::Tls(listener) | TransportKind::Wss { listener, .. }
                if listener.uses_identity_as_username() =>
            {
                Some(listener)
            }
            _ => None,
        }
    }
}

/// The transport layer of one connection: an enum rather than a boxed
/// [`Transport`], so the per-read and per-write calls are a match the
/// compiler sees through and the layer moves with its connection as plain,
/// `Send` data. Layers with state are boxed, so a TCP connection's stays
/// small.
#[derive(Debug)]
pub enum TransportLayer {
    /// Plain TCP: wire bytes are MQTT bytes.
    Tcp(Tcp),
    /// TLS.
    Tls(Box<Tls>),
    /// WebSocket over TCP.
    Ws(Box<Ws<Tcp>>),
    /// WebSocket over TLS.
    Wss(Box<Ws<Tls>>),
}

impl TransportLayer {
    /// The TLS layer, if this is one or WebSocket runs over one.
    pub fn as_tls(&self) -> Option<&Tls> {
        match self {
            TransportLayer::Tls(tls) => Some(tls),
            TransportLayer::Wss(ws) => Some(ws.inner()),
            TransportLayer::Tcp(_) | TransportLayer::Ws(_) => None,
        }
    }
}

impl Default for TransportLayer {
    /// What a parked connection's task leaves behind in its place.
    fn default() -> Self {
        TransportLayer::Tcp(Tcp)
    }
}

impl Transport for TransportLayer {
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError> {
        match self {
            TransportLayer::Tcp(tcp) => tcp.receive(wire, plaintext),
            TransportLayer::Tls(tls) => tls.receive(wire, plaintext),
            TransportLayer::Ws(ws) => ws.receive(wire, plaintext),
            TransportLayer::Wss(ws) => ws.receive(wire, plaintext),
        }
    }

    fn plaintext_buffer<'a>(&'a mut self, wire: &'a mut WireOut) -> &'a mut BytesMut {
        match self {
            TransportLayer::Tcp(tcp) => tcp.plaintext_buffer(wire),
            TransportLayer::Tls(tls) => tls.plaintext_buffer(wire),
            TransportLayer::Ws(ws) => ws.plaintext_buffer(wire),
            TransportLayer::Wss(ws) => ws.plaintext_buffer(wire),
        }
    }

    fn seal(&mut self, wire: &mut WireOut) -> Result<(), TransportError> {
        match self {
            TransportLayer::Tcp(tcp) => tcp.seal(wire),
            TransportLayer::Tls(tls) => tls.seal(wire),
            TransportLayer::Ws(ws) => ws.seal(wire),
            TransportLayer::Wss(ws) => ws.seal(wire),
        }
    }

    fn wants_write(&self) -> bool {
        match self {
            TransportLayer::Tcp(tcp) => tcp.wants_write(),
            TransportLayer::Tls(tls) => tls.wants_write(),
            TransportLayer::Ws(ws) => ws.wants_write(),
            TransportLayer::Wss(ws) => ws.wants_write(),
        }
    }

    fn close(&mut self) {
        match self {
            TransportLayer::Tcp(tcp) => tcp.close(),
            TransportLayer::Tls(tls) => tls.close(),
            TransportLayer::Ws(ws) => ws.close(),
            TransportLayer::Wss(ws) => ws.close(),
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            TransportLayer::Tcp(tcp) => tcp.is_handshaking(),
            TransportLayer::Tls(tls) => tls.is_handshaking(),
            TransportLayer::Ws(ws) => ws.is_handshaking(),
            TransportLayer::Wss(ws) => ws.is_handshaking(),
        }
    }

    fn can_park(&self) -> bool {
        match self {
            TransportLayer::Tcp(tcp) => tcp.can_park(),
            TransportLayer::Tls(tls) => tls.can_park(),
            TransportLayer::Ws(ws) => ws.can_park(),
            TransportLayer::Wss(ws) => ws.can_park(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            TransportLayer::Tcp(tcp) => tcp.name(),
            TransportLayer::Tls(tls) => tls.name(),
            TransportLayer::Ws(ws) => ws.name(),
            TransportLayer::Wss(ws) => ws.name(),
        }
    }
}

/// Why a transport layer cannot go on: the connection ends.
#[derive(Debug)]
pub struct TransportError {
    /// The layer that failed, as [`Transport::name`] calls it.
    layer: &'static str,
    /// What failed, in the words of the layer's own error.
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TransportError {
    /// `source` made `layer` fail.
    pub fn new(
        layer: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TransportError {
        TransportError {
            layer,
            source: source.into(),
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} layer failed: {}", self.layer, self.source)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The wire bytes of a connection being written: sealed once by its layer,
/// then taken by the socket in as many writes as it needs.
#[derive(Debug, Default)]
pub struct WireOut {
    bytes: BytesMut,
    /// How much of `bytes` the socket took so far.
    written: usize,
    /// `bytes` carries a batch of the connection's packets, not only bytes
    /// of the layer's own.
    carries_batch: bool,
}

impl WireOut {
    /// Fills the empty buffer: `encode` encodes the next batch of packets
    /// into the buffer `layer` names and says whether it did, and `layer`
    /// seals that batch and whatever it wants to write on its own. True when
    /// there is something to write.
    pub fn fill<T: Transport>(
        &mut self,
        layer: &mut T,
        encode: impl FnOnce(&mut BytesMut) -> bool,
    ) -> Result<bool, TransportError> {
        assert!(
            self.is_empty(),
            "wire bytes are written out before the next"
        );
        let batch = encode(layer.plaintext_buffer(self));
        if !batch && !layer.wants_write() {
            return Ok(false);
        }
        layer.seal(self)?;
        assert!(
            !layer.wants_write(),
            "a layer seals all it wants to write at once"
        );
        // A failed layer drops the batch: nothing of it is then written.
        self.carries_batch = batch && !self.is_empty();
        Ok(!self.is_empty())
    }

    /// The bytes the socket has not taken yet.
    pub fn unwritten(&self) -> &[u8] {
        &self.bytes[self.written..]
    }

    /// The socket took `count` more bytes. True when that finished writing a
    /// batch of packets; the buffer is then empty and keeps its capacity for
    /// the next.
    pub fn advance(&mut self, count: usize) -> bool {
        assert!(
            count <= self.bytes.len() - self.written,
            "the socket took {count} bytes of {} left",
            self.bytes.len() - self.written
        );
        self.written += count;
        if self.written < self.bytes.len() {
            return false;
        }
        self.bytes.clear();
        self.written = 0;
        std::mem::take(&mut self.carries_batch)
    }

    /// True when nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Releases a large buffer once nothing is left to write.
    pub fn release_idle(&mut self) {
        if self.is_empty() && self.bytes.capacity() > limits::IDLE_BUFFER_KEEP_MAX {
            self.bytes = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests;
