//! The sessions whose client id this shard is home to: the table holding them
//! by key, the index from client id to key, and the timer queue of their will
//! delays and expiries.
//!
//! Every call borrows what it needs for that call only; a closure given to
//! [`SessionStore::with`] must not call back into the store. Keep-alive is
//! not here: it lives on the connection (see `Connection::arm_keep_alive`).

mod clients;
mod table;

use std::cell::RefCell;
use std::rc::Rc;

use shardmq::limits;
use shardmq::session::{Session, TimerKind};
use shardmq::timers::{TimerQueue, TimerQueueFull};

use super::Connection;
use clients::ClientIndex;
use table::SessionTable;

/// A session's number on its home shard.
pub type SessionKey = u64;

/// The timer kinds the queue holds, to disarm them all when a session ends.
const QUEUED_TIMER_KINDS: [TimerKind; 2] = [TimerKind::WillDelay, TimerKind::SessionExpiry];

/// A session stored on its home shard, with its current connection if any.
pub struct SessionEntry {
    /// The session; its client id is the one indexed.
    pub session: Session,
    /// The connection serving it, if connected.
    pub connection: Option<Rc<Connection>>,
}

impl SessionEntry {
    /// True when the session is served by `connection` (not an older one).
    pub fn is_served_by(&self, connection: &Connection) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|current| current.id == connection.id)
    }
}

/// Sessions by key and by client id, and their timers.
pub(super) struct SessionStore {
    table: RefCell<SessionTable>,
    client_keys: RefCell<ClientIndex>,
    timers: RefCell<TimerQueue<(SessionKey, TimerKind)>>,
}

impl SessionStore {
    /// An empty store.
    pub(super) fn new() -> SessionStore {
        SessionStore {
            table: RefCell::new(SessionTable::default()),
            client_keys: RefCell::new(ClientIndex::new()),
            timers: RefCell::new(TimerQueue::new(limits::TIMERS_PER_SHARD_MAX)),
        }
    }

    /// The key of the session of `client_id`, if one is stored or reserved
    /// for it and stored.
    pub(super) fn key_of(&self, client_id: &str) -> Option<SessionKey> {
        let client_keys = self.client_keys.borrow();
        let table = self.table.borrow();
        client_keys.find(client_id, |key| {
            table
                .get(&key)
                .is_some_and(|entry| &**entry.session.client_id() == client_id)
        })
    }

    /// A key for a new session of `client_id`, filed under it; the session
    /// is stored later with [`SessionStore::put`] (or the key given back
    /// with [`SessionStore::release`]).
    pub(super) fn reserve(&self, client_id: &str) -> SessionKey {
        let key = self.table.borrow_mut().reserve();
        self.client_keys.borrow_mut().insert(client_id, key);
        key
    }

    /// Stores `entry` under `key`, reserved or taken out before.
    pub(super) fn put(&self, key: SessionKey, entry: SessionEntry) {
        self.table.borrow_mut().insert(key, entry);
    }

    /// Stores a session restored from disk under a new key; its key.
    pub(super) fn restore(&self, session: Session) -> SessionKey {
        let key = self.reserve(session.client_id());
        self.put(
            key,
            SessionEntry {
                session,
                connection: None,
            },
        );
        key
    }

    /// Takes the session under `key` out; the key stays reserved for it.
    pub(super) fn take(&self, key: SessionKey) -> Option<SessionEntry> {
        self.table.borrow_mut().take(&key)
    }

    /// Gives back the key reserved for `client_id`'s new session, which was
    /// refused.
    pub(super) fn release(&self, key: SessionKey, client_id: &str) {
        self.client_keys.borrow_mut().remove(client_id, key);
        self.table.borrow_mut().release(&key);
    }

    /// Removes the session under `key` for good, with its timers; the
    /// session, whose subscriptions the caller removes.
    pub(super) fn remove(&self, key: SessionKey) -> Option<Session> {
        {
            let mut timers = self.timers.borrow_mut();
            for timer in QUEUED_TIMER_KINDS {
                timers.cancel(&(key, timer));
            }
        }
        let entry = self.table.borrow_mut().remove(&key)?;
        let removed = self
            .client_keys
            .borrow_mut()
            .remove(entry.session.client_id(), key);
        assert!(removed, "a stored session is filed under its client id");
        Some(entry.session)
    }

    /// Runs `work` on the session under `key`, if one is stored.
    pub(super) fn with<R>(
        &self,
        key: SessionKey,
        work: impl FnOnce(&mut SessionEntry) -> R,
    ) -> Option<R> {
        self.table.borrow_mut().get_mut(&key).map(work)
    }

    /// Runs `work` on the session under `key` when `connection` serves it
    /// (not an older connection of the same client).
    pub(super) fn with_served<R>(
        &self,
        key: SessionKey,
        connection: &Connection,
        work: impl FnOnce(&mut SessionEntry) -> R,
    ) -> Option<R> {
        let mut table = self.table.borrow_mut();
        let entry = table
            .get_mut(&key)
            .filter(|entry| entry.is_served_by(connection))?;
        Some(work(entry))
    }

    /// Runs `work` on every stored session.
    pub(super) fn for_each(&self, mut work: impl FnMut(&mut SessionEntry)) {
        for entry in self.table.borrow_mut().values_mut() {
            work(entry);
        }
    }

    /// Arms session `key`'s timer of this kind for `at_ms`, replacing one armed.
    pub(super) fn arm_timer(
        &self,
        key: SessionKey,
        timer: TimerKind,
        at_ms: u64,
    ) -> Result<(), TimerQueueFull> {
        self.timers.borrow_mut().arm((key, timer), at_ms)
    }

    /// Disarms session `key`'s timer of this kind.
    pub(super) fn cancel_timer(&self, key: SessionKey, timer: TimerKind) {
        self.timers.borrow_mut().cancel(&(key, timer));
    }

    /// The next timer due at `now_ms`, disarmed.
    pub(super) fn pop_due_timer(&self, now_ms: u64) -> Option<(SessionKey, TimerKind)> {
        self.timers.borrow_mut().pop_due(now_ms)
    }

    /// When the earliest armed timer is due, ms.
    pub(super) fn next_deadline_ms(&self) -> Option<u64> {
        self.timers.borrow().next_deadline_ms()
    }
}

/// A connected v5 session of `client_id`, for the store's tests.
#[cfg(test)]
fn test_session(client_id: &str) -> Session {
    use std::sync::Arc;

    use bytestring::ByteString;
    use shardmq::protocol::{Connect, ConnectProperties, ProtocolVersion};
    use shardmq::session::ConnectOutcome;

    let connect = Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive_s: 0,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    };
    let outcome = Session::connect(
        connect,
        None,
        None,
        &Arc::default(),
        &Arc::default(),
        0,
        &mut Vec::new(),
    );
    let ConnectOutcome::Accepted(session) = outcome else {
        panic!("refused");
    };
    session
}

#[cfg(test)]
mod tests {
    use shardmq::protocol::ProtocolVersion;

    use super::*;
    use crate::listener::Admission;

    #[test]
    fn a_stored_session_is_found_by_its_client_id_and_forgotten_once_removed() {
        let store = SessionStore::new();
        let key = store.restore(test_session("meter"));
        assert_eq!(store.key_of("meter"), Some(key));
        assert_eq!(store.key_of("other"), None);
        store.arm_timer(key, TimerKind::SessionExpiry, 50).unwrap();
        let removed = store.remove(key).expect("stored");
        assert_eq!(&**removed.client_id(), "meter");
        assert_eq!(store.key_of("meter"), None);
        assert_eq!(store.pop_due_timer(100), None, "its timers went with it");
        assert!(store.remove(key).is_none());
    }

    #[test]
    fn a_session_taken_out_keeps_its_key_until_it_is_put_back() {
        let store = SessionStore::new();
        let key = store.restore(test_session("meter"));
        let entry = store.take(key).expect("stored");
        assert_eq!(
            store.key_of("meter"),
            None,
            "nothing stored to compare with"
        );
        assert!(store.with(key, |_| ()).is_none());
        store.put(key, entry);
        assert_eq!(store.key_of("meter"), Some(key));
    }

    #[test]
    fn a_refused_new_session_gives_its_key_back() {
        let store = SessionStore::new();
        let key = store.reserve("new");
        store.release(key, "new");
        let next = store.reserve("new");
        assert_ne!(next, key);
        store.put(
            next,
            SessionEntry {
                session: test_session("new"),
                connection: None,
            },
        );
        assert_eq!(store.key_of("new"), Some(next));
    }

    #[test]
    fn only_the_serving_connection_reaches_its_session() {
        let store = SessionStore::new();
        let key = store.reserve("meter");
        let address = "127.0.0.1:1883".parse().expect("an address");
        let old = Rc::new(Connection::new(
            1,
            key,
            address,
            ProtocolVersion::V5,
            Admission::default(),
        ));
        let current = Rc::new(Connection::new(
            2,
            key,
            address,
            ProtocolVersion::V5,
            Admission::default(),
        ));
        store.put(
            key,
            SessionEntry {
                session: test_session("meter"),
                connection: Some(Rc::clone(&current)),
            },
        );
        assert_eq!(store.with_served(key, &old, |_| ()), None);
        assert_eq!(store.with_served(key, &current, |_| ()), Some(()));
    }

    #[test]
    fn timers_fire_in_deadline_order_once_each() {
        let store = SessionStore::new();
        store.arm_timer(1, TimerKind::SessionExpiry, 30).unwrap();
        store.arm_timer(2, TimerKind::WillDelay, 20).unwrap();
        store.arm_timer(2, TimerKind::WillDelay, 10).unwrap();
        assert_eq!(store.next_deadline_ms(), Some(10));
        assert_eq!(store.pop_due_timer(25), Some((2, TimerKind::WillDelay)));
        assert_eq!(store.pop_due_timer(25), None);
        store.cancel_timer(1, TimerKind::SessionExpiry);
        assert_eq!(store.pop_due_timer(100), None);
    }
}
