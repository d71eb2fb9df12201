//! MQTT 5 re-authentication: a client connected with enhanced authentication sends AUTH 0x19
//! with the same method; the authentication plugins answer on their threads while the session
//! keeps serving. Allow: AUTH 0x00 and the new grants apply. Challenge: AUTH 0x18, and the
//! client's AUTH 0x18 is the next step. Deny: DISCONNECT 0x87.

use std::sync::Arc;

use actix::prelude::*;

use super::Session;
use crate::auth::{AuthAnswer, ConnectRequest};
use crate::protocol::{Auth, AuthProperties, Packet, ReasonCode};

/// The state of re-authentication for a session.
pub(super) struct ReAuth {
    /// The CONNECT's request; each step replaces its Authentication Data.
    req: ConnectRequest,
    /// Waiting for the plugins' answer.
    busy: bool,
    /// Waiting for the client's AUTH 0x18 after a challenge.
    challenged: bool,
}

impl ReAuth {
    pub(super) fn new(req: ConnectRequest) -> Self {
        ReAuth { req, busy: false, challenged: false }
    }
}

impl Session {
    pub(super) fn on_reauth(&mut self, a: Auth, ctx: &mut Context<Self>) {
        let Some(ra) = self.reauth.as_mut() else {
            // No enhanced authentication at CONNECT, so AUTH is a protocol error (0x8C is
            // not a DISCONNECT reason code).
            return self.violation(ctx, ReasonCode::ProtocolError, "AUTH without enhanced authentication");
        };
        let expected =
            if ra.challenged { ReasonCode::ContinueAuthentication } else { ReasonCode::ReAuthenticate };
        let same_method = a.properties.authentication_method.as_deref() == ra.req.auth_method.as_deref();
        if ra.busy || a.reason != expected || !same_method {
            return self.violation(ctx, ReasonCode::ProtocolError, "unexpected AUTH");
        }
        ra.req.auth_data = a.properties.into_inner().authentication_data;
        ra.busy = true;
        ra.challenged = false;
        let req = ra.req.clone();
        let now = self.shared.plugins.load();
        let pool = now.auth_for(self.listener_index());
        let Some(Ok(rx)) = pool.map(|(p, mask)| p.submit(req, mask.clone())) else {
            return self.close(ctx, Some(ReasonCode::ServerBusy), true);
        };
        // `spawn`, not `wait`: the session keeps serving while the plugins think.
        ctx.spawn(rx.into_actor(self).map(|answer, act, ctx| {
            let answer = answer.unwrap_or(AuthAnswer::Deny(ReasonCode::ServerUnavailable, None));
            act.reauthenticated(answer, ctx);
        }));
    }

    fn reauthenticated(&mut self, answer: AuthAnswer, ctx: &mut Context<Self>) {
        let overrides = self.auth_overrides();
        let Some(ra) = self.reauth.as_mut() else { return };
        ra.busy = false;
        let answer = self.shared.policy.load().decide_connect(&ra.req, answer, overrides);
        let method = ra.req.auth_method.clone();
        let auth = |reason, data| {
            Packet::Auth(Auth {
                reason,
                properties: AuthProperties {
                    authentication_method: method.as_deref().map(Into::into),
                    authentication_data: data,
                    ..Default::default()
                }
                .into(),
            })
        };
        match answer {
            AuthAnswer::Allow(grants) => {
                if let Some(identity) = &self.identity {
                    let mut identity = (**identity).clone();
                    identity.attributes = grants.attributes.clone();
                    self.identity = Some(Arc::new(identity));
                }
                self.set_grants(grants);
                self.send(&auth(ReasonCode::Success, None));
            }
            AuthAnswer::Challenge(data) => {
                ra.challenged = true;
                self.send(&auth(ReasonCode::ContinueAuthentication, Some(data)));
            }
            AuthAnswer::Deny(reason, message) => {
                // DISCONNECT has 0x87, not the CONNACK-only codes (0x86, 0x8C, ...).
                tracing::info!(
                    client_id = %self.client_id, reason = format_args!("0x{:02X}", reason.code()),
                    "re-authentication refused"
                );
                self.reason_string = message;
                self.close(ctx, Some(ReasonCode::NotAuthorized), true);
            }
            AuthAnswer::Next => self.close(ctx, Some(ReasonCode::NotAuthorized), true),
        }
    }
}
