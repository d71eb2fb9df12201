//! What the store keeps, as serde records encoded with postcard, and their conversions from
//! and to the broker's types. A record never holds an `Instant`: times are Unix milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{Message, MessageProperties};
use crate::protocol::{QoS, RetainHandling, SubscriptionOptions};
use crate::router::state::SubEntry;

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

/// Both clocks, read together: a message's age is kept across restarts as a wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Monotonic now.
    pub instant: Instant,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Clock {
    /// Reads both clocks.
    pub fn now() -> Clock {
        Clock { instant: Instant::now(), unix_ms: unix_ms() }
    }
}

/// An application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
    publisher: Option<String>,
    payload_format_indicator: Option<u8>,
    message_expiry_interval: Option<u32>,
    content_type: Option<String>,
    response_topic: Option<String>,
    correlation_data: Option<Vec<u8>>,
    user_properties: Vec<(String, String)>,
    received_unix_ms: u64,
}

impl MessageRecord {
    /// The record of a message.
    pub fn from_message(m: &Message) -> Self {
        let p = &m.properties;
        let age = u64::try_from(m.received_at.elapsed().as_millis()).unwrap_or(0);
        MessageRecord {
            topic: m.topic.to_string(),
            payload: m.payload.to_vec(),
            qos: m.qos as u8,
            retain: m.retain,
            publisher: m.publisher.as_ref().map(|s| s.to_string()),
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: p.message_expiry_interval,
            content_type: p.content_type.as_ref().map(|s| s.to_string()),
            response_topic: p.response_topic.as_ref().map(|s| s.to_string()),
            correlation_data: p.correlation_data.as_ref().map(|b| b.to_vec()),
            user_properties: p.user_properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            received_unix_ms: unix_ms().saturating_sub(age),
        }
    }

    /// The encoded record of a message, without copying it into a record first (the same
    /// bytes as `encode(&MessageRecord::from_message(m))`).
    pub fn encode_message(m: &Message) -> Vec<u8> {
        Self::encode_message_at(m, Clock::now())
    }

    /// [`MessageRecord::encode_message`] with the clocks read once for a batch of messages.
    pub fn encode_message_at(m: &Message, now: Clock) -> Vec<u8> {
        let p = &m.properties;
        let age =
            u64::try_from(now.instant.saturating_duration_since(m.received_at).as_millis()).unwrap_or(0);
        let user_properties: smallvec::SmallVec<[(&str, &str); 4]> =
            p.user_properties.iter().map(|(k, v)| (&**k, &**v)).collect();
        encode(&MessageRecordRef {
            topic: &m.topic,
            payload: RawBytes(&m.payload),
            qos: m.qos as u8,
            retain: m.retain,
            publisher: m.publisher.as_deref(),
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: p.message_expiry_interval,
            content_type: p.content_type.as_deref(),
            response_topic: p.response_topic.as_deref(),
            correlation_data: p.correlation_data.as_deref().map(RawBytes),
            user_properties: &user_properties,
            received_unix_ms: now.unix_ms.saturating_sub(age),
        })
    }

    /// The message again; its age is kept, so message expiry goes on counting.
    pub fn into_message(self) -> Arc<Message> {
        let age = Duration::from_millis(unix_ms().saturating_sub(self.received_unix_ms));
        let now = Instant::now();
        Arc::new(Message {
            topic: self.topic.into(),
            payload: Bytes::from(self.payload),
            qos: QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce),
            retain: self.retain,
            publisher: self.publisher.map(Into::into),
            properties: MessageProperties {
                payload_format_indicator: self.payload_format_indicator,
                message_expiry_interval: self.message_expiry_interval,
                content_type: self.content_type.map(Into::into),
                response_topic: self.response_topic.map(Into::into),
                correlation_data: self.correlation_data.map(Bytes::from),
                user_properties: self
                    .user_properties
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            }
            .into(),
            received_at: now.checked_sub(age).unwrap_or(now),
        })
    }
}

/// [`MessageRecord`] borrowing from a message: the same fields in the same order, so the same
/// encoding.
#[derive(Serialize)]
struct MessageRecordRef<'a> {
    topic: &'a str,
    payload: RawBytes<'a>,
    qos: u8,
    retain: bool,
    publisher: Option<&'a str>,
    payload_format_indicator: Option<u8>,
    message_expiry_interval: Option<u32>,
    content_type: Option<&'a str>,
    response_topic: Option<&'a str>,
    correlation_data: Option<RawBytes<'a>>,
    user_properties: &'a [(&'a str, &'a str)],
    received_unix_ms: u64,
}

/// Bytes serialized in one piece (`serialize_bytes`) instead of one element at a time; postcard
/// writes both the same way (length, then the bytes), so they decode as a `Vec<u8>`.
#[derive(Debug, Clone, Copy)]
pub struct RawBytes<'a>(pub &'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A persistent session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session Expiry Interval in force.
    pub expiry_secs: u32,
    /// When the client disconnected; `None` while it was connected.
    pub disconnected_unix_ms: Option<u64>,
}

/// One subscription of a persistent session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubRecord {
    /// Share group of a shared subscription.
    pub group: Option<String>,
    /// The filter to match (without `$share/group/`).
    pub topic_filter: String,
    qos: u8,
    no_local: bool,
    retain_as_published: bool,
    retain_handling: u8,
    subscription_id: Option<u32>,
}

impl SubRecord {
    /// The record of a subscription.
    pub fn new(group: Option<&str>, topic_filter: &str, e: &SubEntry) -> Self {
        SubRecord {
            group: group.map(str::to_owned),
            topic_filter: topic_filter.to_owned(),
            qos: e.options.qos as u8,
            no_local: e.options.no_local,
            retain_as_published: e.options.retain_as_published,
            retain_handling: match e.options.retain_handling {
                RetainHandling::SendAtSubscribe => 0,
                RetainHandling::SendIfNew => 1,
                RetainHandling::DoNotSend => 2,
            },
            subscription_id: e.subscription_id,
        }
    }

    /// The subscription's options.
    pub fn entry(&self) -> SubEntry {
        SubEntry {
            options: SubscriptionOptions {
                qos: QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce),
                no_local: self.no_local,
                retain_as_published: self.retain_as_published,
                retain_handling: match self.retain_handling {
                    1 => RetainHandling::SendIfNew,
                    2 => RetainHandling::DoNotSend,
                    _ => RetainHandling::SendAtSubscribe,
                },
            },
            subscription_id: self.subscription_id,
        }
    }
}

/// One QoS 1/2 message queued or in flight for a persistent session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// The message (key in the messages table).
    pub msg_id: u64,
    /// QoS of this delivery.
    pub qos: u8,
    /// Retain flag to send.
    pub retain: bool,
    /// Subscription identifiers to send.
    pub subscription_ids: Vec<u32>,
    /// Packet id, once sent (QoS 2 only: written before the PUBLISH leaves).
    pub packet_id: Option<u16>,
    /// QoS 2: PUBREC received, PUBREL sent.
    pub released: bool,
}

/// A will waiting for its client's connection to end (or its delay to pass).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillRecord {
    /// The will message.
    pub message: MessageRecord,
    /// Will Delay Interval in seconds.
    pub delay_secs: u32,
}

/// Encodes a record.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // postcard only fails on writer errors, and a Vec never refuses bytes.
    postcard::to_stdvec(v).unwrap_or_default()
}

/// Decodes a record; `what` names it in the error.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, super::StoreError> {
    postcard::from_bytes(bytes).map_err(|e| super::StoreError::Corrupt(format!("undecodable {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_encoded_by_reference_decodes_as_its_record() {
        let m = Message {
            topic: "a/b".into(),
            payload: Bytes::from_static(b"payload"),
            qos: QoS::AtLeastOnce,
            retain: true,
            publisher: Some("pub".into()),
            properties: MessageProperties {
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(60),
                content_type: Some("text/plain".into()),
                response_topic: Some("r/t".into()),
                correlation_data: Some(Bytes::from_static(b"c")),
                user_properties: vec![("k".into(), "v".into())],
            }
            .into(),
            received_at: Instant::now(),
        };
        let by_ref: MessageRecord = decode(&MessageRecord::encode_message(&m), "message").unwrap();
        let mut owned = MessageRecord::from_message(&m);
        // Both read the clock; only the milliseconds may differ.
        owned.received_unix_ms = by_ref.received_unix_ms;
        assert_eq!(by_ref, owned);
    }
}
