//! Properties of the acknowledgements (PUBACK … PUBCOMP, SUBACK, UNSUBACK), DISCONNECT and
//! AUTH (sections 3.4.2.2, 3.9.2.1, 3.11.2.1, 3.14.2.2 and 3.15.2.2).

use super::*;
use crate::protocol::packet::{AckProperties, AuthProperties, DisconnectProperties};

impl DecodeProps for AckProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (REASON_STRING, Value::Str(v)) => once(&mut self.reason_string, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }
}

impl WriteProps for AckProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_str(s, REASON_STRING, &self.reason_string);
        put_users(s, &self.user_properties);
    }
}

impl DecodeProps for DisconnectProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(v)) => once(&mut self.session_expiry_interval, v, id),
            (REASON_STRING, Value::Str(v)) => once(&mut self.reason_string, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            (SERVER_REFERENCE, Value::Str(v)) => once(&mut self.server_reference, v, id),
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }
}

impl WriteProps for DisconnectProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_u32(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_str(s, REASON_STRING, &self.reason_string);
        put_users(s, &self.user_properties);
        put_str(s, SERVER_REFERENCE, &self.server_reference);
    }
}

impl DecodeProps for AuthProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (AUTHENTICATION_METHOD, Value::Str(v)) => once(&mut self.authentication_method, v, id),
            (AUTHENTICATION_DATA, Value::Bin(v)) => once(&mut self.authentication_data, v, id),
            (REASON_STRING, Value::Str(v)) => once(&mut self.reason_string, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        check_auth(&self.authentication_method, &self.authentication_data)
    }
}

impl WriteProps for AuthProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_str(s, AUTHENTICATION_METHOD, &self.authentication_method);
        put_bin(s, AUTHENTICATION_DATA, &self.authentication_data);
        put_str(s, REASON_STRING, &self.reason_string);
        put_users(s, &self.user_properties);
    }
}
