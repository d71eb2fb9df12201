//! Signals to the real binary: SIGTERM (stop accepting, DISCONNECT 0x8B, exit 0 in bounded
//! time) and SIGHUP (reload what can change, report the rest).

use std::time::{Duration, Instant};

use aviary::protocol::{Packet, Protocol, ReasonCode};
use nix::sys::signal::Signal;

use crate::util::{free_port, temp_dir, BrokerProcess, Wire};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_disconnects_mqtt5_clients_with_0x8b_and_exits_0() {
    let dir = temp_dir();
    let port = free_port();
    let mut broker = BrokerProcess::start(dir.path(), port, "[limits]\nshutdown_timeout_secs = 5\n");
    let (mut c, _) = Wire::connect(broker.addr, Protocol::V5, "term", true, 0).await.unwrap();
    let started = Instant::now();
    broker.signal(Signal::SIGTERM);
    match c.recv(Duration::from_secs(5)).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    let status = broker.wait_exit(Duration::from_secs(8));
    assert_eq!(status.code(), Some(0), "exit status");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(std::net::TcpStream::connect(broker.addr).is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_log_level_and_reports_the_rest() {
    let dir = temp_dir();
    let port = free_port();
    let broker = BrokerProcess::start(dir.path(), port, "[log]\nlevel = \"info\"\n");
    let config = dir.path().join("aviary.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("level = \"info\"", "level = \"debug\"") + "[mqtt]\nmaximum_qos = 1\n";
    std::fs::write(&config, text).unwrap();
    broker.signal(Signal::SIGHUP);
    broker.wait_log("SIGHUP: log level changed");
    broker.wait_log("need a restart");
    assert!(broker.log.lock().unwrap().iter().any(|l| l.contains("mqtt")), "names the table");
    assert!(Wire::connect(broker.addr, Protocol::V5, "still-up", true, 0).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_listen_does_not_report_the_listener_as_changed() {
    let dir = temp_dir();
    let (port, file_port) = (free_port(), free_port());
    // The file's TCP listener is replaced by --listen; the reload must compare like with like.
    let toml =
        format!("[[listener]]\nname = \"file\"\nbind = \"127.0.0.1:{file_port}\"\n[log]\nlevel = \"info\"\n");
    let listen = format!("127.0.0.1:{port}");
    let broker = BrokerProcess::start_args(dir.path(), port, &toml, &["--listen", &listen]);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err(),
        "--listen replaced the file's listener"
    );
    let config = dir.path().join("aviary.toml");
    std::fs::write(&config, toml.replace("level = \"info\"", "level = \"debug\"")).unwrap();
    broker.signal(Signal::SIGHUP);
    broker.wait_log("SIGHUP: log level changed");
    broker.wait_log("SIGHUP: configuration reloaded");
    let log = broker.log.lock().unwrap().clone();
    assert!(!log.iter().any(|l| l.contains("need a restart")), "nothing needs a restart: {log:#?}");
    assert!(Wire::connect(broker.addr, Protocol::V5, "still-up", true, 0).await.is_some());
}
