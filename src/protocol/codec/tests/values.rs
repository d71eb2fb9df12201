//! proptest strategies for strings, numbers and the MQTT 5 property structs.

use bytes::Bytes;
use bytestring::ByteString;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

use crate::protocol::codec::reasons::allowed;
use crate::protocol::codec::write::MAX_VARINT;
use crate::protocol::packet::*;
use crate::protocol::ReasonCode;

/// Any string without U+0000 (control characters and non-characters included).
pub(super) fn string_of(chars: impl Strategy<Value = char>, min: usize) -> impl Strategy<Value = ByteString> {
    vec(chars, min..8).prop_map(|v| ByteString::from(v.into_iter().collect::<String>()))
}

/// Any character but U+0000 (mapped rather than filtered, so nothing is rejected).
pub(super) fn not_nul() -> impl Strategy<Value = char> {
    any::<char>().prop_map(|c| if c == '\0' { 'x' } else { c })
}

pub(super) fn string() -> impl Strategy<Value = ByteString> {
    string_of(not_nul(), 0)
}

pub(super) fn topic_name() -> impl Strategy<Value = ByteString> {
    let chars = prop_oneof![
        3 => select(vec!['a', 'b', '/', '$']),
        1 => any::<char>().prop_map(|c| if matches!(c, '\0' | '+' | '#') { 'x' } else { c }),
    ];
    string_of(chars, 1)
}

pub(super) fn topic_filter() -> impl Strategy<Value = ByteString> {
    let chars = prop_oneof![
        3 => select(vec!['a', '/', '+', '#']),
        1 => not_nul(),
    ];
    string_of(chars, 1)
}

pub(super) fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

pub(super) fn users() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((string(), string()), 0..3)
}

pub(super) fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

pub(super) fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

pub(super) fn reason(packet_type: u8) -> impl Strategy<Value = ReasonCode> {
    select(allowed(packet_type)).prop_map(|c| ReasonCode::from_code(c).unwrap_or_default())
}

pub(super) fn ack_properties(v5: bool) -> BoxedStrategy<AckProperties> {
    if !v5 {
        return Just(AckProperties::default()).boxed();
    }
    (of(string()), users())
        .prop_map(|(reason_string, user_properties)| AckProperties { reason_string, user_properties })
        .boxed()
}

pub(super) fn auth_pair() -> impl Strategy<Value = (Option<ByteString>, Option<Bytes>)> {
    (of(string()), of(binary())).prop_map(|(m, d)| (m.clone(), if m.is_some() { d } else { None }))
}

pub(super) fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(1..=u16::MAX),
        of(1..=u32::MAX),
        of(any::<u16>()),
        of(any::<bool>()),
        of(any::<bool>()),
        users(),
        auth_pair(),
    )
        .prop_map(|(sei, rm, mps, tam, rri, rpi, user_properties, (method, data))| ConnectProperties {
            session_expiry_interval: sei,
            receive_maximum: rm,
            maximum_packet_size: mps,
            topic_alias_maximum: tam,
            request_response_information: rri,
            request_problem_information: rpi,
            user_properties,
            authentication_method: method,
            authentication_data: data,
        })
}

pub(super) fn will(v5: bool) -> impl Strategy<Value = LastWill> {
    let properties = if v5 {
        (
            of(any::<u32>()),
            of(0..=1u8),
            of(any::<u32>()),
            of(string()),
            of(topic_name()),
            of(binary()),
            users(),
        )
            .prop_map(|(wdi, pfi, mei, content_type, response_topic, correlation_data, user_properties)| {
                WillProperties {
                    will_delay_interval: wdi,
                    payload_format_indicator: pfi,
                    message_expiry_interval: mei,
                    content_type,
                    response_topic,
                    correlation_data,
                    user_properties,
                }
            })
            .boxed()
    } else {
        Just(WillProperties::default()).boxed()
    };
    (topic_name(), binary(), qos(), any::<bool>(), properties).prop_map(
        |(topic, payload, qos, retain, properties)| LastWill { topic, payload, qos, retain, properties },
    )
}

pub(super) fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let a = (
        of(any::<u32>()),
        of(1..=u16::MAX),
        of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        of(any::<bool>()),
        of(1..=u32::MAX),
        of(string()),
        of(any::<u16>()),
        of(string()),
        users(),
    );
    let b = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<u16>()),
        of(string()),
        of(string()),
        auth_pair(),
    );
    (a, b).prop_map(|((sei, rm, mq, ra, mps, aci, tam, rs, up), (wsa, sia, ssa, ska, ri, sr, (am, ad)))| {
        ConnAckProperties {
            session_expiry_interval: sei,
            receive_maximum: rm,
            maximum_qos: mq,
            retain_available: ra,
            maximum_packet_size: mps,
            assigned_client_identifier: aci,
            topic_alias_maximum: tam,
            reason_string: rs,
            user_properties: up,
            wildcard_subscription_available: wsa,
            subscription_identifiers_available: sia,
            shared_subscription_available: ssa,
            server_keep_alive: ska,
            response_information: ri,
            server_reference: sr,
            authentication_method: am,
            authentication_data: ad,
        }
    })
}

pub(super) fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        of(0..=1u8),
        of(any::<u32>()),
        of(1..=u16::MAX),
        of(topic_name()),
        of(binary()),
        users(),
        vec(1..=MAX_VARINT, 0..3),
        of(string()),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, ids, ct)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
            subscription_identifiers: ids,
            content_type: ct,
        })
}
