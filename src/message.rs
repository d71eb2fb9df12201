//! The version-neutral application message that sessions hand to the router.
//!
//! A [`Message`] is built once from an incoming PUBLISH (or a will) and shared by every
//! subscriber through an `Arc`; its payload is a [`Bytes`] slice of the read buffer, so fan-out
//! copies nothing. It carries everything MQTT 5 forwards unchanged, so an MQTT 3.1.1 publisher
//! and an MQTT 5 subscriber meet in one router.

use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::protocol::sparse::{Empty, Sparse};
use crate::protocol::QoS;

/// An application message on its way through the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name (never empty, never a wildcard).
    pub topic: ByteString,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// Retain flag it was published with.
    pub retain: bool,
    /// Client id of the publisher (for No Local); `None` for broker-generated messages.
    pub publisher: Option<ByteString>,
    /// Properties forwarded to subscribers.
    pub properties: Sparse<MessageProperties>,
    /// When the broker received it (message expiry counts from here).
    pub received_at: Instant,
}

/// The MQTT 5 properties a message keeps on its way to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageProperties {
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval in seconds, as published.
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<ByteString>,
    /// Response Topic.
    pub response_topic: Option<ByteString>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties, in order.
    pub user_properties: Vec<(ByteString, ByteString)>,
}

static NO_MESSAGE_PROPERTIES: MessageProperties = MessageProperties {
    payload_format_indicator: None,
    message_expiry_interval: None,
    content_type: None,
    response_topic: None,
    correlation_data: None,
    user_properties: Vec::new(),
};

impl Empty for MessageProperties {
    fn empty() -> &'static Self {
        &NO_MESSAGE_PROPERTIES
    }
}

impl Message {
    /// Seconds of life left at `now`: `Ok(None)` if it never expires, `Err(())` if it expired.
    #[allow(clippy::result_unit_err)]
    pub fn remaining_expiry(&self, now: Instant) -> Result<Option<u32>, ()> {
        let Some(secs) = self.properties.message_expiry_interval else {
            return Ok(None);
        };
        let elapsed = now.saturating_duration_since(self.received_at);
        let total = Duration::from_secs(u64::from(secs));
        if elapsed >= total {
            return Err(());
        }
        // Round up so a message with 0.4 s left is still sent with 1 s, never with 0.
        let left = (total - elapsed).as_millis().div_ceil(1000);
        Ok(Some(u32::try_from(left).unwrap_or(u32::MAX)))
    }

    /// True once the message expiry interval has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.remaining_expiry(now).is_err()
    }

    /// Approximate bytes held by this message, for queue limits.
    pub fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every queued message is one of these behind an `Arc`: its MQTT 5 properties stay off it
    /// while it has none.
    #[test]
    fn a_message_without_properties_is_small() {
        assert!(std::mem::size_of::<Message>() <= 128, "Message: {}", std::mem::size_of::<Message>());
    }

    fn msg(expiry: Option<u32>, at: Instant) -> Message {
        Message {
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            publisher: None,
            properties: MessageProperties { message_expiry_interval: expiry, ..Default::default() }.into(),
            received_at: at,
        }
    }

    #[test]
    fn expiry_counts_down() {
        let t0 = Instant::now();
        let m = msg(Some(10), t0);
        assert_eq!(m.remaining_expiry(t0), Ok(Some(10)));
        assert_eq!(m.remaining_expiry(t0 + Duration::from_millis(3500)), Ok(Some(7)));
        assert!(m.is_expired(t0 + Duration::from_secs(10)));
        assert_eq!(msg(None, t0).remaining_expiry(t0 + Duration::from_secs(999)), Ok(None));
    }
}
