//! The subscription trie every shard keeps a replica of.
//!
//! One node per filter level; the node where a filter ends holds its entry:
//! - the *remote* shards with at least one subscriber on the filter, as a
//!   [`ShardSet`](super::ShardSet) (changed by the "shard s now has / no longer has subscribers
//!   on f" transitions the server broadcasts: [`SubscriptionTrie::add_remote`],
//!   [`SubscriptionTrie::remove_remote`]);
//! - this shard's own subscriptions, subscriber key `K` to value `V`
//!   ([`SubscriptionTrie::insert`], [`SubscriptionTrie::remove`]);
//! - per share group of `$share/{group}/{filter}`, the same two, kept apart.
//!
//! [`SubscriptionTrie::match_topic`] walks the trie once for a topic name
//! without allocating (see [`walk`]). Removing the last thing a node holds
//! prunes it and every ancestor left empty, so memory follows the live
//! subscriptions, not their history.
//!
//! Every filter is validated with [`parse_topic_filter`], so the trie is at
//! most [`TOPIC_LEVELS_MAX`](crate::limits::TOPIC_LEVELS_MAX) levels deep,
//! which bounds the recursion of a match, an insert and a removal. That is the
//! hard bound, not a session's `max_topic_levels`: a filter another shard or a
//! snapshot hands over was accepted under some configuration, and must fit
//! whichever this shard runs.
//!
//! How a shard uses its replica:
//! - SUBSCRIBE: [`SubscriptionTrie::insert`] with the raw filter (`$share/`
//!   form included); when [`Inserted::first_local`] is set, broadcast "this
//!   shard has subscribers on the filter" and every other shard applies
//!   [`SubscriptionTrie::add_remote`] with the same raw filter. UNSUBSCRIBE and
//!   session end mirror it with [`Removed::last_local`] and
//!   [`SubscriptionTrie::remove_remote`]. A shard never records itself as remote.
//! - PUBLISH: [`SubscriptionTrie::match_topic`] delivers to the local entries
//!   the visitor receives, forwards once to each shard of the returned set,
//!   and per share group picks one of the group's remote shards or local members
//!   ([`SharedGroupMatch::pick_shard`]); a shard picked for a group delivers to
//!   one of its local members ([`SharedGroupMatch::pick_member`]). Each group
//!   on each filter takes these turns on cursors of its own ([`ShareCursors`]).
//!
//! Hashing: subscriber maps use fixed seeds, so the order a match reports
//! local subscribers in is the same on every run. Level labels and share names
//! come from clients; [`SubscriptionTrie::with_label_seeds`] lets the server
//! hash them with per-process random seeds so that colliding labels cannot be
//! precomputed.

mod cursors;
mod entry;
mod hashing;
mod members;
mod node;
pub mod walk;

#[cfg(test)]
mod tests;

use core::hash::Hash;

use ahash::RandomState;

pub use cursors::ShareCursors;
pub use members::SharedMembers;
pub use walk::{MatchVisitor, SharedGroupMatch};

use self::entry::FilterEntry;
use self::hashing::{label_hasher, LABEL_SEEDS};
use self::node::Node;
use super::{parse_topic_filter, TopicError};

/// The outcome of [`SubscriptionTrie::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted<V> {
    /// The value the subscriber had on this filter (and group) before.
    pub previous: Option<V>,
    /// True when this is now the only local subscription on the filter (for a
    /// shared one: the only local member of the group on the filter): the
    /// moment to tell the other shards this shard has subscribers on it.
    pub first_local: bool,
}

/// The outcome of [`SubscriptionTrie::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed<V> {
    /// The value removed, `None` when the subscriber had no such subscription.
    pub previous: Option<V>,
    /// True when that was the last local subscription on the filter (for a
    /// shared one: the last local member of the group on the filter): the
    /// moment to tell the other shards this shard has no subscriber left on it.
    pub last_local: bool,
}

/// Subscriptions by topic filter, matched against topic names.
///
/// `K` identifies a local subscriber (the server uses a session id), `V` is
/// what the subscription carries (options, identifier).
pub struct SubscriptionTrie<K, V> {
    root: Node<K, V>,
    label_hasher: RandomState,
    filter_count: usize,
    local_count: usize,
}

impl<K: Copy + Eq + Hash, V> Default for SubscriptionTrie<K, V> {
    fn default() -> Self {
        SubscriptionTrie::new()
    }
}

impl<K: Copy + Eq + Hash, V> SubscriptionTrie<K, V> {
    /// An empty trie hashing labels with fixed seeds.
    pub fn new() -> SubscriptionTrie<K, V> {
        SubscriptionTrie::with_label_seeds(LABEL_SEEDS)
    }

    /// An empty trie hashing level labels and share names with `label_seeds`,
    /// which should come from a random source at start-up (ahash's own pi
    /// constants are the one choice to avoid: they cancel out to a hash that
    /// is the same for every label).
    pub fn with_label_seeds(label_seeds: [u64; 4]) -> SubscriptionTrie<K, V> {
        SubscriptionTrie {
            root: Node::new(),
            label_hasher: label_hasher(label_seeds),
            filter_count: 0,
            local_count: 0,
        }
    }

    /// Adds or replaces the local subscription of `key` on `topic_filter`
    /// (`$share/{group}/{filter}` for a shared one).
    pub fn insert(
        &mut self,
        topic_filter: &str,
        key: K,
        value: V,
    ) -> Result<Inserted<V>, TopicError> {
        let parsed = parse_topic_filter(topic_filter)?;
        let label_hasher = self.label_hasher.clone();
        let entry = self.entry_or_insert(parsed.topic_filter);
        let (previous, first_local) = match parsed.share_group {
            None => {
                let previous = entry.local.insert(key, value);
                (previous, entry.local.len() == 1)
            }
            Some(share_name) => {
                let group = entry.group_mut(share_name, &label_hasher);
                let previous = group.members.insert(key, value);
                (previous, group.members.len() == 1)
            }
        };
        if previous.is_none() {
            self.local_count += 1;
        }
        Ok(Inserted {
            first_local: first_local && previous.is_none(),
            previous,
        })
    }

    /// Removes the local subscription of `key` on `topic_filter`.
    pub fn remove(&mut self, topic_filter: &str, key: &K) -> Result<Removed<V>, TopicError> {
        let parsed = parse_topic_filter(topic_filter)?;
        let removed = self.edit_entry(parsed.topic_filter, |entry| match parsed.share_group {
            None => {
                let previous = entry.remove_local(key);
                let last_local = previous.is_some() && entry.local.is_empty();
                (previous, last_local)
            }
            Some(share_name) => entry
                .edit_group(share_name, |group| {
                    let previous = group.members.remove(key);
                    let last_local = previous.is_some() && group.members.is_empty();
                    (previous, last_local)
                })
                .unwrap_or((None, false)),
        });
        let (previous, last_local) = removed.unwrap_or((None, false));
        if previous.is_some() {
            self.local_count -= 1;
        }
        Ok(Removed {
            previous,
            last_local,
        })
    }

    /// Records that remote shard `shard` has subscribers on `topic_filter`
    /// (for `$share/{group}/{filter}`: members of that group). True when it
    /// was not recorded before. `shard` must be below [`crate::limits::SHARDS_MAX`].
    pub fn add_remote(&mut self, topic_filter: &str, shard: usize) -> Result<bool, TopicError> {
        let parsed = parse_topic_filter(topic_filter)?;
        let label_hasher = self.label_hasher.clone();
        let entry = self.entry_or_insert(parsed.topic_filter);
        let remote_shards = match parsed.share_group {
            None => &mut entry.remote_shards,
            Some(share_name) => &mut entry.group_mut(share_name, &label_hasher).remote_shards,
        };
        Ok(remote_shards.insert(shard))
    }

    /// Records that remote shard `shard` has no subscriber left on
    /// `topic_filter`. True when it was recorded before.
    pub fn remove_remote(&mut self, topic_filter: &str, shard: usize) -> Result<bool, TopicError> {
        let parsed = parse_topic_filter(topic_filter)?;
        let removed = self.edit_entry(parsed.topic_filter, |entry| match parsed.share_group {
            None => entry.remote_shards.remove(shard),
            Some(share_name) => entry
                .edit_group(share_name, |group| group.remote_shards.remove(shard))
                .unwrap_or(false),
        });
        Ok(removed.unwrap_or(false))
    }

    /// The value of the local subscription of `key` on `topic_filter`.
    pub fn get(&self, topic_filter: &str, key: &K) -> Result<Option<&V>, TopicError> {
        let parsed = parse_topic_filter(topic_filter)?;
        let Some(entry) = self.entry(parsed.topic_filter) else {
            return Ok(None);
        };
        Ok(match parsed.share_group {
            None => entry.local.get(key),
            Some(share_name) => entry
                .shared
                .as_deref()
                .and_then(|shared| shared.get(share_name))
                .and_then(|group| group.members.get_by_key(key)),
        })
    }

    /// Filters (shared or not, local or remote) the trie holds an entry for.
    pub fn filter_count(&self) -> usize {
        self.filter_count
    }

    /// Local subscriptions, shared ones included.
    pub fn local_count(&self) -> usize {
        self.local_count
    }

    /// True when the trie holds nothing.
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Nodes of the trie, the root included: what its memory grows with.
    pub fn node_count(&self) -> usize {
        fn count<K, V>(node: &Node<K, V>) -> usize {
            1 + node
                .children
                .iter()
                .map(|(_, child)| count(child))
                .sum::<usize>()
                + node.single_level.as_deref().map_or(0, count)
                + node.multi_level.as_deref().map_or(0, count)
        }
        count(&self.root)
    }

    fn entry(&self, topic_filter: &str) -> Option<&FilterEntry<K, V>> {
        let mut node = &self.root;
        for level in topic_filter.split('/') {
            node = match level {
                "+" => node.single_level.as_deref()?,
                "#" => node.multi_level.as_deref()?,
                label => node.children.get(label)?,
            };
        }
        node.entry.as_deref()
    }

    /// The entry of a plain (already validated) filter, created with its nodes
    /// when absent.
    fn entry_or_insert(&mut self, topic_filter: &str) -> &mut FilterEntry<K, V> {
        let mut node = &mut self.root;
        for level in topic_filter.split('/') {
            node = node.child_or_insert(level, &self.label_hasher);
        }
        if node.entry.is_none() {
            self.filter_count += 1;
        }
        node.entry
            .get_or_insert_with(|| Box::new(FilterEntry::new(topic_filter)))
    }

    /// Applies `edit` to the entry of a plain filter if it exists, then drops
    /// the entry if that left it empty and prunes the nodes left empty.
    fn edit_entry<R>(
        &mut self,
        topic_filter: &str,
        edit: impl FnOnce(&mut FilterEntry<K, V>) -> R,
    ) -> Option<R> {
        let mut entry_dropped = false;
        let result = edit_at(
            &mut self.root,
            topic_filter.split('/'),
            edit,
            &mut entry_dropped,
        );
        if entry_dropped {
            self.filter_count -= 1;
        }
        result
    }
}

/// The recursion behind [`SubscriptionTrie::edit_entry`]; its depth is the
/// filter's level count, at most [`crate::limits::TOPIC_LEVELS_MAX`].
fn edit_at<'a, K: Copy + Eq + Hash, V, R>(
    node: &mut Node<K, V>,
    mut levels: impl Iterator<Item = &'a str>,
    edit: impl FnOnce(&mut FilterEntry<K, V>) -> R,
    entry_dropped: &mut bool,
) -> Option<R> {
    let Some(level) = levels.next() else {
        let entry = node.entry.as_deref_mut()?;
        let result = edit(entry);
        if entry.is_empty() {
            node.entry = None;
            *entry_dropped = true;
        }
        return Some(result);
    };
    let child = node.child_mut(level)?;
    let result = edit_at(child, levels, edit, entry_dropped);
    if child.is_empty() {
        node.remove_child(level);
    }
    result
}
