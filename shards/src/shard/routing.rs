//! Routing: what crosses the rings, publish fan-out over the trie replica, and
//! the subscription transitions that keep the replicas in step.
//!
//! A publish walks the local replica once. Local subscribers get the message
//! directly; every other shard with non-shared subscribers on a matching filter
//! gets it once, whatever its subscriber count, with the payload shared through
//! the `Arc`. For a share group the publishing shard picks one shard among those
//! with members (round-robin), and that shard picks one local member
//! (round-robin); each group on each filter keeps its own turns in its trie
//! entry (`shardmq::topic::trie::ShareCursors`), so groups matched by the same
//! publish do not take each other's.
//! Subscription changes travel as "shard s has / no longer has subscribers on
//! filter f" transitions; each shard's messages arrive in order on its ring.

use std::rc::Rc;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::persist::InboundQos2Record;
use shardmq::retained::{Stamp, Update};
use shardmq::session::{SharedMessage, SubscriptionMatch};
use shardmq::topic::{MatchVisitor, ShardSet, SharedGroupMatch};

use super::connect_read::HandOff;
use super::store::SessionKey;
use super::{Connection, Shard};

/// One message on a ring between two shards.
#[derive(Debug)]
pub enum ShardMessage {
    /// A published message to deliver on the receiving shard.
    Publish {
        /// The message, shared by every shard and subscriber.
        message: SharedMessage,
        /// Deliver to the receiving shard's non-shared subscribers.
        plain: bool,
        /// Share groups the sending shard picked the receiving shard for.
        share_groups: Vec<SharedTarget>,
    },
    /// Shard `from` now has (or no longer has) local subscribers on `topic_filter`
    /// (`$share/{group}/{filter}` form for a share group).
    Subscription {
        /// The shard whose subscribers changed.
        from: usize,
        /// The filter as subscribed.
        topic_filter: ByteString,
        /// True for "has", false for "no longer has".
        subscribed: bool,
    },
    /// A retained message to store, or to clear when its payload is empty.
    Retained {
        /// The retained message, or an empty payload for a clear.
        message: SharedMessage,
        /// Its place in the order every replica applies updates of its topic in.
        stamp: Stamp,
    },
    /// A connection moving to its home shard.
    HandOff(Box<HandOff>),
    /// Everything shard `from` sent before this is applied once it is read:
    /// answer with [`ShardMessage::BarrierPassed`].
    Barrier {
        /// The shard waiting.
        from: usize,
        /// Its barrier number.
        token: u64,
    },
    /// Like [`ShardMessage::Barrier`], answered once what shard `from` sent before
    /// is also durable in this shard's journal.
    DurableBarrier {
        /// The shard waiting.
        from: usize,
        /// Its barrier number.
        token: u64,
    },
    /// Shard `from`'s delivery backlog went over its budget (`over`) or back
    /// within it: its publishers and this shard's pause or resume (see
    /// [`super::flow`]).
    DeliveryBacklog {
        /// The shard whose backlog changed.
        from: usize,
        /// True for over budget.
        over: bool,
    },
    /// The answer to [`ShardMessage::Barrier`] and [`ShardMessage::DurableBarrier`].
    BarrierPassed {
        /// The barrier number.
        token: u64,
    },
}

impl crate::ring::RingItem for ShardMessage {
    fn may_wait(&self) -> bool {
        matches!(
            self,
            ShardMessage::Publish { .. } | ShardMessage::Retained { .. }
        )
    }
}

/// A share group on one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTarget {
    /// The share name.
    pub share_name: Box<str>,
    /// The filter proper.
    pub topic_filter: Box<str>,
}

/// Reused buffers of the routing walk.
#[derive(Debug, Default)]
pub struct Scratch {
    local: Vec<(SessionKey, SubscriptionMatch)>,
    /// How many filters (or share group picks) `local` came from: from one,
    /// each session is in it once and it needs no sorting.
    sources: Sources,
    matched: Vec<SubscriptionMatch>,
    remote_groups: Vec<(usize, SharedTarget)>,
}

/// Collects a walk's matches on the publishing shard.
struct PublishingVisitor<'a> {
    index: usize,
    scratch: &'a mut Scratch,
}

impl MatchVisitor<SessionKey, SubscriptionMatch> for PublishingVisitor<'_> {
    fn local(&mut self, topic_filter: &str, key: &SessionKey, value: &SubscriptionMatch) {
        self.scratch.sources.note_filter(topic_filter);
        self.scratch.local.push((*key, *value));
    }

    fn shared(&mut self, group: SharedGroupMatch<'_, SessionKey, SubscriptionMatch>) {
        let Some(target) = group.pick_shard(self.index) else {
            return;
        };
        if target == self.index {
            self.scratch.sources.note_group();
            pick_member(&group, &mut self.scratch.local);
        } else {
            self.scratch.remote_groups.push((
                target,
                SharedTarget {
                    share_name: group.share_name.into(),
                    topic_filter: group.topic_filter.into(),
                },
            ));
        }
    }
}

/// Collects a walk's matches on a shard a publish was forwarded to.
struct ReceivingVisitor<'a> {
    plain: bool,
    share_groups: &'a [SharedTarget],
    local: &'a mut Vec<(SessionKey, SubscriptionMatch)>,
    sources: &'a mut Sources,
}

impl MatchVisitor<SessionKey, SubscriptionMatch> for ReceivingVisitor<'_> {
    fn local(&mut self, topic_filter: &str, key: &SessionKey, value: &SubscriptionMatch) {
        if self.plain {
            self.sources.note_filter(topic_filter);
            self.local.push((*key, *value));
        }
    }

    fn shared(&mut self, group: SharedGroupMatch<'_, SessionKey, SubscriptionMatch>) {
        let picked = self.share_groups.iter().any(|target| {
            *target.share_name == *group.share_name && *target.topic_filter == *group.topic_filter
        });
        if picked {
            self.sources.note_group();
            pick_member(&group, self.local);
        }
    }
}

/// Counts the filters and share group picks a walk's local matches came from.
#[derive(Debug, Default)]
struct Sources {
    count: usize,
    /// Address of the last filter seen: a walk reports a filter's subscribers
    /// one after another, so a change of address is a new filter.
    last_filter: usize,
}

impl Sources {
    fn note_filter(&mut self, topic_filter: &str) {
        let address = topic_filter.as_ptr() as usize;
        if self.count == 0 || address != self.last_filter {
            self.count += 1;
            self.last_filter = address;
        }
    }

    fn note_group(&mut self) {
        self.count += 1;
        self.last_filter = 0;
    }
}

/// Picks the next local member of a share group, round-robin on the group's
/// own cursor.
fn pick_member(
    group: &SharedGroupMatch<'_, SessionKey, SubscriptionMatch>,
    local: &mut Vec<(SessionKey, SubscriptionMatch)>,
) {
    if let Some((key, value)) = group.pick_member() {
        local.push((*key, *value));
    }
}

impl Shard {
    /// The stamp of a retained update this shard decides on now.
    fn next_retained_stamp(&self) -> Stamp {
        let sequence = self.retained_sequence.get() + 1;
        self.retained_sequence.set(sequence);
        Stamp {
            at_ms: self.now_ms(),
            shard: self.index,
            sequence,
        }
    }

    /// Routes a message a local session published (or a will).
    ///
    /// True when the message matched a subscription: a local subscriber, a
    /// share group, or a shard with subscribers on a matching filter (whose
    /// subscribers may still skip it, for No Local or expiry; that is not
    /// known here).
    pub(super) fn publish(
        &self,
        message: SharedMessage,
        inbound_qos2: Option<InboundQos2Record>,
    ) -> bool {
        if message.retain {
            // Kept for long and by every shard: one copy of its own, pinning no
            // read buffer.
            let retained = SharedMessage::new(message.detached());
            let stamp = self.next_retained_stamp();
            let now_ms = self.now_ms();
            let update = self.retained.borrow_mut().retain(&retained, stamp, now_ms);
            match update {
                Update::Applied => {
                    self.journal_retained(&retained);
                    self.mesh.broadcast_with(|| ShardMessage::Retained {
                        message: SharedMessage::clone(&retained),
                        stamp,
                    });
                    self.replication.note_retained_changed();
                }
                Update::Refused => {
                    tracing::debug!(topic_name = %retained.topic_name, "retained store full; not retained");
                }
                Update::Stale => {}
            }
        }
        let mut scratch = std::mem::take(&mut *self.routing_scratch.borrow_mut());
        let remote_plain = {
            let mut visitor = PublishingVisitor {
                index: self.index,
                scratch: &mut scratch,
            };
            self.trie
                .borrow()
                .match_topic(&message.topic_name, &mut visitor)
        };
        let matched = !scratch.local.is_empty()
            || !scratch.remote_groups.is_empty()
            || remote_plain.iter().any(|shard| shard != self.index);
        self.forward(&message, remote_plain, &mut scratch.remote_groups);
        self.deliver_local(&message, &mut scratch, inbound_qos2);
        *self.routing_scratch.borrow_mut() = scratch;
        matched
    }

    /// Sends `message` once to each shard that needs it.
    fn forward(
        &self,
        message: &SharedMessage,
        remote_plain: ShardSet,
        remote_groups: &mut Vec<(usize, SharedTarget)>,
    ) {
        remote_groups.sort_by_key(|(shard, _)| *shard);
        let mut targets = remote_plain;
        for (shard, _) in remote_groups.iter() {
            targets.insert(*shard);
        }
        // Both in shard order: each shard's groups are moved out in turn.
        let mut groups = remote_groups.drain(..).peekable();
        for shard in targets.iter() {
            if shard == self.index {
                continue;
            }
            self.note_forwarded(shard, message);
            let mut share_groups = Vec::new();
            while let Some((_, group)) = groups.next_if(|(target, _)| *target == shard) {
                share_groups.push(group);
            }
            self.mesh.push(
                shard,
                ShardMessage::Publish {
                    message: SharedMessage::clone(message),
                    plain: remote_plain.contains(shard),
                    share_groups,
                },
            );
        }
    }

    /// Delivers to local sessions, once per session with all its matching subscriptions.
    /// `inbound_qos2`: the flow the publisher's session opened, for the journal.
    fn deliver_local(
        &self,
        message: &SharedMessage,
        scratch: &mut Scratch,
        inbound_qos2: Option<InboundQos2Record>,
    ) {
        let Scratch {
            local,
            matched,
            sources,
            ..
        } = scratch;
        // Overlapping subscriptions of one session, matched through several
        // filters, are delivered once: sorting brings them together.
        if sources.count > 1 {
            local.sort_unstable_by_key(|(key, _)| *key);
        }
        *sources = Sources::default();
        self.journal_accepted(message, local, inbound_qos2);
        if local.is_empty() {
            return;
        }
        let now_ms = self.now_ms();
        let mut start = 0;
        while start < local.len() {
            let key = local[start].0;
            let end = start + local[start..].iter().take_while(|(k, _)| *k == key).count();
            matched.clear();
            matched.extend(local[start..end].iter().map(|(_, value)| *value));
            self.deliver(key, message, matched, now_ms);
            start = end;
        }
        local.clear();
    }

    /// Applies one message from shard `from`'s ring.
    pub(super) fn on_ring_message(self: &Rc<Self>, from: usize, message: ShardMessage) {
        match message {
            ShardMessage::Publish {
                message,
                plain,
                share_groups,
            } => self.receive_publish(&message, plain, &share_groups),
            ShardMessage::Subscription {
                from: shard,
                topic_filter,
                subscribed,
            } => {
                let mut trie = self.trie.borrow_mut();
                let applied = if subscribed {
                    trie.add_remote(&topic_filter, shard)
                } else {
                    trie.remove_remote(&topic_filter, shard)
                };
                if let Err(error) = applied {
                    tracing::warn!(%topic_filter, from, ?error, "bad subscription transition");
                }
            }
            ShardMessage::Retained { message, stamp } => {
                let now_ms = self.now_ms();
                let update = self.retained.borrow_mut().apply(&message, stamp, now_ms);
                if update == Update::Applied {
                    self.journal_retained(&message);
                }
            }
            ShardMessage::HandOff(handoff) => self.receive_handoff(*handoff),
            ShardMessage::Barrier { from, token } => {
                self.mesh.push(from, ShardMessage::BarrierPassed { token })
            }
            ShardMessage::DurableBarrier { from, token } => self.on_durable_barrier(from, token),
            ShardMessage::BarrierPassed { token } => self.replication.passed(token),
            ShardMessage::DeliveryBacklog { from, over } => {
                self.flow.set_remote(from, over);
                self.settle_flow();
            }
        }
    }

    fn receive_publish(&self, message: &SharedMessage, plain: bool, share_groups: &[SharedTarget]) {
        let mut scratch = std::mem::take(&mut *self.routing_scratch.borrow_mut());
        {
            let mut visitor = ReceivingVisitor {
                plain,
                share_groups,
                local: &mut scratch.local,
                sources: &mut scratch.sources,
            };
            self.trie
                .borrow()
                .match_topic(&message.topic_name, &mut visitor);
        }
        if scratch.local.len() >= limits::DETACH_DELIVERIES_MIN {
            // Every delivery clones and drops the message's buffers; on a copy
            // of its own that counting stays in this core's cache instead of
            // bouncing between the cores that share the original.
            let message = SharedMessage::new(message.detached());
            self.deliver_local(&message, &mut scratch, None);
        } else if !scratch.local.is_empty() {
            self.deliver_local(message, &mut scratch, None);
        }
        *self.routing_scratch.borrow_mut() = scratch;
    }

    /// Adds a local subscription and tells the other shards when it is the first
    /// on its filter; then sends the matching retained messages if asked.
    pub(super) fn subscribe(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        topic_filter: &ByteString,
        subscription: SubscriptionMatch,
        send_retained: bool,
    ) {
        let inserted = self
            .trie
            .borrow_mut()
            .insert(topic_filter, key, subscription);
        match inserted {
            Ok(inserted) => {
                if inserted.first_local {
                    self.mesh.broadcast_with(|| ShardMessage::Subscription {
                        from: self.index,
                        topic_filter: topic_filter.clone(),
                        subscribed: true,
                    });
                }
                self.replication
                    .note_subscribed(topic_filter, inserted.first_local);
            }
            Err(error) => {
                tracing::debug!(%topic_filter, ?error, "subscription not added");
                return;
            }
        }
        if send_retained {
            self.deliver_retained(key, connection, topic_filter, &subscription);
        }
    }

    /// Removes a local subscription and tells the other shards when it was the
    /// last on its filter.
    pub(super) fn unsubscribe(&self, key: SessionKey, topic_filter: &ByteString) {
        let removed = self.trie.borrow_mut().remove(topic_filter, &key);
        if let Ok(removed) = removed {
            if removed.last_local {
                self.mesh.broadcast_with(|| ShardMessage::Subscription {
                    from: self.index,
                    topic_filter: topic_filter.clone(),
                    subscribed: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardmq::protocol::{QoS, SubscriptionOptions};
    use shardmq::topic::SubscriptionTrie;

    fn subscription() -> SubscriptionMatch {
        SubscriptionMatch::new(
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
            None,
        )
    }

    /// Subscribes the sessions `keys` to `topic_filter`.
    fn insert_members(
        trie: &mut SubscriptionTrie<SessionKey, SubscriptionMatch>,
        topic_filter: &str,
        keys: std::ops::RangeInclusive<SessionKey>,
    ) {
        for key in keys {
            trie.insert(topic_filter, key, subscription()).unwrap();
        }
    }

    /// Runs the publishing walk once and returns (local keys, remote group shards).
    fn walk(
        trie: &SubscriptionTrie<SessionKey, SubscriptionMatch>,
    ) -> (Vec<SessionKey>, Vec<usize>) {
        let mut scratch = Scratch::default();
        let mut visitor = PublishingVisitor {
            index: 0,
            scratch: &mut scratch,
        };
        trie.match_topic("jobs/build", &mut visitor);
        (
            scratch.local.iter().map(|(key, _)| *key).collect(),
            scratch
                .remote_groups
                .iter()
                .map(|(shard, _)| *shard)
                .collect(),
        )
    }

    #[test]
    fn share_group_alternates_between_local_and_remote_shards() {
        let mut trie = SubscriptionTrie::new();
        trie.insert("$share/workers/jobs/+", 1, subscription())
            .unwrap();
        trie.insert("$share/workers/jobs/+", 2, subscription())
            .unwrap();
        trie.add_remote("$share/workers/jobs/+", 1).unwrap();
        let picks: Vec<(Vec<SessionKey>, Vec<usize>)> = (0..4).map(|_| walk(&trie)).collect();
        assert_eq!(
            picks,
            vec![
                (vec![1], vec![]),
                (vec![], vec![1]),
                (vec![2], vec![]),
                (vec![], vec![1]),
            ]
        );
    }

    /// How many picks each subscriber key got, by key.
    fn counts(keys: impl IntoIterator<Item = SessionKey>) -> Vec<(SessionKey, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for key in keys {
            *counts.entry(key).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    #[test]
    fn groups_on_one_filter_each_spread_over_their_own_members() {
        // The fairness issue: `$share/one` on a, b, c and `$share/two` on d, e,
        // all local; each publish matches both groups.
        let mut trie = SubscriptionTrie::new();
        insert_members(&mut trie, "$share/one/jobs/+", 1..=3);
        insert_members(&mut trie, "$share/two/jobs/+", 4..=5);
        let local = (0..30).flat_map(|_| walk(&trie).0);
        assert_eq!(
            counts(local),
            vec![(1, 10), (2, 10), (3, 10), (4, 15), (5, 15)]
        );
    }

    #[test]
    fn groups_on_one_filter_each_alternate_between_local_and_remote_shards() {
        let mut trie = SubscriptionTrie::new();
        trie.insert("$share/one/jobs/+", 1, subscription()).unwrap();
        trie.insert("$share/two/jobs/+", 2, subscription()).unwrap();
        trie.add_remote("$share/one/jobs/+", 1).unwrap();
        trie.add_remote("$share/two/jobs/+", 1).unwrap();
        let picks: Vec<(Vec<SessionKey>, Vec<usize>)> = (0..4).map(|_| walk(&trie)).collect();
        let mut local = Vec::new();
        let mut remote = 0;
        for (keys, shards) in picks {
            assert_eq!(keys.len() + shards.len(), 2, "one pick per group");
            local.extend(keys);
            remote += shards.len();
        }
        assert_eq!(counts(local), vec![(1, 2), (2, 2)]);
        assert_eq!(remote, 4);
    }

    #[test]
    fn receiving_shard_spreads_each_group_over_its_own_members() {
        let mut trie = SubscriptionTrie::new();
        insert_members(&mut trie, "$share/a/jobs/+", 1..=2);
        insert_members(&mut trie, "$share/b/jobs/+", 3..=5);
        let picked = ["a", "b"].map(|share_name| SharedTarget {
            share_name: share_name.into(),
            topic_filter: "jobs/+".into(),
        });
        let mut local = Vec::new();
        for _ in 0..6 {
            let mut visitor = ReceivingVisitor {
                plain: false,
                share_groups: &picked,
                local: &mut local,
                sources: &mut Sources::default(),
            };
            trie.match_topic("jobs/build", &mut visitor);
        }
        assert_eq!(
            counts(local.iter().map(|(key, _)| *key)),
            vec![(1, 3), (2, 3), (3, 2), (4, 2), (5, 2)]
        );
    }

    #[test]
    fn plain_subscribers_are_all_local_and_remote_shards_are_reported_once() {
        let mut trie = SubscriptionTrie::new();
        trie.insert("jobs/+", 1, subscription()).unwrap();
        trie.insert("jobs/#", 1, subscription()).unwrap();
        trie.insert("jobs/build", 2, subscription()).unwrap();
        trie.add_remote("jobs/#", 1).unwrap();
        trie.add_remote("jobs/+", 1).unwrap();
        let mut scratch = Scratch::default();
        let remote = {
            let mut visitor = PublishingVisitor {
                index: 0,
                scratch: &mut scratch,
            };
            trie.match_topic("jobs/build", &mut visitor)
        };
        let mut keys: Vec<SessionKey> = scratch.local.iter().map(|(key, _)| *key).collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![1, 1, 2]);
        assert_eq!(remote.iter().collect::<Vec<_>>(), vec![1]);
    }

    /// The sources a publish's local matches came from; above one, they are
    /// sorted to bring each session's matches together.
    fn sources_of(
        trie: &SubscriptionTrie<SessionKey, SubscriptionMatch>,
        topic_name: &str,
    ) -> usize {
        let mut scratch = Scratch::default();
        let mut visitor = PublishingVisitor {
            index: 0,
            scratch: &mut scratch,
        };
        trie.match_topic(topic_name, &mut visitor);
        scratch.sources.count
    }

    #[test]
    fn matches_through_one_filter_need_no_sorting_but_overlapping_filters_do() {
        let mut trie = SubscriptionTrie::new();
        for key in 1..=3 {
            trie.insert("news/sport", key, subscription()).unwrap();
        }
        assert_eq!(sources_of(&trie, "news/sport"), 1);
        trie.insert("news/#", 2, subscription()).unwrap();
        assert_eq!(sources_of(&trie, "news/sport"), 2);
        trie.insert("$share/g/news/sport", 4, subscription())
            .unwrap();
        assert_eq!(sources_of(&trie, "news/sport"), 3);
        assert_eq!(sources_of(&trie, "news/weather"), 1);
    }

    #[test]
    fn receiving_shard_delivers_only_the_groups_it_was_picked_for() {
        let mut trie = SubscriptionTrie::new();
        trie.insert("$share/a/jobs/+", 1, subscription()).unwrap();
        trie.insert("$share/b/jobs/+", 2, subscription()).unwrap();
        trie.insert("jobs/build", 3, subscription()).unwrap();
        let picked = [SharedTarget {
            share_name: "b".into(),
            topic_filter: "jobs/+".into(),
        }];
        let mut local = Vec::new();
        let mut visitor = ReceivingVisitor {
            plain: false,
            share_groups: &picked,
            local: &mut local,
            sources: &mut Sources::default(),
        };
        trie.match_topic("jobs/build", &mut visitor);
        assert_eq!(
            local.iter().map(|(key, _)| *key).collect::<Vec<_>>(),
            vec![2]
        );
    }
}
