//! The v5 property sets, one struct per packet kind (section 2.2.2.2).
//!
//! A field is `None` (or empty) when the property is absent. Under 3.1 and 3.1.1
//! every set is empty on the wire: the encoder ignores them and the decoder leaves
//! them at their defaults. Strings and binary data are zero-copy slices of the
//! buffer the packet was decoded from.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

/// User Property (0x26) pairs, in the order they appeared; names may repeat.
pub type UserProperties = Vec<(ByteString, ByteString)>;

/// Properties of CONNECT (3.1.2.11).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// Session Expiry Interval (0x11), seconds.
    pub session_expiry_interval_s: Option<u32>,
    /// Receive Maximum (0x21): the client's inbound QoS 1/2 window.
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size (0x27) the client accepts, bytes.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum (0x22) the client accepts.
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (0x19).
    pub request_response_information: Option<bool>,
    /// Request Problem Information (0x17).
    pub request_problem_information: Option<bool>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Authentication Method (0x15).
    pub authentication_method: Option<ByteString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

/// Properties of the will in CONNECT's payload (3.1.3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// Will Delay Interval (0x18), seconds.
    pub will_delay_interval_s: Option<u32>,
    /// Payload Format Indicator (0x01): true for UTF-8 payloads.
    pub payload_format_indicator: Option<bool>,
    /// Message Expiry Interval (0x02), seconds.
    pub message_expiry_interval_s: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<ByteString>,
    /// Response Topic (0x08).
    pub response_topic: Option<ByteString>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// Properties of CONNACK (3.2.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    /// Session Expiry Interval (0x11), seconds, when the server overrides the client's.
    pub session_expiry_interval_s: Option<u32>,
    /// Receive Maximum (0x21): the server's inbound QoS 1/2 window.
    pub receive_maximum: Option<u16>,
    /// Maximum QoS (0x24) the server accepts.
    pub maximum_qos: Option<crate::protocol::QoS>,
    /// Retain Available (0x25).
    pub retain_available: Option<bool>,
    /// Maximum Packet Size (0x27) the server accepts, bytes.
    pub maximum_packet_size: Option<u32>,
    /// Assigned Client Identifier (0x12).
    pub assigned_client_identifier: Option<ByteString>,
    /// Topic Alias Maximum (0x22) the server accepts.
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (0x1F).
    pub reason_string: Option<ByteString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available (0x28).
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available (0x29).
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available (0x2A).
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive (0x13), seconds.
    pub server_keep_alive_s: Option<u16>,
    /// Response Information (0x1A).
    pub response_information: Option<ByteString>,
    /// Server Reference (0x1C).
    pub server_reference: Option<ByteString>,
    /// Authentication Method (0x15).
    pub authentication_method: Option<ByteString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

/// Properties of PUBLISH (3.3.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// Payload Format Indicator (0x01): true for UTF-8 payloads.
    pub payload_format_indicator: Option<bool>,
    /// Message Expiry Interval (0x02), seconds.
    pub message_expiry_interval_s: Option<u32>,
    /// Topic Alias (0x23); never 0 on the wire.
    pub topic_alias: Option<u16>,
    /// Response Topic (0x08).
    pub response_topic: Option<ByteString>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Subscription Identifier (0x0B), one per matching subscription; server to client only.
    pub subscription_identifiers: smallvec::SmallVec<[u32; 1]>,
    /// Content Type (0x03).
    pub content_type: Option<ByteString>,
}

/// What a PUBLISH without properties reads as, so reading them needs no
/// allocation.
pub(crate) static EMPTY_PUBLISH_PROPERTIES: PublishProperties = PublishProperties {
    payload_format_indicator: None,
    message_expiry_interval_s: None,
    topic_alias: None,
    response_topic: None,
    correlation_data: None,
    user_properties: Vec::new(),
    subscription_identifiers: smallvec::SmallVec::new_const(),
    content_type: None,
};

impl PublishProperties {
    /// True when no property is present.
    pub fn is_empty(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.message_expiry_interval_s.is_none()
            && self.topic_alias.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.user_properties.is_empty()
            && self.subscription_identifiers.is_empty()
            && self.content_type.is_none()
    }

    /// The value of [`Publish::properties`](crate::protocol::Publish): `None`
    /// for the empty set, so a PUBLISH without properties never allocates;
    /// otherwise the set in one allocation, shared by reference count.
    pub fn boxed(self) -> Option<Arc<PublishProperties>> {
        if self.is_empty() {
            None
        } else {
            Some(Arc::new(self))
        }
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// Reason String (0x1F).
    pub reason_string: Option<ByteString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// Properties of SUBSCRIBE (3.8.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// Subscription Identifier (0x0B), 1 to 268,435,455.
    pub subscription_identifier: Option<u32>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// Properties of UNSUBSCRIBE (3.10.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// Properties of DISCONNECT (3.14.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// Session Expiry Interval (0x11), seconds; only from the client.
    pub session_expiry_interval_s: Option<u32>,
    /// Reason String (0x1F).
    pub reason_string: Option<ByteString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Server Reference (0x1C).
    pub server_reference: Option<ByteString>,
}

/// Properties of AUTH (3.15.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthProperties {
    /// Authentication Method (0x15).
    pub authentication_method: Option<ByteString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
    /// Reason String (0x1F).
    pub reason_string: Option<ByteString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}
