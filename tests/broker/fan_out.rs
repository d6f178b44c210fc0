//! Fan-out under a publisher that keeps its socket full: one publisher, a few
//! hundred subscribers on the other shard, and every subscriber that reads
//! gets every message.
//!
//! The publisher's shard only forwards (it has no subscribers), so the ring to
//! the subscribers' shard fills far faster than that shard delivers: its ring
//! consumer always finds a message waiting. Every subscriber socket can hold
//! the whole run in its receive buffer, so a broker that lets its writers run
//! between ring messages never reaches its queue bound, and one that does not
//! drops QoS 0 deliveries past it.
//!
//! Raw bytes ([`Wire`]): the whole flood goes out in one write.

use std::thread;

use shardmq::limits::OUTBOUND_BYTES_MAX;

use crate::common::{client_id_on, start_broker};
use crate::wire::{Publish, Wire, V3_1_1};

/// Subscribers, all homed on shard 1.
const SUBSCRIBERS: usize = 200;

/// Receive buffer asked for on each subscriber socket: room for the whole run.
const SUBSCRIBER_RECEIVE_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Payload size of each fanned-out message, bytes.
const PAYLOAD_BYTES: usize = 8 * 1024;

/// Messages published: twice what one subscriber's outbound queue holds, so a
/// shard that queued deliveries without ever writing them would drop some.
const MESSAGES: usize = 2 * OUTBOUND_BYTES_MAX / PAYLOAD_BYTES;

const DATA_TOPIC: &str = "fan/out";
const END_TOPIC: &str = "fan/end";

/// A QoS 0 message of `PAYLOAD_BYTES` starting with its sequence number.
fn numbered_message(sequence: usize) -> Publish {
    let mut payload = (sequence as u64).to_be_bytes().to_vec();
    payload.resize(PAYLOAD_BYTES, 0xA5);
    Publish::new(DATA_TOPIC, payload, 0)
}

/// Reads until the end marker; returns the sequence numbers received in order.
fn read_until_end(mut subscriber: Wire) -> Vec<usize> {
    let mut sequences = Vec::with_capacity(MESSAGES);
    loop {
        let publish = subscriber.recv_publish_acked();
        if publish.topic_name == END_TOPIC {
            return sequences;
        }
        let number: [u8; 8] = publish.payload[..8].try_into().unwrap();
        sequences.push(u64::from_be_bytes(number) as usize);
    }
}

#[test]
fn ring_full_of_publishes_does_not_starve_the_subscribers_writers() {
    let broker = start_broker();
    let address = broker.local_addr();
    let readers: Vec<thread::JoinHandle<Vec<usize>>> = (0..SUBSCRIBERS)
        .map(|index| {
            let client_id = client_id_on(1, &format!("fan-{index}"));
            let mut subscriber = Wire::clean(address, V3_1_1, &client_id);
            socket2::SockRef::from(subscriber.stream())
                .set_recv_buffer_size(SUBSCRIBER_RECEIVE_BUFFER_BYTES)
                .unwrap();
            subscriber.subscribe(DATA_TOPIC, 0);
            // The end marker is QoS 1, never dropped, and queued behind the data.
            subscriber.subscribe(END_TOPIC, 1);
            thread::spawn(move || read_until_end(subscriber))
        })
        .collect();
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(0, "fan-pub"));
    let flood: Vec<u8> = (0..MESSAGES)
        .flat_map(|sequence| numbered_message(sequence).encode(V3_1_1))
        .collect();
    // One write: the broker finds a full socket on every read of this publisher.
    publisher.send(&flood);
    publisher.publish(END_TOPIC, "end", 1, false);

    let expected: Vec<usize> = (0..MESSAGES).collect();
    for (index, reader) in readers.into_iter().enumerate() {
        let received = reader.join().expect("the subscriber thread ends");
        assert_eq!(
            received.len(),
            MESSAGES,
            "subscriber {index} got {} of {MESSAGES} messages",
            received.len()
        );
        assert_eq!(received, expected, "subscriber {index} got them in order");
    }
    assert_eq!(broker.stats().qos0_dropped, 0);
    broker.shutdown();
}
