//! Adapts the sans-IO decoder to `tokio_util`'s framed reads for the session's read stream.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::protocol::{self, DecodeError, Packet, Protocol};

/// Why the read side ended.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The client sent a packet that violates the protocol.
    #[error("{0}")]
    Decode(DecodeError),
}

/// Decodes packets; learns the protocol version from CONNECT.
pub struct PacketDecoder {
    protocol: Option<Protocol>,
    max_packet_size: u32,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl PacketDecoder {
    /// A decoder for a new connection.
    pub fn new(max_packet_size: u32) -> Self {
        PacketDecoder { protocol: None, max_packet_size, metrics: None }
    }

    /// Counts the bytes it decodes in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl Decoder for PacketDecoder {
    type Item = Packet;
    type Error = ReadError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, ReadError> {
        let before = src.len();
        let packet =
            protocol::decode_packet(src, self.protocol, self.max_packet_size).map_err(ReadError::Decode)?;
        if let Some(m) = &self.metrics {
            m.bytes_received.add((before - src.len()) as u64);
        }
        if let Some(Packet::Connect(c)) = &packet {
            self.protocol = Some(c.protocol);
        }
        Ok(packet)
    }
}
