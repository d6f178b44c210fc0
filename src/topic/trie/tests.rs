//! Behaviour of the subscription trie: the spec's matching rules, local and
//! remote bookkeeping, share groups, pruning, and agreement with
//! [`crate::topic::matches`] on random filters and topics.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::topic::{matches, ShardSet, TopicError};

type Trie = SubscriptionTrie<u64, u32>;

/// What one match reported, in a canonical order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Report {
    local: BTreeSet<(String, u64, u32)>,
    shared: BTreeSet<SharedReport>,
    remote_shards: Vec<usize>,
}

/// One share group as reported: filter, share name, remote shards, local members.
type SharedReport = (String, String, Vec<usize>, Vec<(u64, u32)>);

#[derive(Default)]
struct Collector {
    local: Vec<(String, u64, u32)>,
    shared: Vec<SharedReport>,
}

impl MatchVisitor<u64, u32> for Collector {
    fn local(&mut self, topic_filter: &str, key: &u64, value: &u32) {
        self.local.push((topic_filter.to_owned(), *key, *value));
    }

    fn shared(&mut self, group: SharedGroupMatch<'_, u64, u32>) {
        let mut members: Vec<(u64, u32)> = group
            .local_members
            .iter()
            .map(|(key, value)| (*key, *value))
            .collect();
        members.sort_unstable();
        self.shared.push((
            group.topic_filter.to_owned(),
            group.share_name.to_owned(),
            group.remote_shards.iter().collect(),
            members,
        ));
    }
}

fn report(trie: &Trie, topic_name: &str) -> Report {
    let mut collector = Collector::default();
    let remote_shards = trie.match_topic(topic_name, &mut collector);
    let local: BTreeSet<_> = collector.local.iter().cloned().collect();
    let shared: BTreeSet<_> = collector.shared.iter().cloned().collect();
    assert_eq!(
        local.len(),
        collector.local.len(),
        "a subscription was reported twice"
    );
    assert_eq!(
        shared.len(),
        collector.shared.len(),
        "a group was reported twice"
    );
    Report {
        local,
        shared,
        remote_shards: remote_shards.iter().collect(),
    }
}

fn matched_filters(trie: &Trie, topic_name: &str) -> BTreeSet<String> {
    report(trie, topic_name)
        .local
        .into_iter()
        .map(|(topic_filter, _, _)| topic_filter)
        .collect()
}

const SPEC_FILTERS: [&str; 16] = [
    "sport/tennis/player1/#",
    "sport/tennis/player1",
    "sport/tennis/+",
    "sport/#",
    "sport/+",
    "sport",
    "#",
    "+",
    "+/+",
    "/+",
    "+/tennis/#",
    "sport/+/player1",
    "$SYS/#",
    "$SYS/monitor/+",
    "+/monitor/Clients",
    "a//b",
];

const SPEC_TOPICS: [&str; 12] = [
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon",
    "sport",
    "sport/",
    "sport/tennis/player2",
    "/finance",
    "/",
    "$SYS/monitor/Clients",
    "$SYS",
    "a//b",
    "finance",
];

fn spec_trie() -> Trie {
    let mut trie = Trie::new();
    for (key, topic_filter) in SPEC_FILTERS.iter().enumerate() {
        trie.insert(topic_filter, key as u64, 0)
            .expect("valid filter");
    }
    trie
}

#[test]
fn spec_filters_match_the_topics_the_spec_says() {
    let trie = spec_trie();
    for topic_name in SPEC_TOPICS {
        let expected: BTreeSet<String> = SPEC_FILTERS
            .iter()
            .filter(|topic_filter| matches(topic_filter, topic_name))
            .map(|topic_filter| topic_filter.to_string())
            .collect();
        assert_eq!(
            matched_filters(&trie, topic_name),
            expected,
            "{topic_name:?}"
        );
    }
}

#[test]
fn multi_level_wildcard_matches_its_parent_level() {
    let trie = spec_trie();
    let matched = matched_filters(&trie, "sport");
    let expected = ["sport/#", "sport", "#", "+"];
    assert_eq!(matched, expected.iter().map(|f| f.to_string()).collect());
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let trie = spec_trie();
    let matched = matched_filters(&trie, "$SYS/monitor/Clients");
    let expected = ["$SYS/#", "$SYS/monitor/+"];
    assert_eq!(matched, expected.iter().map(|f| f.to_string()).collect());
}

#[test]
fn single_level_wildcard_matches_an_empty_level() {
    let trie = spec_trie();
    let matched = matched_filters(&trie, "/finance");
    let expected = ["#", "+/+", "/+"];
    assert_eq!(matched, expected.iter().map(|f| f.to_string()).collect());
}

#[test]
fn overlapping_subscriptions_of_one_subscriber_are_each_reported() {
    let mut trie = Trie::new();
    trie.insert("a/b", 1, 10).expect("valid");
    trie.insert("a/+", 1, 11).expect("valid");
    trie.insert("#", 1, 12).expect("valid");
    let local = report(&trie, "a/b").local;
    let expected: BTreeSet<_> = [("a/b", 1, 10), ("a/+", 1, 11), ("#", 1, 12)]
        .iter()
        .map(|&(topic_filter, key, value)| (topic_filter.to_owned(), key, value))
        .collect();
    assert_eq!(local, expected);
}

#[test]
fn insert_returns_the_previous_value_and_flags_the_first_local_subscription() {
    let mut trie = Trie::new();
    let first = trie.insert("a/+", 1, 10).expect("valid");
    assert_eq!(
        first,
        Inserted {
            previous: None,
            first_local: true
        }
    );
    let replaced = trie.insert("a/+", 1, 11).expect("valid");
    assert_eq!(
        replaced,
        Inserted {
            previous: Some(10),
            first_local: false
        }
    );
    let second = trie.insert("a/+", 2, 20).expect("valid");
    assert_eq!(
        second,
        Inserted {
            previous: None,
            first_local: false
        }
    );
    assert_eq!(trie.get("a/+", &1), Ok(Some(&11)));
    assert_eq!(trie.local_count(), 2);
    assert_eq!(trie.filter_count(), 1);
}

#[test]
fn remove_returns_the_value_and_flags_the_last_local_subscription() {
    let mut trie = Trie::new();
    trie.insert("a/#", 1, 10).expect("valid");
    trie.insert("a/#", 2, 20).expect("valid");
    let not_subscribed = trie.remove("a/#", &3).expect("valid");
    assert_eq!(
        not_subscribed,
        Removed {
            previous: None,
            last_local: false
        }
    );
    let unknown_filter = trie.remove("b/#", &1).expect("valid");
    assert_eq!(unknown_filter.previous, None);
    let first = trie.remove("a/#", &1).expect("valid");
    assert_eq!(
        first,
        Removed {
            previous: Some(10),
            last_local: false
        }
    );
    let last = trie.remove("a/#", &2).expect("valid");
    assert_eq!(
        last,
        Removed {
            previous: Some(20),
            last_local: true
        }
    );
    assert!(trie.is_empty());
}

#[test]
fn remote_shards_are_united_over_matching_filters() {
    let mut trie = Trie::new();
    assert_eq!(trie.add_remote("a/b", 1), Ok(true));
    assert_eq!(trie.add_remote("a/b", 1), Ok(false));
    trie.add_remote("a/+", 2).expect("valid");
    trie.add_remote("#", 3).expect("valid");
    trie.add_remote("b/#", 4).expect("valid");
    assert_eq!(report(&trie, "a/b").remote_shards, vec![1, 2, 3]);
    assert_eq!(report(&trie, "b").remote_shards, vec![3, 4]);
    assert_eq!(report(&trie, "$a/b").remote_shards, Vec::<usize>::new());
    assert_eq!(trie.remove_remote("a/+", 2), Ok(true));
    assert_eq!(trie.remove_remote("a/+", 2), Ok(false));
    assert_eq!(report(&trie, "a/b").remote_shards, vec![1, 3]);
}

#[test]
fn remote_shards_alone_keep_a_filter_and_do_not_count_as_local() {
    let mut trie = Trie::new();
    trie.add_remote("a/b", 5).expect("valid");
    trie.insert("a/b", 1, 10).expect("valid");
    let removed = trie.remove("a/b", &1).expect("valid");
    assert!(removed.last_local);
    assert_eq!(trie.filter_count(), 1);
    assert_eq!(report(&trie, "a/b").remote_shards, vec![5]);
    trie.remove_remote("a/b", 5).expect("valid");
    assert!(trie.is_empty());
    assert_eq!(trie.filter_count(), 0);
}

#[test]
fn share_groups_are_reported_apart_from_plain_subscriptions() {
    let mut trie = Trie::new();
    trie.insert("sport/+", 1, 10).expect("valid");
    let first = trie.insert("$share/g1/sport/+", 1, 11).expect("valid");
    assert!(first.first_local);
    let second = trie.insert("$share/g1/sport/+", 2, 21).expect("valid");
    assert!(!second.first_local);
    assert!(
        trie.insert("$share/g2/sport/#", 3, 31)
            .expect("valid")
            .first_local
    );
    trie.add_remote("$share/g1/sport/+", 7).expect("valid");
    trie.add_remote("$share/g3/sport/+", 8).expect("valid");
    let report = report(&trie, "sport/tennis");
    let expected_local: BTreeSet<_> = [("sport/+".to_owned(), 1, 10)].into_iter().collect();
    assert_eq!(report.local, expected_local);
    assert!(report.remote_shards.is_empty());
    let expected_shared: BTreeSet<SharedReport> = [
        ("sport/+", "g1", vec![7], vec![(1, 11), (2, 21)]),
        ("sport/+", "g3", vec![8], vec![]),
        ("sport/#", "g2", vec![], vec![(3, 31)]),
    ]
    .into_iter()
    .map(|(topic_filter, share_name, remote, members)| {
        (
            topic_filter.to_owned(),
            share_name.to_owned(),
            remote,
            members,
        )
    })
    .collect();
    assert_eq!(report.shared, expected_shared);
    assert_eq!(trie.get("$share/g1/sport/+", &2), Ok(Some(&21)));
    assert_eq!(trie.get("$share/g2/sport/+", &2), Ok(None));
}

#[test]
fn removing_the_last_group_member_flags_it_and_keeps_other_groups() {
    let mut trie = Trie::new();
    trie.insert("$share/g1/a", 1, 10).expect("valid");
    trie.insert("$share/g2/a", 1, 20).expect("valid");
    let removed = trie.remove("$share/g1/a", &1).expect("valid");
    assert_eq!(
        removed,
        Removed {
            previous: Some(10),
            last_local: true
        }
    );
    let shared = report(&trie, "a").shared;
    assert_eq!(shared.len(), 1);
    assert_eq!(
        shared.iter().next().map(|group| group.1.as_str()),
        Some("g2")
    );
    assert_eq!(
        trie.remove("$share/g1/a", &1).expect("valid").previous,
        None
    );
}

#[test]
fn removing_every_subscription_prunes_the_trie_to_its_root() {
    let mut trie = Trie::new();
    let filters: Vec<String> = (0..50)
        .flat_map(|site| {
            [
                format!("site/{site}/device/{}/temp", site * 7),
                format!("site/{site}/+/{}/#", site * 3),
                format!("$share/workers/site/{site}/#"),
            ]
        })
        .collect();
    for round in 0..3 {
        for (key, topic_filter) in filters.iter().enumerate() {
            trie.insert(topic_filter, key as u64, round).expect("valid");
            trie.add_remote(topic_filter, key % 4).expect("valid");
        }
        assert_eq!(trie.filter_count(), filters.len());
        assert!(trie.node_count() > filters.len());
        for (key, topic_filter) in filters.iter().enumerate() {
            trie.remove(topic_filter, &(key as u64)).expect("valid");
            trie.remove_remote(topic_filter, key % 4).expect("valid");
        }
        assert!(trie.is_empty());
        assert_eq!(trie.node_count(), 1);
        assert_eq!(trie.filter_count(), 0);
        assert_eq!(trie.local_count(), 0);
    }
}

#[test]
fn many_children_on_one_level_are_found_before_and_after_shrinking() {
    let mut trie = Trie::new();
    for device in 0..40u64 {
        trie.insert(&format!("d/{device}"), device, device as u32)
            .expect("valid");
    }
    for device in 0..40u64 {
        let local = report(&trie, &format!("d/{device}")).local;
        assert_eq!(local.len(), 1, "device {device}");
    }
    for device in 1..40u64 {
        trie.remove(&format!("d/{device}"), &device).expect("valid");
    }
    assert_eq!(report(&trie, "d/0").local.len(), 1);
    assert_eq!(report(&trie, "d/1").local.len(), 0);
    assert_eq!(trie.node_count(), 3);
}

#[test]
fn invalid_filters_are_refused_without_changing_the_trie() {
    let mut trie = Trie::new();
    assert_eq!(
        trie.insert("a/#/b", 1, 1),
        Err(TopicError::MultiLevelWildcardMisplaced)
    );
    assert_eq!(
        trie.add_remote("$share//a", 1),
        Err(TopicError::ShareNameEmpty)
    );
    assert!(trie.remove("", &1).is_err());
    assert!(trie.remove_remote("a+", 1).is_err());
    assert!(trie.get("$share/g", &1).is_err());
    assert!(trie.is_empty());
}

#[test]
fn filters_as_deep_as_the_hard_bound_are_held_matched_and_pruned() {
    // Half the 2 MiB of a shard thread: the recursion at the hard bound
    // leaves the shard's own work most of its stack.
    std::thread::Builder::new()
        .stack_size(STACK_BYTES_FOR_TEST)
        .spawn(deep_filters_round_trip)
        .expect("a test thread")
        .join()
        .expect("no overflow, no failed assertion");
}

const STACK_BYTES_FOR_TEST: usize = 1024 * 1024;

fn deep_filters_round_trip() {
    use crate::limits::TOPIC_LEVELS_MAX;
    use crate::topic::TopicKind;

    let deepest_topic = vec!["a"; TOPIC_LEVELS_MAX].join("/");
    let filters = [
        deepest_topic.clone(),
        vec!["+"; TOPIC_LEVELS_MAX].join("/"),
        format!("{}/#", vec!["a"; TOPIC_LEVELS_MAX - 1].join("/")),
        format!("$share/g/{deepest_topic}"),
    ];
    let mut trie = Trie::new();
    for (key, topic_filter) in filters.iter().enumerate() {
        trie.insert(topic_filter, key as u64, 0)
            .expect("within the bound");
    }
    let matched = report(&trie, &deepest_topic);
    assert_eq!(matched.local.len(), 3);
    assert_eq!(matched.shared.len(), 1);
    let too_deep = format!("{deepest_topic}/a");
    assert_eq!(
        trie.insert(&too_deep, 9, 0),
        Err(TopicError::TooManyLevels {
            kind: TopicKind::Filter,
            levels_max: TOPIC_LEVELS_MAX
        })
    );
    assert!(report(&trie, &too_deep).local.len() == 1, "only `a/.../#`");
    for (key, topic_filter) in filters.iter().enumerate() {
        trie.remove(topic_filter, &(key as u64))
            .expect("within the bound");
    }
    assert!(trie.is_empty());
}

#[test]
fn matching_an_unvalidated_topic_does_not_panic() {
    let trie = spec_trie();
    for topic_name in ["", "+", "#", "a/+/#", "\0", "//////"] {
        report(&trie, topic_name);
    }
    let deep = "a/".repeat(100_000);
    report(&trie, &deep);
}

/// The plain filters and share groups a test put in the trie, with what they hold.
#[derive(Default)]
struct Model {
    entries: BTreeMap<(Option<String>, String), ModelEntry>,
}

#[derive(Default)]
struct ModelEntry {
    local: BTreeMap<u64, u32>,
    remote_shards: BTreeSet<usize>,
}

impl Model {
    fn expected(&self, topic_name: &str) -> Report {
        let mut expected = Report::default();
        let mut remote_shards = ShardSet::new();
        for ((share_group, topic_filter), entry) in &self.entries {
            if !matches(topic_filter, topic_name) {
                continue;
            }
            match share_group {
                None => {
                    for (&key, &value) in &entry.local {
                        expected.local.insert((topic_filter.clone(), key, value));
                    }
                    remote_shards.union_with(&entry.remote_shards.iter().copied().collect());
                }
                Some(_) if entry.local.is_empty() && entry.remote_shards.is_empty() => {}
                Some(share_name) => {
                    expected.shared.insert((
                        topic_filter.clone(),
                        share_name.clone(),
                        entry.remote_shards.iter().copied().collect(),
                        entry
                            .local
                            .iter()
                            .map(|(&key, &value)| (key, value))
                            .collect(),
                    ));
                }
            }
        }
        expected.remote_shards = remote_shards.iter().collect();
        expected
    }
}

/// One subscription a property test applies: filter, group, key, value, and
/// a remote shard to record on the same filter.
type Operation = (String, Option<String>, u64, u32, Option<usize>);

fn topic_level() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just(""), Just("$s")].prop_map(String::from)
}

fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(topic_level(), 1..5).prop_map(|levels| levels.join("/"))
}

fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => topic_level(), 1 => Just("+".to_owned())];
    (prop::collection::vec(level, 0..4), any::<bool>()).prop_map(|(mut levels, multi_level)| {
        if multi_level || levels.is_empty() {
            levels.push("#".to_owned());
        }
        let topic_filter = levels.join("/");
        if topic_filter.is_empty() {
            "#".to_owned()
        } else {
            topic_filter
        }
    })
}

fn operation() -> impl Strategy<Value = Operation> {
    (
        topic_filter(),
        prop::option::weighted(0.3, prop_oneof![Just("g1"), Just("g2")]),
        0..4u64,
        any::<u32>(),
        prop::option::of(0..6usize),
    )
        .prop_map(|(topic_filter, share_group, key, value, remote)| {
            (
                topic_filter,
                share_group.map(String::from),
                key,
                value,
                remote,
            )
        })
}

fn raw_filter(topic_filter: &str, share_group: &Option<String>) -> String {
    match share_group {
        Some(share_name) => format!("$share/{share_name}/{topic_filter}"),
        None => topic_filter.to_owned(),
    }
}

fn apply(trie: &mut Trie, model: &mut Model, operations: &[Operation]) {
    for (topic_filter, share_group, key, value, remote) in operations {
        let raw = raw_filter(topic_filter, share_group);
        let entry = model
            .entries
            .entry((share_group.clone(), topic_filter.clone()))
            .or_default();
        let inserted = trie
            .insert(&raw, *key, *value)
            .expect("generated filters are valid");
        assert_eq!(inserted.previous, entry.local.insert(*key, *value));
        if let Some(shard) = remote {
            trie.add_remote(&raw, *shard).expect("valid");
            entry.remote_shards.insert(*shard);
        }
    }
}

proptest! {
    #[test]
    fn match_topic_agrees_with_matching_every_filter(
        operations in prop::collection::vec(operation(), 0..40),
        removed in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        topic_names in prop::collection::vec(topic_name(), 1..10),
    ) {
        let mut trie = Trie::new();
        let mut model = Model::default();
        apply(&mut trie, &mut model, &operations);
        for topic_name in &topic_names {
            prop_assert_eq!(report(&trie, topic_name), model.expected(topic_name));
        }
        if operations.is_empty() {
            return Ok(());
        }
        for index in &removed {
            let (topic_filter, share_group, key, _, remote) = index.get(&operations);
            let raw = raw_filter(topic_filter, share_group);
            let entry = model
                .entries
                .get_mut(&(share_group.clone(), topic_filter.clone()))
                .expect("every operation has a model entry");
            let removed = trie.remove(&raw, key).expect("valid");
            prop_assert_eq!(removed.previous, entry.local.remove(key));
            if let Some(shard) = remote {
                trie.remove_remote(&raw, *shard).expect("valid");
                entry.remote_shards.remove(shard);
            }
        }
        for topic_name in &topic_names {
            prop_assert_eq!(report(&trie, topic_name), model.expected(topic_name));
        }
    }

    #[test]
    fn removing_everything_in_any_order_leaves_only_the_root(
        operations in prop::collection::vec(operation(), 0..40),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let mut trie = Trie::new();
        let mut model = Model::default();
        apply(&mut trie, &mut model, &operations);
        let mut subscriptions: Vec<(String, u64, Option<usize>)> = operations
            .iter()
            .map(|(topic_filter, share_group, key, _, remote)| {
                (raw_filter(topic_filter, share_group), *key, *remote)
            })
            .collect();
        let rotation = (order as usize) % subscriptions.len().max(1);
        subscriptions.rotate_left(rotation);
        for (raw, key, remote) in &subscriptions {
            trie.remove(raw, key).expect("valid");
            if let Some(shard) = remote {
                trie.remove_remote(raw, *shard).expect("valid");
            }
        }
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.node_count(), 1);
        prop_assert_eq!(trie.filter_count(), 0);
        prop_assert_eq!(trie.local_count(), 0);
    }
}

/// Where one match sent a share group's message: a local member, or a remote
/// shard (which then picks one of its members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pick {
    Member(u64),
    Shard(usize),
}

/// Takes every matching share group's turn as the publishing shard 0 does,
/// delivering locally when it picks itself, and counts the picks per group
/// (share name and filter).
#[derive(Default)]
struct Picker {
    picks: BTreeMap<(String, String), BTreeMap<Pick, usize>>,
}

const THIS_SHARD: usize = 0;

impl MatchVisitor<u64, u32> for Picker {
    fn local(&mut self, _topic_filter: &str, _key: &u64, _value: &u32) {}

    fn shared(&mut self, group: SharedGroupMatch<'_, u64, u32>) {
        let target = group
            .pick_shard(THIS_SHARD)
            .expect("a reported group has members somewhere");
        let pick = if target == THIS_SHARD {
            let (key, _) = group
                .pick_member()
                .expect("the shard picked itself: it has members");
            Pick::Member(*key)
        } else {
            Pick::Shard(target)
        };
        let group_key = (group.share_name.to_owned(), group.topic_filter.to_owned());
        *self
            .picks
            .entry(group_key)
            .or_default()
            .entry(pick)
            .or_default() += 1;
    }
}

impl Picker {
    /// The picks of `share_name` on `topic_filter`, in [`Pick`] order.
    fn of(&self, share_name: &str, topic_filter: &str) -> Vec<(Pick, usize)> {
        self.picks
            .get(&(share_name.to_owned(), topic_filter.to_owned()))
            .map(|picks| picks.iter().map(|(&pick, &count)| (pick, count)).collect())
            .unwrap_or_default()
    }
}

/// True when `counts` (of one group's members, or of its shards) differ by
/// at most one: the group spread evenly.
fn even(counts: impl IntoIterator<Item = usize>) -> bool {
    let counts: Vec<usize> = counts.into_iter().collect();
    match (counts.iter().min(), counts.iter().max()) {
        (Some(min), Some(max)) => max - min <= 1,
        _ => true,
    }
}

#[test]
fn two_groups_on_one_filter_each_spread_over_their_own_members() {
    // The fairness issue: `$share/one/t` on a, b, c and `$share/two/t` on d,
    // e; each publish to `t` matches both and must not take the other's turn.
    let mut trie = Trie::new();
    for key in 1..=3 {
        trie.insert("$share/one/t", key, 0).expect("valid");
    }
    for key in 4..=5 {
        trie.insert("$share/two/t", key, 0).expect("valid");
    }
    let mut picker = Picker::default();
    for _ in 0..30 {
        trie.match_topic("t", &mut picker);
    }
    let one = [
        (Pick::Member(1), 10),
        (Pick::Member(2), 10),
        (Pick::Member(3), 10),
    ];
    assert_eq!(picker.of("one", "t"), one);
    assert_eq!(
        picker.of("two", "t"),
        [(Pick::Member(4), 15), (Pick::Member(5), 15)]
    );
}

#[test]
fn a_group_with_remote_members_alternates_shards_apart_from_other_groups() {
    let mut trie = Trie::new();
    trie.insert("$share/one/t", 1, 0).expect("valid");
    trie.insert("$share/one/t", 2, 0).expect("valid");
    trie.add_remote("$share/one/t", 3).expect("valid");
    trie.insert("$share/two/t", 4, 0).expect("valid");
    trie.add_remote("$share/two/t", 3).expect("valid");
    trie.add_remote("$share/two/t", 5).expect("valid");
    let mut picker = Picker::default();
    for _ in 0..12 {
        trie.match_topic("t", &mut picker);
    }
    // `one`: shards 0 and 3 in turn, shard 0's turns over members 1 and 2.
    let one = [
        (Pick::Member(1), 3),
        (Pick::Member(2), 3),
        (Pick::Shard(3), 6),
    ];
    assert_eq!(picker.of("one", "t"), one);
    // `two`: shards 0, 3 and 5 in turn.
    let two = [
        (Pick::Member(4), 4),
        (Pick::Shard(3), 4),
        (Pick::Shard(5), 4),
    ];
    assert_eq!(picker.of("two", "t"), two);
}

#[test]
fn three_groups_on_overlapping_filters_each_spread_evenly() {
    let mut trie = Trie::new();
    for key in 1..=4 {
        trie.insert("$share/g1/t/#", key, 0).expect("valid");
    }
    for key in 11..=13 {
        trie.insert("$share/g2/t/+", key, 0).expect("valid");
    }
    for key in 21..=22 {
        trie.insert("$share/g3/t/x", key, 0).expect("valid");
    }
    let mut picker = Picker::default();
    // 24 rounds: g1 matches all 4 topics (96), g2 `t/x` and `t/y` (48), g3
    // `t/x` (24).
    for _ in 0..24 {
        for topic_name in ["t/x", "t/y", "t/y/z", "t"] {
            trie.match_topic(topic_name, &mut picker);
        }
    }
    let members = |keys: core::ops::RangeInclusive<u64>, count: usize| -> Vec<(Pick, usize)> {
        keys.map(|key| (Pick::Member(key), count)).collect()
    };
    assert_eq!(picker.of("g1", "t/#"), members(1..=4, 24));
    assert_eq!(picker.of("g2", "t/+"), members(11..=13, 16));
    assert_eq!(picker.of("g3", "t/x"), members(21..=22, 12));
}

#[test]
fn member_turns_stay_in_range_as_members_leave_and_join() {
    let mut trie = Trie::new();
    for key in 1..=3 {
        trie.insert("$share/g/t", key, 0).expect("valid");
    }
    let mut picker = Picker::default();
    for _ in 0..2 {
        trie.match_topic("t", &mut picker);
    }
    // The member cursor, at position 2, is past the last member once two leave.
    trie.remove("$share/g/t", &3).expect("valid");
    trie.remove("$share/g/t", &2).expect("valid");
    let mut picker = Picker::default();
    for _ in 0..3 {
        trie.match_topic("t", &mut picker);
    }
    assert_eq!(picker.of("g", "t"), [(Pick::Member(1), 3)]);
    trie.insert("$share/g/t", 4, 0).expect("valid");
    trie.insert("$share/g/t", 5, 0).expect("valid");
    let mut picker = Picker::default();
    for _ in 0..9 {
        trie.match_topic("t", &mut picker);
    }
    let expected = [
        (Pick::Member(1), 3),
        (Pick::Member(4), 3),
        (Pick::Member(5), 3),
    ];
    assert_eq!(picker.of("g", "t"), expected);
}

proptest! {
    #[test]
    fn each_group_spreads_evenly_whatever_the_other_groups_match(
        topic_names in prop::collection::vec(
            prop::sample::select(vec!["t", "t/x", "t/y", "t/y/z", "t/x/y", "u", "t/z"]),
            0..200,
        ),
    ) {
        // Three groups on overlapping filters, one with members on remote
        // shards too, and a plain subscription beside them.
        let mut trie = Trie::new();
        for key in 1..=4 {
            trie.insert("$share/g1/t/#", key, 0).expect("valid");
        }
        for key in 11..=13 {
            trie.insert("$share/g2/t/+", key, 0).expect("valid");
        }
        trie.add_remote("$share/g2/t/+", 2).expect("valid");
        trie.add_remote("$share/g2/t/+", 7).expect("valid");
        for key in 21..=22 {
            trie.insert("$share/g3/t/x", key, 0).expect("valid");
        }
        trie.insert("t/x", 31, 0).expect("valid");
        let mut picker = Picker::default();
        for topic_name in &topic_names {
            trie.match_topic(topic_name, &mut picker);
        }
        let groups = [("g1", "t/#", 4, 1), ("g2", "t/+", 3, 3), ("g3", "t/x", 2, 1)];
        for (share_name, topic_filter, member_count, shard_count) in groups {
            let matched = topic_names
                .iter()
                .filter(|topic_name| matches(topic_filter, topic_name))
                .count();
            let picks = picker.of(share_name, topic_filter);
            prop_assert_eq!(picks.iter().map(|(_, count)| count).sum::<usize>(), matched);
            let members: Vec<usize> = picks
                .iter()
                .filter(|(pick, _)| matches!(pick, Pick::Member(_)))
                .map(|(_, count)| *count)
                .collect();
            let local = members.iter().sum::<usize>();
            let remote: Vec<usize> = picks
                .iter()
                .filter(|(pick, _)| matches!(pick, Pick::Shard(_)))
                .map(|(_, count)| *count)
                .collect();
            if matched >= member_count * shard_count {
                // Every member and shard had a turn.
                prop_assert_eq!(members.len(), member_count, "{:?}", picks);
                prop_assert_eq!(remote.len(), shard_count - 1, "{:?}", picks);
            }
            prop_assert!(even(members.iter().copied()), "{} members: {:?}", share_name, picks);
            let shards = remote.iter().copied().chain((local > 0).then_some(local));
            prop_assert!(even(shards), "{} shards: {:?}", share_name, picks);
        }
    }
}
