//! Matching a topic name against the trie: one walk, no allocation.
//!
//! At each node the walk follows the child labelled with the next level and the
//! `+` child, and reports the `#` child, which matches whatever remains,
//! nothing included (`sport/#` matches `sport`). At the root, a topic name
//! starting with `$` skips the `+` and `#` children [MQTT-4.7.2-1]. Each
//! matching filter is reached by exactly one path, so each is reported once.

use core::hash::Hash;

use super::entry::FilterEntry;
use super::node::Node;
use super::{ShareCursors, SharedMembers, SubscriptionTrie};
use crate::topic::ShardSet;

/// Receives what a match finds, filter by filter.
pub trait MatchVisitor<K, V> {
    /// A local, non-shared subscription of `key` on the matching `topic_filter`.
    /// A subscriber with several matching filters is reported once per filter.
    fn local(&mut self, topic_filter: &str, key: &K, value: &V);

    /// A share group with members (local, remote or both) on a matching filter.
    fn shared(&mut self, group: SharedGroupMatch<'_, K, V>);
}

/// A share group on a filter that matched.
#[derive(Debug)]
pub struct SharedGroupMatch<'a, K, V> {
    /// The filter proper, without the `$share/{group}/` prefix.
    pub topic_filter: &'a str,
    /// The share name.
    pub share_name: &'a str,
    /// Remote shards with members of the group on this filter.
    pub remote_shards: &'a ShardSet,
    /// This shard's members of the group on this filter.
    pub local_members: &'a SharedMembers<K, V>,
    /// The group's round-robin cursors on this filter, its own: picking for
    /// one group never moves another's turn.
    pub cursors: &'a ShareCursors,
}

impl<'a, K, V> SharedGroupMatch<'a, K, V> {
    /// On the shard a message is published on (`this_shard`), takes the
    /// group's next turn among the shards with members: `this_shard` when it
    /// has local members, and the remote shards of the group. `None` when
    /// there is none. See [`ShareCursors::next_shard`].
    pub fn pick_shard(&self, this_shard: usize) -> Option<usize> {
        let mut candidates = *self.remote_shards;
        if !self.local_members.is_empty() {
            candidates.insert(this_shard);
        }
        self.cursors.next_shard(&candidates)
    }

    /// On the shard picked to deliver, takes the group's next turn among its
    /// local members. `None` when it has none (they left since the pick).
    /// See [`ShareCursors::next_member`].
    pub fn pick_member(&self) -> Option<(&'a K, &'a V)> {
        let position = self.cursors.next_member(self.local_members.len())?;
        self.local_members.get(position)
    }
}

impl<K: Copy + Eq + Hash, V> SubscriptionTrie<K, V> {
    /// Reports every subscription matching `topic_name` to `visitor` and
    /// returns the union of the remote shards with non-shared subscribers on a
    /// matching filter (shared ones are reported per group to `visitor`).
    pub fn match_topic(&self, topic_name: &str, visitor: &mut impl MatchVisitor<K, V>) -> ShardSet {
        let mut remote_shards = ShardSet::new();
        let mut walk = Walk {
            visitor,
            remote_shards: &mut remote_shards,
        };
        let wildcards_at_root = !topic_name.starts_with('$');
        walk.node(&self.root, Some(topic_name), wildcards_at_root);
        remote_shards
    }
}

struct Walk<'v, Visitor> {
    visitor: &'v mut Visitor,
    remote_shards: &'v mut ShardSet,
}

impl<Visitor> Walk<'_, Visitor> {
    /// Visits `node`, reached with `rest` of the topic name still to match
    /// (`None` once every level is consumed). The recursion depth is bounded
    /// by the depth of the trie, not by the topic name.
    fn node<K, V>(&mut self, node: &Node<K, V>, rest: Option<&str>, wildcards: bool)
    where
        Visitor: MatchVisitor<K, V>,
    {
        if wildcards {
            if let Some(multi_level) = node.multi_level.as_deref() {
                self.report(multi_level);
            }
        }
        let Some(rest) = rest else {
            self.report(node);
            return;
        };
        let (level, tail) = match rest.split_once('/') {
            Some((level, tail)) => (level, Some(tail)),
            None => (rest, None),
        };
        if let Some(child) = node.children.get(level) {
            self.node(child, tail, true);
        }
        if wildcards {
            if let Some(single_level) = node.single_level.as_deref() {
                self.node(single_level, tail, true);
            }
        }
    }

    fn report<K, V>(&mut self, node: &Node<K, V>)
    where
        Visitor: MatchVisitor<K, V>,
    {
        let Some(entry) = node.entry.as_deref() else {
            return;
        };
        self.report_entry(entry);
    }

    fn report_entry<K, V>(&mut self, entry: &FilterEntry<K, V>)
    where
        Visitor: MatchVisitor<K, V>,
    {
        self.remote_shards.union_with(&entry.remote_shards);
        for (key, value) in &entry.local {
            self.visitor.local(&entry.topic_filter, key, value);
        }
        for (share_name, group) in entry.shared.iter().flat_map(|shared| shared.iter()) {
            self.visitor.shared(SharedGroupMatch {
                topic_filter: &entry.topic_filter,
                share_name,
                remote_shards: &group.remote_shards,
                local_members: &group.members,
                cursors: &group.cursors,
            });
        }
    }
}
