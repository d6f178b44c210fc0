//! The shard's calls into persistence: appending the records the sessions
//! report and the router's records, and holding answers until what they
//! promise is durable.
//!
//! Sessions say what of their state changed ([`Action::Journal`]) and which
//! of their answers wait for durability ([`Action::Acknowledge`],
//! [`Action::AnswerPublish`]); only journaled sessions report changes (see
//! [`shardmq::session::Change`]). QoS 0 deliveries journal nothing. Retained
//! messages are journaled by the shard that owns their topic (`home_shard` of
//! the topic).
//!
//! [`Action::Journal`]: shardmq::session::Action::Journal
//! [`Action::Acknowledge`]: shardmq::session::Action::Acknowledge
//! [`Action::AnswerPublish`]: shardmq::session::Action::AnswerPublish

use std::rc::Rc;

use shardmq::limits;
use shardmq::persist::schema::MessageRecord;
use shardmq::persist::{InboundQos2Record, JournalRecord, TargetRecord};
use shardmq::protocol::{Disconnect, DisconnectProperties, Packet, PacketId, QoS, ReasonCode};
use shardmq::session::{Change, Message, SharedMessage, SubscriptionMatch};

use super::store::SessionKey;
use super::{Connection, Shard, ShardMessage};
use crate::home::home_shard;
use crate::persist::{wall_clock_ms, ShardPersistence};

impl Shard {
    /// The shard's persistence, when the broker has a data directory.
    pub(super) fn persistence(&self) -> Option<&ShardPersistence> {
        self.persistence.as_deref()
    }

    /// Appends the record of `change`, which session `key` reported.
    pub(super) fn journal_change(&self, key: SessionKey, change: &Change) {
        let Some(persistence) = self.persistence() else {
            return;
        };
        let now_ms = self.now_ms();
        // The wall clock places the deadlines of a disconnected session.
        let wall_ms = match change {
            Change::Disconnected => wall_clock_ms(),
            _ => 0,
        };
        let record = self.store.with(key, |entry| {
            entry.session.journal_record(change, now_ms, wall_ms)
        });
        if let Some(record) = record.flatten() {
            persistence.journal.append(&record);
        }
    }

    /// The inbound QoS 2 flow of `packet_id` that a message of journaled
    /// session `key` opens, for the message's `MessageAccepted`.
    pub(super) fn inbound_qos2_record(
        &self,
        key: SessionKey,
        packet_id: PacketId,
    ) -> Option<InboundQos2Record> {
        self.persistence()?;
        self.store.with(key, |entry| InboundQos2Record {
            client_id: str::to_owned(entry.session.client_id()),
            packet_id,
        })
    }

    /// `message` is about to be delivered to the local sessions `local`: one
    /// `MessageAccepted` for the journaled ones that queue it at QoS 1 or 2.
    pub(super) fn journal_accepted(
        &self,
        message: &SharedMessage,
        local: &[(SessionKey, SubscriptionMatch)],
        inbound_qos2: Option<InboundQos2Record>,
    ) {
        let Some(persistence) = self.persistence() else {
            return;
        };
        let mut targets: Vec<TargetRecord> = Vec::new();
        if message.qos != QoS::AtMostOnce {
            let mut matched: Vec<SubscriptionMatch> = Vec::new();
            let mut start = 0;
            while start < local.len() {
                let key = local[start].0;
                let end = start + local[start..].iter().take_while(|(k, _)| *k == key).count();
                self.store.with(key, |entry| {
                    if entry.session.is_journaled() {
                        matched.clear();
                        matched.extend(local[start..end].iter().map(|(_, value)| *value));
                        targets.extend(entry.session.delivery_target(message, &matched));
                    }
                });
                start = end;
            }
        }
        if targets.is_empty() && inbound_qos2.is_none() {
            return;
        }
        let message = self.message_record(message);
        let mut inbound_qos2 = inbound_qos2;
        let mut chunks = target_chunks(targets, limits::JOURNAL_TARGETS_BYTES_MAX);
        let last = chunks.pop().unwrap_or_default();
        for targets in chunks {
            persistence.journal.append(&JournalRecord::MessageAccepted {
                inbound_qos2: inbound_qos2.take(),
                message: message.clone(),
                targets,
            });
        }
        persistence.journal.append(&JournalRecord::MessageAccepted {
            inbound_qos2,
            message,
            targets: last,
        });
    }

    /// The retained `message` is about to be sent to session `key` for its new
    /// `subscription`: a `MessageAccepted` when the session is journaled and the
    /// delivery is QoS 1 or 2, so a restart sends it again until acknowledged.
    pub(super) fn journal_retained_delivery(
        &self,
        key: SessionKey,
        message: &SharedMessage,
        subscription: &SubscriptionMatch,
    ) {
        let qos = message.qos.min(subscription.qos);
        if qos == QoS::AtMostOnce {
            return;
        }
        let Some(persistence) = self.persistence() else {
            return;
        };
        let client_id = self.store.with(key, |entry| {
            entry
                .session
                .is_journaled()
                .then(|| str::to_owned(entry.session.client_id()))
        });
        let Some(client_id) = client_id.flatten() else {
            return;
        };
        persistence.journal.append(&JournalRecord::MessageAccepted {
            inbound_qos2: None,
            message: self.message_record(message),
            targets: vec![TargetRecord {
                client_id,
                qos: qos.into(),
                retain: true,
                subscription_identifiers: subscription
                    .subscription_identifier
                    .into_iter()
                    .collect(),
            }],
        });
    }

    /// The record of `message`. The clocks are read only for a message that
    /// expires: nothing else in the record depends on them, and most messages
    /// do not expire.
    fn message_record(&self, message: &Message) -> MessageRecord {
        match message.expires_at_ms {
            Some(_) => message.to_record(self.now_ms(), wall_clock_ms()),
            None => message.to_record(0, 0),
        }
    }

    /// A QoS 1/2 message was forwarded to `shard`, which may journal it.
    pub(super) fn note_forwarded(&self, shard: usize, message: &Message) {
        if message.qos == QoS::AtMostOnce {
            return;
        }
        if let Some(persistence) = self.persistence() {
            persistence.note_remote_records(shard);
        }
    }

    /// The retained message of a topic changed; its owner shard journals it.
    pub(super) fn journal_retained(&self, message: &SharedMessage) {
        let Some(persistence) = self.persistence() else {
            return;
        };
        let owner = home_shard(&message.topic_name, self.shard_count);
        if owner != self.index {
            persistence.note_remote_records(owner);
            return;
        }
        let record = if message.payload.is_empty() {
            JournalRecord::RetainedCleared {
                topic_name: str::to_owned(&message.topic_name),
            }
        } else {
            JournalRecord::RetainedSet {
                message: self.message_record(message),
            }
        };
        persistence.journal.append(&record);
    }

    /// Records appended so far (0 without persistence), to tell later what a
    /// packet caused.
    pub(super) fn journal_mark(&self) -> u64 {
        self.persistence().map_or(0, |persistence| {
            // Forwards made outside a client's packet (wills, timers) hold nobody.
            persistence.take_remote_records();
            persistence.journal.appended()
        })
    }

    /// Under `fsync = "always"`, after a packet the session answered with an
    /// answer that waits for durability (`answered`): holds `connection`'s
    /// output (the answer just queued) until the records appended since
    /// `mark`, here and on the shards the packet's message went to, are
    /// durable. Acknowledgements from the client are not answered so, and the
    /// deliveries they let out are not held.
    pub(super) fn hold_until_durable(
        &self,
        connection: &Rc<Connection>,
        mark: u64,
        answered: bool,
    ) {
        let Some(persistence) = self.persistence() else {
            return;
        };
        let remote = persistence.take_remote_records();
        if !persistence.holds_acknowledgements() || !answered {
            return;
        }
        let journal = &persistence.journal;
        let appended = journal.appended();
        if appended > mark && journal.has_pending() && !journal.extend_hold(connection.id, appended)
        {
            connection.hold();
            let held = Rc::clone(connection);
            journal.when_durable_for(connection.id, appended, Box::new(move || held.release()));
        }
        if !remote.is_empty() {
            let token = self.replication.raise_durable(connection, remote);
            for shard in remote.iter() {
                self.mesh.push(
                    shard,
                    ShardMessage::DurableBarrier {
                        from: self.index,
                        token,
                    },
                );
            }
        }
    }

    /// On stop after a journal failure (this shard's or another's): every
    /// connection with held answers loses them (they may promise what is not on
    /// disk), gets DISCONNECT 0x80 (v5) and is closed.
    pub(super) fn abandon_held_answers(&self) {
        if !self
            .persistence()
            .is_some_and(ShardPersistence::broker_failed)
        {
            return;
        }
        self.connections.for_each(|connection| {
            let goodbye = connection.protocol_version.is_v5().then(|| {
                Packet::Disconnect(Disconnect {
                    reason_code: ReasonCode::UnspecifiedError,
                    properties: DisconnectProperties::default(),
                })
            });
            connection.abandon_held(goodbye);
        });
    }

    /// Shard `from` asks to hear once everything it sent before is durable here.
    pub(super) fn on_durable_barrier(&self, from: usize, token: u64) {
        let answer = ShardMessage::BarrierPassed { token };
        match self.persistence() {
            Some(persistence) if persistence.journal.has_pending() => {
                let mesh = Rc::clone(&self.mesh);
                let journal = &persistence.journal;
                journal.when_durable(
                    journal.appended(),
                    Box::new(move || mesh.push(from, answer)),
                );
            }
            _ => self.mesh.push(from, answer),
        }
    }
}

/// `targets` in runs of at most about `budget` bytes each (at least one target
/// per run; always at least one run, maybe empty): a message matching many
/// persisted sessions with long client ids is journaled as several records
/// of the same message, none past `limits::JOURNAL_RECORD_MAX`. Replay gives
/// each target its delivery whichever record names it.
fn target_chunks(targets: Vec<TargetRecord>, budget: usize) -> Vec<Vec<TargetRecord>> {
    let mut chunks = vec![Vec::new()];
    let mut bytes = 0;
    for target in targets {
        // The archived form: the id, a few words of fields, 4 B per identifier.
        let size = target.client_id.len() + 32 + 4 * target.subscription_identifiers.len();
        let full = chunks.last().is_some_and(|chunk| !chunk.is_empty()) && bytes + size > budget;
        if full {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(target);
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use shardmq::persist::schema::QosRecord;

    use super::*;

    fn target(client_id_len: usize) -> TargetRecord {
        TargetRecord {
            client_id: "c".repeat(client_id_len),
            qos: QosRecord::AtLeastOnce,
            retain: false,
            subscription_identifiers: Vec::new(),
        }
    }

    fn sizes(chunks: &[Vec<TargetRecord>]) -> Vec<usize> {
        chunks.iter().map(Vec::len).collect()
    }

    #[test]
    fn targets_are_split_into_runs_within_the_budget() {
        // Each target counts 68 + 32 = 100 bytes.
        let targets = (0..7).map(|_| target(68)).collect();
        assert_eq!(sizes(&target_chunks(targets, 300)), vec![3, 3, 1]);
    }

    #[test]
    fn a_target_larger_than_the_budget_gets_a_run_of_its_own_and_none_is_lost() {
        let targets = vec![target(10), target(1_000), target(10)];
        assert_eq!(sizes(&target_chunks(targets, 100)), vec![1, 1, 1]);
        assert_eq!(sizes(&target_chunks(Vec::new(), 100)), vec![0]);
    }
}
