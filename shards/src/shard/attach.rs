//! Attaching a connection to its session once CONNECT is read: the hand-off to
//! the home shard, client id assignment, takeover, resume or a new session.

use std::rc::Rc;

use bytestring::ByteString;
use glommio::net::TcpStream;
use shardmq::session::{needs_assigned_client_id, ConnectOutcome, Session};

use super::connection::Connection;
use super::reader::HandOff;
use super::sessions::SessionKey;
use super::task::serve;
use super::{SessionEntry, Shard};
use crate::home::home_shard;

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
            self.stats.handoff();
            self.mesh
                .push(home, super::ShardMessage::HandOff(Box::new(handoff)));
        }
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
        } = handoff;
        let stream = TcpStream::from(socket2::Socket::from(socket));
        let client_id = assigned_client_id
            .clone()
            .unwrap_or_else(|| connect.client_id.clone());
        let now_ms = self.now_ms();
        let (key, existing) = self.take_over(&client_id, now_ms);
        let connection_id = self.next_connection_id.get();
        self.next_connection_id.set(connection_id + 1);
        let connection = Rc::new(Connection::new(
            connection_id,
            key,
            peer,
            client_id.clone(),
            connect.protocol_version,
        ));
        let mut actions = Vec::new();
        let outcome = Session::connect(
            *connect,
            assigned_client_id,
            existing,
            &self.session_config,
            now_ms,
            &mut actions,
        );
        match outcome {
            ConnectOutcome::Accepted(session) => {
                tracing::debug!(
                    %client_id,
                    %peer,
                    shard = self.index,
                    transport = transport.name(),
                    "client connected"
                );
                self.entries.borrow_mut().insert(
                    key,
                    SessionEntry {
                        client_id: client_id.clone(),
                        session: Box::new(session),
                        connection: Some(Rc::clone(&connection)),
                    },
                );
                self.connections
                    .borrow_mut()
                    .insert(connection.id, Rc::clone(&connection));
                self.run_actions(key, Some(&connection), &mut actions);
            }
            ConnectOutcome::Refused { existing } => {
                tracing::debug!(%client_id, %peer, "connection refused");
                match existing {
                    Some(session) => {
                        self.entries.borrow_mut().insert(
                            key,
                            SessionEntry {
                                client_id: client_id.clone(),
                                session: Box::new(session),
                                connection: None,
                            },
                        );
                    }
                    None => {
                        self.client_keys.borrow_mut().remove(&client_id);
                    }
                }
                self.run_actions(key, Some(&connection), &mut actions);
                connection.close();
            }
        }
        // A refused connection's task only writes the CONNACK and closes.
        glommio::spawn_local(serve(
            Rc::clone(self),
            connection,
            stream,
            transport,
            buffered,
        ))
        .detach();
    }

    /// Takes the stored session of `client_id` out of the table (its key stays
    /// reserved), ending its connection first if it still has one.
    fn take_over(&self, client_id: &ByteString, now_ms: u64) -> (SessionKey, Option<Session>) {
        let existing_key = self.client_keys.borrow().get(client_id).copied();
        let Some(key) = existing_key else {
            let key = self.next_session_key.get();
            self.next_session_key.set(key + 1);
            self.client_keys.borrow_mut().insert(client_id.clone(), key);
            return (key, None);
        };
        let Some(mut entry) = self.entries.borrow_mut().remove(&key) else {
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
                self.connections.borrow_mut().remove(&old.id);
            }
        }
        (key, Some(*entry.session))
    }
}
