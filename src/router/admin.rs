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
    /// Messages in flight kept for a disconnected session.
    pub inflight_messages: usize,
    /// Deliveries waiting in the connected session's mailbox.
    pub pending_deliveries: usize,
    /// A will is waiting for its delay.
    pub will_pending: bool,
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
