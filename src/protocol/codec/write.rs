//! Writing the MQTT data types through a [`Sink`].
//!
//! Each packet body is described once, as a sequence of writes into a generic [`Sink`]. The
//! [`Counter`] sink measures it (and finds what cannot be encoded) and the [`Writer`] sink
//! appends it to a buffer, so the length computed beforehand is exact by construction.

use bytes::{BufMut, BytesMut};

use crate::protocol::error::EncodeError;

/// The largest value a Variable Byte Integer holds (section 1.5.5).
pub(super) const MAX_VARINT: u32 = 268_435_455;

/// The number of bytes a Variable Byte Integer takes.
pub(super) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Something the encoder writes to: a byte counter or a buffer.
pub(super) trait Sink {
    /// A byte.
    fn u8(&mut self, v: u8);
    /// A Two Byte Integer.
    fn u16(&mut self, v: u16);
    /// A Four Byte Integer.
    fn u32(&mut self, v: u32);
    /// A Variable Byte Integer.
    fn varint(&mut self, v: u32);
    /// Bytes written as they are (a payload).
    fn raw(&mut self, b: &[u8]);
    /// Binary Data: a two byte length, then the bytes.
    fn binary(&mut self, b: &[u8]);
    /// A UTF-8 Encoded String.
    fn string(&mut self, s: &str);
    /// Records that the packet cannot be encoded.
    fn fail(&mut self, e: EncodeError);
}

/// Measures what is written and remembers the first error.
#[derive(Debug, Default)]
pub(super) struct Counter {
    /// Bytes written so far.
    pub(super) len: usize,
    /// The first reason the packet cannot be encoded.
    pub(super) error: Option<EncodeError>,
}

impl Counter {
    fn length_prefixed(&mut self, len: usize, too_long: fn(usize) -> EncodeError) {
        if len > usize::from(u16::MAX) {
            self.fail(too_long(len));
        }
        self.len += 2 + len;
    }
}

impl Sink for Counter {
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn varint(&mut self, v: u32) {
        if v > MAX_VARINT {
            self.fail(EncodeError::VarIntTooLarge(v));
        }
        self.len += varint_len(v as usize);
    }
    fn raw(&mut self, b: &[u8]) {
        self.len += b.len();
    }
    fn binary(&mut self, b: &[u8]) {
        self.length_prefixed(b.len(), EncodeError::BinaryTooLong);
    }
    fn string(&mut self, s: &str) {
        self.length_prefixed(s.len(), EncodeError::StringTooLong);
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
}

/// Appends to a buffer. Only used after a [`Counter`] pass found no error, so lengths fit.
pub(super) struct Writer<'a> {
    out: &'a mut BytesMut,
}

impl<'a> Writer<'a> {
    /// Appends to `out`.
    pub(super) fn new(out: &'a mut BytesMut) -> Self {
        Writer { out }
    }
}

/// Appends a Variable Byte Integer (values above the maximum are clamped; the counter pass
/// has rejected them).
pub(super) fn put_varint(out: &mut BytesMut, value: usize) {
    let mut v = value.min(MAX_VARINT as usize);
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

impl Sink for Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.put_u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.put_u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.out.put_u32(v);
    }
    fn varint(&mut self, v: u32) {
        put_varint(self.out, v as usize);
    }
    fn raw(&mut self, b: &[u8]) {
        self.out.put_slice(b);
    }
    fn binary(&mut self, b: &[u8]) {
        self.out.put_u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
        self.out.put_slice(b);
    }
    fn string(&mut self, s: &str) {
        self.binary(s.as_bytes());
    }
    fn fail(&mut self, _: EncodeError) {}
}

/// The length of what `write` produces.
pub(super) fn measure(write: impl FnOnce(&mut Counter)) -> usize {
    let mut c = Counter::default();
    write(&mut c);
    c.len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::read::decode_varint;

    #[test]
    fn varint_round_trip_at_boundaries() {
        for v in [0usize, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455] {
            let mut out = BytesMut::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(decode_varint(&out), Ok(Some((v as u32, out.len()))));
        }
    }

    #[test]
    fn counter_reports_oversized_fields() {
        let mut c = Counter::default();
        c.string(&"x".repeat(65_536));
        assert_eq!(c.error, Some(EncodeError::StringTooLong(65_536)));
        let mut c = Counter::default();
        c.binary(&[0; 70_000]);
        assert_eq!(c.error, Some(EncodeError::BinaryTooLong(70_000)));
        let mut c = Counter::default();
        c.varint(MAX_VARINT + 1);
        assert_eq!(c.error, Some(EncodeError::VarIntTooLarge(MAX_VARINT + 1)));
    }
}
