//! PUBLISH from the client: the checks it must pass, topic-alias resolution,
//! routing, and the QoS 1/2 acknowledgements, exactly-once for QoS 2 and bounded by
//! our Receive Maximum.
//!
//! The checks, in order: QoS and RETAIN against what we support, no Subscription
//! Identifier [MQTT-3.3.4-6], a Response Topic that is a valid topic name, without
//! wildcards [MQTT-3.3.2-14], the topic alias and name, the packet id, then (when
//! [`SessionConfig::validate_payload_format`](super::SessionConfig) is on) a payload
//! that says it is UTF-8 must be (3.3.2.3.2). The alias is resolved before the
//! payload check, so a PUBLISH refused for its payload still defines its alias.

use std::sync::Arc;

use bytestring::ByteString;

use super::message::Message;
use super::{Action, Session};
use crate::protocol::{Packet, PacketId, Publish, PublishResponse, QoS, ReasonCode};
use crate::topic::validate_topic_name;

impl Session {
    /// A PUBLISH from the client.
    ///
    /// QoS 2 is routed once: its packet id is kept until PUBREL, and a PUBLISH
    /// reusing it before then (a resend) is answered with PUBREC again and not
    /// routed a second time (4.3.3, method B).
    pub(crate) fn handle_publish(
        &mut self,
        publish: Publish,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        if publish.qos > self.config.maximum_qos {
            return self.protocol_violation(ReasonCode::QosNotSupported, now_ms, actions);
        }
        if publish.retain && !self.config.retain_available {
            return self.protocol_violation(ReasonCode::RetainNotSupported, now_ms, actions);
        }
        if !publish.properties().subscription_identifiers.is_empty()
            || !response_topic_is_valid(publish.properties().response_topic.as_deref())
        {
            return self.protocol_violation(ReasonCode::ProtocolError, now_ms, actions);
        }
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        let resolved = connection
            .inbound_aliases
            .resolve(publish.topic_name.clone(), publish.topic_alias());
        let topic_name = match resolved {
            Ok(topic_name) => topic_name,
            Err(reason_code) => return self.protocol_violation(reason_code, now_ms, actions),
        };
        if validate_topic_name(&topic_name).is_err() {
            return self.protocol_violation(ReasonCode::TopicNameInvalid, now_ms, actions);
        }
        let packet_id = match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => None,
            (_, Some(packet_id)) if packet_id != 0 => Some(packet_id),
            _ => return self.protocol_violation(ReasonCode::MalformedPacket, now_ms, actions),
        };
        if self.config.validate_payload_format && !payload_matches_format(&publish) {
            return self.refuse_payload_format(publish.qos, packet_id, now_ms, actions);
        }
        match (publish.qos, packet_id) {
            (QoS::AtLeastOnce, Some(packet_id)) => {
                self.route(publish, topic_name, now_ms, actions);
                actions.push(Action::Send(Packet::PubAck(PublishResponse::success(
                    packet_id,
                ))));
            }
            (QoS::ExactlyOnce, Some(packet_id)) => {
                self.receive_exactly_once(publish, topic_name, packet_id, now_ms, actions);
            }
            _ => self.route(publish, topic_name, now_ms, actions),
        }
    }

    /// A PUBLISH whose payload is not in the format it claims: not routed; QoS 1/2
    /// are answered with 0x99, QoS 0, which has no answer, ends the connection
    /// with it (3.3.2.3.2).
    fn refuse_payload_format(
        &mut self,
        qos: QoS,
        packet_id: Option<PacketId>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let reason_code = ReasonCode::PayloadFormatInvalid;
        let Some(packet_id) = packet_id else {
            return self.protocol_violation(reason_code, now_ms, actions);
        };
        let response = PublishResponse {
            reason_code,
            ..PublishResponse::success(packet_id)
        };
        // A failed PUBREC ends the QoS 2 flow: no PUBREL follows, so the packet id
        // is not kept.
        let packet = if qos == QoS::ExactlyOnce {
            Packet::PubRec(response)
        } else {
            Packet::PubAck(response)
        };
        actions.push(Action::Send(packet));
    }

    fn receive_exactly_once(
        &mut self,
        publish: Publish,
        topic_name: ByteString,
        packet_id: PacketId,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let awaiting_pubrel = &mut self.state.awaiting_pubrel;
        if !awaiting_pubrel.contains(&packet_id) {
            if awaiting_pubrel.len() >= usize::from(self.config.receive_maximum) {
                return self.protocol_violation(
                    ReasonCode::ReceiveMaximumExceeded,
                    now_ms,
                    actions,
                );
            }
            awaiting_pubrel.insert(packet_id);
            self.route(publish, topic_name, now_ms, actions);
        }
        actions.push(Action::Send(Packet::PubRec(PublishResponse::success(
            packet_id,
        ))));
    }

    fn route(
        &self,
        publish: Publish,
        topic_name: ByteString,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let publisher = self.state.client_id.clone();
        let message = Message::from_publish(publish, topic_name, publisher, now_ms);
        actions.push(Action::Publish(Arc::new(message)));
    }

    /// PUBREL: release the QoS 2 packet id and answer PUBCOMP; for an unknown id,
    /// PUBCOMP with 0x92 (Packet Identifier not found) under v5.
    pub(crate) fn handle_pubrel(&mut self, response: PublishResponse, actions: &mut Vec<Action>) {
        let packet_id = response.packet_id;
        let mut pubcomp = PublishResponse::success(packet_id);
        if !self.state.awaiting_pubrel.remove(&packet_id) && self.state.protocol_version.is_v5() {
            pubcomp.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        actions.push(Action::Send(Packet::PubComp(pubcomp)));
    }
}

/// False when a Response Topic is present and not a valid topic name: it is the
/// topic the response is published to, so it holds no wildcard [MQTT-3.3.2-14].
pub(crate) fn response_topic_is_valid(response_topic: Option<&str>) -> bool {
    response_topic.map_or(true, |topic_name| validate_topic_name(topic_name).is_ok())
}

/// False when the PUBLISH says its payload is UTF-8 (Payload Format Indicator 1) and
/// it is not. Only 5.0 carries the indicator.
pub(crate) fn payload_matches_format(publish: &Publish) -> bool {
    publish.properties().payload_format_indicator != Some(true)
        || std::str::from_utf8(&publish.payload).is_ok()
}
