//! Round-robin selection within one share group: which shard gets a message,
//! then which of that shard's members.
//!
//! Every share group on every filter keeps its own pair of cursors, so a
//! publish matching several groups advances each group's cursors once and
//! groups never steal each other's turns.

use core::cell::Cell;

use crate::topic::ShardSet;

/// The round-robin cursors of one share group on one filter, on one shard's
/// replica of the trie.
///
/// A `$share/{group}/{filter}` message goes to one member of the group, in two
/// steps that each take their turn here:
/// - the shard the message is published on picks a shard among those with
///   members ([`ShareCursors::next_shard`]): its own when it has local members,
///   and the remote ones it was told of;
/// - the shard picked (the same one, or the one the message is forwarded to)
///   picks one of its local members ([`ShareCursors::next_member`]).
///
/// A group whose members all live on one shard therefore spreads over them
/// evenly (counts differ by at most one); one with members on several shards
/// alternates between the shards, then between each shard's members.
///
/// Interior mutability lets a match, which only borrows the trie, take the
/// turn; a shard's trie is used by that shard's thread alone. The cursors
/// start at the first shard and member, and are reset when the group is
/// dropped (its last local member and remote shard gone).
#[derive(Debug, Default)]
pub struct ShareCursors {
    /// The shard index to start the next search for a candidate from.
    shard: Cell<usize>,
    /// The position of the next local member to pick.
    member: Cell<usize>,
}

impl ShareCursors {
    /// Cursors at the first shard and the first member.
    pub const fn new() -> ShareCursors {
        ShareCursors {
            shard: Cell::new(0),
            member: Cell::new(0),
        }
    }

    /// Takes the group's next turn among `candidates`, the shards with members
    /// (this one included when it has local members): the first candidate
    /// after the one picked last time, wrapping around. `None`, with the
    /// cursor left alone, when there is no candidate.
    ///
    /// A shard joining or leaving the candidates takes or loses its place in
    /// the rotation without restarting it.
    pub fn next_shard(&self, candidates: &ShardSet) -> Option<usize> {
        let target = candidates.next_from(self.shard.get())?;
        self.shard.set(target + 1);
        Some(target)
    }

    /// Takes the group's next turn among its `len` local members: the position
    /// (below `len`) of the member to deliver to, one after the last pick,
    /// wrapping around to the first. `None`, with the cursor left alone, when
    /// `len` is zero.
    ///
    /// Positions are those of [`super::SharedMembers::get`]. A member that
    /// joins is appended and gets its turn in the current round; one that
    /// leaves moves the last member into its position, which may skip that
    /// member's turn once. Between such changes, picks cycle over every
    /// member in order.
    pub fn next_member(&self, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        let position = match self.member.get() {
            position if position < len => position,
            _ => 0,
        };
        self.member.set(position + 1);
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_shard_cycles_over_the_candidates_in_order() {
        let cursors = ShareCursors::new();
        let candidates: ShardSet = [1, 4, 6].into_iter().collect();
        let picks: Vec<Option<usize>> = (0..7).map(|_| cursors.next_shard(&candidates)).collect();
        let expected = [1, 4, 6, 1, 4, 6, 1].map(Some);
        assert_eq!(picks, expected);
    }

    #[test]
    fn next_shard_keeps_its_place_when_the_candidates_change() {
        let cursors = ShareCursors::new();
        let mut candidates: ShardSet = [0, 1].into_iter().collect();
        assert_eq!(cursors.next_shard(&candidates), Some(0));
        candidates.insert(2);
        assert_eq!(cursors.next_shard(&candidates), Some(1));
        assert_eq!(cursors.next_shard(&candidates), Some(2));
        candidates.remove(1);
        assert_eq!(cursors.next_shard(&candidates), Some(0));
        assert_eq!(cursors.next_shard(&candidates), Some(2));
        assert_eq!(cursors.next_shard(&ShardSet::new()), None);
        assert_eq!(cursors.next_shard(&candidates), Some(0));
    }

    #[test]
    fn next_member_cycles_over_every_position() {
        let cursors = ShareCursors::new();
        let picks: Vec<Option<usize>> = (0..7).map(|_| cursors.next_member(3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0].map(Some));
        assert_eq!(cursors.next_member(0), None);
        assert_eq!(cursors.next_member(3), Some(1));
    }

    #[test]
    fn next_member_follows_the_member_count_as_it_changes() {
        let cursors = ShareCursors::new();
        assert_eq!(cursors.next_member(2), Some(0));
        assert_eq!(cursors.next_member(2), Some(1));
        // A third member joined: its turn comes before the round restarts.
        assert_eq!(cursors.next_member(3), Some(2));
        assert_eq!(cursors.next_member(3), Some(0));
        assert_eq!(cursors.next_member(3), Some(1));
        // Down to one member: every pick is it.
        assert_eq!(cursors.next_member(1), Some(0));
        assert_eq!(cursors.next_member(1), Some(0));
    }

    #[test]
    fn cursors_of_different_groups_do_not_interfere() {
        let (one, two) = (ShareCursors::new(), ShareCursors::new());
        let mut counts = ([0usize; 3], [0usize; 2]);
        for _ in 0..30 {
            counts.0[one.next_member(3).expect("members")] += 1;
            counts.1[two.next_member(2).expect("members")] += 1;
        }
        assert_eq!(counts, ([10, 10, 10], [15, 15]));
    }
}
