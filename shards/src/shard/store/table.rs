//! The sessions of one shard, stored inline in one slab.
//!
//! A session's key is its slot's index and version (see `slotmap`): a lookup
//! is an index, not a hash, the table costs no per-session allocation or
//! hash-table slot, and a key kept anywhere after its session ended (a
//! subscription on the way, a shared-group member on another shard) never
//! finds the session that reuses the slot. A key can be reserved before its
//! session exists, and a session taken out (takeover, resume) keeps its key:
//! subscriptions in the trie name it.

use slotmap::{DefaultKey, Key, KeyData, SlotMap};

use super::SessionEntry;
use super::SessionKey;

/// Sessions by key; see the module documentation.
#[derive(Default)]
pub struct SessionTable {
    slots: SlotMap<DefaultKey, Option<SessionEntry>>,
}

fn slot(key: SessionKey) -> DefaultKey {
    KeyData::from_ffi(key).into()
}

impl SessionTable {
    /// A key for a session not stored yet.
    pub fn reserve(&mut self) -> SessionKey {
        self.slots.insert(None).data().as_ffi()
    }

    /// The session under `key`, if one is stored.
    pub fn get(&self, key: &SessionKey) -> Option<&SessionEntry> {
        self.slots.get(slot(*key))?.as_ref()
    }

    /// The session under `key`, if one is stored.
    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut SessionEntry> {
        self.slots.get_mut(slot(*key))?.as_mut()
    }

    /// Stores `entry` under `key`, reserved or taken out before (only
    /// [`SessionTable::remove`] and [`SessionTable::release`] free a key, and
    /// neither frees one whose session is out).
    pub fn insert(&mut self, key: SessionKey, entry: SessionEntry) {
        let stored = self.slots.get_mut(slot(key));
        debug_assert!(stored.is_some(), "a session stored under a freed key");
        if let Some(stored) = stored {
            *stored = Some(entry);
        }
    }

    /// Takes the session under `key` out; the key stays reserved.
    pub fn take(&mut self, key: &SessionKey) -> Option<SessionEntry> {
        self.slots.get_mut(slot(*key))?.take()
    }

    /// Takes the session under `key` out and frees the key; a key reserved
    /// with nothing stored (a session taken out for a takeover) stays.
    pub fn remove(&mut self, key: &SessionKey) -> Option<SessionEntry> {
        let entry = self.take(key)?;
        self.slots.remove(slot(*key));
        Some(entry)
    }

    /// Frees `key`, reserved with nothing stored (a new session refused).
    pub fn release(&mut self, key: &SessionKey) {
        if self.slots.get(slot(*key)).is_some_and(Option::is_none) {
            self.slots.remove(slot(*key));
        }
    }

    /// Every stored session.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut SessionEntry> {
        self.slots.values_mut().filter_map(Option::as_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_session;
    use super::*;

    fn entry(client_id: &str) -> SessionEntry {
        SessionEntry {
            session: test_session(client_id),
            connection: None,
        }
    }

    fn client_id(table: &SessionTable, key: SessionKey) -> Option<String> {
        table
            .get(&key)
            .map(|entry| entry.session.client_id().to_string())
    }

    #[test]
    fn a_session_taken_out_keeps_its_key_and_comes_back_under_it() {
        let mut table = SessionTable::default();
        let key = table.reserve();
        assert_eq!(client_id(&table, key), None);
        table.insert(key, entry("a"));
        assert_eq!(client_id(&table, key).as_deref(), Some("a"));
        let taken = table.take(&key).expect("stored");
        // Ending a session whose entry is out leaves the key reserved.
        assert!(table.remove(&key).is_none());
        table.insert(key, taken);
        assert_eq!(client_id(&table, key).as_deref(), Some("a"));
        assert_eq!(table.values_mut().count(), 1);
    }

    #[test]
    fn a_freed_key_never_finds_the_session_that_reuses_its_slot() {
        let mut table = SessionTable::default();
        let old = table.reserve();
        table.insert(old, entry("old"));
        assert!(table.remove(&old).is_some());
        let new = table.reserve();
        table.insert(new, entry("new"));
        assert_ne!(old, new);
        assert_eq!(client_id(&table, old), None);
        assert!(table.get_mut(&old).is_none());
        assert!(table.take(&old).is_none());
        assert!(table.remove(&old).is_none());
        assert_eq!(client_id(&table, new).as_deref(), Some("new"));
    }

    #[test]
    fn release_frees_only_a_reserved_key_with_nothing_stored() {
        let mut table = SessionTable::default();
        let stored = table.reserve();
        table.insert(stored, entry("kept"));
        table.release(&stored);
        assert_eq!(client_id(&table, stored).as_deref(), Some("kept"));
        let refused = table.reserve();
        table.release(&refused);
        let next = table.reserve();
        assert_ne!(next, refused);
        assert_eq!(table.values_mut().count(), 1);
    }
}
