//! Friendly constructors and accessors on the generated WIT types.

use crate::{
    Access, AclRule, AuthDecision, ClientInfo, ConnackReason, Connect, Grant, Message, MessageProperties,
    Protocol, Refusal,
};

impl ClientInfo {
    /// A client with the given id and nothing else (handy in tests).
    pub fn new(client_id: impl Into<String>) -> Self {
        ClientInfo {
            client_id: client_id.into(),
            username: None,
            peer: "127.0.0.1:1".into(),
            listener: "default".into(),
            protocol: Protocol::Mqtt5,
            tls_subject: None,
            attributes: Vec::new(),
        }
    }

    /// Sets the user name.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Connect {
    /// A CONNECT from `client` with optional user name and password (handy in tests).
    pub fn new(client: impl Into<ClientInfo>, password: Option<&[u8]>) -> Self {
        Connect {
            client: client.into(),
            password: password.map(<[u8]>::to_vec),
            clean_start: true,
            keep_alive_secs: 60,
            user_properties: Vec::new(),
            auth_method: None,
            auth_data: None,
        }
    }

    /// The client identifier.
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// The user name, if any.
    pub fn username(&self) -> Option<&str> {
        self.client.username.as_deref()
    }

    /// The password bytes, if any.
    pub fn password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }
}

impl Default for Grant {
    fn default() -> Self {
        Grant::new()
    }
}

impl Grant {
    /// No superuser, no attributes, no ACL rules, no caps.
    pub fn new() -> Self {
        Grant {
            superuser: false,
            attributes: Vec::new(),
            acl: Vec::new(),
            session_expiry_secs: None,
            connack_user_properties: Vec::new(),
        }
    }

    /// Makes the client a superuser (no ACL checks at all).
    pub fn superuser(mut self, yes: bool) -> Self {
        self.superuser = yes;
        self
    }

    /// Adds an allow rule; the broker expands `%u` and `%c` in `filter`.
    pub fn allow(mut self, access: Access, filter: impl Into<String>) -> Self {
        self.acl.push(AclRule { allow: true, access, topic_filter: filter.into() });
        self
    }

    /// Adds a deny rule; the broker expands `%u` and `%c` in `filter`.
    pub fn deny(mut self, access: Access, filter: impl Into<String>) -> Self {
        self.acl.push(AclRule { allow: false, access, topic_filter: filter.into() });
        self
    }

    /// Adds an attribute later hooks can read with [`ClientInfo::attribute`].
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Caps the session expiry interval.
    pub fn session_expiry_secs(mut self, secs: u32) -> Self {
        self.session_expiry_secs = Some(secs);
        self
    }

    /// Adds a user property to CONNACK (MQTT 5 clients).
    pub fn connack_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.connack_user_properties.push((name.into(), value.into()));
        self
    }
}

impl From<Grant> for AuthDecision {
    fn from(g: Grant) -> Self {
        AuthDecision::Allow(g)
    }
}

impl AuthDecision {
    /// Allow with an empty grant (the broker's static ACL rules then apply).
    pub fn allow() -> Self {
        AuthDecision::Allow(Grant::new())
    }

    /// Deny with a CONNACK reason.
    pub fn deny(reason: ConnackReason) -> Self {
        AuthDecision::Deny(Refusal { reason, message: None })
    }

    /// MQTT 5 enhanced authentication: send the client this Authentication Data (AUTH 0x18)
    /// and decide on its answer in the next `authenticate` call.
    pub fn challenge(data: impl Into<Vec<u8>>) -> Self {
        AuthDecision::Challenge(data.into())
    }

    /// Deny with a CONNACK reason and a reason string for MQTT 5 clients.
    pub fn deny_with(reason: ConnackReason, message: impl Into<String>) -> Self {
        AuthDecision::Deny(Refusal { reason, message: Some(message.into()) })
    }
}

// A generated type: the derive cannot be added where it is defined.
#[allow(clippy::derivable_impls)]
impl Default for MessageProperties {
    fn default() -> Self {
        MessageProperties {
            content_type: None,
            response_topic: None,
            correlation_data: None,
            message_expiry_secs: None,
            user_properties: Vec::new(),
        }
    }
}

impl Message {
    /// A message as the transform hooks receive it: the arguments and the properties.
    pub(crate) fn from_parts(
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        p: MessageProperties,
    ) -> Self {
        Message {
            topic,
            payload,
            qos,
            retain,
            content_type: p.content_type,
            response_topic: p.response_topic,
            correlation_data: p.correlation_data,
            message_expiry_secs: p.message_expiry_secs,
            user_properties: p.user_properties,
        }
    }

    /// A QoS 0 message without properties.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            qos: 0,
            retain: false,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            message_expiry_secs: None,
            user_properties: Vec::new(),
        }
    }

    /// The same message on another topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The same message with another payload.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Adds a user property.
    pub fn with_user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }
}
