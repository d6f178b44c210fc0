//! What the trie keeps on the node where a filter ends: the remote shards with
//! subscribers on it, this shard's own subscriptions, and the same two per
//! share group for `$share/{group}/{filter}`, with the group's round-robin
//! cursors.

use core::hash::Hash;
use std::collections::HashMap;

use ahash::RandomState;

use super::cursors::ShareCursors;
use super::hashing::SubscriberHasher;
use super::members::SharedMembers;
use crate::topic::ShardSet;

/// The subscriptions on one filter.
pub(super) struct FilterEntry<K, V> {
    /// The filter proper (no `$share/` prefix), reported to match visitors.
    pub(super) topic_filter: Box<str>,
    /// Remote shards with at least one non-shared subscriber on the filter.
    pub(super) remote_shards: ShardSet,
    /// This shard's non-shared subscriptions.
    pub(super) local: HashMap<K, V, SubscriberHasher>,
    /// Share groups on the filter, by share name; boxed, as most filters
    /// have none.
    pub(super) shared: Option<Box<SharedGroups<K, V>>>,
}

/// The share groups on one filter, by share name.
pub(super) type SharedGroups<K, V> = HashMap<Box<str>, SharedGroup<K, V>, RandomState>;

/// One share group on one filter.
pub(super) struct SharedGroup<K, V> {
    /// Remote shards with at least one member of the group.
    pub(super) remote_shards: ShardSet,
    /// This shard's members of the group.
    pub(super) members: SharedMembers<K, V>,
    /// The group's own round-robin turns, over shards and over `members`.
    pub(super) cursors: ShareCursors,
}

impl<K: Copy + Eq + Hash, V> FilterEntry<K, V> {
    pub(super) fn new(topic_filter: &str) -> FilterEntry<K, V> {
        FilterEntry {
            topic_filter: topic_filter.into(),
            remote_shards: ShardSet::new(),
            local: HashMap::with_hasher(SubscriberHasher),
            shared: None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remote_shards.is_empty() && self.local.is_empty() && self.shared.is_none()
    }

    /// The group `share_name`, created empty when absent.
    pub(super) fn group_mut(
        &mut self,
        share_name: &str,
        label_hasher: &RandomState,
    ) -> &mut SharedGroup<K, V> {
        let shared = self
            .shared
            .get_or_insert_with(|| Box::new(HashMap::with_hasher(label_hasher.clone())));
        if !shared.contains_key(share_name) {
            let group = SharedGroup {
                remote_shards: ShardSet::new(),
                members: SharedMembers::new(),
                cursors: ShareCursors::new(),
            };
            shared.insert(share_name.into(), group);
        }
        shared
            .get_mut(share_name)
            .expect("the group was inserted above")
    }

    /// Applies `edit` to the group `share_name` if it exists, and drops the
    /// group when that leaves it empty.
    pub(super) fn edit_group<R>(
        &mut self,
        share_name: &str,
        edit: impl FnOnce(&mut SharedGroup<K, V>) -> R,
    ) -> Option<R> {
        let shared = self.shared.as_deref_mut()?;
        let group = shared.get_mut(share_name)?;
        let result = edit(group);
        if group.is_empty() {
            shared.remove(share_name);
            shrink_if_sparse(shared);
            if shared.is_empty() {
                self.shared = None;
            }
        }
        Some(result)
    }

    /// Removes a non-shared local subscription.
    pub(super) fn remove_local(&mut self, key: &K) -> Option<V> {
        let previous = self.local.remove(key);
        shrink_if_sparse(&mut self.local);
        previous
    }
}

impl<K, V> SharedGroup<K, V> {
    fn is_empty(&self) -> bool {
        self.remote_shards.is_empty() && self.members.is_empty()
    }
}

/// Gives memory back once a map is three-quarters empty, so churn on a popular
/// filter does not leave its peak allocation behind.
pub(super) fn shrink_if_sparse<Key: Eq + Hash, Value, Hasher: core::hash::BuildHasher>(
    map: &mut HashMap<Key, Value, Hasher>,
) {
    if map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}
