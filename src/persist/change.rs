//! The journal records of a journaled session: what the runtime appends for
//! each [`Change`] it reported ([`Session::journal_record`]), and the target a
//! session adds to a [`JournalRecord::MessageAccepted`]
//! ([`Session::delivery_target`]).

use super::clock::to_wall_clock_ms;
use super::record::{JournalRecord, TargetRecord};
use super::schema::SubscriptionRecord as SubscriptionEntry;
use super::session::{will_due_record, will_record};
use crate::protocol::{PacketId, QoS};
use crate::session::{Change, FlightStage, Session, SharedMessage, SubscriptionMatch};

impl Session {
    /// The journal record of `change`, which this session reported
    /// ([`Action::Journal`](crate::session::Action::Journal)), built from the session as it stands when the
    /// runtime runs the action; `None` when there is nothing to write (a flow
    /// no longer held). `now_ms` and `wall_clock_ms` place the deadlines of a
    /// disconnected session.
    pub fn journal_record(
        &self,
        change: &Change,
        now_ms: u64,
        wall_clock_ms: u64,
    ) -> Option<JournalRecord> {
        let client_id = || str::to_owned(&self.state().client_id);
        Some(match change {
            Change::Connected { session_present } => self.connected_record(*session_present),
            Change::Delivered(packet_id) => return self.delivered_record(*packet_id),
            Change::PubRecReceived(packet_id) => JournalRecord::PubRecReceived {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::Acknowledged(packet_id) => JournalRecord::Acknowledged {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::PubRelReceived(packet_id) => JournalRecord::PubRelReceived {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::Subscribed {
                topic_filter,
                options,
                subscription_identifier,
            } => JournalRecord::SubscriptionAdded {
                client_id: client_id(),
                subscription: SubscriptionEntry::new(
                    topic_filter,
                    *options,
                    *subscription_identifier,
                ),
            },
            Change::Unsubscribed { topic_filter } => JournalRecord::SubscriptionRemoved {
                client_id: client_id(),
                topic_filter: str::to_owned(topic_filter),
            },
            Change::Disconnected => return self.disconnected_record(now_ms, wall_clock_ms),
            Change::WillPublished => JournalRecord::WillPublished {
                client_id: client_id(),
            },
            Change::Ended => JournalRecord::SessionEnded {
                client_id: client_id(),
            },
        })
    }

    /// The [`JournalRecord::SessionConnected`] of this session, just accepted by
    /// [`Session::connect`]; `session_present` as the session decided it (a
    /// 3.1 CONNACK does not carry it).
    fn connected_record(&self, session_present: bool) -> JournalRecord {
        let state = self.state();
        JournalRecord::SessionConnected {
            client_id: str::to_owned(&state.client_id),
            session_present,
            protocol_version: state.protocol_version.into(),
            session_expiry_interval_s: state.session_expiry_interval_s,
            will: state.will.as_deref().map(will_record),
        }
    }

    /// The [`TargetRecord`] of this session for a [`JournalRecord::MessageAccepted`]
    /// of `message`, as [`Session::deliver`] with the same `matched` delivers it;
    /// `None` when it is delivered at QoS 0 (not journaled) or not at all.
    pub fn delivery_target(
        &self,
        message: &SharedMessage,
        matched: &[SubscriptionMatch],
    ) -> Option<TargetRecord> {
        let publish = self.delivery_of(message, matched)?;
        if publish.qos == QoS::AtMostOnce {
            return None;
        }
        Some(TargetRecord {
            client_id: str::to_owned(&self.state().client_id),
            qos: publish.qos.into(),
            retain: publish.retain,
            subscription_identifiers: publish.subscription_identifiers.to_vec(),
        })
    }

    /// The [`JournalRecord::MessageDelivered`] for a PUBLISH this session just sent
    /// under `packet_id` without DUP (resends are not journaled); `None` when no
    /// flow holds a message under that id.
    fn delivered_record(&self, packet_id: PacketId) -> Option<JournalRecord> {
        let state = self.state();
        let flight = state.inflight.get(packet_id)?;
        let publish = match &flight.stage {
            FlightStage::AwaitingPubAck(publish) | FlightStage::AwaitingPubRec(publish) => publish,
            FlightStage::Released => return None,
        };
        Some(JournalRecord::MessageDelivered {
            client_id: str::to_owned(&state.client_id),
            packet_id,
            fingerprint: publish.message.fingerprint(),
        })
    }

    /// The [`JournalRecord::SessionDisconnected`] of this session once its
    /// connection ended and it stays (after [`Action::Close`](crate::session::Action::Close) or
    /// [`Session::connection_lost`] without
    /// [`Action::EndSession`](crate::session::Action::EndSession)); `None` while
    /// connected.
    fn disconnected_record(&self, now_ms: u64, wall_clock_ms: u64) -> Option<JournalRecord> {
        if self.is_connected() {
            return None;
        }
        let state = self.state();
        let will_due = state
            .will_at_ms
            .map(|at_ms| will_due_record(at_ms, now_ms, wall_clock_ms));
        Some(JournalRecord::SessionDisconnected {
            client_id: str::to_owned(&state.client_id),
            session_expiry_interval_s: state.session_expiry_interval_s,
            expires_at_wall_ms: state
                .expires_at_ms
                .map(|at_ms| to_wall_clock_ms(at_ms, now_ms, wall_clock_ms)),
            will_due: will_due.filter(|_| state.will.is_some()),
        })
    }
}
