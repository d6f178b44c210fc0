//! The router: the shard's replica of the subscription trie and of the
//! retained messages, and the walk that turns a publish into the sessions it
//! reaches here and the shards it is forwarded to.
//!
//! A publish walks the local replica once. Local subscribers get the message
//! directly; every other shard with non-shared subscribers on a matching filter
//! gets it once, whatever its subscriber count, with the payload shared through
//! the `Arc`. For a share group the publishing shard picks one shard among those
//! with members (round-robin), and that shard picks one local member
//! (round-robin); each group on each filter keeps its own turns in its trie
//! entry (`shardmq::topic::trie::ShareCursors`), so groups matched by the same
//! publish do not take each other's. Subscription changes travel as "shard s
//! has / no longer has subscribers on filter f" transitions, which
//! [`Router::apply_transition`] applies to the replica.
//!
//! The router decides where a message goes ([`Routes`]); the shard delivers
//! and sends.

use std::cell::{Cell, RefCell};

use shardmq::retained::{RetainedStore, Stamp, Update};
use shardmq::session::{SharedMessage, SubscriptionMatch};
use shardmq::topic::{MatchVisitor, ShardSet, SharedGroupMatch, SubscriptionTrie, TopicError};

use super::store::SessionKey;

/// The trie replica, the retained replica and the walk's reused buffers.
pub(super) struct Router {
    /// This shard's index.
    index: usize,
    trie: RefCell<SubscriptionTrie<SessionKey, SubscriptionMatch>>,
    retained: RefCell<RetainedStore>,
    /// Retained updates this shard decided on (see [`Stamp`]).
    retained_sequence: Cell<u64>,
    /// The walk's buffers, lent to one [`Routes`] at a time (a delivery that
    /// publishes again walks with fresh ones).
    scratch: RefCell<Scratch>,
}

/// Where one message goes, from one walk of the replica: the local sessions
/// with the subscriptions they matched through, and the shards to forward to.
/// Hand it back with [`Router::done`] so its buffers are reused.
pub(super) struct Routes {
    scratch: Scratch,
    /// Shards with non-shared subscribers on a matching filter.
    remote_plain: ShardSet,
}

impl Router {
    /// The router of shard `index`: an empty trie replica hashing its labels
    /// with `label_seeds`, an empty retained replica within these bounds.
    pub(super) fn new(
        index: usize,
        label_seeds: [u64; 4],
        max_retained_messages: usize,
        max_retained_bytes: usize,
    ) -> Router {
        Router {
            index,
            trie: RefCell::new(SubscriptionTrie::with_label_seeds(label_seeds)),
            retained: RefCell::new(RetainedStore::new(
                max_retained_messages,
                max_retained_bytes,
            )),
            retained_sequence: Cell::new(0),
            scratch: RefCell::new(Scratch::default()),
        }
    }

    /// Where a message published on this shard, on `topic_name`, goes.
    pub(super) fn route_publish(&self, topic_name: &str) -> Routes {
        let mut scratch = self.scratch.take();
        let remote_plain = {
            let mut visitor = PublishingVisitor {
                index: self.index,
                scratch: &mut scratch,
            };
            self.trie.borrow().match_topic(topic_name, &mut visitor)
        };
        Routes {
            scratch,
            remote_plain,
        }
    }

    /// Where a message another shard forwarded goes here: to the plain
    /// subscribers when `plain`, and to the `share_groups` that shard picked
    /// this one for.
    pub(super) fn route_received(
        &self,
        topic_name: &str,
        plain: bool,
        share_groups: &[SharedTarget],
    ) -> Routes {
        let mut scratch = self.scratch.take();
        {
            let mut visitor = ReceivingVisitor {
                plain,
                share_groups,
                local: &mut scratch.local,
                sources: &mut scratch.sources,
            };
            self.trie.borrow().match_topic(topic_name, &mut visitor);
        }
        Routes {
            scratch,
            remote_plain: ShardSet::default(),
        }
    }

    /// Takes back the buffers of `routes`.
    pub(super) fn done(&self, mut routes: Routes) {
        routes.scratch.clear();
        *self.scratch.borrow_mut() = routes.scratch;
    }

    /// Adds session `key`'s subscription to `topic_filter`; true when it is
    /// the filter's first local one (the other shards are to hear of it).
    pub(super) fn subscribe(
        &self,
        topic_filter: &str,
        key: SessionKey,
        subscription: SubscriptionMatch,
    ) -> Result<bool, TopicError> {
        let inserted = self
            .trie
            .borrow_mut()
            .insert(topic_filter, key, subscription)?;
        Ok(inserted.first_local)
    }

    /// Removes session `key`'s subscription to `topic_filter`; true when it
    /// was the filter's last local one (the other shards are to hear of it).
    pub(super) fn unsubscribe(&self, topic_filter: &str, key: SessionKey) -> bool {
        self.trie
            .borrow_mut()
            .remove(topic_filter, &key)
            .is_ok_and(|removed| removed.last_local)
    }

    /// Shard `shard` now has (`subscribed`) or no longer has subscribers on
    /// `topic_filter`.
    pub(super) fn apply_transition(
        &self,
        topic_filter: &str,
        shard: usize,
        subscribed: bool,
    ) -> Result<(), TopicError> {
        let mut trie = self.trie.borrow_mut();
        if subscribed {
            trie.add_remote(topic_filter, shard)?;
        } else {
            trie.remove_remote(topic_filter, shard)?;
        }
        Ok(())
    }

    /// A retained message published on this shard at `now_ms`: stored, and
    /// with the stamp every replica orders it by when it was applied (the
    /// caller then replicates and journals it). `None` when refused (the
    /// store is full) or older than what is stored.
    pub(super) fn retain(&self, message: &SharedMessage, now_ms: u64) -> Option<Stamp> {
        let sequence = self.retained_sequence.get() + 1;
        self.retained_sequence.set(sequence);
        let stamp = Stamp {
            at_ms: now_ms,
            shard: self.index,
            sequence,
        };
        match self.retained.borrow_mut().retain(message, stamp, now_ms) {
            Update::Applied => Some(stamp),
            Update::Refused => {
                tracing::debug!(topic_name = %message.topic_name, "retained store full; not retained");
                None
            }
            Update::Stale => None,
        }
    }

    /// A retained update another shard decided on (or one restored, with the
    /// default stamp); true when applied.
    pub(super) fn apply_retained(
        &self,
        message: &SharedMessage,
        stamp: Stamp,
        now_ms: u64,
    ) -> bool {
        self.retained.borrow_mut().apply(message, stamp, now_ms) == Update::Applied
    }

    /// The retained messages matching `topic_filter` at `now_ms`, at most `limit`.
    pub(super) fn retained_matching(
        &self,
        topic_filter: &str,
        now_ms: u64,
        limit: usize,
    ) -> Vec<SharedMessage> {
        self.retained.borrow().matching(topic_filter, now_ms, limit)
    }

    /// Frees the retained messages expired at `now_ms`.
    pub(super) fn sweep_retained(&self, now_ms: u64) {
        self.retained.borrow_mut().sweep_expired(now_ms);
    }

    /// The retained messages for which `owned` holds, shared.
    pub(super) fn retained_where(
        &self,
        owned: impl Fn(&SharedMessage) -> bool,
    ) -> Vec<SharedMessage> {
        self.retained
            .borrow()
            .messages()
            .filter(|message| owned(message))
            .cloned()
            .collect()
    }
}

impl Routes {
    /// True when the message matched a subscription: a local subscriber, a
    /// share group, or a shard with subscribers on a matching filter (whose
    /// subscribers may still skip it, for No Local or expiry; that is not
    /// known here). `index` is this shard's.
    pub(super) fn matched(&self, index: usize) -> bool {
        !self.scratch.local.is_empty()
            || !self.scratch.remote_groups.is_empty()
            || self.remote_plain.iter().any(|shard| shard != index)
    }

    /// Calls `forward` once per other shard the message goes to, in shard
    /// order: whether to its plain subscribers, and the share groups picked
    /// there. `index` is this shard's.
    pub(super) fn for_each_forward(
        &mut self,
        index: usize,
        mut forward: impl FnMut(usize, bool, Vec<SharedTarget>),
    ) {
        let remote_groups = &mut self.scratch.remote_groups;
        remote_groups.sort_by_key(|(shard, _)| *shard);
        let mut targets = self.remote_plain;
        for (shard, _) in remote_groups.iter() {
            targets.insert(*shard);
        }
        // Both in shard order: each shard's groups are moved out in turn.
        let mut groups = remote_groups.drain(..).peekable();
        for shard in targets.iter() {
            if shard == index {
                continue;
            }
            let mut share_groups = Vec::new();
            while let Some((_, group)) = groups.next_if(|(target, _)| *target == shard) {
                share_groups.push(group);
            }
            forward(shard, self.remote_plain.contains(shard), share_groups);
        }
    }

    /// The local sessions matched, each once with all its matching
    /// subscriptions together: the matches of one session sit side by side.
    pub(super) fn local(&mut self) -> &[(SessionKey, SubscriptionMatch)] {
        let scratch = &mut self.scratch;
        // Overlapping subscriptions of one session, matched through several
        // filters, are delivered once: sorting brings them together.
        if scratch.sources.count > 1 {
            scratch.local.sort_unstable_by_key(|(key, _)| *key);
            scratch.sources = Sources::default();
        }
        &scratch.local
    }

    /// Calls `deliver` once per local session matched, with the
    /// subscriptions it matched through.
    pub(super) fn for_each_session(
        &mut self,
        mut deliver: impl FnMut(SessionKey, &[SubscriptionMatch]),
    ) {
        self.local();
        let Scratch { local, matched, .. } = &mut self.scratch;
        let mut start = 0;
        while start < local.len() {
            let key = local[start].0;
            let end = start + local[start..].iter().take_while(|(k, _)| *k == key).count();
            matched.clear();
            matched.extend(local[start..end].iter().map(|(_, value)| *value));
            deliver(key, matched);
            start = end;
        }
    }

    /// How many local sessions' matches there are (a session matched
    /// through several filters counts once per filter).
    pub(super) fn local_len(&self) -> usize {
        self.scratch.local.len()
    }
}

/// A share group on one filter, as a ring message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTarget {
    /// The share name.
    pub share_name: Box<str>,
    /// The filter proper.
    pub topic_filter: Box<str>,
}

/// Reused buffers of the routing walk.
#[derive(Debug, Default)]
struct Scratch {
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

impl Scratch {
    fn clear(&mut self) {
        self.local.clear();
        self.sources = Sources::default();
        self.matched.clear();
        self.remote_groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardmq::protocol::{QoS, SubscriptionOptions};

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

    fn router() -> Router {
        Router::new(0, [1, 2, 3, 4], 10, 1_000)
    }

    fn retained_message(topic_name: &str, payload: &'static [u8]) -> SharedMessage {
        let publish = shardmq::protocol::Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic_name: topic_name.into(),
            packet_id: None,
            properties: None,
            payload: bytes::Bytes::from_static(payload),
        };
        SharedMessage::new(shardmq::session::Message::from_publish(
            publish,
            topic_name.into(),
            "publisher".into(),
            0,
        ))
    }

    #[test]
    fn a_session_matched_through_overlapping_filters_is_delivered_once_with_both() {
        let router = router();
        router.subscribe("jobs/+", 7, subscription()).unwrap();
        router.subscribe("jobs/#", 7, subscription()).unwrap();
        router.subscribe("jobs/build", 8, subscription()).unwrap();
        let mut routes = router.route_publish("jobs/build");
        assert!(routes.matched(0));
        let mut sessions = Vec::new();
        routes.for_each_session(|key, matched| sessions.push((key, matched.len())));
        sessions.sort_unstable();
        assert_eq!(sessions, vec![(7, 2), (8, 1)]);
        router.done(routes);
        let routes = router.route_publish("other");
        assert!(!routes.matched(0));
        assert_eq!(routes.local_len(), 0, "the buffers came back empty");
    }

    #[test]
    fn a_message_is_forwarded_once_per_shard_with_the_groups_picked_there() {
        let router = router();
        router.apply_transition("jobs/#", 2, true).unwrap();
        router.apply_transition("jobs/+", 2, true).unwrap();
        router.apply_transition("$share/g/jobs/+", 1, true).unwrap();
        let mut routes = router.route_publish("jobs/build");
        assert!(routes.matched(0));
        let mut forwards = Vec::new();
        routes.for_each_forward(0, |shard, plain, groups| {
            forwards.push((shard, plain, groups.len()))
        });
        assert_eq!(forwards, vec![(1, false, 1), (2, true, 0)]);
        router.apply_transition("jobs/#", 2, false).unwrap();
        router.apply_transition("jobs/+", 2, false).unwrap();
        router
            .apply_transition("$share/g/jobs/+", 1, false)
            .unwrap();
        router.done(routes);
        assert!(!router.route_publish("jobs/build").matched(0));
    }

    #[test]
    fn retained_updates_decided_here_are_stamped_in_order_and_an_older_one_loses() {
        let router = router();
        let first = router
            .retain(&retained_message("a", b"1"), 5)
            .expect("stored");
        let second = router
            .retain(&retained_message("a", b"2"), 5)
            .expect("stored");
        assert!(first < second);
        assert!(!router.apply_retained(&retained_message("a", b"old"), first, 5));
        let matching = router.retained_matching("a", 5, 10);
        assert_eq!(&matching[0].payload[..], b"2");
    }
}
