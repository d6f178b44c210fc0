//! The per-client session state machine.
