//! Messages between session actors and the router actor.
//!
//! Sessions never wait for the router except at CONNECT (they need to know whether a session
//! is resumed); everything else is fire-and-forget over the router's ordered mailbox. The
//! router never waits for a session: it delivers with `do_send` under an explicit budget (see
//! [`SessionHandle::pending`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use bytestring::ByteString;
use smallvec::SmallVec;
use tokio::sync::oneshot;

use crate::message::Message;
use crate::protocol::{QoS, SubscriptionOptions};

/// One message for one subscriber, with the QoS and flags of its matching subscriptions.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The shared message.
    pub message: Arc<Message>,
    /// min(published QoS, highest granted QoS among the matching subscriptions).
    pub qos: QoS,
    /// Retain flag to send (as published for Retain As Published, or for retained messages
    /// sent at subscribe time; otherwise false).
    pub retain: bool,
    /// Identifiers of every matching subscription that has one.
    pub subscription_ids: SmallVec<[u32; 2]>,
    /// Key of this delivery in the persistent store (a queue entry of the subscriber's
    /// session), when it was stored.
    pub store_seq: Option<u64>,
    /// The subscriber's `on-deliver` plugins already ran on `message` (deliveries that arrive
    /// together go through them in one call; the others when they are written).
    pub transformed: bool,
}

/// Router (or the admin API) -> session. One message type, so that a session hands out one
/// actix address: each costs about 70 bytes of sender state per connection.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum ToSession {
    /// Deliver messages, oldest first. The router gathers what one turn of its mailbox routes
    /// to a session into one batch (one mailbox message and at most one wake-up per session
    /// and turn, instead of one per message), and counts them in the session's
    /// [`SessionHandle::pending`] budget, so the mailbox stays bounded.
    Deliver(Vec<Delivery>),
    /// Control of the connection.
    Control(Control),
    /// The admin API asks what the connected session holds now; the session answers at once
    /// from its own state (the asker waits with a timeout, which also covers a full mailbox).
    Inspect(oneshot::Sender<super::admin::SessionCounts>),
    /// The router's or the store's answer to [`PublishAcked`].
    PublishDone(PublishDone),
}

/// Router -> session: control of the connection. No reply.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// Close the connection with this reason (`SessionTakenOver` for a takeover,
    /// `ServerShuttingDown` at shutdown, ...); the session then detaches as usual.
    Kick(crate::protocol::ReasonCode),
    /// Answer to [`Detach`]: every delivery sent before it is already in the session's
    /// mailbox ahead of this message, so once it arrives the session state is complete.
    Detached,
}

/// Session -> router: the connection is closing; stop delivering to the session and queue
/// instead. The router answers [`Control::Detached`].
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Detach {
    /// Client identifier.
    pub client_id: ByteString,
    /// The closing connection.
    pub connection_id: u64,
}

/// How the router reaches one connected session.
#[derive(Clone)]
pub struct SessionHandle {
    /// Deliveries, control and the admin API's questions.
    pub to: Arc<Recipient<ToSession>>,
    /// Deliveries sent but not yet handled by the session; the session decrements it.
    pub pending: Arc<AtomicUsize>,
}

impl SessionHandle {
    /// Deliveries currently waiting in the session's mailbox.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Sends deliveries, counted in [`Self::pending`] first.
    pub fn send_deliveries(&self, batch: Vec<Delivery>) {
        self.pending.fetch_add(batch.len(), Ordering::Relaxed);
        self.to.do_send(ToSession::Deliver(batch));
    }

    /// Sends a control message.
    pub fn control(&self, control: Control) {
        self.to.do_send(ToSession::Control(control));
    }
}

/// An outgoing QoS 1/2 message the client has not finished acknowledging.
#[derive(Debug, Clone)]
pub struct InflightRecord {
    /// Packet identifier it was sent with.
    pub packet_id: u16,
    /// The message.
    pub delivery: Delivery,
    /// QoS 2 only: PUBREC received and PUBREL sent; waiting for PUBCOMP.
    pub released: bool,
}

/// The state of a session that outlives its connection.
#[derive(Debug, Clone, Default)]
pub struct StoredSession {
    /// Outgoing messages sent but not acknowledged, in the order they were sent.
    pub inflight: Vec<InflightRecord>,
    /// Messages waiting to be sent, oldest first.
    pub queue: std::collections::VecDeque<Delivery>,
    /// Incoming QoS 2 packet ids whose PUBREL has not arrived.
    pub incoming_qos2: Vec<u16>,
    /// The topic filters subscribed to (as written, `$share/...` included).
    pub subscriptions: Vec<ByteString>,
}

/// What the router answers to [`Connect`].
#[derive(Debug)]
pub struct ConnectReply {
    /// A previous session was resumed.
    pub session_present: bool,
    /// Its state, when resumed.
    pub session: StoredSession,
}

/// Session -> router: a client completed CONNECT (after authentication). The reply comes on
/// `reply`; it may be delayed until a connection with the same client id has closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// Client identifier (assigned by the broker when the client sent an empty one).
    pub client_id: ByteString,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// Identifies this connection, to ignore stale [`SessionClosed`]s.
    pub connection_id: u64,
    /// How to reach the session.
    pub handle: SessionHandle,
    /// What the admin API and persistence need to know about the connection.
    pub info: ClientInfo,
    /// Where the answer goes.
    pub reply: oneshot::Sender<ConnectReply>,
}

/// What the router knows about a client's connection (for the admin API and persistence).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClientInfo {
    /// Remote address, when connected.
    pub peer: Option<std::net::SocketAddr>,
    /// Listener name, when connected.
    pub listener: Option<String>,
    /// Protocol level: 3 (3.1), 4 (3.1.1) or 5.
    pub protocol_level: u8,
    /// Keep alive in force, in seconds.
    pub keep_alive_secs: u16,
    /// Session Expiry Interval in force (0: the session ends with the connection).
    pub session_expiry_secs: u32,
    /// When the client connected (Unix seconds).
    pub connected_at: Option<u64>,
}

/// One filter of a SUBSCRIBE the session has validated and authorized.
#[derive(Debug, Clone)]
pub struct SubscribeFilter {
    /// The filter as the client wrote it (`$share/g/f` included).
    pub filter: ByteString,
    /// Share name, for a shared subscription.
    pub share_group: Option<ByteString>,
    /// The filter to match (without the `$share/g/` prefix).
    pub topic_filter: ByteString,
    /// Options, with the QoS already granted.
    pub options: SubscriptionOptions,
    /// Subscription identifier.
    pub subscription_id: Option<u32>,
}

/// Session -> router: add subscriptions and send matching retained messages. No reply: the
/// session has already answered SUBACK, and the router's mailbox keeps the order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// Subscriber.
    pub client_id: ByteString,
    /// The filters.
    pub filters: Vec<SubscribeFilter>,
}

/// Session -> router: remove subscriptions. No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// Subscriber.
    pub client_id: ByteString,
    /// Filters as the client wrote them.
    pub filters: Vec<ByteString>,
}

/// Session -> router: while reads are paused, this session handled deliveries (the router
/// re-checks whether it may resume them; see [`crate::flow`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drained;

/// Session -> router: route a message (after validation, authorization and transforms).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Arc<Message>);

/// Session -> router: route a QoS 1/2 message whose acknowledgement waits for the router's
/// (or, in durable mode, the store's) answer: [`PublishDone`] goes back to `reply` with `seq`.
/// Used when persistence is on or the retained store has a limit. No direct reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishAcked {
    /// The message.
    pub message: Arc<Message>,
    /// The publisher's QoS 2 packet id, stored with the message so a resent PUBLISH after a
    /// restart is recognised.
    pub incoming_qos2: Option<u16>,
    /// The publisher's sequence number for this acknowledgement.
    pub seq: u64,
    /// Where [`PublishDone`] goes: the session's own recipient, the one in its
    /// [`SessionHandle`] (shared: each clone of an actix recipient allocates).
    pub reply: Arc<Recipient<ToSession>>,
}

/// Router or store -> session ([`ToSession::PublishDone`]): the outcome of a [`PublishAcked`]
/// (Success, or Quota exceeded when the retained store is full or the store cannot write).
#[derive(Debug, Clone)]
pub struct PublishDone {
    /// The sequence numbers from [`PublishAcked`] (several when the store acknowledges a
    /// commit's worth at once).
    pub seqs: SmallVec<[u64; 2]>,
    /// Reason code for PUBACK/PUBREC.
    pub reason: crate::protocol::ReasonCode,
}

/// Admin API -> router: a query or an action. The sender waits for the [`AdminReply`]; the
/// router answers at once (never blocks).
#[derive(Message, Debug, Clone)]
#[rtype(result = "AdminReply")]
pub enum AdminRequest {
    /// Every session (`connected_only`: only connected clients).
    ListClients {
        /// Only connected clients.
        connected_only: bool,
    },
    /// One session in detail.
    Client(ByteString),
    /// Disconnect a client (MQTT 5: DISCONNECT 0x98 Administrative action).
    Kick(ByteString),
    /// Every subscription.
    Subscriptions,
    /// Every retained message (topic and size, no payloads).
    Retained,
    /// Delete the retained message of a topic.
    DeleteRetained(ByteString),
}

/// The router's answer to [`AdminRequest`].
#[derive(Debug, Clone, MessageResponse, serde::Serialize)]
#[serde(untagged)]
pub enum AdminReply {
    /// Session summaries.
    Clients(Vec<super::admin::ClientSummary>),
    /// One session, if it exists.
    Client(Option<Box<super::admin::ClientDetail>>),
    /// Subscriptions.
    Subscriptions(Vec<super::admin::SubscriptionView>),
    /// Retained messages.
    Retained(Vec<super::admin::RetainedView>),
    /// Whether the client or topic existed.
    Done(bool),
}

/// A will to publish when its delay passes or the session ends.
#[derive(Debug, Clone)]
pub struct PendingWill {
    /// The will message.
    pub message: Arc<Message>,
    /// Will Delay Interval in seconds.
    pub delay_secs: u32,
}

/// Session -> router: the connection has closed and its session state is final. Sent exactly
/// once per connection that reached the router with [`Connect`], after [`Control::Detached`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionClosed {
    /// Client identifier.
    pub client_id: ByteString,
    /// The connection that closed.
    pub connection_id: u64,
    /// Seconds to keep the session (0: end it now; `u32::MAX`: forever).
    pub expiry_secs: u32,
    /// State to keep for a resumed session.
    pub session: StoredSession,
    /// The will, unless the client disconnected normally.
    pub will: Option<PendingWill>,
}

/// Anyone -> router: counts for `$SYS`, metrics and tests.
#[derive(Message)]
#[rtype(result = "RouterStats")]
pub struct GetStats;

/// Router counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct RouterStats {
    /// Connected clients.
    pub clients_connected: usize,
    /// Sessions kept for disconnected clients.
    pub sessions_offline: usize,
    /// Subscriptions in the topic tree.
    pub subscriptions: usize,
    /// Retained messages (the broker's own `$SYS` topics not counted).
    pub retained: usize,
    /// Messages routed.
    pub messages_routed: u64,
    /// Deliveries dropped because a subscriber's queue was full.
    pub dropped_queue_full: u64,
    /// Deliveries dropped because they expired while queued.
    pub dropped_expired: u64,
    /// Messages queued for disconnected sessions.
    pub queued_messages: usize,
}

impl crate::persistence::AckSink for Recipient<ToSession> {
    fn acked(&self, seqs: Vec<u64>, ok: bool) {
        let reason = if ok {
            crate::protocol::ReasonCode::Success
        } else {
            crate::protocol::ReasonCode::QuotaExceeded
        };
        self.do_send(ToSession::PublishDone(PublishDone { seqs: seqs.into(), reason }));
    }
}
