//! SUBSCRIBE and UNSUBSCRIBE properties (sections 3.8.2.1 and 3.10.2.1). The packet structs
//! hold these fields directly, so they are decoded into small owned structs and written from
//! borrowed views.

use super::*;

/// SUBSCRIBE properties as decoded.
#[derive(Default)]
pub(in crate::protocol::codec) struct SubscribeProps {
    pub(in crate::protocol::codec) subscription_identifier: Option<u32>,
    pub(in crate::protocol::codec) user_properties: Vec<UserProperty>,
}

/// SUBSCRIBE properties to write.
pub(in crate::protocol::codec) struct SubscribePropsRef<'a> {
    pub(in crate::protocol::codec) subscription_identifier: Option<u32>,
    pub(in crate::protocol::codec) user_properties: &'a [UserProperty],
}

impl DecodeProps for SubscribeProps {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (SUBSCRIPTION_IDENTIFIER, Value::VarInt(v)) => {
                let v = non_zero(v, DecodeError::ZeroSubscriptionIdentifier)?;
                once(&mut self.subscription_identifier, v, id)
            }
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.user_properties.push((k, v));
                Ok(())
            }
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }
}

impl WriteProps for SubscribePropsRef<'_> {
    fn write<S: Sink>(&self, s: &mut S) {
        put_varint(s, SUBSCRIPTION_IDENTIFIER, self.subscription_identifier);
        put_users(s, self.user_properties);
    }
}

/// Properties that are only user properties (UNSUBSCRIBE), as decoded.
#[derive(Default)]
pub(in crate::protocol::codec) struct UserProps(pub(in crate::protocol::codec) Vec<UserProperty>);

/// User properties to write.
pub(in crate::protocol::codec) struct UserPropsRef<'a>(pub(in crate::protocol::codec) &'a [UserProperty]);

impl DecodeProps for UserProps {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        match (id, value) {
            (USER_PROPERTY, Value::Pair(k, v)) => {
                self.0.push((k, v));
                Ok(())
            }
            _ => Err(DecodeError::PropertyNotAllowed { id, packet_type }),
        }
    }
}

impl WriteProps for UserPropsRef<'_> {
    fn write<S: Sink>(&self, s: &mut S) {
        put_users(s, self.0);
    }
}
