//! The per-connection session actor.
//!
//! One [`Session`] per network connection, started on one of the worker arbiters. It reads
//! packets through the sans-IO codec, applies policy (validation, limits, authorization) and
//! talks to the router with version-neutral messages. Submodules hold one concern each:
//! [`handshake`] (CONNECT/CONNACK), [`inbound`] (one function per packet type), [`outbound`]
//! (deliveries to the client: aliases, expiry, maximum packet size), [`inflight`] (the pure
//! QoS state machine), [`outbox`] (batched writes) and [`codec`] (framing).
//!
//! Closing is two-phase so no acknowledged message is lost in the router's mailbox: the
//! session sends `Detach`, keeps taking deliveries into its queue until the router answers
//! `Detached`, then hands its state over with `SessionClosed` and stops.

pub mod codec;
mod handshake;
mod held;
mod inbound;
pub mod inflight;
pub mod ops;
mod outbound;
pub mod outbox;
mod policy;
mod reauth;

pub use policy::Plugins;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::protocol::{self, Disconnect, Packet, Protocol, ReasonCode};
use crate::router::messages::{Control, Delivery, Detach, PendingWill, SessionClosed, ToSession};
use crate::router::Router;
use crate::transport::PeerInfo;
use codec::{Inbound, PacketStream, ReadError};
use inflight::Outbound;
use outbox::Outbox;

/// What every session of a broker shares.
pub struct SessionShared {
    /// The configuration.
    pub config: Arc<Config>,
    /// The router.
    pub router: Addr<Router>,
    /// Source of connection ids.
    pub next_connection_id: AtomicU64,
    /// Metrics, store and broker-wide limits.
    pub ops: ops::SharedOps,
    /// The plugins in force, if any are configured (a reload swaps them).
    pub plugins: Arc<crate::reload::LivePlugins>,
    /// The built-in authentication and authorization policy (a reload swaps it).
    pub policy: Arc<crate::reload::LivePolicy>,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for CONNECT.
    AwaitingConnect,
    /// CONNECT sent to the router; waiting for its answer.
    Connecting,
    /// CONNACK sent; packets flow.
    Connected,
    /// Closing after registration: waiting for `Detached`.
    Detaching,
    /// Closing before registration, or detached: about to stop.
    Closed,
}

/// Topic aliases of one connection, both directions.
#[derive(Default)]
struct TopicAliases {
    /// The client's aliases for topics it publishes to.
    inbound: FxHashMap<u16, ByteString>,
    /// Our aliases for topics we deliver on.
    outbound: FxHashMap<ByteString, u16>,
}

/// Grants of a client that was granted nothing beyond the defaults.
static NO_GRANTS: crate::auth::Grants = crate::auth::Grants {
    superuser: false,
    acl: Vec::new(),
    attributes: Vec::new(),
    session_expiry_cap: None,
    connack_user_properties: Vec::new(),
};

/// The per-client actor.
pub struct Session {
    shared: Arc<SessionShared>,
    /// Everything the transport knows about the client.
    peer_info: PeerInfo,
    connection_id: u64,
    out: Outbox,
    phase: Phase,
    protocol: Protocol,
    client_id: ByteString,
    /// Packets received (wrapping): the keep-alive timer notices activity by its change,
    /// so no packet reads the clock.
    packets_in: u32,
    /// Session Expiry Interval in force (seconds).
    session_expiry: u32,
    /// Session Expiry Interval the client sent in CONNECT (0 forbids raising it later).
    connect_expiry_was_zero: bool,
    /// A packet of the current burst (see [`codec::Inbound::Drained`]) was handled already.
    mid_burst: bool,
    will: Option<PendingWill>,
    /// Client's Maximum Packet Size.
    client_max_packet: u32,
    /// Client's Topic Alias Maximum.
    client_alias_max: u16,
    outbound: Outbound,
    incoming_qos2: FxHashSet<u16>,
    /// MQTT 5 topic aliases, allocated on first use (most clients never use them).
    aliases: Option<Box<TopicAliases>>,
    subscriptions: FxHashSet<ByteString>,
    /// Deliveries in our mailbox (the router's budget counter).
    pending: Arc<AtomicUsize>,
    /// Messages not sent because of the client's limits (too large, slow consumer).
    dropped: u64,
    /// Reason string for the DISCONNECT about to be sent.
    reason_string: Option<String>,
    /// Who the client is, once authenticated (what plugin hooks see).
    identity: Option<Arc<crate::auth::Identity>>,
    /// What authentication granted (ACL rules evaluated on every PUBLISH / SUBSCRIBE).
    /// `None` for the common case of nothing granted beyond the defaults.
    grants: Option<Box<crate::auth::Grants>>,
    /// MQTT 5 enhanced authentication waiting for the client's AUTH.
    pending_auth: Option<Box<policy::PendingAuth>>,
    /// Challenges sent so far.
    auth_steps: u32,
    /// Connected with enhanced authentication: what re-authentication needs.
    reauth: Option<Box<reauth::ReAuth>>,
    /// This session's recipient: in its [`SessionHandle`] for the router, and where the router
    /// and the store answer [`crate::router::messages::PublishAcked`]. One actix address per
    /// session (each holds ~70 bytes of sender state), made on first use.
    own: Option<Arc<actix::Recipient<ToSession>>>,
    /// The connect timeout, cancelled when CONNECT arrives (its timer would otherwise hold
    /// ~120 bytes per connection for `connect_timeout_secs`). The session is sized to stay in
    /// its allocator size class: 8 more bytes here cost ~250 bytes per connection.
    connect_timer: actix::SpawnHandle,
    /// The listener's connection slot, released when the session ends.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Limits, ordered acknowledgements, store writes.
    ops: ops::SessionOps,
    /// PUBLISH packets waiting for the `on-publish` plugins (see `held`).
    held: Option<Box<held::HeldPublishes>>,
    /// The last native authorization verdict on a PUBLISH (see `policy`).
    last_publish_verdict: std::cell::RefCell<Option<Box<PublishVerdict>>>,
}

/// A PUBLISH authorization decided by the policy and grants alone, for one topic.
struct PublishVerdict {
    policy: Arc<crate::auth::Policy>,
    topic: String,
    allowed: bool,
}

impl Session {
    /// This session's own recipient (see `own`).
    fn own_recipient(&mut self, ctx: &mut Context<Self>) -> Arc<actix::Recipient<ToSession>> {
        self.own.get_or_insert_with(|| Arc::new(ctx.address().recipient())).clone()
    }

    /// What authentication granted.
    fn grants(&self) -> &crate::auth::Grants {
        self.grants.as_deref().unwrap_or(&NO_GRANTS)
    }

    /// Keeps what authentication granted (boxed only when it differs from the defaults).
    fn set_grants(&mut self, grants: crate::auth::Grants) {
        // Verdicts were for the old grants (and identity, set with them).
        self.last_publish_verdict.get_mut().take();
        self.grants = (grants != NO_GRANTS).then(|| Box::new(grants));
    }

    /// Starts a session for an accepted connection on the given arbiter.
    pub fn start_on<R, W>(
        arbiter: &actix_rt::ArbiterHandle,
        shared: Arc<SessionShared>,
        reader: R,
        writer: W,
        peer: PeerInfo,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let Some(slot) = shared.ops.connection_slot(shared.config.limits.max_connections) else {
            tracing::warn!(peer = %peer.addr, "connection refused: limits.max_connections reached");
            return;
        };
        shared.ops.metrics.connections_accepted.inc();
        Session::start_in_arbiter(arbiter, move |ctx| {
            let max_packet = peer.max_packet_size(&shared.config.mqtt);
            let pending = Arc::new(AtomicUsize::new(0));
            ctx.add_stream(
                PacketStream::new(reader, max_packet)
                    .with_metrics(shared.ops.metrics.clone())
                    .with_backpressure(shared.ops.backpressure.clone(), pending.clone()),
            );
            let addr = ctx.address();
            let out = Outbox::spawn(writer, move |err| addr.do_send(WriterDone(err)));
            let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
            let mqtt = &shared.config.mqtt;
            let outbound = Outbound::new(1, mqtt.max_queued_messages, mqtt.max_queued_bytes);
            Session {
                peer_info: peer,
                connection_id,
                out,
                phase: Phase::AwaitingConnect,
                connect_timer: actix::SpawnHandle::default(),
                own: None,
                protocol: Protocol::V3_1_1,
                client_id: ByteString::new(),
                packets_in: 0,
                mid_burst: false,
                session_expiry: 0,
                connect_expiry_was_zero: true,
                will: None,
                client_max_packet: u32::MAX,
                client_alias_max: 0,
                outbound,
                incoming_qos2: FxHashSet::default(),
                aliases: None,
                subscriptions: FxHashSet::default(),
                pending,
                dropped: 0,
                reason_string: None,
                identity: None,
                grants: None,
                pending_auth: None,
                auth_steps: 0,
                reauth: None,
                _permit: permit,
                ops: ops::SessionOps::new(&shared.config.limits, Some(slot)),
                held: None,
                last_publish_verdict: std::cell::RefCell::new(None),
                shared,
            }
        });
    }

    /// Encodes one packet into the write buffer.
    fn send(&self, packet: &Packet) {
        let protocol = self.protocol;
        let written = self.out.write(|buf| {
            let before = buf.len();
            protocol::encode_packet(packet, protocol, buf).map(|()| buf.len() - before)
        });
        match written {
            Ok(n) => self.shared.ops.metrics.bytes_sent.add(n as u64),
            Err(e) => {
                tracing::error!(client_id = %self.client_id, error = %e, "cannot encode {}", packet.name());
            }
        }
    }

    /// Closes the connection. `reason` is sent in a DISCONNECT to MQTT 5 clients when given;
    /// `keep_will` says whether the will (if any) is to be published.
    fn close(&mut self, ctx: &mut Context<Self>, reason: Option<ReasonCode>, keep_will: bool) {
        // Publishes received before the close are handled first, as they would have been
        // without a plugin to batch them for.
        self.release_held(ctx);
        match self.phase {
            Phase::Detaching | Phase::Closed => return,
            Phase::Connected => {
                // Acknowledgements already decided (one waiting for the router's turn, say)
                // go before the connection closes.
                let _ = self.send_decided_acks();
                if let (Some(reason), true) = (reason, self.protocol.is_v5()) {
                    let mut disconnect = Disconnect { reason, ..Default::default() };
                    // Reason strings are always allowed on DISCONNECT [MQTT-3.1.2-29].
                    disconnect.properties.reason_string = self.reason_string.take().map(Into::into);
                    self.send(&Packet::Disconnect(disconnect));
                }
                if !keep_will {
                    self.store_will(false);
                    self.will = None;
                }
                self.phase = Phase::Detaching;
                self.shared
                    .router
                    .do_send(Detach { client_id: self.client_id.clone(), connection_id: self.connection_id });
            }
            Phase::AwaitingConnect | Phase::Connecting => {
                self.phase = Phase::Closed;
                ctx.stop();
            }
        }
        self.out.close();
    }

    /// Closes for a protocol violation: one log line, DISCONNECT with the reason for MQTT 5.
    fn violation(&mut self, ctx: &mut Context<Self>, reason: ReasonCode, what: &str) {
        tracing::warn!(
            client_id = %self.client_id, peer = %self.peer_info.addr,
            reason = format_args!("0x{:02X}", reason.code()),
            "closing connection: {what}"
        );
        self.reason_string = Some(what.to_owned());
        self.close(ctx, Some(reason), true);
    }

    /// Hands the session state to the router and stops.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Detaching {
            return;
        }
        self.phase = Phase::Closed;
        let mqtt = &self.shared.config.mqtt;
        let outbound = std::mem::replace(&mut self.outbound, Outbound::new(1, 0, mqtt.max_queued_bytes));
        let session =
            outbound.into_stored(self.incoming_qos2.drain().collect(), self.subscriptions.drain().collect());
        self.shared.router.do_send(SessionClosed {
            client_id: self.client_id.clone(),
            connection_id: self.connection_id,
            expiry_secs: self.session_expiry,
            session,
            will: self.will.take(),
        });
        self.shared.ops.metrics.clients_connected.dec();
        tracing::info!(client_id = %self.client_id, peer = %self.peer_info.addr, "client disconnected");
        ctx.stop();
    }

    /// Closes the connection after `limit` (1.5 x keep alive) of silence. Runs on a timer;
    /// `seen` is the packet count at the timer's last look and when it last changed (so a
    /// packet counts from the tick that saw it: ticks come every eighth of a keep alive).
    fn check_keep_alive(&mut self, limit: Duration, seen: &mut (u32, Instant), ctx: &mut Context<Self>) {
        if self.packets_in != seen.0 {
            *seen = (self.packets_in, Instant::now());
            return;
        }
        if self.phase == Phase::Connected && seen.1.elapsed() > limit {
            tracing::info!(client_id = %self.client_id, peer = %self.peer_info.addr, "keep alive timed out");
            self.close(ctx, Some(ReasonCode::KeepAliveTimeout), true);
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let timeout = Duration::from_secs(u64::from(self.shared.config.mqtt.connect_timeout_secs));
        self.connect_timer = ctx.run_later(timeout, |act, ctx| {
            if act.phase == Phase::AwaitingConnect {
                tracing::info!(peer = %act.peer_info.addr, "no CONNECT within the connect timeout");
                act.close(ctx, None, false);
            }
        });
    }
}

impl StreamHandler<Result<Inbound, ReadError>> for Session {
    fn handle(&mut self, item: Result<Inbound, ReadError>, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Detaching | Phase::Closed) {
            return;
        }
        match item {
            Ok(Inbound::Packet(packet)) => {
                self.packets_in = self.packets_in.wrapping_add(1);
                self.on_packet(packet, ctx);
                self.mid_burst = true;
            }
            // The end of a burst: the publishes held for the plugins go.
            Ok(Inbound::Drained) => {
                self.mid_burst = false;
                self.release_held(ctx);
            }
            Err(ReadError::Io(e)) => {
                tracing::info!(client_id = %self.client_id, peer = %self.peer_info.addr, error = %e, "connection lost");
                self.close(ctx, None, true);
            }
            Err(ReadError::Decode(e)) => self.on_decode_error(e, ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.phase, Phase::Detaching | Phase::Closed) {
            tracing::debug!(client_id = %self.client_id, peer = %self.peer_info.addr, "connection closed by peer");
        }
        self.close(ctx, None, true);
    }
}

impl Handler<ToSession> for Session {
    type Result = ();
    fn handle(&mut self, msg: ToSession, ctx: &mut Context<Self>) {
        match msg {
            ToSession::Deliver(batch) => self.on_deliveries(batch, ctx),
            ToSession::Control(control) => self.on_control(control, ctx),
            ToSession::Inspect(reply) => {
                let _ = reply.send(self.counts());
            }
            ToSession::PublishDone(done) => self.on_publish_done(done, ctx),
        }
    }
}

impl Session {
    fn on_deliveries(&mut self, batch: Vec<Delivery>, ctx: &mut Context<Self>) {
        self.pending.fetch_sub(batch.len(), Ordering::Relaxed);
        for delivery in self.on_deliver_batch(batch) {
            self.deliver(delivery, ctx);
        }
        if self.shared.ops.backpressure.is_paused() {
            self.shared.router.do_send(crate::router::messages::Drained);
        }
    }

    fn on_control(&mut self, msg: Control, ctx: &mut Context<Self>) {
        match msg {
            Control::Kick(reason) => {
                tracing::info!(client_id = %self.client_id, reason = format_args!("0x{:02X}", reason.code()), "disconnecting client");
                self.close(ctx, Some(reason), true);
            }
            Control::Detached => self.finish(ctx),
        }
    }
}

/// The writer task ended (clean close or write error).
#[derive(Message)]
#[rtype(result = "()")]
struct WriterDone(Option<std::io::Error>);

impl Handler<WriterDone> for Session {
    type Result = ();
    fn handle(&mut self, msg: WriterDone, ctx: &mut Context<Self>) {
        if let Some(e) = msg.0 {
            tracing::info!(client_id = %self.client_id, peer = %self.peer_info.addr, error = %e, "write failed");
        }
        self.close(ctx, None, true);
        if self.phase == Phase::Closed {
            ctx.stop();
        }
    }
}
