//! SUBSCRIBE and UNSUBSCRIBE: the session's own map of filters to options (for
//! Retain Handling 1 and for snapshots), the SUBACK and UNSUBACK codes, and the
//! trie updates handed to the runtime.

use smallvec::SmallVec;

use super::state::SubscriptionRecord;
use super::{Action, Change, Session, Violation};
use crate::protocol::{
    AckProperties, Packet, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions,
    UnsubAck, Unsubscribe,
};
use crate::topic::{parse_topic_filter, parse_topic_filter_within};

impl Session {
    /// SUBSCRIBE: one SUBACK code per filter, then one [`Action::Subscribe`] per
    /// accepted filter. An invalid filter (one deeper than `max_topic_levels`
    /// included) gets 0x8F (v5) or 0x80 (3.x); a filter beyond the session's
    /// subscription limit gets 0x97 (v5) or 0x80; one the ACL does not let
    /// the client read gets 0x87 (v5) or 0x80.
    pub(crate) fn handle_subscribe(
        &mut self,
        subscribe: Subscribe,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let is_v5 = self.state.protocol_version.is_v5();
        // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4];
        // checked before any change so a refused SUBSCRIBE changes nothing.
        let no_local_on_shared = subscribe.filters.iter().any(|(topic_filter, options)| {
            options.no_local
                && parse_topic_filter(topic_filter).is_ok_and(|parsed| parsed.share_group.is_some())
        });
        if is_v5 && no_local_on_shared {
            let violation = Violation::NoLocalOnSharedSubscription;
            return self.protocol_violation(violation, now_ms, actions);
        }
        let subscription_identifier = if is_v5 {
            subscribe.properties.subscription_identifier
        } else {
            None
        };
        let mut reason_codes = Vec::with_capacity(subscribe.filters.len());
        let mut subscribed: SmallVec<[Action; 4]> = SmallVec::new();
        for (topic_filter, options) in subscribe.filters {
            let parsed = parse_topic_filter_within(&topic_filter, self.config.max_topic_levels);
            let is_shared = match parsed {
                Ok(parsed) => parsed.share_group.is_some(),
                Err(_) => {
                    reason_codes.push(self.failure_code(ReasonCode::TopicFilterInvalid));
                    continue;
                }
            };
            if !self.acl_allows_subscribe(&topic_filter) {
                reason_codes.push(self.failure_code(ReasonCode::NotAuthorized));
                continue;
            }
            let subscriptions = &mut self.state.subscriptions;
            let is_new = !subscriptions.contains_key(&topic_filter);
            if is_new && subscriptions.len() >= self.config.max_subscriptions {
                reason_codes.push(self.failure_code(ReasonCode::QuotaExceeded));
                continue;
            }
            let granted_qos = options.qos.min(self.config.maximum_qos);
            let options = SubscriptionOptions {
                qos: granted_qos,
                ..options
            };
            // Retained messages are never sent for a shared subscription (4.8.2).
            let send_retained = !is_shared
                && match options.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendAtNewSubscribe => is_new,
                    RetainHandling::DoNotSend => false,
                };
            subscriptions.insert(
                topic_filter.clone(),
                SubscriptionRecord {
                    options,
                    subscription_identifier,
                },
            );
            reason_codes.push(granted_code(granted_qos));
            if self.journaled {
                subscribed.push(Action::Journal(Change::Subscribed {
                    topic_filter: topic_filter.clone(),
                    options,
                    subscription_identifier,
                }));
            }
            subscribed.push(Action::Subscribe {
                topic_filter,
                options,
                subscription_identifier,
                send_retained,
            });
        }
        actions.push(Action::Acknowledge(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            properties: AckProperties::default(),
            reason_codes,
        })));
        actions.extend(subscribed);
    }

    /// UNSUBSCRIBE: one [`Action::Unsubscribe`] per filter the session held, then
    /// UNSUBACK (under v5 with 0x11, No subscription existed, for the others).
    /// Filters are looked up, not validated: one the session holds was valid
    /// when it subscribed, even if `max_topic_levels` was lowered since, and
    /// one it does not hold has nothing to remove.
    pub(crate) fn handle_unsubscribe(
        &mut self,
        unsubscribe: Unsubscribe,
        actions: &mut Vec<Action>,
    ) {
        let is_v5 = self.state.protocol_version.is_v5();
        let mut reason_codes =
            Vec::with_capacity(if is_v5 { unsubscribe.filters.len() } else { 0 });
        for topic_filter in unsubscribe.filters {
            let existed = self.state.subscriptions.remove(&topic_filter).is_some();
            if existed {
                self.journal(
                    || Change::Unsubscribed {
                        topic_filter: topic_filter.clone(),
                    },
                    actions,
                );
                actions.push(Action::Unsubscribe { topic_filter });
            }
            if is_v5 {
                reason_codes.push(if existed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                });
            }
        }
        actions.push(Action::Acknowledge(Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            properties: AckProperties::default(),
            reason_codes,
        })));
    }

    /// A v5 failure code, or 0x80 (Failure), the only one 3.x has.
    fn failure_code(&self, v5_reason_code: ReasonCode) -> ReasonCode {
        if self.state.protocol_version.is_v5() {
            v5_reason_code
        } else {
            ReasonCode::UnspecifiedError
        }
    }
}

fn granted_code(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQos1,
        QoS::ExactlyOnce => ReasonCode::GrantedQos2,
    }
}
