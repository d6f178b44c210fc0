//! One level of the subscription trie: its children by level label (a few
//! inline, a hash map beyond), its `+` and `#` children, and the entry of the
//! filter that ends here.

use std::collections::HashMap;

use ahash::RandomState;
use smallvec::SmallVec;

use super::entry::{shrink_if_sparse, FilterEntry};

/// Children kept in a short inline list before moving to a map. Most nodes
/// of a large trie are leaves or have one child, and every node pays for the
/// inline room (24 bytes a slot), so it is kept to two; a linear scan of two
/// labels beats hashing the level.
const CHILDREN_INLINE: usize = 2;

/// A map that has shrunk to this many children goes back inline. Below
/// [`CHILDREN_INLINE`], so one subscribe/unsubscribe at the border does not
/// convert back and forth.
const CHILDREN_BACK_INLINE: usize = CHILDREN_INLINE / 2;

/// A node: one level of one or more filters.
pub(super) struct Node<K, V> {
    pub(super) children: Children<K, V>,
    /// The child for a `+` level.
    pub(super) single_level: Option<Box<Node<K, V>>>,
    /// The child for a `#` level, always a leaf.
    pub(super) multi_level: Option<Box<Node<K, V>>>,
    /// The subscriptions on the filter that ends at this node.
    pub(super) entry: Option<Box<FilterEntry<K, V>>>,
}

/// A child and the level label leading to it.
type LabelledChild<K, V> = (Box<str>, Box<Node<K, V>>);

/// Children by exact level label.
pub(super) enum Children<K, V> {
    Inline(SmallVec<[LabelledChild<K, V>; CHILDREN_INLINE]>),
    Map(HashMap<Box<str>, Box<Node<K, V>>, RandomState>),
}

/// The slot a level of a filter occupies under its parent.
enum Slot<'a> {
    SingleLevel,
    MultiLevel,
    Label(&'a str),
}

impl<'a> Slot<'a> {
    fn of(level: &'a str) -> Slot<'a> {
        match level {
            "+" => Slot::SingleLevel,
            "#" => Slot::MultiLevel,
            label => Slot::Label(label),
        }
    }
}

impl<K, V> Node<K, V> {
    pub(super) fn new() -> Node<K, V> {
        Node {
            children: Children::Inline(SmallVec::new()),
            single_level: None,
            multi_level: None,
            entry: None,
        }
    }

    /// True when the node holds nothing and can be pruned.
    pub(super) fn is_empty(&self) -> bool {
        self.entry.is_none()
            && self.single_level.is_none()
            && self.multi_level.is_none()
            && self.children.is_empty()
    }

    /// The child for a filter level (`+`, `#` or a label), if there is one.
    pub(super) fn child_mut(&mut self, level: &str) -> Option<&mut Node<K, V>> {
        match Slot::of(level) {
            Slot::SingleLevel => self.single_level.as_deref_mut(),
            Slot::MultiLevel => self.multi_level.as_deref_mut(),
            Slot::Label(label) => self.children.get_mut(label),
        }
    }

    /// The child for a filter level, created empty when absent.
    pub(super) fn child_or_insert(
        &mut self,
        level: &str,
        label_hasher: &RandomState,
    ) -> &mut Node<K, V> {
        match Slot::of(level) {
            Slot::SingleLevel => self
                .single_level
                .get_or_insert_with(|| Box::new(Node::new())),
            Slot::MultiLevel => self
                .multi_level
                .get_or_insert_with(|| Box::new(Node::new())),
            Slot::Label(label) => self.children.get_or_insert(label, label_hasher),
        }
    }

    /// Drops the child for a filter level.
    pub(super) fn remove_child(&mut self, level: &str) {
        match Slot::of(level) {
            Slot::SingleLevel => self.single_level = None,
            Slot::MultiLevel => self.multi_level = None,
            Slot::Label(label) => self.children.remove(label),
        }
    }
}

impl<K, V> Children<K, V> {
    /// The child labelled `label`: what a match looks up for every level.
    #[inline]
    pub(super) fn get(&self, label: &str) -> Option<&Node<K, V>> {
        match self {
            Children::Inline(children) => children
                .iter()
                .find(|(child_label, _)| **child_label == *label)
                .map(|(_, child)| &**child),
            Children::Map(children) => children.get(label).map(|child| &**child),
        }
    }

    fn get_mut(&mut self, label: &str) -> Option<&mut Node<K, V>> {
        match self {
            Children::Inline(children) => children
                .iter_mut()
                .find(|(child_label, _)| **child_label == *label)
                .map(|(_, child)| &mut **child),
            Children::Map(children) => children.get_mut(label).map(|child| &mut **child),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Inline(children) => children.is_empty(),
            Children::Map(children) => children.is_empty(),
        }
    }

    fn get_or_insert(&mut self, label: &str, label_hasher: &RandomState) -> &mut Node<K, V> {
        if let Children::Inline(children) = self {
            if children.len() == CHILDREN_INLINE
                && !children
                    .iter()
                    .any(|(child_label, _)| **child_label == *label)
            {
                let mut map =
                    HashMap::with_capacity_and_hasher(CHILDREN_INLINE * 2, label_hasher.clone());
                map.extend(children.drain(..));
                *self = Children::Map(map);
            }
        }
        match self {
            Children::Inline(children) => {
                let position = match children
                    .iter()
                    .position(|(child_label, _)| **child_label == *label)
                {
                    Some(position) => position,
                    None => {
                        children.push((label.into(), Box::new(Node::new())));
                        children.len() - 1
                    }
                };
                &mut children[position].1
            }
            Children::Map(children) => {
                if !children.contains_key(label) {
                    children.insert(label.into(), Box::new(Node::new()));
                }
                children
                    .get_mut(label)
                    .expect("the child was inserted above")
            }
        }
    }

    fn remove(&mut self, label: &str) {
        match self {
            Children::Inline(children) => {
                children.retain(|(child_label, _)| **child_label != *label);
            }
            Children::Map(children) => {
                children.remove(label);
                if children.len() <= CHILDREN_BACK_INLINE {
                    *self = Children::Inline(children.drain().collect());
                } else {
                    shrink_if_sparse(children);
                }
            }
        }
    }

    /// Every child, for walks over the whole trie.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Node<K, V>)> {
        let (inline, map) = match self {
            Children::Inline(children) => (Some(children.iter()), None),
            Children::Map(children) => (None, Some(children.iter())),
        };
        inline
            .into_iter()
            .flatten()
            .map(|(label, child)| (&**label, &**child))
            .chain(
                map.into_iter()
                    .flatten()
                    .map(|(label, child)| (&**label, &**child)),
            )
    }
}
