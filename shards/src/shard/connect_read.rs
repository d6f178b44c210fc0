//! Reading a new connection's CONNECT on the accepting shard, and the hand-off
//! to its home shard; the packets after it are read by the connection's task
//! there (see [`super::task`]).
//!
//! The connection's transport layer is made here, from its listener's kind,
//! and every byte read passes through it: a handshake (TLS, a WebSocket
//! upgrade) runs before the CONNECT, so what the layer wants to write is
//! written before the next read. The layer then travels with the connection.
//! The connect timeout covers the handshake too.
//!
//! Reads go through the shard's one scratch buffer and only the MQTT bytes
//! received are kept: a connection waiting for its CONNECT holds no read
//! buffer.

use std::future::poll_fn;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use futures_lite::{future, AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use shardmq::protocol::{decode, Connect, Packet, ProtocolError, ProtocolVersion, ReasonCode};

use super::Shard;
use crate::transport::{Transport, TransportError, TransportKind, TransportLayer, WireOut};

/// A connection on its way to its home shard: what crosses the ring.
#[derive(Debug)]
pub struct HandOff {
    /// The socket; `std::net::TcpStream` is `Send`.
    pub socket: std::net::TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// The decoded CONNECT.
    pub connect: Box<Connect>,
    /// The id generated for a client that sent none.
    pub assigned_client_id: Option<bytestring::ByteString>,
    /// MQTT bytes received after the CONNECT packet.
    pub buffered: BytesMut,
    /// The transport layer state.
    pub transport: TransportLayer,
    /// The client certificate's identity, when its listener takes it as the username.
    pub certificate_identity: Option<bytestring::ByteString>,
}

/// Why a connection ended before its CONNECT was accepted.
enum PreConnectError {
    Io(io::Error),
    Write(io::Error),
    Transport(TransportError),
    Protocol(ProtocolError),
    NotConnect,
    Closed,
    TimedOut,
}

impl std::fmt::Display for PreConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreConnectError::Io(error) => write!(f, "read failed: {error}"),
            PreConnectError::Write(error) => write!(f, "write failed: {error}"),
            PreConnectError::Transport(error) => error.fmt(f),
            PreConnectError::Protocol(error) => write!(f, "malformed CONNECT: {error}"),
            PreConnectError::NotConnect => {
                f.write_str("first packet is not CONNECT [MQTT-3.1.0-1]")
            }
            PreConnectError::Closed => f.write_str("closed by the client"),
            PreConnectError::TimedOut => f.write_str("no CONNECT within the connect timeout"),
        }
    }
}

/// Serves a freshly accepted socket of a listener of `kind`: reads CONNECT,
/// then runs the connection here or hands it to its home shard.
pub async fn serve_accepted(
    shard: Rc<Shard>,
    socket: std::net::TcpStream,
    peer: SocketAddr,
    kind: TransportKind,
) {
    if let Err(error) = socket.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let mut transport = match kind.new_layer() {
        Ok(transport) => transport,
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot start the connection's transport layer");
            return;
        }
    };
    let mut stream = match socket.try_clone() {
        Ok(duplicate) => TcpStream::from(socket2::Socket::from(duplicate)),
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot duplicate the accepted socket");
            return;
        }
    };
    let mut buffered = BytesMut::new();
    let timeout = Duration::from_millis(shard.config.connect_timeout_ms);
    let connect = future::or(
        read_connect(&shard, &mut stream, &mut transport, &mut buffered),
        async {
            glommio::timer::sleep(timeout).await;
            Err(PreConnectError::TimedOut)
        },
    )
    .await;
    let mut connect = match connect {
        Ok(connect) => connect,
        Err(error) => {
            match &error {
                PreConnectError::Protocol(protocol_error) => {
                    shard.stats.malformed_packets.add(1);
                    if protocol_error.reason_code() == ReasonCode::UnsupportedProtocolVersion {
                        write_last_words(
                            &socket,
                            &mut transport,
                            &CONNACK_UNSUPPORTED_PROTOCOL_LEVEL,
                        );
                    }
                }
                // A failed layer may have an alert to send.
                PreConnectError::Transport(_) => write_last_words(&socket, &mut transport, &[]),
                _ => {}
            }
            tracing::debug!(
                %peer,
                transport = transport.name(),
                handshaking = transport.is_handshaking(),
                %error,
                "connection closed before CONNECT"
            );
            return;
        }
    };
    drop(stream);
    // The client id lives as long as the session: in an allocation of its
    // own it keeps its few bytes, not the whole CONNECT frame it was read from
    // (with the frame's shared header, 70 bytes for a short CONNECT).
    connect.client_id = ByteString::from(&*connect.client_id);
    // Attaching may take over a session and publish its will.
    shard.mesh.wait_uncongested().await;
    shard.route_connection(HandOff {
        socket,
        peer,
        connect,
        assigned_client_id: None,
        buffered,
        transport,
        certificate_identity: None,
    });
}

/// CONNACK with return code 0x01 (unacceptable protocol level) in the 3.1.1
/// layout, the one a client of an unknown level can be expected to read
/// [MQTT-3.1.2-2].
const CONNACK_UNSUPPORTED_PROTOCOL_LEVEL: [u8; 4] = [0x20, 0x02, 0x00, 0x01];

/// Sends `plaintext` (a CONNACK refusing the client, or nothing) and what
/// the transport layer still wants to write (an alert) to a client about to
/// be dropped, in one write. That fits any fresh socket's send buffer, and
/// the socket is non-blocking so a peer that is not reading cannot hold the
/// shard.
fn write_last_words(
    socket: &std::net::TcpStream,
    transport: &mut TransportLayer,
    plaintext: &[u8],
) {
    let mut wire = WireOut::default();
    let filled = wire.fill(transport, |buffer| {
        buffer.extend_from_slice(plaintext);
        !plaintext.is_empty()
    });
    let written = match filled {
        Ok(false) => return,
        Ok(true) => socket
            .set_nonblocking(true)
            .and_then(|()| (&*socket).write(wire.unwritten())),
        Err(error) => Err(io::Error::other(error)),
    };
    if let Err(error) = written {
        tracing::debug!(%error, "cannot send the last words before closing");
    }
}

/// Reads until the CONNECT is received, writing what the transport layer
/// wants to write (a handshake) before each read.
async fn read_connect(
    shard: &Shard,
    stream: &mut TcpStream,
    transport: &mut TransportLayer,
    buffered: &mut BytesMut,
) -> Result<Box<Connect>, PreConnectError> {
    let mut wire = WireOut::default();
    loop {
        // CONNECT is decoded at the level it announces itself.
        match decode(
            buffered,
            ProtocolVersion::V5,
            shard.config.maximum_packet_size,
        ) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => return Err(PreConnectError::NotConnect),
            Ok(None) => {}
            Err(error) => return Err(PreConnectError::Protocol(error)),
        }
        write_wanted(stream, transport, &mut wire).await?;
        if read_some(shard, stream, transport, buffered).await? == 0 {
            return Err(PreConnectError::Closed);
        }
    }
}

/// Writes everything the transport layer wants to write on its own.
async fn write_wanted(
    stream: &mut TcpStream,
    transport: &mut TransportLayer,
    wire: &mut WireOut,
) -> Result<(), PreConnectError> {
    while wire
        .fill(transport, |_| false)
        .map_err(PreConnectError::Transport)?
    {
        while !wire.is_empty() {
            let count = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, wire.unwritten()))
                .await
                .map_err(PreConnectError::Write)?;
            if count == 0 {
                return Err(PreConnectError::Write(io::ErrorKind::WriteZero.into()));
            }
            wire.advance(count);
        }
    }
    Ok(())
}

/// Reads once into the shard's scratch buffer and hands what came to the
/// transport layer, which appends the MQTT bytes it carries to `buffered`.
/// `Ok(0)` is end of stream.
async fn read_some(
    shard: &Shard,
    stream: &mut TcpStream,
    transport: &mut TransportLayer,
    buffered: &mut BytesMut,
) -> Result<usize, PreConnectError> {
    poll_fn(|cx| {
        let mut scratch = shard.read_scratch.borrow_mut();
        let count = match Pin::new(&mut *stream).poll_read(cx, &mut scratch[..]) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(PreConnectError::Io(error))),
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
            Poll::Ready(Ok(count)) => count,
        };
        Poll::Ready(
            transport
                .receive(&scratch[..count], buffered)
                .map(|()| count)
                .map_err(PreConnectError::Transport),
        )
    })
    .await
}
