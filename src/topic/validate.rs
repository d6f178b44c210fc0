//! The rules of section 4.7 for topic names and plain topic filters (without a
//! `$share/` prefix): one pass over the bytes, no allocation.
//!
//! The level bound is a parameter: a session holds its client to its
//! configured `max_topic_levels` (the `_within` functions); callers without a
//! configuration (the trie, the retained store) hold topics to the hard bound
//! [`TOPIC_LEVELS_MAX`] that every configuration stays within.

use super::error::{TopicError, TopicKind};
use crate::limits::{TOPIC_LENGTH_MAX, TOPIC_LEVELS_MAX};

/// Checks a topic name from PUBLISH or a will: non-empty, no wildcards, within
/// the broker's hard bounds ([`TOPIC_LENGTH_MAX`] bytes, [`TOPIC_LEVELS_MAX`]
/// levels).
pub fn validate_topic_name(topic_name: &str) -> Result<(), TopicError> {
    validate_topic_name_within(topic_name, TOPIC_LEVELS_MAX)
}

/// Checks a topic name as [`validate_topic_name`] does, with at most
/// `levels_max` levels (a session's `max_topic_levels`).
///
/// # Panics
///
/// When `levels_max` is 0 or above [`TOPIC_LEVELS_MAX`]: the configuration
/// that holds it was not validated.
pub fn validate_topic_name_within(topic_name: &str, levels_max: usize) -> Result<(), TopicError> {
    assert_levels_max(levels_max);
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
    check_levels(levels, levels_max, TopicKind::Name)
}

/// Checks a topic filter that has no `$share/` prefix (or has had it
/// removed), with at most `levels_max` levels.
pub(crate) fn validate_plain_topic_filter(
    topic_filter: &str,
    levels_max: usize,
) -> Result<(), TopicError> {
    assert_levels_max(levels_max);
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
    check_levels(levels, levels_max, TopicKind::Filter)
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

fn check_levels(levels: usize, levels_max: usize, kind: TopicKind) -> Result<(), TopicError> {
    if levels > levels_max {
        return Err(TopicError::TooManyLevels { kind, levels_max });
    }
    Ok(())
}

/// A level bound past the hard one would let a session accept filters the
/// trie refuses; 0 would refuse every topic.
pub(crate) fn assert_levels_max(levels_max: usize) {
    assert!(
        (1..=TOPIC_LEVELS_MAX).contains(&levels_max),
        "max_topic_levels {levels_max} is outside 1..={TOPIC_LEVELS_MAX}"
    );
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
                validate_plain_topic_filter(topic_filter, TOPIC_LEVELS_MAX),
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
                validate_plain_topic_filter(topic_filter, TOPIC_LEVELS_MAX),
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
    fn topic_with_more_levels_than_the_hard_bound_is_refused() {
        let at_limit = vec!["a"; TOPIC_LEVELS_MAX].join("/");
        let over_limit = vec!["a"; TOPIC_LEVELS_MAX + 1].join("/");
        assert_eq!(validate_topic_name(&at_limit), Ok(()));
        assert_eq!(
            validate_plain_topic_filter(&at_limit, TOPIC_LEVELS_MAX),
            Ok(())
        );
        assert_eq!(
            validate_topic_name(&over_limit),
            Err(TopicError::TooManyLevels {
                kind: TopicKind::Name,
                levels_max: TOPIC_LEVELS_MAX
            })
        );
        assert_eq!(
            validate_plain_topic_filter(&over_limit, TOPIC_LEVELS_MAX),
            Err(TopicError::TooManyLevels {
                kind: TopicKind::Filter,
                levels_max: TOPIC_LEVELS_MAX
            })
        );
    }

    #[test]
    fn levels_are_counted_against_the_bound_given() {
        // Empty levels count: "a//" has three.
        assert_eq!(validate_topic_name_within("a//", 3), Ok(()));
        assert_eq!(
            validate_topic_name_within("a///", 3),
            Err(TopicError::TooManyLevels {
                kind: TopicKind::Name,
                levels_max: 3
            })
        );
        assert_eq!(validate_topic_name_within("/", 2), Ok(()));
        assert_eq!(validate_plain_topic_filter("+/+/#", 3), Ok(()));
        assert_eq!(
            validate_plain_topic_filter("+/+/+/#", 3),
            Err(TopicError::TooManyLevels {
                kind: TopicKind::Filter,
                levels_max: 3
            })
        );
        assert_eq!(
            validate_topic_name_within("a", 1),
            Ok(()),
            "one level is the least bound"
        );
    }

    #[test]
    fn a_rule_broken_before_the_level_bound_is_the_one_reported() {
        let deep_with_wildcard = format!("{}/+", ["a"; 10].join("/"));
        assert_eq!(
            validate_topic_name_within(&deep_with_wildcard, 3),
            Err(TopicError::WildcardInTopicName)
        );
    }

    #[test]
    #[should_panic(expected = "max_topic_levels")]
    fn a_level_bound_above_the_hard_one_is_a_programming_error() {
        let _ = validate_topic_name_within("a", TOPIC_LEVELS_MAX + 1);
    }

    #[test]
    #[should_panic(expected = "max_topic_levels")]
    fn a_level_bound_of_zero_is_a_programming_error() {
        let _ = validate_plain_topic_filter("a", 0);
    }

    #[test]
    fn refusals_carry_the_reason_code_of_their_kind() {
        assert_eq!(
            validate_topic_name("a/+").unwrap_err().reason_code(),
            ReasonCode::TopicNameInvalid
        );
        assert_eq!(
            validate_plain_topic_filter("a+", TOPIC_LEVELS_MAX)
                .unwrap_err()
                .reason_code(),
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
        let message = validate_plain_topic_filter("a/#/b", TOPIC_LEVELS_MAX)
            .unwrap_err()
            .to_string();
        assert!(message.contains("[MQTT-4.7.1-1]"), "{message}");
    }
}
