//! rumqttc, an MQTT client independent of shardmq, as the tests use it: an
//! event loop polled on a task, and a client that awaits each step's answer
//! (CONNACK, SUBACK, the end of a publish flow) before the test goes on.
//! Publish/subscribe across shards through it, under MQTT 3.1.1 and 5.0.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::common::{client_id_on, run_then_shut_down, start_broker};

/// Polls `event_loop` on a task, forwarding every event until the
/// connection ends (rumqttc would reconnect; these tests never want that).
macro_rules! spawn_polling {
    ($event_loop:expr) => {{
        let mut event_loop = $event_loop;
        let (sender, receiver) = mpsc::unbounded_channel();
        let polling = tokio::spawn(async move {
            while let Ok(event) = event_loop.poll().await {
                if sender.send(event).is_err() {
                    return;
                }
            }
        });
        (receiver, polling)
    }};
}

/// A rumqttc 5.0 client polled on a task, and every event it forwards.
pub(crate) fn spawn_v5(
    client_id: &str,
    port: u16,
) -> (
    rumqttc::v5::AsyncClient,
    mpsc::UnboundedReceiver<rumqttc::v5::Event>,
) {
    let (client, event_loop) = rumqttc::v5::AsyncClient::new(V5::options(client_id, port), 64);
    let (events, _polling) = spawn_polling!(event_loop);
    (client, events)
}

/// A client of one protocol version over one connection, stepping through
/// its flows: each method returns once the broker answered.
macro_rules! stepping_client {
    ($name:ident, $version:literal, $rumqttc:path, $packet:ident, $qos:ty, $qos_module:path, $publish:path, $connack:path, $suback_code:path) => {
        #[doc = concat!("A rumqttc ", $version, " client that awaits each step's answer.")]
        pub(crate) struct $name {
            pub client: <$name as Types>::Client,
            events: mpsc::UnboundedReceiver<<$name as Types>::Event>,
            polling: JoinHandle<()>,
            /// PUBLISHes that arrived while the test awaited another packet.
            publishes: VecDeque<$publish>,
        }

        impl $name {
            /// Options for `client_id` on 127.0.0.1:`port`, Keep Alive 30 s.
            pub fn options(client_id: &str, port: u16) -> <$name as Types>::Options {
                use $rumqttc as rumqttc;
                let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
                options.set_keep_alive(Duration::from_secs(30));
                options
            }

            /// Connects with `options` and returns the client and its CONNACK.
            pub async fn connect(options: <$name as Types>::Options) -> ($name, $connack) {
                use $rumqttc as rumqttc;
                let (client, event_loop) = rumqttc::AsyncClient::new(options, 64);
                let (events, polling) = spawn_polling!(event_loop);
                let mut stepping = $name {
                    client,
                    events,
                    polling,
                    publishes: VecDeque::new(),
                };
                let connack = loop {
                    if let $packet::ConnAck(connack) = stepping.next_packet().await {
                        break connack;
                    }
                };
                (stepping, connack)
            }

            /// A client with Clean Start, connected.
            pub async fn clean(client_id: &str, port: u16) -> $name {
                $name::connect($name::options(client_id, port)).await.0
            }

            /// The next packet from the broker; panics if the connection ended.
            async fn next_packet(&mut self) -> $packet {
                self.try_next_packet().await.expect("the connection ended")
            }

            /// The next packet from the broker, or `None` once the
            /// connection ended.
            async fn try_next_packet(&mut self) -> Option<$packet> {
                use $rumqttc as rumqttc;
                loop {
                    match self.events.recv().await? {
                        rumqttc::Event::Incoming(packet) => return Some(packet),
                        rumqttc::Event::Outgoing(_) => {}
                    }
                }
            }

            /// Waits for `wanted` among the broker's packets, keeping the
            /// PUBLISHes that come first for [`Self::next_publish`].
            async fn wait_for<T>(&mut self, wanted: impl Fn($packet) -> Option<T>) -> T {
                loop {
                    match self.next_packet().await {
                        $packet::Publish(publish) => self.publishes.push_back(publish),
                        packet => {
                            if let Some(found) = wanted(packet) {
                                return found;
                            }
                        }
                    }
                }
            }

            /// Subscribes to `topic_filter` and waits for a SUBACK granting it.
            pub async fn subscribe(&mut self, topic_filter: &str, qos: $qos) {
                self.client.subscribe(topic_filter, qos).await.unwrap();
                self.wait_for_suback(topic_filter).await;
            }

            /// Waits for the SUBACK of a SUBSCRIBE to `topic_filter`,
            /// which must grant it.
            pub async fn wait_for_suback(&mut self, topic_filter: &str) {
                let return_codes = self
                    .wait_for(|packet| match packet {
                        $packet::SubAck(suback) => Some(suback.return_codes),
                        _ => None,
                    })
                    .await;
                assert!(
                    return_codes
                        .iter()
                        .all(|code| matches!(code, $suback_code(_))),
                    "subscription to {topic_filter} refused: {return_codes:?}"
                );
            }

            /// Publishes and waits for the end of its flow: at once for QoS
            /// 0, the PUBACK for QoS 1, the PUBCOMP for QoS 2.
            pub async fn publish(
                &mut self,
                topic_name: &str,
                payload: impl Into<Vec<u8>>,
                qos: $qos,
                retain: bool,
            ) {
                let payload: Vec<u8> = payload.into();
                self.client
                    .publish(topic_name, qos, retain, payload)
                    .await
                    .unwrap();
                use $qos_module as qos_module;
                match qos {
                    qos_module::QoS::AtMostOnce => {}
                    qos_module::QoS::AtLeastOnce => {
                        self.wait_for(|packet| matches!(packet, $packet::PubAck(_)).then_some(()))
                            .await
                    }
                    qos_module::QoS::ExactlyOnce => {
                        self.wait_for(|packet| matches!(packet, $packet::PubComp(_)).then_some(()))
                            .await
                    }
                }
            }

            /// The next PUBLISH received (rumqttc acknowledges it).
            pub async fn next_publish(&mut self) -> $publish {
                self.try_next_publish().await.expect("the connection ended")
            }

            /// The next PUBLISH received, or `None` once the connection ended.
            pub async fn try_next_publish(&mut self) -> Option<$publish> {
                if let Some(publish) = self.publishes.pop_front() {
                    return Some(publish);
                }
                loop {
                    if let $packet::Publish(publish) = self.try_next_packet().await? {
                        return Some(publish);
                    }
                }
            }

            /// Sends DISCONNECT and waits for the broker to close.
            pub async fn disconnect(mut self) {
                self.client.disconnect().await.unwrap();
                while self.events.recv().await.is_some() {}
            }

            /// Closes the socket without DISCONNECT, as a client that died.
            pub async fn drop_connection(self) {
                self.polling.abort();
                // Awaited, the task is dropped and with it the socket.
                let _ = self.polling.await;
            }
        }
    };
}

impl V5 {
    /// Connects `client_id` with a session that outlives the connection by
    /// `session_expiry_interval_s`, starting a new one if `clean_start`.
    pub async fn persistent(
        client_id: &str,
        port: u16,
        session_expiry_interval_s: u32,
        clean_start: bool,
    ) -> (V5, rumqttc::v5::mqttbytes::v5::ConnAck) {
        let mut options = V5::options(client_id, port);
        options.set_clean_start(clean_start);
        options.set_connect_properties(rumqttc::v5::mqttbytes::v5::ConnectProperties {
            session_expiry_interval: Some(session_expiry_interval_s),
            ..rumqttc::v5::mqttbytes::v5::ConnectProperties::new()
        });
        V5::connect(options).await
    }
}

/// The rumqttc types a [`stepping_client!`] works with.
pub(crate) trait Types {
    type Client;
    type Event;
    type Options;
}

impl Types for V311 {
    type Client = rumqttc::AsyncClient;
    type Event = rumqttc::Event;
    type Options = rumqttc::MqttOptions;
}

impl Types for V5 {
    type Client = rumqttc::v5::AsyncClient;
    type Event = rumqttc::v5::Event;
    type Options = rumqttc::v5::MqttOptions;
}

use rumqttc::v5::mqttbytes::v5::Packet as V5Packet;
use rumqttc::Packet as V311Packet;

stepping_client!(
    V311,
    "3.1.1",
    rumqttc,
    V311Packet,
    rumqttc::QoS,
    rumqttc,
    rumqttc::Publish,
    rumqttc::ConnAck,
    rumqttc::SubscribeReasonCode::Success
);
stepping_client!(
    V5,
    "5.0",
    rumqttc::v5,
    V5Packet,
    rumqttc::v5::mqttbytes::QoS,
    rumqttc::v5::mqttbytes,
    rumqttc::v5::mqttbytes::v5::Publish,
    rumqttc::v5::mqttbytes::v5::ConnAck,
    rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_publish_reaches_subscriber_homed_on_the_other_shard() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut subscriber = V311::clean(&client_id_on(0, "sub"), port).await;
        subscriber
            .subscribe("greetings/+", rumqttc::QoS::AtLeastOnce)
            .await;
        let mut publisher = V311::clean(&client_id_on(1, "pub"), port).await;
        publisher
            .publish("greetings/world", "hello", rumqttc::QoS::AtLeastOnce, false)
            .await;
        let publish = subscriber.next_publish().await;
        assert_eq!(publish.topic, "greetings/world");
        assert_eq!(&publish.payload[..], b"hello");
        assert_eq!(publish.qos, rumqttc::QoS::AtLeastOnce);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_publish_with_properties_reaches_subscriber_homed_on_the_other_shard() {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    use rumqttc::v5::mqttbytes::QoS;

    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut subscriber = V5::clean(&client_id_on(1, "sub5"), port).await;
        subscriber.subscribe("replies/#", QoS::ExactlyOnce).await;
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
        let publish = subscriber.next_publish().await;
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
