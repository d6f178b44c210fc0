//! Whether one topic filter matches one topic name (section 4.7): the reference
//! the subscription trie is tested against, and a direct check for one filter.

/// True when `topic_filter` (without any `$share/` prefix) matches `topic_name`.
///
/// A filter starting with a wildcard never matches a topic name starting with `$`
/// [MQTT-4.7.2-1]; `sport/#` matches `sport`; `+` matches an empty level.
pub fn matches(topic_filter: &str, topic_name: &str) -> bool {
    if topic_name.starts_with('$') && topic_filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = topic_filter.split('/');
    let mut name_levels = topic_name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(filter_level), Some(name_level)) if filter_level == name_level => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::topic::{parse_topic_filter, validate_topic_filter, validate_topic_name};

    /// The examples of sections 4.7.1 and 4.7.2, plus the edges between them.
    #[test]
    fn spec_examples_match_as_the_spec_says() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("sport/#", "sport/", true),
            ("#", "sport/tennis", true),
            ("#", "/", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player2", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("+/tennis/#", "sport/tennis/player1", true),
            ("sport/+/player1", "sport/tennis/player1", true),
            ("sport/+/player1", "sport/tennis/player2", false),
            ("#", "$SYS/monitor/Clients", false),
            ("+/monitor/Clients", "$SYS/monitor/Clients", false),
            ("$SYS/#", "$SYS/monitor/Clients", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
            ("+", "$SYS", false),
            ("sport/#", "$SYS/sport", false),
            ("a/+/c", "a/$x/c", true),
            ("a//c", "a//c", true),
            ("a/+/c", "a//c", true),
            ("ACCOUNTS", "Accounts", false),
            ("sport", "sport/", false),
            ("sport/", "sport", false),
            ("sport/tennis", "sport/tennis/player1", false),
        ];
        for (topic_filter, topic_name, expected) in cases {
            assert_eq!(
                matches(topic_filter, topic_name),
                expected,
                "{topic_filter:?} against {topic_name:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(
            topic_filter in "[ab/+#$\\x00]{0,16}|\\PC{0,40}",
            topic_name in "[ab/+#$\\x00]{0,16}|\\PC{0,40}",
        ) {
            let _ = validate_topic_name(&topic_name);
            let _ = validate_topic_filter(&topic_filter);
            let _ = parse_topic_filter(&topic_filter);
            let _ = matches(&topic_filter, &topic_name);
        }

        #[test]
        fn a_valid_topic_name_is_a_filter_matching_itself(topic_name in "[ab/$]{1,16}") {
            prop_assert_eq!(validate_topic_name(&topic_name), Ok(()));
            prop_assert_eq!(validate_topic_filter(&topic_name), Ok(()));
            prop_assert!(matches(&topic_name, &topic_name));
        }

        #[test]
        fn multi_level_wildcard_alone_matches_every_name_not_starting_with_dollar(
            topic_name in "[ab/$]{1,16}",
        ) {
            prop_assert_eq!(matches("#", &topic_name), !topic_name.starts_with('$'));
        }
    }
}
