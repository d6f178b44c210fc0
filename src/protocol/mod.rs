//! The MQTT codec: every control packet of protocol levels 3, 4 and 5.
//!
//! - [`packet`]: the decoded packet types.
//! - [`properties`]: the v5 property sets, one per packet kind.
//! - [`reason`]: v5 reason codes.
//! - [`error`]: [`ProtocolError`] (a peer broke a rule) and [`EncodeError`].
//! - [`framing`]: the fixed header, read before the body is buffered.
//! - `decode`, `encode`: [`decode`], [`encode`] and [`encoded_len`].
//! - `reader`, `writer`, `properties_codec`, `reason_codes`: the data types of
//!   section 1.5, the property sets on the wire, the reason code tables.
//!
//! ```
//! use bytes::BytesMut;
//! use shardmq::protocol::{decode, encode, Packet, ProtocolVersion, PublishResponse};
//!
//! let packet = Packet::PubAck(PublishResponse::success(7));
//! let mut buf = BytesMut::new();
//! encode(&packet, ProtocolVersion::V5, &mut buf).unwrap();
//! assert_eq!(&buf[..], &[0x40, 2, 0, 7]);
//! let decoded = decode(&mut buf, ProtocolVersion::V5, 1024).unwrap();
//! assert_eq!(decoded, Some(packet));
//! assert!(buf.is_empty());
//! ```

mod decode;
mod encode;
pub mod error;
pub mod framing;
pub mod packet;
pub mod properties;
mod properties_codec;
mod reader;
pub mod reason;
mod reason_codes;
mod writer;

pub use decode::decode;
pub use encode::{encode, encode_publish_ref, encoded_len, publish_ref_len};
pub use error::{EncodeError, ProtocolError};
pub use framing::{peek_frame, peek_frame_at, FrameHeader, PacketType};
pub use packet::*;
pub use properties::*;
pub use reason::ReasonCode;

#[cfg(test)]
mod tests;
