//! A CONNECT the broker refuses leaves the session of its client id, and the
//! connection that session runs on, as they were. The refused CONNECTs are
//! raw bytes ([`Wire`]): an unknown authentication method, and a 3.1 client
//! id longer than 3.1 allows, which no normal client sends.

use crate::common::{client_id_on, start_broker};
use crate::wire::{property, reason, Connect, Properties, Wire, V3_1, V5};

#[test]
fn refused_connect_does_not_take_over_the_connected_session() {
    let broker = start_broker();
    let address = broker.local_addr();
    let client_id = client_id_on(1, "incumbent-with-a-long-client-id");
    let incumbent_connect = Connect {
        clean_start: false,
        ..Connect::new(V5, &client_id)
    };
    let (mut incumbent, _) = Wire::accepted(address, &incumbent_connect);
    incumbent.subscribe("news/+", 1);

    let bad_auth = Connect {
        properties: Properties::default()
            .with_text(property::AUTHENTICATION_METHOD, "no-such-method"),
        ..Connect::new(V5, &client_id)
    };
    // 3.1 allows client ids of at most 23 characters.
    let id_too_long_for_3_1 = Connect::new(V3_1, &client_id);
    for (refused, reason_code) in [
        (bad_auth, reason::BAD_AUTHENTICATION_METHOD),
        (id_too_long_for_3_1, reason::RETURN_IDENTIFIER_REJECTED),
    ] {
        let (mut intruder, connack) = Wire::connect(address, &refused);
        assert_eq!(connack.reason_code, reason_code);
        intruder.expect_closed();
    }

    // The incumbent's connection is still open and its session still routes.
    incumbent.ping();
    let mut publisher = Wire::clean(address, V5, &client_id_on(0, "newsroom"));
    publisher.publish("news/today", "still here", 1, false);
    let delivered = incumbent.recv_publish_acked();
    assert_eq!(delivered.payload, b"still here");
    broker.shutdown();
}
