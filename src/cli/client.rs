//! A small MQTT client on our own codec: connect, send, receive, keep alive, and (with `-d`)
//! every packet printed to stderr as it is sent or received.

use std::time::Duration;

use aviary::protocol::{self, ConnAck, Connect, Packet, Protocol, ReasonCode};
use aviary::transport::listener::{BoxRead, BoxWrite};
use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, FramedRead};

use super::error::{describe_reason, CliError};
use super::net::{self, TlsOptions};
use super::url::Target;

/// Decodes packets from the broker.
struct ClientDecoder(Protocol);

/// Why reading failed.
enum ReadFail {
    Io(std::io::Error),
    Malformed(protocol::DecodeError),
}

impl From<std::io::Error> for ReadFail {
    fn from(e: std::io::Error) -> Self {
        ReadFail::Io(e)
    }
}

impl Decoder for ClientDecoder {
    type Item = Packet;
    type Error = ReadFail;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, ReadFail> {
        protocol::decode_packet(src, Some(self.0), u32::MAX).map_err(ReadFail::Malformed)
    }
}

/// What woke the client up (short-lived, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A packet arrived.
    Packet(Packet),
    /// It is time to send PINGREQ.
    PingDue,
}

/// A connected client.
pub struct Client {
    read: FramedRead<BoxRead, ClientDecoder>,
    write: BoxWrite,
    target: Target,
    protocol: Protocol,
    debug: bool,
    /// The client id (as assigned by the broker, if it assigned one).
    pub client_id: String,
    keep_alive: Option<Duration>,
    next_ping: Instant,
    /// Time allowed for connecting and for each acknowledgement.
    pub timeout: Duration,
    next_id: u16,
}

impl Client {
    /// Opens the connection, sends CONNECT and waits for a successful CONNACK.
    pub async fn connect(
        target: &Target,
        tls: &TlsOptions,
        connect: Connect,
        debug: bool,
        timeout: Duration,
    ) -> Result<(Client, ConnAck), CliError> {
        let what = format!("connecting to {}", target.display());
        let (reader, writer) = within(timeout, &what, net::open(target, tls)).await?;
        let mut client = Client {
            read: FramedRead::new(reader, ClientDecoder(connect.protocol)),
            write: writer,
            target: target.clone(),
            protocol: connect.protocol,
            debug,
            client_id: connect.client_id.to_string(),
            keep_alive: (connect.keep_alive > 0).then(|| Duration::from_secs(u64::from(connect.keep_alive))),
            next_ping: Instant::now(),
            timeout,
            next_id: 0,
        };
        client.send(&Packet::Connect(Box::new(connect))).await?;
        let waiting = format!("waiting for CONNACK from {}", target.display());
        let first = within(timeout, &waiting, client.read_packet()).await.map_err(|e| match e {
            CliError::Connection(why) => CliError::Connect {
                target: target.display(),
                why: format!("{why} before answering CONNECT (wrong port? a TLS listener needs mqtts://, a WebSocket one ws://)"),
            },
            other => other,
        })?;
        let connack = match first {
            Packet::ConnAck(c) => c,
            other => {
                return Err(CliError::Connection(format!(
                    "expected CONNACK, the broker sent {}",
                    other.name()
                )))
            }
        };
        if connack.reason.is_error() {
            return Err(CliError::from_connack(connack.reason));
        }
        if let Some(id) = &connack.properties.assigned_client_identifier {
            client.client_id = id.to_string();
        }
        if let Some(k) = connack.properties.server_keep_alive {
            client.keep_alive = (k > 0).then(|| Duration::from_secs(u64::from(k)));
        }
        client.touch();
        Ok((client, connack))
    }

    /// A fresh packet identifier.
    pub fn next_packet_id(&mut self) -> u16 {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.next_id
    }

    /// Sends one packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), CliError> {
        let mut buf = BytesMut::new();
        protocol::encode_packet(packet, self.protocol, &mut buf)
            .map_err(|e| CliError::Usage(format!("cannot encode {}: {e}", packet.name())))?;
        if self.debug {
            eprintln!("[{}] sent {}", self.client_id, describe(packet));
        }
        let written = match self.write.write_all(&buf).await {
            Ok(()) => self.write.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(|e| self.io_error(e))?;
        self.touch();
        Ok(())
    }

    /// Waits for the next packet or for the keep alive to call for a ping. Cancel-safe: it
    /// only reads and sleeps, so it may race other futures in a `select!`.
    pub async fn next_event(&mut self) -> Result<Event, CliError> {
        let ping_at = self.next_ping;
        let keep_alive = self.keep_alive.is_some();
        tokio::select! {
            p = self.read_packet() => p.map(Event::Packet),
            _ = tokio::time::sleep_until(ping_at), if keep_alive => Ok(Event::PingDue),
        }
    }

    /// The next packet that is not a PINGRESP, sending PINGREQs as the keep alive asks.
    /// A DISCONNECT from the broker is an error.
    pub async fn recv(&mut self) -> Result<Packet, CliError> {
        loop {
            match self.next_event().await? {
                Event::PingDue => self.send(&Packet::PingReq).await?,
                Event::Packet(Packet::PingResp) => continue,
                Event::Packet(Packet::Disconnect(d)) => {
                    let why =
                        d.properties.reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
                    return Err(CliError::Connection(format!(
                        "the broker disconnected us with {}{why}",
                        describe_reason(d.reason)
                    )));
                }
                Event::Packet(p) => return Ok(p),
            }
        }
    }

    /// Sends DISCONNECT and closes the connection.
    pub async fn disconnect(mut self) -> Result<(), CliError> {
        self.send(&Packet::Disconnect(Default::default())).await?;
        let _ = tokio::time::timeout(self.timeout, self.write.shutdown()).await;
        Ok(())
    }

    async fn read_packet(&mut self) -> Result<Packet, CliError> {
        match self.read.next().await {
            Some(Ok(p)) => {
                if self.debug {
                    eprintln!("[{}] received {}", self.client_id, describe(&p));
                }
                Ok(p)
            }
            Some(Err(ReadFail::Io(e))) => Err(self.io_error(e)),
            Some(Err(ReadFail::Malformed(e))) => {
                Err(CliError::Connection(format!("the broker sent a malformed packet: {e}")))
            }
            None => Err(CliError::Connection(format!("{} closed the connection", self.target.display()))),
        }
    }

    /// Any packet sent resets the keep alive clock [MQTT-3.1.2-23].
    fn touch(&mut self) {
        if let Some(k) = self.keep_alive {
            self.next_ping = Instant::now() + k;
        }
    }

    fn io_error(&self, e: std::io::Error) -> CliError {
        net::tls_error(&self.target, &e).unwrap_or_else(|| {
            CliError::Connection(format!("connection to {} failed: {e}", self.target.display()))
        })
    }
}

/// Awaits `f` for at most `limit`; `what` completes "timed out ...".
pub async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| CliError::Timeout(format!("{what} (after {}s)", limit.as_secs_f32())))?
}

/// A packet for `-d`: its debug form, with the password hidden and payloads as a length.
pub fn describe(p: &Packet) -> String {
    match p {
        Packet::Connect(c) => {
            let mut c = c.clone();
            if c.password.is_some() {
                c.password = Some(bytes::Bytes::from_static(b"<hidden>"));
            }
            if let Some(w) = &mut c.will {
                w.payload = bytes::Bytes::from(format!("<{} bytes>", w.payload.len()));
            }
            format!("CONNECT {c:?}")
        }
        Packet::Publish(p) => format!(
            "PUBLISH {{ topic: {:?}, qos: {}, retain: {}, dup: {}, packet_id: {:?}, payload: {} bytes, properties: {:?} }}",
            p.topic, p.qos as u8, p.retain, p.dup, p.packet_id, p.payload.len(), p.properties
        ),
        Packet::ConnAck(c) if c.reason != ReasonCode::Success => {
            format!("CONNACK {} {c:?}", describe_reason(c.reason))
        }
        other => format!("{other:?}"),
    }
}
