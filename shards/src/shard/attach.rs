//! Attaching a connection to its session once CONNECT is read: the hand-off to
//! the home shard, client id assignment, takeover, resume or a new session.
//! A CONNECT the session core refuses is answered and closed without touching
//! the session of its client id, even one whose connection is still open.

use std::rc::Rc;

use bytes::BytesMut;
use bytestring::ByteString;
use glommio::net::TcpStream;
use shardmq::protocol::Connect;
use shardmq::session::{needs_assigned_client_id, refuse_connect, Action, ConnectOutcome, Session};

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

    /// Attaches a connection whose CONNECT was read to its session on this, its
    /// home, shard: takeover, resume or a new session.
    pub(super) fn start_connection(self: &Rc<Self>, handoff: HandOff) {
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
        let refusal = stored_key
            .filter(|key| self.is_connected(*key))
            .and_then(|key| {
                self.refusal(&connect, assigned_client_id.is_some())
                    .map(|actions| (key, actions))
            });
        let (key, existing) = match &refusal {
            // The session and its connection stay as they are.
            Some((key, _)) => (*key, None),
            None => self.take_over(&client_id, stored_key, now_ms),
        };
        let connection_id = self.connections.next_id();
        let connection = Rc::new(Connection::new(
            connection_id,
            key,
            peer,
            connect.protocol_version,
            admission,
        ));
        if let Some((_, actions)) = refusal {
            tracing::debug!(%client_id, %peer, "connection refused; the connected session stays");
            for action in actions {
                if let Action::Send(packet) = action {
                    connection.send(packet);
                }
            }
            connection.close();
            self.spawn_task(connection, stream, transport, buffered, false);
            return;
        }

        let mut actions = Vec::new();
        let outcome = Session::connect(
            *connect,
            assigned_client_id,
            existing,
            &self.session_config,
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

    /// True when the session under `key` has a connection attached.
    fn is_connected(&self, key: SessionKey) -> bool {
        self.store
            .with(key, |entry| entry.session.is_connected())
            .unwrap_or(false)
    }

    /// The refusal actions (CONNACK, close) when the session core refuses
    /// `connect`, else `None`. Refusal never depends on the stored session, so
    /// asking leaves that session and its connection untouched: a refused
    /// CONNECT must not take over.
    fn refusal(&self, connect: &Connect, has_assigned_client_id: bool) -> Option<Vec<Action>> {
        let mut actions = Vec::new();
        refuse_connect(
            connect,
            has_assigned_client_id,
            &self.session_config,
            &mut actions,
        )
        .then_some(actions)
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
