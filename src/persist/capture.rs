//! A sessions snapshot encoded straight from the live sessions, one record at a
//! time.
//!
//! [`encode_snapshot`](super::encode_snapshot) archives a `Vec<SessionSnapshot>`,
//! so every session, queued message included, exists as an owned record beside
//! the live state and the archive while it runs: with 100,000 sessions holding
//! 10 messages each, hundreds of megabytes. Here the archive's root vector is
//! serialized from an iterator that makes each session's record when rkyv asks for
//! it and drops it right after (rkyv asks twice: once to write what the record
//! points to, once to write the record itself), so a shard holds one record at a
//! time. The bytes are the same as `encode_snapshot` of the same records.

use rkyv::rancor::Fallible;
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize};

use super::schema::{ArchivedSessionSnapshot, SessionSnapshot};
use crate::session::Session;

/// Live sessions archived as the `Vec<SessionSnapshot>` they would convert to.
pub(super) struct LiveSessions<'a> {
    /// The sessions, in the order they are written.
    pub(super) sessions: &'a [Session],
    /// The sessions' clock at the capture.
    pub(super) now_ms: u64,
    /// The wall clock at the capture.
    pub(super) wall_clock_ms: u64,
}

impl Archive for LiveSessions<'_> {
    type Archived = ArchivedVec<ArchivedSessionSnapshot>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: VecResolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(self.sessions.len(), resolver, out);
    }
}

impl<S> Serialize<S> for LiveSessions<'_>
where
    S: Fallible + Allocator + Writer + ?Sized,
    SessionSnapshot: Serialize<S, Archived = ArchivedSessionSnapshot>,
{
    fn serialize(&self, serializer: &mut S) -> Result<VecResolver, S::Error> {
        let (now_ms, wall_clock_ms) = (self.now_ms, self.wall_clock_ms);
        let records = self
            .sessions
            .iter()
            .map(move |session| session.to_snapshot(now_ms, wall_clock_ms));
        ArchivedVec::serialize_from_iter::<SessionSnapshot, _, _>(records, serializer)
    }
}
