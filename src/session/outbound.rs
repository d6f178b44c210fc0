//! Messages to the client: delivery QoS and flags, the inflight window, the
//! acknowledgement flows and the resend on resume.
//!
//! What cannot go out at once waits in the queue (`queue`, which owns the
//! bounds, the full-queue policy and the expiry purge). QoS 0 goes straight to a
//! connected client (it takes no inflight slot); for a client that is offline it
//! is queued (and kept when the connection ends) only when
//! [`SessionConfig::queue_qos0`] is on. A connection's own write buffer is the
//! runtime's: it holds a slow reader back by its delivery budget (see
//! [`Session::subscriber_stalled`]), not by holding messages here.
//!
//! [`SessionConfig::queue_qos0`]: super::SessionConfig::queue_qos0

use std::sync::Arc;

use smallvec::SmallVec;

use super::alias::OutboundAlias;
use super::inflight::FlightStage;
use super::message::{SharedMessage, SubscriptionMatch};
use super::{Action, Change, Delivery, Session};
use crate::auth::AclAccess;
use crate::limits;
use crate::protocol::{
    publish_ref_len, Packet, PacketId, PublishProperties, PublishResponse, QoS, ReasonCode,
};

/// One message on its way to this client, with the QoS and flags of its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutboundPublish {
    /// The shared message.
    pub(crate) message: SharedMessage,
    /// Delivery QoS: the lower of the message's and the best granted one.
    pub(crate) qos: QoS,
    /// RETAIN flag on the wire.
    pub(crate) retain: bool,
    /// Subscription Identifiers of every matching subscription.
    pub(crate) subscription_identifiers: SmallVec<[u32; 1]>,
}

/// What the subscriptions delivering a message to this client ask of it.
struct Matched {
    /// The highest QoS granted among them.
    granted_qos: QoS,
    /// RETAIN kept through a Retain As Published one.
    retain: bool,
    /// Some of them carry a Subscription Identifier.
    subscription_identifiers: bool,
}

/// What [`Session::deliver_plain`] found a delivery to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainDelivery {
    /// Nothing goes to the client: every matching subscription skips the
    /// message (No Local), or it expired or is too large for the client (both
    /// counted, as [`Session::deliver`] counts them).
    Skipped,
    /// A QoS 0 PUBLISH of the message is due to the client now, with this
    /// RETAIN flag, its whole topic name and, under v5, the message's own
    /// properties: the caller writes it. The session has nothing to record.
    Plain {
        /// RETAIN flag on the wire.
        retain: bool,
    },
    /// Anything else: deliver it with [`Session::deliver`].
    General,
}

impl Session {
    /// The common delivery without a packet: when `message` goes to this
    /// client as a QoS 0 PUBLISH that is the same for every subscriber (no
    /// Subscription Identifier, Topic Alias or Message Expiry Interval of its
    /// own), to a connection that can take it now, says so, and the caller
    /// writes it from the shared message ([`crate::protocol::encode_publish_ref`]).
    /// Everything else is [`PlainDelivery::General`], and nothing is changed
    /// or counted then: [`Session::deliver`] does the same work again.
    ///
    /// Same outcome as [`Session::deliver`], without building the PUBLISH
    /// (references to the topic, payload and properties, taken and dropped
    /// per subscriber, were a seventh of a fan-out's broker time).
    pub fn deliver_plain(
        &mut self,
        message: &SharedMessage,
        matched: &[SubscriptionMatch],
        now_ms: u64,
    ) -> PlainDelivery {
        let Some(Matched {
            granted_qos,
            retain,
            subscription_identifiers,
        }) = self.matched(message, matched)
        else {
            return PlainDelivery::Skipped;
        };
        if message.qos.min(granted_qos) != QoS::AtMostOnce {
            return PlainDelivery::General;
        }
        if message.is_expired(now_ms) {
            self.count_dropped(1, |stats| &mut stats.dropped_expired);
            return PlainDelivery::Skipped;
        }
        let protocol_version = self.state.protocol_version;
        let Some(connection) = self.connection.as_ref() else {
            return PlainDelivery::General;
        };
        let v5 = protocol_version.is_v5();
        if v5
            && (subscription_identifiers
                || message.expires_at_ms.is_some()
                || connection.outbound_aliases.lookup(&message.topic_name) != OutboundAlias::None)
        {
            return PlainDelivery::General;
        }
        let publish = message.plain_publish(retain, protocol_version);
        let fits = publish_ref_len(&publish, protocol_version)
            .is_ok_and(|length| length <= connection.client_maximum_packet_size as usize);
        if !fits {
            self.count_dropped(1, |stats| &mut stats.dropped_too_large);
            return PlainDelivery::Skipped;
        }
        PlainDelivery::Plain { retain }
    }

    /// A message routed to this client, with every subscription of this client that
    /// matches its topic (as many as the trie found; empty does nothing).
    ///
    /// Overlapping subscriptions deliver once, at the highest granted QoS, carrying
    /// all their Subscription Identifiers. No Local subscriptions skip the client's
    /// own messages; RETAIN is kept only through a Retain As Published subscription.
    /// Expired messages are dropped. Works on a disconnected session too: the
    /// message is queued for the client's return (QoS 0 only with
    /// [`SessionConfig::queue_qos0`](super::SessionConfig::queue_qos0)), within the
    /// queue's bounds and by its [`QueueFullPolicy`](super::QueueFullPolicy).
    pub fn deliver(
        &mut self,
        message: &SharedMessage,
        matched: &[SubscriptionMatch],
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        if let Some(publish) = self.delivery_of(message, matched) {
            self.route_outbound(publish, now_ms, actions);
        }
    }

    /// What [`Session::deliver`] makes of `message` for these subscriptions: `None`
    /// when every one of them skips it (No Local).
    pub(crate) fn delivery_of(
        &self,
        message: &SharedMessage,
        matched: &[SubscriptionMatch],
    ) -> Option<OutboundPublish> {
        let found = self.matched(message, matched)?;
        let subscription_identifiers = match found.subscription_identifiers {
            true => self
                .delivering(message, matched)
                .filter_map(|subscription| subscription.subscription_identifier)
                .collect(),
            false => SmallVec::new(),
        };
        Some(OutboundPublish {
            message: message.clone(),
            qos: message.qos.min(found.granted_qos),
            retain: found.retain,
            subscription_identifiers,
        })
    }

    /// The subscriptions in `matched` that deliver `message`: all but the No
    /// Local ones when the message is this client's own.
    fn delivering<'a>(
        &'a self,
        message: &'a SharedMessage,
        matched: &'a [SubscriptionMatch],
    ) -> impl Iterator<Item = &'a SubscriptionMatch> + 'a {
        matched.iter().filter(move |subscription| {
            !(subscription.no_local && message.publisher == self.state.client_id)
        })
    }

    /// What the subscriptions delivering `message` ask of its delivery (see
    /// [`Session::deliver`]); `None` when none does.
    ///
    /// A message whose topic the ACL does not let this session read matches
    /// nothing (and is counted): the subscription may be wider than what the
    /// session may read (`#` beside a `deny` rule).
    fn matched(&self, message: &SharedMessage, matched: &[SubscriptionMatch]) -> Option<Matched> {
        if !matched.is_empty() && !self.acl_allows(AclAccess::Read, &message.topic_name) {
            return None;
        }
        let mut found: Option<Matched> = None;
        for subscription in self.delivering(message, matched) {
            let found = found.get_or_insert(Matched {
                granted_qos: subscription.qos,
                retain: false,
                subscription_identifiers: false,
            });
            found.granted_qos = found.granted_qos.max(subscription.qos);
            found.retain |= subscription.retain_as_published && message.retain;
            found.subscription_identifiers |= subscription.subscription_identifier.is_some();
        }
        found
    }

    /// A retained message sent because of a new subscription
    /// ([`Action::Subscribe`] with `send_retained`). RETAIN stays set
    /// [MQTT-3.3.1-9] and No Local does not apply.
    pub fn deliver_retained(
        &mut self,
        message: &SharedMessage,
        subscription: &SubscriptionMatch,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        if !self.acl_allows(AclAccess::Read, &message.topic_name) {
            return;
        }
        let publish = OutboundPublish {
            message: message.clone(),
            qos: message.qos.min(subscription.qos),
            retain: true,
            subscription_identifiers: subscription.subscription_identifier.into_iter().collect(),
        };
        self.route_outbound(publish, now_ms, actions);
    }

    fn route_outbound(&mut self, publish: OutboundPublish, now_ms: u64, actions: &mut Vec<Action>) {
        if publish.message.is_expired(now_ms) {
            self.count_dropped(1, |stats| &mut stats.dropped_expired);
            return;
        }
        if !self.can_send() {
            self.enqueue(publish, now_ms);
            return;
        }
        if publish.qos == QoS::AtMostOnce {
            self.transmit(publish, None, false, now_ms, actions);
        } else if self.state.queue.is_empty() && self.has_window_room() {
            self.start_flight(publish, now_ms, actions);
        } else {
            self.enqueue(publish, now_ms);
        }
    }

    fn enqueue(&mut self, publish: OutboundPublish, now_ms: u64) {
        if publish.qos == QoS::AtMostOnce && self.connection.is_none() && !self.config.queue_qos0 {
            self.count_dropped(1, |stats| &mut stats.dropped_qos0_offline);
            return;
        }
        self.state.queue.push(
            publish,
            &self.config,
            now_ms,
            &mut self.state.stats,
            &self.meters.drop_tally,
        );
    }

    /// The inflight window: the client's Receive Maximum, capped by ours, and
    /// past `limits::OUTBOUND_INFLIGHT_GUARANTEED` only while the shard's
    /// flows are within its budget.
    fn has_window_room(&self) -> bool {
        let Some(connection) = &self.connection else {
            return false;
        };
        let window = connection
            .client_receive_maximum
            .min(self.config.outbound_inflight_maximum);
        let open = self.state.inflight.len();
        open < usize::from(window)
            && (open < limits::OUTBOUND_INFLIGHT_GUARANTEED
                || self.state.inflight.gauge() < self.config.outbound_inflight_shard_budget)
    }

    /// True when a connection is attached.
    fn can_send(&self) -> bool {
        self.connection.is_some()
    }

    /// Sends queued messages while the window has room.
    pub(crate) fn drain_queue(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        while self.can_send() {
            let Some(front) = self.state.queue.front() else {
                return;
            };
            if front.qos != QoS::AtMostOnce && !self.has_window_room() {
                return;
            }
            let Some(publish) = self.state.queue.pop_front() else {
                return;
            };
            if publish.message.is_expired(now_ms) {
                self.count_dropped(1, |stats| &mut stats.dropped_expired);
            } else if publish.qos == QoS::AtMostOnce {
                self.transmit(publish, None, false, now_ms, actions);
            } else {
                self.start_flight(publish, now_ms, actions);
            }
        }
    }

    fn start_flight(&mut self, publish: OutboundPublish, now_ms: u64, actions: &mut Vec<Action>) {
        let stage = if publish.qos == QoS::ExactlyOnce {
            FlightStage::AwaitingPubRec(publish.clone())
        } else {
            FlightStage::AwaitingPubAck(publish.clone())
        };
        // The packet id is taken first so the size check sees the real packet; a
        // message too large for the client then behaves as if delivered (3.1.2.11.4).
        let packet_id = self.state.inflight.start(stage);
        if !self.transmit(publish, Some(packet_id), false, now_ms, actions) {
            self.state.inflight.remove(packet_id);
        }
    }

    /// Builds and sends the PUBLISH; false (and counted) when it exceeds the
    /// client's Maximum Packet Size. Takes `publish` so that the delivery
    /// holds its reference to the message instead of another one.
    fn transmit(
        &mut self,
        publish: OutboundPublish,
        packet_id: Option<PacketId>,
        dup: bool,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) -> bool {
        let protocol_version = self.state.protocol_version;
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let v5 = protocol_version.is_v5();
        let alias = if v5 {
            connection
                .outbound_aliases
                .lookup(&publish.message.topic_name)
        } else {
            OutboundAlias::None
        };
        let (with_topic_name, topic_alias) = match alias {
            OutboundAlias::Known(topic_alias) => (false, Some(topic_alias)),
            OutboundAlias::New(topic_alias) => (true, Some(topic_alias)),
            OutboundAlias::None => (true, None),
        };
        // Properties exist only under v5: a 3.x PUBLISH carries none, and
        // building a set anyway took 4.5% of the broker's time in a p2p profile.
        let properties = if v5 {
            delivery_properties(&publish, topic_alias, now_ms)
        } else {
            None
        };
        let delivery = Delivery {
            message: publish.message,
            dup,
            qos: publish.qos,
            retain: publish.retain,
            packet_id,
            with_topic_name,
            properties,
        };
        // A packet the codec cannot encode is as undeliverable as one too large.
        let fits = publish_ref_len(&delivery.publish(), protocol_version)
            .is_ok_and(|length| length <= connection.client_maximum_packet_size as usize);
        if !fits {
            self.count_dropped(1, |stats| &mut stats.dropped_too_large);
            return false;
        }
        if let OutboundAlias::New(topic_alias) = alias {
            connection
                .outbound_aliases
                .assign(delivery.message.topic_name.clone(), topic_alias);
        }
        if let (Some(packet_id), false) = (packet_id, dup) {
            self.journal(|| Change::Delivered(packet_id), actions);
        }
        actions.push(Action::Deliver(delivery));
        true
    }

    /// PUBACK: the QoS 1 flow is complete. Unknown ids are ignored.
    pub(crate) fn handle_puback(
        &mut self,
        response: PublishResponse,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let packet_id = response.packet_id;
        let awaiting_puback = self
            .state
            .inflight
            .get_mut(packet_id)
            .is_some_and(|flight| matches!(flight.stage, FlightStage::AwaitingPubAck(_)));
        if awaiting_puback {
            self.state.inflight.remove(packet_id);
            self.journal(|| Change::Acknowledged(packet_id), actions);
            self.drain_queue(now_ms, actions);
        }
    }

    /// PUBREC: answer with PUBREL, or end the flow on a failure code (v5).
    pub(crate) fn handle_pubrec(
        &mut self,
        response: PublishResponse,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let packet_id = response.packet_id;
        let Some(flight) = self.state.inflight.get_mut(packet_id) else {
            let mut pubrel = PublishResponse::success(packet_id);
            if self.state.protocol_version.is_v5() {
                pubrel.reason_code = ReasonCode::PacketIdentifierNotFound;
            }
            actions.push(Action::Acknowledge(Packet::PubRel(pubrel)));
            return;
        };
        if response.reason_code.is_error() {
            self.state.inflight.remove(packet_id);
            self.journal(|| Change::Acknowledged(packet_id), actions);
            self.drain_queue(now_ms, actions);
            return;
        }
        if !matches!(flight.stage, FlightStage::AwaitingPubAck(_)) {
            flight.stage = FlightStage::Released;
            self.journal(|| Change::PubRecReceived(packet_id), actions);
            actions.push(Action::Acknowledge(Packet::PubRel(
                PublishResponse::success(packet_id),
            )));
        }
    }

    /// PUBCOMP: the QoS 2 flow is complete. Unknown ids are ignored.
    pub(crate) fn handle_pubcomp(
        &mut self,
        response: PublishResponse,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let packet_id = response.packet_id;
        let awaiting_pubcomp = self
            .state
            .inflight
            .get_mut(packet_id)
            .is_some_and(|flight| flight.stage == FlightStage::Released);
        if awaiting_pubcomp {
            self.state.inflight.remove(packet_id);
            self.journal(|| Change::Acknowledged(packet_id), actions);
            self.drain_queue(now_ms, actions);
        }
    }

    /// On resume: resend every unacknowledged PUBLISH with DUP set and every PUBREL,
    /// in their original order, then what was queued. A message that expired while
    /// the client was away, or that no longer fits its Maximum Packet Size, is
    /// dropped instead.
    pub(crate) fn resend_inflight(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        for packet_id in self.state.inflight.packet_ids_in_order() {
            let Some(flight) = self.state.inflight.get_mut(packet_id) else {
                continue;
            };
            let publish = match &flight.stage {
                FlightStage::AwaitingPubAck(publish) | FlightStage::AwaitingPubRec(publish) => {
                    publish.clone()
                }
                FlightStage::Released => {
                    actions.push(Action::Send(Packet::PubRel(PublishResponse::success(
                        packet_id,
                    ))));
                    continue;
                }
            };
            if publish.message.is_expired(now_ms) {
                self.count_dropped(1, |stats| &mut stats.dropped_expired);
                self.state.inflight.remove(packet_id);
            } else if !self.transmit(publish, Some(packet_id), true, now_ms, actions) {
                self.state.inflight.remove(packet_id);
            }
        }
        self.drain_queue(now_ms, actions);
    }
}

/// The v5 properties of one delivery of `publish`: the message's own set, with
/// this subscriber's Subscription Identifiers, the Topic Alias of this
/// connection and the Message Expiry Interval left at `now_ms`.
///
/// A delivery adding none of these, the common case when one message goes to
/// many subscribers, shares the message's set (or has none) and allocates
/// nothing; only one that adds something copies the set to change it.
fn delivery_properties(
    publish: &OutboundPublish,
    topic_alias: Option<u16>,
    now_ms: u64,
) -> Option<Arc<PublishProperties>> {
    let message = &publish.message;
    let message_expiry_interval_s = message.remaining_expiry_interval_s(now_ms);
    if message_expiry_interval_s.is_none()
        && topic_alias.is_none()
        && publish.subscription_identifiers.is_empty()
    {
        return message.properties.shared();
    }
    let mut properties = PublishProperties::clone(&message.properties);
    properties.message_expiry_interval_s = message_expiry_interval_s;
    properties.subscription_identifiers = publish.subscription_identifiers.clone();
    properties.topic_alias = topic_alias;
    properties.boxed()
}
