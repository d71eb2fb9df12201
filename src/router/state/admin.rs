//! Admin API queries and actions over the router state.

use bytestring::ByteString;

use super::super::admin::{ClientDetail, ClientSummary, CountsSource, RetainedView, SubscriptionView};
use super::super::messages::{AdminReply, AdminRequest, Control};
use super::super::registry::ClientEntry;
use super::RouterState;
use crate::persistence::Op;
use crate::protocol::ReasonCode;

fn summary(id: &ByteString, e: &ClientEntry) -> ClientSummary {
    ClientSummary {
        client_id: id.to_string(),
        connected: e.connection_id().is_some(),
        info: e.info.clone(),
        subscriptions: e.subscriptions.len(),
        queued_messages: e.queued.len(),
    }
}

fn subscriptions(id: &ByteString, e: &ClientEntry) -> Vec<SubscriptionView> {
    let mut v: Vec<_> = e
        .subscriptions
        .iter()
        .map(|(filter, (_, _, sub))| SubscriptionView {
            client_id: id.to_string(),
            filter: filter.to_string(),
            qos: sub.options.qos as u8,
            subscription_id: sub.subscription_id,
        })
        .collect();
    v.sort_by(|a, b| a.filter.cmp(&b.filter));
    v
}

impl RouterState {
    /// Answers one admin request.
    pub fn admin(&mut self, req: AdminRequest) -> AdminReply {
        match req {
            AdminRequest::ListClients { connected_only } => {
                let mut v: Vec<_> = self
                    .clients
                    .iter()
                    .filter(|(_, e)| !connected_only || e.connection_id().is_some())
                    .map(|(id, e)| summary(id, e))
                    .collect();
                v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                AdminReply::Clients(v)
            }
            AdminRequest::Client(id) => AdminReply::Client(self.clients.get(&id).map(|e| {
                Box::new(ClientDetail {
                    summary: summary(&id, e),
                    subscription_filters: subscriptions(&id, e),
                    inflight_messages: e.stored.inflight.len(),
                    pending_deliveries: e.online().map_or(0, |h| h.pending()),
                    will_pending: self.wills.contains_key(&id),
                    counts_from: CountsSource::Router,
                    session: None,
                    inspect: e.online().map(|h| (*h.to).clone()),
                })
            })),
            AdminRequest::Kick(id) => {
                let handle = self.clients.get(&id).and_then(|e| e.online());
                if let Some(h) = handle {
                    h.control(Control::Kick(ReasonCode::AdministrativeAction));
                }
                AdminReply::Done(handle.is_some())
            }
            AdminRequest::Subscriptions => {
                let mut v: Vec<_> = self.clients.iter().flat_map(|(id, e)| subscriptions(id, e)).collect();
                v.sort_by(|a, b| (&a.client_id, &a.filter).cmp(&(&b.client_id, &b.filter)));
                AdminReply::Subscriptions(v)
            }
            AdminRequest::Retained => {
                let mut v: Vec<_> = self
                    .retained
                    .iter()
                    .filter(|(topic, _)| !topic.starts_with("$SYS/"))
                    .map(|(topic, m)| RetainedView {
                        topic,
                        qos: m.qos as u8,
                        payload_bytes: m.payload.len(),
                    })
                    .collect();
                v.sort_by(|a, b| a.topic.cmp(&b.topic));
                AdminReply::Retained(v)
            }
            AdminRequest::DeleteRetained(topic) => {
                let existed = self.retained.remove(&topic).is_some();
                if existed {
                    self.ops.send(|| Op::Retain { topic: topic.to_string(), message: None });
                }
                AdminReply::Done(existed)
            }
        }
    }
}
