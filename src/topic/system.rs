//! `$SYS`: the topics that belong to the broker. Clients may subscribe to
//! them but not publish there, so that what a subscriber reads under `$SYS`
//! never comes from another client.
//!
//! Section 4.7.2 leaves topic names starting with `$` to the server, says it
//! SHOULD keep clients from exchanging messages through them, and names
//! `$SYS/` as the prefix widely adopted for server information. shardmq, like
//! Mosquitto, refuses client publishes to `$SYS` alone: other `$` topics stay
//! usable between clients, as they are with Mosquitto.

/// The root level of the broker's topics.
pub const SYS_ROOT: &str = "$SYS";

/// True when `topic_name` is `$SYS` or below it (`$SYS/...`). `$SYSTEM/x` is
/// another topic, and topics are case-sensitive (section 4.7.3), so `$sys/x`
/// is too.
pub fn is_sys_topic(topic_name: &str) -> bool {
    topic_name
        .strip_prefix(SYS_ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_and_the_topics_below_it_belong_to_the_broker() {
        for topic_name in ["$SYS", "$SYS/", "$SYS/x", "$SYS/broker/uptime", "$SYS//a"] {
            assert!(is_sys_topic(topic_name), "{topic_name:?}");
        }
    }

    #[test]
    fn other_topics_do_not_belong_to_the_broker() {
        for topic_name in [
            "$SYSTEM/x",
            "$sys/x",
            "$SYs",
            "SYS/x",
            "a/$SYS/x",
            "/$SYS",
            "$share/g/x",
            "$",
            "x",
        ] {
            assert!(!is_sys_topic(topic_name), "{topic_name:?}");
        }
    }
}
