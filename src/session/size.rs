//! The encoded size of an outbound PUBLISH, for the client's Maximum Packet Size.

use crate::protocol::{ProtocolVersion, Publish, PublishProperties};

/// Bytes the PUBLISH takes on the wire, fixed header included (2.1, 3.3).
pub(crate) fn publish_packet_size(publish: &Publish, protocol_version: ProtocolVersion) -> u64 {
    let mut remaining_length = 2 + publish.topic_name.len() as u64 + publish.payload.len() as u64;
    if publish.packet_id.is_some() {
        remaining_length += 2;
    }
    if protocol_version.is_v5() {
        let properties_length = properties_size(&publish.properties);
        remaining_length += variable_byte_integer_size(properties_length) + properties_length;
    }
    1 + variable_byte_integer_size(remaining_length) + remaining_length
}

fn properties_size(properties: &PublishProperties) -> u64 {
    let string_size = |length: usize| 1 + 2 + length as u64;
    let mut size = 0;
    if properties.payload_format_indicator.is_some() {
        size += 2;
    }
    if properties.message_expiry_interval_s.is_some() {
        size += 5;
    }
    if properties.topic_alias.is_some() {
        size += 3;
    }
    if let Some(response_topic) = &properties.response_topic {
        size += string_size(response_topic.len());
    }
    if let Some(correlation_data) = &properties.correlation_data {
        size += string_size(correlation_data.len());
    }
    for (name, value) in &properties.user_properties {
        size += 1 + 2 + name.len() as u64 + 2 + value.len() as u64;
    }
    for subscription_identifier in &properties.subscription_identifiers {
        size += 1 + variable_byte_integer_size(u64::from(*subscription_identifier));
    }
    if let Some(content_type) = &properties.content_type {
        size += string_size(content_type.len());
    }
    size
}

fn variable_byte_integer_size(value: u64) -> u64 {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use bytestring::ByteString;

    use super::publish_packet_size;
    use crate::protocol::{ProtocolVersion, Publish, PublishProperties, QoS};

    fn publish(topic_name: &str, payload_len: usize, packet_id: Option<u16>) -> Publish {
        Publish {
            dup: false,
            qos: if packet_id.is_some() {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            },
            retain: false,
            topic_name: ByteString::from(topic_name),
            packet_id,
            properties: PublishProperties::default(),
            payload: Bytes::from(vec![0; payload_len]),
        }
    }

    #[test]
    fn v3_1_1_size_counts_header_topic_packet_id_and_payload() {
        let packet = publish("a/b", 5, Some(1));
        assert_eq!(publish_packet_size(&packet, ProtocolVersion::V3_1_1), 14);
    }

    #[test]
    fn remaining_length_above_127_takes_two_bytes() {
        let packet = publish("t", 195, None);
        assert_eq!(publish_packet_size(&packet, ProtocolVersion::V3_1_1), 201);
    }

    #[test]
    fn v5_size_counts_every_property() {
        let mut packet = publish("t", 0, None);
        packet.properties.message_expiry_interval_s = Some(10);
        packet.properties.topic_alias = Some(1);
        packet.properties.user_properties = vec![("k".into(), "v".into())];
        packet.properties.subscription_identifiers.push(200);
        // 1 + 1 (remaining length) + 2 + 1 (topic) + 1 (properties length) + 18.
        assert_eq!(publish_packet_size(&packet, ProtocolVersion::V5), 24);
    }
}
