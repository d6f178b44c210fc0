//! The local members of one share group on one filter: a dense list with an
//! index, so a member can be picked by position (round-robin, hashing) in O(1)
//! and removed in O(1).

use core::hash::Hash;
use std::collections::HashMap;

use super::hashing::SubscriberHasher;

/// The local members of a share group: subscriber key to subscription value.
#[derive(Clone, Debug)]
pub struct SharedMembers<K, V> {
    members: Vec<(K, V)>,
    position_by_key: HashMap<K, usize, SubscriberHasher>,
}

impl<K, V> SharedMembers<K, V> {
    pub(super) fn new() -> SharedMembers<K, V> {
        SharedMembers {
            members: Vec::new(),
            position_by_key: HashMap::with_hasher(SubscriberHasher),
        }
    }

    /// How many local members the group has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when the group has no local member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member at `position` (below [`SharedMembers::len`]). Positions change
    /// when a member leaves.
    pub fn get(&self, position: usize) -> Option<(&K, &V)> {
        self.members.get(position).map(|(key, value)| (key, value))
    }

    /// Every member, in position order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.members.iter().map(|(key, value)| (key, value))
    }
}

impl<K: Copy + Eq + Hash, V> SharedMembers<K, V> {
    /// The value stored for `key`, if it is a member.
    pub fn get_by_key(&self, key: &K) -> Option<&V> {
        let &position = self.position_by_key.get(key)?;
        Some(&self.members[position].1)
    }

    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&position) = self.position_by_key.get(&key) {
            return Some(core::mem::replace(&mut self.members[position].1, value));
        }
        self.position_by_key.insert(key, self.members.len());
        self.members.push((key, value));
        None
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let position = self.position_by_key.remove(key)?;
        let (_, value) = self.members.swap_remove(position);
        if let Some((moved_key, _)) = self.members.get(position) {
            self.position_by_key.insert(*moved_key, position);
        }
        if self.members.len() * 4 < self.members.capacity() {
            self.members.shrink_to(self.members.len() * 2);
            self.position_by_key.shrink_to(self.members.len() * 2);
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> SharedMembers<u64, &'static str> {
        SharedMembers::new()
    }

    #[test]
    fn insert_replaces_the_value_of_an_existing_member() {
        let mut group = members();
        assert_eq!(group.insert(7, "a"), None);
        assert_eq!(group.insert(7, "b"), Some("a"));
        assert_eq!(group.len(), 1);
        assert_eq!(group.get_by_key(&7), Some(&"b"));
    }

    #[test]
    fn removal_keeps_every_other_member_reachable_by_key_and_position() {
        let mut group = members();
        for key in 0..10 {
            group.insert(key, "v");
        }
        assert_eq!(group.remove(&3), Some("v"));
        assert_eq!(group.remove(&3), None);
        assert_eq!(group.len(), 9);
        for key in (0..10).filter(|&key| key != 3) {
            assert_eq!(group.get_by_key(&key), Some(&"v"));
        }
        let mut keys: Vec<u64> = (0..group.len())
            .map(|position| *group.get(position).expect("in range").0)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    }
}
