//! Transport layers between the socket and the MQTT codec, as plain state over
//! byte buffers.
//!
//! The connection loop reads wire bytes into a buffer, asks the layer for the
//! buffer holding MQTT bytes, and does the reverse for writes. A layer owns no
//! socket, so a connection (socket + layer state + buffers) can move between
//! shards as data. TCP is the identity layer and costs no copy; TLS
//! (`rustls::ServerConnection` driven by `read_tls`/`write_tls`) and WebSocket
//! framing become further variants without changing the connection loop.

use bytes::BytesMut;

/// The transport layer of one connection.
#[derive(Debug, Default)]
pub enum TransportLayer {
    /// Plain TCP: wire bytes are MQTT bytes.
    #[default]
    Tcp,
}

impl TransportLayer {
    /// The buffer holding decoded MQTT bytes after `wire` received new bytes.
    /// For TCP it is `wire` itself.
    pub fn inbound<'a>(&'a mut self, wire: &'a mut BytesMut) -> &'a mut BytesMut {
        match self {
            TransportLayer::Tcp => wire,
        }
    }

    /// The buffer of wire bytes to write for the MQTT bytes in `plaintext`.
    /// For TCP it is `plaintext` itself.
    pub fn outbound<'a>(&'a mut self, plaintext: &'a mut BytesMut) -> &'a mut BytesMut {
        match self {
            TransportLayer::Tcp => plaintext,
        }
    }

    /// True when the layer holds no state a parked connection would lose:
    /// it can be kept beside the socket and handed to the next task.
    pub fn can_park(&self) -> bool {
        match self {
            TransportLayer::Tcp => true,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            TransportLayer::Tcp => "tcp",
        }
    }
}
