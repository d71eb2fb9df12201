//! A lean MQTT client for load generation, on the crate's own codec: buffered reads, batched
//! writes, no per-message allocation beyond the payload.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::protocol::*;

/// Why a benchmark connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The broker sent bytes we could not decode.
    #[error("broker sent an invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// Encoding failed.
    #[error("{0}")]
    Encode(#[from] EncodeError),
    /// The broker refused the connection.
    #[error("connection refused: reason 0x{0:02X}")]
    Refused(u8),
    /// The broker closed the connection.
    #[error("connection closed by the broker")]
    Closed,
    /// Something other than the expected packet arrived.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
}

/// Read side of a connection.
pub struct Reader {
    io: OwnedReadHalf,
    buf: BytesMut,
    protocol: Protocol,
}

/// Write side of a connection, with a batch buffer.
pub struct Writer {
    io: OwnedWriteHalf,
    /// Encoded packets not yet written.
    pub buf: BytesMut,
    protocol: Protocol,
}

/// Connects, sends CONNECT and waits for a successful CONNACK.
pub async fn connect(
    addr: SocketAddr,
    client_id: &str,
    protocol: Protocol,
    keep_alive: u16,
    persistent: bool,
) -> Result<(Reader, Writer), ClientError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let mut reader = Reader { io: r, buf: BytesMut::with_capacity(64 * 1024), protocol };
    let mut writer = Writer { io: w, buf: BytesMut::with_capacity(64 * 1024), protocol };
    let mut properties = ConnectProperties::default();
    if protocol.is_v5() {
        properties.receive_maximum = Some(u16::MAX);
        if persistent {
            properties.session_expiry_interval = Some(300);
        }
    }
    writer.push(&Packet::Connect(Box::new(Connect {
        protocol,
        clean_start: !persistent,
        keep_alive,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties,
    })))?;
    writer.flush().await?;
    match reader.next().await? {
        Packet::ConnAck(a) if !a.reason.is_error() => Ok((reader, writer)),
        Packet::ConnAck(a) => Err(ClientError::Refused(a.reason.code())),
        other => Err(ClientError::Unexpected(other.name())),
    }
}

impl Reader {
    /// A packet already in the read buffer, without reading the socket.
    pub fn buffered(&mut self) -> Result<Option<Packet>, ClientError> {
        Ok(decode_packet(&mut self.buf, Some(self.protocol), u32::MAX)?)
    }

    /// Next packet from the broker.
    pub async fn next(&mut self) -> Result<Packet, ClientError> {
        loop {
            if let Some(p) = decode_packet(&mut self.buf, Some(self.protocol), u32::MAX)? {
                return Ok(p);
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(64 * 1024);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }
}

impl Writer {
    /// Encodes a packet into the batch buffer.
    pub fn push(&mut self, packet: &Packet) -> Result<(), ClientError> {
        Ok(encode_packet(packet, self.protocol, &mut self.buf)?)
    }

    /// Encodes a PUBLISH into the batch buffer.
    pub fn publish(
        &mut self,
        topic: &str,
        qos: QoS,
        packet_id: Option<u16>,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.push(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            packet_id,
            payload,
            properties: Default::default(),
        }))
    }

    /// Writes the batch buffer.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if !self.buf.is_empty() {
            self.io.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Subscribes (packet id 1); the caller reads the SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ClientError> {
        self.push(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            subscription_identifier: None,
            user_properties: Vec::new(),
            filters: vec![(filter.into(), SubscriptionOptions { qos, ..Default::default() })],
        }))
    }
}
