//! Which reason codes each packet may carry (the tables of section 3), and the
//! mapping between 3.1.1's CONNACK and SUBACK return codes and [`ReasonCode`].

use super::reason::ReasonCode;

/// CONNACK under 5.0 (3.2.2.2).
pub(crate) const CONNACK: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];

/// PUBACK and PUBREC (3.4.2.1, 3.5.2.1).
pub(crate) const PUBACK: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];

/// PUBREL and PUBCOMP (3.6.2.1, 3.7.2.1).
pub(crate) const PUBREL: &[u8] = &[0x00, 0x92];

/// SUBACK under 5.0 (3.9.3).
pub(crate) const SUBACK: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];

/// SUBACK under 3.1 and 3.1.1: the granted QoS or 0x80 Failure.
pub(crate) const SUBACK_V3: &[u8] = &[0x00, 0x01, 0x02, 0x80];

/// UNSUBACK (3.11.3).
pub(crate) const UNSUBACK: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];

/// DISCONNECT (3.14.2.1).
pub(crate) const DISCONNECT: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];

/// AUTH (3.15.2.1).
pub(crate) const AUTH: &[u8] = &[0x00, 0x18, 0x19];

/// The reason code for a 3.1/3.1.1 CONNACK return code (3.2.2.3 of 3.1.1).
pub(crate) fn connack_from_return_code(value: u8) -> Option<ReasonCode> {
    Some(match value {
        0 => ReasonCode::Success,
        1 => ReasonCode::UnsupportedProtocolVersion,
        2 => ReasonCode::ClientIdentifierNotValid,
        3 => ReasonCode::ServerUnavailable,
        4 => ReasonCode::BadUserNameOrPassword,
        5 => ReasonCode::NotAuthorized,
        _ => return None,
    })
}

/// The 3.1/3.1.1 CONNACK return code closest to a v5 reason code: the six
/// codes 3.1.1 knows map exactly, other refusals to the nearest of them.
/// `None` for codes that are not a CONNACK outcome.
pub(crate) fn connack_to_return_code(reason_code: ReasonCode) -> Option<u8> {
    use ReasonCode::*;
    Some(match reason_code {
        Success => 0,
        UnsupportedProtocolVersion => 1,
        ClientIdentifierNotValid => 2,
        BadUserNameOrPassword | BadAuthenticationMethod => 4,
        NotAuthorized | Banned => 5,
        code if code.is_error() => 3,
        _ => return None,
    })
}

/// The 3.1/3.1.1 SUBACK return code for a v5 reason code: granted QoS as is,
/// every failure as 0x80. `None` for codes that are neither.
pub(crate) fn suback_to_return_code(reason_code: ReasonCode) -> Option<u8> {
    match reason_code {
        ReasonCode::Success | ReasonCode::GrantedQos1 | ReasonCode::GrantedQos2 => {
            Some(reason_code.as_u8())
        }
        code if code.is_error() => Some(0x80),
        _ => None,
    }
}
