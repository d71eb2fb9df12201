//! Bounds-checked reading of the MQTT data types (section 1.5) from a packet body.

use bytes::{Buf, Bytes};
use bytestring::ByteString;

use crate::protocol::error::DecodeError;

/// Decodes a Variable Byte Integer from the front of `bytes` (section 1.5.5).
///
/// `Ok(None)` when `bytes` ends before the integer does; otherwise the value and the number of
/// bytes it used.
pub(super) fn decode_varint(bytes: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A multi-byte encoding whose last byte is 0 could have been shorter.
            if i > 0 && byte == 0 {
                return Err(DecodeError::VarIntNotMinimal);
            }
            return Ok(Some((value, i + 1)));
        }
        if i == 3 {
            return Err(DecodeError::VarIntTooLong);
        }
    }
    Ok(None)
}

/// A cursor over a packet body. Every read is bounds-checked and fails with
/// [`DecodeError::Truncated`] past the end; strings and binary data are zero-copy slices.
pub(super) struct Reader {
    buf: Bytes,
}

impl Reader {
    /// Reads from `buf`.
    pub(super) fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    /// Bytes left.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes =
            self.buf.get(..N).and_then(|s| <[u8; N]>::try_from(s).ok()).ok_or(DecodeError::Truncated)?;
        self.buf.advance(N);
        Ok(bytes)
    }

    /// A byte.
    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// A Two Byte Integer.
    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A Four Byte Integer.
    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A Variable Byte Integer.
    pub(super) fn varint(&mut self) -> Result<u32, DecodeError> {
        let (value, len) = decode_varint(&self.buf)?.ok_or(DecodeError::Truncated)?;
        self.buf.advance(len);
        Ok(value)
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(self.buf.split_to(n))
    }

    /// Binary Data: a two byte length and that many bytes.
    pub(super) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 [MQTT-1.5.4-1] without U+0000
    /// [MQTT-1.5.4-2]. Other control characters and non-characters are accepted
    /// [MQTT-1.5.4-3].
    pub(super) fn string(&mut self) -> Result<ByteString, DecodeError> {
        let bytes = self.binary()?;
        // In well-formed UTF-8 the byte 0 only ever encodes U+0000.
        if bytes.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// A UTF-8 String Pair.
    pub(super) fn string_pair(&mut self) -> Result<(ByteString, ByteString), DecodeError> {
        Ok((self.string()?, self.string()?))
    }

    /// Everything that is left.
    pub(super) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything has been read.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries() {
        let cases: &[(&[u8], u32)] = &[
            (&[0x00], 0),
            (&[0x7F], 127),
            (&[0x80, 0x01], 128),
            (&[0xFF, 0x7F], 16_383),
            (&[0x80, 0x80, 0x01], 16_384),
            (&[0xFF, 0xFF, 0x7F], 2_097_151),
            (&[0x80, 0x80, 0x80, 0x01], 2_097_152),
            (&[0xFF, 0xFF, 0xFF, 0x7F], 268_435_455),
        ];
        for &(bytes, value) in cases {
            assert_eq!(decode_varint(bytes), Ok(Some((value, bytes.len()))));
            // Every strict prefix is incomplete.
            for n in 0..bytes.len() {
                assert_eq!(decode_varint(&bytes[..n]), Ok(None));
            }
        }
    }

    #[test]
    fn varint_longer_than_four_bytes_is_malformed() {
        assert_eq!(decode_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), Err(DecodeError::VarIntTooLong));
        assert_eq!(decode_varint(&[0x80, 0x80, 0x80, 0x80]), Err(DecodeError::VarIntTooLong));
    }

    #[test]
    fn varint_not_minimal_is_malformed() {
        // [MQTT-1.5.5-1]
        assert_eq!(decode_varint(&[0x80, 0x00]), Err(DecodeError::VarIntNotMinimal));
        assert_eq!(decode_varint(&[0x81, 0x80, 0x00]), Err(DecodeError::VarIntNotMinimal));
    }

    #[test]
    fn strings() {
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03abc\x00\x00"));
        assert_eq!(r.string().unwrap(), "abc");
        assert_eq!(r.string().unwrap(), "");
        assert!(r.is_empty());
        // [MQTT-1.5.4-1]
        let mut r = Reader::new(Bytes::from_static(b"\x00\x02\xC3\x28"));
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        // An encoded surrogate (U+D800) is not UTF-8.
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03\xED\xA0\x80"));
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        // [MQTT-1.5.4-2]
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03a\x00b"));
        assert_eq!(r.string(), Err(DecodeError::NullCharacter));
        // [MQTT-1.5.4-3]: control characters and non-characters are accepted.
        let mut r = Reader::new(Bytes::from_static(b"\x00\x07\x01\x7F\xC2\x80\xEF\xBF\xBF"));
        assert_eq!(r.string().unwrap(), "\u{1}\u{7F}\u{80}\u{FFFF}");
        // Length past the end.
        let mut r = Reader::new(Bytes::from_static(b"\x00\x05abc"));
        assert_eq!(r.string(), Err(DecodeError::Truncated));
        let mut r = Reader::new(Bytes::from_static(b"\x00"));
        assert_eq!(r.string(), Err(DecodeError::Truncated));
    }

    #[test]
    fn integers() {
        let mut r = Reader::new(Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 0x80]));
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u32(), Ok(0x0405_0607));
        assert_eq!(r.varint(), Err(DecodeError::Truncated));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
        assert_eq!(r.u16(), Err(DecodeError::Truncated));
    }
}
