//! `aviary pub --max-inflight`: QoS 1/2 messages are pipelined up to the window, never beyond
//! the broker's Receive Maximum, delivered in order, and `pub` exits once all are
//! acknowledged. Checked against the real broker (500 lines, in order) and against a broker
//! written in the test that holds its acknowledgements back to see the window itself.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use aviary::protocol::{
    decode_packet, encode_packet, ConnAck, ConnAckProperties, Packet, Protocol, PubResponse, QoS, ReasonCode,
};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{within, TestBroker};
use crate::procs::{aviary, Proc};
use crate::walk::subscriber;

#[test]
fn five_hundred_lines_at_qos_1_and_2_arrive_in_order() {
    let b = TestBroker::start();
    let url = format!("mqtt://127.0.0.1:{}", b.port());
    let sub = subscriber("sub", &url, &[], &["-t", "pipe/#", "-v", "-q", "2", "-C", "1000", "-W", "60"]);
    let lines: String = (0..500).map(|i| format!("line {i}\n")).collect();
    let input = std::env::temp_dir().join(format!("aviary-pipeline-{}.txt", std::process::id()));
    std::fs::write(&input, &lines).expect("input file");
    let mut expected = String::new();
    for qos in ["1", "2"] {
        let stdin = std::fs::File::open(&input).expect("input");
        let topic = format!("pipe/q{qos}");
        let p = Proc::spawn_with_stdin(
            "pub -l",
            aviary().args(["pub", "--url", &url, "-t", &topic, "-q", qos, "-l", "-d"]),
            Stdio::from(stdin),
        );
        let out = p.finish().success();
        // The default window (20) was used: several PUBLISHes were sent before the first
        // acknowledgement came back, never more than 20.
        let most = most_outstanding(&out.stderr);
        assert!((2..=20).contains(&most), "at most {most} in flight at QoS {qos}");
        expected.extend(lines.lines().map(|l| format!("{topic} {l}\n")));
    }
    let _ = std::fs::remove_file(&input);
    assert_eq!(sub.finish().success().stdout, expected);
}

/// The most QoS 1/2 PUBLISHes sent and not yet acknowledged (PUBACK, PUBCOMP), from `-d`.
fn most_outstanding(debug: &str) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for line in debug.lines() {
        if line.contains("] sent PUBLISH") {
            now += 1;
            most = most.max(now);
        } else if line.contains("] received PubAck") || line.contains("] received PubComp") {
            now -= 1;
        }
    }
    assert_eq!(now, 0, "every publish acknowledged before exit");
    most
}

/// A broker written for the test: one connection, acknowledgements sent by hand.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    protocol: Option<Protocol>,
}

impl Peer {
    /// Starts `aviary pub <args>` against a fresh port, accepts it, answers its CONNECT with
    /// a CONNACK carrying `receive_maximum`.
    async fn accept_pub(args: &[&str], receive_maximum: Option<u16>) -> (Peer, Proc) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let url = format!("mqtt://127.0.0.1:{}", addr.port());
        let proc = Proc::spawn("aviary pub", aviary().args(["pub", "--url", &url]).args(args));
        let (stream, _) = within("aviary pub to connect", listener.accept()).await.expect("accept");
        let mut peer = Peer { stream, buf: BytesMut::new(), protocol: None };
        let Packet::Connect(c) = peer.recv().await else { panic!("expected CONNECT") };
        peer.protocol = Some(c.protocol);
        let properties = ConnAckProperties { receive_maximum, ..Default::default() };
        peer.send(Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: properties.into(),
        }))
        .await;
        (peer, proc)
    }

    async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        encode_packet(&p, self.protocol.unwrap_or(Protocol::V5), &mut out).expect("encode");
        within("write", self.stream.write_all(&out)).await.expect("write");
    }

    async fn recv(&mut self) -> Packet {
        self.try_recv(Duration::from_secs(5)).await.expect("a packet from aviary pub")
    }

    /// The next packet within `d`, or `None`.
    async fn try_recv(&mut self, d: Duration) -> Option<Packet> {
        let next = async {
            loop {
                if let Some(p) = decode_packet(&mut self.buf, self.protocol, u32::MAX).expect("valid packet")
                {
                    return p;
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "aviary pub closed the connection");
            }
        };
        tokio::time::timeout(d, next).await.ok()
    }

    /// Receives a QoS `qos` PUBLISH; returns its packet id.
    async fn publish(&mut self, qos: QoS) -> u16 {
        match self.recv().await {
            Packet::Publish(p) if p.qos == qos => p.packet_id.expect("packet id"),
            other => panic!("expected a QoS {} PUBLISH, got {other:?}", qos as u8),
        }
    }

    /// Asserts that nothing arrives for a while: the client waits for acknowledgements.
    async fn quiet(&mut self) {
        if let Some(p) = self.try_recv(Duration::from_millis(300)).await {
            panic!("aviary pub sent {p:?} with its window full");
        }
    }
}

#[tokio::test]
async fn qos1_window_is_filled_and_never_exceeded() {
    let args = ["-t", "w", "-m", "x", "-q", "1", "--repeat", "10", "--max-inflight", "4"];
    let (mut peer, proc) = Peer::accept_pub(&args, None).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(peer.publish(QoS::AtLeastOnce).await);
    }
    peer.quiet().await;
    // One PUBACK, one more PUBLISH.
    peer.send(Packet::PubAck(PubResponse::success(ids[0]))).await;
    ids.push(peer.publish(QoS::AtLeastOnce).await);
    peer.quiet().await;
    for k in 1..10 {
        peer.send(Packet::PubAck(PubResponse::success(ids[k]))).await;
        if ids.len() < 10 {
            ids.push(peer.publish(QoS::AtLeastOnce).await);
        }
    }
    assert_eq!(ids, (1..=10).collect::<Vec<u16>>(), "distinct packet ids, in order");
    // All acknowledged: DISCONNECT, exit 0.
    assert!(matches!(peer.recv().await, Packet::Disconnect(_)));
    proc.finish().success();
}

#[tokio::test]
async fn qos2_window_is_capped_by_receive_maximum_until_pubcomp() {
    let args = ["-t", "w", "-m", "x", "-q", "2", "--repeat", "5"];
    // Default window 20, but the broker's Receive Maximum is 2 [MQTT-3.3.4-7].
    let (mut peer, proc) = Peer::accept_pub(&args, Some(2)).await;
    let (a, b) = (peer.publish(QoS::ExactlyOnce).await, peer.publish(QoS::ExactlyOnce).await);
    peer.quiet().await;
    // After PUBREC the message still counts until PUBCOMP: PUBREL, and no new PUBLISH.
    peer.send(Packet::PubRec(PubResponse::success(a))).await;
    assert_eq!(peer.recv().await, Packet::PubRel(PubResponse::success(a)));
    peer.quiet().await;
    peer.send(Packet::PubComp(PubResponse::success(a))).await;
    let mut open = vec![b, peer.publish(QoS::ExactlyOnce).await];
    let mut done = 1;
    while done < 5 {
        let id = open.remove(0);
        peer.send(Packet::PubRec(PubResponse::success(id))).await;
        assert_eq!(peer.recv().await, Packet::PubRel(PubResponse::success(id)));
        peer.send(Packet::PubComp(PubResponse::success(id))).await;
        done += 1;
        if done + open.len() < 5 {
            open.push(peer.publish(QoS::ExactlyOnce).await);
        }
    }
    assert!(matches!(peer.recv().await, Packet::Disconnect(_)));
    proc.finish().success();
}

#[tokio::test]
async fn missing_acknowledgements_time_out() {
    let args = ["-t", "w", "-m", "x", "-q", "1", "--repeat", "3", "--timeout", "1"];
    let (mut peer, proc) = Peer::accept_pub(&args, None).await;
    for _ in 0..3 {
        peer.publish(QoS::AtLeastOnce).await;
    }
    let out = proc.finish().code(7);
    assert!(out.stderr.contains("timed out waiting for PUBACK (after 1s)"), "{}", out.stderr);
}
