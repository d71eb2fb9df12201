//! proptest strategies for valid packets of each protocol version.

use bytestring::ByteString;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

use super::values::*;
use crate::protocol::codec::write::MAX_VARINT;
use crate::protocol::codec::{AUTH, CONNACK, DISCONNECT, SUBACK, UNSUBACK};
use crate::protocol::packet::*;
use crate::protocol::ReasonCode;

fn connect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol.is_v5();
    let properties =
        if v5 { connect_properties().boxed() } else { Just(ConnectProperties::default()).boxed() };
    (any::<bool>(), any::<u16>(), string(), of(will(v5)), of(string()), of(binary()), properties).prop_map(
        move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
            // MQTT 3.x requires a user name with a password [MQTT-3.1.2-22].
            let password = if v5 || username.is_some() { password } else { None };
            Packet::Connect(Box::new(Connect {
                protocol,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties,
            }))
        },
    )
}

fn connack(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let (reason, properties) = if protocol.is_v5() {
        (reason(CONNACK).boxed(), connack_properties().boxed())
    } else {
        let codes = (0..=5u8).filter_map(ReasonCode::from_v3_connack_code).collect::<Vec<_>>();
        (select(codes).boxed(), Just(ConnAckProperties::default()).boxed())
    };
    (any::<bool>(), reason, properties).prop_map(|(sp, reason, properties)| {
        // A refusing CONNACK has Session Present 0 [MQTT-3.2.2-6].
        let session_present = sp && reason == ReasonCode::Success;
        Packet::ConnAck(ConnAck { session_present, reason, properties: properties.into() })
    })
}

fn publish(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol.is_v5();
    let properties =
        if v5 { publish_properties().boxed() } else { Just(PublishProperties::default()).boxed() };
    (any::<bool>(), qos(), any::<bool>(), topic_name(), any::<bool>(), packet_id(), binary(), properties)
        .prop_map(move |(dup, qos, retain, topic, empty_topic, id, payload, properties)| {
            let qos0 = qos == QoS::AtMostOnce;
            // An empty topic name only with a topic alias (MQTT 5).
            let topic =
                if empty_topic && properties.topic_alias.is_some() { ByteString::new() } else { topic };
            Packet::Publish(Publish {
                dup: dup && !qos0,
                qos,
                retain,
                topic,
                packet_id: if qos0 { None } else { Some(id) },
                payload,
                properties: properties.into(),
            })
        })
}

fn response(protocol: Protocol, packet_type: u8) -> impl Strategy<Value = PubResponse> {
    let reason =
        if protocol.is_v5() { reason(packet_type).boxed() } else { Just(ReasonCode::Success).boxed() };
    (packet_id(), reason, ack_properties(protocol.is_v5())).prop_map(|(packet_id, reason, properties)| {
        PubResponse { packet_id, reason, properties: properties.into() }
    })
}

fn options(v5: bool) -> impl Strategy<Value = SubscriptionOptions> {
    let handling =
        select(vec![RetainHandling::SendAtSubscribe, RetainHandling::SendIfNew, RetainHandling::DoNotSend]);
    (qos(), any::<bool>(), any::<bool>(), handling).prop_map(move |(qos, nl, rap, rh)| {
        if v5 {
            SubscriptionOptions { qos, no_local: nl, retain_as_published: rap, retain_handling: rh }
        } else {
            SubscriptionOptions { qos, ..Default::default() }
        }
    })
}

fn subscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol.is_v5();
    let (sub_id, user) = if v5 {
        (of(1..=MAX_VARINT).boxed(), users().boxed())
    } else {
        (Just(None).boxed(), Just(Vec::new()).boxed())
    };
    (packet_id(), sub_id, user, vec((topic_filter(), options(v5)), 1..4)).prop_map(
        |(packet_id, subscription_identifier, user_properties, mut filters)| {
            for (filter, o) in &mut filters {
                // No Local is not allowed on a shared subscription [MQTT-3.8.3-4].
                if filter.starts_with("$share/") {
                    o.no_local = false;
                }
            }
            Packet::Subscribe(Subscribe { packet_id, subscription_identifier, user_properties, filters })
        },
    )
}

fn suback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let code = if protocol.is_v5() {
        reason(SUBACK).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (packet_id(), ack_properties(protocol.is_v5()), vec(code, 0..4)).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck { packet_id, properties: properties.into(), reason_codes })
        },
    )
}

fn unsubscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let user = if protocol.is_v5() { users().boxed() } else { Just(Vec::new()).boxed() };
    (packet_id(), user, vec(topic_filter(), 1..4)).prop_map(|(packet_id, user_properties, filters)| {
        Packet::Unsubscribe(Unsubscribe { packet_id, user_properties, filters })
    })
}

fn unsuback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let codes = if protocol.is_v5() { vec(reason(UNSUBACK), 0..4).boxed() } else { Just(Vec::new()).boxed() };
    (packet_id(), ack_properties(protocol.is_v5()), codes).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck { packet_id, properties: properties.into(), reason_codes })
        },
    )
}

fn disconnect(protocol: Protocol) -> BoxedStrategy<Packet> {
    if !protocol.is_v5() {
        return Just(Packet::Disconnect(Disconnect::default())).boxed();
    }
    let properties = (of(any::<u32>()), of(string()), users(), of(string())).prop_map(|(sei, rs, up, sr)| {
        DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            user_properties: up,
            server_reference: sr,
        }
    });
    (reason(DISCONNECT), properties)
        .prop_map(|(reason, properties)| {
            Packet::Disconnect(Disconnect { reason, properties: properties.into() })
        })
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    let properties = (auth_pair(), of(string()), users()).prop_map(|((am, ad), rs, up)| AuthProperties {
        authentication_method: am,
        authentication_data: ad,
        reason_string: rs,
        user_properties: up,
    });
    (reason(AUTH), properties)
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties: properties.into() }))
}

/// Any valid packet of `protocol`.
pub(super) fn packet(protocol: Protocol) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(protocol),
        connack(protocol),
        publish(protocol),
        response(protocol, 4).prop_map(Packet::PubAck),
        response(protocol, 5).prop_map(Packet::PubRec),
        response(protocol, 6).prop_map(Packet::PubRel),
        response(protocol, 7).prop_map(Packet::PubComp),
        subscribe(protocol),
        suback(protocol),
        unsubscribe(protocol),
        unsuback(protocol),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(protocol),
    ];
    if protocol.is_v5() {
        prop_oneof![14 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

/// Any protocol version.
pub(super) fn protocol() -> impl Strategy<Value = Protocol> {
    select(vec![Protocol::V3_1, Protocol::V3_1_1, Protocol::V5])
}
