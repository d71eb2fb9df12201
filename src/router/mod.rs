//! The topic-router actor: one per broker, on a thread of its own.
//!
//! A thin shell over plain structs that hold the logic and are tested without actix:
//! [`state::RouterState`] (sessions, fan-out, wills, expiry) built on
//! [`topic_tree::TopicTree`] (subscriptions, shared groups) and [`retained::RetainedStore`].
//! The router never sees wire types or plugins: sessions hand it version-neutral
//! [`crate::message::Message`]s.

pub mod admin;
pub mod messages;
pub mod registry;
pub mod retained;
pub mod state;
pub mod sys;
pub mod topic_tree;

use std::sync::Arc;

use actix::prelude::*;

use crate::config::MqttConfig;
use crate::protocol::ReasonCode;
use messages::*;
use state::{FollowUp, RouterOps, RouterState};

/// The router actor.
pub struct Router {
    state: RouterState,
    /// Timers from restored state, started with the actor.
    restored: Vec<FollowUp>,
    sys_interval: std::time::Duration,
}

impl Router {
    /// A router with empty state.
    pub fn new(config: Arc<MqttConfig>) -> Self {
        Self::with_ops(config, RouterOps::default())
    }

    /// A router with operations hooks, starting from the recovered state if any.
    pub fn with_ops(config: Arc<MqttConfig>, mut ops: RouterOps) -> Self {
        let recovered = ops.recovered.take();
        let mut state = RouterState::with_ops(config, &ops);
        let restored = recovered.map(|r| state.restore(r)).unwrap_or_default();
        Router { state, restored, sys_interval: ops.sys_interval }
    }

    fn schedule(&mut self, follow_ups: Vec<FollowUp>, ctx: &mut Context<Self>) {
        for f in follow_ups {
            match f {
                FollowUp::ExpireSession { client_id, generation, after } => {
                    ctx.run_later(after, move |act, _| act.state.expire_session(&client_id, generation));
                }
                FollowUp::PublishWill { client_id, generation, after } => {
                    ctx.run_later(after, move |act, _| act.state.fire_will(&client_id, generation));
                }
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let restored = std::mem::take(&mut self.restored);
        self.schedule(restored, ctx);
        if !self.sys_interval.is_zero() {
            self.state.sys_tick();
            ctx.run_interval(self.sys_interval, |act, _| act.state.sys_tick());
        }
    }
}

impl Handler<Connect> for Router {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.state.connect(msg);
    }
}

impl Handler<Detach> for Router {
    type Result = ();
    fn handle(&mut self, msg: Detach, _: &mut Context<Self>) {
        self.state.detach(msg);
    }
}

impl Handler<SessionClosed> for Router {
    type Result = ();
    fn handle(&mut self, msg: SessionClosed, ctx: &mut Context<Self>) {
        let follow_ups = self.state.session_closed(msg);
        self.schedule(follow_ups, ctx);
    }
}

impl Handler<Subscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.state.subscribe(msg);
    }
}

impl Handler<Unsubscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.state.unsubscribe(msg);
    }
}

impl Handler<Publish> for Router {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        self.state.publish(msg.0);
    }
}

impl Handler<PublishAcked> for Router {
    type Result = ();
    fn handle(&mut self, msg: PublishAcked, _: &mut Context<Self>) {
        self.state.publish_acked(msg);
    }
}

impl Handler<AdminRequest> for Router {
    type Result = AdminReply;
    fn handle(&mut self, msg: AdminRequest, _: &mut Context<Self>) -> AdminReply {
        self.state.admin(msg)
    }
}

impl Handler<GetStats> for Router {
    type Result = RouterStats;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> RouterStats {
        self.state.stats()
    }
}

/// Anyone -> router: disconnect every client (shutdown). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct KickAll(pub ReasonCode);

impl Handler<KickAll> for Router {
    type Result = ();
    fn handle(&mut self, msg: KickAll, _: &mut Context<Self>) {
        self.state.kick_all(msg.0);
    }
}
