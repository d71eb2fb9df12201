//! The session's read side: a stream of decoded packets over any byte stream.
//!
//! Reads go into a per-thread scratch buffer (64 KiB), so an idle connection holds no read
//! buffer at all: only the bytes of a packet that has not fully arrived are kept per
//! connection. Decoded packets slice that buffer without copying.

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_util::Stream;
use tokio::io::AsyncRead;

use crate::flow::Backpressure;
use crate::protocol::{self, DecodeError, Packet, Protocol};
use std::future::Future;
use std::sync::atomic::Ordering;
use tokio::sync::futures::OwnedNotified;

/// Bytes read per syscall at most.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(SCRATCH_BYTES));
    /// When the last read on this thread returned data.
    static READ_AT: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// When a packet decoded now on this thread was received, near enough for message expiry:
/// the time of the thread's last read that returned data, which is no earlier than the read
/// that brought the packet's bytes and no later than now. One clock read per read syscall
/// instead of one per packet.
pub fn received_at() -> std::time::Instant {
    READ_AT.with(|at| at.get()).unwrap_or_else(std::time::Instant::now)
}

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

/// What the read side yields.
#[derive(Debug)]
// Nearly every item is a packet (one `Drained` per burst): boxing it would allocate per packet.
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    /// The next packet.
    Packet(Packet),
    /// Every packet received so far has been yielded: the connection has nothing more to
    /// read for now (yielded once after each burst of packets).
    Drained,
}

/// Decodes packets from a byte stream; learns the protocol version from CONNECT.
pub struct PacketStream<R> {
    io: R,
    /// Bytes received but not yet decoded (normally empty between bursts).
    pending: BytesMut,
    protocol: Option<Protocol>,
    max_packet_size: u32,
    done: bool,
    /// A packet was yielded since the last [`Inbound::Drained`].
    burst: bool,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    backpressure: Option<std::sync::Arc<Backpressure>>,
    /// Deliveries waiting in this session's mailbox: a session with some keeps reading (its
    /// client's acknowledgements are what lets them out).
    own_pending: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
    /// Registered for the end of a pause.
    resumed: Option<Pin<Box<OwnedNotified>>>,
}

impl<R> PacketStream<R> {
    /// A stream for a new connection.
    pub fn new(io: R, max_packet_size: u32) -> Self {
        PacketStream {
            io,
            pending: BytesMut::new(),
            protocol: None,
            max_packet_size,
            done: false,
            burst: false,
            metrics: None,
            backpressure: None,
            own_pending: None,
            resumed: None,
        }
    }

    /// Counts the bytes it decodes in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Pauses reading while `backpressure` says so (see [`crate::flow`]), unless deliveries
    /// wait in this session's mailbox (`pending`).
    pub fn with_backpressure(
        mut self,
        backpressure: std::sync::Arc<Backpressure>,
        pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> Self {
        self.backpressure = Some(backpressure);
        self.own_pending = Some(pending);
        self
    }

    /// Ready when reading may go on.
    fn poll_flow(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(bp) = &self.backpressure else { return Poll::Ready(()) };
        let consuming = || self.own_pending.as_ref().is_some_and(|p| p.load(Ordering::Relaxed) > 0);
        loop {
            if !bp.is_paused() || consuming() {
                self.resumed = None;
                return Poll::Ready(());
            }
            match &mut self.resumed {
                None => {
                    // Registered before the flag is read again, so a resume in between counts.
                    let mut waiter = Box::pin(bp.resumed());
                    waiter.as_mut().enable();
                    self.resumed = Some(waiter);
                }
                Some(waiter) => {
                    std::task::ready!(waiter.as_mut().poll(cx));
                    self.resumed = None;
                }
            }
        }
    }

    fn decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        let before = self.pending.len();
        let packet = protocol::decode_packet(&mut self.pending, self.protocol, self.max_packet_size)?;
        if let Some(m) = &self.metrics {
            m.bytes_received.add((before - self.pending.len()) as u64);
        }
        if let Some(Packet::Connect(c)) = &packet {
            self.protocol = Some(c.protocol);
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            // Give the allocation back (decoded packets keep what they slice).
            self.pending = BytesMut::new();
        }
        Ok(packet)
    }
}

impl<R: AsyncRead + Unpin> Stream for PacketStream<R> {
    type Item = Result<Inbound, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.poll_packet(cx) {
            Poll::Pending if std::mem::take(&mut this.burst) => Poll::Ready(Some(Ok(Inbound::Drained))),
            Poll::Ready(Some(Ok(p))) => {
                this.burst = true;
                Poll::Ready(Some(Ok(Inbound::Packet(p))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<R: AsyncRead + Unpin> PacketStream<R> {
    /// The next packet, reading from the connection when none is buffered.
    fn poll_packet(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Packet, ReadError>>> {
        let this = self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            // Paused: not even what was read already is decoded (it would go to the router).
            std::task::ready!(this.poll_flow(cx));
            match this.decode() {
                Ok(Some(p)) => return Poll::Ready(Some(Ok(p))),
                Ok(None) => {}
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(ReadError::Decode(e))));
                }
            }
            let read = SCRATCH.with(|s| {
                let mut scratch = s.borrow_mut();
                scratch.clear();
                if scratch.capacity() < SCRATCH_BYTES {
                    scratch.reserve(SCRATCH_BYTES);
                }
                let r = tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut *scratch);
                if let Poll::Ready(Ok(n)) = r {
                    if n > 0 {
                        this.pending.extend_from_slice(&scratch[..n]);
                        READ_AT.with(|at| at.set(Some(std::time::Instant::now())));
                    }
                }
                r
            });
            match read {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(ReadError::Io(e))));
                }
            }
        }
    }
}
