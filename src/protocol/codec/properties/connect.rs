//! CONNECT, will and CONNACK properties (sections 3.1.2.11, 3.1.3.2 and 3.2.2.3).

use super::*;
use crate::protocol::packet::{ConnAckProperties, ConnectProperties, QoS, WillProperties};

impl DecodeProps for ConnectProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(v)) => once(&mut self.session_expiry_interval, v, id),
            (RECEIVE_MAXIMUM, Value::U16(v)) => {
                let v = non_zero(v, DecodeError::ZeroReceiveMaximum)?;
                once(&mut self.receive_maximum, v, id)
            }
            (MAXIMUM_PACKET_SIZE, Value::U32(v)) => {
                let v = non_zero(v, DecodeError::ZeroMaximumPacketSize)?;
                once(&mut self.maximum_packet_size, v, id)
            }
            (TOPIC_ALIAS_MAXIMUM, Value::U16(v)) => once(&mut self.topic_alias_maximum, v, id),
            (REQUEST_RESPONSE_INFORMATION, Value::Byte(v)) => {
                once(&mut self.request_response_information, boolean(v, id)?, id)
            }
            (REQUEST_PROBLEM_INFORMATION, Value::Byte(v)) => {
                once(&mut self.request_problem_information, boolean(v, id)?, id)
            }
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            (AUTHENTICATION_METHOD, Value::Str(v)) => once(&mut self.authentication_method, v, id),
            (AUTHENTICATION_DATA, Value::Bin(v)) => once(&mut self.authentication_data, v, id),
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        check_auth(&self.authentication_method, &self.authentication_data)
    }
}

impl WriteProps for ConnectProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_u32(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_u16(s, RECEIVE_MAXIMUM, self.receive_maximum);
        put_u32(s, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        put_u16(s, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_bool(s, REQUEST_RESPONSE_INFORMATION, self.request_response_information);
        put_bool(s, REQUEST_PROBLEM_INFORMATION, self.request_problem_information);
        put_users(s, &self.user_properties);
        put_str(s, AUTHENTICATION_METHOD, &self.authentication_method);
        put_bin(s, AUTHENTICATION_DATA, &self.authentication_data);
    }
}

impl DecodeProps for WillProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (WILL_DELAY_INTERVAL, Value::U32(v)) => once(&mut self.will_delay_interval, v, id),
            (PAYLOAD_FORMAT_INDICATOR, Value::Byte(v)) => {
                boolean(v, id)?;
                once(&mut self.payload_format_indicator, v, id)
            }
            (MESSAGE_EXPIRY_INTERVAL, Value::U32(v)) => once(&mut self.message_expiry_interval, v, id),
            (CONTENT_TYPE, Value::Str(v)) => once(&mut self.content_type, v, id),
            (RESPONSE_TOPIC, Value::Str(v)) => once(&mut self.response_topic, v, id),
            (CORRELATION_DATA, Value::Bin(v)) => once(&mut self.correlation_data, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        check_response_topic(&self.response_topic)
    }
}

impl WriteProps for WillProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_u32(s, WILL_DELAY_INTERVAL, self.will_delay_interval);
        put_u8(s, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        put_u32(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_str(s, CONTENT_TYPE, &self.content_type);
        put_str(s, RESPONSE_TOPIC, &self.response_topic);
        put_bin(s, CORRELATION_DATA, &self.correlation_data);
        put_users(s, &self.user_properties);
    }
}

impl DecodeProps for ConnAckProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        let p = self;
        match (id, value) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(v)) => once(&mut p.session_expiry_interval, v, id),
            (RECEIVE_MAXIMUM, Value::U16(v)) => {
                let v = non_zero(v, DecodeError::ZeroReceiveMaximum)?;
                once(&mut p.receive_maximum, v, id)
            }
            (MAXIMUM_QOS, Value::Byte(v)) => {
                let qos = match v {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err(DecodeError::InvalidPropertyValue { id }),
                };
                once(&mut p.maximum_qos, qos, id)
            }
            (RETAIN_AVAILABLE, Value::Byte(v)) => once(&mut p.retain_available, boolean(v, id)?, id),
            (MAXIMUM_PACKET_SIZE, Value::U32(v)) => {
                let v = non_zero(v, DecodeError::ZeroMaximumPacketSize)?;
                once(&mut p.maximum_packet_size, v, id)
            }
            (ASSIGNED_CLIENT_IDENTIFIER, Value::Str(v)) => once(&mut p.assigned_client_identifier, v, id),
            (TOPIC_ALIAS_MAXIMUM, Value::U16(v)) => once(&mut p.topic_alias_maximum, v, id),
            (REASON_STRING, Value::Str(v)) => once(&mut p.reason_string, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                p.user_properties.push((k, v));
                Ok(())
            }
            (WILDCARD_SUBSCRIPTION_AVAILABLE, Value::Byte(v)) => {
                once(&mut p.wildcard_subscription_available, boolean(v, id)?, id)
            }
            (SUBSCRIPTION_IDENTIFIER_AVAILABLE, Value::Byte(v)) => {
                once(&mut p.subscription_identifiers_available, boolean(v, id)?, id)
            }
            (SHARED_SUBSCRIPTION_AVAILABLE, Value::Byte(v)) => {
                once(&mut p.shared_subscription_available, boolean(v, id)?, id)
            }
            (SERVER_KEEP_ALIVE, Value::U16(v)) => once(&mut p.server_keep_alive, v, id),
            (RESPONSE_INFORMATION, Value::Str(v)) => once(&mut p.response_information, v, id),
            (SERVER_REFERENCE, Value::Str(v)) => once(&mut p.server_reference, v, id),
            (AUTHENTICATION_METHOD, Value::Str(v)) => once(&mut p.authentication_method, v, id),
            (AUTHENTICATION_DATA, Value::Bin(v)) => once(&mut p.authentication_data, v, id),
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        check_auth(&self.authentication_method, &self.authentication_data)
    }
}

impl WriteProps for ConnAckProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        let p = self;
        put_u32(s, SESSION_EXPIRY_INTERVAL, p.session_expiry_interval);
        put_u16(s, RECEIVE_MAXIMUM, p.receive_maximum);
        put_u8(s, MAXIMUM_QOS, p.maximum_qos.map(|q| q as u8));
        put_bool(s, RETAIN_AVAILABLE, p.retain_available);
        put_u32(s, MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
        put_str(s, ASSIGNED_CLIENT_IDENTIFIER, &p.assigned_client_identifier);
        put_u16(s, TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
        put_str(s, REASON_STRING, &p.reason_string);
        put_users(s, &p.user_properties);
        put_bool(s, WILDCARD_SUBSCRIPTION_AVAILABLE, p.wildcard_subscription_available);
        put_bool(s, SUBSCRIPTION_IDENTIFIER_AVAILABLE, p.subscription_identifiers_available);
        put_bool(s, SHARED_SUBSCRIPTION_AVAILABLE, p.shared_subscription_available);
        put_u16(s, SERVER_KEEP_ALIVE, p.server_keep_alive);
        put_str(s, RESPONSE_INFORMATION, &p.response_information);
        put_str(s, SERVER_REFERENCE, &p.server_reference);
        put_str(s, AUTHENTICATION_METHOD, &p.authentication_method);
        put_bin(s, AUTHENTICATION_DATA, &p.authentication_data);
    }
}
