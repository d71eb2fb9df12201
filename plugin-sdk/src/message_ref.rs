//! [`MessageRef`]: a message as a transform hook receives it, before anything is copied.

use std::borrow::Cow;

use crate::{Message, MessageProperties};

/// Where a [`MessageRef`]'s MQTT 5 properties are.
#[derive(Debug, Clone, Copy)]
enum Props<'a> {
    /// It has none.
    None,
    /// With the broker: message `index` of the running call.
    Host(u32),
    /// In a message (tests).
    Of(&'a Message),
}

/// A message as [`crate::Plugin::on_publish_ref`] / [`crate::Plugin::on_deliver_ref`]
/// receive it: topic and payload borrowed from the batch the broker passed, the MQTT 5
/// properties asked of the broker only when [`MessageRef::properties`] is called.
/// [`MessageRef::into_message`] makes the owned [`Message`] that a
/// [`crate::PublishDecision::Modify`] needs.
#[derive(Debug, Clone)]
pub struct MessageRef<'a> {
    topic: Cow<'a, str>,
    payload: Cow<'a, [u8]>,
    qos: u8,
    retain: bool,
    props: Props<'a>,
}

impl<'a> MessageRef<'a> {
    /// Message `index` of the running call (`has_properties`: the broker has properties
    /// for it).
    pub(crate) fn of_call(
        topic: Cow<'a, str>,
        payload: Cow<'a, [u8]>,
        qos: u8,
        retain: bool,
        index: u32,
        has_properties: bool,
    ) -> Self {
        let props = if has_properties { Props::Host(index) } else { Props::None };
        MessageRef { topic, payload, qos, retain, props }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The QoS it was published (or is delivered) with.
    pub fn qos(&self) -> u8 {
        self.qos
    }

    /// The retain flag.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// The MQTT 5 properties (content type, response topic, correlation data, expiry, user
    /// properties); empty when it has none. Asked of the broker on each call.
    pub fn properties(&self) -> MessageProperties {
        match self.props {
            Props::None => MessageProperties::default(),
            Props::Host(index) => crate::host::call_message_properties(index),
            Props::Of(m) => MessageProperties {
                content_type: m.content_type.clone(),
                response_topic: m.response_topic.clone(),
                correlation_data: m.correlation_data.clone(),
                message_expiry_secs: m.message_expiry_secs,
                user_properties: m.user_properties.clone(),
            },
        }
    }

    /// The owned message, with its properties: what [`crate::Plugin::on_publish`] gets.
    pub fn into_message(self) -> Message {
        let props = self.properties();
        Message::from_parts(self.topic.into_owned(), self.payload.into_owned(), self.qos, self.retain, props)
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    /// A view of `m` (to call a `*_ref` hook in tests).
    fn from(m: &'a Message) -> Self {
        MessageRef {
            topic: Cow::Borrowed(&m.topic),
            payload: Cow::Borrowed(&m.payload),
            qos: m.qos,
            retain: m.retain,
            props: Props::Of(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_of_a_message_gives_it_back_whole() {
        let m = Message::new("a/b", "p").with_user_property("k", "v");
        let r = MessageRef::from(&m);
        assert_eq!((r.topic(), r.payload(), r.qos(), r.retain()), ("a/b", &b"p"[..], 0, false));
        assert_eq!(r.properties().user_properties, [("k".to_owned(), "v".to_owned())]);
        assert_eq!(r.into_message(), m);
    }
}
