//! Topic names, topic filters, shared subscriptions and the subscription trie.
//!
//! - [`error`]: why a name or filter is refused, with its spec id and reason code.
//! - [`validate`]: the section 4.7 rules for topic names and plain filters,
//!   and the level bound.
//! - [`shared`]: `$share/{group}/{filter}` parsing (section 4.8.2).
//! - [`system`]: `$SYS`, the broker's own topics, which clients do not publish to.
//! - [`matching`]: whether one filter matches one topic name.
//! - [`shard_set`]: the bitset of shards with subscribers on a filter.
//! - [`trie`]: the subscription trie every shard keeps a replica of.

pub mod error;
pub mod matching;
pub mod shard_set;
pub mod shared;
pub mod system;
pub mod trie;
pub mod validate;

pub use error::{TopicError, TopicKind};
pub use matching::matches;
pub use shard_set::ShardSet;
pub use shared::{
    parse_topic_filter, parse_topic_filter_within, validate_topic_filter, ParsedFilter,
    SHARE_PREFIX,
};
pub use system::is_sys_topic;
pub use trie::{
    Inserted, MatchVisitor, Removed, SharedGroupMatch, SharedMembers, SubscriptionTrie,
};
pub use validate::{validate_topic_name, validate_topic_name_within};
