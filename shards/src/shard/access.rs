//! The shard's view of the authentication and authorization files: the
//! [`AuthState`] in force and the `SessionConfig` carrying its ACL, taken
//! again from the broker's [`AuthRegistry`] when a reload moved its
//! generation; and the throttle of failed authentications.
//!
//! Read once per CONNECT (one atomic load when nothing changed); sessions
//! keep the `SessionConfig` of their CONNECT, so a reloaded ACL applies to
//! connections made after it.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use shardmq::session::SessionConfig;

use super::throttle::AuthThrottle;
use crate::auth::{AuthRegistry, AuthState};

/// See the module doc.
#[derive(Debug)]
pub(super) struct Access {
    registry: Arc<AuthRegistry>,
    generation: Cell<u64>,
    state: RefCell<Arc<AuthState>>,
    /// The shard's settings without an ACL: what every reload starts from.
    base: SessionConfig,
    session_config: RefCell<Arc<SessionConfig>>,
    /// Failed authentications by source address.
    pub(super) throttle: AuthThrottle,
}

impl Access {
    pub(super) fn new(registry: Arc<AuthRegistry>, base: SessionConfig) -> Access {
        let generation = registry.generation();
        let state = registry.current();
        let session_config = with_acl(&base, &state);
        Access {
            registry,
            generation: Cell::new(generation),
            state: RefCell::new(state),
            base,
            session_config: RefCell::new(session_config),
            throttle: AuthThrottle::default(),
        }
    }

    /// Takes the registry's files when a reload replaced them.
    fn refresh(&self) {
        let generation = self.registry.generation();
        if generation == self.generation.get() {
            return;
        }
        let state = self.registry.current();
        *self.session_config.borrow_mut() = with_acl(&self.base, &state);
        *self.state.borrow_mut() = state;
        self.generation.set(generation);
    }

    /// The authentication files in force.
    pub(super) fn state(&self) -> Arc<AuthState> {
        self.refresh();
        Arc::clone(&self.state.borrow())
    }

    /// The settings a session connecting now runs under.
    pub(super) fn session_config(&self) -> Arc<SessionConfig> {
        self.refresh();
        Arc::clone(&self.session_config.borrow())
    }
}

fn with_acl(base: &SessionConfig, state: &AuthState) -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        acl: state.acl.clone(),
        ..base.clone()
    })
}
