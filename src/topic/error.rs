//! Why a topic name or topic filter is refused: one variant per rule, each naming
//! the spec statement it breaks and the v5 reason code to answer with.
//!
//! Statement ids are those of MQTT 5.0. MQTT 3.1.1 states the same rules in
//! section 4.7 with the ids shifted by one (its `[MQTT-4.7.1-1]` is the
//! wildcard ban on topic names, its `[MQTT-4.7.1-2]` the `#` rule).

use core::fmt;

use crate::protocol::ReasonCode;

/// Whether the refused string was a topic name or a topic filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// A topic name, from PUBLISH or a will.
    Name,
    /// A topic filter, from SUBSCRIBE or UNSUBSCRIBE.
    Filter,
}

impl TopicKind {
    fn as_str(self) -> &'static str {
        match self {
            TopicKind::Name => "topic name",
            TopicKind::Filter => "topic filter",
        }
    }
}

/// Why a topic name or filter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// The string is empty [MQTT-4.7.3-1].
    Empty(TopicKind),
    /// The string contains U+0000 [MQTT-4.7.3-2].
    NullCharacter(TopicKind),
    /// The string is longer than [`crate::limits::TOPIC_LENGTH_MAX`] bytes [MQTT-4.7.3-3].
    TooLong {
        /// Name or filter.
        kind: TopicKind,
        /// The length of the refused string.
        length_bytes: usize,
    },
    /// The string has more levels than the bound in force: the session's
    /// `max_topic_levels`, or [`crate::limits::TOPIC_LEVELS_MAX`]. Not a rule
    /// of the specification, which sets no such bound.
    TooManyLevels {
        /// Name or filter.
        kind: TopicKind,
        /// The bound in force, levels.
        levels_max: usize,
    },
    /// A topic name contains `+` or `#` [MQTT-4.7.0-1].
    WildcardInTopicName,
    /// `#` is not alone in the last level of the filter [MQTT-4.7.1-1].
    MultiLevelWildcardMisplaced,
    /// `+` does not occupy a whole level of the filter [MQTT-4.7.1-2].
    SingleLevelWildcardMisplaced,
    /// `$share/` is followed by an empty share name [MQTT-4.8.2-1].
    ShareNameEmpty,
    /// The share name contains `+` or `#` [MQTT-4.8.2-1].
    ShareNameWildcard,
    /// The share name is not followed by `/` and a non-empty filter [MQTT-4.8.2-2].
    SharedFilterMissing,
}

impl TopicError {
    /// The v5 reason code to refuse with: 0x90 for a topic name, 0x8F for a filter.
    pub fn reason_code(&self) -> ReasonCode {
        match self.kind() {
            TopicKind::Name => ReasonCode::TopicNameInvalid,
            TopicKind::Filter => ReasonCode::TopicFilterInvalid,
        }
    }

    /// Whether a topic name or a topic filter was refused.
    pub fn kind(&self) -> TopicKind {
        match *self {
            TopicError::Empty(kind)
            | TopicError::NullCharacter(kind)
            | TopicError::TooLong { kind, .. }
            | TopicError::TooManyLevels { kind, .. } => kind,
            TopicError::WildcardInTopicName => TopicKind::Name,
            TopicError::MultiLevelWildcardMisplaced
            | TopicError::SingleLevelWildcardMisplaced
            | TopicError::ShareNameEmpty
            | TopicError::ShareNameWildcard
            | TopicError::SharedFilterMissing => TopicKind::Filter,
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::limits::TOPIC_LENGTH_MAX;
        match *self {
            TopicError::Empty(kind) => write!(f, "empty {} [MQTT-4.7.3-1]", kind.as_str()),
            TopicError::NullCharacter(kind) => {
                write!(f, "{} contains U+0000 [MQTT-4.7.3-2]", kind.as_str())
            }
            TopicError::TooLong { kind, length_bytes } => write!(
                f,
                "{} of {length_bytes} bytes is longer than the {TOPIC_LENGTH_MAX} allowed [MQTT-4.7.3-3]",
                kind.as_str()
            ),
            TopicError::TooManyLevels { kind, levels_max } => write!(
                f,
                "{} has more than the {levels_max} levels allowed (max_topic_levels)",
                kind.as_str()
            ),
            TopicError::WildcardInTopicName => {
                f.write_str("topic name contains a wildcard character [MQTT-4.7.0-1]")
            }
            TopicError::MultiLevelWildcardMisplaced => {
                f.write_str("'#' must be alone in the last level of a topic filter [MQTT-4.7.1-1]")
            }
            TopicError::SingleLevelWildcardMisplaced => {
                f.write_str("'+' must occupy a whole level of a topic filter [MQTT-4.7.1-2]")
            }
            TopicError::ShareNameEmpty => {
                f.write_str("empty share name after '$share/' [MQTT-4.8.2-1]")
            }
            TopicError::ShareNameWildcard => {
                f.write_str("share name contains '+' or '#' [MQTT-4.8.2-1]")
            }
            TopicError::SharedFilterMissing => f.write_str(
                "share name must be followed by '/' and a topic filter [MQTT-4.8.2-2]",
            ),
        }
    }
}

impl std::error::Error for TopicError {}
