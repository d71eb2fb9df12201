//! Interoperability with third-party clients: Debian's `mosquitto_pub` / `mosquitto_sub`
//! (MQTT 3.1.1 and 5) and Python's paho-mqtt. The tools must be installed (`.ci/run` installs
//! them); a missing tool fails the test with a message saying what to install.

#[path = "../common/mod.rs"]
mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn tool(name: &str) -> Command {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output();
    match found {
        Ok(o) if o.status.success() => Command::new(name),
        _ => panic!("`{name}` is not installed: apt-get install -y mosquitto-clients python3 && pip install paho-mqtt"),
    }
}

/// Waits for a child with a deadline; kills it and panics on timeout.
fn wait_with_timeout(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("output"),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                panic!("{what} did not finish in time");
            }
        }
    }
}

async fn wait_for_subscriptions(b: &TestBroker, n: usize) {
    within("subscriptions", async {
        loop {
            if b.handle.stats().await.is_some_and(|s| s.subscriptions >= n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn mosquitto_round_trip(version: &str, qos: u8) {
    let b = TestBroker::start();
    let port = b.port().to_string();
    let q = qos.to_string();
    let spawn_sub = || {
        tool("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port, "-V", version, "-q", &q])
            .args(["-t", "/geektime/iot", "-v", "-C", "1", "-W", "8"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub starts")
    };
    let (s1, s2) = (spawn_sub(), spawn_sub());
    wait_for_subscriptions(&b, 2).await;
    let status = tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", version, "-q", &q])
        .args(["-t", "/geektime/iot", "-m", "Hello,World!"])
        .status()
        .expect("mosquitto_pub runs");
    assert!(status.success(), "mosquitto_pub failed");
    for (i, s) in [s1, s2].into_iter().enumerate() {
        let out = wait_with_timeout(s, "mosquitto_sub");
        assert!(out.status.success(), "subscriber {i}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/geektime/iot Hello,World!\n", "subscriber {i}");
    }
}

#[tokio::test]
async fn mosquitto_clients_v311_qos0() {
    mosquitto_round_trip("mqttv311", 0).await;
}

#[tokio::test]
async fn mosquitto_clients_v311_qos1() {
    mosquitto_round_trip("mqttv311", 1).await;
}

#[tokio::test]
async fn mosquitto_clients_v311_qos2() {
    mosquitto_round_trip("mqttv311", 2).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_qos0() {
    mosquitto_round_trip("mqttv5", 0).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_qos1() {
    mosquitto_round_trip("mqttv5", 1).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_qos2() {
    mosquitto_round_trip("mqttv5", 2).await;
}

#[tokio::test]
async fn mosquitto_clients_v31() {
    mosquitto_round_trip("mqttv31", 1).await;
}

#[tokio::test]
async fn paho_mqtt_python_v311_and_v5() {
    let b = TestBroker::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/paho_roundtrip.py");
    let child = tool("python3")
        .args([script, &b.port().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let out = tokio::task::spawn_blocking(move || wait_with_timeout(child, "paho script")).await.unwrap();
    assert!(
        out.status.success(),
        "paho: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok v311 v5"));
}
