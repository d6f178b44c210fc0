//! The index from client id to session key, holding hashes and keys only.
//!
//! The client id itself lives in the session: keying a map by it would hold a
//! second handle to its bytes (and make them shared, another allocation) in a
//! slot five times the size of this one's. A lookup compares the candidate
//! sessions' client ids, which the caller reads from the session table.

use hashbrown::HashTable;

use super::SessionKey;

/// Client id hashes and session keys; see the module documentation.
pub struct ClientIndex {
    table: HashTable<(u64, SessionKey)>,
    hasher: ahash::RandomState,
}

impl ClientIndex {
    /// An empty index with a hasher keyed at random.
    pub fn new() -> ClientIndex {
        ClientIndex {
            table: HashTable::new(),
            hasher: ahash::RandomState::new(),
        }
    }

    fn hash(&self, client_id: &str) -> u64 {
        self.hasher.hash_one(client_id)
    }

    /// The key filed under `client_id` for which `is_client` holds (it
    /// compares that key's session's client id with `client_id`).
    pub fn find(
        &self,
        client_id: &str,
        mut is_client: impl FnMut(SessionKey) -> bool,
    ) -> Option<SessionKey> {
        let hash = self.hash(client_id);
        self.table
            .find(hash, |&(filed, key)| filed == hash && is_client(key))
            .map(|&(_, key)| key)
    }

    /// Files `key` under `client_id`.
    pub fn insert(&mut self, client_id: &str, key: SessionKey) {
        let hash = self.hash(client_id);
        self.table
            .insert_unique(hash, (hash, key), |&(filed, _)| filed);
    }

    /// Removes `key` filed under `client_id`; true when it was there.
    pub fn remove(&mut self, client_id: &str, key: SessionKey) -> bool {
        let hash = self.hash(client_id);
        match self.table.find_entry(hash, |&(filed, filed_key)| {
            filed == hash && filed_key == key
        }) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions by key, standing in for the session table.
    fn lookup(
        index: &ClientIndex,
        sessions: &[(SessionKey, &str)],
        client_id: &str,
    ) -> Option<SessionKey> {
        index.find(client_id, |key| {
            sessions.iter().any(|&(k, id)| k == key && id == client_id)
        })
    }

    #[test]
    fn finds_each_client_by_its_id_and_forgets_removed_ones() {
        let mut index = ClientIndex::new();
        let sessions: Vec<(SessionKey, String)> = (0..1000)
            .map(|key| (key, format!("client-{key}")))
            .collect();
        for (key, id) in &sessions {
            index.insert(id, *key);
        }
        let view: Vec<(SessionKey, &str)> =
            sessions.iter().map(|(k, id)| (*k, id.as_str())).collect();
        for (key, id) in &view {
            assert_eq!(lookup(&index, &view, id), Some(*key));
        }
        assert_eq!(lookup(&index, &view, "client-1000"), None);
        assert!(index.remove("client-7", 7));
        assert!(!index.remove("client-7", 7));
        assert_eq!(lookup(&index, &view, "client-7"), None);
        assert_eq!(lookup(&index, &view, "client-8"), Some(8));
    }

    #[test]
    fn keys_under_one_hash_are_told_apart_by_the_session() {
        let mut index = ClientIndex::new();
        // Two keys filed under the same id, hence the same hash, as
        // colliding ids would be.
        let hash = "a";
        index.insert(hash, 1);
        index.insert(hash, 2);
        assert_eq!(index.find(hash, |key| key == 2), Some(2));
        assert_eq!(index.find(hash, |key| key == 1), Some(1));
        assert!(index.remove(hash, 1));
        assert_eq!(index.find(hash, |key| key == 1), None);
        assert_eq!(index.find(hash, |key| key == 2), Some(2));
    }
}
