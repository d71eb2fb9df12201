//! The session's side of authentication, authorization and transforms: it asks the plugin
//! host (authentication on the plugin threads, everything else on this thread's instances) and
//! applies the answers to the protocol (CONNACK, SUBACK, PUBACK codes).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::handshake::Settled;
use super::Session;
use crate::auth::acl::Action;
use crate::auth::{AuthAnswer, ConnectRequest, Identity};
use crate::message::Message;
use crate::plugins::{self, Hook, PluginHost, PluginMask, SubVerdict, Transformed};
use crate::protocol::{Auth, AuthProperties, Connect, Packet, QoS, ReasonCode};
use crate::reload::PluginsNow;
use crate::router::messages::{Delivery, SubscribeFilter};

/// The plugin host and the authentication threads of a broker, if it has plugins.
pub struct Plugins {
    /// The loaded plugins.
    pub host: Arc<plugins::PluginHost>,
    /// Threads running `authenticate` (when a plugin implements it).
    pub auth: Option<plugins::AuthPool>,
    /// Each listener's plugins (`[[listener]]` order), resolved against this host's plugins.
    pub masks: Arc<[plugins::PluginMask]>,
}

/// A CONNECT whose authentication is under way (waiting for the client's next AUTH, when it
/// is in `Session::pending_auth`).
pub(super) struct PendingAuth {
    connect: Box<Connect>,
    settled: Settled,
    req: ConnectRequest,
}

impl Session {
    /// The position of this client's listener (which plugins apply: [`Plugins::masks`]).
    pub(super) fn listener_index(&self) -> usize {
        self.peer_info.policy.listener
    }

    /// This client's listener's overrides of `[auth]`.
    pub(super) fn auth_overrides(&self) -> crate::auth::AuthOverrides {
        self.peer_info.policy.auth
    }

    fn identity_from(&self, c: &Connect) -> Identity {
        Identity {
            client_id: self.client_id.to_string(),
            username: c.username.as_ref().map(ToString::to_string),
            peer: self.peer_info.addr,
            listener: self.peer_info.listener.clone(),
            protocol: c.protocol,
            tls_subject: self.peer_info.tls_subject.clone(),
            attributes: Vec::new(),
        }
    }

    /// Runs the authentication chain, off this thread when plugins are involved, then
    /// `admit`s, refuses, or (MQTT 5 enhanced authentication) challenges the client.
    pub(super) fn authenticate(&mut self, connect: Box<Connect>, settled: Settled, ctx: &mut Context<Self>) {
        let p = &connect.properties;
        let req = ConnectRequest {
            identity: self.identity_from(&connect),
            password: connect.password.clone(),
            clean_start: connect.clean_start,
            keep_alive_secs: connect.keep_alive,
            user_properties: p.user_properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            auth_method: p.authentication_method.as_ref().map(ToString::to_string),
            auth_data: p.authentication_data.clone(),
        };
        self.run_auth(PendingAuth { connect, settled, req }, ctx);
    }

    fn run_auth(&mut self, step: PendingAuth, ctx: &mut Context<Self>) {
        let now = self.shared.plugins.load();
        let Some((pool, mask)) = now.auth_for(self.listener_index()) else {
            let overrides = self.auth_overrides();
            let answer = self.shared.policy.load().decide_connect(&step.req, AuthAnswer::Next, overrides);
            return self.authenticated(step, answer, ctx);
        };
        match pool.submit(step.req.clone(), mask.clone()) {
            Ok(rx) => {
                ctx.wait(rx.into_actor(self).map(move |answer, act, ctx| {
                    let answer = answer.unwrap_or(AuthAnswer::Deny(ReasonCode::ServerUnavailable, None));
                    let answer =
                        act.shared.policy.load().decide_connect(&step.req, answer, act.auth_overrides());
                    act.authenticated(step, answer, ctx)
                }));
            }
            Err(plugins::Busy) => {
                tracing::warn!(peer = %self.peer_info.addr, "authentication queue full");
                self.refuse(ReasonCode::ServerUnavailable, None, ctx)
            }
        }
    }

    fn authenticated(&mut self, step: PendingAuth, answer: AuthAnswer, ctx: &mut Context<Self>) {
        let metrics = &self.shared.ops.metrics;
        match &answer {
            AuthAnswer::Allow(_) => metrics.auth_success.inc(),
            AuthAnswer::Deny(..) | AuthAnswer::Next => metrics.auth_failure.inc(),
            AuthAnswer::Challenge(_) => {}
        }
        match answer {
            AuthAnswer::Allow(grants) => {
                if step.req.auth_method.is_some() {
                    self.reauth = Some(Box::new(super::reauth::ReAuth::new(step.req.clone())));
                }
                let mut identity = step.req.identity;
                identity.attributes = grants.attributes.clone();
                self.identity = Some(Arc::new(identity));
                self.set_grants(grants);
                // The will is a publish too: its topic must be allowed now.
                if let Some(w) = &step.connect.will {
                    if !self.may_publish(&w.topic, w.qos, w.retain) {
                        let why = Some("will topic not authorized".to_owned());
                        return self.refuse(ReasonCode::NotAuthorized, why, ctx);
                    }
                }
                self.admit(step.connect, step.settled, ctx);
            }
            AuthAnswer::Deny(reason, message) => self.refuse(reason, message, ctx),
            AuthAnswer::Challenge(data) => self.challenge(step, data, ctx),
            AuthAnswer::Next => self.refuse(ReasonCode::NotAuthorized, None, ctx),
        }
    }

    /// Sends AUTH 0x18 and waits (at most the connect timeout) for the client's answer.
    fn challenge(&mut self, step: PendingAuth, data: bytes::Bytes, ctx: &mut Context<Self>) {
        self.send(&Packet::Auth(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: AuthProperties {
                authentication_method: step.req.auth_method.as_deref().map(Into::into),
                authentication_data: Some(data),
                ..Default::default()
            }
            .into(),
        }));
        self.pending_auth = Some(Box::new(step));
        self.auth_steps += 1;
        let this_step = self.auth_steps;
        let timeout = Duration::from_secs(u64::from(self.shared.config.mqtt.connect_timeout_secs));
        ctx.run_later(timeout, move |act, ctx| {
            if act.auth_steps == this_step && act.pending_auth.take().is_some() {
                tracing::info!(peer = %act.peer_info.addr, "no answer to the authentication challenge");
                act.close(ctx, None, false);
            }
        });
    }

    /// An AUTH packet: the next step of a pending enhanced authentication, or
    /// re-authentication (see `reauth`).
    pub(super) fn on_auth(&mut self, a: Auth, ctx: &mut Context<Self>) {
        let Some(mut step) = self.pending_auth.take() else {
            return self.on_reauth(a, ctx);
        };
        let same_method = a.properties.authentication_method.as_deref() == step.req.auth_method.as_deref();
        if a.reason != ReasonCode::ContinueAuthentication || !same_method {
            // The method may not change during the exchange.
            return self.refuse(ReasonCode::ProtocolError, Some("unexpected AUTH".into()), ctx);
        }
        step.req.auth_data = a.properties.into_inner().authentication_data;
        self.run_auth(*step, ctx);
    }

    /// True while an enhanced authentication waits for the client's AUTH: only AUTH may come.
    pub(super) fn authenticating(&self) -> bool {
        self.pending_auth.is_some()
    }

    pub(super) fn who(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }

    /// The plugin host and selection of this client's listener when one of its plugins has
    /// the transform `hook` (`on-publish`: this client as the sender, `on-deliver`: as the
    /// subscriber), with the identity the plugins see; `None` before authentication.
    pub(super) fn transforms<'a>(
        &'a self,
        now: &'a PluginsNow,
        hook: Hook,
    ) -> Option<(&'a Arc<PluginHost>, &'a PluginMask, &'a Arc<Identity>)> {
        let (host, mask) = now.host_with(hook, self.listener_index())?;
        Some((host, mask, self.who()?))
    }

    /// Authorizes and transforms a PUBLISH: the message to route, or the reason code to
    /// acknowledge with.
    pub(super) fn admit_publish(
        &mut self,
        message: Message,
        now: &PluginsNow,
    ) -> Result<Arc<Message>, ReasonCode> {
        let message = Arc::new(message);
        if !self.may_publish_now(now, &message.topic, message.qos, message.retain) {
            tracing::debug!(client_id = %self.client_id, topic = %message.topic, "publish not authorized");
            return Err(ReasonCode::NotAuthorized);
        }
        let Some((host, mask, identity)) = self.transforms(now, Hook::OnPublish) else {
            return Ok(message);
        };
        match plugins::with_local(host, |set| set.transform(identity, message, false, mask)) {
            Transformed::Pass(m) => Ok(m),
            Transformed::Drop(reason) => Err(reason),
        }
    }

    /// May this client publish to `topic` (the grant's rules, the plugins, the static rules)?
    pub(super) fn may_publish(&self, topic: &str, qos: QoS, retain: bool) -> bool {
        self.may_publish_now(&self.shared.plugins.load(), topic, qos, retain)
    }

    /// [`Session::may_publish`] with the plugins in force already loaded.
    ///
    /// Without an `authorize-publish` plugin the verdict depends only on the policy in force,
    /// the grants and the topic, so the last one is kept: a client publishing to the same
    /// topic again (the common case) costs a string comparison. It is dropped when the grants
    /// change (re-authentication), and a reload brings a new policy, which never matches.
    pub(super) fn may_publish_now(&self, now: &PluginsNow, topic: &str, qos: QoS, retain: bool) -> bool {
        let shared = &self.shared;
        let Some(identity) = self.who() else { return true };
        let policy = shared.policy.load();
        let deciding = now.host_with(Hook::AuthorizePublish, self.listener_index());
        if deciding.is_none() {
            if let Some(v) = self.last_publish_verdict.borrow().as_deref() {
                if Arc::ptr_eq(&v.policy, &policy) && v.topic == topic {
                    return v.allowed;
                }
            }
        }
        let plugins = || {
            let (host, mask) = deciding?;
            plugins::with_local(host, |set| set.authorize_publish(identity, topic, qos as u8, retain, mask))
        };
        let action = Action::Publish(topic);
        let allowed = policy.authorize(self.grants(), identity.who(), action, plugins, self.auth_overrides());
        if deciding.is_none() {
            // The policy is held (not just its address), so a later policy is never mistaken
            // for it.
            let mut last = self.last_publish_verdict.borrow_mut();
            let v = last.get_or_insert_with(|| {
                Box::new(super::PublishVerdict { policy: Arc::clone(&policy), topic: String::new(), allowed })
            });
            if !Arc::ptr_eq(&v.policy, &policy) {
                v.policy = Arc::clone(&policy);
            }
            v.topic.clear();
            v.topic.push_str(topic);
            v.allowed = allowed;
        }
        allowed
    }

    /// Authorizes the subscriptions that passed validation: a refused one becomes
    /// `Err(NotAuthorized)` (SUBACK 0x87, or 0x80 for MQTT 3.x); a downgrade lowers the QoS.
    pub(super) fn authorize_subscriptions(&mut self, checked: &mut [Result<SubscribeFilter, ReasonCode>]) {
        let shared = self.shared.clone();
        let Some(identity) = self.who().cloned() else { return };
        let (policy, who) = (shared.policy.load(), identity.who());
        let mut open = Vec::new();
        for (k, c) in checked.iter_mut().enumerate() {
            let Ok(f) = c else { continue };
            match policy.rules_verdict(self.grants(), who, Action::Subscribe(&f.topic_filter)) {
                Some(true) => {}
                Some(false) => *c = Err(ReasonCode::NotAuthorized),
                None => open.push(k),
            }
        }
        if open.is_empty() {
            return;
        }
        let verdicts = match shared.plugins.load().host_with(Hook::AuthorizeSubscribe, self.listener_index())
        {
            Some((host, mask)) => {
                let subs: Vec<(String, u8)> = open
                    .iter()
                    .filter_map(|&k| checked[k].as_ref().ok())
                    .map(|f| (f.topic_filter.to_string(), f.options.qos as u8))
                    .collect();
                plugins::with_local(host, |set| set.authorize_subscribe(&identity, &subs, mask))
            }
            None => vec![None; open.len()],
        };
        for (&k, verdict) in open.iter().zip(verdicts) {
            let Ok(f) = &mut checked[k] else { continue };
            let allowed = match verdict {
                Some(SubVerdict::Allow(q)) => {
                    f.options.qos = f.options.qos.min(QoS::from_u8(q).unwrap_or(QoS::AtMostOnce));
                    true
                }
                Some(SubVerdict::Deny) => false,
                None => policy.fallback(who, Action::Subscribe(&f.topic_filter), self.auth_overrides()),
            };
            if !allowed {
                checked[k] = Err(ReasonCode::NotAuthorized);
            }
        }
    }

    /// Runs the `on-deliver` pipeline for one delivery: `Ok(None)` unchanged (or already
    /// transformed), `Ok(Some(d))` modified, `Err(())` dropped. The plugins are those of this
    /// (the subscriber's) listener.
    pub(super) fn on_deliver_hook(&mut self, d: &Delivery) -> Result<Option<Delivery>, ()> {
        if d.transformed {
            return Ok(None);
        }
        let now = self.shared.plugins.load();
        let Some((host, mask, identity)) = self.transforms(&now, Hook::OnDeliver) else {
            return Ok(None);
        };
        match plugins::with_local(host, |set| set.transform(identity, d.message.clone(), true, mask)) {
            Transformed::Pass(m) if Arc::ptr_eq(&m, &d.message) => Ok(None),
            Transformed::Pass(m) => Ok(Some(transformed(d.clone(), m))),
            Transformed::Drop(_) => Err(()),
        }
    }

    /// Runs the `on-deliver` pipeline over deliveries that arrived together, in one plugin
    /// call per [`plugins::TRANSFORM_BATCH`] messages: the dropped ones are left out (a stored
    /// one is completed), the others carry their message as the plugins left it. Without
    /// `on-deliver` plugins, or before the client is connected, the batch is returned as it
    /// is (each delivery then goes through the plugins when it is written).
    pub(super) fn on_deliver_batch(&mut self, batch: Vec<Delivery>) -> Vec<Delivery> {
        if self.phase != super::Phase::Connected {
            return batch;
        }
        let now = self.shared.plugins.load();
        let Some((host, mask, identity)) = self.transforms(&now, Hook::OnDeliver) else {
            return batch;
        };
        let messages = batch.iter().map(|d| d.message.clone()).collect();
        let results = plugins::with_local(host, |set| set.transform_batch(identity, messages, true, mask));
        let mut out = Vec::with_capacity(batch.len());
        for (d, result) in batch.into_iter().zip(results) {
            match result {
                Transformed::Pass(m) => out.push(transformed(d, m)),
                Transformed::Drop(_) => self.store_complete(d.store_seq),
            }
        }
        out
    }
}

/// `d` carrying the message the `on-deliver` plugins left, at most at that message's QoS.
fn transformed(d: Delivery, message: Arc<Message>) -> Delivery {
    Delivery { qos: d.qos.min(message.qos), message, transformed: true, ..d }
}
