//! The router's logic as a plain struct: sessions, subscriptions, fan-out, retained messages,
//! wills and expiry. The actor in `mod.rs` only forwards messages here and runs the timers
//! this code asks for ([`FollowUp`]).

use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use rustc_hash::FxHashMap;

use super::messages::*;
use super::registry::{ClientEntry, Presence, Registry};
use super::retained::RetainedStore;
use super::topic_tree::TopicTree;
use crate::config::MqttConfig;
use crate::message::Message;
use crate::protocol::{ReasonCode, RetainHandling, SubscriptionOptions};

mod admin;
mod delivery;
mod ops;
mod restore;
pub use ops::RouterOps;

/// Deliveries of QoS 0 allowed in a session's mailbox when `max_queued_messages` is unlimited.
const QOS0_MAILBOX_CAP: usize = 10_000;

/// While reads are paused, a session's mailbox may hold this many times its usual limit.
const PAUSED_CAP_FACTOR: usize = 4;

/// Gathered deliveries (all sessions) that make the router send them before its turn ends,
/// so a long turn under load neither delays them nor holds much memory.
const FLUSH_AT: usize = 1024;

/// What one subscription stores in the topic tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    /// Options, granted QoS included.
    pub options: SubscriptionOptions,
    /// Subscription identifier.
    pub subscription_id: Option<u32>,
}

/// A timer the actor must start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Call [`RouterState::expire_session`] after this long.
    ExpireSession {
        /// Client.
        client_id: ByteString,
        /// Generation when scheduled.
        generation: u64,
        /// Delay.
        after: Duration,
    },
    /// Call [`RouterState::fire_will`] after this long.
    PublishWill {
        /// Client.
        client_id: ByteString,
        /// Generation when scheduled.
        generation: u64,
        /// Delay.
        after: Duration,
    },
}

/// All router state.
pub struct RouterState {
    config: Arc<MqttConfig>,
    clients: Registry,
    tree: TopicTree<ByteString, SubEntry>,
    retained: RetainedStore<Arc<Message>>,
    /// Connects waiting for the previous connection with the same client id to close.
    parked: FxHashMap<ByteString, Connect>,
    /// Wills waiting for their delay: client id -> (generation, will).
    wills: FxHashMap<ByteString, (u64, Arc<Message>)>,
    next_generation: u64,
    stats: RouterStats,
    /// Reused buffer for matches.
    matches: Vec<(ByteString, SubEntry)>,
    /// Clients whose `outgoing` deliveries wait for [`RouterState::flush_deliveries`].
    batched: Vec<ByteString>,
    /// Deliveries waiting there, over all clients.
    batched_count: usize,
    /// Sessions whose mailbox holds more deliveries than `flow_high` (then `flow_low`):
    /// while there is one, sessions pause reading (see [`crate::flow`]).
    congested: Vec<ByteString>,
    flow_high: usize,
    flow_low: usize,
    backpressure: Arc<crate::flow::Backpressure>,
    /// Metrics, `$SYS`, limits and persistence.
    ops: ops::OpsState,
}

impl RouterState {
    /// Empty state.
    pub fn new(config: Arc<MqttConfig>) -> Self {
        Self::with_ops(config, &RouterOps::default())
    }

    /// Empty state with operations hooks (metrics, limits, store).
    pub fn with_ops(config: Arc<MqttConfig>, ops: &RouterOps) -> Self {
        let smallest_cap = match config.max_queued_messages {
            0 => QOS0_MAILBOX_CAP,
            n => n,
        };
        let flow_high = crate::flow::Backpressure::high_mark(smallest_cap);
        RouterState {
            congested: Vec::new(),
            flow_high,
            flow_low: crate::flow::Backpressure::low_mark(flow_high),
            backpressure: ops.backpressure.clone(),
            ops: ops::OpsState::new(ops),
            config,
            clients: Registry::default(),
            tree: TopicTree::new(),
            retained: RetainedStore::new(),
            parked: FxHashMap::default(),
            wills: FxHashMap::default(),
            next_generation: 1,
            stats: RouterStats::default(),
            matches: Vec::new(),
            batched: Vec::new(),
            batched_count: 0,
        }
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// A client finished CONNECT. If the client id is connected, that connection is kicked
    /// ([MQTT-3.1.4-3]) and this one waits for it to hand over its session.
    pub fn connect(&mut self, req: Connect) {
        if let Some(entry) = self.clients.get(&req.client_id) {
            if entry.connection_id().is_some() {
                if let Some(handle) = entry.online() {
                    handle.control(Control::Kick(ReasonCode::SessionTakenOver));
                }
                // A third connection supersedes a parked second one: drop its reply, so it
                // closes; it never registered.
                self.parked.insert(req.client_id.clone(), req);
                return;
            }
        }
        self.complete_connect(req);
    }

    fn complete_connect(&mut self, req: Connect) {
        let generation = self.generation();
        let pending_will = self.wills.remove(&req.client_id);
        let existing = self.clients.remove(&req.client_id);
        let resumed_persistent = existing.as_ref().is_some_and(|e| e.persistent());
        let (mut entry, session_present) = match existing {
            Some(old) if !req.clean_start => (old, true),
            old => {
                if let Some(old) = old {
                    self.drop_subscriptions(&req.client_id, &old);
                    if old.persistent() {
                        self.ops.send(|| crate::persistence::Op::SessionEnd {
                            client: req.client_id.to_string(),
                        });
                    }
                }
                // The old session ended: its delayed will goes out now [MQTT-3.1.3-9 only
                // cancels it for a resumed session].
                if let Some((_, will)) = &pending_will {
                    self.publish(will.clone());
                }
                let entry = Box::new(ClientEntry::new(req.handle.clone(), req.connection_id, generation));
                (entry, false)
            }
        };
        entry.presence = Presence::Online { handle: req.handle, connection_id: req.connection_id };
        entry.generation = generation;
        entry.info = req.info;
        let mut session = mem::take(&mut entry.stored);
        session.queue.extend(entry.queued.drain(..));
        entry.queued_bytes = 0;
        session.subscriptions = entry.subscriptions.keys().cloned().collect();
        let client_id = req.client_id;
        if let Err(reply) = req.reply.send(ConnectReply { session_present, session }) {
            // The connection died while waiting: keep what it would have resumed.
            entry.stored = reply.session;
            entry.presence = Presence::Offline;
        }
        self.clients.insert(client_id.clone(), entry);
        self.store_session_up(&client_id, resumed_persistent && session_present);
    }

    fn drop_subscriptions(&mut self, client_id: &ByteString, entry: &ClientEntry) {
        for (group, filter, _) in entry.subscriptions.values() {
            self.tree.unsubscribe(filter, group.as_deref(), client_id);
        }
    }

    /// The connection is closing: from now on deliveries for it are queued here.
    pub fn detach(&mut self, msg: Detach) {
        let Some(entry) = self.clients.get_mut(&msg.client_id) else { return };
        if let Presence::Online { handle, connection_id } = &entry.presence {
            if *connection_id == msg.connection_id {
                handle.control(Control::Detached);
                entry.presence = Presence::Detaching { connection_id: msg.connection_id };
            }
        }
    }

    /// The connection closed and handed over its state.
    pub fn session_closed(&mut self, msg: SessionClosed) -> Vec<FollowUp> {
        let mut follow_ups = Vec::new();
        let generation = self.generation();
        let Some(entry) = self.clients.get_mut(&msg.client_id) else { return follow_ups };
        if entry.connection_id() != Some(msg.connection_id) {
            return follow_ups;
        }
        entry.presence = Presence::Offline;
        entry.generation = generation;
        entry.info.session_expiry_secs = msg.expiry_secs;
        entry.info.peer = None;
        let mut stored = msg.session;
        stored.queue.extend(entry.queued.drain(..));
        entry.queued_bytes = stored.queue.iter().map(|d| d.message.size()).sum();
        entry.queued = mem::take(&mut stored.queue);
        entry.stored = stored;

        let client_id = msg.client_id;
        let session_ends_now = msg.expiry_secs == 0;
        if msg.expiry_secs > 0 {
            let (client, expiry_secs) = (client_id.to_string(), msg.expiry_secs);
            let at_unix_ms = crate::persistence::records::unix_ms();
            self.ops.send(|| crate::persistence::Op::SessionDown { client, expiry_secs, at_unix_ms });
        }
        if let Some(will) = msg.will {
            if will.delay_secs == 0 || session_ends_now {
                self.publish(will.message);
                self.store_will_gone(&client_id);
            } else {
                self.store_will(&client_id, &will);
                let delay = will.delay_secs.min(msg.expiry_secs);
                self.wills.insert(client_id.clone(), (generation, will.message));
                follow_ups.push(FollowUp::PublishWill {
                    client_id: client_id.clone(),
                    generation,
                    after: Duration::from_secs(u64::from(delay)),
                });
            }
        }
        if session_ends_now {
            self.end_session(&client_id);
        } else if msg.expiry_secs != u32::MAX {
            follow_ups.push(FollowUp::ExpireSession {
                client_id: client_id.clone(),
                generation,
                after: Duration::from_secs(u64::from(msg.expiry_secs)),
            });
        }
        if let Some(parked) = self.parked.remove(&client_id) {
            self.complete_connect(parked);
        }
        follow_ups
    }

    fn end_session(&mut self, client_id: &ByteString) {
        if let Some(entry) = self.clients.remove(client_id) {
            self.drop_subscriptions(client_id, &entry);
            if entry.persistent() || entry.stored.inflight.iter().any(|r| r.delivery.store_seq.is_some()) {
                self.ops.send(|| crate::persistence::Op::SessionEnd { client: client_id.to_string() });
            }
        }
    }

    /// Session expiry timer fired.
    pub fn expire_session(&mut self, client_id: &ByteString, generation: u64) {
        let current = self.clients.get(client_id).map(|e| (e.generation, e.connection_id()));
        if current == Some((generation, None)) {
            // The session ends: a will still waiting goes out now.
            if let Some((_, will)) = self.wills.remove(client_id) {
                self.publish(will);
                self.store_will_gone(client_id);
            }
            self.end_session(client_id);
        }
    }

    /// Will delay timer fired.
    pub fn fire_will(&mut self, client_id: &ByteString, generation: u64) {
        if self.wills.get(client_id).is_some_and(|(g, _)| *g == generation) {
            if let Some((_, will)) = self.wills.remove(client_id) {
                self.publish(will);
                self.store_will_gone(client_id);
            }
        }
    }

    /// Adds subscriptions and sends the retained messages they ask for.
    pub fn subscribe(&mut self, msg: Subscribe) {
        let Some(entry) = self.clients.get_mut(&msg.client_id) else { return };
        let mut retained = Vec::new();
        let mut stored_filters = Vec::new();
        for f in msg.filters {
            let value = SubEntry { options: f.options, subscription_id: f.subscription_id };
            let previous =
                self.tree.subscribe(&f.topic_filter, f.share_group.as_deref(), msg.client_id.clone(), value);
            entry
                .subscriptions
                .insert(f.filter.clone(), (f.share_group.clone(), f.topic_filter.clone(), value));
            stored_filters.push(f.filter);
            let wanted = match f.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => previous.is_none(),
                RetainHandling::DoNotSend => false,
            };
            // Retained messages are not sent for shared subscriptions [MQTT-3.8.4-?/4.8.2].
            if wanted && f.share_group.is_none() {
                let mut found = Vec::new();
                self.retained.matching(&f.topic_filter, &mut found);
                retained.extend(found.into_iter().map(|m| (m, value)));
            }
        }
        for filter in &stored_filters {
            self.store_subscription(&msg.client_id, filter);
        }
        let now = Instant::now();
        for (message, sub) in retained {
            if message.is_expired(now) {
                continue;
            }
            let delivery = Delivery {
                qos: message.qos.min(sub.options.qos),
                retain: true,
                subscription_ids: sub.subscription_id.into_iter().collect(),
                message,
                store_seq: None,
                transformed: false,
            };
            let message = delivery.message.clone();
            self.deliver(&msg.client_id, delivery);
            // The store hears of it now, as of any publish (before it can reach the session).
            self.finish_publish(&message);
        }
    }

    /// Removes subscriptions.
    pub fn unsubscribe(&mut self, msg: Unsubscribe) {
        let Some(entry) = self.clients.get_mut(&msg.client_id) else { return };
        let mut removed = Vec::new();
        for filter in msg.filters {
            if let Some((group, topic_filter, _)) = entry.subscriptions.remove(&filter) {
                self.tree.unsubscribe(&topic_filter, group.as_deref(), &msg.client_id);
                removed.push(filter);
            }
        }
        for filter in &removed {
            self.store_subscription(&msg.client_id, filter);
        }
    }

    /// Routes one message: retained store, then every matching subscription.
    pub fn publish(&mut self, message: Arc<Message>) {
        self.stats.messages_routed += 1;
        if message.retain && self.config.retain_available {
            self.retain(&message);
        }
        let mut matches = mem::take(&mut self.matches);
        matches.clear();
        let clients = &self.clients;
        self.tree.matches(
            &message.topic,
            |k| clients.get(k).is_some_and(|e| e.online().is_some()),
            &mut matches,
        );
        if matches.len() > 1 {
            // Overlapping subscriptions of one client give one delivery; sort so they are adjacent.
            matches.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        let mut i = 0;
        while i < matches.len() {
            let client = matches[i].0.clone();
            let mut delivery: Option<Delivery> = None;
            while i < matches.len() && matches[i].0 == client {
                let sub = matches[i].1;
                i += 1;
                // No Local: never back to the publisher [MQTT-3.8.3-3].
                if sub.options.no_local && message.publisher.as_ref() == Some(&client) {
                    continue;
                }
                delivery::merge_into(&mut delivery, &message, &sub);
            }
            if let Some(d) = delivery {
                self.deliver(&client, d);
            }
        }
        self.matches = matches;
        self.finish_publish(&message);
    }

    /// Kicks every connected client (shutdown).
    pub fn kick_all(&mut self, reason: ReasonCode) {
        for entry in self.clients.values() {
            if let Some(h) = entry.online() {
                h.control(Control::Kick(reason));
            }
        }
    }

    /// Current counters.
    pub fn stats(&self) -> RouterStats {
        let clients_connected = self.clients.values().filter(|e| e.connection_id().is_some()).count();
        RouterStats {
            clients_connected,
            sessions_offline: self.clients.len() - clients_connected,
            subscriptions: self.tree.len(),
            retained: self.retained.len() - self.ops.sys_retained,
            queued_messages: self.clients.values().map(|e| e.queued.len()).sum(),
            ..self.stats
        }
    }
}
