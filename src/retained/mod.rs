//! Retained messages: the store every shard keeps a replica of, and the
//! order in which the replicas take updates.
//!
//! Every shard holds every retained message (the server broadcasts the
//! updates), so a SUBSCRIBE is answered from local memory. Messages are kept
//! in topic order: a filter's matches are found by scanning only the topics
//! that start with its levels before the first wildcard, and at most as many
//! as the subscriber can take are collected, so one SUBSCRIBE costs work in
//! proportion to what it can receive, not to the whole set
//! ([`RetainedStore::matching`]).
//!
//! The set is bounded in messages and in bytes (`max_retained_messages`,
//! `max_retained_bytes`). The shard a retained PUBLISH arrives on decides
//! against its replica ([`RetainedStore::retain`]) and only what it kept is
//! replicated; the others apply that decision as it comes
//! ([`RetainedStore::apply`]), so the replicas never disagree about a message
//! one of them refused. Publishers on two shards racing for the last room may
//! pass the bound by the few updates on their way between shards.
//!
//! Updates of one topic can be decided on two shards at once; each carries a
//! [`Stamp`] and every replica keeps the one with the latest, so the replicas
//! agree whatever order the updates reach them in (clears are remembered for
//! a while for the same reason).
//!
//! A message with a Message Expiry Interval is never sent once expired, and is
//! removed, with its payload, by [`RetainedStore::sweep_expired`], which the
//! server calls on its timer tick. An index ordered by expiry time holds
//! exactly the stored messages that expire, so a sweep looks only at what is
//! due, at most [`RETAINED_EXPIRIES_PER_TICK_MAX`] of them per call.
//!
//! - [`stamp`]: the order of the updates of one topic.
//! - [`store`]: the store, its bounds, its expiry and matching a filter
//!   against it.
//!
//! [`RETAINED_EXPIRIES_PER_TICK_MAX`]: crate::limits::RETAINED_EXPIRIES_PER_TICK_MAX

pub mod stamp;
pub mod store;

pub use stamp::Stamp;
pub use store::{RetainedStore, Update};

#[cfg(test)]
mod tests;
