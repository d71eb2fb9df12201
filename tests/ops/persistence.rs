//! Persistence: a restart keeps sessions and retained messages; a damaged store stops
//! startup; `kill -9` under QoS 1 and QoS 2 load loses no acknowledged message and
//! duplicates no QoS 2 message.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aviary::config::Config;
use aviary::protocol::{Packet, Protocol, PubResponse, QoS, ReasonCode};
use aviary::{Broker, BrokerHandle};

use crate::util::{free_port, run_to_exit, store_path, temp_dir, BrokerProcess, Event, Wire};

fn start(path: &std::path::Path, mode: &str) -> (BrokerHandle, SocketAddr) {
    let toml = format!(
        "[persistence]\nmode = \"{mode}\"\npath = \"{}\"\nsnapshot_interval_secs = 3600\n",
        path.display()
    );
    let mut config = Config::from_toml_str(&toml, "t").unwrap();
    config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
    let h = Broker::start(config).expect("broker starts");
    let addr = h.addr();
    (h, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_sessions_queued_and_retained_messages() {
    for mode in ["periodic", "durable"] {
        let dir = temp_dir();
        let path = store_path(dir.path());
        let (broker, addr) = start(&path, mode);
        let (mut s, _) = Wire::connect(addr, Protocol::V5, "keeper", true, 3600).await.unwrap();
        s.subscribe("t/#", QoS::ExactlyOnce).await;
        drop(s);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut p, _) = Wire::connect(addr, Protocol::V3_1_1, "pub", true, 0).await.unwrap();
        p.publish("t/r", b"retained", QoS::AtLeastOnce, Some(1), true).await.unwrap();
        for id in 2..=4u16 {
            p.publish("t/x", format!("m{id}").as_bytes(), QoS::AtLeastOnce, Some(id), false).await.unwrap();
        }
        for _ in 0..4 {
            assert!(matches!(p.recv(Duration::from_secs(5)).await, Some(Packet::PubAck(_))));
        }
        broker.stop(); // periodic mode writes at shutdown

        let (broker, addr) = start(&path, mode);
        let (mut s, ack) = Wire::connect(addr, Protocol::V5, "keeper", false, 3600).await.unwrap();
        assert!(ack.session_present, "{mode}: the session survived the restart");
        let mut got = Vec::new();
        while got.len() < 4 {
            match s.recv(Duration::from_secs(5)).await {
                Some(Packet::Publish(m)) => {
                    got.push(String::from_utf8_lossy(&m.payload).into_owned());
                    s.ack(&Packet::Publish(m)).await;
                }
                Some(other) => s.ack(&other).await,
                None => break,
            }
        }
        assert_eq!(got, vec!["retained", "m2", "m3", "m4"], "{mode}: queued messages in order");
        let (mut fresh, _) = Wire::connect(addr, Protocol::V5, "fresh", true, 0).await.unwrap();
        fresh.subscribe("t/r", QoS::AtMostOnce).await;
        match fresh.recv(Duration::from_secs(5)).await {
            Some(Packet::Publish(m)) => assert_eq!(&m.payload[..], b"retained", "{mode}"),
            other => panic!("{mode}: expected the retained message, got {other:?}"),
        }
        broker.stop();
    }
}

/// A retained QoS 1 message sent to a persistent session when it subscribes is stored as
/// itself and delivered at once, not when the next message is published [MQTT-3.3.1-6]; after
/// a restart the queued copy is still that message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_message_for_a_new_persistent_subscription_is_stored_and_sent_at_once() {
    for mode in ["periodic", "durable"] {
        let dir = temp_dir();
        let path = store_path(dir.path());
        let (broker, addr) = start(&path, mode);
        let (mut p, _) = Wire::connect(addr, Protocol::V3_1_1, "pub", true, 0).await.unwrap();
        p.publish("r/t", b"retained", QoS::AtLeastOnce, Some(1), true).await.unwrap();
        assert!(matches!(p.recv(Duration::from_secs(5)).await, Some(Packet::PubAck(_))));
        let (mut s, _) = Wire::connect(addr, Protocol::V5, "keeper", true, 3600).await.unwrap();
        s.subscribe("r/t", QoS::AtLeastOnce).await;
        match s.recv(Duration::from_secs(5)).await {
            Some(Packet::Publish(m)) => assert_eq!(&m.payload[..], b"retained", "{mode}"),
            other => panic!("{mode}: the retained message did not come at once: {other:?}"),
        }
        // Not acknowledged: it stays queued. Another publish must not take its place.
        p.publish("other", b"other", QoS::AtLeastOnce, Some(2), false).await.unwrap();
        assert!(matches!(p.recv(Duration::from_secs(5)).await, Some(Packet::PubAck(_))));
        drop(s);
        tokio::time::sleep(Duration::from_millis(200)).await;
        broker.stop();

        let (broker, addr) = start(&path, mode);
        let (mut s, ack) = Wire::connect(addr, Protocol::V5, "keeper", false, 3600).await.unwrap();
        assert!(ack.session_present, "{mode}");
        match s.recv(Duration::from_secs(5)).await {
            Some(Packet::Publish(m)) => {
                assert_eq!(
                    (&m.topic[..], &m.payload[..]),
                    ("r/t", &b"retained"[..]),
                    "{mode}: the stored copy"
                )
            }
            other => panic!("{mode}: expected the retained message again, got {other:?}"),
        }
        broker.stop();
    }
}

#[test]
fn a_damaged_store_stops_startup_with_a_clear_error() {
    let dir = temp_dir();
    let path = store_path(dir.path());
    std::fs::write(&path, vec![0x5Au8; 8192]).unwrap();
    let config = dir.path().join("aviary.toml");
    let toml = format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\n[persistence]\nmode = \"durable\"\npath = \"{}\"\n",
        path.display()
    );
    std::fs::write(&config, toml).unwrap();
    let (status, stderr) = run_to_exit(&config);
    assert!(!status.success(), "must not start");
    assert!(stderr.contains("store.redb"), "{stderr}");
    assert!(stderr.contains("docs/operations.md"), "points at the way out: {stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5Au8; 8192], "the file is left as it was");
}

/// Shared record of what subscribers received and publishers had acknowledged.
#[derive(Default)]
struct Ledger {
    acked: HashMap<&'static str, HashSet<u32>>,
    received: HashMap<&'static str, Vec<u32>>,
}

/// A persistent subscriber that survives broker restarts, receiving like a real QoS 2
/// receiver: a PUBLISH whose packet id awaits PUBREL is not delivered again (method B).
///
/// With `away` set, it disconnects right after subscribing and stays away until `away` is
/// cleared, so everything published meanwhile waits in its persistent session.
#[allow(clippy::too_many_arguments)]
async fn subscriber(
    addr: SocketAddr,
    id: &'static str,
    topic: &'static str,
    qos: QoS,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::mpsc::UnboundedSender<()>,
    away: Option<Arc<AtomicBool>>,
) {
    let mut awaiting_pubrel: HashSet<u16> = HashSet::new();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let Some((mut w, _)) = Wire::connect(addr, Protocol::V5, id, first, 3600).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if first {
            w.subscribe(topic, qos).await;
            first = false;
            let _ = ready.send(());
            if let Some(away) = &away {
                drop(w);
                while away.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
        }
        loop {
            match w.next(Duration::from_millis(100)).await {
                Event::Packet(Packet::Publish(p)) => {
                    let seq = u32::from_be_bytes(p.payload[..4].try_into().unwrap());
                    let fresh = p.qos != QoS::ExactlyOnce || awaiting_pubrel.insert(p.packet_id.unwrap());
                    if fresh {
                        ledger.lock().unwrap().received.entry(id).or_default().push(seq);
                    }
                    w.ack(&Packet::Publish(p)).await;
                }
                Event::Packet(Packet::PubRel(r)) => {
                    awaiting_pubrel.remove(&r.packet_id);
                    w.ack(&Packet::PubRel(r)).await;
                }
                Event::Packet(_) => {}
                Event::Timeout if stop.load(Ordering::Relaxed) => return,
                Event::Timeout => {}
                Event::Closed => break,
            }
        }
    }
}

/// Publishes numbered messages with up to 16 in flight until the connection ends; records
/// each one the broker acknowledged (PUBACK, or PUBREC for QoS 2).
async fn publisher(addr: SocketAddr, topic: &'static str, qos: QoS, ledger: Arc<Mutex<Ledger>>) {
    let (mut w, _) = Wire::connect(addr, Protocol::V5, &format!("pub-{topic}"), true, 0).await.unwrap();
    let mut inflight: HashMap<u16, u32> = HashMap::new();
    let mut seq: u32 = 0;
    loop {
        while inflight.len() < 16 {
            seq += 1;
            let pid = (seq % 60_000) as u16 + 1;
            if w.publish(topic, &seq.to_be_bytes(), qos, Some(pid), false).await.is_err() {
                return;
            }
            inflight.insert(pid, seq);
        }
        let r = match w.next(Duration::from_secs(5)).await {
            Event::Packet(Packet::PubAck(r)) => r,
            Event::Packet(Packet::PubRec(r)) => {
                if w.send(&Packet::PubRel(PubResponse::success(r.packet_id))).await.is_err() {
                    return;
                }
                r
            }
            Event::Packet(Packet::PubComp(_)) => continue,
            Event::Packet(_) | Event::Timeout => continue,
            Event::Closed => return,
        };
        assert_eq!(r.reason, ReasonCode::Success);
        if let Some(s) = inflight.remove(&r.packet_id) {
            ledger.lock().unwrap().acked.entry(topic).or_default().insert(s);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_qos1_and_qos2_load_loses_no_acknowledged_message() {
    let dir = temp_dir();
    let port = free_port();
    let toml = format!(
        "[mqtt]\nmax_queued_messages = 0\n[persistence]\nmode = \"durable\"\npath = \"{}\"\n",
        store_path(dir.path()).display()
    );
    let broker = BrokerProcess::start(dir.path(), port, &toml);
    let addr = broker.addr;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    // Per QoS: one subscriber online during the load (in-flight state at the kill) and one
    // away (everything waits in its stored session).
    let away = Arc::new(AtomicBool::new(true));
    let subs = [
        ("sub-q1", "load/1", QoS::AtLeastOnce, None),
        ("sub-q2", "load/2", QoS::ExactlyOnce, None),
        ("away-q1", "load/1", QoS::AtLeastOnce, Some(away.clone())),
        ("away-q2", "load/2", QoS::ExactlyOnce, Some(away.clone())),
    ]
    .map(|(id, topic, qos, a)| {
        tokio::spawn(subscriber(addr, id, topic, qos, ledger.clone(), stop.clone(), ready_tx.clone(), a))
    });
    for _ in 0..4 {
        crate::common::within("subscribers ready", ready.recv()).await;
    }
    let pubs = [("load/1", QoS::AtLeastOnce), ("load/2", QoS::ExactlyOnce)]
        .map(|(topic, qos)| tokio::spawn(publisher(addr, topic, qos, ledger.clone())));
    // Load until each publisher has 1,500 acknowledged messages, then kill -9.
    let t0 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let l = ledger.lock().unwrap();
        let n = |t| l.acked.get(t).map_or(0, HashSet::len);
        if (n("load/1") >= 1500 && n("load/2") >= 1500) || t0.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let load_secs = t0.elapsed().as_secs_f64();
    let mut broker = broker;
    broker.child.kill().unwrap(); // SIGKILL
    broker.child.wait().unwrap();
    for p in pubs {
        crate::common::within("publishers stop", p).await.unwrap();
    }
    let acked = std::mem::take(&mut ledger.lock().unwrap().acked);
    assert!(
        acked["load/1"].len() >= 100 && acked["load/2"].len() >= 100,
        "load ran: {} / {}",
        acked["load/1"].len(),
        acked["load/2"].len()
    );

    let _restarted = BrokerProcess::start(dir.path(), port, &toml);
    away.store(false, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = |ledger: &Ledger, sub: &str, topic: &str| -> Vec<u32> {
        let got: HashSet<u32> =
            ledger.received.get(sub).map(|v| v.iter().copied().collect()).unwrap_or_default();
        let mut m: Vec<u32> = acked[topic].difference(&got).copied().collect();
        m.sort_unstable();
        m
    };
    loop {
        let done = {
            let l = ledger.lock().unwrap();
            [("sub-q1", "load/1"), ("sub-q2", "load/2"), ("away-q1", "load/1"), ("away-q2", "load/2")]
                .iter()
                .all(|(s, t)| missing(&l, s, t).is_empty())
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for s in subs {
        crate::common::within("subscribers stop", s).await.unwrap();
    }
    let l = ledger.lock().unwrap();
    assert_eq!(missing(&l, "sub-q1", "load/1"), Vec::<u32>::new(), "QoS 1: acknowledged but never delivered");
    assert_eq!(missing(&l, "sub-q2", "load/2"), Vec::<u32>::new(), "QoS 2: acknowledged but never delivered");
    assert_eq!(missing(&l, "away-q1", "load/1"), Vec::<u32>::new(), "QoS 1, stored session");
    assert_eq!(missing(&l, "away-q2", "load/2"), Vec::<u32>::new(), "QoS 2, stored session");
    for sub in ["sub-q2", "away-q2"] {
        let mut seen = HashSet::new();
        let dups: Vec<u32> = l.received[sub].iter().copied().filter(|s| !seen.insert(*s)).collect();
        assert_eq!(dups, Vec::<u32>::new(), "{sub}: QoS 2 messages delivered twice");
    }
    eprintln!(
        "kill -9: {} QoS 1 and {} QoS 2 acknowledged in {load_secs:.2} s before the kill; all delivered, QoS 2 once each",
        acked["load/1"].len(),
        acked["load/2"].len()
    );
}
