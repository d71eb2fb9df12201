//! PINGREQ, PINGRESP, DISCONNECT and AUTH.

use super::*;
use crate::protocol::packet::*;
use crate::protocol::{EncodeError, ReasonCode};

#[test]
fn ping_each_version() {
    for p in ALL {
        round_trip_exact(&Packet::PingReq, p, b"\xC0\x00");
        round_trip_exact(&Packet::PingResp, p, b"\xD0\x00");
    }
}

#[test]
fn disconnect_each_version() {
    let normal = Packet::Disconnect(Disconnect::default());
    for p in ALL {
        round_trip_exact(&normal, p, b"\xE0\x00");
    }
    let with_will =
        Disconnect { reason: ReasonCode::DisconnectWithWillMessage, properties: Default::default() };
    round_trip_exact(&Packet::Disconnect(with_will.clone()), V5, b"\xE0\x01\x04");
    // 3.x DISCONNECT is two bytes whatever the reason.
    assert_eq!(encode(&Packet::Disconnect(with_will), V3_1_1), b"\xE0\x00");
    let full = Disconnect {
        reason: ReasonCode::ServerMoved,
        properties: DisconnectProperties {
            session_expiry_interval: Some(0),
            reason_string: Some(s("moving")),
            user_properties: vec![(s("a"), s("b"))],
            server_reference: Some(s("elsewhere")),
        }
        .into(),
    };
    round_trip(&Packet::Disconnect(full), V5);
    let props_only = Disconnect {
        reason: ReasonCode::Success,
        properties: DisconnectProperties { session_expiry_interval: Some(9), ..Default::default() }.into(),
    };
    round_trip_exact(&Packet::Disconnect(props_only), V5, b"\xE0\x07\x00\x05\x11\x00\x00\x00\x09");
    // A reason code and an empty property section decode like the short forms.
    assert_eq!(decode(b"\xE0\x02\x00\x00", Some(V5)), Ok(normal));
}

// [MQTT-3.14.2-1]
#[test]
fn disconnect_violations() {
    let e = decode_err(b"\xE0\x01\x01", Some(V5));
    assert_eq!(e, DecodeError::InvalidReasonCode { packet_type: 14, code: 0x01 });
    assert_eq!(e.spec_ref(), Some("MQTT-3.14.2-1"));
    assert_eq!(
        decode_err(b"\xE0\x01\x84", Some(V5)),
        DecodeError::InvalidReasonCode { packet_type: 14, code: 0x84 }
    );
    for p in [V3_1, V3_1_1] {
        assert_eq!(decode_err(b"\xE0\x01\x00", Some(p)), DecodeError::TrailingBytes);
    }
    assert_eq!(
        decode_err(b"\xE0\x04\x00\x02\x17\x01", Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x17, packet_type: 14 }
    );
    assert_eq!(
        decode_err(b"\xE0\x0C\x00\x0A\x11\x00\x00\x00\x01\x11\x00\x00\x00\x01", Some(V5)),
        DecodeError::DuplicateProperty(0x11)
    );
    assert_eq!(decode_err(b"\xE0\x03\x00\x00\x00", Some(V5)), DecodeError::TrailingBytes);
}

#[test]
fn auth() {
    round_trip_exact(&Packet::Auth(Auth::default()), V5, b"\xF0\x00");
    let cont = Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(b"\x01")),
            reason_string: Some(s("more")),
            user_properties: vec![(s("k"), s("v"))],
        }
        .into(),
    };
    round_trip(&Packet::Auth(cont), V5);
    let bare = Auth { reason: ReasonCode::ReAuthenticate, properties: Default::default() };
    round_trip_exact(&Packet::Auth(bare.clone()), V5, b"\xF0\x02\x19\x00");
    // Without the property length.
    assert_eq!(decode(b"\xF0\x01\x19", Some(V5)), Ok(Packet::Auth(bare)));
}

// [MQTT-3.15.2-1]
#[test]
fn auth_violations() {
    assert_eq!(
        decode_err(b"\xF0\x01\x87", Some(V5)),
        DecodeError::InvalidReasonCode { packet_type: 15, code: 0x87 }
    );
    assert_eq!(decode_err(b"\xF0\x05\x18\x03\x16\x00\x00", Some(V5)), DecodeError::AuthDataWithoutMethod);
    assert_eq!(
        decode_err(b"\xF0\x04\x18\x02\x24\x01", Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x24, packet_type: 15 }
    );
    let mut out = bytes::BytesMut::new();
    for p in [V3_1, V3_1_1] {
        assert_eq!(
            encode_packet(&Packet::Auth(Auth::default()), p, &mut out),
            Err(EncodeError::NotInProtocol("AUTH"))
        );
    }
    assert!(out.is_empty());
}
