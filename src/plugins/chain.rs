//! The hook chains over a thread's [`PluginSet`]: authentication and authorization (first
//! allow/deny wins, `next` passes on) and the transform pipeline (in order; a drop ends it).
//! A failing plugin counts as its `on_failure` says: closed (deny / drop, the default) or open
//! (next / pass).

use std::sync::Arc;

use super::bindings::aviary::plugin::types::{
    self as wit, AuthDecision, AuthzDecision, Hooks, PublishDecision, SubDecision,
};
use super::bindings::exports::aviary::plugin::messages as wit_messages;
use super::convert;
use super::host::CallFor;
use super::instance::PluginSet;
use super::{Hook, PluginMask, TRANSFORM_BATCH};
use crate::auth::{AuthAnswer, ConnectRequest, Identity};
use crate::message::Message;
use crate::protocol::ReasonCode;

/// A subscription's verdict from the plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubVerdict {
    /// Granted, at most at this QoS.
    Allow(u8),
    /// Refused.
    Deny,
}

/// The transform pipeline's result.
#[derive(Debug, Clone)]
pub enum Transformed {
    /// Route this message (the original when nobody modified it).
    Pass(Arc<Message>),
    /// Do not route; acknowledge with this reason.
    Drop(ReasonCode),
}

/// A transform batch as the columns of `messages.message-batch`.
struct BatchColumns {
    topics: String,
    payloads: Vec<u8>,
    ends: Vec<u32>,
    flags: Vec<u8>,
}

impl BatchColumns {
    fn of(batch: &[&Arc<Message>]) -> Self {
        let n = batch.len();
        let mut c = BatchColumns {
            topics: String::with_capacity(batch.iter().map(|m| m.topic.len()).sum()),
            payloads: Vec::with_capacity(batch.iter().map(|m| m.payload.len()).sum()),
            ends: Vec::with_capacity(2 * n),
            flags: Vec::with_capacity(n),
        };
        let offset = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        for m in batch {
            c.topics.push_str(&m.topic);
            c.payloads.extend_from_slice(&m.payload);
            c.ends.extend([offset(c.topics.len()), offset(c.payloads.len())]);
            c.flags.push(m.qos as u8 | u8::from(m.retain) << 2 | u8::from(convert::has_properties(m)) << 3);
        }
        c
    }

    fn as_wit(&self) -> wit_messages::MessageBatch<'_> {
        wit_messages::MessageBatch {
            topics: &self.topics,
            payloads: &self.payloads,
            ends: &self.ends,
            flags: &self.flags,
        }
    }
}

impl PluginSet {
    fn fails_closed(&self, i: usize) -> bool {
        self.host.plugins[i].config.on_failure.is_none_or(|f| f.is_closed())
    }

    /// Is plugin `i` selected by `mask` and does it implement `hook`? The chains walk the
    /// plugins in load order and skip the others (no list is built per call).
    fn runs(&self, i: usize, hook: Hooks, mask: &PluginMask) -> bool {
        mask.allows(i) && self.host.plugins[i].hooks.contains(hook)
    }

    /// Does any plugin `mask` selects implement `hook`?
    fn any_runs(&self, hook: Hooks, mask: &PluginMask) -> bool {
        (0..self.host.plugins.len()).any(|i| self.runs(i, hook, mask))
    }

    /// Runs the `authenticate` chain over the plugins `mask` selects.
    pub fn authenticate(&mut self, req: &ConnectRequest, mask: &PluginMask) -> AuthAnswer {
        let parts = convert::connect_parts(req);
        let arg = convert::connect(req, &parts);
        let who = Arc::new(req.identity.clone());
        for i in 0..self.host.plugins.len() {
            if !self.runs(i, Hooks::AUTHENTICATE, mask) {
                continue;
            }
            let deadline = self.host.plugins[i].config.limits.authenticate_ms;
            let context = CallFor { client: &who, messages: &[], batch_len: 0 };
            let answer = self.call(i, Hook::Authenticate, deadline, context, |p, s| {
                p.aviary_plugin_authn().call_authenticate(s, arg.clone())
            });
            match answer {
                Ok(AuthDecision::Allow(g)) => return AuthAnswer::Allow(convert::grants(g)),
                Ok(AuthDecision::Deny(r)) => {
                    return AuthAnswer::Deny(convert::connack_reason(r.reason), r.message)
                }
                Ok(AuthDecision::Challenge(data)) if req.auth_method.is_some() => {
                    return AuthAnswer::Challenge(data.into())
                }
                Ok(AuthDecision::Challenge(_)) => {
                    self.fail(i, Hook::Authenticate, "challenge without enhanced authentication");
                    if self.fails_closed(i) {
                        return AuthAnswer::Deny(ReasonCode::NotAuthorized, None);
                    }
                }
                Ok(AuthDecision::Next) => {}
                Err(()) if self.fails_closed(i) => {
                    return AuthAnswer::Deny(ReasonCode::NotAuthorized, Some("authentication failed".into()))
                }
                Err(()) => {}
            }
        }
        AuthAnswer::Next
    }

    /// Runs the `authorize-publish` chain: `Some(allowed)` once a plugin decided.
    pub fn authorize_publish(
        &mut self,
        who: &Arc<Identity>,
        topic: &str,
        qos: u8,
        retain: bool,
        mask: &PluginMask,
    ) -> Option<bool> {
        if !self.any_runs(Hooks::AUTHORIZE_PUBLISH, mask) {
            return None;
        }
        for i in 0..self.host.plugins.len() {
            if !self.runs(i, Hooks::AUTHORIZE_PUBLISH, mask) {
                continue;
            }
            let deadline = self.host.plugins[i].config.limits.authorize_ms;
            let context = CallFor { client: who, messages: &[], batch_len: 0 };
            let answer = self.call(i, Hook::AuthorizePublish, deadline, context, |p, s| {
                p.aviary_plugin_authz().call_authorize_publish(s, topic, qos, retain)
            });
            match answer {
                Ok(AuthzDecision::Allow) => return Some(true),
                Ok(AuthzDecision::Deny) => return Some(false),
                Ok(AuthzDecision::Next) => {}
                Err(()) if self.fails_closed(i) => return Some(false),
                Err(()) => {}
            }
        }
        None
    }

    /// Runs the `authorize-subscribe` chain over `(filter, qos)` pairs: one verdict per pair,
    /// `None` where no plugin decided.
    pub fn authorize_subscribe(
        &mut self,
        who: &Arc<Identity>,
        subs: &[(String, u8)],
        mask: &PluginMask,
    ) -> Vec<Option<SubVerdict>> {
        let mut out = vec![None; subs.len()];
        if !self.any_runs(Hooks::AUTHORIZE_SUBSCRIBE, mask) {
            return out;
        }
        for i in 0..self.host.plugins.len() {
            if !self.runs(i, Hooks::AUTHORIZE_SUBSCRIBE, mask) {
                continue;
            }
            let open: Vec<usize> = (0..subs.len()).filter(|&k| out[k].is_none()).collect();
            if open.is_empty() {
                break;
            }
            let arg: Vec<wit::Subscription> = open
                .iter()
                .map(|&k| wit::Subscription { topic_filter: &subs[k].0, qos: subs[k].1 })
                .collect();
            let deadline = self.host.plugins[i].config.limits.authorize_ms;
            let context = CallFor { client: who, messages: &[], batch_len: 0 };
            let answer = self.call(i, Hook::AuthorizeSubscribe, deadline, context, |p, s| {
                p.aviary_plugin_authz().call_authorize_subscribe(s, &arg)
            });
            let answer = match answer {
                Ok(a) if a.len() == open.len() => Ok(a),
                Ok(a) => {
                    let problem = format!("{} answers for {} subscriptions", a.len(), open.len());
                    self.fail(i, Hook::AuthorizeSubscribe, &problem);
                    Err(())
                }
                Err(()) => Err(()),
            };
            match answer {
                Ok(decisions) => {
                    for (&k, d) in open.iter().zip(decisions) {
                        out[k] = match d {
                            SubDecision::Allow => Some(SubVerdict::Allow(subs[k].1)),
                            SubDecision::Downgrade(q) => Some(SubVerdict::Allow(q.min(subs[k].1))),
                            SubDecision::Deny => Some(SubVerdict::Deny),
                            SubDecision::Next => None,
                        };
                    }
                }
                Err(()) if self.fails_closed(i) => open.iter().for_each(|&k| out[k] = Some(SubVerdict::Deny)),
                Err(()) => {}
            }
        }
        out
    }

    /// Runs the `on-publish` pipeline (`deliver == false`) or the `on-deliver` one on one
    /// message (see [`PluginSet::transform_batch`]).
    pub fn transform(
        &mut self,
        who: &Arc<Identity>,
        msg: Arc<Message>,
        deliver: bool,
        mask: &PluginMask,
    ) -> Transformed {
        let mut out = self.transform_batch(who, vec![msg], deliver, mask);
        out.pop().unwrap_or(Transformed::Drop(ReasonCode::ImplementationSpecificError))
    }

    /// Runs the `on-publish` pipeline (`deliver == false`) or the `on-deliver` one over the
    /// plugins `mask` selects (the sender's listener for `on-publish`, the subscriber's for
    /// `on-deliver`), on messages of one client: one result per message, in order. Each
    /// plugin gets the messages still passing whose topic it declared, in one call per
    /// [`TRANSFORM_BATCH`] messages; a failed call counts for every message in it.
    pub fn transform_batch(
        &mut self,
        who: &Arc<Identity>,
        msgs: Vec<Arc<Message>>,
        deliver: bool,
        mask: &PluginMask,
    ) -> Vec<Transformed> {
        let hook = if deliver { Hook::OnDeliver } else { Hook::OnPublish };
        let mut out: Vec<Transformed> = msgs.into_iter().map(Transformed::Pass).collect();
        if !self.any_runs(hook.flag(), mask) {
            return out;
        }
        let max = self.host.runtime.max_payload_bytes;
        let mut picked = Vec::new();
        for i in 0..self.host.plugins.len() {
            if !self.runs(i, hook.flag(), mask) {
                continue;
            }
            // A message outside the plugin's declared topics costs no call (nor a count).
            let plugin = &self.host.plugins[i];
            picked.clear();
            picked.extend(out.iter().enumerate().filter_map(|(k, t)| match t {
                Transformed::Pass(m) if m.payload.len() <= max && plugin.transforms(&m.topic) => Some(k),
                _ => None,
            }));
            for chunk in picked.chunks(TRANSFORM_BATCH) {
                let current: Vec<&Arc<Message>> = chunk
                    .iter()
                    .filter_map(|&k| match &out[k] {
                        Transformed::Pass(m) => Some(m),
                        Transformed::Drop(_) => None,
                    })
                    .collect();
                let results = self.call_transform(i, hook, who, &current, max);
                for (&k, result) in chunk.iter().zip(results) {
                    if let Some(result) = result {
                        out[k] = result;
                    }
                }
            }
        }
        out
    }

    /// One transform call of plugin `i` on `batch`: per message, its new result (`None`:
    /// passes unchanged).
    fn call_transform(
        &mut self,
        i: usize,
        hook: Hook,
        who: &Arc<Identity>,
        batch: &[&Arc<Message>],
        max: usize,
    ) -> Vec<Option<Transformed>> {
        let deadline = self.host.plugins[i].config.limits.transform_ms;
        // The messages are handed over only when the plugin may ask for their properties.
        let with_props: &[&Arc<Message>] = match batch.iter().any(|m| convert::has_properties(m)) {
            true => batch,
            false => &[],
        };
        let batch_len = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let context = CallFor { client: who, messages: with_props, batch_len };
        let deliver = hook == Hook::OnDeliver;
        let answer = match batch {
            // A lone message: the plain hook (two lists to pass instead of four).
            [m] => self.call(i, hook, deadline, context, |p, s| {
                let (topic, payload, qos, retain) = (&*m.topic, &*m.payload, m.qos as u8, m.retain);
                let props = !with_props.is_empty();
                let f = p.aviary_plugin_messages();
                let decision = match deliver {
                    true => f.call_on_deliver(&mut *s, topic, payload, qos, retain, props)?,
                    false => f.call_on_publish(&mut *s, topic, payload, qos, retain, props)?,
                };
                Ok((vec![decision], s.data_mut().context.take_replacements()))
            }),
            _ => {
                let columns = BatchColumns::of(batch);
                self.call(i, hook, deadline, context, |p, s| {
                    let f = p.aviary_plugin_messages();
                    let decisions = match deliver {
                        true => f.call_on_deliver_batch(&mut *s, columns.as_wit())?,
                        false => f.call_on_publish_batch(&mut *s, columns.as_wit())?,
                    };
                    Ok((decisions, s.data_mut().context.take_replacements()))
                })
            }
        };
        let failed = |set: &Self| {
            let outcome =
                set.fails_closed(i).then_some(Transformed::Drop(ReasonCode::ImplementationSpecificError));
            vec![outcome; batch.len()]
        };
        let (decisions, mut replacements) = match answer {
            Ok((d, r)) if d.len() == batch.len() => (d, r),
            Ok((d, _)) => {
                self.fail(i, hook, &format!("answered {} decisions for {} messages", d.len(), batch.len()));
                return failed(self);
            }
            Err(()) => return failed(self),
        };
        let mut out = Vec::with_capacity(batch.len());
        for ((index, decision), orig) in (0u32..).zip(decisions).zip(batch) {
            out.push(match decision {
                PublishDecision::Pass => None,
                PublishDecision::Drop(reason) => Some(Transformed::Drop(convert::ack_reason(reason))),
                PublishDecision::Modify => {
                    let handed = replacements.iter().position(|(k, _)| *k == index);
                    let checked = handed
                        .map(|at| replacements.swap_remove(at).1)
                        .ok_or_else(|| "answered modify without context.set-message".to_owned())
                        .and_then(|m| convert::modified(orig, m, max));
                    match checked {
                        Ok(m) => Some(Transformed::Pass(m)),
                        Err(e) => {
                            self.fail(i, hook, &e);
                            self.fails_closed(i)
                                .then_some(Transformed::Drop(ReasonCode::ImplementationSpecificError))
                        }
                    }
                }
            });
        }
        out
    }
}
