//! PUBLISH properties (section 3.3.2.3).

use super::*;
use crate::protocol::packet::PublishProperties;

impl DecodeProps for PublishProperties {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (PAYLOAD_FORMAT_INDICATOR, Value::Byte(v)) => {
                boolean(v, id)?;
                once(&mut self.payload_format_indicator, v, id)
            }
            (MESSAGE_EXPIRY_INTERVAL, Value::U32(v)) => once(&mut self.message_expiry_interval, v, id),
            (TOPIC_ALIAS, Value::U16(v)) => {
                // [MQTT-3.3.2-8]
                let v = non_zero(v, DecodeError::ZeroTopicAlias)?;
                once(&mut self.topic_alias, v, id)
            }
            (RESPONSE_TOPIC, Value::Str(v)) => once(&mut self.response_topic, v, id),
            (CORRELATION_DATA, Value::Bin(v)) => once(&mut self.correlation_data, v, id),
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            (SUBSCRIPTION_IDENTIFIER, Value::VarInt(v)) => {
                // May repeat: one per matching subscription.
                let v = non_zero(v, DecodeError::ZeroSubscriptionIdentifier)?;
                self.subscription_identifiers.push(v);
                Ok(())
            }
            (CONTENT_TYPE, Value::Str(v)) => once(&mut self.content_type, v, id),
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        check_response_topic(&self.response_topic)
    }
}

impl WriteProps for PublishProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        put_u8(s, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        put_u32(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_u16(s, TOPIC_ALIAS, self.topic_alias);
        put_str(s, RESPONSE_TOPIC, &self.response_topic);
        put_bin(s, CORRELATION_DATA, &self.correlation_data);
        put_users(s, &self.user_properties);
        for &id in &self.subscription_identifiers {
            put_varint(s, SUBSCRIPTION_IDENTIFIER, Some(id));
        }
        put_str(s, CONTENT_TYPE, &self.content_type);
    }
}
