//! `$share/{share_name}/{topic_filter}` (section 4.8.2): splitting a filter into
//! its share name and the filter proper, and validating both.

use super::error::{TopicError, TopicKind};
use super::validate::{check_length, validate_plain_topic_filter};

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

/// Validates a filter and splits off its `$share/{group}/` prefix.
pub fn parse_topic_filter(topic_filter: &str) -> Result<ParsedFilter<'_>, TopicError> {
    check_length(topic_filter, TopicKind::Filter)?;
    let Some(shared) = topic_filter.strip_prefix(SHARE_PREFIX) else {
        validate_plain_topic_filter(topic_filter)?;
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
    validate_plain_topic_filter(filter)?;
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
