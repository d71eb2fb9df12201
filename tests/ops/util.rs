//! Helpers for the operations tests: an HTTP client, the real `aviary` binary with a temp
//! config, and a small MQTT client over our codec that keeps its state across reconnects.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aviary::protocol::{self, Packet, Protocol, PubResponse, QoS, SubscriptionOptions};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP request: returns the status and the body.
pub async fn http(method: &'static str, url: String, token: Option<&str>) -> (u16, String) {
    let token = token.map(|t| format!("Bearer {t}"));
    let call = move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = match method {
            "DELETE" => {
                let mut r = agent.delete(&url);
                if let Some(t) = &token {
                    r = r.header("Authorization", t);
                }
                r.call()
            }
            _ => {
                let mut r = agent.get(&url);
                if let Some(t) = &token {
                    r = r.header("Authorization", t);
                }
                r.call()
            }
        }
        .expect("http request");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        (status, body)
    };
    crate::common::within("an http answer", async { tokio::task::spawn_blocking(call).await.unwrap() }).await
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real broker binary, started with a config file.
pub struct BrokerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Writes `toml` (plus a listener on a fixed port) to `dir/aviary.toml` and starts the
    /// binary; returns once it accepts connections.
    pub fn start(dir: &Path, port: u16, toml: &str) -> BrokerProcess {
        let text = format!("[[listener]]\nname = \"test\"\nbind = \"127.0.0.1:{port}\"\n\n{toml}\n");
        Self::start_args(dir, port, &text, &[])
    }

    /// Writes `toml` as it is to `dir/aviary.toml` and starts the binary with it and `args`;
    /// returns once something accepts connections on `port`.
    pub fn start_args(dir: &Path, port: u16, toml: &str, args: &[&str]) -> BrokerProcess {
        let config = dir.join("aviary.toml");
        std::fs::write(&config, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_aviary"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the aviary binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[aviary] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return BrokerProcess { child, addr, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the broker exited at startup: {status}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the broker did not start listening on {addr}");
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        for _ in 0..250 {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line containing {needle:?}");
    }

    /// Sends a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal sent");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the broker did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with a config and returns its exit status and stderr (for startup errors).
pub fn run_to_exit(config: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .arg("--config")
        .arg(config)
        .output()
        .expect("the aviary binary runs");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A temp directory removed at drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The store path inside `dir`.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("store.redb")
}

/// What [`Wire::next`] saw.
#[allow(clippy::large_enum_variant)] // test helper, one value at a time
#[derive(Debug)]
pub enum Event {
    /// A packet.
    Packet(Packet),
    /// Nothing within the limit.
    Timeout,
    /// The connection ended.
    Closed,
}

/// A minimal MQTT connection over our codec: no panics, explicit timeouts.
pub struct Wire {
    stream: TcpStream,
    buf: BytesMut,
    pub protocol: Protocol,
}

impl Wire {
    /// Connects and completes CONNECT/CONNACK; `None` if the broker is not there.
    pub async fn connect(
        addr: SocketAddr,
        protocol: Protocol,
        id: &str,
        clean: bool,
        expiry: u32,
    ) -> Option<(Wire, protocol::ConnAck)> {
        let stream =
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await.ok()?.ok()?;
        let mut w = Wire { stream, buf: BytesMut::new(), protocol };
        let mut c = crate::common::connect_packet(protocol, id);
        c.clean_start = clean;
        if protocol == Protocol::V5 && expiry > 0 {
            c.properties.session_expiry_interval = Some(expiry);
        }
        w.send(&Packet::Connect(Box::new(c))).await.ok()?;
        match w.recv(Duration::from_secs(5)).await {
            Some(Packet::ConnAck(a)) => Some((w, a)),
            _ => None,
        }
    }

    /// Sends a packet.
    pub async fn send(&mut self, p: &Packet) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        protocol::encode_packet(p, self.protocol, &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.stream.write_all(&out).await
    }

    /// The next packet within `limit`; `None` on timeout or when the connection closed.
    pub async fn recv(&mut self, limit: Duration) -> Option<Packet> {
        match self.next(limit).await {
            Event::Packet(p) => Some(p),
            _ => None,
        }
    }

    /// The next packet, a timeout, or the end of the connection.
    pub async fn next(&mut self, limit: Duration) -> Event {
        let fut = async {
            loop {
                match protocol::decode_packet(&mut self.buf, Some(self.protocol), u32::MAX) {
                    Ok(Some(p)) => return Event::Packet(p),
                    Ok(None) => {}
                    Err(_) => return Event::Closed,
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return Event::Closed,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, fut).await.unwrap_or(Event::Timeout)
    }

    /// Subscribes and waits for SUBACK; returns its reason codes.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<aviary::protocol::ReasonCode> {
        let s = protocol::Subscribe {
            packet_id: 1,
            subscription_identifier: None,
            user_properties: vec![],
            filters: vec![(filter.into(), SubscriptionOptions { qos, ..Default::default() })],
        };
        self.send(&Packet::Subscribe(s)).await.unwrap();
        loop {
            match self.recv(Duration::from_secs(5)).await {
                Some(Packet::SubAck(a)) => return a.reason_codes,
                Some(_) => continue,
                None => panic!("no SUBACK"),
            }
        }
    }

    /// Publishes (QoS 0 or with `packet_id`).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        packet_id: Option<u16>,
        retain: bool,
    ) -> std::io::Result<()> {
        let p = protocol::Publish {
            dup: false,
            qos,
            retain,
            topic: topic.into(),
            packet_id,
            payload: bytes::Bytes::copy_from_slice(payload),
            properties: Default::default(),
        };
        self.send(&Packet::Publish(p)).await
    }

    /// Answers PUBREL with PUBCOMP and PUBLISH with PUBACK/PUBREC.
    pub async fn ack(&mut self, p: &Packet) {
        let r = match p {
            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                Packet::PubAck(PubResponse::success(p.packet_id.unwrap()))
            }
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                Packet::PubRec(PubResponse::success(p.packet_id.unwrap()))
            }
            Packet::PubRel(r) => Packet::PubComp(PubResponse::success(r.packet_id)),
            _ => return,
        };
        let _ = self.send(&r).await;
    }
}
