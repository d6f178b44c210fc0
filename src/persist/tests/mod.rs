//! Tests of the persistence formats.

mod journal;
mod live;
mod replay;
mod session;
mod snapshot;
mod strategies;
