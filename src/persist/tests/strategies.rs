//! proptest strategies for the persisted schema: sessions in any state a live
//! session can be in (disconnected, with distinct non-zero packet ids, sorted
//! subscriptions), messages, and journal records.

use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::persist::schema::*;
use crate::persist::{InboundQos2Record, JournalRecord, TargetRecord};

/// The wall clock the strategies' deadlines are near.
pub const WALL_CLOCK_MS: u64 = 1_700_000_000_000;

fn string() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/ _.é€]{0,12}"
}

fn client_id() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn deadline_wall_ms() -> impl Strategy<Value = u64> {
    WALL_CLOCK_MS - 1_000_000..WALL_CLOCK_MS + 1_000_000_000
}

fn qos() -> impl Strategy<Value = QosRecord> {
    select(vec![
        QosRecord::AtMostOnce,
        QosRecord::AtLeastOnce,
        QosRecord::ExactlyOnce,
    ])
}

fn user_properties() -> impl Strategy<Value = Vec<UserPropertyRecord>> {
    vec(
        (string(), string()).prop_map(|(name, value)| UserPropertyRecord { name, value }),
        0..3,
    )
}

fn message_properties() -> impl Strategy<Value = MessagePropertiesRecord> {
    (
        option::of(any::<bool>()),
        option::of(string()),
        option::of(bytes()),
        user_properties(),
        option::of(string()),
    )
        .prop_map(
            |(payload_format_indicator, response_topic, correlation_data, user, content_type)| {
                MessagePropertiesRecord {
                    payload_format_indicator,
                    response_topic,
                    correlation_data,
                    user_properties: user,
                    content_type,
                }
            },
        )
}

/// Any message.
pub fn message() -> impl Strategy<Value = MessageRecord> {
    (
        "[a-z0-9/]{1,12}",
        bytes(),
        qos(),
        any::<bool>(),
        message_properties(),
        option::of(deadline_wall_ms()),
        client_id(),
    )
        .prop_map(
            |(topic_name, payload, qos, retain, properties, expires_at_wall_ms, publisher)| {
                MessageRecord {
                    topic_name,
                    payload,
                    qos,
                    retain,
                    properties,
                    expires_at_wall_ms,
                    publisher,
                }
            },
        )
}

fn delivery() -> impl Strategy<Value = DeliveryRecord> {
    (
        message(),
        qos(),
        any::<bool>(),
        vec(1..268_435_455u32, 0..3),
    )
        .prop_map(
            |(message, qos, retain, subscription_identifiers)| DeliveryRecord {
                message,
                qos,
                retain,
                subscription_identifiers,
            },
        )
}

fn flight_stage() -> impl Strategy<Value = FlightStageRecord> {
    prop_oneof![
        delivery().prop_map(FlightStageRecord::AwaitingPubAck),
        delivery().prop_map(FlightStageRecord::AwaitingPubRec),
        Just(FlightStageRecord::AwaitingPubComp),
    ]
}

fn flights() -> impl Strategy<Value = Vec<FlightRecord>> {
    (btree_set(1..=u16::MAX, 0..4), vec(flight_stage(), 4)).prop_map(|(packet_ids, stages)| {
        packet_ids
            .into_iter()
            .zip(stages)
            .map(|(packet_id, stage)| FlightRecord { packet_id, stage })
            .collect()
    })
}

fn subscription_options() -> impl Strategy<Value = (QosRecord, bool, bool, RetainHandlingRecord)> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandlingRecord::SendAtSubscribe,
            RetainHandlingRecord::SendAtNewSubscribe,
            RetainHandlingRecord::DoNotSend,
        ]),
    )
}

/// Any subscription of the given filter.
pub fn subscription_of(topic_filter: String) -> impl Strategy<Value = SubscriptionRecord> {
    (subscription_options(), option::of(1..268_435_455u32)).prop_map(
        move |((qos, no_local, retain_as_published, retain_handling), subscription_identifier)| {
            SubscriptionRecord {
                topic_filter: topic_filter.clone(),
                qos,
                no_local,
                retain_as_published,
                retain_handling,
                subscription_identifier,
            }
        },
    )
}

fn subscriptions() -> impl Strategy<Value = Vec<SubscriptionRecord>> {
    let options = (subscription_options(), option::of(1..268_435_455u32));
    btree_map("[a-z0-9/+#]{1,8}", options, 0..4).prop_map(|filters| {
        filters
            .into_iter()
            .map(|(topic_filter, (options, subscription_identifier))| {
                let (qos, no_local, retain_as_published, retain_handling) = options;
                SubscriptionRecord {
                    topic_filter,
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                    subscription_identifier,
                }
            })
            .collect()
    })
}

/// Any will.
pub fn will() -> impl Strategy<Value = WillRecord> {
    (
        ("[a-z0-9/]{1,12}", bytes(), qos(), any::<bool>()),
        (
            option::of(any::<u32>()),
            option::of(any::<bool>()),
            option::of(any::<u32>()),
            option::of(string()),
            option::of(string()),
            option::of(bytes()),
            user_properties(),
        ),
    )
        .prop_map(
            |(
                (topic_name, payload, qos, retain),
                (delay, format, expiry, content_type, response_topic, correlation, user),
            )| WillRecord {
                topic_name,
                payload,
                qos,
                retain,
                will_delay_interval_s: delay,
                payload_format_indicator: format,
                message_expiry_interval_s: expiry,
                content_type,
                response_topic,
                correlation_data: correlation,
                user_properties: user,
            },
        )
}

fn will_due() -> impl Strategy<Value = WillDueRecord> {
    prop_oneof![
        deadline_wall_ms().prop_map(WillDueRecord::At),
        Just(WillDueRecord::WithSessionEnd),
    ]
}

fn stats() -> impl Strategy<Value = SessionStatsRecord> {
    any::<(u64, u64, u64, u64, u64)>().prop_map(|(qos0, full, large, expired, offline)| {
        SessionStatsRecord {
            dropped_qos0: qos0,
            dropped_queue_full: full,
            dropped_too_large: large,
            dropped_expired: expired,
            dropped_qos0_offline: offline,
        }
    })
}

/// A session whose client is away, in any state a session can be in then.
pub fn disconnected_session() -> impl Strategy<Value = SessionSnapshot> {
    (
        (
            client_id(),
            select(vec![
                ProtocolVersionRecord::V3_1,
                ProtocolVersionRecord::V3_1_1,
                ProtocolVersionRecord::V5,
            ]),
            1..=u32::MAX,
            option::of(deadline_wall_ms()),
        ),
        (
            subscriptions(),
            flights(),
            any::<u16>(),
            vec(delivery(), 0..4),
        ),
        (
            btree_set(1..=u16::MAX, 0..4),
            option::of((will(), option::of(will_due()))),
            stats(),
        ),
    )
        .prop_map(
            |(
                (client_id, protocol_version, session_expiry_interval_s, expires_at_wall_ms),
                (subscriptions, inflight, last_packet_id, queue),
                (awaiting_pubrel, will, stats),
            )| {
                let (will, will_due) = match will {
                    Some((will, will_due)) => (Some(will), will_due),
                    None => (None, None),
                };
                SessionSnapshot {
                    client_id,
                    protocol_version,
                    session_expiry_interval_s,
                    connected: false,
                    expires_at_wall_ms,
                    subscriptions,
                    inflight,
                    last_packet_id,
                    queue,
                    awaiting_pubrel: awaiting_pubrel.into_iter().collect(),
                    will,
                    will_due,
                    stats,
                }
            },
        )
}

fn target() -> impl Strategy<Value = TargetRecord> {
    (client_id(), qos(), any::<bool>(), vec(any::<u32>(), 0..3)).prop_map(
        |(client_id, qos, retain, subscription_identifiers)| TargetRecord {
            client_id,
            qos,
            retain,
            subscription_identifiers,
        },
    )
}

/// Any journal record.
pub fn journal_record() -> impl Strategy<Value = JournalRecord> {
    prop_oneof![
        (client_id(), any::<bool>(), any::<u32>(), option::of(will())).prop_map(
            |(client_id, session_present, expiry, will)| {
                JournalRecord::SessionConnected {
                    client_id,
                    session_present,
                    protocol_version: ProtocolVersionRecord::V5,
                    session_expiry_interval_s: expiry,
                    will,
                }
            }
        ),
        (
            client_id(),
            any::<u32>(),
            option::of(any::<u64>()),
            option::of(will_due())
        )
            .prop_map(|(client_id, expiry, expires_at_wall_ms, will_due)| {
                JournalRecord::SessionDisconnected {
                    client_id,
                    session_expiry_interval_s: expiry,
                    expires_at_wall_ms,
                    will_due,
                }
            }),
        client_id().prop_map(|client_id| JournalRecord::WillPublished { client_id }),
        client_id().prop_map(|client_id| JournalRecord::SessionEnded { client_id }),
        (client_id(), "[a-z/+#]{1,8}".prop_flat_map(subscription_of)).prop_map(
            |(client_id, subscription)| JournalRecord::SubscriptionAdded {
                client_id,
                subscription,
            }
        ),
        (client_id(), string()).prop_map(|(client_id, topic_filter)| {
            JournalRecord::SubscriptionRemoved {
                client_id,
                topic_filter,
            }
        }),
        (
            option::of((client_id(), 1..=u16::MAX)),
            message(),
            vec(target(), 0..3)
        )
            .prop_map(
                |(inbound, message, targets)| JournalRecord::MessageAccepted {
                    inbound_qos2: inbound.map(|(client_id, packet_id)| InboundQos2Record {
                        client_id,
                        packet_id
                    }),
                    message,
                    targets,
                }
            ),
        (client_id(), 1..=u16::MAX, any::<u64>()).prop_map(
            |(client_id, packet_id, fingerprint)| JournalRecord::MessageDelivered {
                client_id,
                packet_id,
                fingerprint,
            }
        ),
        (client_id(), 1..=u16::MAX).prop_map(|(client_id, packet_id)| {
            JournalRecord::PubRecReceived {
                client_id,
                packet_id,
            }
        }),
        (client_id(), 1..=u16::MAX).prop_map(|(client_id, packet_id)| {
            JournalRecord::Acknowledged {
                client_id,
                packet_id,
            }
        }),
        (client_id(), 1..=u16::MAX).prop_map(|(client_id, packet_id)| {
            JournalRecord::PubRelReceived {
                client_id,
                packet_id,
            }
        }),
        message().prop_map(|message| JournalRecord::RetainedSet { message }),
        string().prop_map(|topic_name| JournalRecord::RetainedCleared { topic_name }),
    ]
}
