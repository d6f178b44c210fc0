//! One MQTT connection over a glommio socket: connecting (optionally from a
//! chosen local address), framing packets in and out through the shared codec,
//! and batching writes so that one flush carries every packet queued since the
//! last.

use std::io;
use std::net::{IpAddr, SocketAddr};

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::IpBindAddressNoPort;
use shardmq::protocol::{decode, encode, Packet, ProtocolError, ProtocolVersion};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::limits::{MAXIMUM_PACKET_SIZE, READ_CHUNK_MAX, READ_CHUNK_MIN};

/// An open MQTT connection.
pub struct Connection {
    stream: TcpStream,
    protocol_version: ProtocolVersion,
    read_buffer: BytesMut,
    read_chunk: usize,
    write_buffer: BytesMut,
}

impl Connection {
    /// Opens a TCP connection to `broker`, from `bind` when given, with
    /// TCP_NODELAY set. The connect is started non-blocking and completes
    /// under the first write: a socket still connecting is not writable, so
    /// glommio's write waits for the handshake (or reports its failure).
    pub fn open(
        broker: SocketAddr,
        bind: Option<IpAddr>,
        protocol_version: ProtocolVersion,
    ) -> io::Result<Connection> {
        let socket = connecting_socket(broker, bind)?;
        Ok(Connection {
            stream: TcpStream::from(socket),
            protocol_version,
            read_buffer: BytesMut::new(),
            read_chunk: READ_CHUNK_MIN,
            write_buffer: BytesMut::new(),
        })
    }

    /// Encodes `packet` into the write buffer; nothing is sent until [`flush`].
    ///
    /// [`flush`]: Connection::flush
    pub fn queue(&mut self, packet: &Packet) {
        encode(packet, self.protocol_version, &mut self.write_buffer)
            .expect("loadgen only builds packets the codec can encode");
    }

    /// Bytes queued and not yet flushed.
    pub fn queued_len(&self) -> usize {
        self.write_buffer.len()
    }

    /// Writes every queued packet.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buffer.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write_buffer).await?;
        self.write_buffer.clear();
        Ok(())
    }

    /// Reads what the socket has into the read buffer. `Ok(0)` is the end of
    /// the stream. The chunk read at once grows while reads fill it, so that
    /// idle connections hold little memory and busy ones few syscalls.
    ///
    /// Cancel-safe: a read dropped before it completes (its race against a
    /// timer lost) leaves the buffer as it was.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        let filled = self.read_buffer.len();
        self.read_buffer.resize(filled + self.read_chunk, 0);
        let mut guard = FilledGuard {
            buffer: &mut self.read_buffer,
            filled,
        };
        let result = self.stream.read(&mut guard.buffer[filled..]).await;
        if let Ok(read) = result {
            guard.filled += read;
            if read == self.read_chunk {
                self.read_chunk = (self.read_chunk * 2).min(READ_CHUNK_MAX);
            }
        }
        result
    }

    /// The next complete packet in the read buffer, if any.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ProtocolError> {
        decode(
            &mut self.read_buffer,
            self.protocol_version,
            MAXIMUM_PACKET_SIZE,
        )
    }

    /// The protocol level this connection speaks.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }
}

/// Cuts the read buffer back to the bytes actually read, however the read ends.
struct FilledGuard<'a> {
    buffer: &'a mut BytesMut,
    filled: usize,
}

impl Drop for FilledGuard<'_> {
    fn drop(&mut self) {
        self.buffer.truncate(self.filled);
    }
}

/// A socket connecting (non-blocking) to `broker`, from `bind` when given,
/// with TCP_NODELAY set.
fn connecting_socket(broker: SocketAddr, bind: Option<IpAddr>) -> io::Result<Socket> {
    let domain = if broker.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let mut socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    if let Some(ip) = bind {
        if ip.is_ipv4() {
            // Leave the port to connect(), which may reuse one held by a
            // TIME_WAIT socket of another 4-tuple. bind() alone reserves a
            // port of its own: with tens of thousands in TIME_WAIT after a
            // previous run, connections then stalled for seconds. Best
            // effort: without it, bind() works as before. (This socket2 has
            // no `AsFd`; std's stream holds the fd meanwhile.)
            let held = std::net::TcpStream::from(socket);
            let _ = setsockopt(&held, IpBindAddressNoPort, &true);
            socket = Socket::from(held);
        }
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(broker)) {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(error) => return Err(error),
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;

    #[test]
    fn a_bound_client_leaves_its_port_to_connect_and_still_connects() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let broker = listener.local_addr().unwrap();
        let socket = connecting_socket(broker, Some("127.0.0.2".parse().unwrap())).unwrap();
        let socket = std::net::TcpStream::from(socket);
        assert!(getsockopt(&socket, IpBindAddressNoPort).unwrap());
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
        assert_ne!(peer.port(), 0);
    }
}
