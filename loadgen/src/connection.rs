//! One MQTT connection over a glommio socket: connecting (optionally from a
//! chosen local address), the transport's handshakes (TLS, WebSocket upgrade),
//! framing packets in and out through the shared codec, and batching writes so
//! that one flush carries every packet queued since the last.

use std::io;
use std::net::{IpAddr, SocketAddr};

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::IpBindAddressNoPort;
use shardmq::protocol::framing::read_variable_byte_integer;
use shardmq::protocol::{
    decode, encode, peek_frame, FrameHeader, Packet, PacketId, PacketType, ProtocolError,
    ProtocolVersion, Publish, PublishResponse, QoS,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::limits::{MAXIMUM_PACKET_SIZE, READ_CHUNK_MAX, READ_CHUNK_MIN};
use crate::payload::PayloadHeader;
use crate::read_buffer::ReadBuffer;
use crate::transport::{Connector, Layers};

/// An open MQTT connection.
pub struct Connection {
    stream: TcpStream,
    protocol_version: ProtocolVersion,
    /// TLS and WebSocket; `None` for plain TCP, whose bytes are read
    /// straight into `read_buffer` and written straight from `write_buffer`.
    layers: Option<Box<Layers>>,
    /// What the socket gave, before the layers decode it (not with plain TCP).
    wire_in: Vec<u8>,
    read_buffer: ReadBuffer,
    read_chunk: usize,
    write_buffer: BytesMut,
}

impl Connection {
    /// Opens a TCP connection to `broker`, from `bind` when given, with
    /// TCP_NODELAY set, with the transport layers of `connector`. The connect
    /// is started non-blocking and completes under the first write: a socket
    /// still connecting is not writable, so glommio's write waits for the
    /// handshake (or reports its failure). The layers' handshakes are
    /// [`start`](Connection::start)'s.
    pub fn open(
        broker: SocketAddr,
        bind: Option<IpAddr>,
        protocol_version: ProtocolVersion,
        connector: &Connector,
    ) -> io::Result<Connection> {
        let layers = connector.layers()?.map(Box::new);
        let socket = connecting_socket(broker, bind)?;
        Ok(Connection {
            stream: TcpStream::from(socket),
            protocol_version,
            layers,
            wire_in: Vec::new(),
            read_buffer: ReadBuffer::default(),
            read_chunk: READ_CHUNK_MIN,
            write_buffer: BytesMut::new(),
        })
    }

    /// Carries out the transport's handshakes: TLS, then the WebSocket
    /// upgrade. Nothing to do over plain TCP. An `InvalidData` error is the
    /// broker's answer refused (certificate, upgrade), any other an I/O one.
    pub async fn start(&mut self) -> io::Result<()> {
        loop {
            self.flush().await?;
            match &self.layers {
                Some(layers) if !layers.is_open() => {}
                _ => return Ok(()),
            }
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Whether the last TLS handshake resumed a session; `None` without TLS.
    pub fn tls_resumed(&self) -> Option<bool> {
        self.layers.as_ref()?.tls_resumed()
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

    /// Whether a [`flush`](Connection::flush) has anything to write: queued
    /// packets, or what the transport answers by itself (a pong, TLS
    /// records).
    pub fn wants_flush(&self) -> bool {
        !self.write_buffer.is_empty()
            || self
                .layers
                .as_ref()
                .is_some_and(|layers| !layers.wire_out().is_empty())
    }

    /// Writes every queued packet (through the transport's layers, in one
    /// WebSocket frame), and whatever the layers have to send.
    pub async fn flush(&mut self) -> io::Result<()> {
        let Some(layers) = &mut self.layers else {
            if !self.write_buffer.is_empty() {
                self.stream.write_all(&self.write_buffer).await?;
                self.write_buffer.clear();
            }
            return Ok(());
        };
        if !self.write_buffer.is_empty() {
            layers.send(&self.write_buffer)?;
            self.write_buffer.clear();
        }
        if !layers.wire_out().is_empty() {
            self.stream.write_all(layers.wire_out()).await?;
            layers.clear_wire_out();
        }
        Ok(())
    }

    /// Queues the transport's closing (WebSocket Close, TLS close_notify)
    /// after the queued packets, and writes it all.
    pub async fn close(&mut self) -> io::Result<()> {
        if let Some(layers) = &mut self.layers {
            if !self.write_buffer.is_empty() {
                layers.send(&self.write_buffer)?;
                self.write_buffer.clear();
            }
            layers.close()?;
        }
        self.flush().await
    }

    /// Reads what the socket has into the read buffer, through the
    /// transport's layers. Returns the bytes read from the socket; `Ok(0)` is
    /// the end of the stream, or the broker's closing of the WebSocket or
    /// TLS session. The chunk read at once grows while reads fill it, so that
    /// idle connections hold little memory and busy ones few syscalls.
    ///
    /// Cancel-safe: a read dropped before it completes leaves the buffer's
    /// unread bytes as they were.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        let chunk = self.read_chunk;
        let read = match &mut self.layers {
            None => {
                let read = self.stream.read(self.read_buffer.room(chunk)).await?;
                self.read_buffer.filled(read);
                read
            }
            Some(layers) => {
                if self.wire_in.len() < chunk {
                    self.wire_in.resize(chunk, 0);
                }
                let read = self.stream.read(&mut self.wire_in[..chunk]).await?;
                layers.receive(&self.wire_in[..read], &mut self.read_buffer)?;
                if layers.is_closed() {
                    // Best effort: the answering Close frame, then the end.
                    let _ = self.stream.write_all(layers.wire_out()).await;
                    layers.clear_wire_out();
                    return Ok(0);
                }
                read
            }
        };
        if read == chunk {
            self.read_chunk = (chunk * 2).min(READ_CHUNK_MAX);
        }
        Ok(read)
    }

    /// The next complete packet in the read buffer, if any.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ProtocolError> {
        let Some(header) = peek_frame(self.read_buffer.unread(), MAXIMUM_PACKET_SIZE)? else {
            return Ok(None);
        };
        let Some(frame) = self.read_buffer.take(header.frame_len()) else {
            return Ok(None);
        };
        // A copy of its own for the decoder, which splits what it decodes off
        // a `BytesMut`; the packets that come this way are few and small.
        let mut frame = BytesMut::from(frame);
        decode(&mut frame, self.protocol_version, MAXIMUM_PACKET_SIZE)?
            .map(Some)
            .ok_or(ProtocolError::LengthPastFrame)
    }

    /// The next complete packet in the read buffer, if any, with a PUBLISH
    /// read in place: only its QoS, packet identifier and payload header are
    /// taken, and its bytes are left behind without being copied. This is
    /// the receive path of every delivery, so it does per message only what
    /// the run's accounting needs; any other packet (and a PUBLISH relying on
    /// a topic alias) is decoded in full.
    pub fn next_incoming(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let unread = self.read_buffer.unread();
        let Some(header) = peek_frame(unread, MAXIMUM_PACKET_SIZE)? else {
            return Ok(None);
        };
        let Some(frame) = unread.get(..header.frame_len()) else {
            return Ok(None);
        };
        match header.packet_type {
            PacketType::Publish => {
                if let Some(summary) =
                    read_publish_in_place(frame, &header, self.protocol_version.is_v5())?
                {
                    self.read_buffer.consume(header.frame_len());
                    return Ok(Some(Incoming::Publish(summary)));
                }
            }
            // The short form of an acknowledgement, a packet identifier and
            // nothing else (Success under 5.0): no copy for the decoder.
            PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp
                if header.remaining_length == 2 =>
            {
                let id = &frame[header.header_len..];
                let packet_id = match u16::from_be_bytes([id[0], id[1]]) {
                    0 => return Err(ProtocolError::ZeroPacketId),
                    packet_id => packet_id,
                };
                self.read_buffer.consume(header.frame_len());
                let response = PublishResponse::success(packet_id);
                return Ok(Some(Incoming::Packet(match header.packet_type {
                    PacketType::PubAck => Packet::PubAck(response),
                    PacketType::PubRec => Packet::PubRec(response),
                    PacketType::PubRel => Packet::PubRel(response),
                    _ => Packet::PubComp(response),
                })));
            }
            _ => {}
        }
        Ok(self.next_packet()?.map(Incoming::Packet))
    }

    /// The protocol level this connection speaks.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }
}

/// A packet as [`Connection::next_incoming`] returns it.
#[derive(Debug)]
pub enum Incoming {
    /// A PUBLISH, of which only what loadgen acts on was read.
    Publish(PublishSummary),
    /// Any other packet, decoded in full.
    Packet(Packet),
}

/// What loadgen takes from a received PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishSummary {
    /// Its QoS.
    pub qos: QoS,
    /// Its packet identifier; `None` at QoS 0.
    pub packet_id: Option<PacketId>,
    /// Its payload's loadgen header; `None` when the payload has none.
    pub payload_header: Option<PayloadHeader>,
}

impl PublishSummary {
    /// The summary of a PUBLISH decoded in full.
    pub fn of(publish: &Publish) -> PublishSummary {
        PublishSummary {
            qos: publish.qos,
            packet_id: publish.packet_id,
            payload_header: PayloadHeader::read(&publish.payload),
        }
    }
}

/// Reads the PUBLISH in `frame` (complete, fixed header included) without
/// copying it. Checked as the full decoder checks them: the QoS and DUP
/// flags, the topic name's length and UTF-8, the packet identifier and the
/// properties' length. Not checked: the topic name's MQTT rules (no U+0000,
/// no wildcards) and the properties themselves, which a delivery's accounting
/// does not use. `Ok(None)` for a PUBLISH with an empty topic name (its topic
/// is an alias), which the full decoder handles.
fn read_publish_in_place(
    frame: &[u8],
    header: &FrameHeader,
    v5: bool,
) -> Result<Option<PublishSummary>, ProtocolError> {
    let qos = QoS::from_u8((header.flags >> 1) & 0x03).ok_or(ProtocolError::PublishQosInvalid)?;
    if header.flags & 0x08 != 0 && qos == QoS::AtMostOnce {
        return Err(ProtocolError::DupOnQos0);
    }
    let body = &frame[header.header_len..];
    let topic_len = match body.get(..2) {
        Some(len) => usize::from(u16::from_be_bytes([len[0], len[1]])),
        None => return Err(ProtocolError::LengthPastFrame),
    };
    if topic_len == 0 {
        return Ok(None);
    }
    let topic = body
        .get(2..2 + topic_len)
        .ok_or(ProtocolError::LengthPastFrame)?;
    std::str::from_utf8(topic).map_err(|_| ProtocolError::InvalidUtf8)?;
    let mut at = 2 + topic_len;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        let id = body.get(at..at + 2).ok_or(ProtocolError::LengthPastFrame)?;
        let id = u16::from_be_bytes([id[0], id[1]]);
        if id == 0 {
            return Err(ProtocolError::ZeroPacketId);
        }
        at += 2;
        Some(id)
    };
    if v5 {
        let (properties_len, len_len) =
            read_variable_byte_integer(&body[at..])?.ok_or(ProtocolError::LengthPastFrame)?;
        at += len_len;
        at = at
            .checked_add(properties_len as usize)
            .filter(|&end| end <= body.len())
            .ok_or(ProtocolError::LengthPastFrame)?;
    }
    Ok(Some(PublishSummary {
        qos,
        packet_id,
        payload_header: PayloadHeader::read(&body[at..]),
    }))
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

    use bytes::Bytes;
    use shardmq::protocol::PublishProperties;

    /// A connection-less reader of frames, as `next_incoming` reads them.
    fn read_in_place(frame: &[u8], v5: bool) -> Result<Option<PublishSummary>, ProtocolError> {
        let header = peek_frame(frame, MAXIMUM_PACKET_SIZE)?.expect("a whole fixed header");
        assert_eq!(header.frame_len(), frame.len());
        read_publish_in_place(frame, &header, v5)
    }

    fn publish(qos: QoS, topic: &str, properties: Option<PublishProperties>) -> Publish {
        let header = PayloadHeader {
            intended_ns: 123_456_789,
            sequence: 42,
            publisher_index: 7,
        };
        Publish {
            dup: false,
            qos,
            retain: false,
            topic_name: topic.into(),
            packet_id: (qos != QoS::AtMostOnce).then_some(513),
            properties: properties.and_then(PublishProperties::boxed),
            payload: header.write_payload(64, &mut BytesMut::new()),
        }
    }

    fn frame(publish: &Publish, version: ProtocolVersion) -> BytesMut {
        let mut wire = BytesMut::new();
        encode(&Packet::Publish(publish.clone()), version, &mut wire).unwrap();
        wire
    }

    #[test]
    fn a_publish_read_in_place_says_what_the_full_decoder_says() {
        let with_properties = PublishProperties {
            message_expiry_interval_s: Some(30),
            response_topic: Some("reply/here".into()),
            correlation_data: Some(Bytes::from_static(b"xyz")),
            subscription_identifiers: vec![5, 900].into(),
            ..Default::default()
        };
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                for properties in [None, Some(with_properties.clone())] {
                    let sent = publish(qos, "load/ü/7", properties);
                    let mut wire = frame(&sent, version);
                    let summary = read_in_place(&wire, version.is_v5()).unwrap().unwrap();
                    let Some(Packet::Publish(decoded)) =
                        decode(&mut wire, version, MAXIMUM_PACKET_SIZE).unwrap()
                    else {
                        panic!("not a PUBLISH");
                    };
                    assert_eq!(summary, PublishSummary::of(&decoded), "{version:?} {qos:?}");
                    assert_eq!(summary.payload_header.unwrap().sequence, 42);
                }
            }
        }
    }

    #[test]
    fn a_malformed_publish_is_refused_in_place_as_the_full_decoder_refuses_it() {
        let valid = frame(&publish(QoS::AtLeastOnce, "t", None), ProtocolVersion::V5).to_vec();
        // Fixed header 0x32 len; topic length 00 01, "t", packet id 02 01,
        // properties length 00, payload.
        let mut qos_3 = valid.clone();
        qos_3[0] = 0x36;
        let mut dup_at_qos_0 = frame(&publish(QoS::AtMostOnce, "t", None), ProtocolVersion::V5);
        dup_at_qos_0[0] |= 0x08;
        let mut topic_past_frame = valid.clone();
        topic_past_frame[3] = 0xFF;
        let mut zero_packet_id = valid.clone();
        zero_packet_id[5] = 0;
        zero_packet_id[6] = 0;
        let mut properties_past_frame = valid.clone();
        properties_past_frame[7] = 0x7F;
        let mut bad_utf8 = valid.clone();
        bad_utf8[4] = 0xFF;
        let cases: [(&str, &[u8]); 6] = [
            ("QoS 3", &qos_3),
            ("DUP at QoS 0", &dup_at_qos_0),
            ("topic past the frame", &topic_past_frame),
            ("packet id 0", &zero_packet_id),
            ("properties past the frame", &properties_past_frame),
            ("topic not UTF-8", &bad_utf8),
        ];
        for (case, wire) in cases {
            let in_place = read_in_place(wire, true);
            let full = decode(
                &mut BytesMut::from(wire),
                ProtocolVersion::V5,
                MAXIMUM_PACKET_SIZE,
            );
            assert!(in_place.is_err(), "{case}: read in place as {in_place:?}");
            assert!(full.is_err(), "{case}: the full decoder took it");
        }
    }

    /// `next_incoming` over `wire`, on a connection that never connects.
    fn incoming(wire: &[u8], version: ProtocolVersion) -> Result<Option<Incoming>, ProtocolError> {
        let mut buffer = ReadBuffer::default();
        buffer.put(wire);
        let executor = glommio::LocalExecutorBuilder::default().make().unwrap();
        executor.run(async move {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            let mut connection = Connection {
                stream: TcpStream::from(socket),
                protocol_version: version,
                layers: None,
                wire_in: Vec::new(),
                read_buffer: buffer,
                read_chunk: READ_CHUNK_MIN,
                write_buffer: BytesMut::new(),
            };
            let first = connection.next_incoming();
            assert!(connection.read_buffer.unread().is_empty() || first.is_err());
            first
        })
    }

    #[test]
    fn an_acknowledgement_reads_as_the_full_decoder_reads_it() {
        use shardmq::protocol::ReasonCode;
        type Build = fn(PublishResponse) -> Packet;
        let kinds: [(Build, ReasonCode); 4] = [
            (Packet::PubAck, ReasonCode::QuotaExceeded),
            (Packet::PubRec, ReasonCode::QuotaExceeded),
            (Packet::PubRel, ReasonCode::PacketIdentifierNotFound),
            (Packet::PubComp, ReasonCode::PacketIdentifierNotFound),
        ];
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for (build, failure) in kinds {
                let mut responses = vec![PublishResponse::success(9)];
                if version.is_v5() {
                    responses.push(PublishResponse {
                        reason_code: failure,
                        ..PublishResponse::success(9)
                    });
                }
                for response in responses {
                    let packet = build(response);
                    let mut wire = BytesMut::new();
                    encode(&packet, version, &mut wire).unwrap();
                    let read = incoming(&wire, version).unwrap();
                    assert!(
                        matches!(&read, Some(Incoming::Packet(p)) if *p == packet),
                        "{version:?}: {packet:?} read as {read:?}"
                    );
                }
            }
            let zero_id = [0x40, 0x02, 0x00, 0x00];
            assert!(incoming(&zero_id, version).is_err());
        }
    }

    #[test]
    fn a_publish_under_a_topic_alias_is_left_to_the_full_decoder() {
        let aliased = publish(
            QoS::AtMostOnce,
            "",
            Some(PublishProperties {
                topic_alias: Some(3),
                ..Default::default()
            }),
        );
        let wire = frame(&aliased, ProtocolVersion::V5);
        assert_eq!(read_in_place(&wire, true).unwrap(), None);
    }

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
