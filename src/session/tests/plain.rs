//! Property test: [`Session::deliver_plain`] agrees with [`Session::deliver`].
//! Whatever it calls plain is the one QoS 0 PUBLISH `deliver` would send, byte
//! for byte; what it skips, `deliver` sends nothing for; both count the same
//! drops; and what it leaves to `deliver` it neither changes nor counts.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use proptest::prelude::*;

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, Message, PlainDelivery, SubscriptionMatch};

#[derive(Clone, Debug)]
struct Case {
    v5: bool,
    client_topic_alias_maximum: u16,
    client_maximum_packet_size: Option<u32>,
    offline: bool,
    message_qos: QoS,
    message_retain: bool,
    expires_at_ms: Option<u64>,
    user_property: bool,
    own_message: bool,
    payload_len: usize,
    matched: Vec<SubscriptionMatch>,
    now_ms: u64,
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|value| QoS::from_u8(value).unwrap())
}

fn subscription() -> impl Strategy<Value = SubscriptionMatch> {
    (
        qos(),
        prop::option::of(1u32..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(qos, subscription_identifier, no_local, retain_as_published)| SubscriptionMatch {
                qos,
                subscription_identifier,
                no_local,
                retain_as_published,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            prop_oneof![Just(0u16), Just(4)],
            prop_oneof![Just(None), Just(Some(40u32)), Just(Some(1000))],
            any::<bool>(),
        ),
        (
            qos(),
            any::<bool>(),
            prop::option::of(500u64..2_000),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(0usize), Just(7), Just(300)],
        ),
        prop::collection::vec(subscription(), 1..4),
        prop_oneof![Just(0u64), Just(1_000), Just(3_000)],
    )
        .prop_map(
            |(
                (v5, client_topic_alias_maximum, client_maximum_packet_size, offline),
                (
                    message_qos,
                    message_retain,
                    expires_at_ms,
                    user_property,
                    own_message,
                    payload_len,
                ),
                matched,
                now_ms,
            )| Case {
                v5,
                client_topic_alias_maximum,
                client_maximum_packet_size,
                offline,
                message_qos,
                message_retain,
                expires_at_ms,
                user_property,
                own_message,
                payload_len,
                matched,
                now_ms,
            },
        )
}

fn message_of(case: &Case) -> Arc<Message> {
    let properties = case.user_property.then(|| {
        let mut set = PublishProperties::default();
        set.user_properties
            .push((ByteString::from("k"), ByteString::from("v")));
        set.content_type = Some(ByteString::from("text/plain"));
        Arc::new(set)
    });
    Arc::new(Message {
        topic_name: ByteString::from("sensors/1"),
        payload: Bytes::from(vec![7; case.payload_len]),
        qos: case.message_qos,
        retain: case.message_retain,
        properties: properties.into(),
        expires_at_ms: case.expires_at_ms,
        publisher: ByteString::from(if case.own_message { "me" } else { "other" }),
    })
}

/// The PUBLISH a plain delivery writes, as the runtime writes it.
fn plain_bytes(message: &Message, retain: bool, version: ProtocolVersion) -> BytesMut {
    let publish = message.plain_publish(retain, version);
    let mut out = BytesMut::new();
    encode_publish_ref(&publish, version, &mut out).unwrap();
    assert_eq!(publish_ref_len(&publish, version).unwrap(), out.len());
    out
}

proptest! {
    #[test]
    fn plain_deliveries_are_what_deliver_sends(case in case()) {
        let version = if case.v5 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 };
        let mut connect = connect_of(version, "me", true);
        if case.v5 {
            connect.properties.topic_alias_maximum = Some(case.client_topic_alias_maximum);
            connect.properties.maximum_packet_size = case.client_maximum_packet_size;
        }
        let (mut session, _) = accept(connect, None, 0);
        if case.offline {
            session.connection_lost(0, &mut Vec::new());
        }
        let message = message_of(&case);
        let mut general = session.clone();
        let before = session.stats();

        let plain = session.deliver_plain(&message, &case.matched, case.now_ms);
        let mut actions = Vec::new();
        general.deliver(&message, &case.matched, case.now_ms, &mut actions);

        match plain {
            PlainDelivery::Skipped => {
                prop_assert!(actions.is_empty(), "skipped, but deliver sent {actions:?}");
                prop_assert_eq!(session.stats(), general.stats());
            }
            PlainDelivery::Plain { retain } => {
                prop_assert_eq!(actions.len(), 1);
                let Action::Deliver(delivery) = &actions[0] else {
                    panic!("deliver did not send: {actions:?}");
                };
                let mut sent = BytesMut::new();
                encode_publish_ref(&delivery.publish(), version, &mut sent).unwrap();
                prop_assert_eq!(sent, plain_bytes(&message, retain, version));
                prop_assert_eq!(session.stats(), general.stats());
            }
            PlainDelivery::General => {
                prop_assert_eq!(session.stats(), before);
            }
        }
    }
}

#[test]
fn a_qos0_delivery_to_a_plain_subscriber_is_plain_and_a_qos1_one_is_not() {
    let (mut session, _) = accept(v5_connect("me"), None, 0);
    let qos0 = message("t", QoS::AtMostOnce, "other");
    assert_eq!(
        session.deliver_plain(&qos0, &[granted(QoS::AtLeastOnce)], 0),
        PlainDelivery::Plain { retain: false }
    );
    let qos1 = message("t", QoS::AtLeastOnce, "other");
    assert_eq!(
        session.deliver_plain(&qos1, &[granted(QoS::AtLeastOnce)], 0),
        PlainDelivery::General
    );
    assert_eq!(
        session.deliver_plain(&qos1, &[granted(QoS::AtMostOnce)], 0),
        PlainDelivery::Plain { retain: false }
    );
}
