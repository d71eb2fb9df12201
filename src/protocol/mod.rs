//! The MQTT codec: sans-IO, version-aware, strict.
//!
//! This module imports nothing from the rest of the crate. It turns bytes into [`Packet`]s and
//! back for MQTT 3.1, 3.1.1 and 5.0:
//!
//! - [`decode_packet`] takes a read buffer and returns `Ok(None)` while it needs more bytes, a
//!   [`Packet`] once one is complete, or a [`DecodeError`] that names the specification
//!   statement the bytes violate and the reason code to report it with.
//! - [`encode_packet`] appends one packet to a write buffer, and [`encoded_len`] tells its size
//!   beforehand (to honour a peer's Maximum Packet Size).
//! - [`topic`] validates topic names and filters and matches them.
//! - [`Sparse`] keeps a packet's properties off the packet while it has none.

pub mod error;
pub mod packet;
pub mod reason;
pub mod sparse;
pub mod topic;

mod codec;

pub use codec::{decode_packet, encode_packet, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use packet::*;
pub use reason::ReasonCode;
pub use sparse::Sparse;
