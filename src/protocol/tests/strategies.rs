//! proptest strategies for valid packets of each protocol level: every field
//! within the ranges the decoder accepts, v5-only parts only under 5.0.

use bytes::Bytes;
use bytestring::ByteString;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::protocol::*;

fn string() -> impl Strategy<Value = ByteString> {
    "[a-zA-Z0-9/ _.é€]{0,12}".prop_map(ByteString::from)
}

fn topic_name() -> impl Strategy<Value = ByteString> {
    "[a-z0-9/$]{1,12}".prop_map(ByteString::from)
}

fn topic_filter() -> impl Strategy<Value = ByteString> {
    "[a-z0-9/+#$]{1,12}".prop_map(ByteString::from)
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn user_properties() -> impl Strategy<Value = UserProperties> {
    vec((string(), string()), 0..3)
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    1..=u16::MAX
}

fn reason_code(values: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    select(values).prop_map(|value| ReasonCode::from_u8(value).expect("a defined code"))
}

/// Applies `v5` to a property set strategy: the default set below 5.0.
fn v5_only<T: Default + Clone + std::fmt::Debug + 'static>(
    v5: bool,
    strategy: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    if v5 {
        strategy.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

fn authentication() -> impl Strategy<Value = (Option<ByteString>, Option<Bytes>)> {
    (option::of(string()), option::of(binary()))
        .prop_map(|(method, data)| (method.clone(), method.and(data)))
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(1..=u16::MAX),
        option::of(1..=u32::MAX),
        option::of(any::<u16>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        user_properties(),
        authentication(),
    )
        .prop_map(
            |(session, receive, size, alias, response, problem, user, (method, data))| {
                ConnectProperties {
                    session_expiry_interval_s: session,
                    receive_maximum: receive,
                    maximum_packet_size: size,
                    topic_alias_maximum: alias,
                    request_response_information: response,
                    request_problem_information: problem,
                    user_properties: user,
                    authentication_method: method,
                    authentication_data: data,
                }
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
    )
        .prop_map(
            |(delay, format, expiry, content_type, response_topic, correlation, user)| {
                WillProperties {
                    will_delay_interval_s: delay,
                    payload_format_indicator: format,
                    message_expiry_interval_s: expiry,
                    content_type,
                    response_topic,
                    correlation_data: correlation,
                    user_properties: user,
                }
            },
        )
}

fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let will = (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        v5_only(v5, will_properties()),
    )
        .prop_map(|(topic_name, payload, qos, retain, properties)| LastWill {
            topic_name,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        option::of(will),
        option::of(string()),
        option::of(binary()),
        v5_only(v5, connect_properties()),
    )
        .prop_map(
            move |(clean_start, keep_alive_s, client_id, will, username, password, properties)| {
                // Below 5.0 a password needs a user name [MQTT-3.1.2-22].
                let password = if v5 {
                    password
                } else {
                    username.as_ref().and(password)
                };
                Packet::Connect(Box::new(Connect {
                    protocol_version: version,
                    clean_start,
                    keep_alive_s,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let limits = (
        option::of(any::<u32>()),
        option::of(1..=u16::MAX),
        option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        option::of(any::<bool>()),
        option::of(1..=u32::MAX),
        option::of(any::<u16>()),
        option::of(any::<u16>()),
    );
    let availability = (
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    );
    let strings = (
        option::of(string()),
        option::of(string()),
        option::of(string()),
        option::of(string()),
        user_properties(),
        authentication(),
    );
    (limits, availability, strings).prop_map(
        |(
            (session, receive, maximum_qos, retain, size, alias, keep_alive),
            (wildcard, identifiers, shared),
            (assigned, reason, response, reference, user, (method, data)),
        )| ConnAckProperties {
            session_expiry_interval_s: session,
            receive_maximum: receive,
            maximum_qos,
            retain_available: retain,
            maximum_packet_size: size,
            assigned_client_identifier: assigned,
            topic_alias_maximum: alias,
            reason_string: reason,
            user_properties: user,
            wildcard_subscription_available: wildcard,
            subscription_identifiers_available: identifiers,
            shared_subscription_available: shared,
            server_keep_alive_s: keep_alive,
            response_information: response,
            server_reference: reference,
            authentication_method: method,
            authentication_data: data,
        },
    )
}

const CONNACK_V3: &[u8] = &[0x00, 0x01, 0x02, 0x03, 0x04, 0x05];
const CONNACK_V3_AS_REASON: [ReasonCode; 6] = [
    ReasonCode::Success,
    ReasonCode::UnsupportedProtocolVersion,
    ReasonCode::ClientIdentifierNotValid,
    ReasonCode::ServerUnavailable,
    ReasonCode::BadUserNameOrPassword,
    ReasonCode::NotAuthorized,
];

fn connack(v5: bool) -> impl Strategy<Value = Packet> {
    let reason_code = if v5 {
        reason_code(crate::protocol::reason_codes::CONNACK).boxed()
    } else {
        select(CONNACK_V3)
            .prop_map(|value| CONNACK_V3_AS_REASON[usize::from(value)])
            .boxed()
    };
    (
        any::<bool>(),
        reason_code,
        v5_only(v5, connack_properties()),
    )
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(Box::new(ConnAck {
                session_present,
                reason_code,
                properties,
            }))
        })
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(1..=u16::MAX),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
        vec(1..=crate::limits::REMAINING_LENGTH_MAX, 0..3),
        option::of(string()),
    )
        .prop_map(
            |(format, expiry, alias, response_topic, correlation, user, identifiers, content)| {
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval_s: expiry,
                    topic_alias: alias,
                    response_topic,
                    correlation_data: correlation,
                    user_properties: user,
                    subscription_identifiers: identifiers.into_iter().collect(),
                    content_type: content,
                }
            },
        )
}

fn publish(v5: bool) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        v5_only(v5, publish_properties()),
        binary(),
    )
        .prop_map(
            |(dup, qos, retain, topic_name, use_alias, packet_id, properties, payload)| {
                let at_most_once = qos == QoS::AtMostOnce;
                // Under 5.0 an alias may stand for the topic name.
                let topic_name = if use_alias && properties.topic_alias.is_some() {
                    ByteString::new()
                } else {
                    topic_name
                };
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic_name,
                    packet_id: (!at_most_once).then_some(packet_id),
                    properties: properties.boxed(),
                    payload,
                })
            },
        )
}

fn ack_properties(v5: bool) -> BoxedStrategy<AckProperties> {
    v5_only(
        v5,
        (option::of(string()), user_properties()).prop_map(|(reason_string, user_properties)| {
            AckProperties {
                reason_string,
                user_properties,
            }
        }),
    )
}

fn publish_response(v5: bool, codes: &'static [u8]) -> impl Strategy<Value = PublishResponse> {
    let reason_code = if v5 {
        reason_code(codes).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), reason_code, ack_properties(v5)).prop_map(
        |(packet_id, reason_code, properties)| PublishResponse {
            packet_id,
            reason_code,
            properties,
        },
    )
}

fn subscription_options(v5: bool) -> BoxedStrategy<SubscriptionOptions> {
    let retain_handling = select(vec![
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendAtNewSubscribe,
        RetainHandling::DoNotSend,
    ]);
    if v5 {
        (qos(), any::<bool>(), any::<bool>(), retain_handling)
            .prop_map(
                |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                },
            )
            .boxed()
    } else {
        qos()
            .prop_map(|qos| SubscriptionOptions {
                qos,
                ..Default::default()
            })
            .boxed()
    }
}

fn subscribe(v5: bool) -> impl Strategy<Value = Packet> {
    let properties = v5_only(
        v5,
        (
            option::of(1..=crate::limits::REMAINING_LENGTH_MAX),
            user_properties(),
        )
            .prop_map(
                |(subscription_identifier, user_properties)| SubscribeProperties {
                    subscription_identifier,
                    user_properties,
                },
            ),
    );
    (
        packet_id(),
        properties,
        vec((topic_filter(), subscription_options(v5)), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        })
}

fn suback(v5: bool) -> impl Strategy<Value = Packet> {
    let codes = if v5 {
        crate::protocol::reason_codes::SUBACK
    } else {
        crate::protocol::reason_codes::SUBACK_V3
    };
    (
        packet_id(),
        ack_properties(v5),
        vec(reason_code(codes), 0..4),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

fn unsubscribe(v5: bool) -> impl Strategy<Value = Packet> {
    let properties = v5_only(
        v5,
        user_properties().prop_map(|user_properties| UnsubscribeProperties { user_properties }),
    );
    (packet_id(), properties, vec(topic_filter(), 1..4)).prop_map(
        |(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        },
    )
}

fn unsuback(v5: bool) -> impl Strategy<Value = Packet> {
    let reason_codes = if v5 {
        vec(reason_code(crate::protocol::reason_codes::UNSUBACK), 0..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), ack_properties(v5), reason_codes).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        },
    )
}

fn disconnect(v5: bool) -> impl Strategy<Value = Packet> {
    let reason_code = if v5 {
        reason_code(crate::protocol::reason_codes::DISCONNECT).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    let properties = v5_only(
        v5,
        (
            option::of(any::<u32>()),
            option::of(string()),
            user_properties(),
            option::of(string()),
        )
            .prop_map(|(session, reason, user, reference)| DisconnectProperties {
                session_expiry_interval_s: session,
                reason_string: reason,
                user_properties: user,
                server_reference: reference,
            }),
    );
    (reason_code, properties).prop_map(|(reason_code, properties)| {
        Packet::Disconnect(Disconnect {
            reason_code,
            properties,
        })
    })
}

fn auth() -> impl Strategy<Value = Packet> {
    let properties = (authentication(), option::of(string()), user_properties()).prop_map(
        |((method, data), reason, user)| AuthProperties {
            authentication_method: method,
            authentication_data: data,
            reason_string: reason,
            user_properties: user,
        },
    );
    (reason_code(crate::protocol::reason_codes::AUTH), properties).prop_map(
        |(reason_code, properties)| {
            Packet::Auth(Box::new(Auth {
                reason_code,
                properties,
            }))
        },
    )
}

/// Any valid packet of `version` (CONNECT at that level too).
pub(super) fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let v5 = version.is_v5();
    let mut choices = vec![
        connect(version).boxed(),
        connack(v5).boxed(),
        publish(v5).boxed(),
        publish_response(v5, crate::protocol::reason_codes::PUBACK)
            .prop_map(Packet::PubAck)
            .boxed(),
        publish_response(v5, crate::protocol::reason_codes::PUBACK)
            .prop_map(Packet::PubRec)
            .boxed(),
        publish_response(v5, crate::protocol::reason_codes::PUBREL)
            .prop_map(Packet::PubRel)
            .boxed(),
        publish_response(v5, crate::protocol::reason_codes::PUBREL)
            .prop_map(Packet::PubComp)
            .boxed(),
        subscribe(v5).boxed(),
        suback(v5).boxed(),
        unsubscribe(v5).boxed(),
        unsuback(v5).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v5).boxed(),
    ];
    if v5 {
        choices.push(auth().boxed());
    }
    proptest::strategy::Union::new(choices).boxed()
}

/// Any protocol level.
pub(super) fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ])
}
