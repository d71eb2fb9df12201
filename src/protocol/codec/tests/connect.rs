//! CONNECT and CONNACK.

use super::*;
use crate::protocol::packet::*;
use crate::protocol::ReasonCode;

fn connect(protocol: Protocol) -> Connect {
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: s("abc"),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A CONNECT with the given protocol header, flags and the bytes after keep alive.
fn raw_connect(header: &[u8], flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = header.to_vec();
    body.push(flags);
    body.extend_from_slice(&[0x00, 0x3C]);
    body.extend_from_slice(rest);
    frame(0x10, &body)
}

const V311: &[u8] = b"\x00\x04MQTT\x04";
const V31: &[u8] = b"\x00\x06MQIsdp\x03";
const V50: &[u8] = b"\x00\x04MQTT\x05";

#[test]
fn minimal_connect_each_version() {
    round_trip_exact(
        &Packet::Connect(Box::new(connect(V3_1_1))),
        V3_1_1,
        b"\x10\x0F\x00\x04MQTT\x04\x02\x00\x3C\x00\x03abc",
    );
    round_trip_exact(
        &Packet::Connect(Box::new(connect(V3_1))),
        V3_1,
        b"\x10\x11\x00\x06MQIsdp\x03\x02\x00\x3C\x00\x03abc",
    );
    round_trip_exact(
        &Packet::Connect(Box::new(connect(V5))),
        V5,
        b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3C\x00\x00\x03abc",
    );
}

#[test]
fn connect_uses_its_own_protocol_whatever_the_argument() {
    let packet = Packet::Connect(Box::new(connect(V5)));
    assert_eq!(encode(&packet, V3_1_1), encode(&packet, V5));
}

#[test]
fn full_connect_each_version() {
    for protocol in ALL {
        let mut c = connect(protocol);
        c.clean_start = false;
        c.client_id = s("");
        c.username = Some(s("user"));
        c.password = Some(b(b"\x00\xFFsecret"));
        c.will = Some(LastWill {
            topic: s("will/topic"),
            payload: b(b"gone"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: WillProperties::default(),
        });
        if protocol.is_v5() {
            c.properties = ConnectProperties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(10),
                maximum_packet_size: Some(65_536),
                topic_alias_maximum: Some(5),
                request_response_information: Some(true),
                request_problem_information: Some(false),
                user_properties: vec![(s("k"), s("v")), (s("k"), s("v2"))],
                authentication_method: Some(s("SCRAM")),
                authentication_data: Some(b(b"\x01\x02")),
            };
            if let Some(will) = &mut c.will {
                will.properties = WillProperties {
                    will_delay_interval: Some(5),
                    payload_format_indicator: Some(1),
                    message_expiry_interval: Some(60),
                    content_type: Some(s("text/plain")),
                    response_topic: Some(s("reply/here")),
                    correlation_data: Some(b(b"corr")),
                    user_properties: vec![(s("a"), s("b"))],
                };
            }
        }
        round_trip(&Packet::Connect(Box::new(c)), protocol);
    }
}

// [MQTT-3.1.2-1] [MQTT-3.1.2-2]: reported before the rest of the packet is looked at.
#[test]
fn unsupported_protocol_name_or_level() {
    let cases: &[(&[u8], u8)] = &[
        (b"\x00\x04MQTT\x06", 6),
        (b"\x00\x04MQTT\x03", 3),
        (b"\x00\x06MQIsdp\x04", 4),
        (b"\x00\x04HTTP\x04", 4),
        (b"\x00\x02\xFF\xFE\x05", 5),
    ];
    for &(header, level) in cases {
        // The flags byte 0xFF would be malformed: it must not be looked at.
        let e = decode_err(&raw_connect(header, 0xFF, b"\xFF"), None);
        assert_eq!(e, DecodeError::UnsupportedProtocolVersion(level));
        assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    }
    assert_eq!(decode_err(&frame(0x10, b"\x00\x04MQ"), None), DecodeError::Truncated);
}

// [MQTT-3.1.2-3]
#[test]
fn connect_reserved_flag() {
    for header in [V31, V311, V50] {
        let e = decode_err(&raw_connect(header, 0x03, b"\x00\x00\x00\x01a"), None);
        assert_eq!(e, DecodeError::ConnectReservedFlag);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

// [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-12]
#[test]
fn will_flags() {
    for header in [V31, V311, V50] {
        let rest = b"\x00\x00\x01a";
        assert_eq!(decode_err(&raw_connect(header, 0x08, rest), None), DecodeError::WillQosWithoutWill);
        assert_eq!(decode_err(&raw_connect(header, 0x10, rest), None), DecodeError::WillQosWithoutWill);
        assert_eq!(decode_err(&raw_connect(header, 0x20, rest), None), DecodeError::WillRetainWithoutWill);
        assert_eq!(decode_err(&raw_connect(header, 0x1C, rest), None), DecodeError::WillQos3);
    }
}

// [MQTT-3.1.2-22]: 3.x only; MQTT 5 allows a password without a user name.
#[test]
fn password_without_username() {
    for header in [V31, V311] {
        let e = decode_err(&raw_connect(header, 0x40, b"\x00\x01a\x00\x02pw"), None);
        assert_eq!(e, DecodeError::PasswordWithoutUsername);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
    let Packet::Connect(c) = decode(&raw_connect(V50, 0x40, b"\x00\x00\x01a\x00\x02pw"), None).unwrap()
    else {
        panic!("not a CONNECT")
    };
    assert_eq!((c.username, c.password), (None, Some(b(b"pw"))));
}

// [MQTT-1.5.4-1] [MQTT-1.5.4-2]
#[test]
fn client_id_must_be_a_valid_string() {
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b"\x00\x01\xC0"), None), DecodeError::InvalidUtf8);
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b"\x00\x02a\x00"), None), DecodeError::NullCharacter);
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b"\x00\x05a"), None), DecodeError::Truncated);
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b""), None), DecodeError::Truncated);
}

#[test]
fn will_topic_must_be_a_topic_name() {
    // [MQTT-3.3.2-2]
    let e = decode_err(&raw_connect(V311, 0x06, b"\x00\x01a\x00\x03a/#\x00\x00"), None);
    assert_eq!(e, DecodeError::TopicNameWildcard);
    assert_eq!(e.reason_code(), ReasonCode::TopicNameInvalid);
    // [MQTT-4.7.3-1]
    let e = decode_err(&raw_connect(V311, 0x06, b"\x00\x01a\x00\x00\x00\x00"), None);
    assert_eq!(e, DecodeError::EmptyTopicName);
}

#[test]
fn trailing_bytes_after_connect() {
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b"\x00\x01a\x00"), None), DecodeError::TrailingBytes);
    // A user name present without its flag is trailing bytes.
    assert_eq!(decode_err(&raw_connect(V311, 0x02, b"\x00\x01a\x00\x01u"), None), DecodeError::TrailingBytes);
}

/// A v5 CONNECT with `props` as its property section and client id "a".
fn v5_connect_with_props(props: &[u8]) -> Vec<u8> {
    let mut rest = vec![props.len() as u8];
    rest.extend_from_slice(props);
    rest.extend_from_slice(b"\x00\x01a");
    raw_connect(V50, 0x02, &rest)
}

#[test]
fn connect_property_violations() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02", DecodeError::DuplicateProperty(0x11)),
        (b"\x21\x00\x00", DecodeError::ZeroReceiveMaximum),
        (b"\x27\x00\x00\x00\x00", DecodeError::ZeroMaximumPacketSize),
        (b"\x05\x00", DecodeError::UnknownProperty(0x05)),
        (b"\x00", DecodeError::UnknownProperty(0x00)),
        (b"\x23\x00\x01", DecodeError::PropertyNotAllowed { id: 0x23, packet_type: 1 }),
        (b"\x1F\x00\x01x", DecodeError::PropertyNotAllowed { id: 0x1F, packet_type: 1 }),
        (b"\x17\x02", DecodeError::InvalidPropertyValue { id: 0x17 }),
        (b"\x19\x02", DecodeError::InvalidPropertyValue { id: 0x19 }),
        (b"\x16\x00\x01x", DecodeError::AuthDataWithoutMethod),
        (b"\x15\x00\x01x\x15\x00\x01y", DecodeError::DuplicateProperty(0x15)),
        (b"\x26\x00\x01k\x00\x02\xC3\x28", DecodeError::InvalidUtf8),
        (b"\x11\x00\x00", DecodeError::Truncated),
    ];
    for (props, expected) in cases {
        let e = decode_err(&v5_connect_with_props(props), None);
        assert_eq!(&e, expected, "{props:02x?}");
    }
    // Protocol errors and malformed packets as the specification classes them.
    let e = decode_err(&v5_connect_with_props(b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02"), None);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    let e = decode_err(&v5_connect_with_props(b"\x05\x00"), None);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn property_length_overrunning_the_packet() {
    let e = decode_err(&raw_connect(V50, 0x02, b"\x0A\x11\x00"), None);
    assert_eq!(e, DecodeError::PropertiesOverrun);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn will_property_violations() {
    let will = |props: &[u8]| {
        let mut rest = b"\x00\x00\x01a".to_vec();
        rest.push(props.len() as u8);
        rest.extend_from_slice(props);
        rest.extend_from_slice(b"\x00\x01t\x00\x00");
        raw_connect(V50, 0x06, &rest)
    };
    assert!(decode(&will(b"\x18\x00\x00\x00\x05"), None).is_ok());
    assert_eq!(decode_err(&will(b"\x01\x02"), None), DecodeError::InvalidPropertyValue { id: 0x01 });
    // [MQTT-3.3.2-14]
    assert_eq!(decode_err(&will(b"\x08\x00\x01+"), None), DecodeError::ResponseTopicWildcard);
    assert_eq!(
        decode_err(&will(b"\x11\x00\x00\x00\x01"), None),
        DecodeError::PropertyNotAllowed { id: 0x11, packet_type: 1 }
    );
    assert_eq!(
        decode_err(&will(b"\x02\x00\x00\x00\x01\x02\x00\x00\x00\x01"), None),
        DecodeError::DuplicateProperty(0x02)
    );
}

#[test]
fn connack_each_version() {
    let ok = ConnAck { session_present: false, reason: ReasonCode::Success, properties: Default::default() };
    round_trip_exact(&Packet::ConnAck(ok.clone()), V3_1_1, b"\x20\x02\x00\x00");
    round_trip_exact(&Packet::ConnAck(ok.clone()), V3_1, b"\x20\x02\x00\x00");
    round_trip_exact(&Packet::ConnAck(ok.clone()), V5, b"\x20\x03\x00\x00\x00");
    let resumed = ConnAck { session_present: true, ..ok.clone() };
    round_trip_exact(&Packet::ConnAck(resumed), V3_1_1, b"\x20\x02\x01\x00");
    for code in 1..=5u8 {
        let reason = ReasonCode::from_v3_connack_code(code).unwrap();
        let refused = ConnAck { reason, ..ok.clone() };
        round_trip_exact(&Packet::ConnAck(refused), V3_1_1, &[0x20, 0x02, 0x00, code]);
    }
    // 3.x return codes are the closest match of the reason.
    let banned = Packet::ConnAck(ConnAck { reason: ReasonCode::Banned, ..ok.clone() });
    assert_eq!(encode(&banned, V3_1_1), b"\x20\x02\x00\x05");
    let full = ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: ConnAckProperties {
            session_expiry_interval: Some(0),
            receive_maximum: Some(100),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(1 << 20),
            assigned_client_identifier: Some(s("auto-1")),
            topic_alias_maximum: Some(10),
            reason_string: Some(s("welcome")),
            user_properties: vec![(s("x"), s("y"))],
            wildcard_subscription_available: Some(true),
            subscription_identifiers_available: Some(true),
            shared_subscription_available: Some(false),
            server_keep_alive: Some(30),
            response_information: Some(s("resp/")),
            server_reference: Some(s("other:1883")),
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(b"data")),
        }
        .into(),
    };
    round_trip(&Packet::ConnAck(full), V5);
    let refused = ConnAck { reason: ReasonCode::QuotaExceeded, ..ok };
    round_trip(&Packet::ConnAck(refused), V5);
}

#[test]
fn connack_violations() {
    // [MQTT-3.2.2-1]
    assert_eq!(decode_err(b"\x20\x02\x02\x00", Some(V3_1_1)), DecodeError::ConnAckReservedFlags);
    assert_eq!(decode_err(b"\x20\x03\x80\x00\x00", Some(V5)), DecodeError::ConnAckReservedFlags);
    // [MQTT-3.2.2-8] and the 3.x return codes.
    assert_eq!(
        decode_err(b"\x20\x02\x00\x06", Some(V3_1_1)),
        DecodeError::InvalidReasonCode { packet_type: 2, code: 6 }
    );
    assert_eq!(
        decode_err(b"\x20\x03\x00\x10\x00", Some(V5)),
        DecodeError::InvalidReasonCode { packet_type: 2, code: 0x10 }
    );
    // [MQTT-3.2.2-6]
    assert_eq!(decode_err(b"\x20\x03\x01\x87\x00", Some(V5)), DecodeError::SessionPresentWithError);
    assert_eq!(decode_err(b"\x20\x02\x01\x05", Some(V3_1_1)), DecodeError::SessionPresentWithError);
    // The MQTT 5 property length is not optional in CONNACK.
    assert_eq!(decode_err(b"\x20\x02\x00\x00", Some(V5)), DecodeError::Truncated);
    assert_eq!(decode_err(b"\x20\x03\x00\x00\x00", Some(V3_1_1)), DecodeError::TrailingBytes);
    let props = |p: &[u8]| {
        let mut body = vec![0x00, 0x00, p.len() as u8];
        body.extend_from_slice(p);
        frame(0x20, &body)
    };
    assert_eq!(decode_err(&props(b"\x24\x02"), Some(V5)), DecodeError::InvalidPropertyValue { id: 0x24 });
    assert_eq!(decode_err(&props(b"\x25\x02"), Some(V5)), DecodeError::InvalidPropertyValue { id: 0x25 });
    assert_eq!(decode_err(&props(b"\x21\x00\x00"), Some(V5)), DecodeError::ZeroReceiveMaximum);
    assert_eq!(
        decode_err(&props(b"\x17\x01"), Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x17, packet_type: 2 }
    );
}
