//! A session rebuilt after a restart ([`Session::restore`]: what it arms, or
//! how the connection it had ends), the timers a disconnected session holds,
//! and [`RestoreError`].
//!
//! Reading the stored state is the persist module's job
//! ([`Session::from_snapshot`]); what a restored session does with that state
//! is decided here.

use std::fmt;
use std::sync::Arc;

use super::alias::{InboundTopicAliases, OutboundTopicAliases};
use super::state::{ConnectionState, SessionState};
use super::{Action, Session, SessionConfig, SessionMeters, TimerKind};

/// A session snapshot that passed validation but describes an impossible session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreError {
    /// The client id of the session.
    pub client_id: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "snapshot of session {:?}: {}; the snapshot was not written by this broker",
            self.client_id, self.problem
        )
    }
}

impl std::error::Error for RestoreError {}

impl Session {
    /// The session whose stored state is `state`, disconnected, running under
    /// `config` and counting on `meters`; `was_connected` when a connection was
    /// attached as it was stored. `actions` receives what the runtime must run
    /// for it: the [`Session::pending_timers`] of a session whose client was
    /// away; for one that was connected, what a lost connection does, dated at
    /// `now_ms` (the downtime does not count against the client).
    pub(crate) fn restore(
        state: SessionState,
        was_connected: bool,
        config: &Arc<SessionConfig>,
        meters: &Arc<SessionMeters>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) -> Session {
        // What was stored is journaled from now on, under a journal.
        let mut session = Session {
            config: Arc::clone(config),
            meters: Arc::clone(meters),
            state,
            connection: None,
            journaled: config.journal,
            owner: super::SessionOwner::Unknown,
        };
        if was_connected {
            // The connection the snapshot saw is gone; it ends the way a lost one does.
            session.connection = Some(Box::new(ConnectionState {
                keep_alive_timeout_ms: 0,
                last_packet_ms: now_ms,
                client_receive_maximum: 1,
                client_maximum_packet_size: 0,
                inbound_aliases: InboundTopicAliases::new(0),
                outbound_aliases: OutboundTopicAliases::new(0),
                stalled: false,
            }));
            session.connection_lost(now_ms, actions);
        } else {
            session.pending_timers(actions);
        }
        session
    }

    /// The [`Action::ArmTimer`]s for the deadlines a disconnected session holds (the
    /// will delay and the session expiry); nothing for a connected session.
    pub fn pending_timers(&self, actions: &mut Vec<Action>) {
        if self.connection.is_some() {
            return;
        }
        if let Some(at_ms) = self.state.will_at_ms.filter(|at_ms| *at_ms != u64::MAX) {
            actions.push(Action::ArmTimer {
                timer: TimerKind::WillDelay,
                at_ms,
            });
        }
        if let Some(at_ms) = self.state.expires_at_ms {
            actions.push(Action::ArmTimer {
                timer: TimerKind::SessionExpiry,
                at_ms,
            });
        }
    }
}
