//! Unit tests of the session state machine, one file per concern, driven by a fake
//! clock: every `now_ms` is a value the test passes in.

mod acl;
mod alias;
mod connack_size;
mod connect;
mod delivery;
mod errors;
mod expiry;
mod inbound;
mod journal;
mod keep_alive;
mod memory;
mod never_panics;
mod outbound;
mod plain;
mod queue;
mod subscribe;
mod support;
mod topic_rules;
mod v5_rules;
mod violations;
mod will;
