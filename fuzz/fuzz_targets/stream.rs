//! Feeds a byte stream to the session's read side, [`PacketStream`], in pieces as socket reads
//! deliver them: `cargo fuzz run stream`.
//!
//! The input format is the `decode` target's: a selector byte, then the stream, which starts
//! a new connection (before CONNECT) whatever the selector. The selector's top bit sets the
//! packet size limit (256 bytes) and the whole byte seeds the sizes of the reads (1 to 16
//! bytes, sometimes none ready yet). The packets the session reads (and the decode error that
//! ends the stream, if any) must be exactly those that decoding the whole stream at once
//! gives, with the protocol switching after CONNECT.

#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use aviary::protocol::{decode_packet, DecodeError, Packet, Protocol};
use aviary::session::codec::{Inbound, PacketStream, ReadError};
use bytes::BytesMut;
use futures_core::Stream;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// Size limit of the session: in bytes of the whole packet.
fn limit(selector: u8) -> u32 {
    if selector & 0x80 != 0 {
        256
    } else {
        u32::MAX
    }
}

/// A socket that hands out `data` in pseudo-random pieces.
struct Pieces<'a> {
    data: &'a [u8],
    state: u32,
}

impl Pieces<'_> {
    fn next(&mut self) -> u32 {
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        self.state
    }
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = self.next();
        if r.is_multiple_of(5) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = (r as usize % 16 + 1).min(self.data.len()).min(buf.remaining());
        let (piece, rest) = self.data.split_at(n);
        buf.put_slice(piece);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// Decodes the whole stream at once: its packets, then the error that ends it (if any).
fn whole(stream: &[u8], mut protocol: Option<Protocol>, max: u32) -> (Vec<Packet>, Option<DecodeError>) {
    let mut buf = BytesMut::from(stream);
    let mut packets = Vec::new();
    loop {
        let before = buf.len();
        match decode_packet(&mut buf, protocol, max) {
            Ok(Some(packet)) => {
                let used = before - buf.len();
                assert!(used <= max as usize, "{used} bytes over the limit {max}");
                if let Packet::Connect(c) = &packet {
                    protocol = Some(c.protocol);
                }
                packets.push(packet);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return (packets, None);
            }
            Err(e) => return (packets, Some(e)),
        }
    }
}

/// Reads the stream through a session's [`PacketStream`] until it ends.
fn session(stream: &[u8], selector: u8) -> (Vec<Packet>, Option<DecodeError>) {
    let io = Pieces { data: stream, state: u32::from(selector) << 8 | 0x5A };
    let mut reader = PacketStream::new(io, limit(selector));
    let mut cx = Context::from_waker(Waker::noop());
    let mut packets = Vec::new();
    loop {
        match Pin::new(&mut reader).poll_next(&mut cx) {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(Inbound::Packet(packet)))) => packets.push(packet),
            Poll::Ready(Some(Ok(Inbound::Drained))) => {}
            Poll::Ready(Some(Err(ReadError::Decode(e)))) => {
                assert!(matches!(Pin::new(&mut reader).poll_next(&mut cx), Poll::Ready(None)));
                return (packets, Some(e));
            }
            Poll::Ready(Some(Err(ReadError::Io(e)))) => panic!("no I/O error was injected: {e}"),
            Poll::Ready(None) => return (packets, None),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    assert_eq!(session(stream, selector), whole(stream, None, limit(selector)));
});
