//! DISCONNECT (section 3.14) and AUTH (section 3.15).

use super::properties;
use super::read::Reader;
use super::reasons;
use super::write::Sink;
use super::{AUTH, DISCONNECT};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::packet::{Auth, Disconnect, Protocol};
use crate::protocol::reason::ReasonCode;

/// In MQTT 3.x a DISCONNECT has no variable header. In MQTT 5 an empty one means normal
/// disconnection, and the property length may be left out after the reason code.
pub(super) fn decode_disconnect(r: &mut Reader, protocol: Protocol) -> Result<Disconnect, DecodeError> {
    if !protocol.is_v5() || r.is_empty() {
        return Ok(Disconnect::default());
    }
    let reason = reasons::decode_v5(DISCONNECT, r.u8()?)?;
    let properties = if r.is_empty() { Default::default() } else { properties::decode(r, DISCONNECT)? };
    Ok(Disconnect { reason, properties })
}

pub(super) fn write_disconnect<S: Sink>(d: &Disconnect, protocol: Protocol, s: &mut S) {
    if !protocol.is_v5() {
        return;
    }
    let no_properties = properties::is_empty(&d.properties);
    if d.reason == ReasonCode::Success && no_properties {
        return;
    }
    s.u8(d.reason.code());
    if !no_properties {
        properties::encode(s, &d.properties);
    }
}

/// AUTH exists only in MQTT 5 (the caller has rejected it otherwise). An empty one means
/// Success; a reason code without a property length is accepted too.
pub(super) fn decode_auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    if r.is_empty() {
        return Ok(Auth::default());
    }
    let reason = reasons::decode_v5(AUTH, r.u8()?)?;
    let properties = if r.is_empty() { Default::default() } else { properties::decode(r, AUTH)? };
    Ok(Auth { reason, properties })
}

/// Writes the short form (nothing) for Success without properties, and otherwise the reason
/// code and the properties with their length, as section 3.15.2 describes.
pub(super) fn write_auth<S: Sink>(a: &Auth, protocol: Protocol, s: &mut S) {
    if !protocol.is_v5() {
        s.fail(EncodeError::NotInProtocol("AUTH"));
        return;
    }
    if a.reason == ReasonCode::Success && properties::is_empty(&a.properties) {
        return;
    }
    s.u8(a.reason.code());
    properties::encode(s, &a.properties);
}
