//! Disk full: with the store on a small tmpfs this test mounts itself (root needed), filling
//! the disk makes new QoS 1/2 publishes fail with 0x97 and `/ready` answer 503; every message
//! acknowledged before stays stored and is delivered once space returns and after a restart;
//! new publishes succeed again.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aviary::config::Config;
use aviary::protocol::{Packet, Protocol, PubResponse, QoS, ReasonCode};
use aviary::{Broker, BrokerHandle};

use crate::util::{http, Event, Wire};

/// A tmpfs mounted on a temporary directory, unmounted at drop (also when a test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); fails the test with a clear
    /// message when mounting is not permitted.
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { dir },
            Ok(o) => panic!(
                "this test mounts a tmpfs to fill its disk and needs root (or CAP_SYS_ADMIN): \
                 `mount -t tmpfs` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this test mounts a tmpfs to fill its disk: cannot run `mount`: {e}"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` until the file system is full, then gives `leave` bytes back; returns
    /// its path.
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).expect("the filler file is created");
        for chunk in [64 * 1024, 4096, 1] {
            let block = vec![0xA5u8; chunk];
            loop {
                match f.write(&block) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling the disk: {e}"),
                }
            }
        }
        let len = f.metadata().expect("the filler's size").len();
        f.set_len(len.saturating_sub(leave)).expect("the filler is shortened");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(self.dir.path()).status().is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a broker left running by a failed assertion): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}

/// A durable broker with its store at `path` and the HTTP listener on; returns the HTTP base.
fn start(path: &Path) -> (BrokerHandle, SocketAddr, String) {
    let toml = format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:0\"\ntoken = \"secret\"\n\
         [persistence]\nmode = \"durable\"\npath = \"{}\"\n",
        path.display()
    );
    let mut config = Config::from_toml_str(&toml, "t").expect("test config");
    config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
    config.listeners.truncate(1);
    let h = Broker::start(config).expect("broker starts");
    let (addr, url) = (h.addr(), format!("http://{}", h.http_addr().expect("http listener")));
    (h, addr, url)
}

/// A payload naming the message, padded to `len` bytes.
fn payload(name: &str, len: usize) -> Vec<u8> {
    let mut p = format!("{name}|").into_bytes();
    p.resize(len.max(p.len()), b'.');
    p
}

fn name_of(payload: &[u8]) -> String {
    let end = payload.iter().position(|&b| b == b'|').unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// A publisher that waits for each acknowledgement.
struct Publisher {
    wire: Wire,
    next_id: u16,
}

impl Publisher {
    async fn connect(addr: SocketAddr) -> Publisher {
        let (wire, _) =
            Wire::connect(addr, Protocol::V5, "df-pub", true, 0).await.expect("publisher connects");
        Publisher { wire, next_id: 0 }
    }

    /// Publishes at `qos` (1 or 2) and returns the reason code of PUBACK/PUBREC; completes
    /// the QoS 2 flow when it succeeded.
    async fn publish(&mut self, topic: &str, body: &[u8], qos: QoS, retain: bool) -> ReasonCode {
        self.next_id = self.next_id % 60_000 + 1;
        let id = self.next_id;
        self.wire.publish(topic, body, qos, Some(id), retain).await.expect("publish sent");
        let reason = loop {
            match self.wire.next(Duration::from_secs(5)).await {
                Event::Packet(Packet::PubAck(r)) if qos == QoS::AtLeastOnce && r.packet_id == id => {
                    break r.reason
                }
                Event::Packet(Packet::PubRec(r)) if qos == QoS::ExactlyOnce && r.packet_id == id => {
                    break r.reason
                }
                Event::Packet(_) => {}
                other => panic!("no acknowledgement for packet {id}: {other:?}"),
            }
        };
        if qos == QoS::ExactlyOnce && reason == ReasonCode::Success {
            self.wire.send(&Packet::PubRel(PubResponse::success(id))).await.expect("PUBREL sent");
            match self.wire.recv(Duration::from_secs(5)).await {
                Some(Packet::PubComp(c)) => assert_eq!(c.packet_id, id),
                other => panic!("expected PUBCOMP, got {other:?}"),
            }
        }
        reason
    }
}

/// Reconnects a persistent subscriber and collects the names of what it receives until
/// nothing arrives for a second.
async fn collect(addr: SocketAddr, id: &str) -> (bool, BTreeSet<String>) {
    let (mut w, ack) = Wire::connect(addr, Protocol::V5, id, false, 3600).await.expect("subscriber connects");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match w.next(Duration::from_secs(1)).await {
            Event::Packet(Packet::Publish(p)) => {
                got.insert(name_of(&p.payload));
                w.ack(&Packet::Publish(p)).await;
            }
            Event::Packet(other) => w.ack(&other).await,
            Event::Timeout | Event::Closed => break,
        }
    }
    (ack.session_present, got)
}

async fn ready_status(url: &str) -> (u16, String) {
    http("GET", format!("{url}/ready"), None).await
}

/// Publishes large QoS 1 messages named `{prefix}-N` until one is refused; adds the
/// acknowledged ones to `acked`. Returns the name of the refused one: it was in the commit
/// that met the full disk, already routed, so it is kept although its publisher got 0x97.
async fn publish_until_refused(p: &mut Publisher, prefix: &str, acked: &mut BTreeSet<String>) -> String {
    for i in 0..400 {
        let name = format!("{prefix}-{i}");
        match p.publish("df/x", &payload(&name, 32 * 1024), QoS::AtLeastOnce, false).await {
            ReasonCode::Success => acked.insert(name),
            other => {
                assert_eq!(other, ReasonCode::QuotaExceeded, "{name}: the publish that meets the full disk");
                return name;
            }
        };
    }
    panic!("400 publishes of 32 KiB did not fill the store's disk");
}

/// While the disk is full: new QoS 1 and QoS 2 publishes get 0x97 (also after the writer
/// retried) and `/ready` answers 503. Returns the names of the refused messages.
async fn check_refusals(p: &mut Publisher, url: &str, prefix: &str) -> BTreeSet<String> {
    let (status, body) = ready_status(url).await;
    assert_eq!((status, body.trim()), (503, "store not writable"), "/ready while the disk is full");
    let mut refused = BTreeSet::new();
    for round in 0..2 {
        for (qos, q) in [(QoS::AtLeastOnce, "q1"), (QoS::ExactlyOnce, "q2")] {
            let name = format!("{prefix}-{q}-{round}");
            let reason = p.publish("df/x", &payload(&name, 10), qos, false).await;
            assert_eq!(
                reason,
                ReasonCode::QuotaExceeded,
                "{name}: PUBACK/PUBREC 0x97 while the disk is full"
            );
            refused.insert(name);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await; // the writer retries every second
    }
    assert_eq!(ready_status(url).await.0, 503, "still not ready after retries on a full disk");
    refused
}

/// While the disk is full, a burst of changes (100 subscriptions of a persistent session)
/// does not make the writer retry once per change: it retries once a second.
async fn check_retry_pace(broker: &BrokerHandle, addr: SocketAddr) {
    let (mut w, _) = Wire::connect(addr, Protocol::V5, "churner", true, 3600).await.expect("connects");
    let failures = || broker.metrics().persist_failures.get();
    let (before, t0) = (failures(), Instant::now());
    for i in 0..100 {
        w.subscribe(&format!("churn/{i}"), QoS::AtLeastOnce).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (tries, secs) = (failures() - before, t0.elapsed().as_secs_f64());
    assert!(
        tries as f64 <= secs + 2.0,
        "{tries} failed commits in {secs:.1} s: the writer must retry once a second"
    );
}

/// Publishes one QoS 1 and one QoS 2 message that must succeed.
async fn publish_ok(p: &mut Publisher, prefix: &str, acked: &mut BTreeSet<String>) {
    for (qos, q) in [(QoS::AtLeastOnce, "q1"), (QoS::ExactlyOnce, "q2")] {
        let name = format!("{prefix}-{q}");
        assert_eq!(p.publish("df/x", &payload(&name, 10), qos, false).await, ReasonCode::Success, "{name}");
        acked.insert(name);
    }
}

/// Reconnects `id` and checks it receives every acknowledged message and no refused one.
async fn check_delivered(addr: SocketAddr, id: &str, acked: &BTreeSet<String>, refused: &BTreeSet<String>) {
    let (present, got) = collect(addr, id).await;
    assert!(present, "{id}: the session is still there");
    let lost: Vec<_> = acked.difference(&got).collect();
    assert!(lost.is_empty(), "{id}: acknowledged but not delivered: {lost:?}");
    let wrong: Vec<_> = refused.intersection(&got).collect();
    assert!(wrong.is_empty(), "{id}: refused yet delivered: {wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_refuses_new_qos1_and_qos2_publishes_keeps_stored_messages_and_recovers() {
    let fs = Tmpfs::mount("8m");
    let path = fs.path().join("store.redb");
    let (broker, addr, url) = start(&path);
    // "early" comes back once space has returned, "late" only after restarts.
    for id in ["early", "late"] {
        let (mut s, _) =
            Wire::connect(addr, Protocol::V5, id, true, 3600).await.expect("subscriber connects");
        assert_eq!(s.subscribe("df/#", QoS::AtLeastOnce).await, vec![ReasonCode::GrantedQoS1]);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut p = Publisher::connect(addr).await;
    let mut acked = BTreeSet::new();
    assert_eq!(p.publish("keep/r", b"retained|", QoS::AtLeastOnce, true).await, ReasonCode::Success);
    publish_ok(&mut p, "before", &mut acked).await;

    // The disk fills while the broker runs, then space returns.
    let filler = fs.fill("filler", 512 * 1024);
    publish_until_refused(&mut p, "fill", &mut acked).await;
    let mut refused = check_refusals(&mut p, &url, "refused").await;
    check_retry_pace(&broker, addr).await;
    std::fs::remove_file(&filler).expect("the filler is removed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready_status(&url).await.0 != 200 {
        assert!(Instant::now() < deadline, "/ready did not recover after space returned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    publish_ok(&mut p, "after", &mut acked).await;
    check_delivered(addr, "early", &acked, &refused).await;

    // The disk fills again and the broker is stopped and restarted while it is full.
    let filler = fs.fill("filler", 512 * 1024);
    publish_until_refused(&mut p, "fill2", &mut acked).await;
    refused.append(&mut check_refusals(&mut p, &url, "refused2").await);
    drop(p);
    broker.stop();
    // Started on the full disk, the broker opens the store (its file has room for small
    // changes) and refuses what does not fit, as before.
    let (broker, addr, url) = start(&path);
    let mut p = Publisher::connect(addr).await;
    publish_until_refused(&mut p, "fill3", &mut acked).await;
    refused.append(&mut check_refusals(&mut p, &url, "refused3").await);
    drop(p);
    broker.stop();
    std::fs::remove_file(&filler).expect("the filler is removed");

    let (broker, addr, url) = start(&path);
    assert_eq!(ready_status(&url).await.0, 200, "ready after the restart");
    check_delivered(addr, "late", &acked, &refused).await;
    let (mut fresh, _) = Wire::connect(addr, Protocol::V5, "fresh", true, 0).await.expect("connects");
    fresh.subscribe("keep/r", QoS::AtMostOnce).await;
    match fresh.recv(Duration::from_secs(5)).await {
        Some(Packet::Publish(m)) => assert_eq!(name_of(&m.payload), "retained"),
        other => panic!("expected the retained message, got {other:?}"),
    }
    let mut p = Publisher::connect(addr).await;
    publish_ok(&mut p, "restarted", &mut acked).await;
    broker.stop();
    eprintln!("disk full twice (once across a restart): {} acknowledged messages, none lost", acked.len());
}
