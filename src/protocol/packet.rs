//! The decoded form of every MQTT control packet, shared by all protocol levels.
//!
//! One set of types covers 3.1, 3.1.1 and 5.0: v5-only parts (properties, most
//! reason codes) are simply empty or `Success` under the older levels. Payloads,
//! topics and strings are `Bytes`-backed, so a decoded packet borrows the read
//! buffer instead of copying it.
//!
//! [`Packet`] is moved on every decode and through the session's actions, so it
//! is kept small: the large, rare variants (CONNECT, CONNACK, AUTH) are boxed,
//! and PUBLISH keeps its property set behind an `Option<Arc<_>>` that is `None`
//! when there are no properties (always below v5, and usually at v5). The `Arc`
//! lets every delivery of a message that passes its properties on unchanged
//! share the message's set instead of copying it.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::properties::*;
use super::reason::ReasonCode;

/// The protocol level from CONNECT's variable header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ProtocolVersion {
    /// MQTT 3.1, protocol name "MQIsdp", level 3.
    V3_1 = 3,
    /// MQTT 3.1.1, protocol name "MQTT", level 4.
    V3_1_1 = 4,
    /// MQTT 5.0, protocol name "MQTT", level 5.
    V5 = 5,
}

impl ProtocolVersion {
    /// True for 5.0, the only level with properties and reason codes everywhere.
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
}

/// Quality of service of a message or subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value 0..=2; `None` for 3 and above.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A packet identifier. Never 0 on the wire [MQTT-2.2.1-3].
pub type PacketId = u16;

/// Any MQTT control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (1).
    Connect(Box<Connect>),
    /// CONNACK (2).
    ConnAck(Box<ConnAck>),
    /// PUBLISH (3).
    Publish(Publish),
    /// PUBACK (4).
    PubAck(PublishResponse),
    /// PUBREC (5).
    PubRec(PublishResponse),
    /// PUBREL (6).
    PubRel(PublishResponse),
    /// PUBCOMP (7).
    PubComp(PublishResponse),
    /// SUBSCRIBE (8).
    Subscribe(Subscribe),
    /// SUBACK (9).
    SubAck(SubAck),
    /// UNSUBSCRIBE (10).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (11).
    UnsubAck(UnsubAck),
    /// PINGREQ (12).
    PingReq,
    /// PINGRESP (13).
    PingResp,
    /// DISCONNECT (14).
    Disconnect(Disconnect),
    /// AUTH (15); 5.0 only.
    Auth(Box<Auth>),
}

/// CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level; the protocol name follows from it.
    pub protocol_version: ProtocolVersion,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive, seconds; 0 turns the mechanism off.
    pub keep_alive_s: u16,
    /// Client Identifier; may be empty.
    pub client_id: ByteString,
    /// The will, when the Will Flag is set.
    pub will: Option<LastWill>,
    /// User Name, when its flag is set.
    pub username: Option<ByteString>,
    /// Password, when its flag is set.
    pub password: Option<Bytes>,
    /// v5 properties.
    pub properties: ConnectProperties,
}

/// The will message carried by CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    /// Will Topic.
    pub topic_name: ByteString,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// v5 will properties.
    pub properties: WillProperties,
}

/// CONNACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// The v5 reason code. Under 3.1/3.1.1 the codec maps the return codes:
    /// 0 Success, 1 UnsupportedProtocolVersion, 2 ClientIdentifierNotValid,
    /// 3 ServerUnavailable, 4 BadUserNameOrPassword, 5 NotAuthorized.
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: ConnAckProperties,
}

/// PUBLISH.
///
/// Two packets are equal when their fields are, taking absent properties
/// (`None`) and an empty property set as the same.
#[derive(Clone, Debug)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS level.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic Name; empty under v5 when a topic alias stands for it.
    pub topic_name: ByteString,
    /// Packet Identifier: `Some` exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// v5 properties; `None` when there are none, which the decoder always
    /// gives for an empty set. Read them with [`Publish::properties`], build
    /// the field with [`PublishProperties::boxed`], change them with
    /// [`Publish::properties_mut`].
    pub properties: Option<Arc<PublishProperties>>,
    /// Application message.
    pub payload: Bytes,
}

/// A PUBLISH borrowed from its parts, for [`encode_publish_ref`]: the fields
/// of [`Publish`], none owned.
///
/// [`encode_publish_ref`]: super::encode::encode_publish_ref
#[derive(Clone, Copy, Debug)]
pub struct PublishRef<'a> {
    /// DUP flag.
    pub dup: bool,
    /// QoS level.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic Name; empty under v5 when a topic alias stands for it.
    pub topic_name: &'a str,
    /// Packet Identifier: `Some` exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// v5 properties; `None` when there are none.
    pub properties: Option<&'a PublishProperties>,
    /// Application message.
    pub payload: &'a [u8],
}

impl<'a> PublishRef<'a> {
    /// The v5 properties; the empty set when there are none.
    pub fn properties(&self) -> &'a PublishProperties {
        self.properties
            .unwrap_or(&super::properties::EMPTY_PUBLISH_PROPERTIES)
    }
}

impl Publish {
    /// The packet's fields, borrowed.
    pub fn borrowed(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic_name: &self.topic_name,
            packet_id: self.packet_id,
            properties: self.properties.as_deref(),
            payload: &self.payload,
        }
    }

    /// The v5 properties; the empty set when there are none.
    pub fn properties(&self) -> &PublishProperties {
        self.borrowed().properties()
    }

    /// The v5 properties to change, allocating the set on first use and
    /// copying it first when it is shared with other packets.
    pub fn properties_mut(&mut self) -> &mut PublishProperties {
        Arc::make_mut(self.properties.get_or_insert_with(Default::default))
    }

    /// The Topic Alias property, if present.
    pub fn topic_alias(&self) -> Option<u16> {
        self.properties.as_ref()?.topic_alias
    }
}

impl PartialEq for Publish {
    fn eq(&self, other: &Publish) -> bool {
        self.dup == other.dup
            && self.qos == other.qos
            && self.retain == other.retain
            && self.topic_name == other.topic_name
            && self.packet_id == other.packet_id
            && self.properties() == other.properties()
            && self.payload == other.payload
    }
}

impl Eq for Publish {}

/// PUBACK, PUBREC, PUBREL and PUBCOMP, which share one layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishResponse {
    /// Packet Identifier of the flow.
    pub packet_id: PacketId,
    /// v5 reason code; `Success` under 3.1.1.
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: AckProperties,
}

impl PublishResponse {
    /// A successful response with no properties.
    pub fn success(packet_id: PacketId) -> PublishResponse {
        PublishResponse {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: AckProperties::default(),
        }
    }
}

/// Retain Handling subscription option (3.8.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist.
    SendAtNewSubscribe = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// Subscription Options byte of one SUBSCRIBE entry (3.8.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: SubscribeProperties,
    /// Topic filters with their options; never empty [MQTT-3.8.3-3].
    pub filters: Vec<(ByteString, SubscriptionOptions)>,
}

/// SUBACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: AckProperties,
    /// One code per filter: GrantedQos0..2 or a failure. Under 3.1.1 only
    /// 0x00, 0x01, 0x02 and 0x80 exist; the encoder maps failures to 0x80.
    pub reason_codes: Vec<ReasonCode>,
}

/// UNSUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: UnsubscribeProperties,
    /// Topic filters; never empty [MQTT-3.10.3-2].
    pub filters: Vec<ByteString>,
}

/// UNSUBACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: AckProperties,
    /// One code per filter under v5; empty under 3.1.1.
    pub reason_codes: Vec<ReasonCode>,
}

/// DISCONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// v5 reason code; `Success` (normal disconnection) under 3.1.1.
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: DisconnectProperties,
}

/// AUTH (5.0 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// Success, ContinueAuthentication or ReAuthenticate.
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: AuthProperties,
}
