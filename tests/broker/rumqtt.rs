//! Publish/subscribe across shards with an independent client, rumqttc, under
//! MQTT 3.1.1 and 5.0.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::common::{client_id_on, run_then_shut_down, start_broker};

/// Polls a rumqttc 3.1.1 event loop on a task and forwards every event.
fn spawn_v311(
    client_id: &str,
    port: u16,
) -> (
    rumqttc::AsyncClient,
    mpsc::UnboundedReceiver<rumqttc::Event>,
) {
    let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut event_loop) = rumqttc::AsyncClient::new(options, 64);
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = event_loop.poll().await {
            if sender.send(event).is_err() {
                return;
            }
        }
    });
    (client, receiver)
}

/// Polls a rumqttc 5.0 event loop on a task and forwards every event.
pub(crate) fn spawn_v5(
    client_id: &str,
    port: u16,
) -> (
    rumqttc::v5::AsyncClient,
    mpsc::UnboundedReceiver<rumqttc::v5::Event>,
) {
    let mut options = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut event_loop) = rumqttc::v5::AsyncClient::new(options, 64);
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = event_loop.poll().await {
            if sender.send(event).is_err() {
                return;
            }
        }
    });
    (client, receiver)
}

async fn next_v311_publish(
    events: &mut mpsc::UnboundedReceiver<rumqttc::Event>,
) -> rumqttc::Publish {
    loop {
        match events.recv().await.expect("the event loop ended") {
            rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) => return publish,
            _ => continue,
        }
    }
}

async fn wait_v311_suback(events: &mut mpsc::UnboundedReceiver<rumqttc::Event>) {
    loop {
        if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(suback)) =
            events.recv().await.expect("the event loop ended")
        {
            assert!(suback
                .return_codes
                .iter()
                .all(|code| matches!(code, rumqttc::SubscribeReasonCode::Success(_))));
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_publish_reaches_subscriber_homed_on_the_other_shard() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let (subscriber, mut subscriber_events) = spawn_v311(&client_id_on(0, "sub"), port);
        subscriber
            .subscribe("greetings/+", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        wait_v311_suback(&mut subscriber_events).await;
        let (publisher, _publisher_events) = spawn_v311(&client_id_on(1, "pub"), port);
        publisher
            .publish("greetings/world", rumqttc::QoS::AtLeastOnce, false, "hello")
            .await
            .unwrap();
        let publish = next_v311_publish(&mut subscriber_events).await;
        assert_eq!(publish.topic, "greetings/world");
        assert_eq!(&publish.payload[..], b"hello");
        assert_eq!(publish.qos, rumqttc::QoS::AtLeastOnce);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_publish_with_properties_reaches_subscriber_homed_on_the_other_shard() {
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;

    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let (subscriber, mut subscriber_events) = spawn_v5(&client_id_on(1, "sub5"), port);
        subscriber
            .subscribe("replies/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = subscriber_events.recv().await.unwrap() {
                break;
            }
        }
        let (publisher, _publisher_events) = spawn_v5(&client_id_on(0, "pub5"), port);
        let properties = PublishProperties {
            response_topic: Some("requests/answer".to_owned()),
            correlation_data: Some(bytes::Bytes::from_static(b"42")),
            user_properties: vec![("origin".to_owned(), "test".to_owned())],
            ..PublishProperties::default()
        };
        publisher
            .publish_with_properties("replies/a", QoS::ExactlyOnce, false, "answer", properties)
            .await
            .unwrap();
        let publish = loop {
            if let Event::Incoming(Packet::Publish(publish)) =
                subscriber_events.recv().await.unwrap()
            {
                break publish;
            }
        };
        assert_eq!(&publish.topic[..], b"replies/a");
        assert_eq!(&publish.payload[..], b"answer");
        assert_eq!(publish.qos, QoS::ExactlyOnce);
        let properties = publish.properties.expect("properties were forwarded");
        assert_eq!(
            properties.response_topic.as_deref(),
            Some("requests/answer")
        );
        assert_eq!(properties.correlation_data.as_deref(), Some(&b"42"[..]));
        assert_eq!(
            properties.user_properties,
            vec![("origin".to_owned(), "test".to_owned())]
        );
    })
    .await;
}
