//! Decoding and encoding of the v5 property sets (section 2.2.2).
//!
//! Decoding is two steps: [`read_property`] turns one identifier and value into
//! a [`Property`], checking the value's range; then the packet's set takes it
//! with [`PropertySet::apply`], which refuses properties the packet may not
//! carry and repeats of those that may appear once. Encoding writes the set's
//! present fields in identifier order.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::error::{EncodeError, ProtocolError};
use super::packet::QoS;
use super::properties::*;
use super::reader::Reader;
use super::writer::{LenCounter, Sink};

/// Property identifiers (section 2.2.2.2).
pub(crate) mod id {
    pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub(crate) const CONTENT_TYPE: u8 = 0x03;
    pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
    pub(crate) const CORRELATION_DATA: u8 = 0x09;
    pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
    pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
    pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
    pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
    pub(crate) const REASON_STRING: u8 = 0x1F;
    pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
    pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub(crate) const TOPIC_ALIAS: u8 = 0x23;
    pub(crate) const MAXIMUM_QOS: u8 = 0x24;
    pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
    pub(crate) const USER_PROPERTY: u8 = 0x26;
    pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Packet type number used in errors about the will properties, which belong
/// to no packet type of their own.
pub(crate) const WILL_PROPERTIES: u8 = 0;

/// One decoded property, its value already range-checked.
// The variants carry the spec's property names, one of which is "User Property".
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Property {
    PayloadFormatIndicator(bool),
    MessageExpiryInterval(u32),
    ContentType(ByteString),
    ResponseTopic(ByteString),
    CorrelationData(Bytes),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(ByteString),
    ServerKeepAlive(u16),
    AuthenticationMethod(ByteString),
    AuthenticationData(Bytes),
    RequestProblemInformation(bool),
    WillDelayInterval(u32),
    RequestResponseInformation(bool),
    ResponseInformation(ByteString),
    ServerReference(ByteString),
    ReasonString(ByteString),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQos(QoS),
    RetainAvailable(bool),
    UserProperty(ByteString, ByteString),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(bool),
    SubscriptionIdentifierAvailable(bool),
    SharedSubscriptionAvailable(bool),
}

impl Property {
    /// The property identifier.
    pub(crate) fn id(&self) -> u8 {
        use Property::*;
        match self {
            PayloadFormatIndicator(_) => id::PAYLOAD_FORMAT_INDICATOR,
            MessageExpiryInterval(_) => id::MESSAGE_EXPIRY_INTERVAL,
            ContentType(_) => id::CONTENT_TYPE,
            ResponseTopic(_) => id::RESPONSE_TOPIC,
            CorrelationData(_) => id::CORRELATION_DATA,
            SubscriptionIdentifier(_) => id::SUBSCRIPTION_IDENTIFIER,
            SessionExpiryInterval(_) => id::SESSION_EXPIRY_INTERVAL,
            AssignedClientIdentifier(_) => id::ASSIGNED_CLIENT_IDENTIFIER,
            ServerKeepAlive(_) => id::SERVER_KEEP_ALIVE,
            AuthenticationMethod(_) => id::AUTHENTICATION_METHOD,
            AuthenticationData(_) => id::AUTHENTICATION_DATA,
            RequestProblemInformation(_) => id::REQUEST_PROBLEM_INFORMATION,
            WillDelayInterval(_) => id::WILL_DELAY_INTERVAL,
            RequestResponseInformation(_) => id::REQUEST_RESPONSE_INFORMATION,
            ResponseInformation(_) => id::RESPONSE_INFORMATION,
            ServerReference(_) => id::SERVER_REFERENCE,
            ReasonString(_) => id::REASON_STRING,
            ReceiveMaximum(_) => id::RECEIVE_MAXIMUM,
            TopicAliasMaximum(_) => id::TOPIC_ALIAS_MAXIMUM,
            TopicAlias(_) => id::TOPIC_ALIAS,
            MaximumQos(_) => id::MAXIMUM_QOS,
            RetainAvailable(_) => id::RETAIN_AVAILABLE,
            UserProperty(..) => id::USER_PROPERTY,
            MaximumPacketSize(_) => id::MAXIMUM_PACKET_SIZE,
            WildcardSubscriptionAvailable(_) => id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            SubscriptionIdentifierAvailable(_) => id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            SharedSubscriptionAvailable(_) => id::SHARED_SUBSCRIPTION_AVAILABLE,
        }
    }
}

fn read_bool(reader: &mut Reader, property_id: u8) -> Result<bool, ProtocolError> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(ProtocolError::PropertyValueInvalid {
            id: property_id,
            value: u32::from(value),
        }),
    }
}

fn read_nonzero_u16(reader: &mut Reader, property_id: u8) -> Result<u16, ProtocolError> {
    match reader.u16()? {
        0 => Err(ProtocolError::PropertyValueInvalid {
            id: property_id,
            value: 0,
        }),
        value => Ok(value),
    }
}

fn read_nonzero_u32(reader: &mut Reader, property_id: u8) -> Result<u32, ProtocolError> {
    match reader.u32()? {
        0 => Err(ProtocolError::PropertyValueInvalid {
            id: property_id,
            value: 0,
        }),
        value => Ok(value),
    }
}

/// Reads one property: identifier, then a value of the identifier's type.
pub(crate) fn read_property(reader: &mut Reader) -> Result<Property, ProtocolError> {
    use Property::*;
    let raw_id = reader.variable_byte_integer()?;
    let property_id =
        u8::try_from(raw_id).map_err(|_| ProtocolError::UnknownProperty { id: raw_id })?;
    Ok(match property_id {
        id::PAYLOAD_FORMAT_INDICATOR => PayloadFormatIndicator(read_bool(reader, property_id)?),
        id::MESSAGE_EXPIRY_INTERVAL => MessageExpiryInterval(reader.u32()?),
        id::CONTENT_TYPE => ContentType(reader.string()?),
        id::RESPONSE_TOPIC => ResponseTopic(reader.string()?),
        id::CORRELATION_DATA => CorrelationData(reader.binary()?),
        id::SUBSCRIPTION_IDENTIFIER => match reader.variable_byte_integer()? {
            0 => {
                return Err(ProtocolError::PropertyValueInvalid {
                    id: property_id,
                    value: 0,
                })
            }
            value => SubscriptionIdentifier(value),
        },
        id::SESSION_EXPIRY_INTERVAL => SessionExpiryInterval(reader.u32()?),
        id::ASSIGNED_CLIENT_IDENTIFIER => AssignedClientIdentifier(reader.string()?),
        id::SERVER_KEEP_ALIVE => ServerKeepAlive(reader.u16()?),
        id::AUTHENTICATION_METHOD => AuthenticationMethod(reader.string()?),
        id::AUTHENTICATION_DATA => AuthenticationData(reader.binary()?),
        id::REQUEST_PROBLEM_INFORMATION => {
            RequestProblemInformation(read_bool(reader, property_id)?)
        }
        id::WILL_DELAY_INTERVAL => WillDelayInterval(reader.u32()?),
        id::REQUEST_RESPONSE_INFORMATION => {
            RequestResponseInformation(read_bool(reader, property_id)?)
        }
        id::RESPONSE_INFORMATION => ResponseInformation(reader.string()?),
        id::SERVER_REFERENCE => ServerReference(reader.string()?),
        id::REASON_STRING => ReasonString(reader.string()?),
        id::RECEIVE_MAXIMUM => ReceiveMaximum(read_nonzero_u16(reader, property_id)?),
        id::TOPIC_ALIAS_MAXIMUM => TopicAliasMaximum(reader.u16()?),
        id::TOPIC_ALIAS => match reader.u16()? {
            0 => return Err(ProtocolError::TopicAliasZero),
            value => TopicAlias(value),
        },
        id::MAXIMUM_QOS => match reader.u8()? {
            0 => MaximumQos(QoS::AtMostOnce),
            1 => MaximumQos(QoS::AtLeastOnce),
            value => {
                return Err(ProtocolError::PropertyValueInvalid {
                    id: property_id,
                    value: u32::from(value),
                })
            }
        },
        id::RETAIN_AVAILABLE => RetainAvailable(read_bool(reader, property_id)?),
        id::USER_PROPERTY => {
            let name = reader.string()?;
            let value = reader.string()?;
            UserProperty(name, value)
        }
        id::MAXIMUM_PACKET_SIZE => MaximumPacketSize(read_nonzero_u32(reader, property_id)?),
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
            WildcardSubscriptionAvailable(read_bool(reader, property_id)?)
        }
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
            SubscriptionIdentifierAvailable(read_bool(reader, property_id)?)
        }
        id::SHARED_SUBSCRIPTION_AVAILABLE => {
            SharedSubscriptionAvailable(read_bool(reader, property_id)?)
        }
        _ => return Err(ProtocolError::UnknownProperty { id: raw_id }),
    })
}

/// Stores `value` in a property slot that may be filled once.
fn once<T>(slot: &mut Option<T>, value: T, property_id: u8) -> Result<(), ProtocolError> {
    if slot.is_some() {
        return Err(ProtocolError::DuplicateProperty { id: property_id });
    }
    *slot = Some(value);
    Ok(())
}

/// The property set of one packet kind.
pub(crate) trait PropertySet: Default {
    /// Takes one decoded property; `Err(property)` if this packet may not carry it.
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property>;

    /// Checks rules between properties, once all are read.
    fn validate(&self) -> Result<(), ProtocolError> {
        Ok(())
    }

    /// Writes every present property, identifier then value.
    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError>;

    /// True when no property is present.
    fn is_empty(&self) -> bool;
}

/// Decodes a Property Length and the properties it covers, for a packet of
/// `packet_type` (or [`WILL_PROPERTIES`]).
pub(crate) fn decode_properties<P: PropertySet>(
    reader: &mut Reader,
    packet_type: u8,
) -> Result<P, ProtocolError> {
    let len = reader.variable_byte_integer()? as usize;
    let mut set = P::default();
    if len > 0 {
        read_property_block(reader, len, packet_type, &mut set)?;
    }
    Ok(set)
}

/// [`decode_properties`] for a set kept behind an `Arc`, `None` when the
/// Property Length is 0: every property read fills a field, so a non-empty
/// block never decodes to an empty set.
pub(crate) fn decode_shared_properties<P: PropertySet>(
    reader: &mut Reader,
    packet_type: u8,
) -> Result<Option<Arc<P>>, ProtocolError> {
    let len = reader.variable_byte_integer()? as usize;
    if len == 0 {
        return Ok(None);
    }
    let mut set = P::default();
    read_property_block(reader, len, packet_type, &mut set)?;
    Ok(Some(Arc::new(set)))
}

/// Reads the `len` bytes of properties after a Property Length into `set`.
fn read_property_block<P: PropertySet>(
    reader: &mut Reader,
    len: usize,
    packet_type: u8,
    set: &mut P,
) -> Result<(), ProtocolError> {
    let mut block = reader.sub_reader(len)?;
    while !block.is_empty() {
        let property = read_property(&mut block)?;
        let property_id = property.id();
        set.apply(property)
            .map_err(|_| ProtocolError::PropertyNotAllowed {
                id: property_id,
                packet_type,
            })??;
    }
    set.validate()
}

/// Length of the properties alone, without the Property Length field.
pub(crate) fn properties_len<P: PropertySet>(set: &P) -> Result<u32, EncodeError> {
    let mut counter = LenCounter::default();
    set.write(&mut counter)?;
    u32::try_from(counter.len).map_err(|_| EncodeError::PacketTooLarge)
}

/// Writes the Property Length and the properties.
pub(crate) fn encode_properties<P: PropertySet, S: Sink>(
    set: &P,
    sink: &mut S,
) -> Result<(), EncodeError> {
    if set.is_empty() {
        sink.u8(0);
        return Ok(());
    }
    let len = properties_len(set)?;
    sink.variable_byte_integer(len)?;
    set.write(sink)
}

fn write_bool<S: Sink>(sink: &mut S, property_id: u8, value: Option<bool>) {
    if let Some(value) = value {
        sink.u8(property_id);
        sink.u8(u8::from(value));
    }
}

fn write_u16<S: Sink>(sink: &mut S, property_id: u8, value: Option<u16>) {
    if let Some(value) = value {
        sink.u8(property_id);
        sink.u16(value);
    }
}

fn write_u32<S: Sink>(sink: &mut S, property_id: u8, value: Option<u32>) {
    if let Some(value) = value {
        sink.u8(property_id);
        sink.u32(value);
    }
}

fn write_string<S: Sink>(
    sink: &mut S,
    property_id: u8,
    value: &Option<ByteString>,
) -> Result<(), EncodeError> {
    if let Some(value) = value {
        sink.u8(property_id);
        sink.string(value)?;
    }
    Ok(())
}

fn write_binary<S: Sink>(
    sink: &mut S,
    property_id: u8,
    value: &Option<Bytes>,
) -> Result<(), EncodeError> {
    if let Some(value) = value {
        sink.u8(property_id);
        sink.binary(value)?;
    }
    Ok(())
}

fn write_user_properties<S: Sink>(
    sink: &mut S,
    user_properties: &UserProperties,
) -> Result<(), EncodeError> {
    for (name, value) in user_properties {
        sink.u8(id::USER_PROPERTY);
        sink.string(name)?;
        sink.string(value)?;
    }
    Ok(())
}

fn write_subscription_identifier<S: Sink>(sink: &mut S, value: u32) -> Result<(), EncodeError> {
    sink.u8(id::SUBSCRIPTION_IDENTIFIER);
    sink.variable_byte_integer(value)
}

fn authentication_rule(
    method: &Option<ByteString>,
    data: &Option<Bytes>,
) -> Result<(), ProtocolError> {
    if data.is_some() && method.is_none() {
        return Err(ProtocolError::AuthenticationDataWithoutMethod);
    }
    Ok(())
}

impl PropertySet for ConnectProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            SessionExpiryInterval(v) => once(
                &mut self.session_expiry_interval_s,
                v,
                id::SESSION_EXPIRY_INTERVAL,
            ),
            ReceiveMaximum(v) => once(&mut self.receive_maximum, v, id::RECEIVE_MAXIMUM),
            MaximumPacketSize(v) => once(&mut self.maximum_packet_size, v, id::MAXIMUM_PACKET_SIZE),
            TopicAliasMaximum(v) => once(&mut self.topic_alias_maximum, v, id::TOPIC_ALIAS_MAXIMUM),
            RequestResponseInformation(v) => once(
                &mut self.request_response_information,
                v,
                id::REQUEST_RESPONSE_INFORMATION,
            ),
            RequestProblemInformation(v) => once(
                &mut self.request_problem_information,
                v,
                id::REQUEST_PROBLEM_INFORMATION,
            ),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            AuthenticationMethod(v) => once(
                &mut self.authentication_method,
                v,
                id::AUTHENTICATION_METHOD,
            ),
            AuthenticationData(v) => {
                once(&mut self.authentication_data, v, id::AUTHENTICATION_DATA)
            }
            other => return Err(other),
        })
    }

    fn validate(&self) -> Result<(), ProtocolError> {
        authentication_rule(&self.authentication_method, &self.authentication_data)
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_u32(
            sink,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval_s,
        );
        write_string(sink, id::AUTHENTICATION_METHOD, &self.authentication_method)?;
        write_binary(sink, id::AUTHENTICATION_DATA, &self.authentication_data)?;
        write_bool(
            sink,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        write_bool(
            sink,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        write_u16(sink, id::RECEIVE_MAXIMUM, self.receive_maximum);
        write_u16(sink, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        write_user_properties(sink, &self.user_properties)?;
        write_u32(sink, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        *self == ConnectProperties::default()
    }
}

impl PropertySet for WillProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            WillDelayInterval(v) => {
                once(&mut self.will_delay_interval_s, v, id::WILL_DELAY_INTERVAL)
            }
            PayloadFormatIndicator(v) => once(
                &mut self.payload_format_indicator,
                v,
                id::PAYLOAD_FORMAT_INDICATOR,
            ),
            MessageExpiryInterval(v) => once(
                &mut self.message_expiry_interval_s,
                v,
                id::MESSAGE_EXPIRY_INTERVAL,
            ),
            ContentType(v) => once(&mut self.content_type, v, id::CONTENT_TYPE),
            ResponseTopic(v) => once(&mut self.response_topic, v, id::RESPONSE_TOPIC),
            CorrelationData(v) => once(&mut self.correlation_data, v, id::CORRELATION_DATA),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            other => return Err(other),
        })
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_bool(
            sink,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        write_u32(
            sink,
            id::MESSAGE_EXPIRY_INTERVAL,
            self.message_expiry_interval_s,
        );
        write_string(sink, id::CONTENT_TYPE, &self.content_type)?;
        write_string(sink, id::RESPONSE_TOPIC, &self.response_topic)?;
        write_binary(sink, id::CORRELATION_DATA, &self.correlation_data)?;
        write_u32(sink, id::WILL_DELAY_INTERVAL, self.will_delay_interval_s);
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        *self == WillProperties::default()
    }
}

impl PropertySet for ConnAckProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            SessionExpiryInterval(v) => once(
                &mut self.session_expiry_interval_s,
                v,
                id::SESSION_EXPIRY_INTERVAL,
            ),
            ReceiveMaximum(v) => once(&mut self.receive_maximum, v, id::RECEIVE_MAXIMUM),
            MaximumQos(v) => once(&mut self.maximum_qos, v, id::MAXIMUM_QOS),
            RetainAvailable(v) => once(&mut self.retain_available, v, id::RETAIN_AVAILABLE),
            MaximumPacketSize(v) => once(&mut self.maximum_packet_size, v, id::MAXIMUM_PACKET_SIZE),
            AssignedClientIdentifier(v) => once(
                &mut self.assigned_client_identifier,
                v,
                id::ASSIGNED_CLIENT_IDENTIFIER,
            ),
            TopicAliasMaximum(v) => once(&mut self.topic_alias_maximum, v, id::TOPIC_ALIAS_MAXIMUM),
            ReasonString(v) => once(&mut self.reason_string, v, id::REASON_STRING),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            WildcardSubscriptionAvailable(v) => once(
                &mut self.wildcard_subscription_available,
                v,
                id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            ),
            SubscriptionIdentifierAvailable(v) => once(
                &mut self.subscription_identifiers_available,
                v,
                id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            ),
            SharedSubscriptionAvailable(v) => once(
                &mut self.shared_subscription_available,
                v,
                id::SHARED_SUBSCRIPTION_AVAILABLE,
            ),
            ServerKeepAlive(v) => once(&mut self.server_keep_alive_s, v, id::SERVER_KEEP_ALIVE),
            ResponseInformation(v) => {
                once(&mut self.response_information, v, id::RESPONSE_INFORMATION)
            }
            ServerReference(v) => once(&mut self.server_reference, v, id::SERVER_REFERENCE),
            AuthenticationMethod(v) => once(
                &mut self.authentication_method,
                v,
                id::AUTHENTICATION_METHOD,
            ),
            AuthenticationData(v) => {
                once(&mut self.authentication_data, v, id::AUTHENTICATION_DATA)
            }
            other => return Err(other),
        })
    }

    fn validate(&self) -> Result<(), ProtocolError> {
        authentication_rule(&self.authentication_method, &self.authentication_data)
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_u32(
            sink,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval_s,
        );
        write_string(
            sink,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            &self.assigned_client_identifier,
        )?;
        write_u16(sink, id::SERVER_KEEP_ALIVE, self.server_keep_alive_s);
        write_string(sink, id::AUTHENTICATION_METHOD, &self.authentication_method)?;
        write_binary(sink, id::AUTHENTICATION_DATA, &self.authentication_data)?;
        write_string(sink, id::RESPONSE_INFORMATION, &self.response_information)?;
        write_string(sink, id::SERVER_REFERENCE, &self.server_reference)?;
        write_string(sink, id::REASON_STRING, &self.reason_string)?;
        write_u16(sink, id::RECEIVE_MAXIMUM, self.receive_maximum);
        write_u16(sink, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        if let Some(maximum_qos) = self.maximum_qos {
            sink.u8(id::MAXIMUM_QOS);
            sink.u8(maximum_qos as u8);
        }
        write_bool(sink, id::RETAIN_AVAILABLE, self.retain_available);
        write_user_properties(sink, &self.user_properties)?;
        write_u32(sink, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        write_bool(
            sink,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        write_bool(
            sink,
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        write_bool(
            sink,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        Ok(())
    }

    fn is_empty(&self) -> bool {
        *self == ConnAckProperties::default()
    }
}

impl PropertySet for PublishProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            PayloadFormatIndicator(v) => once(
                &mut self.payload_format_indicator,
                v,
                id::PAYLOAD_FORMAT_INDICATOR,
            ),
            MessageExpiryInterval(v) => once(
                &mut self.message_expiry_interval_s,
                v,
                id::MESSAGE_EXPIRY_INTERVAL,
            ),
            TopicAlias(v) => once(&mut self.topic_alias, v, id::TOPIC_ALIAS),
            ResponseTopic(v) => once(&mut self.response_topic, v, id::RESPONSE_TOPIC),
            CorrelationData(v) => once(&mut self.correlation_data, v, id::CORRELATION_DATA),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            // One per matching subscription, so it may repeat (section 3.3.2.3.8).
            SubscriptionIdentifier(v) => {
                self.subscription_identifiers.push(v);
                Ok(())
            }
            ContentType(v) => once(&mut self.content_type, v, id::CONTENT_TYPE),
            other => return Err(other),
        })
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_bool(
            sink,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        write_u32(
            sink,
            id::MESSAGE_EXPIRY_INTERVAL,
            self.message_expiry_interval_s,
        );
        write_string(sink, id::CONTENT_TYPE, &self.content_type)?;
        write_string(sink, id::RESPONSE_TOPIC, &self.response_topic)?;
        write_binary(sink, id::CORRELATION_DATA, &self.correlation_data)?;
        for &subscription_identifier in &self.subscription_identifiers {
            write_subscription_identifier(sink, subscription_identifier)?;
        }
        write_u16(sink, id::TOPIC_ALIAS, self.topic_alias);
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        PublishProperties::is_empty(self)
    }
}

impl PropertySet for AckProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            ReasonString(v) => once(&mut self.reason_string, v, id::REASON_STRING),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            other => return Err(other),
        })
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_string(sink, id::REASON_STRING, &self.reason_string)?;
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl PropertySet for SubscribeProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            SubscriptionIdentifier(v) => once(
                &mut self.subscription_identifier,
                v,
                id::SUBSCRIPTION_IDENTIFIER,
            ),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            other => return Err(other),
        })
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        if let Some(subscription_identifier) = self.subscription_identifier {
            write_subscription_identifier(sink, subscription_identifier)?;
        }
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        self.subscription_identifier.is_none() && self.user_properties.is_empty()
    }
}

impl PropertySet for UnsubscribeProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        match property {
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(Ok(()))
            }
            other => Err(other),
        }
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        self.user_properties.is_empty()
    }
}

impl PropertySet for DisconnectProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            SessionExpiryInterval(v) => once(
                &mut self.session_expiry_interval_s,
                v,
                id::SESSION_EXPIRY_INTERVAL,
            ),
            ReasonString(v) => once(&mut self.reason_string, v, id::REASON_STRING),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            ServerReference(v) => once(&mut self.server_reference, v, id::SERVER_REFERENCE),
            other => return Err(other),
        })
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_u32(
            sink,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval_s,
        );
        write_string(sink, id::SERVER_REFERENCE, &self.server_reference)?;
        write_string(sink, id::REASON_STRING, &self.reason_string)?;
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        *self == DisconnectProperties::default()
    }
}

impl PropertySet for AuthProperties {
    fn apply(&mut self, property: Property) -> Result<Result<(), ProtocolError>, Property> {
        use Property::*;
        Ok(match property {
            AuthenticationMethod(v) => once(
                &mut self.authentication_method,
                v,
                id::AUTHENTICATION_METHOD,
            ),
            AuthenticationData(v) => {
                once(&mut self.authentication_data, v, id::AUTHENTICATION_DATA)
            }
            ReasonString(v) => once(&mut self.reason_string, v, id::REASON_STRING),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Ok(())
            }
            other => return Err(other),
        })
    }

    fn validate(&self) -> Result<(), ProtocolError> {
        authentication_rule(&self.authentication_method, &self.authentication_data)
    }

    fn write<S: Sink>(&self, sink: &mut S) -> Result<(), EncodeError> {
        write_string(sink, id::AUTHENTICATION_METHOD, &self.authentication_method)?;
        write_binary(sink, id::AUTHENTICATION_DATA, &self.authentication_data)?;
        write_string(sink, id::REASON_STRING, &self.reason_string)?;
        write_user_properties(sink, &self.user_properties)
    }

    fn is_empty(&self) -> bool {
        *self == AuthProperties::default()
    }
}
