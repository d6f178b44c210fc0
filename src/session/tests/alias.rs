//! Topic aliases, inbound (client to us) and outbound (us to client).

use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;

fn aliased(topic_name: &str, topic_alias: u16) -> Packet {
    let mut packet = publish(topic_name, QoS::AtMostOnce, None);
    packet.properties_mut().topic_alias = Some(topic_alias);
    Packet::Publish(packet)
}

#[test]
fn inbound_alias_defined_then_used_resolves_to_the_topic() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, aliased("a/b", 1), 1);
    assert_eq!(routed(&actions)[0].topic_name, "a/b");
    assert_eq!(routed(&actions)[0].properties.topic_alias, None);
    let actions = feed(&mut session, aliased("", 1), 2);
    assert_eq!(routed(&actions)[0].topic_name, "a/b");
}

#[test]
fn topic_alias_zero_is_topic_alias_invalid() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, aliased("a", 0), 1);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn topic_alias_above_our_maximum_is_topic_alias_invalid() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let maximum = crate::limits::TOPIC_ALIAS_MAXIMUM_DEFAULT;
    let actions = feed(&mut session, aliased("a", maximum + 1), 1);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn empty_topic_with_unknown_alias_is_a_protocol_error() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, aliased("", 2), 1);
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert!(routed(&actions).is_empty());
}

#[test]
fn inbound_aliases_do_not_survive_a_reconnect() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    feed(&mut session, aliased("a/b", 1), 1);
    session.connection_lost(2, &mut Vec::new());
    let (mut resumed, _) = accept(v5_persistent_connect("c", 60), Some(session), 3);
    let actions = feed(&mut resumed, aliased("", 1), 4);
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
}

fn client_with_alias_maximum(topic_alias_maximum: u16) -> crate::session::Session {
    let mut connect = v5_connect("c");
    connect.properties.topic_alias_maximum = Some(topic_alias_maximum);
    accept(connect, None, 0).0
}

#[test]
fn outbound_alias_is_assigned_on_first_use_and_sent_alone_afterwards() {
    let mut session = client_with_alias_maximum(4);
    let message = message("sensors/1", QoS::AtMostOnce, "p");
    let actions = deliver(&mut session, &message, QoS::AtMostOnce, 1);
    let first = sent_publishes(&actions)[0].clone();
    assert_eq!(first.topic_name, "sensors/1");
    assert_eq!(first.topic_alias(), Some(1));
    let actions = deliver(&mut session, &message, QoS::AtMostOnce, 2);
    let second = sent_publishes(&actions)[0].clone();
    assert_eq!(second.topic_name, ByteString::new());
    assert_eq!(second.topic_alias(), Some(1));
}

#[test]
fn outbound_aliases_stop_at_the_client_maximum() {
    let mut session = client_with_alias_maximum(1);
    deliver(
        &mut session,
        &message("a", QoS::AtMostOnce, "p"),
        QoS::AtMostOnce,
        1,
    );
    let actions = deliver(
        &mut session,
        &message("b", QoS::AtMostOnce, "p"),
        QoS::AtMostOnce,
        2,
    );
    let publish = sent_publishes(&actions)[0].clone();
    assert_eq!(publish.topic_name, "b");
    assert_eq!(publish.topic_alias(), None);
}

#[test]
fn no_outbound_alias_without_a_client_topic_alias_maximum() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(
        &mut session,
        &message("a", QoS::AtMostOnce, "p"),
        QoS::AtMostOnce,
        1,
    );
    assert_eq!(sent_publishes(&actions)[0].topic_alias(), None);
}
