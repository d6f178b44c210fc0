//! What carries MQTT between loadgen and the broker: plain TCP, TLS,
//! WebSocket, or WebSocket over TLS. The layers are sans-I/O: the
//! connection reads and writes its socket as over plain TCP and hands the
//! bytes through [`Layers`], so batching and timing are the same for every
//! transport.
//!
//! - [`tls`]: the rustls client configuration, one per shard.
//! - [`websocket`]: the upgrade and the frames.

pub mod tls;
pub mod websocket;

use std::io::{self, Read, Write};
use std::path::PathBuf;

use rustls::ClientConnection;

use crate::read_buffer::ReadBuffer;
use tls::TlsClient;
use websocket::{FrameDecoder, Opcode};

/// How connections reach the broker; the default is plain TCP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportOptions {
    /// TLS around the connection (or around the WebSocket).
    pub tls: Option<TlsOptions>,
    /// MQTT inside WebSocket frames.
    pub websocket: Option<WebSocketOptions>,
}

impl TransportOptions {
    /// The transport's name in reports: tcp, tls, ws or wss.
    pub fn name(&self) -> &'static str {
        match (self.tls.is_some(), self.websocket.is_some()) {
            (false, false) => "tcp",
            (true, false) => "tls",
            (false, true) => "ws",
            (true, true) => "wss",
        }
    }
}

/// TLS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates (PEM) the broker's certificate must chain to;
    /// required unless `insecure`.
    pub ca_file: Option<PathBuf>,
    /// Accept any broker certificate (self-signed benchmark brokers).
    pub insecure: bool,
    /// A client certificate, for brokers that ask for one.
    pub client_certificate: Option<ClientCertificate>,
    /// The name sent in SNI and checked against the broker's certificate (a
    /// DNS name or an IP address).
    pub server_name: String,
}

/// A client certificate chain and its key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// WebSocket settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// The request path, `/mqtt` by convention.
    pub path: String,
    /// The `Host` header, `host:port`.
    pub host: String,
}

/// What one shard needs to open connections of the scenario's transport:
/// the files are read once, before the run starts.
#[derive(Clone, Debug, Default)]
pub struct Connector {
    tls: Option<TlsClient>,
    websocket: Option<WebSocketOptions>,
}

impl Connector {
    /// Reads what `options` name; `Err` says which option and file is at fault.
    pub fn new(options: &TransportOptions) -> Result<Connector, String> {
        Ok(Connector {
            tls: options.tls.as_ref().map(TlsClient::new).transpose()?,
            websocket: options.websocket.clone(),
        })
    }

    /// This connector for one shard, with a TLS resumption store of its own.
    pub fn for_shard(&self) -> Connector {
        Connector {
            tls: self.tls.as_ref().map(TlsClient::for_shard),
            websocket: self.websocket.clone(),
        }
    }

    /// The layers of a new connection: `None` for plain TCP. The TLS
    /// ClientHello and the WebSocket upgrade request are queued already.
    pub fn layers(&self) -> io::Result<Option<Layers>> {
        if self.tls.is_none() && self.websocket.is_none() {
            return Ok(None);
        }
        let tls = match &self.tls {
            Some(client) => {
                let mut connection =
                    ClientConnection::new(client.config.clone(), client.server_name.clone())
                        .map_err(invalid_data)?;
                // Write batches are bounded by the publisher; the encrypted
                // bytes are taken out after every batch.
                connection.set_buffer_limit(None);
                Some(Box::new(connection))
            }
            None => None,
        };
        let mut layers = Layers {
            tls,
            websocket: None,
            frame_out: Vec::new(),
            wire_out: Vec::new(),
            tls_plain: ReadBuffer::default(),
            tls_closed: false,
        };
        if let Some(options) = &self.websocket {
            let key: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            let (request, expected_accept) =
                websocket::upgrade_request(&options.host, &options.path, &key);
            layers.websocket = Some(WebSocketState::Upgrading {
                expected_accept,
                answer: Vec::new(),
            });
            layers.send_below_websocket(&request)?;
        }
        layers.take_tls_output()?;
        Ok(Some(layers))
    }
}

/// Where a connection's WebSocket stands.
#[derive(Debug)]
enum WebSocketState {
    /// The upgrade request is sent; the answer is read into `answer`.
    Upgrading {
        expected_accept: String,
        answer: Vec<u8>,
    },
    /// Frames flow.
    Open(FrameDecoder),
}

/// One connection's transport layers above TCP, sans-I/O: MQTT bytes go in
/// through [`send`](Layers::send) and come out of
/// [`receive`](Layers::receive); the bytes for the socket wait in
/// [`wire_out`](Layers::wire_out).
pub struct Layers {
    tls: Option<Box<ClientConnection>>,
    websocket: Option<WebSocketState>,
    /// WebSocket frames on their way into TLS (wss only).
    frame_out: Vec<u8>,
    /// Bytes for the socket.
    wire_out: Vec<u8>,
    /// TLS plaintext on its way to the WebSocket layer (wss only).
    tls_plain: ReadBuffer,
    /// The broker sent TLS close_notify.
    tls_closed: bool,
}

impl Layers {
    /// True once the TLS handshake and the WebSocket upgrade are done.
    pub fn is_open(&self) -> bool {
        let tls_done = !self.tls.as_ref().is_some_and(|tls| tls.is_handshaking());
        let websocket_done = !matches!(self.websocket, Some(WebSocketState::Upgrading { .. }));
        tls_done && websocket_done
    }

    /// True once the broker closed the WebSocket or the TLS session.
    pub fn is_closed(&self) -> bool {
        self.tls_closed
            || matches!(&self.websocket, Some(WebSocketState::Open(frames)) if frames.is_closed())
    }

    /// Whether the last handshake resumed a TLS session; `None` without TLS
    /// or before the handshake ends.
    pub fn tls_resumed(&self) -> Option<bool> {
        let kind = self.tls.as_ref()?.handshake_kind()?;
        Some(kind == rustls::HandshakeKind::Resumed)
    }

    /// Bytes waiting for the socket.
    pub fn wire_out(&self) -> &[u8] {
        &self.wire_out
    }

    /// Forgets the bytes of [`wire_out`](Layers::wire_out), once written.
    pub fn clear_wire_out(&mut self) {
        self.wire_out.clear();
    }

    /// Puts MQTT bytes on their way: one WebSocket frame for all of them,
    /// then TLS.
    pub fn send(&mut self, mqtt: &[u8]) -> io::Result<()> {
        match &self.websocket {
            Some(_) => {
                let target = if self.tls.is_some() {
                    &mut self.frame_out
                } else {
                    &mut self.wire_out
                };
                websocket::encode_frame(Opcode::Binary, mqtt, websocket::random_mask(), target);
                if self.tls.is_some() {
                    let frames = std::mem::take(&mut self.frame_out);
                    self.send_below_websocket(&frames)?;
                    self.frame_out = frames;
                    self.frame_out.clear();
                }
            }
            None => self.send_below_websocket(mqtt)?,
        }
        self.take_tls_output()
    }

    /// Queues the closing of the layers: a WebSocket Close frame (1000,
    /// normal closure) and TLS close_notify.
    pub fn close(&mut self) -> io::Result<()> {
        if let Some(WebSocketState::Open(frames)) = &self.websocket {
            if !frames.is_closed() {
                let mut frame = Vec::new();
                let normal_closure = 1000u16.to_be_bytes();
                websocket::encode_frame(
                    Opcode::Close,
                    &normal_closure,
                    websocket::random_mask(),
                    &mut frame,
                );
                self.send_below_websocket(&frame)?;
            }
        }
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
        self.take_tls_output()
    }

    /// Reads bytes from the socket: MQTT bytes go to `mqtt`, and whatever
    /// the layers answer (TLS handshake records, pongs) to
    /// [`wire_out`](Layers::wire_out).
    pub fn receive(&mut self, wire: &[u8], mqtt: &mut ReadBuffer) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(tls) => {
                let plain = if self.websocket.is_some() {
                    &mut self.tls_plain
                } else {
                    &mut *mqtt
                };
                self.tls_closed |= decrypt(tls, wire, plain)?;
                if self.websocket.is_some() {
                    let plain = std::mem::take(&mut self.tls_plain);
                    let received = self.receive_websocket(plain.unread(), mqtt);
                    self.tls_plain = plain;
                    let len = self.tls_plain.unread().len();
                    self.tls_plain.consume(len);
                    received?;
                }
            }
            None => self.receive_websocket(wire, mqtt)?,
        }
        self.take_tls_output()
    }

    /// Reads bytes from below the WebSocket layer (plaintext under wss).
    fn receive_websocket(&mut self, mut input: &[u8], mqtt: &mut ReadBuffer) -> io::Result<()> {
        let Some(state) = &mut self.websocket else {
            mqtt.put(input);
            return Ok(());
        };
        if let WebSocketState::Upgrading {
            expected_accept,
            answer,
        } = state
        {
            let before = answer.len();
            answer.extend_from_slice(input);
            let Some(head_len) =
                websocket::read_upgrade_answer(answer, expected_accept).map_err(invalid_data)?
            else {
                return Ok(());
            };
            // Frames may follow the answer's head in the same read.
            input = &input[head_len - before..];
            *state = WebSocketState::Open(FrameDecoder::default());
        }
        let WebSocketState::Open(frames) = state else {
            unreachable!("the upgrade ended above");
        };
        let mut replies = Vec::new();
        frames
            .receive(input, mqtt, &mut replies)
            .map_err(invalid_data)?;
        if !replies.is_empty() {
            self.send_below_websocket(&replies)?;
        }
        Ok(())
    }

    /// Sends bytes below the WebSocket layer: into TLS, or to the socket.
    fn send_below_websocket(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => tls.writer().write_all(bytes),
            None => {
                self.wire_out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Moves what TLS has to send into `wire_out`.
    fn take_tls_output(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                tls.write_tls(&mut self.wire_out)?;
            }
        }
        Ok(())
    }
}

/// Feeds `wire` to `tls` and its plaintext to `plain`; true when the
/// broker closed the session (close_notify).
fn decrypt(
    tls: &mut ClientConnection,
    mut wire: &[u8],
    plain: &mut ReadBuffer,
) -> io::Result<bool> {
    let mut closed = false;
    while !wire.is_empty() {
        if tls.read_tls(&mut wire)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS took no bytes",
            ));
        }
        let state = tls.process_new_packets().map_err(invalid_data)?;
        let len = state.plaintext_bytes_to_read();
        if len > 0 {
            tls.reader().read_exact(plain.room(len))?;
            plain.filled(len);
        }
        closed |= state.peer_has_closed();
    }
    Ok(closed)
}

/// A peer's protocol error as an I/O error of kind `InvalidData`, which
/// setup counts as a transport failure.
fn invalid_data(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}
