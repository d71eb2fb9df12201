//! The hook chains over a thread's [`PluginSet`]: authentication and authorization (first
//! allow/deny wins, `next` passes on) and the transform pipeline (in order; a drop ends it).
//! A failing plugin counts as its `on_failure` says: closed (deny / drop, the default) or open
//! (next / pass).

use std::sync::Arc;

use super::bindings::aviary::plugin::types::{
    self as wit, AuthDecision, AuthzDecision, Hooks, PublishDecision, SubDecision,
};
use super::convert;
use super::host::CallFor;
use super::instance::PluginSet;
use super::{Hook, PluginMask};
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
#[derive(Debug)]
pub enum Transformed {
    /// Route this message (the original when nobody modified it).
    Pass(Arc<Message>),
    /// Do not route; acknowledge with this reason.
    Drop(ReasonCode),
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
            let context = CallFor { client: &who, message: None };
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
            let context = CallFor { client: who, message: None };
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
            let context = CallFor { client: who, message: None };
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

    /// Runs the `on-publish` pipeline (`deliver == false`) or the `on-deliver` one, over the
    /// plugins `mask` selects (the sender's listener for `on-publish`, the subscriber's for
    /// `on-deliver`).
    pub fn transform(
        &mut self,
        who: &Arc<Identity>,
        msg: Arc<Message>,
        deliver: bool,
        mask: &PluginMask,
    ) -> Transformed {
        let hook = if deliver { Hook::OnDeliver } else { Hook::OnPublish };
        let max = self.host.runtime.max_payload_bytes;
        if msg.payload.len() > max {
            return Transformed::Pass(msg);
        }
        if !self.any_runs(hook.flag(), mask) {
            return Transformed::Pass(msg);
        }
        let mut current = msg;
        for i in 0..self.host.plugins.len() {
            // A message outside the plugin's declared topics costs no call (nor a count).
            if !self.runs(i, hook.flag(), mask) || !self.host.plugins[i].transforms(&current.topic) {
                continue;
            }
            let deadline = self.host.plugins[i].config.limits.transform_ms;
            let props = convert::has_properties(&current);
            let context = CallFor { client: who, message: props.then_some(&current) };
            let m = &*current;
            let (topic, payload, qos, retain) = (&*m.topic, &*m.payload, m.qos as u8, m.retain);
            let answer = self.call(i, hook, deadline, context, |p, s| {
                let m = p.aviary_plugin_messages();
                let decision = match deliver {
                    true => m.call_on_deliver(&mut *s, topic, payload, qos, retain, props)?,
                    false => m.call_on_publish(&mut *s, topic, payload, qos, retain, props)?,
                };
                Ok((decision, s.data_mut().context.take_replacement()))
            });
            let answer = match answer {
                Ok((PublishDecision::Modify, replacement)) => {
                    let missing = || "answered modify without context.set-message".to_owned();
                    let checked =
                        replacement.ok_or_else(missing).and_then(|m| convert::modified(&current, m, max));
                    checked.map(Some).map_err(|e| self.fail(i, hook, &e))
                }
                Ok((PublishDecision::Pass, _)) => Ok(None),
                Ok((PublishDecision::Drop(reason), _)) => {
                    return Transformed::Drop(convert::ack_reason(reason))
                }
                Err(()) => Err(()),
            };
            match answer {
                Ok(Some(m)) => current = m,
                Ok(None) => {}
                Err(()) if self.fails_closed(i) => {
                    return Transformed::Drop(ReasonCode::ImplementationSpecificError)
                }
                Err(()) => {}
            }
        }
        Transformed::Pass(current)
    }
}
