//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.

use super::*;
use crate::protocol::packet::*;
use crate::protocol::ReasonCode;

fn subscribe(filters: Vec<(ByteString, SubscriptionOptions)>) -> Subscribe {
    Subscribe { packet_id: 1, subscription_identifier: None, user_properties: vec![], filters }
}

fn qos(q: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos: q, ..Default::default() }
}

#[test]
fn subscribe_each_version() {
    let p = Packet::Subscribe(subscribe(vec![
        (s("a/+"), qos(QoS::AtLeastOnce)),
        (s("#"), qos(QoS::ExactlyOnce)),
    ]));
    round_trip_exact(&p, V3_1_1, b"\x82\x0C\x00\x01\x00\x03a/+\x01\x00\x01#\x02");
    round_trip_exact(&p, V3_1, b"\x82\x0C\x00\x01\x00\x03a/+\x01\x00\x01#\x02");
    round_trip_exact(&p, V5, b"\x82\x0D\x00\x01\x00\x00\x03a/+\x01\x00\x01#\x02");
    let options = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    let mut full = subscribe(vec![(s("x"), options), (s("$share/g/x"), qos(QoS::AtMostOnce))]);
    full.subscription_identifier = Some(268_435_455);
    full.user_properties = vec![(s("k"), s("v"))];
    round_trip(&Packet::Subscribe(full), V5);
    let mut handling = subscribe(vec![(
        s("x"),
        SubscriptionOptions { retain_handling: RetainHandling::SendIfNew, ..options },
    )]);
    handling.packet_id = 0xFFFF;
    assert_eq!(round_trip(&Packet::Subscribe(handling), V5).last(), Some(&0x1D));
}

#[test]
fn v3_subscribe_ignores_v5_options_when_encoding() {
    let options = SubscriptionOptions { qos: QoS::AtLeastOnce, no_local: true, ..Default::default() };
    let bytes = encode(&Packet::Subscribe(subscribe(vec![(s("x"), options)])), V3_1_1);
    assert_eq!(bytes.last(), Some(&0x01));
}

/// A SUBSCRIBE with packet id 1 and `rest` after the (v5: empty) properties.
fn raw_subscribe(protocol: Protocol, rest: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x01".to_vec();
    if protocol.is_v5() {
        body.push(0);
    }
    body.extend_from_slice(rest);
    frame(0x82, &body)
}

// [MQTT-3.8.3-3]
#[test]
fn subscribe_without_filters() {
    for p in ALL {
        let e = decode_err(&raw_subscribe(p, b""), Some(p));
        assert_eq!(e, DecodeError::SubscribeWithoutFilters);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}

// [MQTT-3-8.3-4] (3.1.1)
#[test]
fn v3_requested_qos_byte() {
    for p in [V3_1, V3_1_1] {
        for byte in [0x03, 0x04, 0x80, 0xFC] {
            let e = decode_err(&raw_subscribe(p, &[0x00, 0x01, b'a', byte]), Some(p));
            assert_eq!(e, DecodeError::V3RequestedQosInvalid, "{byte:#x}");
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
    }
}

#[test]
fn v5_subscription_options() {
    let err = |byte: u8, filter: &[u8]| {
        let mut rest = vec![0x00, filter.len() as u8];
        rest.extend_from_slice(filter);
        rest.push(byte);
        decode_err(&raw_subscribe(V5, &rest), Some(V5))
    };
    // [MQTT-3.8.3-5]
    assert_eq!(err(0x40, b"a"), DecodeError::SubscriptionOptionsReserved);
    assert_eq!(err(0x80, b"a"), DecodeError::SubscriptionOptionsReserved);
    assert_eq!(err(0x80, b"a").reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(err(0x03, b"a"), DecodeError::SubscriptionQos3);
    assert_eq!(err(0x30, b"a"), DecodeError::RetainHandling3);
    assert_eq!(err(0x30, b"a").reason_code(), ReasonCode::ProtocolError);
    // [MQTT-3.8.3-4]
    assert_eq!(err(0x04, b"$share/g/a"), DecodeError::NoLocalOnSharedSubscription);
}

#[test]
fn subscribe_filter_strings() {
    for p in ALL {
        // [MQTT-4.7.3-1]
        let e = decode_err(&raw_subscribe(p, b"\x00\x00\x00"), Some(p));
        assert_eq!(e, DecodeError::EmptyTopicFilter);
        // [MQTT-1.5.4-1]
        assert_eq!(decode_err(&raw_subscribe(p, b"\x00\x01\x80\x00"), Some(p)), DecodeError::InvalidUtf8);
        // A filter without its options byte.
        assert_eq!(decode_err(&raw_subscribe(p, b"\x00\x01a"), Some(p)), DecodeError::Truncated);
        // Filter syntax is the session's to judge, so `a/#/b` decodes.
        let Packet::Subscribe(sub) = decode(&raw_subscribe(p, b"\x00\x05a/#/b\x00"), Some(p)).unwrap() else {
            panic!("not a SUBSCRIBE")
        };
        assert_eq!(sub.filters[0].0, "a/#/b");
        // [MQTT-2.2.1-3]
        assert_eq!(
            decode_err(&frame(0x82, b"\x00\x00\x00\x00\x01a\x00"), Some(p)),
            DecodeError::PacketIdZero
        );
    }
}

#[test]
fn subscribe_property_violations() {
    let with_props = |props: &[u8]| {
        let mut body = vec![0x00, 0x01, props.len() as u8];
        body.extend_from_slice(props);
        body.extend_from_slice(b"\x00\x01a\x00");
        frame(0x82, &body)
    };
    assert_eq!(decode_err(&with_props(b"\x0B\x00"), Some(V5)), DecodeError::ZeroSubscriptionIdentifier);
    assert_eq!(decode_err(&with_props(b"\x0B\x01\x0B\x02"), Some(V5)), DecodeError::DuplicateProperty(0x0B));
    assert_eq!(
        decode_err(&with_props(b"\x1F\x00\x00"), Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x1F, packet_type: 8 }
    );
}

#[test]
fn suback_each_version() {
    let codes = vec![
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::UnspecifiedError,
    ];
    let p = Packet::SubAck(SubAck { packet_id: 5, properties: Default::default(), reason_codes: codes });
    round_trip_exact(&p, V3_1_1, b"\x90\x06\x00\x05\x00\x01\x02\x80");
    round_trip_exact(&p, V3_1, b"\x90\x06\x00\x05\x00\x01\x02\x80");
    round_trip_exact(&p, V5, b"\x90\x07\x00\x05\x00\x00\x01\x02\x80");
    // Any failure is 0x80 in 3.x.
    let failures = vec![ReasonCode::NotAuthorized, ReasonCode::TopicFilterInvalid, ReasonCode::QuotaExceeded];
    let p = SubAck {
        packet_id: 5,
        properties: AckProperties { reason_string: Some(s("no")), user_properties: vec![] }.into(),
        reason_codes: failures,
    };
    assert_eq!(encode(&Packet::SubAck(p.clone()), V3_1_1), b"\x90\x05\x00\x05\x80\x80\x80");
    round_trip(&Packet::SubAck(p), V5);
}

// [MQTT-3.9.3-2]
#[test]
fn suback_reason_codes() {
    for p in [V3_1, V3_1_1] {
        for code in [0x03, 0x11, 0x87] {
            let e = decode_err(&[0x90, 0x03, 0x00, 0x01, code], Some(p));
            assert_eq!(e, DecodeError::InvalidReasonCode { packet_type: 9, code });
        }
    }
    for code in [0x03, 0x11, 0x92] {
        let e = decode_err(&[0x90, 0x04, 0x00, 0x01, 0x00, code], Some(V5));
        assert_eq!(e, DecodeError::InvalidReasonCode { packet_type: 9, code });
        assert_eq!(e.spec_ref(), Some("MQTT-3.9.3-2"));
    }
}

#[test]
fn unsubscribe_each_version() {
    let p = Packet::Unsubscribe(Unsubscribe {
        packet_id: 2,
        user_properties: vec![],
        filters: vec![s("a/#"), s("b")],
    });
    round_trip_exact(&p, V3_1_1, b"\xA2\x0A\x00\x02\x00\x03a/#\x00\x01b");
    round_trip_exact(&p, V5, b"\xA2\x0B\x00\x02\x00\x00\x03a/#\x00\x01b");
    let with_props =
        Unsubscribe { packet_id: 2, user_properties: vec![(s("k"), s("v"))], filters: vec![s("$share/g/a")] };
    round_trip(&Packet::Unsubscribe(with_props), V5);
}

#[test]
fn unsubscribe_violations() {
    for p in ALL {
        let props: &[u8] = if p.is_v5() { b"\x00" } else { b"" };
        let body = |rest: &[u8]| {
            let mut body = b"\x00\x01".to_vec();
            body.extend_from_slice(props);
            body.extend_from_slice(rest);
            frame(0xA2, &body)
        };
        // [MQTT-3.10.3-2]
        let e = decode_err(&body(b""), Some(p));
        assert_eq!(e, DecodeError::UnsubscribeWithoutFilters);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        assert_eq!(decode_err(&body(b"\x00\x00"), Some(p)), DecodeError::EmptyTopicFilter);
        assert_eq!(decode_err(&body(b"\x00\x02a\x00"), Some(p)), DecodeError::NullCharacter);
        assert_eq!(decode_err(&body(b"\x00\x02a"), Some(p)), DecodeError::Truncated);
        assert_eq!(decode_err(&frame(0xA2, b"\x00\x00\x00\x01a"), Some(p)), DecodeError::PacketIdZero);
    }
    assert_eq!(
        decode_err(b"\xA2\x08\x00\x01\x02\x0B\x01\x00\x01a", Some(V5)),
        DecodeError::PropertyNotAllowed { id: 0x0B, packet_type: 10 }
    );
}

#[test]
fn unsuback_each_version() {
    // 3.x UNSUBACK has no reason codes.
    let p = Packet::UnsubAck(UnsubAck { packet_id: 3, properties: Default::default(), reason_codes: vec![] });
    round_trip_exact(&p, V3_1_1, b"\xB0\x02\x00\x03");
    round_trip_exact(&p, V3_1, b"\xB0\x02\x00\x03");
    let p = UnsubAck {
        packet_id: 3,
        properties: AckProperties { reason_string: None, user_properties: vec![(s("a"), s(""))] }.into(),
        reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted, ReasonCode::NotAuthorized],
    };
    round_trip(&Packet::UnsubAck(p.clone()), V5);
    assert_eq!(encode(&Packet::UnsubAck(p), V3_1_1), b"\xB0\x02\x00\x03");
    // [MQTT-3.11.3-2]
    let e = decode_err(b"\xB0\x04\x00\x03\x00\x01", Some(V5));
    assert_eq!(e, DecodeError::InvalidReasonCode { packet_type: 11, code: 0x01 });
    assert_eq!(decode_err(b"\xB0\x03\x00\x03\x00", Some(V3_1_1)), DecodeError::TrailingBytes);
}
