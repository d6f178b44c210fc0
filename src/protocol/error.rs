//! What can go wrong in the codec: [`ProtocolError`] for bytes a peer sent,
//! [`EncodeError`] for a packet this side cannot put on the wire.
//!
//! Each `ProtocolError` variant is one rule of the specification. Its message
//! names the normative statement (`[MQTT-x.y.z-n]`, the 5.0 numbering, with the
//! 3.1.1 one added where it differs) or, where the rule has no statement id, the
//! section that states it. [`ProtocolError::reason_code`] is the v5 reason code
//! to close the connection with.

use std::fmt;

use super::reason::ReasonCode;

/// A rule of the specification broken by bytes received from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Packet type 0, or 15 (AUTH) below 5.0, is reserved.
    ReservedPacketType {
        /// The packet type nibble.
        packet_type: u8,
    },
    /// The flag bits of the fixed header are not the ones fixed for the packet type.
    InvalidFixedHeaderFlags {
        /// The packet type nibble.
        packet_type: u8,
        /// The flags nibble received.
        flags: u8,
    },
    /// A Variable Byte Integer has a fifth byte.
    VariableByteIntegerTooLong,
    /// A Variable Byte Integer does not use the fewest bytes for its value.
    VariableByteIntegerNotMinimal,
    /// The packet (fixed header included) is larger than the maximum packet size.
    PacketTooLarge {
        /// Size announced by the fixed header, bytes.
        packet_size: u32,
        /// The limit in force, bytes.
        maximum_packet_size: u32,
    },
    /// A length or field runs past the end of the frame.
    LengthPastFrame,
    /// Bytes are left in the frame after the last field of the packet.
    TrailingBytes {
        /// The packet type nibble.
        packet_type: u8,
    },
    /// A UTF-8 Encoded String is not well-formed UTF-8.
    InvalidUtf8,
    /// A UTF-8 Encoded String contains U+0000.
    NullCharacter,
    /// The protocol name of CONNECT is neither "MQTT" nor "MQIsdp".
    BadProtocolName,
    /// CONNECT asks for a protocol level this server does not speak.
    UnsupportedProtocolLevel {
        /// The level received.
        level: u8,
    },
    /// The reserved bit of the CONNECT flags is set.
    ConnectReservedFlag,
    /// Will QoS is not 0 although the Will Flag is 0.
    WillQosWithoutWill,
    /// Will QoS is 3.
    WillQosInvalid,
    /// Will Retain is set although the Will Flag is 0.
    WillRetainWithoutWill,
    /// The Password Flag is set without the User Name Flag (3.1 and 3.1.1).
    PasswordWithoutUsername,
    /// The reserved bits of the CONNACK acknowledge flags are set.
    ConnAckReservedFlags,
    /// A PUBLISH has both QoS bits set.
    PublishQosInvalid,
    /// A QoS 0 PUBLISH has the DUP flag set.
    DupOnQos0,
    /// A topic name contains `+` or `#`.
    TopicNameWildcard,
    /// A topic name is empty (and, under 5.0, no Topic Alias stands for it).
    TopicNameEmpty,
    /// A Packet Identifier is 0.
    ZeroPacketId,
    /// A property identifier the specification does not define.
    UnknownProperty {
        /// The identifier received.
        id: u32,
    },
    /// A property that the packet it appears in may not carry.
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet type nibble (0 for the will properties of CONNECT).
        packet_type: u8,
    },
    /// A property that may appear once appears again.
    DuplicateProperty {
        /// The property identifier.
        id: u8,
    },
    /// A property value outside the range the specification allows.
    PropertyValueInvalid {
        /// The property identifier.
        id: u8,
        /// The value received.
        value: u32,
    },
    /// A Topic Alias property with the value 0.
    TopicAliasZero,
    /// Authentication Data without an Authentication Method.
    AuthenticationDataWithoutMethod,
    /// A reason code the packet type does not define.
    InvalidReasonCode {
        /// The packet type nibble.
        packet_type: u8,
        /// The value received.
        value: u8,
    },
    /// A SUBSCRIBE without any topic filter.
    SubscribeEmpty,
    /// An UNSUBSCRIBE without any topic filter.
    UnsubscribeEmpty,
    /// Reserved bits of the Subscription Options are set.
    SubscriptionOptionsReservedBits,
    /// The Maximum QoS of a subscription is 3.
    SubscriptionQosInvalid,
    /// Retain Handling is 3.
    RetainHandlingInvalid,
}

impl ProtocolError {
    /// The v5 reason code to send in DISCONNECT (or CONNACK) before closing.
    pub fn reason_code(&self) -> ReasonCode {
        use ProtocolError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            BadProtocolName | UnsupportedProtocolLevel { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
            TopicNameWildcard => ReasonCode::TopicNameInvalid,
            TopicAliasZero => ReasonCode::TopicAliasInvalid,
            ReservedPacketType { .. }
            | TopicNameEmpty
            | ZeroPacketId
            | DuplicateProperty { .. }
            | PropertyValueInvalid { .. }
            | AuthenticationDataWithoutMethod
            | SubscribeEmpty
            | UnsubscribeEmpty
            | SubscriptionQosInvalid
            | RetainHandlingInvalid => ReasonCode::ProtocolError,
            InvalidFixedHeaderFlags { .. }
            | VariableByteIntegerTooLong
            | VariableByteIntegerNotMinimal
            | LengthPastFrame
            | TrailingBytes { .. }
            | InvalidUtf8
            | NullCharacter
            | ConnectReservedFlag
            | WillQosWithoutWill
            | WillQosInvalid
            | WillRetainWithoutWill
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | PublishQosInvalid
            | DupOnQos0
            | UnknownProperty { .. }
            | PropertyNotAllowed { .. }
            | InvalidReasonCode { .. }
            | SubscriptionOptionsReservedBits => ReasonCode::MalformedPacket,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtocolError::*;
        match self {
            ReservedPacketType { packet_type } => write!(
                f,
                "packet type {packet_type} is reserved at this protocol level (section 2.1.2)"
            ),
            InvalidFixedHeaderFlags { packet_type, flags } => write!(
                f,
                "fixed header flags {flags:#06b} are invalid for packet type {packet_type} [MQTT-2.1.3-1]"
            ),
            VariableByteIntegerTooLong => {
                f.write_str("variable byte integer longer than four bytes (section 1.5.5)")
            }
            VariableByteIntegerNotMinimal => {
                f.write_str("variable byte integer not in its shortest form [MQTT-1.5.5-1]")
            }
            PacketTooLarge {
                packet_size,
                maximum_packet_size,
            } => write!(
                f,
                "packet of {packet_size} bytes exceeds the maximum packet size of {maximum_packet_size} bytes [MQTT-3.2.2-15]"
            ),
            LengthPastFrame => {
                f.write_str("a field runs past the end of the packet (section 2.1.4)")
            }
            TrailingBytes { packet_type } => write!(
                f,
                "bytes left over after the last field of packet type {packet_type} (section 2.1.4)"
            ),
            InvalidUtf8 => f.write_str("string is not well-formed UTF-8 [MQTT-1.5.4-1]"),
            NullCharacter => f.write_str("string contains U+0000 [MQTT-1.5.4-2]"),
            BadProtocolName => {
                f.write_str("protocol name is neither \"MQTT\" nor \"MQIsdp\" [MQTT-3.1.2-1]")
            }
            UnsupportedProtocolLevel { level } => {
                write!(f, "unsupported protocol level {level} [MQTT-3.1.2-2]")
            }
            ConnectReservedFlag => f.write_str("CONNECT reserved flag is set [MQTT-3.1.2-3]"),
            WillQosWithoutWill => f.write_str(
                "Will QoS is not 0 while the Will Flag is 0 [MQTT-3.1.2-11] (3.1.1: [MQTT-3.1.2-13])",
            ),
            WillQosInvalid => {
                f.write_str("Will QoS is 3 [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14])")
            }
            WillRetainWithoutWill => f.write_str(
                "Will Retain is set while the Will Flag is 0 [MQTT-3.1.2-13] (3.1.1: [MQTT-3.1.2-15])",
            ),
            PasswordWithoutUsername => f.write_str(
                "Password Flag set without the User Name Flag (3.1.1: [MQTT-3.1.2-22])",
            ),
            ConnAckReservedFlags => {
                f.write_str("CONNACK reserved acknowledge flags are set [MQTT-3.2.2-1]")
            }
            PublishQosInvalid => f.write_str("PUBLISH has both QoS bits set [MQTT-3.3.1-4]"),
            DupOnQos0 => f.write_str("DUP flag set on a QoS 0 PUBLISH [MQTT-3.3.1-2]"),
            TopicNameWildcard => {
                f.write_str("topic name contains a wildcard character [MQTT-3.3.2-2]")
            }
            TopicNameEmpty => f.write_str(
                "topic name is empty and no Topic Alias stands for it [MQTT-4.7.3-1] (section 3.3.2.1)",
            ),
            ZeroPacketId => f.write_str("packet identifier is 0 [MQTT-2.2.1-3]"),
            UnknownProperty { id } => {
                write!(f, "unknown property identifier {id:#04x} (section 2.2.2.2)")
            }
            PropertyNotAllowed { id, packet_type } => write!(
                f,
                "property {id:#04x} is not allowed in packet type {packet_type} (section 2.2.2.2)"
            ),
            DuplicateProperty { id } => write!(
                f,
                "property {id:#04x} appears more than once (section 2.2.2.2)"
            ),
            PropertyValueInvalid { id, value } => write!(
                f,
                "property {id:#04x} has the invalid value {value} (section 3)"
            ),
            TopicAliasZero => f.write_str("Topic Alias is 0 [MQTT-3.3.2-8]"),
            AuthenticationDataWithoutMethod => f.write_str(
                "Authentication Data without an Authentication Method (section 3.1.2.11.10)",
            ),
            InvalidReasonCode { packet_type, value } => write!(
                f,
                "reason code {value:#04x} is not defined for packet type {packet_type} (section 2.4)"
            ),
            SubscribeEmpty => f.write_str(
                "SUBSCRIBE without any topic filter [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3])",
            ),
            UnsubscribeEmpty => f.write_str("UNSUBSCRIBE without any topic filter [MQTT-3.10.3-2]"),
            SubscriptionOptionsReservedBits => f.write_str(
                "reserved Subscription Options bits are set [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4])",
            ),
            SubscriptionQosInvalid => {
                f.write_str("subscription Maximum QoS is 3 (section 3.8.3.1)")
            }
            RetainHandlingInvalid => f.write_str("Retain Handling is 3 (section 3.8.3.1)"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why a packet could not be encoded. Every case is a packet built wrongly by
/// this side, reported instead of writing bytes a peer would refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The packet needs a remaining length above 268,435,455 bytes.
    PacketTooLarge,
    /// A string or binary field is longer than 65,535 bytes.
    FieldTooLong {
        /// Length of the field, bytes.
        length: usize,
    },
    /// A variable byte integer value (Subscription Identifier) above 268,435,455.
    ValueTooLarge {
        /// The value.
        value: u32,
    },
    /// The packet type does not exist at this protocol level (AUTH below 5.0).
    PacketNotInVersion {
        /// The packet type nibble.
        packet_type: u8,
    },
    /// The reason code cannot be expressed in this packet at this protocol level.
    ReasonCodeNotAllowed {
        /// The packet type nibble.
        packet_type: u8,
        /// The reason code.
        reason_code: ReasonCode,
    },
    /// A QoS 1/2 PUBLISH without a packet identifier, or a QoS 0 one with one.
    PacketIdMismatch,
    /// A packet identifier of 0.
    ZeroPacketId,
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    NoTopicFilters,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EncodeError::*;
        match self {
            PacketTooLarge => f.write_str("packet exceeds the largest remaining length"),
            FieldTooLong { length } => {
                write!(f, "field of {length} bytes exceeds 65535 bytes")
            }
            ValueTooLarge { value } => {
                write!(f, "value {value} exceeds the variable byte integer range")
            }
            PacketNotInVersion { packet_type } => write!(
                f,
                "packet type {packet_type} does not exist at this protocol level"
            ),
            ReasonCodeNotAllowed {
                packet_type,
                reason_code,
            } => write!(
                f,
                "reason code {reason_code:?} cannot be sent in packet type {packet_type} at this protocol level"
            ),
            PacketIdMismatch => {
                f.write_str("PUBLISH packet identifier must be present exactly when QoS > 0")
            }
            ZeroPacketId => f.write_str("packet identifier is 0"),
            NoTopicFilters => f.write_str("SUBSCRIBE or UNSUBSCRIBE without a topic filter"),
        }
    }
}

impl std::error::Error for EncodeError {}
