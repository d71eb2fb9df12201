//! PUBLISH, PUBACK, PUBREC, PUBREL and PUBCOMP.

use super::*;
use crate::protocol::packet::*;
use crate::protocol::ReasonCode;

fn publish(qos: QoS, packet_id: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: s("a/b"),
        packet_id,
        payload: b(b"hi"),
        properties: Default::default(),
    }
}

#[test]
fn publish_each_qos_and_version() {
    round_trip_exact(&Packet::Publish(publish(QoS::AtMostOnce, None)), V3_1_1, b"\x30\x07\x00\x03a/bhi");
    round_trip_exact(&Packet::Publish(publish(QoS::AtMostOnce, None)), V5, b"\x30\x08\x00\x03a/b\x00hi");
    let mut p = publish(QoS::AtLeastOnce, Some(10));
    p.retain = true;
    round_trip_exact(&Packet::Publish(p.clone()), V3_1, b"\x33\x09\x00\x03a/b\x00\x0Ahi");
    p.dup = true;
    p.qos = QoS::ExactlyOnce;
    round_trip_exact(&Packet::Publish(p), V5, b"\x3D\x0A\x00\x03a/b\x00\x0A\x00hi");
    // An empty payload.
    let mut p = publish(QoS::AtMostOnce, None);
    p.payload = Bytes::new();
    round_trip_exact(&Packet::Publish(p), V3_1_1, b"\x30\x05\x00\x03a/b");
}

#[test]
fn publish_with_all_properties() {
    let mut p = publish(QoS::AtLeastOnce, Some(1));
    p.properties = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(3600),
        topic_alias: Some(3),
        response_topic: Some(s("reply/to")),
        correlation_data: Some(b(b"\x00\x01")),
        user_properties: vec![(s("u"), s("1")), (s("u"), s("2"))],
        subscription_identifiers: vec![1, 268_435_455, 128],
        content_type: Some(s("application/json")),
    }
    .into();
    round_trip(&Packet::Publish(p), V5);
}

#[test]
fn publish_payload_and_strings_are_zero_copy() {
    let bytes = encode(&Packet::Publish(publish(QoS::AtMostOnce, None)), V3_1_1);
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = decode_packet(&mut buf, Some(V3_1_1), u32::MAX).unwrap() else {
        panic!("not a PUBLISH")
    };
    assert_eq!(p.topic.as_ptr() as usize, start + 4);
    assert_eq!(p.payload.as_ptr() as usize, start + 7);
}

#[test]
fn v3_ignores_v5_fields_when_encoding() {
    let mut p = publish(QoS::AtMostOnce, None);
    p.properties.message_expiry_interval = Some(5);
    assert_eq!(encode(&Packet::Publish(p), V3_1_1), b"\x30\x07\x00\x03a/bhi");
}

#[test]
fn dup_is_dropped_when_encoding_qos_0() {
    let mut p = publish(QoS::AtMostOnce, None);
    p.dup = true;
    assert_eq!(encode(&Packet::Publish(p), V3_1_1)[0], 0x30);
}

// [MQTT-2.2.1-3]
#[test]
fn publish_packet_id_0() {
    for p in ALL {
        let e = decode_err(b"\x32\x05\x00\x01a\x00\x00", Some(p));
        assert_eq!(e, DecodeError::PacketIdZero);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}

// [MQTT-3.3.2-2]
#[test]
fn publish_topic_with_wildcards() {
    for p in [V3_1, V3_1_1] {
        for topic in [&b"\x00\x03a/+"[..], b"\x00\x01#", b"\x00\x03a+b"] {
            let e = decode_err(&frame(0x30, topic), Some(p));
            assert_eq!(e, DecodeError::TopicNameWildcard);
            assert_eq!(e.reason_code(), ReasonCode::TopicNameInvalid);
        }
    }
    assert_eq!(decode_err(b"\x30\x06\x00\x03a/#\x00", Some(V5)), DecodeError::TopicNameWildcard);
}

// [MQTT-4.7.3-1]; in MQTT 5 an empty topic name needs a Topic Alias.
#[test]
fn publish_empty_topic() {
    for p in [V3_1, V3_1_1] {
        assert_eq!(decode_err(b"\x30\x02\x00\x00", Some(p)), DecodeError::EmptyTopicName);
    }
    let e = decode_err(b"\x30\x03\x00\x00\x00", Some(V5));
    assert_eq!(e, DecodeError::EmptyTopicName);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    let mut p = publish(QoS::AtMostOnce, None);
    p.topic = s("");
    p.properties.topic_alias = Some(7);
    round_trip_exact(&Packet::Publish(p), V5, b"\x30\x08\x00\x00\x03\x23\x00\x07hi");
}

// [MQTT-1.5.4-1] [MQTT-1.5.4-2]
#[test]
fn publish_topic_strings() {
    assert_eq!(decode_err(b"\x30\x03\x00\x01\xFF", Some(V3_1_1)), DecodeError::InvalidUtf8);
    assert_eq!(decode_err(b"\x30\x04\x00\x02a\x00", Some(V3_1_1)), DecodeError::NullCharacter);
    // Control characters are accepted [MQTT-1.5.4-3].
    assert!(decode(b"\x30\x04\x00\x02a\x01", Some(V3_1_1)).is_ok());
    assert_eq!(decode_err(b"\x30\x03\x00\x05a", Some(V3_1_1)), DecodeError::Truncated);
    assert_eq!(decode_err(b"\x32\x04\x00\x01a\x00", Some(V3_1_1)), DecodeError::Truncated);
}

fn v5_publish_with_props(props: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x01t".to_vec();
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    body.extend_from_slice(b"payload");
    frame(0x30, &body)
}

#[test]
fn publish_property_violations() {
    let cases: &[(&[u8], DecodeError)] = &[
        // [MQTT-3.3.2-8]
        (b"\x23\x00\x00", DecodeError::ZeroTopicAlias),
        (b"\x23\x00\x01\x23\x00\x02", DecodeError::DuplicateProperty(0x23)),
        (b"\x0B\x00", DecodeError::ZeroSubscriptionIdentifier),
        (b"\x0B\x80\x00", DecodeError::VarIntNotMinimal),
        (b"\x01\x02", DecodeError::InvalidPropertyValue { id: 0x01 }),
        (b"\x01\x01\x01\x00", DecodeError::DuplicateProperty(0x01)),
        (b"\x02\x00\x00\x00\x01\x02\x00\x00\x00\x01", DecodeError::DuplicateProperty(0x02)),
        // [MQTT-3.3.2-14]
        (b"\x08\x00\x03r/#", DecodeError::ResponseTopicWildcard),
        (b"\x11\x00\x00\x00\x01", DecodeError::PropertyNotAllowed { id: 0x11, packet_type: 3 }),
        (b"\x2B\x00", DecodeError::UnknownProperty(0x2B)),
        (b"\x09\x00\x05ab", DecodeError::Truncated),
    ];
    for (props, expected) in cases {
        assert_eq!(&decode_err(&v5_publish_with_props(props), Some(V5)), expected, "{props:02x?}");
    }
    assert_eq!(
        decode_err(&v5_publish_with_props(b"\x23\x00\x00"), Some(V5)).reason_code(),
        ReasonCode::TopicAliasInvalid
    );
    // Repeated subscription identifiers are allowed in PUBLISH.
    let Packet::Publish(p) = decode(&v5_publish_with_props(b"\x0B\x01\x0B\x02"), Some(V5)).unwrap() else {
        panic!("not a PUBLISH")
    };
    assert_eq!(p.properties.subscription_identifiers, vec![1, 2]);
    assert_eq!(p.payload, b(b"payload"));
}

#[test]
fn publish_property_length_past_the_packet() {
    let e = decode_err(b"\x30\x05\x00\x01t\x09\x01", Some(V5));
    assert_eq!(e, DecodeError::PropertiesOverrun);
}

fn responses(r: PubResponse) -> [Packet; 4] {
    [Packet::PubAck(r.clone()), Packet::PubRec(r.clone()), Packet::PubRel(r.clone()), Packet::PubComp(r)]
}

#[test]
fn responses_each_version() {
    for packet in responses(PubResponse::success(0x1234)) {
        let first = encode(&packet, V5)[0];
        for p in ALL {
            // Success without properties: the short form in MQTT 5 too.
            round_trip_exact(&packet, p, &[first, 0x02, 0x12, 0x34]);
        }
    }
    let refused =
        PubResponse { packet_id: 1, reason: ReasonCode::NotAuthorized, properties: Default::default() };
    round_trip_exact(&Packet::PubAck(refused.clone()), V5, b"\x40\x03\x00\x01\x87");
    round_trip_exact(&Packet::PubRec(refused.clone()), V5, b"\x50\x03\x00\x01\x87");
    // 3.x has no reason code.
    assert_eq!(encode(&Packet::PubAck(refused), V3_1_1), b"\x40\x02\x00\x01");
    let not_found = PubResponse {
        packet_id: 9,
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: AckProperties { reason_string: Some(s("gone")), user_properties: vec![(s("a"), s("b"))] }
            .into(),
    };
    round_trip(&Packet::PubRel(not_found.clone()), V5);
    round_trip(&Packet::PubComp(not_found), V5);
    let with_props = PubResponse {
        packet_id: 9,
        reason: ReasonCode::Success,
        properties: AckProperties { reason_string: Some(s("ok")), user_properties: vec![] }.into(),
    };
    round_trip_exact(&Packet::PubAck(with_props), V5, b"\x40\x09\x00\x09\x00\x05\x1F\x00\x02ok");
}

#[test]
fn v5_responses_accept_every_short_form() {
    // Reason code and property length present but empty.
    assert_eq!(decode(b"\x40\x04\x00\x01\x10\x00", Some(V5)), decode(b"\x40\x03\x00\x01\x10", Some(V5)));
    assert_eq!(decode(b"\x70\x04\x00\x01\x00\x00", Some(V5)), Ok(Packet::PubComp(PubResponse::success(1))));
}

// [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]
#[test]
fn response_reason_codes_must_belong_to_the_packet() {
    for (first, packet_type, bad) in [(0x40, 4, 0x92), (0x50, 5, 0x04), (0x62, 6, 0x10), (0x70, 7, 0x80)] {
        let e = decode_err(&[first, 0x03, 0x00, 0x01, bad], Some(V5));
        assert_eq!(e, DecodeError::InvalidReasonCode { packet_type, code: bad });
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn response_violations() {
    for p in ALL {
        // [MQTT-2.2.1-3]
        assert_eq!(decode_err(b"\x40\x02\x00\x00", Some(p)), DecodeError::PacketIdZero);
        assert_eq!(decode_err(b"\x62\x02\x00\x00", Some(p)), DecodeError::PacketIdZero);
        assert_eq!(decode_err(b"\x40\x01\x00", Some(p)), DecodeError::Truncated);
    }
    assert_eq!(decode_err(b"\x40\x03\x00\x01\x00", Some(V3_1_1)), DecodeError::TrailingBytes);
    assert_eq!(
        decode_err(b"\x40\x07\x00\x01\x00\x03\x23\x00\x01", Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x23, packet_type: 4 }
    );
    assert_eq!(
        decode_err(b"\x40\x0C\x00\x01\x00\x09\x1F\x00\x01a\x1F\x00\x01b", Some(V5)),
        DecodeError::PropertiesOverrun
    );
    assert_eq!(
        decode_err(b"\x40\x0C\x00\x01\x00\x08\x1F\x00\x01a\x1F\x00\x01b", Some(V5)),
        DecodeError::DuplicateProperty(0x1F)
    );
}

#[test]
fn encoding_qos_1_without_packet_id_fails() {
    let mut out = bytes::BytesMut::new();
    let p = Packet::Publish(publish(QoS::AtLeastOnce, None));
    assert_eq!(encode_packet(&p, V5, &mut out), Err(crate::protocol::EncodeError::MissingPacketId));
    assert!(out.is_empty());
}

#[test]
fn encoding_oversized_fields_fails() {
    use crate::protocol::EncodeError;
    let mut out = bytes::BytesMut::new();
    let mut p = publish(QoS::AtMostOnce, None);
    p.topic = ByteString::from("t".repeat(70_000));
    assert_eq!(encode_packet(&Packet::Publish(p), V5, &mut out), Err(EncodeError::StringTooLong(70_000)));
    let mut p = publish(QoS::AtMostOnce, None);
    p.properties.correlation_data = Some(Bytes::from(vec![0; 65_536]));
    assert_eq!(encode_packet(&Packet::Publish(p), V5, &mut out), Err(EncodeError::BinaryTooLong(65_536)));
    let mut p = publish(QoS::AtMostOnce, None);
    p.properties.subscription_identifiers = vec![268_435_456];
    assert_eq!(
        encode_packet(&Packet::Publish(p), V5, &mut out),
        Err(EncodeError::VarIntTooLarge(268_435_456))
    );
    let mut p = publish(QoS::AtMostOnce, None);
    p.payload = Bytes::from(vec![0; 268_435_456]);
    assert!(matches!(
        encode_packet(&Packet::Publish(p), V3_1_1, &mut out),
        Err(EncodeError::PacketTooLarge(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn four_byte_remaining_length() {
    let mut p = publish(QoS::AtMostOnce, None);
    p.payload = Bytes::from(vec![7; 2_097_152 - 5]);
    let packet = Packet::Publish(p);
    assert_eq!(encoded_len(&packet, V3_1_1), 2_097_152 + 5);
    let mut out = bytes::BytesMut::new();
    encode_packet(&packet, V3_1_1, &mut out).unwrap();
    assert_eq!(&out[..5], b"\x30\x80\x80\x80\x01");
    assert_eq!(decode_packet(&mut out, Some(V3_1_1), u32::MAX).unwrap(), Some(packet));
}
