//! `$share/{share_name}/{topic_filter}` (section 4.8.2): splitting a filter into
//! its share name and the filter proper, and validating both.

use super::error::{TopicError, TopicKind};
use super::validate::{check_length, validate_plain_topic_filter};
use crate::limits::TOPIC_LEVELS_MAX;

/// The prefix that marks a shared subscription.
pub const SHARE_PREFIX: &str = "$share/";

/// A filter split into its share group (for `$share/{group}/{filter}`) and the filter proper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    /// The share group name, for a shared subscription.
    pub share_group: Option<&'a str>,
    /// The filter matched against topic names.
    pub topic_filter: &'a str,
}

/// Validates a filter and splits off its `$share/{group}/` prefix; the filter
/// proper may have up to the hard bound [`TOPIC_LEVELS_MAX`] levels.
pub fn parse_topic_filter(topic_filter: &str) -> Result<ParsedFilter<'_>, TopicError> {
    parse_topic_filter_within(topic_filter, TOPIC_LEVELS_MAX)
}

/// Validates a filter as [`parse_topic_filter`] does, with at most
/// `levels_max` levels (a session's `max_topic_levels`) in the filter proper:
/// the `$share/{group}/` prefix does not count.
///
/// # Panics
///
/// When `levels_max` is 0 or above [`TOPIC_LEVELS_MAX`].
pub fn parse_topic_filter_within(
    topic_filter: &str,
    levels_max: usize,
) -> Result<ParsedFilter<'_>, TopicError> {
    check_length(topic_filter, TopicKind::Filter)?;
    let Some(shared) = topic_filter.strip_prefix(SHARE_PREFIX) else {
        validate_plain_topic_filter(topic_filter, levels_max)?;
        return Ok(ParsedFilter {
            share_group: None,
            topic_filter,
        });
    };
    let (share_group, filter) = shared
        .split_once('/')
        .ok_or(TopicError::SharedFilterMissing)?;
    if share_group.is_empty() {
        return Err(TopicError::ShareNameEmpty);
    }
    if share_group.contains(['+', '#']) {
        return Err(TopicError::ShareNameWildcard);
    }
    if share_group.contains('\0') {
        return Err(TopicError::NullCharacter(TopicKind::Filter));
    }
    if filter.is_empty() {
        return Err(TopicError::SharedFilterMissing);
    }
    validate_plain_topic_filter(filter, levels_max)?;
    Ok(ParsedFilter {
        share_group: Some(share_group),
        topic_filter: filter,
    })
}

/// Checks a topic filter from SUBSCRIBE or UNSUBSCRIBE, `$share/` form included.
pub fn validate_topic_filter(topic_filter: &str) -> Result<(), TopicError> {
    parse_topic_filter(topic_filter).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_filter_has_no_share_group() {
        assert_eq!(
            parse_topic_filter("sport/+/player1"),
            Ok(ParsedFilter {
                share_group: None,
                topic_filter: "sport/+/player1"
            })
        );
    }

    #[test]
    fn shared_filter_is_split_into_group_and_filter() {
        let cases = [
            (
                "$share/consumer1/sport/tennis/+",
                "consumer1",
                "sport/tennis/+",
            ),
            (
                "$share/consumer2/sport/tennis/+",
                "consumer2",
                "sport/tennis/+",
            ),
            ("$share/g/#", "g", "#"),
            ("$share/g//", "g", "/"),
            ("$share/g/$SYS/#", "g", "$SYS/#"),
        ];
        for (raw, share_group, topic_filter) in cases {
            assert_eq!(
                parse_topic_filter(raw),
                Ok(ParsedFilter {
                    share_group: Some(share_group),
                    topic_filter
                }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn shared_filters_breaking_a_rule_are_refused_with_that_rule() {
        let cases = [
            ("$share/", TopicError::SharedFilterMissing),
            ("$share/group", TopicError::SharedFilterMissing),
            ("$share/group/", TopicError::SharedFilterMissing),
            ("$share//sport", TopicError::ShareNameEmpty),
            ("$share/gr+oup/sport", TopicError::ShareNameWildcard),
            ("$share/#/sport", TopicError::ShareNameWildcard),
            ("$share/+/sport", TopicError::ShareNameWildcard),
            (
                "$share/g\0/sport",
                TopicError::NullCharacter(TopicKind::Filter),
            ),
            ("$share/g/sport#", TopicError::MultiLevelWildcardMisplaced),
            ("$share/g/a+", TopicError::SingleLevelWildcardMisplaced),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_topic_filter(raw), Err(expected), "{raw:?}");
            assert_eq!(validate_topic_filter(raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn the_level_bound_counts_the_filter_proper_of_a_shared_filter() {
        let three_levels = "a/b/c";
        assert_eq!(
            parse_topic_filter_within(&format!("$share/g/{three_levels}"), 3)
                .map(|parsed| parsed.topic_filter),
            Ok(three_levels)
        );
        let expected = Err(TopicError::TooManyLevels {
            kind: TopicKind::Filter,
            levels_max: 2,
        });
        assert_eq!(parse_topic_filter_within("$share/g/a/b/c", 2), expected);
        assert_eq!(parse_topic_filter_within("a/b/c", 2), expected);
    }

    #[test]
    fn share_prefix_without_its_slash_is_an_ordinary_filter() {
        assert_eq!(
            parse_topic_filter("$share"),
            Ok(ParsedFilter {
                share_group: None,
                topic_filter: "$share"
            })
        );
        assert_eq!(
            parse_topic_filter("$sharex/g/f").map(|parsed| parsed.share_group),
            Ok(None)
        );
    }
}
