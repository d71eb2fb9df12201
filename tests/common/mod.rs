//! Shared test helpers: a broker on an ephemeral port, rumqttc clients whose events arrive on
//! a channel, and a raw TCP client for protocol violations. Every await has a timeout.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use aviary::config::Config;
use aviary::protocol::{self, Packet, Protocol};
use aviary::{Broker, BrokerHandle};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long any single step may take.
pub const STEP: Duration = Duration::from_secs(5);

/// Awaits `f` for at most [`STEP`], panicking with `what` on timeout.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Asserts that nothing arrives on `rx` for `d`.
pub async fn nothing_for<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>, d: Duration) {
    if let Ok(Some(v)) = tokio::time::timeout(d, rx.recv()).await {
        panic!("expected nothing, got {v:?}");
    }
}

/// A broker on 127.0.0.1:0.
pub struct TestBroker {
    pub handle: BrokerHandle,
    pub addr: SocketAddr,
}

impl TestBroker {
    /// Default configuration.
    pub fn start() -> Self {
        Self::with_toml("")
    }

    /// Configuration from TOML; the listeners are replaced by one on an ephemeral port.
    pub fn with_toml(toml: &str) -> Self {
        Self::with_config(Self::config(toml))
    }

    /// The configuration [`TestBroker::with_toml`] starts from.
    pub fn config(toml: &str) -> Config {
        let mut config = Config::from_toml_str(toml, "test").expect("test config");
        config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
        config.listeners.truncate(1);
        if config.workers.threads == 0 {
            // Two session threads unless a test asks otherwise, whatever the machine: sessions
            // then sit on both sides of a thread boundary, the harder case (the default on a
            // 2-core machine would be one thread).
            config.workers.threads = 2;
        }
        config
    }

    /// Reloads the running broker with this TOML, read like [`TestBroker::with_toml`] (what
    /// SIGHUP does with the configuration file).
    pub fn reload(&self, toml: &str) -> aviary::reload::ReloadReport {
        self.handle.reload(&Self::config(toml))
    }

    /// A given configuration (its listeners are used as they are).
    pub fn with_config(config: Config) -> Self {
        let handle = Broker::start(config).expect("broker starts");
        let addr = handle.addr();
        TestBroker { handle, addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// An MQTT 3.1.1 client (rumqttc) whose events arrive on a channel.
pub struct V4 {
    pub client: rumqttc::AsyncClient,
    pub events: mpsc::UnboundedReceiver<rumqttc::Event>,
    pub errors: mpsc::UnboundedReceiver<rumqttc::ConnectionError>,
}

impl V4 {
    pub fn options(b: &TestBroker, id: &str) -> rumqttc::MqttOptions {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", b.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connects with clean session and waits for CONNACK.
    pub async fn connect(b: &TestBroker, id: &str) -> V4 {
        Self::connect_with(Self::options(b, id)).await
    }

    /// Connects with the given options and waits for CONNACK.
    pub async fn connect_with(opts: rumqttc::MqttOptions) -> V4 {
        let mut c = Self::spawn(opts);
        c.connack().await;
        c
    }

    /// Starts the event loop without waiting.
    pub fn spawn(opts: rumqttc::MqttOptions) -> V4 {
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1000);
        let (tx, events) = mpsc::unbounded_channel();
        let (etx, errors) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = etx.send(e);
                        return;
                    }
                }
            }
        });
        V4 { client, events, errors }
    }

    /// Waits for CONNACK and returns it.
    pub async fn connack(&mut self) -> rumqttc::ConnAck {
        loop {
            match self.next_incoming().await {
                rumqttc::Packet::ConnAck(c) => return c,
                _ => continue,
            }
        }
    }

    /// Next incoming packet.
    pub async fn next_incoming(&mut self) -> rumqttc::Packet {
        loop {
            let ev = within("an event", self.events.recv()).await;
            match ev {
                Some(rumqttc::Event::Incoming(p)) => return p,
                Some(_) => continue,
                None => {
                    let err = self.errors.try_recv().ok();
                    panic!("connection ended: {err:?}");
                }
            }
        }
    }

    /// Next incoming PUBLISH.
    pub async fn next_publish(&mut self) -> rumqttc::Publish {
        loop {
            if let rumqttc::Packet::Publish(p) = self.next_incoming().await {
                return p;
            }
        }
    }

    /// Subscribes and waits for SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: rumqttc::QoS) -> rumqttc::SubAck {
        within("subscribe", self.client.subscribe(filter, qos)).await.unwrap();
        loop {
            if let rumqttc::Packet::SubAck(s) = self.next_incoming().await {
                return s;
            }
        }
    }

    /// Asserts no PUBLISH arrives for `d`.
    pub async fn no_publish_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(ev) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if let Some(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = ev {
                panic!("unexpected publish {p:?}");
            }
            if ev.is_none() {
                return;
            }
        }
    }
}

/// An MQTT 5 client (rumqttc v5 API) whose events arrive on a channel.
pub struct V5 {
    pub client: rumqttc::v5::AsyncClient,
    pub events: mpsc::UnboundedReceiver<rumqttc::v5::Event>,
    pub errors: mpsc::UnboundedReceiver<rumqttc::v5::ConnectionError>,
}

pub use rumqttc::v5::mqttbytes::v5 as p5;

impl V5 {
    pub fn options(b: &TestBroker, id: &str) -> rumqttc::v5::MqttOptions {
        let mut o = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", b.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    pub async fn connect(b: &TestBroker, id: &str) -> V5 {
        Self::connect_with(Self::options(b, id)).await
    }

    pub async fn connect_with(opts: rumqttc::v5::MqttOptions) -> V5 {
        let mut c = Self::spawn(opts);
        c.connack().await;
        c
    }

    pub fn spawn(opts: rumqttc::v5::MqttOptions) -> V5 {
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(opts, 1000);
        let (tx, events) = mpsc::unbounded_channel();
        let (etx, errors) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = etx.send(e);
                        return;
                    }
                }
            }
        });
        V5 { client, events, errors }
    }

    pub async fn connack(&mut self) -> p5::ConnAck {
        loop {
            if let p5::Packet::ConnAck(c) = self.next_incoming().await {
                return c;
            }
        }
    }

    pub async fn next_incoming(&mut self) -> p5::Packet {
        loop {
            let ev = within("an event", self.events.recv()).await;
            match ev {
                Some(rumqttc::v5::Event::Incoming(p)) => return p,
                Some(_) => continue,
                None => {
                    let err = self.errors.try_recv().ok();
                    panic!("connection ended: {err:?}");
                }
            }
        }
    }

    pub async fn next_publish(&mut self) -> p5::Publish {
        loop {
            if let p5::Packet::Publish(p) = self.next_incoming().await {
                return p;
            }
        }
    }

    pub async fn no_publish_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(ev) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if let Some(rumqttc::v5::Event::Incoming(p5::Packet::Publish(p))) = ev {
                panic!("unexpected publish {p:?}");
            }
            if ev.is_none() {
                return;
            }
        }
    }
}

/// A raw TCP client that speaks bytes, for protocol violations and exact wire checks.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    pub protocol: Protocol,
    /// Packets set aside by a helper waiting for another one (see [`Raw::put_back`]); `recv`
    /// returns them first.
    put_back: std::collections::VecDeque<Packet>,
}

impl Raw {
    pub async fn connect(b: &TestBroker) -> Raw {
        Self::connect_addr(b.addr).await
    }

    /// Connects to any broker (a spawned process, say).
    pub async fn connect_addr(addr: SocketAddr) -> Raw {
        let stream = within("tcp connect", TcpStream::connect(addr)).await.unwrap();
        Raw { stream, buf: BytesMut::new(), protocol: Protocol::V5, put_back: Default::default() }
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        within("write", self.stream.write_all(bytes)).await.unwrap();
    }

    /// Encodes and sends a packet with the session's protocol.
    pub async fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        protocol::encode_packet(packet, self.protocol, &mut out).unwrap();
        self.send_bytes(&out).await;
    }

    /// Sends CONNECT for `id` and returns the CONNACK.
    pub async fn handshake(&mut self, protocol: Protocol, id: &str) -> protocol::ConnAck {
        self.protocol = protocol;
        self.send(&Packet::Connect(Box::new(connect_packet(protocol, id)))).await;
        match self.recv().await {
            Some(Packet::ConnAck(c)) => c,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Sets aside a packet received while waiting for another (a delivery that came before
    /// the acknowledgement a helper waits for): the next `recv` returns it.
    pub fn put_back(&mut self, p: Packet) {
        self.put_back.push_back(p);
    }

    /// Next packet, or `None` once the broker closed the connection.
    pub async fn recv(&mut self) -> Option<Packet> {
        if let Some(p) = self.put_back.pop_front() {
            return Some(p);
        }
        within("a packet", async {
            loop {
                if let Some(p) = protocol::decode_packet(&mut self.buf, Some(self.protocol), u32::MAX)
                    .expect("broker sent a valid packet")
                {
                    return Some(p);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Waits for the broker to close the connection, returning what it sent before.
    pub async fn closed(&mut self) -> Vec<Packet> {
        let mut got = Vec::new();
        while let Some(p) = self.recv().await {
            got.push(p);
        }
        got
    }
}

/// A plain CONNECT with clean start and a 30 s keep alive.
pub fn connect_packet(protocol: Protocol, id: &str) -> protocol::Connect {
    protocol::Connect {
        protocol,
        clean_start: true,
        keep_alive: 30,
        client_id: id.into(),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }
}
