//! Which reason codes each MQTT 5 packet type may carry (tables 3-1, 3-4, 3-5, 3-6, 3-7, 3-8,
//! 3-9, 3-10 and 3-11), and the MQTT 3.x SUBACK return codes.

use super::{AUTH, CONNACK, DISCONNECT, PUBACK, PUBCOMP, PUBREC, PUBREL, SUBACK, UNSUBACK};
use crate::protocol::error::DecodeError;
use crate::protocol::reason::ReasonCode;

/// The reason code values `packet_type` may carry in MQTT 5.
pub(super) fn allowed(packet_type: u8) -> &'static [u8] {
    match packet_type {
        CONNACK => &[
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
            0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
        ],
        PUBACK | PUBREC => &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
        PUBREL | PUBCOMP => &[0x00, 0x92],
        SUBACK => &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
        UNSUBACK => &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
        DISCONNECT => &[
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
            0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
        ],
        AUTH => &[0x00, 0x18, 0x19],
        _ => &[],
    }
}

/// Parses an MQTT 5 reason code that `packet_type` may carry.
pub(super) fn decode_v5(packet_type: u8, code: u8) -> Result<ReasonCode, DecodeError> {
    if allowed(packet_type).contains(&code) {
        if let Some(reason) = ReasonCode::from_code(code) {
            return Ok(reason);
        }
    }
    Err(DecodeError::InvalidReasonCode { packet_type, code })
}

/// Parses an MQTT 3.x SUBACK return code: 0x00, 0x01, 0x02 or 0x80 [MQTT-3.9.3-2].
pub(super) fn decode_v3_suback(code: u8) -> Result<ReasonCode, DecodeError> {
    match code {
        0x00 => Ok(ReasonCode::Success),
        0x01 => Ok(ReasonCode::GrantedQoS1),
        0x02 => Ok(ReasonCode::GrantedQoS2),
        0x80 => Ok(ReasonCode::UnspecifiedError),
        _ => Err(DecodeError::InvalidReasonCode { packet_type: SUBACK, code }),
    }
}

/// The MQTT 3.x SUBACK return code for a reason: a granted QoS, or 0x80 for anything else.
pub(super) fn encode_v3_suback(reason: ReasonCode) -> u8 {
    match reason {
        ReasonCode::Success => 0x00,
        ReasonCode::GrantedQoS1 => 0x01,
        ReasonCode::GrantedQoS2 => 0x02,
        _ => 0x80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_code_is_defined() {
        for packet_type in 1..=15 {
            for &code in allowed(packet_type) {
                assert_eq!(decode_v5(packet_type, code).map(ReasonCode::code), Ok(code));
            }
        }
    }

    #[test]
    fn v3_suback_codes() {
        for code in 0..=255u8 {
            match decode_v3_suback(code) {
                Ok(r) => assert_eq!(encode_v3_suback(r), code),
                Err(e) => {
                    assert_eq!(e, DecodeError::InvalidReasonCode { packet_type: SUBACK, code })
                }
            }
        }
        assert_eq!(encode_v3_suback(ReasonCode::NotAuthorized), 0x80);
        assert_eq!(encode_v3_suback(ReasonCode::TopicFilterInvalid), 0x80);
    }
}
