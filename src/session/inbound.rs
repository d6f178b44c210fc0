//! PUBLISH from the client: the checks it must pass, topic-alias resolution,
//! routing, and the QoS 1/2 acknowledgements, exactly-once for QoS 2 and bounded by
//! our Receive Maximum.
//!
//! The checks, in order: QoS and RETAIN against what we support, no Subscription
//! Identifier [MQTT-3.3.4-6], a Response Topic that is a valid topic name, without
//! wildcards [MQTT-3.3.2-14], the topic alias and name (the name within
//! [`SessionConfig::max_topic_levels`](super::SessionConfig) levels), the packet
//! id, then (when [`SessionConfig::validate_payload_format`](super::SessionConfig)
//! is on) a payload that says it is UTF-8 must be (3.3.2.3.2), and last the topic
//! must not be in `$SYS`, which belongs to the broker. The alias is resolved before
//! the payload and `$SYS` checks, so a PUBLISH refused for either still defines
//! its alias. A well-formed PUBLISH is refused for `$SYS` only after every rule of
//! the protocol has passed: a packet that breaks one gets the protocol's answer
//! wherever it was going.

use std::sync::Arc;

use bytestring::ByteString;

use super::message::Message;
use super::{Action, Change, PublishRefusal, Session, Violation};
use crate::auth::AclAccess;
use crate::protocol::{Packet, PacketId, Publish, PublishResponse, QoS, ReasonCode};
use crate::topic::{is_sys_topic, validate_topic_name, validate_topic_name_within};

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
            return self.protocol_violation(Violation::QosNotSupported, now_ms, actions);
        }
        if publish.retain && !self.config.retain_available {
            return self.protocol_violation(Violation::RetainNotSupported, now_ms, actions);
        }
        if !publish.properties().subscription_identifiers.is_empty() {
            let violation = Violation::SubscriptionIdentifierFromClient;
            return self.protocol_violation(violation, now_ms, actions);
        }
        if !response_topic_is_valid(publish.properties().response_topic.as_deref()) {
            return self.protocol_violation(Violation::ResponseTopicInvalid, now_ms, actions);
        }
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        let resolved = connection
            .inbound_aliases
            .resolve(publish.topic_name.clone(), publish.topic_alias());
        let topic_name = match resolved {
            Ok(topic_name) => topic_name,
            Err(violation) => return self.protocol_violation(violation, now_ms, actions),
        };
        // The codec already refused empty names, wildcards and U+0000, so what
        // is left to fail here is mostly the level bound: the runtime logs why,
        // as a 3.x client is closed without being told.
        if let Err(error) = validate_topic_name_within(&topic_name, self.config.max_topic_levels) {
            debug_assert_eq!(
                error.reason_code(),
                Violation::TopicNameInvalid.reason_code()
            );
            actions.push(Action::PublishRefused(PublishRefusal::TopicNameInvalid(
                error,
            )));
            return self.protocol_violation(Violation::TopicNameInvalid, now_ms, actions);
        }
        let packet_id = match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => None,
            (_, Some(packet_id)) if packet_id != 0 => Some(packet_id),
            _ => return self.protocol_violation(Violation::PacketIdMissing, now_ms, actions),
        };
        if self.config.validate_payload_format && !payload_matches_format(&publish) {
            return self.refuse_payload_format(publish.qos, packet_id, now_ms, actions);
        }
        if is_sys_topic(&topic_name) {
            let refusal = PublishRefusal::SysTopic { topic_name };
            return self.refuse_publish(publish.qos, packet_id, refusal, now_ms, actions);
        }
        if !self.acl_allows(AclAccess::Write, &topic_name) {
            let refusal = PublishRefusal::NotAuthorized { topic_name };
            return self.refuse_publish(publish.qos, packet_id, refusal, now_ms, actions);
        }
        match (publish.qos, packet_id) {
            (QoS::AtLeastOnce, Some(packet_id)) => {
                self.route(publish, topic_name, None, now_ms, actions);
                let puback = Packet::PubAck(PublishResponse::success(packet_id));
                actions.push(self.answer_to_routed(puback));
            }
            (QoS::ExactlyOnce, Some(packet_id)) => {
                let message = Some((publish, topic_name));
                self.receive_exactly_once(message, packet_id, now_ms, actions);
            }
            _ => self.route(publish, topic_name, None, now_ms, actions),
        }
    }

    /// A PUBLISH to a `$SYS` topic, or one the ACL refuses: not routed, and
    /// said to the runtime. QoS 0
    /// is dropped without a word (the client expects none, and the connection
    /// has done nothing wrong). QoS 1 and 2 are answered as the protocol level
    /// allows: under 5.0 with 0x90 (Topic Name invalid) in PUBACK or PUBREC, a
    /// failed PUBREC ending the QoS 2 flow; 3.x has no failure code there, so
    /// its PUBACK or PUBREC says success, and QoS 2 goes on to PUBREL and
    /// PUBCOMP as for a routed message. An ACL refusal answers 0x87 (Not
    /// authorized) instead of 0x90.
    ///
    /// Why 0x90 and not 0x87 for `$SYS`: 0x87 says that this client
    /// lacks a right another might hold, which is how Mosquitto reports it
    /// (through its ACL check). No client may publish to `$SYS` here, and
    /// there are no rights to grant; 0x90 is "the Topic Name is not malformed,
    /// but is not accepted by this Server", which is exactly the case, and
    /// points the client at its topic rather than at its credentials.
    fn refuse_publish(
        &mut self,
        qos: QoS,
        packet_id: Option<PacketId>,
        refusal: PublishRefusal,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let v5_reason_code = match refusal {
            PublishRefusal::NotAuthorized { .. } => ReasonCode::NotAuthorized,
            _ => ReasonCode::TopicNameInvalid,
        };
        actions.push(Action::PublishRefused(refusal));
        let Some(packet_id) = packet_id else {
            return;
        };
        let is_v5 = self.state.protocol_version.is_v5();
        match qos {
            QoS::ExactlyOnce if !is_v5 => {
                self.receive_exactly_once(None, packet_id, now_ms, actions);
            }
            _ => {
                let response = PublishResponse {
                    reason_code: if is_v5 {
                        v5_reason_code
                    } else {
                        ReasonCode::Success
                    },
                    ..PublishResponse::success(packet_id)
                };
                // Under 5.0 a failed PUBREC ends the QoS 2 flow: no PUBREL
                // follows, so the packet id is not kept.
                actions.push(Action::Acknowledge(if qos == QoS::ExactlyOnce {
                    Packet::PubRec(response)
                } else {
                    Packet::PubAck(response)
                }));
            }
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
        let Some(packet_id) = packet_id else {
            return self.protocol_violation(Violation::PayloadFormatInvalid, now_ms, actions);
        };
        let response = PublishResponse {
            reason_code: ReasonCode::PayloadFormatInvalid,
            ..PublishResponse::success(packet_id)
        };
        // A failed PUBREC ends the QoS 2 flow: no PUBREL follows, so the packet id
        // is not kept.
        let packet = if qos == QoS::ExactlyOnce {
            Packet::PubRec(response)
        } else {
            Packet::PubAck(response)
        };
        actions.push(Action::Acknowledge(packet));
    }

    /// Opens the QoS 2 flow of `packet_id` unless it is open, routing
    /// `message` (the PUBLISH and its resolved topic name) when it opens, and
    /// answers PUBREC. `None` opens the flow of a message that is not routed
    /// but must still be released by PUBREL: a 3.x client is told nothing else.
    fn receive_exactly_once(
        &mut self,
        message: Option<(Publish, ByteString)>,
        packet_id: PacketId,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let awaiting_pubrel = &mut self.state.awaiting_pubrel;
        if !awaiting_pubrel.contains(&packet_id) {
            if awaiting_pubrel.len() >= usize::from(self.config.receive_maximum) {
                return self.protocol_violation(Violation::ReceiveMaximumExceeded, now_ms, actions);
            }
            awaiting_pubrel.insert(packet_id);
            if let Some((publish, topic_name)) = message {
                let inbound_qos2 = self.journaled.then_some(packet_id);
                self.route(publish, topic_name, inbound_qos2, now_ms, actions);
                let pubrec = Packet::PubRec(PublishResponse::success(packet_id));
                actions.push(self.answer_to_routed(pubrec));
                return;
            }
        }
        actions.push(Action::Acknowledge(Packet::PubRec(
            PublishResponse::success(packet_id),
        )));
    }

    /// The action that sends `answer` to a PUBLISH just routed: under 5.0 one
    /// the router may give 0x10 (No matching subscribers)
    /// ([`Action::AnswerPublish`]); 3.x has no reason codes in it.
    fn answer_to_routed(&self, answer: Packet) -> Action {
        if self.state.protocol_version.is_v5() {
            Action::AnswerPublish(answer)
        } else {
            Action::Acknowledge(answer)
        }
    }

    /// Routes the PUBLISH under its resolved `topic_name`; `inbound_qos2`
    /// when it opens a journaled inbound QoS 2 flow.
    fn route(
        &self,
        publish: Publish,
        topic_name: ByteString,
        inbound_qos2: Option<PacketId>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let publisher = self.state.client_id.clone();
        let message = Message::from_publish(publish, topic_name, publisher, now_ms);
        actions.push(Action::Publish {
            message: Arc::new(message),
            inbound_qos2,
        });
    }

    /// PUBREL: release the QoS 2 packet id and answer PUBCOMP; for an unknown id,
    /// PUBCOMP with 0x92 (Packet Identifier not found) under v5.
    pub(crate) fn handle_pubrel(&mut self, response: PublishResponse, actions: &mut Vec<Action>) {
        let packet_id = response.packet_id;
        let mut pubcomp = PublishResponse::success(packet_id);
        if self.state.awaiting_pubrel.remove(&packet_id) {
            self.journal(|| Change::PubRelReceived(packet_id), actions);
        } else if self.state.protocol_version.is_v5() {
            pubcomp.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        actions.push(Action::Acknowledge(Packet::PubComp(pubcomp)));
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
