//! Every bound of the broker, in one place.
//!
//! A bound that a client can push against has a name here; configuration may
//! lower (sometimes raise) it, defaulting to these values. Relations between
//! bounds are checked at compile time below.

/// The largest remaining length the variable byte integer can express (2.1.4).
pub const REMAINING_LENGTH_MAX: u32 = 268_435_455;

/// Default maximum packet size the broker accepts, bytes (fixed header included).
pub const MAXIMUM_PACKET_SIZE_DEFAULT: u32 = 1024 * 1024;

const _: () = assert!(MAXIMUM_PACKET_SIZE_DEFAULT <= REMAINING_LENGTH_MAX + 5);
