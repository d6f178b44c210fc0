//! Attaching a connection to its session once CONNECT is read: the hand-off to
//! the home shard, client id assignment, authentication (the authenticator
//! runs on the blocking pool when it hashes a password; failures are
//! throttled per source address), the takeover check of the user, then
//! takeover, resume or a new session.
//! A CONNECT the session core refuses is answered and closed without touching
//! the session of its client id, even one whose connection is still open.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use bytestring::ByteString;
use glommio::net::TcpStream;
use shardmq::auth::{AuthDecision, AuthRefusal, ConnectCredentials};
use shardmq::protocol::ReasonCode;
use shardmq::session::{
    needs_assigned_client_id, refuse_connect, refuse_unauthenticated, Action, ConnectOutcome,
    Session, SessionConfig,
};

use super::connect_read::HandOff;
use super::connection::Connection;
use super::store::SessionEntry;
use super::store::SessionKey;
use super::task::serve;
use super::Shard;
use crate::home::home_shard;
use crate::transport::{Transport, TransportLayer};

impl Shard {
    /// After CONNECT: runs the connection here if this is its home shard, else
    /// sends it there over the ring.
    pub(super) fn route_connection(self: &Rc<Self>, mut handoff: HandOff) {
        if needs_assigned_client_id(&handoff.connect) && handoff.assigned_client_id.is_none() {
            handoff.assigned_client_id = Some(self.assign_client_id());
        }
        let home = {
            let client_id = handoff
                .assigned_client_id
                .as_ref()
                .unwrap_or(&handoff.connect.client_id);
            home_shard(client_id, self.shard_count)
        };
        if home == self.index {
            self.start_connection(handoff);
        } else {
            self.stats.handoffs.add(1);
            self.mesh
                .push(home, super::ShardMessage::HandOff(Box::new(handoff)));
        }
    }

    /// A connection handed over by another shard. Attaching it may take over
    /// a session and publish its will, which must wait while an outbox is
    /// congested; the ring consumer itself never waits, so a task does.
    pub(super) fn receive_handoff(self: &Rc<Self>, handoff: HandOff) {
        if !self.mesh.is_congested() {
            self.start_connection(handoff);
            return;
        }
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            shard.mesh.wait_uncongested().await;
            shard.start_connection(handoff);
        })
        .detach();
    }

    /// A client id unique to this broker run; it picks the home shard like any other.
    fn assign_client_id(&self) -> ByteString {
        let counter = self.next_assigned_id.get();
        self.next_assigned_id.set(counter + 1);
        ByteString::from(format!(
            "shardmq-{}-{}-{counter}",
            std::process::id(),
            self.index
        ))
    }

    /// A connection whose CONNECT was read, on this, its home, shard: the
    /// CONNECT's checks, then its authentication (off the executor when it
    /// hashes a password), then [`Shard::attach`].
    pub(super) fn start_connection(self: &Rc<Self>, handoff: HandOff) {
        let session_config = self.access.session_config();
        let mut actions = Vec::new();
        let has_assigned_client_id = handoff.assigned_client_id.is_some();
        if refuse_connect(
            &handoff.connect,
            has_assigned_client_id,
            &session_config,
            &mut actions,
        ) {
            return self.refuse_connection(handoff, actions, "connection refused");
        }
        let auth = self.access.state();
        let source = handoff.peer.ip();
        let now_ms = self.now_ms();
        if self.access.throttle.is_throttled(source, now_ms) {
            self.stats.auth_throttled.add(1);
            return self.authenticated(
                handoff,
                AuthDecision::Deny(AuthRefusal::BadUserNameOrPassword),
                session_config,
            );
        }
        let credentials = Credentials::of(&handoff);
        if !auth.authenticator.is_slow(&credentials.borrowed()) {
            let decision = auth.authenticator.authenticate(&credentials.borrowed());
            return self.authenticated(handoff, decision, session_config);
        }
        // A password hash takes milliseconds on purpose: never on the shard.
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            let authenticator = Arc::clone(&auth.authenticator);
            let decision = glommio::executor()
                .spawn_blocking(move || authenticator.authenticate(&credentials.borrowed()))
                .await;
            shard.authenticated(handoff, decision, session_config);
        })
        .detach();
    }

    /// The authenticator answered: the connection is refused (and its
    /// source's failure counted), or attached as the user it answered.
    fn authenticated(
        self: &Rc<Self>,
        mut handoff: HandOff,
        decision: AuthDecision,
        session_config: Arc<SessionConfig>,
    ) {
        let username = match decision {
            AuthDecision::Allow { username } => username,
            AuthDecision::Deny(refusal) => {
                self.stats.auth_failed.add(1);
                self.access
                    .throttle
                    .failed(handoff.peer.ip(), self.now_ms());
                let mut actions = Vec::new();
                refuse_unauthenticated(&handoff.connect, refusal.reason_code(), &mut actions);
                return self.refuse_connection(handoff, actions, "authentication failed");
            }
        };
        self.stats.auth_succeeded.add(1);
        let client_id = handoff
            .assigned_client_id
            .as_deref()
            .unwrap_or(&handoff.connect.client_id);
        let takeover_refused = self.access.state().takeover_requires_same_username
            && self.store.key_of(client_id).is_some_and(|key| {
                self.store
                    .with(key, |entry| {
                        !entry.session.may_be_taken_over_by(username.as_deref())
                    })
                    .unwrap_or(false)
            });
        if takeover_refused {
            self.stats.takeovers_refused.add(1);
            let mut actions = Vec::new();
            refuse_unauthenticated(&handoff.connect, ReasonCode::NotAuthorized, &mut actions);
            return self.refuse_connection(
                handoff,
                actions,
                "refused: the client id has a session of another user",
            );
        }
        // The session keeps the user it was authenticated as.
        handoff.connect.username = username;
        self.attach(handoff, &session_config);
    }

    /// Answers a refused connection with `actions` (its CONNACK) and closes
    /// it; the session of its client id, if any, is not touched.
    fn refuse_connection(self: &Rc<Self>, handoff: HandOff, actions: Vec<Action>, why: &str) {
        let HandOff {
            socket,
            peer,
            connect,
            assigned_client_id,
            buffered,
            transport,
            admission,
            ..
        } = handoff;
        let stream = TcpStream::from(socket2::Socket::from(socket));
        let client_id = assigned_client_id.as_deref().unwrap_or(&connect.client_id);
        tracing::debug!(%client_id, %peer, why, "connection refused; any session of its client id stays");
        // A closed connection still names a session key; a new client id's
        // is reserved and released at once, as for a refused new session.
        let (key, reserved) = match self.store.key_of(client_id) {
            Some(key) => (key, false),
            None => (self.store.reserve(client_id), true),
        };
        let connection = Rc::new(Connection::new(
            self.connections.next_id(),
            key,
            peer,
            connect.protocol_version,
            admission,
        ));
        if reserved {
            self.store.release(key, client_id);
        }
        for action in actions {
            if let Action::Send(packet) = action {
                connection.send(packet);
            }
        }
        connection.close();
        self.spawn_task(connection, stream, transport, buffered, false);
    }

    /// Attaches an authenticated connection to its session: takeover, resume
    /// or a new session.
    fn attach(self: &Rc<Self>, handoff: HandOff, session_config: &Arc<SessionConfig>) {
        let HandOff {
            socket,
            peer,
            connect,
            assigned_client_id,
            buffered,
            transport,
            certificate_identity,
            admission,
        } = handoff;
        let stream = TcpStream::from(socket2::Socket::from(socket));
        // A copy for this function: cloning the id's bytes would make them
        // shared for as long as the session keeps them.
        let client_id = String::from(assigned_client_id.as_deref().unwrap_or(&connect.client_id));
        let now_ms = self.now_ms();
        let stored_key = self.store.key_of(&client_id);
        let (key, existing) = self.take_over(&client_id, stored_key, now_ms);
        let connection_id = self.connections.next_id();
        let connection = Rc::new(Connection::new(
            connection_id,
            key,
            peer,
            connect.protocol_version,
            admission,
        ));

        let mut actions = Vec::new();
        let outcome = Session::connect(
            *connect,
            assigned_client_id,
            existing,
            session_config,
            &self.session_meters,
            now_ms,
            &mut actions,
        );
        match outcome {
            ConnectOutcome::Accepted(session) => {
                tracing::debug!(
                    %client_id,
                    %peer,
                    connection = connection_id,
                    shard = self.index,
                    transport = transport.name(),
                    certificate_identity = ?certificate_identity.as_deref(),
                    "client connected"
                );
                self.store.put(
                    key,
                    SessionEntry {
                        session,
                        connection: Some(Rc::clone(&connection)),
                    },
                );
                self.connections.attach(&connection);
                self.run_actions(key, Some(&connection), &mut actions);
            }
            ConnectOutcome::Refused { existing } => {
                tracing::debug!(%client_id, %peer, "connection refused");
                match existing {
                    Some(session) => {
                        self.store.put(
                            key,
                            SessionEntry {
                                session,
                                connection: None,
                            },
                        );
                    }
                    None => self.store.release(key, &client_id),
                }
                self.run_actions(key, Some(&connection), &mut actions);
                connection.close();
            }
        }
        self.spawn_task(connection, stream, transport, buffered, true);
    }

    /// Starts the task of `connection`; a refused or closed connection's task
    /// only writes what is queued (the CONNACK) and closes. `just_connected`
    /// for a connection whose CONNECT was just handled (see
    /// [`Shard::is_crowded`]).
    pub(super) fn spawn_task(
        self: &Rc<Self>,
        connection: Rc<Connection>,
        stream: TcpStream,
        transport: TransportLayer,
        buffered: BytesMut,
        just_connected: bool,
    ) {
        glommio::spawn_local(serve(
            Rc::clone(self),
            connection,
            stream,
            transport,
            buffered,
            just_connected,
        ))
        .detach();
    }

    /// True when the shard parks connections (`idle_park_ms` is not 0) and
    /// serves more unparked connections than `park_new_connections_above`:
    /// a connection that sends nothing after
    /// its CONNACK is then parked at once rather than after `idle_park_ms`.
    /// In a storm of connections (every client of a broker reconnecting
    /// after a network fault) the task and stream of each would otherwise
    /// be held until the first of them parks, and the allocator keeps that
    /// peak for good, scattered between the connections that stay.
    pub(super) fn is_crowded(&self) -> bool {
        self.parking.is_some()
            && self.config.idle_park_ms > 0
            && self.connections.live_tasks() > self.config.park_new_connections_above
    }

    /// Takes the stored session of `client_id`, under `stored_key`, out of
    /// the table (its key stays reserved), ending its connection first if it
    /// still has one. Without a stored session
    /// a key is reserved for the new one.
    fn take_over(
        &self,
        client_id: &str,
        stored_key: Option<SessionKey>,
        now_ms: u64,
    ) -> (SessionKey, Option<Session>) {
        let Some(key) = stored_key else {
            return (self.store.reserve(client_id), None);
        };
        let Some(mut entry) = self.store.take(key) else {
            return (key, None);
        };
        if entry.session.is_connected() {
            let mut actions = Vec::new();
            entry.session.taken_over(now_ms, &mut actions);
            let old = entry.connection.take();
            self.run_actions(key, old.as_ref(), &mut actions);
            if let Some(old) = old {
                tracing::debug!(%client_id, "session taken over");
                old.close();
                self.forget_connection(&old);
            }
        }
        (key, Some(entry.session))
    }
}

/// What the authenticator is asked, owned, so that it can go to the blocking
/// pool: cheap handles onto the CONNECT's own bytes.
struct Credentials {
    username: Option<ByteString>,
    password: Option<bytes::Bytes>,
    /// A copy: a clone of the CONNECT's would make its bytes shared for as
    /// long as the session keeps them.
    client_id: String,
    peer: SocketAddr,
    listener: &'static str,
    certificate_identity: Option<ByteString>,
}

impl Credentials {
    fn of(handoff: &HandOff) -> Credentials {
        Credentials {
            username: handoff.connect.username.clone(),
            password: handoff.connect.password.clone(),
            client_id: String::from(
                handoff
                    .assigned_client_id
                    .as_deref()
                    .unwrap_or(&handoff.connect.client_id),
            ),
            peer: handoff.peer,
            listener: handoff.transport.name(),
            certificate_identity: handoff.certificate_identity.clone(),
        }
    }

    fn borrowed(&self) -> ConnectCredentials<'_> {
        ConnectCredentials {
            username: self.username.as_deref(),
            password: self.password.as_deref(),
            client_id: &self.client_id,
            peer: self.peer,
            listener: self.listener,
            certificate_identity: self.certificate_identity.as_deref(),
        }
    }
}
