//! MQTT over WebSocket at the frame level (MQTT 5 section 6): packets may span frames and a
//! frame may carry several packets [MQTT-6.0.0-2]; the `mqtt` subprotocol is echoed
//! [MQTT-6.0.0-4]; a text frame closes the connection [MQTT-6.0.0-1]. Also the per-listener
//! packet size limit.

use aviary::config::Config;
use aviary::protocol::{self, Packet, Protocol, Publish, QoS, Subscribe, SubscriptionOptions};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::common::{connect_packet, within, TestBroker};

type Ws = WebSocketStream<TcpStream>;

fn ws_broker(extra: &str) -> (TestBroker, u16) {
    let toml = format!("[[listener]]\nname = \"ws\"\nkind = \"ws\"\nbind = \"127.0.0.1:0\"\n{extra}");
    let b = TestBroker::with_config(Config::from_toml_str(&toml, "t").expect("config"));
    let port = b.addr.port();
    (b, port)
}

async fn open(port: u16) -> Ws {
    let mut req = format!("ws://127.0.0.1:{port}/mqtt").into_client_request().expect("request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
    let (ws, resp) =
        within("upgrade", tokio_tungstenite::client_async(req, tcp)).await.expect("upgrade accepted");
    assert_eq!(
        resp.headers().get("Sec-WebSocket-Protocol").map(|v| v.as_bytes()),
        Some(&b"mqtt"[..]),
        "[MQTT-6.0.0-4]"
    );
    ws
}

fn encode(p: &Packet, v: Protocol) -> BytesMut {
    let mut b = BytesMut::new();
    protocol::encode_packet(p, v, &mut b).expect("encode");
    b
}

/// Reads frames until one whole packet is decoded.
async fn read_packet(ws: &mut Ws, buf: &mut BytesMut) -> Option<Packet> {
    loop {
        if let Some(p) = protocol::decode_packet(buf, Some(Protocol::V5), u32::MAX).expect("valid packet") {
            return Some(p);
        }
        match within("a frame", ws.next()).await {
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn packets_span_frames_and_frames_carry_several_packets() {
    let (_b, port) = ws_broker("");
    let mut ws = open(port).await;
    let v = Protocol::V5;
    // CONNECT in three frames, split inside the fixed header and inside the payload.
    let connect = encode(&Packet::Connect(Box::new(connect_packet(v, "frames"))), v);
    for chunk in [&connect[..1], &connect[1..5], &connect[5..]] {
        ws.send(Message::Binary(Bytes::copy_from_slice(chunk))).await.expect("send");
    }
    let mut buf = BytesMut::new();
    assert!(matches!(read_packet(&mut ws, &mut buf).await, Some(Packet::ConnAck(c)) if !c.reason.is_error()));
    // SUBSCRIBE and a PUBLISH to ourselves in one frame.
    let sub = Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscription_identifier: None,
        user_properties: vec![],
        filters: vec![(
            "frames/#".into(),
            SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() },
        )],
    });
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "frames/x".into(),
        packet_id: None,
        payload: Bytes::from_static(b"spanning"),
        properties: Default::default(),
    });
    let mut both = encode(&sub, v);
    both.extend_from_slice(&encode(&publish, v));
    ws.send(Message::Binary(both.freeze())).await.expect("send");
    assert!(matches!(read_packet(&mut ws, &mut buf).await, Some(Packet::SubAck(_))));
    match read_packet(&mut ws, &mut buf).await {
        Some(Packet::Publish(p)) => {
            assert_eq!((&p.topic[..], &p.payload[..]), ("frames/x", &b"spanning"[..]))
        }
        other => panic!("expected the PUBLISH back, got {other:?}"),
    }
}

#[tokio::test]
async fn a_text_frame_closes_the_connection() {
    let (_b, port) = ws_broker("");
    let mut ws = open(port).await;
    let v = Protocol::V5;
    let connect = encode(&Packet::Connect(Box::new(connect_packet(v, "text"))), v);
    ws.send(Message::Binary(connect.freeze())).await.expect("send");
    let mut buf = BytesMut::new();
    assert!(matches!(read_packet(&mut ws, &mut buf).await, Some(Packet::ConnAck(_))));
    ws.send(Message::text("hello")).await.expect("send");
    // [MQTT-6.0.0-1]: the connection closes (no packet follows).
    assert!(read_packet(&mut ws, &mut buf).await.is_none(), "connection closed after a text frame");
}

#[tokio::test]
async fn the_listener_packet_size_limit_applies_and_is_advertised() {
    let (_b, port) = ws_broker("max_packet_size_bytes = 256\n");
    let mut ws = open(port).await;
    let v = Protocol::V5;
    ws.send(Message::Binary(encode(&Packet::Connect(Box::new(connect_packet(v, "big"))), v).freeze()))
        .await
        .expect("send");
    let mut buf = BytesMut::new();
    match read_packet(&mut ws, &mut buf).await {
        Some(Packet::ConnAck(c)) => assert_eq!(c.properties.maximum_packet_size, Some(256)),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let big = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "big".into(),
        packet_id: None,
        payload: Bytes::from(vec![b'x'; 400]),
        properties: Default::default(),
    });
    ws.send(Message::Binary(encode(&big, v).freeze())).await.expect("send");
    match read_packet(&mut ws, &mut buf).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason.code(), 0x95, "Packet too large"),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
}
