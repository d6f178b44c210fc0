//! The server side of the WebSocket opening handshake (RFC 6455 §4.2): reads
//! the client's HTTP/1.1 upgrade request into a bounded buffer, checks it,
//! and says what to answer: `101 Switching Protocols` with the accept value
//! and the chosen MQTT subprotocol, or a refusal.
//!
//! The request line and headers are parsed by `httparse` once the header
//! block is complete; until then the bytes are only searched for its end, so
//! a client sending one byte per read costs one scan of the buffer in all.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::BytesMut;
use sha1::{Digest, Sha1};
use shardmq::limits;

/// The GUID RFC 6455 §1.3 appends to the client's key.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The subprotocols an MQTT client offers (MQTT 5.0 §6, MQTT 3.1.1 §6 say
/// `mqtt`; clients of MQTT 3.1 such as old Paho releases say `mqttv3.1`).
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Where the reading of an upgrade request stands after more bytes came.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The header block is not complete yet; every byte given was kept.
    Incomplete,
    /// The request is accepted: `reply` goes out before any frame, and the
    /// bytes given after the first `consumed` ones are WebSocket frames the
    /// client sent without waiting for the reply.
    Accepted { reply: BytesMut, consumed: usize },
    /// The request is refused: `reply` is the HTTP response that says why,
    /// and the connection ends once it is written.
    Refused { reply: BytesMut, reason: Refusal },
}

/// Why an upgrade request is refused, with the status code that says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is not a WebSocket upgrade RFC 6455 §4.2.1 accepts
    /// (method, HTTP version, `Host`, `Upgrade`, `Connection`, key, or no
    /// MQTT subprotocol offered).
    BadRequest(&'static str),
    /// The request asks for another path than the listener's.
    NotFound,
    /// The client speaks another WebSocket version than 13 (§4.4).
    UpgradeRequired,
    /// The header block is larger than [`limits::WS_HANDSHAKE_BYTES_MAX`] or
    /// has more than [`limits::WS_HANDSHAKE_HEADERS_MAX`] headers.
    TooLarge,
}

impl Refusal {
    /// The HTTP response that carries the refusal; the connection closes
    /// after it.
    fn reply(self) -> BytesMut {
        let (status, extra) = match self {
            Refusal::BadRequest(_) => ("400 Bad Request", ""),
            Refusal::NotFound => ("404 Not Found", ""),
            Refusal::UpgradeRequired => ("426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n"),
            Refusal::TooLarge => ("431 Request Header Fields Too Large", ""),
        };
        let mut reply = BytesMut::new();
        reply.extend_from_slice(b"HTTP/1.1 ");
        reply.extend_from_slice(status.as_bytes());
        reply.extend_from_slice(b"\r\nConnection: close\r\nContent-Length: 0\r\n");
        reply.extend_from_slice(extra.as_bytes());
        reply.extend_from_slice(b"\r\n");
        reply
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::BadRequest(why) => write!(f, "bad WebSocket upgrade request: {why}"),
            Refusal::NotFound => f.write_str("WebSocket upgrade request for another path"),
            Refusal::UpgradeRequired => {
                f.write_str("WebSocket upgrade request for a version other than 13")
            }
            Refusal::TooLarge => write!(
                f,
                "WebSocket upgrade request larger than {} bytes or {} headers",
                limits::WS_HANDSHAKE_BYTES_MAX,
                limits::WS_HANDSHAKE_HEADERS_MAX
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// An upgrade request being read.
#[derive(Debug, Default)]
pub struct Handshake {
    /// The request so far, at most [`limits::WS_HANDSHAKE_BYTES_MAX`] bytes.
    request: Vec<u8>,
}

impl Handshake {
    /// Takes the next `bytes` of the request for a listener serving `path`.
    pub fn receive(&mut self, bytes: &[u8], path: &str) -> Step {
        let before = self.request.len();
        let room = limits::WS_HANDSHAKE_BYTES_MAX - before;
        self.request
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        // The end of the block may straddle the previous bytes.
        let search_from = before.saturating_sub(3);
        let Some(end) = self.request[search_from..]
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|at| search_from + at + 4)
        else {
            if self.request.len() == limits::WS_HANDSHAKE_BYTES_MAX {
                return refused(Refusal::TooLarge);
            }
            return Step::Incomplete;
        };
        match check(&self.request[..end], path) {
            Ok(accepted) => Step::Accepted {
                reply: accepted.reply(),
                consumed: end - before,
            },
            Err(refusal) => refused(refusal),
        }
    }

    /// Bytes of the request held so far.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.request.len()
    }
}

fn refused(reason: Refusal) -> Step {
    Step::Refused {
        reply: reason.reply(),
        reason,
    }
}

/// What an accepted request settles.
struct Accepted<'a> {
    /// The `Sec-WebSocket-Key` as the client sent it.
    key: &'a [u8],
    /// The subprotocol chosen, spelled as the client offered it.
    subprotocol: &'a str,
}

impl Accepted<'_> {
    fn reply(&self) -> BytesMut {
        let mut reply = BytesMut::with_capacity(160);
        reply.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        reply.extend_from_slice(accept_value(self.key).as_bytes());
        // Browsers fail the connection unless the chosen subprotocol is echoed.
        reply.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        reply.extend_from_slice(self.subprotocol.as_bytes());
        reply.extend_from_slice(b"\r\n\r\n");
        reply
    }
}

/// `Sec-WebSocket-Accept` for a client's key: base64(SHA-1(key + GUID)).
pub fn accept_value(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    BASE64.encode(sha1.finalize())
}

/// Checks a complete header block (RFC 6455 §4.2.1) against the listener's
/// `path`.
fn check<'a>(block: &'a [u8], path: &str) -> Result<Accepted<'a>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; limits::WS_HANDSHAKE_HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(block) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Refusal::BadRequest("malformed request line or header"))
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(_) => return Err(Refusal::BadRequest("malformed request line or header")),
    }
    let target = request.path.unwrap_or_default();
    let requested_path = target.split_once('?').map_or(target, |(path, _)| path);
    if requested_path != path {
        return Err(Refusal::NotFound);
    }
    if request.method != Some("GET") {
        return Err(Refusal::BadRequest("method other than GET"));
    }
    if request.version != Some(1) {
        return Err(Refusal::BadRequest("HTTP version other than 1.1"));
    }
    let headers = request.headers;
    if header(headers, "host").is_none() {
        return Err(Refusal::BadRequest("no Host header"));
    }
    if !has_token(headers, "upgrade", "websocket") {
        return Err(Refusal::BadRequest("no Upgrade: websocket header"));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(Refusal::BadRequest("no Connection: Upgrade header"));
    }
    match header(headers, "sec-websocket-version") {
        None => return Err(Refusal::BadRequest("no Sec-WebSocket-Version header")),
        Some(version) if version.trim_ascii() != b"13" => return Err(Refusal::UpgradeRequired),
        Some(_) => {}
    }
    let key = header(headers, "sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .ok_or(Refusal::BadRequest("no Sec-WebSocket-Key header"))?;
    if !BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16) {
        return Err(Refusal::BadRequest(
            "Sec-WebSocket-Key is not the base64 of 16 bytes",
        ));
    }
    let subprotocol = subprotocol(headers).ok_or(Refusal::BadRequest(
        "no MQTT subprotocol (mqtt or mqttv3.1) offered",
    ))?;
    Ok(Accepted { key, subprotocol })
}

/// The first MQTT subprotocol the client offers, over all its
/// `Sec-WebSocket-Protocol` headers.
///
/// A client that offers none is refused. The MQTT specifications require a
/// client to offer `mqtt` [MQTT-6.0.0-3], and every common client does
/// (Paho C, Java, Python and JavaScript, MQTT.js, rumqttc, HiveMQ's client
/// library), browsers included. Mosquitto (through libwebsockets, which gives
/// a request naming no protocol its first one) and EMQX (with its default
/// `fail_if_no_subprotocol = false`) accept such a request anyway; we do not,
/// so a generic WebSocket client or probe that does not know it speaks MQTT
/// is told at once rather than after its first binary frame fails to decode.
fn subprotocol<'a>(headers: &[httparse::Header<'a>]) -> Option<&'a str> {
    headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .filter_map(|header| std::str::from_utf8(header.value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|offered| {
            SUBPROTOCOLS
                .iter()
                .any(|known| offered.eq_ignore_ascii_case(known))
        })
}

/// The value of the first header called `name`.
fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// True when a header called `name` lists `token` (a comma-separated token
/// list, compared without regard to case, as `Connection: keep-alive,
/// Upgrade` from Firefox).
fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case(name))
        .flat_map(|header| header.value.split(|&byte| byte == b','))
        .any(|listed| listed.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
