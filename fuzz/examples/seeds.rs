//! Writes the seed corpus of the fuzz targets: valid packets of every type for MQTT 3.1, 3.1.1
//! and 5.0, each preceded by its CONNECT, in the input format the targets read (first byte:
//! the selector, 0 = before CONNECT, no size limit).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus-seed`

use std::path::PathBuf;

use aviary::protocol::*;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

fn s(v: &str) -> ByteString {
    ByteString::from(v)
}

fn users() -> Vec<UserProperty> {
    vec![(s("k"), s("v")), (s("k"), s("w"))]
}

fn ack(v5: bool) -> AckProperties {
    if v5 {
        AckProperties { reason_string: Some(s("why")), user_properties: users() }
    } else {
        AckProperties::default()
    }
}

fn connect(protocol: Protocol) -> Connect {
    let v5 = protocol.is_v5();
    let will_properties = if v5 {
        WillProperties {
            will_delay_interval: Some(5),
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some(s("text/plain")),
            response_topic: Some(s("reply/to")),
            correlation_data: Some(Bytes::from_static(b"\x01\x02")),
            user_properties: users(),
        }
    } else {
        WillProperties::default()
    };
    let properties = if v5 {
        ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(20),
            maximum_packet_size: Some(65_536),
            topic_alias_maximum: Some(10),
            request_response_information: Some(true),
            request_problem_information: Some(false),
            user_properties: users(),
            authentication_method: Some(s("SCRAM-SHA-1")),
            authentication_data: Some(Bytes::from_static(b"client-first")),
        }
    } else {
        ConnectProperties::default()
    };
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: s("fuzz-client"),
        will: Some(LastWill {
            topic: s("will/topic"),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: will_properties,
        }),
        username: Some(s("user")),
        password: Some(Bytes::from_static(b"secret")),
        properties,
    }
}

fn connack(v5: bool) -> ConnAck {
    let properties = if v5 {
        ConnAckProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(100),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(true),
            maximum_packet_size: Some(1 << 20),
            assigned_client_identifier: Some(s("auto-1")),
            topic_alias_maximum: Some(16),
            reason_string: Some(s("ok")),
            user_properties: users(),
            wildcard_subscription_available: Some(true),
            subscription_identifiers_available: Some(true),
            shared_subscription_available: Some(false),
            server_keep_alive: Some(30),
            response_information: Some(s("resp/")),
            server_reference: Some(s("other:1883")),
            authentication_method: Some(s("SCRAM-SHA-1")),
            authentication_data: Some(Bytes::from_static(b"server-final")),
        }
    } else {
        ConnAckProperties::default()
    };
    ConnAck { session_present: true, reason: ReasonCode::Success, properties: properties.into() }
}

fn publish(v5: bool, qos: QoS) -> Publish {
    let properties = if v5 {
        PublishProperties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(120),
            topic_alias: Some(3),
            response_topic: Some(s("reply/to")),
            correlation_data: Some(Bytes::from_static(b"corr")),
            user_properties: users(),
            subscription_identifiers: vec![1, 268_435_455],
            content_type: Some(s("application/json")),
        }
    } else {
        PublishProperties::default()
    };
    Publish {
        dup: qos != QoS::AtMostOnce,
        qos,
        retain: true,
        topic: s("a/b/c"),
        packet_id: (qos != QoS::AtMostOnce).then_some(7),
        payload: Bytes::from_static(b"{\"hello\":1}"),
        properties: properties.into(),
    }
}

fn response(v5: bool, reason: ReasonCode) -> PubResponse {
    if v5 {
        PubResponse { packet_id: 7, reason, properties: ack(true).into() }
    } else {
        PubResponse::success(7)
    }
}

/// Every packet type the protocol has, with every field set that it carries.
fn packets(protocol: Protocol) -> Vec<(&'static str, Packet)> {
    let v5 = protocol.is_v5();
    let reason = |r: ReasonCode| if v5 { r } else { ReasonCode::Success };
    let options = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: v5,
        retain_as_published: v5,
        retain_handling: if v5 { RetainHandling::SendIfNew } else { RetainHandling::SendAtSubscribe },
    };
    let mut out = vec![
        ("connack", Packet::ConnAck(connack(v5))),
        ("publish-qos0", Packet::Publish(publish(v5, QoS::AtMostOnce))),
        ("publish-qos1", Packet::Publish(publish(v5, QoS::AtLeastOnce))),
        ("publish-qos2", Packet::Publish(publish(v5, QoS::ExactlyOnce))),
        ("puback", Packet::PubAck(response(v5, ReasonCode::NoMatchingSubscribers))),
        ("pubrec", Packet::PubRec(response(v5, ReasonCode::UnspecifiedError))),
        ("pubrel", Packet::PubRel(response(v5, ReasonCode::PacketIdentifierNotFound))),
        ("pubcomp", Packet::PubComp(response(v5, ReasonCode::Success))),
        (
            "subscribe",
            Packet::Subscribe(Subscribe {
                packet_id: 9,
                subscription_identifier: v5.then_some(42),
                user_properties: if v5 { users() } else { Vec::new() },
                filters: vec![
                    (s("a/+/c"), options),
                    (s("#"), SubscriptionOptions::default()),
                    (s("$share/g/x/#"), SubscriptionOptions { no_local: false, ..options }),
                ],
            }),
        ),
        (
            "suback",
            Packet::SubAck(SubAck {
                packet_id: 9,
                properties: ack(v5).into(),
                reason_codes: vec![
                    ReasonCode::GrantedQoS2,
                    ReasonCode::Success,
                    reason(ReasonCode::NotAuthorized),
                    ReasonCode::UnspecifiedError,
                ],
            }),
        ),
        (
            "unsubscribe",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 10,
                user_properties: if v5 { users() } else { Vec::new() },
                filters: vec![s("a/+/c"), s("#")],
            }),
        ),
        (
            "unsuback",
            Packet::UnsubAck(UnsubAck {
                packet_id: 10,
                properties: ack(v5).into(),
                reason_codes: if v5 {
                    vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
                } else {
                    Vec::new()
                },
            }),
        ),
        ("pingreq", Packet::PingReq),
        ("pingresp", Packet::PingResp),
        ("disconnect", Packet::Disconnect(Disconnect::default())),
    ];
    if v5 {
        out.push((
            "disconnect-props",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::DisconnectWithWillMessage,
                properties: DisconnectProperties {
                    session_expiry_interval: Some(0),
                    reason_string: Some(s("bye")),
                    user_properties: users(),
                    server_reference: Some(s("other:1883")),
                }.into(),
            }),
        ));
        out.push((
            "auth",
            Packet::Auth(Auth {
                reason: ReasonCode::ContinueAuthentication,
                properties: AuthProperties {
                    authentication_method: Some(s("SCRAM-SHA-1")),
                    authentication_data: Some(Bytes::from_static(b"client-final")),
                    reason_string: Some(s("step 2")),
                    user_properties: users(),
                }.into(),
            }),
        ));
    }
    out
}

fn encode(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
    encode_packet(packet, protocol, out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus-seed".into()));
    std::fs::create_dir_all(&dir)?;
    let mut written = 0;
    for (tag, protocol) in [("v31", Protocol::V3_1), ("v311", Protocol::V3_1_1), ("v5", Protocol::V5)] {
        let mut hello = BytesMut::from(&[0u8][..]);
        encode(&Packet::Connect(Box::new(connect(protocol))), protocol, &mut hello)?;
        let mut minimal = BytesMut::from(&[0u8][..]);
        let bare = Connect {
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
            ..connect(protocol)
        };
        encode(&Packet::Connect(Box::new(bare)), protocol, &mut minimal)?;
        std::fs::write(dir.join(format!("{tag}-connect")), &hello)?;
        std::fs::write(dir.join(format!("{tag}-connect-minimal")), &minimal)?;
        written += 2;
        // One file per packet type, and one session with all of them in a row.
        let mut session = hello.clone();
        for (name, packet) in packets(protocol) {
            let mut one = hello.clone();
            encode(&packet, protocol, &mut one)?;
            encode(&packet, protocol, &mut session)?;
            std::fs::write(dir.join(format!("{tag}-{name}")), &one)?;
            written += 1;
        }
        std::fs::write(dir.join(format!("{tag}-session")), &session)?;
        written += 1;
    }
    println!("{written} seeds in {}", dir.display());
    Ok(())
}
