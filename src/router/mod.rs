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
    /// A flush of the gathered deliveries is queued behind this turn of the mailbox.
    flush_queued: bool,
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
        Router { state, restored, sys_interval: ops.sys_interval, flush_queued: false }
    }

    /// Runs `f` on the state: deliveries gathered so far are sent first (so nothing `f` sends
    /// a session overtakes them), and those `f` gathers leave at the end of the turn.
    fn turn<R>(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut RouterState) -> R) -> R {
        self.state.flush_deliveries();
        let r = f(&mut self.state);
        self.flush_at_end_of_turn(ctx);
        r
    }

    /// Deliveries are gathered per session while the mailbox has messages; an item spawned
    /// now runs once the mailbox is drained (actix polls spawned items after the mailbox).
    fn flush_at_end_of_turn(&mut self, ctx: &mut Context<Self>) {
        if self.state.has_batched() && !self.flush_queued {
            self.flush_queued = true;
            ctx.spawn(actix::fut::ready(()).map(|(), act: &mut Router, _| {
                act.flush_queued = false;
                act.state.flush_deliveries();
            }));
        }
    }

    fn schedule(&mut self, follow_ups: Vec<FollowUp>, ctx: &mut Context<Self>) {
        for f in follow_ups {
            match f {
                FollowUp::ExpireSession { client_id, generation, after } => {
                    ctx.run_later(after, move |act, ctx| {
                        act.turn(ctx, |s| s.expire_session(&client_id, generation));
                    });
                }
                FollowUp::PublishWill { client_id, generation, after } => {
                    ctx.run_later(after, move |act, ctx| {
                        act.turn(ctx, |s| s.fire_will(&client_id, generation))
                    });
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
            self.turn(ctx, RouterState::sys_tick);
            ctx.run_interval(self.sys_interval, |act, ctx| act.turn(ctx, RouterState::sys_tick));
        }
    }
}

impl Handler<Connect> for Router {
    type Result = ();
    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.connect(msg));
    }
}

impl Handler<Detach> for Router {
    type Result = ();
    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.detach(msg));
    }
}

impl Handler<SessionClosed> for Router {
    type Result = ();
    fn handle(&mut self, msg: SessionClosed, ctx: &mut Context<Self>) {
        let follow_ups = self.turn(ctx, |s| s.session_closed(msg));
        self.schedule(follow_ups, ctx);
    }
}

impl Handler<Subscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.subscribe(msg));
    }
}

impl Handler<Unsubscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.unsubscribe(msg));
    }
}

impl Handler<Publish> for Router {
    type Result = ();
    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        // No flush first: publishes are what gets gathered.
        self.state.publish_received();
        self.state.publish(msg.0);
        self.flush_at_end_of_turn(ctx);
    }
}

impl Handler<Drained> for Router {
    type Result = ();
    fn handle(&mut self, _: Drained, ctx: &mut Context<Self>) {
        self.turn(ctx, RouterState::recheck_congestion);
    }
}

impl Handler<PublishAcked> for Router {
    type Result = ();
    fn handle(&mut self, msg: PublishAcked, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.publish_acked(msg));
    }
}

impl Handler<AdminRequest> for Router {
    type Result = AdminReply;
    fn handle(&mut self, msg: AdminRequest, ctx: &mut Context<Self>) -> AdminReply {
        self.turn(ctx, |s| s.admin(msg))
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
    fn handle(&mut self, msg: KickAll, ctx: &mut Context<Self>) {
        self.turn(ctx, |s| s.kick_all(msg.0));
    }
}
