//! The MQTT codec: every control packet of protocol levels 3, 4 and 5.
//!
//! - [`packet`]: the decoded packet types.
//! - [`properties`]: the v5 property sets, one per packet kind.
//! - [`reason`]: v5 reason codes.

pub mod packet;
pub mod properties;
pub mod reason;

pub use packet::*;
pub use properties::*;
pub use reason::ReasonCode;
