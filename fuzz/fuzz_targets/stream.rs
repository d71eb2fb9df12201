//! Feeds a byte stream to the decoder in pieces, as a session's socket reads do:
//! `cargo fuzz run stream`.
//!
//! The input format is the `decode` target's (first byte: protocol and size limit selector;
//! the rest: the stream). The selector also seeds the sizes of the pieces. The packets (and
//! the error that ends the stream, if any) must be exactly those that decoding the whole
//! stream at once gives; `Ok(None)` must consume nothing; the protocol switches after CONNECT.

#![no_main]

use aviary::protocol::{decode_packet, DecodeError, Packet, Protocol};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

/// What decoding a stream gives: its packets, then the error that ended it (if any).
type Outcome = (Vec<Packet>, Option<DecodeError>);

/// Decodes as many packets as `buf` holds, learning the protocol from CONNECT.
fn drain(buf: &mut BytesMut, protocol: &mut Option<Protocol>, max: u32, out: &mut Outcome) -> bool {
    loop {
        let before = buf.len();
        match decode_packet(buf, *protocol, max) {
            Ok(Some(packet)) => {
                let used = before - buf.len();
                assert!(used <= max as usize, "{used} bytes over the limit {max}");
                if let Packet::Connect(c) = &packet {
                    *protocol = Some(c.protocol);
                }
                out.0.push(packet);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return true;
            }
            Err(e) => {
                out.1 = Some(e);
                return false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let initial = match selector % 3 {
        0 => None,
        1 => Some(Protocol::V3_1_1),
        _ => Some(Protocol::V5),
    };
    let max = if selector & 0x80 != 0 { 256 } else { u32::MAX };

    let mut whole = Outcome::default();
    drain(&mut BytesMut::from(stream), &mut initial.clone(), max, &mut whole);

    let mut pieces = Outcome::default();
    let mut protocol = initial;
    let mut pending = BytesMut::new();
    let mut rest = stream;
    let mut state = u32::from(selector) | 1;
    while !rest.is_empty() {
        // xorshift: piece sizes from 1 to 16 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 16 + 1).min(rest.len());
        pending.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if !drain(&mut pending, &mut protocol, max, &mut pieces) {
            break;
        }
    }
    assert_eq!(pieces, whole);
});
