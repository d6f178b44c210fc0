//! Topic names, topic filters, shared subscriptions and the subscription trie.

/// Why a topic name or filter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// Placeholder until the topic rules land.
    Invalid,
}

/// Checks a topic name from PUBLISH or a will: non-empty, no wildcards, within limits.
pub fn validate_topic_name(topic_name: &str) -> Result<(), TopicError> {
    let _ = topic_name;
    todo!("topic rules")
}

/// Checks a topic filter from SUBSCRIBE or UNSUBSCRIBE, `$share/` form included.
pub fn validate_topic_filter(topic_filter: &str) -> Result<(), TopicError> {
    let _ = topic_filter;
    todo!("topic rules")
}

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
    let _ = topic_filter;
    todo!("topic rules")
}

/// True when `topic_filter` (without any `$share/` prefix) matches `topic_name`.
pub fn matches(topic_filter: &str, topic_name: &str) -> bool {
    let _ = (topic_filter, topic_name);
    todo!("topic rules")
}
