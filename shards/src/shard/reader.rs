//! Reading a new connection's CONNECT on the accepting shard, and the hand-off
//! to its home shard; the packets after it are read by the connection's task
//! there (see [`super::task`]).
//!
//! Reads go through the shard's one scratch buffer and only the bytes received
//! are kept: a connection waiting for its CONNECT holds no read buffer.

use std::future::poll_fn;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use futures_lite::{future, AsyncRead};
use glommio::net::TcpStream;
use shardmq::protocol::{decode, Connect, Packet, ProtocolError, ProtocolVersion, ReasonCode};

use super::Shard;
use crate::transport::TransportLayer;

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
    /// Bytes read after the CONNECT packet.
    pub buffered: BytesMut,
    /// The transport layer state.
    pub transport: TransportLayer,
}

/// Why a connection ended before its CONNECT was accepted.
enum PreConnectError {
    Io(io::Error),
    Protocol(ProtocolError),
    NotConnect,
    Closed,
    TimedOut,
}

impl std::fmt::Display for PreConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreConnectError::Io(error) => write!(f, "read failed: {error}"),
            PreConnectError::Protocol(error) => write!(f, "malformed CONNECT: {error}"),
            PreConnectError::NotConnect => {
                f.write_str("first packet is not CONNECT [MQTT-3.1.0-1]")
            }
            PreConnectError::Closed => f.write_str("closed by the client"),
            PreConnectError::TimedOut => f.write_str("no CONNECT within the connect timeout"),
        }
    }
}

/// Serves a freshly accepted socket: reads CONNECT, then runs the connection here
/// or hands it to its home shard.
pub async fn serve_accepted(shard: Rc<Shard>, socket: std::net::TcpStream, peer: SocketAddr) {
    if let Err(error) = socket.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let mut reader = match socket.try_clone() {
        Ok(duplicate) => TcpStream::from(socket2::Socket::from(duplicate)),
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot duplicate the accepted socket");
            return;
        }
    };
    let mut transport = TransportLayer::Tcp;
    let mut buffered = BytesMut::new();
    let timeout = Duration::from_millis(shard.config.connect_timeout_ms);
    let connect = future::or(
        read_connect(&shard, &mut reader, &mut transport, &mut buffered),
        async {
            glommio::timer::sleep(timeout).await;
            Err(PreConnectError::TimedOut)
        },
    )
    .await;
    let mut connect = match connect {
        Ok(connect) => connect,
        Err(error) => {
            if let PreConnectError::Protocol(protocol_error) = &error {
                shard.stats.malformed_packet();
                if protocol_error.reason_code() == ReasonCode::UnsupportedProtocolVersion {
                    refuse_protocol_level(&socket);
                }
            }
            tracing::debug!(%peer, %error, "connection closed before CONNECT");
            return;
        }
    };
    drop(reader);
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
    });
}

/// CONNACK with return code 0x01 (unacceptable protocol level) in the 3.1.1
/// layout, the one a client of an unknown level can be expected to read
/// [MQTT-3.1.2-2].
const CONNACK_UNSUPPORTED_PROTOCOL_LEVEL: [u8; 4] = [0x20, 0x02, 0x00, 0x01];

/// Tells a client of an unknown protocol level why it is refused. The four
/// bytes fit any fresh socket's send buffer, and the socket is non-blocking so
/// a peer that is not reading cannot hold the shard.
fn refuse_protocol_level(socket: &std::net::TcpStream) {
    let written = socket
        .set_nonblocking(true)
        .and_then(|()| (&*socket).write(&CONNACK_UNSUPPORTED_PROTOCOL_LEVEL));
    if let Err(error) = written {
        tracing::debug!(%error, "cannot send CONNACK 0x01");
    }
}

async fn read_connect(
    shard: &Shard,
    reader: &mut TcpStream,
    transport: &mut TransportLayer,
    buffered: &mut BytesMut,
) -> Result<Box<Connect>, PreConnectError> {
    loop {
        let inbound = transport.inbound(buffered);
        // CONNECT is decoded at the level it announces itself.
        match decode(
            inbound,
            ProtocolVersion::V5,
            shard.config.maximum_packet_size,
        ) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => return Err(PreConnectError::NotConnect),
            Ok(None) => {}
            Err(error) => return Err(PreConnectError::Protocol(error)),
        }
        match read_some(shard, reader, buffered).await {
            Ok(0) => return Err(PreConnectError::Closed),
            Ok(_) => {}
            Err(error) => return Err(PreConnectError::Io(error)),
        }
    }
}

/// Reads once into the shard's scratch buffer and appends what came to `buffered`.
/// `Ok(0)` is end of stream.
async fn read_some(
    shard: &Shard,
    reader: &mut TcpStream,
    buffered: &mut BytesMut,
) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut scratch = shard.read_scratch.borrow_mut();
        match Pin::new(&mut *reader).poll_read(cx, &mut scratch[..]) {
            Poll::Ready(Ok(count)) => {
                buffered.extend_from_slice(&scratch[..count]);
                Poll::Ready(Ok(count))
            }
            other => other,
        }
    })
    .await
}
