//! [`Violation`]: the rule a client broke when its session ends the connection
//! (or refuses its CONNECT) for it, reported in [`Action::Close`](super::Action::Close)
//! for the runtime's log.
//!
//! Like the codec's [`ProtocolError`](crate::protocol::ProtocolError), each
//! variant is one rule, and its message names the normative statement
//! (`[MQTT-x.y.z-n]`, the 5.0 numbering, with the 3.1.1 one added where it
//! differs) or, where the rule has no statement id, the section that states
//! it. [`Violation::reason_code`] is the reason code the connection ends with.
//! A variant holds no data, so that a close costs the hot path's
//! [`Action`](super::Action) one byte.

use std::fmt;

use crate::protocol::ReasonCode;

/// A rule broken by a client, found by its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A second CONNECT on one connection.
    SecondConnect,
    /// A packet only a server sends: CONNACK, SUBACK, UNSUBACK or PINGRESP.
    ServerOnlyPacket,
    /// AUTH, though CONNECT carried no Authentication Method.
    AuthWithoutAuthenticationMethod,
    /// A PUBLISH above the Maximum QoS we sent in CONNACK.
    QosNotSupported,
    /// A PUBLISH with RETAIN although we sent Retain Available 0.
    RetainNotSupported,
    /// A PUBLISH from the client with a Subscription Identifier.
    SubscriptionIdentifierFromClient,
    /// A PUBLISH whose Response Topic is not a valid topic name (a wildcard).
    ResponseTopicInvalid,
    /// A Topic Alias of 0.
    TopicAliasZero,
    /// A Topic Alias above the Topic Alias Maximum we sent in CONNACK.
    TopicAliasAboveMaximum,
    /// An empty topic name with a Topic Alias this connection never defined.
    TopicAliasUnknown,
    /// An empty topic name and no Topic Alias.
    TopicNameEmpty,
    /// A topic name this server does not accept, most often for having more
    /// levels than `SessionConfig::max_topic_levels` (the detail is in
    /// [`PublishRefusal::TopicNameInvalid`](super::PublishRefusal::TopicNameInvalid)).
    TopicNameInvalid,
    /// A QoS 1 or 2 PUBLISH without a non-zero Packet Identifier.
    PacketIdMissing,
    /// A QoS 0 PUBLISH whose payload is not the UTF-8 its Payload Format
    /// Indicator claims (QoS 1/2 get 0x99 in their acknowledgement instead).
    PayloadFormatInvalid,
    /// One more QoS 2 PUBLISH awaiting PUBREL than our Receive Maximum.
    ReceiveMaximumExceeded,
    /// No Local on a shared subscription.
    NoLocalOnSharedSubscription,
    /// DISCONNECT setting a non-zero Session Expiry Interval when CONNECT's was 0.
    SessionExpiryIntervalFromZero,
    /// No packet within one and a half times the Keep Alive.
    KeepAliveTimeout,
    /// CONNECT with Receive Maximum 0.
    ReceiveMaximumZero,
    /// CONNECT with Maximum Packet Size 0.
    MaximumPacketSizeZero,
    /// CONNECT with an empty Client Identifier where the protocol level
    /// allows none: 3.1, or 3.1.1 with Clean Session 0.
    ClientIdentifierEmpty,
    /// A 3.1 CONNECT with a Client Identifier longer than 23 characters.
    ClientIdentifierTooLong,
    /// CONNECT with a Will Topic this server does not accept as a topic name.
    WillTopicInvalid,
    /// CONNECT with a will whose payload is not the UTF-8 its Payload Format
    /// Indicator claims.
    WillPayloadFormatInvalid,
    /// CONNECT with a will whose Response Topic is not a valid topic name.
    WillResponseTopicInvalid,
    /// CONNECT with a Will QoS above our Maximum QoS.
    WillQosNotSupported,
    /// CONNECT with Will Retain although retained messages are not available.
    WillRetainNotSupported,
}

impl Violation {
    /// The reason code the connection ends with (in DISCONNECT, or in the
    /// CONNACK refusing a CONNECT).
    pub fn reason_code(&self) -> ReasonCode {
        use Violation::*;
        match self {
            QosNotSupported | WillQosNotSupported => ReasonCode::QosNotSupported,
            RetainNotSupported | WillRetainNotSupported => ReasonCode::RetainNotSupported,
            TopicAliasZero | TopicAliasAboveMaximum => ReasonCode::TopicAliasInvalid,
            TopicNameInvalid | WillTopicInvalid => ReasonCode::TopicNameInvalid,
            PacketIdMissing => ReasonCode::MalformedPacket,
            PayloadFormatInvalid | WillPayloadFormatInvalid => ReasonCode::PayloadFormatInvalid,
            ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            KeepAliveTimeout => ReasonCode::KeepAliveTimeout,
            ClientIdentifierEmpty | ClientIdentifierTooLong => ReasonCode::ClientIdentifierNotValid,
            SecondConnect
            | ServerOnlyPacket
            | AuthWithoutAuthenticationMethod
            | SubscriptionIdentifierFromClient
            | ResponseTopicInvalid
            | TopicAliasUnknown
            | TopicNameEmpty
            | NoLocalOnSharedSubscription
            | SessionExpiryIntervalFromZero
            | ReceiveMaximumZero
            | MaximumPacketSizeZero
            | WillResponseTopicInvalid => ReasonCode::ProtocolError,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        f.write_str(match self {
            SecondConnect => "a second CONNECT on the connection [MQTT-3.1.0-2]",
            ServerOnlyPacket => {
                "a packet only a server sends (CONNACK, SUBACK, UNSUBACK or PINGRESP) (section 2.1.2)"
            }
            AuthWithoutAuthenticationMethod => {
                "AUTH without an Authentication Method in CONNECT [MQTT-4.12.0-7]"
            }
            QosNotSupported => {
                "PUBLISH above the Maximum QoS sent in CONNACK [MQTT-3.2.2-11]"
            }
            RetainNotSupported => {
                "PUBLISH with RETAIN although Retain Available is 0 [MQTT-3.2.2-14]"
            }
            SubscriptionIdentifierFromClient => {
                "PUBLISH from the client with a Subscription Identifier [MQTT-3.3.4-6]"
            }
            ResponseTopicInvalid => {
                "Response Topic is not a valid topic name [MQTT-3.3.2-14]"
            }
            TopicAliasZero => "Topic Alias is 0 [MQTT-3.3.2-8]",
            TopicAliasAboveMaximum => {
                "Topic Alias above the Topic Alias Maximum sent in CONNACK [MQTT-3.3.2-9]"
            }
            TopicAliasUnknown => {
                "empty topic name with a Topic Alias not defined on this connection (section 3.3.2.3.4)"
            }
            TopicNameEmpty => {
                "topic name is empty and no Topic Alias stands for it [MQTT-4.7.3-1] (section 3.3.2.1)"
            }
            TopicNameInvalid => {
                "topic name not accepted by this server, e.g. too many levels (section 3.3.2.1)"
            }
            PacketIdMissing => {
                "QoS 1 or 2 PUBLISH without a non-zero Packet Identifier [MQTT-2.2.1-3]"
            }
            PayloadFormatInvalid => {
                "QoS 0 PUBLISH payload is not the UTF-8 its Payload Format Indicator claims (section 3.3.2.3.2)"
            }
            ReceiveMaximumExceeded => {
                "more QoS 2 PUBLISHes awaiting PUBREL than the Receive Maximum [MQTT-3.3.4-7]"
            }
            NoLocalOnSharedSubscription => "No Local on a shared subscription [MQTT-3.8.3-4]",
            SessionExpiryIntervalFromZero => {
                "DISCONNECT sets a Session Expiry Interval after CONNECT set 0 (section 3.14.2.2.2)"
            }
            KeepAliveTimeout => {
                "no packet within 1.5 times the Keep Alive [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24])"
            }
            ReceiveMaximumZero => "CONNECT with Receive Maximum 0 (section 3.1.2.11.3)",
            MaximumPacketSizeZero => "CONNECT with Maximum Packet Size 0 (section 3.1.2.11.4)",
            ClientIdentifierEmpty => {
                "empty Client Identifier without Clean Session 1 (3.1.1: [MQTT-3.1.3-7]; 3.1: section 3.1)"
            }
            ClientIdentifierTooLong => {
                "Client Identifier longer than 23 characters (3.1: section 3.1)"
            }
            WillTopicInvalid => {
                "Will Topic is not a topic name this server accepts (section 3.1.3.3)"
            }
            WillPayloadFormatInvalid => {
                "will payload is not the UTF-8 its Payload Format Indicator claims (section 3.1.3.2.3)"
            }
            WillResponseTopicInvalid => {
                "will Response Topic is not a valid topic name [MQTT-3.3.2-14] (section 3.1.3.2.6)"
            }
            WillQosNotSupported => "Will QoS above the server's Maximum QoS [MQTT-3.2.2-12]",
            WillRetainNotSupported => {
                "Will Retain although retained messages are not available [MQTT-3.2.2-13]"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_carries_its_violation_in_one_byte() {
        assert_eq!(std::mem::size_of::<Option<Violation>>(), 1);
    }

    #[test]
    fn every_violation_names_a_statement_or_a_section_and_ends_with_an_error_code() {
        use Violation::*;
        let all = [
            SecondConnect,
            ServerOnlyPacket,
            AuthWithoutAuthenticationMethod,
            QosNotSupported,
            RetainNotSupported,
            SubscriptionIdentifierFromClient,
            ResponseTopicInvalid,
            TopicAliasZero,
            TopicAliasAboveMaximum,
            TopicAliasUnknown,
            TopicNameEmpty,
            TopicNameInvalid,
            PacketIdMissing,
            PayloadFormatInvalid,
            ReceiveMaximumExceeded,
            NoLocalOnSharedSubscription,
            SessionExpiryIntervalFromZero,
            KeepAliveTimeout,
            ReceiveMaximumZero,
            MaximumPacketSizeZero,
            ClientIdentifierEmpty,
            ClientIdentifierTooLong,
            WillTopicInvalid,
            WillPayloadFormatInvalid,
            WillResponseTopicInvalid,
            WillQosNotSupported,
            WillRetainNotSupported,
        ];
        for violation in all {
            let message = violation.to_string();
            assert!(
                message.contains("[MQTT-") || message.contains("section "),
                "{violation:?}: {message}"
            );
            assert!(violation.reason_code().is_error(), "{violation:?}");
        }
    }
}
