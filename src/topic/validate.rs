//! The rules of section 4.7 for topic names and plain topic filters (without a
//! `$share/` prefix): one pass over the bytes, no allocation.

use super::error::{TopicError, TopicKind};
use crate::limits::{TOPIC_LENGTH_MAX, TOPIC_LEVELS_MAX};

/// Checks a topic name from PUBLISH or a will: non-empty, no wildcards, within limits.
pub fn validate_topic_name(topic_name: &str) -> Result<(), TopicError> {
    check_length(topic_name, TopicKind::Name)?;
    let mut levels = 1usize;
    for &byte in topic_name.as_bytes() {
        match byte {
            b'/' => levels += 1,
            b'+' | b'#' => return Err(TopicError::WildcardInTopicName),
            0 => return Err(TopicError::NullCharacter(TopicKind::Name)),
            _ => {}
        }
    }
    check_levels(levels, TopicKind::Name)
}

/// Checks a topic filter that has no `$share/` prefix (or has had it removed).
pub(crate) fn validate_plain_topic_filter(topic_filter: &str) -> Result<(), TopicError> {
    check_length(topic_filter, TopicKind::Filter)?;
    let bytes = topic_filter.as_bytes();
    let mut levels = 1usize;
    let mut level_start = 0usize;
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'/' => {
                levels += 1;
                level_start = index + 1;
            }
            b'+' if index != level_start || !ends_level(bytes, index) => {
                return Err(TopicError::SingleLevelWildcardMisplaced);
            }
            b'#' if index != level_start || index + 1 != bytes.len() => {
                return Err(TopicError::MultiLevelWildcardMisplaced);
            }
            0 => return Err(TopicError::NullCharacter(TopicKind::Filter)),
            _ => {}
        }
    }
    check_levels(levels, TopicKind::Filter)
}

/// True when the byte at `index` is the last of its level.
fn ends_level(bytes: &[u8], index: usize) -> bool {
    bytes.get(index + 1).map_or(true, |&next| next == b'/')
}

/// Emptiness and the byte length bound, shared by names and filters.
pub(crate) fn check_length(topic: &str, kind: TopicKind) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty(kind));
    }
    if topic.len() > TOPIC_LENGTH_MAX {
        return Err(TopicError::TooLong {
            kind,
            length_bytes: topic.len(),
        });
    }
    Ok(())
}

fn check_levels(levels: usize, kind: TopicKind) -> Result<(), TopicError> {
    if levels > TOPIC_LEVELS_MAX {
        return Err(TopicError::TooManyLevels(kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReasonCode;

    #[test]
    fn spec_topic_names_are_accepted() {
        for topic_name in [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
            "sport",
            "/",
            "/finance",
            "sport/",
            "$SYS/monitor/Clients",
            "a//b",
            "ACCOUNTS",
            "Accounts payable",
            "caf\u{e9}/\u{1f600}",
        ] {
            assert_eq!(validate_topic_name(topic_name), Ok(()), "{topic_name:?}");
        }
    }

    #[test]
    fn topic_names_breaking_a_rule_are_refused_with_that_rule() {
        let cases = [
            ("", TopicError::Empty(TopicKind::Name)),
            ("sport/+", TopicError::WildcardInTopicName),
            ("sport/#", TopicError::WildcardInTopicName),
            ("+", TopicError::WildcardInTopicName),
            ("sport+", TopicError::WildcardInTopicName),
            ("a#b", TopicError::WildcardInTopicName),
            ("a\0b", TopicError::NullCharacter(TopicKind::Name)),
        ];
        for (topic_name, expected) in cases {
            assert_eq!(
                validate_topic_name(topic_name),
                Err(expected),
                "{topic_name:?}"
            );
        }
    }

    #[test]
    fn spec_topic_filters_are_accepted() {
        for topic_filter in [
            "sport/tennis/player1/#",
            "sport/#",
            "#",
            "+",
            "+/tennis/#",
            "sport/+/player1",
            "+/+",
            "/+",
            "/",
            "$SYS/#",
            "$SYS/monitor/+",
            "a//b",
            "+/+/+",
            "sport/tennis/+",
        ] {
            assert_eq!(
                validate_plain_topic_filter(topic_filter),
                Ok(()),
                "{topic_filter:?}"
            );
        }
    }

    #[test]
    fn topic_filters_breaking_a_rule_are_refused_with_that_rule() {
        let cases = [
            ("", TopicError::Empty(TopicKind::Filter)),
            ("sport/tennis#", TopicError::MultiLevelWildcardMisplaced),
            (
                "sport/tennis/#/ranking",
                TopicError::MultiLevelWildcardMisplaced,
            ),
            ("#/", TopicError::MultiLevelWildcardMisplaced),
            ("##", TopicError::MultiLevelWildcardMisplaced),
            ("sport+", TopicError::SingleLevelWildcardMisplaced),
            ("sport/+tennis", TopicError::SingleLevelWildcardMisplaced),
            ("++", TopicError::SingleLevelWildcardMisplaced),
            ("a\0/#", TopicError::NullCharacter(TopicKind::Filter)),
        ];
        for (topic_filter, expected) in cases {
            assert_eq!(
                validate_plain_topic_filter(topic_filter),
                Err(expected),
                "{topic_filter:?}"
            );
        }
    }

    #[test]
    fn topic_longer_than_the_limit_is_refused() {
        let topic = "a".repeat(TOPIC_LENGTH_MAX + 1);
        let expected = TopicError::TooLong {
            kind: TopicKind::Name,
            length_bytes: TOPIC_LENGTH_MAX + 1,
        };
        assert_eq!(validate_topic_name(&topic), Err(expected));
        assert_eq!(validate_topic_name(&topic[1..]), Ok(()));
    }

    #[test]
    fn topic_with_more_levels_than_the_limit_is_refused() {
        let at_limit = vec!["a"; TOPIC_LEVELS_MAX].join("/");
        let over_limit = vec!["a"; TOPIC_LEVELS_MAX + 1].join("/");
        assert_eq!(validate_topic_name(&at_limit), Ok(()));
        assert_eq!(validate_plain_topic_filter(&at_limit), Ok(()));
        assert_eq!(
            validate_topic_name(&over_limit),
            Err(TopicError::TooManyLevels(TopicKind::Name))
        );
        assert_eq!(
            validate_plain_topic_filter(&over_limit),
            Err(TopicError::TooManyLevels(TopicKind::Filter))
        );
    }

    #[test]
    fn refusals_carry_the_reason_code_of_their_kind() {
        assert_eq!(
            validate_topic_name("a/+").unwrap_err().reason_code(),
            ReasonCode::TopicNameInvalid
        );
        assert_eq!(
            validate_plain_topic_filter("a+").unwrap_err().reason_code(),
            ReasonCode::TopicFilterInvalid
        );
        assert_eq!(
            TopicError::Empty(TopicKind::Name).reason_code(),
            ReasonCode::TopicNameInvalid
        );
    }

    #[test]
    fn refusals_name_the_spec_statement() {
        let message = validate_topic_name("").unwrap_err().to_string();
        assert!(message.contains("[MQTT-4.7.3-1]"), "{message}");
        let message = validate_plain_topic_filter("a/#/b")
            .unwrap_err()
            .to_string();
        assert!(message.contains("[MQTT-4.7.1-1]"), "{message}");
    }
}
