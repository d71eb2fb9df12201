//! What the admin API shows: plain views of router state, serialised to JSON by the HTTP
//! layer. No payloads: only sizes.

use serde::Serialize;

use super::messages::ClientInfo;

/// One session in a list.
#[derive(Debug, Clone, Serialize)]
pub struct ClientSummary {
    /// Client id.
    pub client_id: String,
    /// Connected now.
    pub connected: bool,
    /// Connection details (the last connection's, for a disconnected client).
    #[serde(flatten)]
    pub info: ClientInfo,
    /// Subscriptions held.
    pub subscriptions: usize,
    /// Messages queued in the router (for a disconnected session).
    pub queued_messages: usize,
}

/// One session in detail.
#[derive(Debug, Clone, Serialize)]
pub struct ClientDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: ClientSummary,
    /// Filters subscribed to.
    pub subscription_filters: Vec<SubscriptionView>,
    /// Messages in flight: the session's own count for a connected client, the ones kept
    /// for a disconnected session.
    pub inflight_messages: usize,
    /// Deliveries waiting in the connected session's mailbox.
    pub pending_deliveries: usize,
    /// A will is waiting for its delay.
    pub will_pending: bool,
    /// Where the in-flight and queued counts come from.
    pub counts_from: CountsSource,
    /// The connected session's own counts (`None` for a disconnected session, or when it did
    /// not answer in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionCounts>,
    /// How to ask the connected session (filled in by the HTTP layer, never serialised).
    #[serde(skip)]
    pub inspect: Option<actix::Recipient<super::messages::ToSession>>,
}

/// Where a [`ClientDetail`]'s in-flight and queued counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountsSource {
    /// A disconnected session: what the router keeps for it.
    Router,
    /// A connected session: its own state, asked just now.
    Session,
    /// A connected session that did not answer in time (router counts shown).
    Unavailable,
}

/// What a connected session holds, as it answers [`super::messages::ToSession::Inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, actix::MessageResponse)]
pub struct SessionCounts {
    /// Outgoing QoS 1/2 messages sent and not yet acknowledged by the client.
    pub inflight_messages: usize,
    /// Outgoing messages waiting for room in the client's Receive Maximum window.
    pub queued_messages: usize,
    /// Bytes (topic and payload) of the queued messages.
    pub queued_bytes: usize,
    /// Incoming QoS 2 messages whose PUBREL has not arrived.
    pub incoming_qos2: usize,
    /// Publishes from the client whose PUBACK/PUBREC waits (for the router or the store).
    pub pending_acks: usize,
}

/// One subscription.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    /// Client id.
    pub client_id: String,
    /// The filter as written (`$share/group/...` included).
    pub filter: String,
    /// Granted QoS.
    pub qos: u8,
    /// Subscription identifier.
    pub subscription_id: Option<u32>,
}

/// One retained message.
#[derive(Debug, Clone, Serialize)]
pub struct RetainedView {
    /// Topic.
    pub topic: String,
    /// QoS it was published with.
    pub qos: u8,
    /// Payload size in bytes.
    pub payload_bytes: usize,
}
